/**
 * The LevelDB index (classic-level): writes one chained batch per group of events, and
 * answers lookups by id, seq, time and posting list. Layout: keys.ts.
 */
import { ClassicLevel } from 'classic-level';
import { pack, unpack } from 'msgpackr';
import { SpineError, wrapIoError } from '../errors';
import { uuidv7MsOfBytes } from '../event/uuid';
import {
  FORMAT_KEY,
  HEAD_KEY,
  INDEX_FORMAT_VERSION,
  LOCATION_STRIDE,
  POSTING_ENTRY_BYTES,
  Tag,
  entityValue,
  ID_LETTER,
  LOCATION_LETTER,
  TIME_LETTER,
  idKey,
  postingKey,
  postingKeySeq,
  postingPrefix,
  readU64,
  timeKey,
  u64KeyInto,
  writeU64,
} from './keys';

/** What the index needs of one event: its filter fields and where its frame is. */
export interface IndexRecord {
  seq: number;
  /** The 16 bytes of the event's UUID. */
  id: Uint8Array;
  event_type: string;
  entity_id: string;
  actor_id: string;
  organization_id: string;
  severity: string;
  environment: string;
  timestampMs: number;
  segment: number;
  offset: number;
  length: number;
}

export interface IndexHead {
  seq: number;
  event_hash: string;
  timestamp: string;
  segment: number;
  /** Byte offset just past the last indexed frame in `segment`. */
  offset: number;
  /**
   * The largest unix_ts_ms of any indexed UUIDv7 id, 0 when there is none: an id of a later
   * time cannot be stored yet, which spares most appends an id look-up (store/recent-ids.ts).
   */
  maxIdMs: number;
}

/** A posting hit: seq and where its frame is (the segment follows from the seq). */
export interface Posting {
  seq: number;
  offset: number;
  length: number;
}

type Db = ClassicLevel<Buffer, Buffer>;

export class EventIndex {
  private head: IndexHead | undefined;
  private lastTimeMs = -1;

  private constructor(private db: Db, private readonly dir: string) {}

  static async open(dir: string): Promise<EventIndex> {
    const index = new EventIndex(EventIndex.makeDb(dir), dir);
    await index.openDb();
    return index;
  }

