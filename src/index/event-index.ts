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
  type TagLetter,
  ID_LETTER,
  LOCATION_LETTER,
  TIME_LETTER,
  idKey,
  postingKey,
  postingKeySeq,
  postingPrefix,
  writePostingPrefix,
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
  /** Posting keys and chunks are built in these: LevelDB copies each key and value on put. */
  private keyScratch = Buffer.allocUnsafeSlow(256);
  private chunkScratch = Buffer.allocUnsafeSlow(64 * 1024);

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
    const postings = new WritePostings();
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
      postings.add(r);
    }
    const put = (tag: number, value: string, list: number[], entityId?: string): void => {
      const most = 12 + 3 * (value.length + (entityId?.length ?? 0));
      if (this.keyScratch.length < most) this.keyScratch = Buffer.allocUnsafeSlow(2 * most);
      const key = this.keyScratch;
      const end = writePostingPrefix(key, tag, value, entityId);
      const firstSeq = list[0] as number;
      writeU64(key, end, firstSeq);
      const bytes = (list.length / 3) * POSTING_ENTRY_BYTES;
      if (this.chunkScratch.length < bytes) this.chunkScratch = Buffer.allocUnsafeSlow(2 * bytes);
      const chunk = this.chunkScratch;
      for (let i = 0, at = 0; i < list.length; i += 3, at += POSTING_ENTRY_BYTES) {
        writeU32(chunk, at, (list[i] as number) - firstSeq);
        writeU32(chunk, at + 4, list[i + 1] as number);
        writeU32(chunk, at + 8, list[i + 2] as number);
      }
      batch.put(key.subarray(0, end + 8), chunk.subarray(0, bytes));
    };
    postings.flush(put);
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

const code = (tag: TagLetter): number => tag.charCodeAt(0);

/** One event type's postings in a write, and the posting lists its name's parts add to. */
interface TypePostings {
  list: number[];
  entityType: string;
  typePrefix: string;
  domain: string;
  /** The entity postings of its entity type, by entity_id (shared with its other types). */
  entities: Map<string, number[]>;
}

/**
 * The posting lists of one index write, as flat [seq, offset, length, …] triples, by tag and
 * value. Each event costs a look-up per event_type, entity_id, organization, actor, severity
 * and environment; the lists of the event_type's parts (entity type, domain.entity type,
 * domain) are merged from the event types' lists once, at the end.
 */
class WritePostings {
  private readonly byType = new Map<string, TypePostings>();
  private readonly byEntityType = new Map<string, Map<string, number[]>>();
  private readonly organizations = new Map<string, number[]>();
  private readonly actors = new Map<string, number[]>();
  private readonly severities = new Map<string, number[]>();
  private readonly environments = new Map<string, number[]>();

  add(r: IndexRecord): void {
    let type = this.byType.get(r.event_type);
    if (type === undefined) {
      const eventType = r.event_type;
      const dot1 = eventType.indexOf('.');
      const dot2 = eventType.indexOf('.', dot1 + 1);
      const entityType = eventType.slice(dot1 + 1, dot2);
      let entities = this.byEntityType.get(entityType);
      if (entities === undefined) this.byEntityType.set(entityType, (entities = new Map()));
      type = { list: [], entityType, typePrefix: eventType.slice(0, dot2), domain: eventType.slice(0, dot1), entities };
      this.byType.set(eventType, type);
    }
    type.list.push(r.seq, r.offset, r.length);
    addTo(type.entities, r.entity_id, r);
    addTo(this.organizations, r.organization_id, r);
    addTo(this.actors, r.actor_id, r);
    addTo(this.severities, r.severity, r);
    addTo(this.environments, r.environment, r);
  }

  /** Hands over each posting list: its tag, value (entity: type and id) and entries. */
  flush(put: (tag: number, value: string, list: number[], entityId?: string) => void): void {
    for (const [entityType, entities] of this.byEntityType) {
      for (const [entityId, list] of entities) put(code(Tag.entity), entityType, list, entityId);
    }
    const parts = { entityType: new Map<string, number[][]>(), typePrefix: new Map<string, number[][]>(), domain: new Map<string, number[][]>() };
    for (const [eventType, type] of this.byType) {
      put(code(Tag.eventType), eventType, type.list);
      for (const part of ['entityType', 'typePrefix', 'domain'] as const) {
        const lists = parts[part].get(type[part]);
        if (lists === undefined) parts[part].set(type[part], [type.list]);
        else lists.push(type.list);
      }
    }
    for (const [value, lists] of parts.entityType) put(code(Tag.entityType), value, mergeBySeq(lists));
    for (const [value, lists] of parts.typePrefix) put(code(Tag.typePrefix), value, mergeBySeq(lists));
    for (const [value, lists] of parts.domain) put(code(Tag.domain), value, mergeBySeq(lists));
    for (const [value, list] of this.organizations) put(code(Tag.organization), value, list);
    for (const [value, list] of this.actors) put(code(Tag.actor), value, list);
    for (const [value, list] of this.severities) put(code(Tag.severity), value, list);
    for (const [value, list] of this.environments) put(code(Tag.environment), value, list);
  }
}

function addTo(map: Map<string, number[]>, value: string, r: IndexRecord): void {
  const list = map.get(value);
  if (list === undefined) map.set(value, [r.seq, r.offset, r.length]);
  else list.push(r.seq, r.offset, r.length);
}

/** One list of triples in seq order from lists that each are in seq order. */
function mergeBySeq(lists: number[][]): number[] {
  if (lists.length === 1) return lists[0] as number[];
  const out: number[] = [];
  const at = new Array<number>(lists.length).fill(0);
  for (;;) {
    let min = -1;
    for (let k = 0; k < lists.length; k++) {
      const i = at[k] as number;
      const list = lists[k] as number[];
      if (i < list.length && (min < 0 || (list[i] as number) < ((lists[min] as number[])[at[min] as number] as number))) min = k;
    }
    if (min < 0) return out;
    const list = lists[min] as number[];
    const i = at[min] as number;
    out.push(list[i] as number, list[i + 1] as number, list[i + 2] as number);
    at[min] = i + 3;
  }
}

/** A u32, big-endian, without Buffer#writeUInt32BE's checks (hot loop). */
function writeU32(buf: Buffer, at: number, n: number): void {
  buf[at] = n >>> 24;
  buf[at + 1] = n >>> 16;
  buf[at + 2] = n >>> 8;
  buf[at + 3] = n;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}