  private static makeDb(dir: string): Db {
    return new ClassicLevel<Buffer, Buffer>(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      writeBufferSize: 16 * 1024 * 1024,
      cacheSize: 32 * 1024 * 1024,
      compression: false,
    });
  }

  private async openDb(): Promise<void> {
    try {
      await this.db.open();
      const format = await this.db.get(FORMAT_KEY);
      if (format === undefined) {
        await this.db.put(FORMAT_KEY, u32(INDEX_FORMAT_VERSION));
      } else if (format.readUInt32BE(0) !== INDEX_FORMAT_VERSION) {
        throw new SpineError('LOG_CORRUPT', `index format ${format.readUInt32BE(0)} is not ${INDEX_FORMAT_VERSION}: delete ${this.dir} to rebuild it`);
      }
      const head = await this.db.get(HEAD_KEY);
      if (head !== undefined) {
        const [seq, event_hash, timestamp, segment, offset, maxIdMs] = unpack(head) as [number, string, string, number, number, number | undefined];
        // A head written before maxIdMs was kept: find it once, from the ids themselves.
        this.head = { seq, event_hash, timestamp, segment, offset, maxIdMs: maxIdMs ?? (await this.scanMaxIdMs()) };
        this.lastTimeMs = Date.parse(timestamp);
      }
    } catch (err) {
      throw wrapIoError(err, `opening the index in ${this.dir}`);
    }
  }

  private async scanMaxIdMs(): Promise<number> {
    let max = 0;
    for await (const key of this.db.keys({ gt: Buffer.from([ID_LETTER]), lt: Buffer.from([ID_LETTER + 1]) })) {
      max = Math.max(max, uuidv7MsOfBytes(key.subarray(1)));
    }
    return max;
  }

  /** The last indexed event and where the log continues after it. */
  get indexedHead(): IndexHead | undefined {
    return this.head;
  }

  /**
   * Indexes a run of events that directly follows the indexed head, in one LevelDB batch,
   * and records `head` (the last of them) as the point recovery resumes from.
   * Not synced: after a crash the index may be behind the log, never ahead, and open()
   * catches it up from the log.
   */
  async write(records: readonly IndexRecord[], head: Omit<IndexHead, 'maxIdMs'>): Promise<void> {
    if (records.length === 0) return;
    const batch = this.db.batch();
    // LevelDB copies each key and value on put, so one scratch buffer serves them all.
    const idScratch = Buffer.allocUnsafe(17);
    idScratch[0] = ID_LETTER;
    const idValue = Buffer.allocUnsafe(16);
    const u64Scratch = Buffer.allocUnsafe(9);
    const u32Value = Buffer.allocUnsafe(4);
    const u64Value = Buffer.allocUnsafe(8);
    const postings = TAGS.map(() => new Map<string, number[]>());
    const values: string[] = new Array<string>(TAGS.length);
    let lastTimeMs = this.lastTimeMs;
    let maxIdMs = this.head?.maxIdMs ?? 0;
    for (const r of records) {
      const seq = r.seq;
      idScratch.set(r.id, 1);
      const idMs = uuidv7MsOfBytes(r.id);
      if (idMs > maxIdMs) maxIdMs = idMs;
      writeU64(idValue, 0, seq);
      idValue.writeUInt32BE(r.offset, 8);
      idValue.writeUInt32BE(r.length, 12);
      batch.put(idScratch, idValue);
      if (seq === r.segment || seq % LOCATION_STRIDE === 0) {
        u32Value.writeUInt32BE(r.offset, 0);
        batch.put(u64KeyInto(u64Scratch, LOCATION_LETTER, seq), u32Value);
      }
      if (r.timestampMs !== lastTimeMs) {
        writeU64(u64Value, 0, seq);
        batch.put(u64KeyInto(u64Scratch, TIME_LETTER, r.timestampMs), u64Value);
        lastTimeMs = r.timestampMs;
      }
      const eventType = r.event_type;
      const dot1 = eventType.indexOf('.');
      const dot2 = eventType.indexOf('.', dot1 + 1);
      const entityType = eventType.slice(dot1 + 1, dot2);
      values[0] = entityValue(entityType, r.entity_id);
      values[1] = entityType;
      values[2] = eventType;
      values[3] = eventType.slice(0, dot2);
      values[4] = eventType.slice(0, dot1);
      values[5] = r.organization_id;
      values[6] = r.actor_id;
      values[7] = r.severity;
      values[8] = r.environment;
      for (let t = 0; t < TAGS.length; t++) {
        const map = postings[t] as Map<string, number[]>;
        const value = values[t] as string;
        const list = map.get(value);
        if (list === undefined) map.set(value, [seq, r.offset, r.length]);
        else list.push(seq, r.offset, r.length);
      }
    }
    for (let t = 0; t < TAGS.length; t++) {
      for (const [value, list] of postings[t] as Map<string, number[]>) {
        const firstSeq = list[0] as number;
        const chunk = Buffer.allocUnsafe((list.length / 3) * POSTING_ENTRY_BYTES);
        for (let i = 0, at = 0; i < list.length; i += 3, at += POSTING_ENTRY_BYTES) {
          chunk.writeUInt32BE((list[i] as number) - firstSeq, at);
          chunk.writeUInt32BE(list[i + 1] as number, at + 4);
          chunk.writeUInt32BE(list[i + 2] as number, at + 8);
        }
        batch.put(postingKey(postingPrefix((TAGS[t] as string) + value), firstSeq), chunk);
      }
    }
    batch.put(HEAD_KEY, pack([head.seq, head.event_hash, head.timestamp, head.segment, head.offset, maxIdMs]));
    try {
      await batch.write();
    } catch (err) {
      throw wrapIoError(err, 'writing the index');
    }
    this.head = { ...head, maxIdMs };
    this.lastTimeMs = lastTimeMs;
  }

  /** Looks up many ids at once; undefined where an id is not indexed. */
  async lookupIds(ids: readonly string[]): Promise<(Posting | undefined)[]> {
    if (ids.length === 0) return [];
    const values = await this.db.getMany(ids.map(idKey));
    return values.map((v) => (v === undefined ? undefined : { seq: readU64(v, 0), offset: v.readUInt32BE(8), length: v.readUInt32BE(12) }));
  }

  /** The offset of a frame at or before `seq` from which a sequential read reaches it. */
  locate(seq: number, segment: number): { seq: number; offset: number } | undefined {
    const base = Math.max(segment, seq - (seq % LOCATION_STRIDE));
    // Synchronous: the index worker may block, and a thread-pool hop costs more than the read.
    const v = this.db.getSync(u64KeyInto(Buffer.allocUnsafe(9), LOCATION_LETTER, base));
    return v === undefined ? undefined : { seq: base, offset: v.readUInt32BE(0) };
  }

  /**
   * The first seq stamped at or after each of the instants (undefined where no indexed
   * event is, or for an undefined instant): one iterator, seeked to each in turn.
   */
  async firstSeqsAtOrAfter(instantsMs: readonly (number | undefined)[]): Promise<(number | undefined)[]> {
    const out: (number | undefined)[] = [];
    const it = this.db.values({ gte: timeKey(0), lt: Buffer.from([TIME_LETTER + 1]) });
    try {
      for (const ms of instantsMs) {
        if (ms === undefined) {
          out.push(undefined);
          continue;
        }
        it.seek(timeKey(ms));
        const value = await it.next();
        out.push(value === undefined ? undefined : readU64(value, 0));
      }
    } finally {
      await it.close();
    }
    return out;
  }

  /**
   * Up to `max` postings of one value with seq in [fromSeq, toSeq], ascending or
   * descending, as flat [seq, offset, length, …] triples: O(log n + k). Chunks are read a
   * batch per LevelDB call, each batch sized by the postings per chunk seen so far (an
   * entity's chunks hold one or two, a severity's thousands).
   */
  async postingPage(tagValue: string, fromSeq: number, toSeq: number, descending: boolean, max: number): Promise<number[]> {
    const out: number[] = [];
    if (fromSeq > toSeq || max < 1) return out;
    const prefix = postingPrefix(tagValue);
    const upper = postingKey(prefix, toSeq);
    let lower = postingKey(prefix, 0);
    if (!descending) {
      // Start at the chunk that holds fromSeq: the last chunk beginning at or before it.
      for await (const key of this.db.keys({ gte: lower, lte: postingKey(prefix, fromSeq), reverse: true, limit: 1 })) lower = key;
    }
    const it = this.db.iterator({ gte: lower, lte: upper, reverse: descending });
    try {
      let chunksRead = 0;
      let batch = FIRST_CHUNK_BATCH;
      for (;;) {
        const chunks = await it.nextv(batch);
        if (chunks.length === 0) return out;
        chunksRead += chunks.length;
        for (const [key, value] of chunks) {
          const firstSeq = postingKeySeq(key);
          const n = value.length / POSTING_ENTRY_BYTES;
          for (let j = 0; j < n; j++) {
            const at = (descending ? n - 1 - j : j) * POSTING_ENTRY_BYTES;
            const seq = firstSeq + value.readUInt32BE(at);
            if (seq < fromSeq) {
              if (descending) return out;
              continue;
            }
            if (seq > toSeq) {
              if (descending) continue;
              return out;
            }
            out.push(seq, value.readUInt32BE(at + 4), value.readUInt32BE(at + 8));
            if (out.length >= max * 3) return out;
          }
        }
        const perChunk = Math.max(1, out.length / 3 / chunksRead);
        batch = Math.min(MAX_CHUNK_BATCH, Math.max(1, Math.ceil((max - out.length / 3) / perChunk)));
      }
    } finally {
      await it.close();
    }
  }

  /** Closes and opens LevelDB again: after a failed write it refuses all writes until then. */
  async reopen(): Promise<void> {
    await this.db.close().catch(() => undefined);
    this.db = EventIndex.makeDb(this.dir);
    await this.openDb();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Posting chunks asked of LevelDB by a posting page's first call, and at most by any. */
const FIRST_CHUNK_BATCH = 16;
const MAX_CHUNK_BATCH = 256;

/** The posting tags in the order `write` fills them. */
const TAGS = [Tag.entity, Tag.entityType, Tag.eventType, Tag.typePrefix, Tag.domain, Tag.organization, Tag.actor, Tag.severity, Tag.environment];

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}


