/**
 * The store facade: open, append, get, query, read, subscribe, aggregate, verify, head,
 * close. It owns the one place where seqs, timestamps and hashes are assigned.
 *
 * An append goes: validate (caller's turn) → queue → group commit (id look-ups, sealing,
 * one log write and fsync for every queued request) → acknowledgement → index write. An
 * event is acknowledged once durable; the index follows (its write of one group overlaps
 * the log writes of the next ones). Every read waits until the index covers the head as of
 * its start, so a read that starts after an acknowledgement still sees the event, and
 * subscribers are fed each group once it is indexed.
 */
import { join } from 'node:path';
import { SpineError, isSpineError } from '../errors';
import { eventHash, uuidv7, validateBatch, verifyEventHashes, type EnvelopeOptions } from '../event';
import { GENESIS_HASH, type StoredEvent, type ValidEvent } from '../event/types';
import { SegmentLog, encodeFrames, type Durability, type EncodedFrames, type FrameRun, type LogHead } from '../log';
import { IndexClient } from './index-client';
import { filterFingerprint, normalizeFilter, type NormalizedFilter, type QueryFilter } from './filter';
import { EventReader } from './reader';
import { RecentIds } from './recent-ids';
import { LiveListener, subscription, type SubscribeOptions, type SubscriptionItem, type SubscriptionSource } from './subscription';
import { aggregateEvents, checkGroupBy, type AggregateGroupBy, type AggregateResult } from './aggregate';

export interface StoreOptions extends EnvelopeOptions {
  dataDir: string;
  segmentBytes: number;
  durability: Durability;
  /** The most events sealed into one group commit. */
  maxGroupEvents?: number;
  /** Index rebuild / catch-up progress (bytes of log scanned, in all). */
  onRecoveryProgress?: (scannedBytes: number, totalBytes: number) => void;
  /** Told about recoveries worth a log line (a torn tail cut off, index catch-up). */
  onNotice?: (message: string, details: Record<string, unknown>) => void;
  /** Told about every group commit, for metrics. */
  onCommit?: (commit: CommitInfo) => void;
}

/** One group commit as metrics see it. */
export interface CommitInfo {
  /** Append requests served by this commit. */
  requests: number;
  /** Events newly stored (not counting deduplicated ones). */
  events: number;
  /** Bytes written to the log. */
  bytes: number;
  /** Time for the log write and its fsync. */
  writeMs: number;
  /** Time for the index write after it. */
  indexMs: number;
}

export interface AppendResult {
  seq: number;
  id: string;
  timestamp: string;
  event_hash: string;
  /** True when an event with this id and the same content was already stored. */
  deduplicated: boolean;
}

export interface QueryPage {
  order?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
  /** Stop after looking at this many candidates and return a cursor (bounds each call). */
  maxScan?: number;
}

export interface QueryResult {
  items: StoredEvent[];
  next_cursor: string | undefined;
}

export interface VerifyResult {
  ok: boolean;
  from_seq: number;
  to_seq: number;
  checked: number;
  first_bad_seq?: number;
  reason?: string;
}

export interface Head {
  seq: number;
  event_hash: string;
  timestamp: string | undefined;
}

interface Pending {
  events: ValidEvent[];
  resolve: (results: AppendResult[]) => void;
  reject: (err: unknown) => void;
}

interface Accepted {
  pending: Pending;
  stored: StoredEvent[];
  fresh: boolean[];
}

/** A group with its seqs, hashes and frames assigned, ready for the log. */
interface SealedGroup {
  sealed: StoredEvent[];
  accepted: Accepted[];
  /** The client-given ids it seals. */
  sealedInGroup: Map<string, StoredEvent>;
  encoded: EncodedFrames;
}

/** A durable group waiting for its index write (after which subscribers are handed it). */
interface IndexWaiting {
  run: FrameRun;
  sealed: StoredEvent[];
  requests: number;
  ids: ReadonlyMap<string, StoredEvent>;
  writeMs: number;
}

/** The group whose log write is under way. */
interface InFlightWrite {
  /** Whether the write (and fsync) worked. Never rejects. */
  done: Promise<boolean>;
  /** Its last event: the next group is sealed on top of it. */
  last: LogHead;
  ids: ReadonlyMap<string, StoredEvent>;
}

/** Whether a group retries a client-given id of the write under way. */
function retriesOf(group: readonly Pending[], ids: ReadonlyMap<string, StoredEvent>): boolean {
  if (ids.size === 0) return false;
  return group.some((p) => p.events.some((ev) => ev.id !== undefined && ids.has(ev.id)));
}

/** The newest event sealed with `id` among groups not yet indexed, if any. */
function unindexed(groups: readonly ReadonlyMap<string, StoredEvent>[], id: string): StoredEvent | undefined {
  for (let i = groups.length - 1; i >= 0; i--) {
    const ev = (groups[i] as ReadonlyMap<string, StoredEvent>).get(id);
    if (ev !== undefined) return ev;
  }
  return undefined;
}

function forget<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 10_000;
const DEFAULT_MAX_SCAN = 100_000;
/** Groups that may wait for their index write before new groups are held back. */
const MAX_UNINDEXED_GROUPS = 32;
/** How long a read waits for the index to cover the head before INDEX_BEHIND. */
const INDEX_WAIT_MS = 10_000;
/**
 * While nothing waits for the index (no read, no live subscriber, no close), an index write
 * waits up to INDEX_LINGER_MS for INDEX_LINGER_EVENTS durable events to gather. A LevelDB
 * batch, its log write, its compaction share and a worker round trip cost about the same
 * for 200 events as for 1,000, and a value met in several groups costs one posting chunk.
 * In alternating W1 runs it cut the daemon's CPU per event off the main thread by a third
 * and raised W1 by a fifth. A read or a subscriber ends the linger at once (the read then
 * waits for that bigger write: a read's median during W1 rose from ~20 to ~24 ms).
 */
const INDEX_LINGER_EVENTS = 1000;
const INDEX_LINGER_MS = 10;

export class Store {
  private readonly queue: Pending[] = [];
  /** The running commit loop, if any: close() waits for it. */
  private committing: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private indexChain: Promise<void> = Promise.resolve();
  /** Durable groups waiting for their index write, in log order. */
  private readonly toIndex: IndexWaiting[] = [];
  /** Ends an index write's wait for more events (INDEX_LINGER_MS) at once. */
  private endLinger: (() => void) | undefined;
  private unindexedGroups = 0;
  private indexDrained: (() => void) | undefined;
  /**
   * The client-given ids of each group sealed but not yet indexed, oldest first: consulted
   * for idempotency until the index has them (only for ids not surely new, so rarely).
   */
  private readonly unindexedIds: ReadonlyMap<string, StoredEvent>[] = [];
  /** Which ids are surely new, so need no look-up in the index. */
  private readonly recentIds: RecentIds;
  /** The last durable (acknowledged) event. */
  private acked: LogHead | undefined;
  /** The seq up to which the index (and so every read path) covers the log. */
  private indexedSeq = 0;
  private readonly indexWaiters: { seq: number; resolve: () => void }[] = [];
  private lastTimestampMs = 0;
  private readonly listeners = new Set<LiveListener>();
  private readonly reader: EventReader;
  private closing = false;
  private closed = false;

  private constructor(
    private readonly options: StoreOptions,
    private readonly log: SegmentLog,
    private readonly index: IndexClient,
  ) {
    this.reader = new EventReader(log, index);
    this.recentIds = new RecentIds(index.indexedHead?.maxIdMs ?? 0);
    this.acked = log.head;
    this.indexedSeq = log.head?.seq ?? 0; // open() caught the index up
    if (this.acked !== undefined) this.lastTimestampMs = Date.parse(this.acked.timestamp);
  }

  /** Opens (or creates) a store, catching the index up with the log first. */
  static async open(options: StoreOptions): Promise<Store> {
    const index = await IndexClient.open(join(options.dataDir, 'index'));
    try {
      const ih = index.indexedHead;
      const resume = ih === undefined ? undefined : { head: { seq: ih.seq, event_hash: ih.event_hash, timestamp: ih.timestamp }, segment: ih.segment, offset: ih.offset };
      const log = await SegmentLog.open({ dir: options.dataDir, segmentBytes: options.segmentBytes, durability: options.durability }, resume, {
        visit: (run) => index.write(run),
        progress: options.onRecoveryProgress,
        truncated: (segment, offset, bytesCut) => options.onNotice?.('cut a torn tail off the log (an append that was never acknowledged)', { segment, offset, bytesCut }),
      });
      const caughtUp = (log.head?.seq ?? 0) - (ih?.seq ?? 0);
      if (caughtUp > 0) options.onNotice?.('index caught up from the log', { events: caughtUp, head: log.head?.seq });
      return new Store(options, log, index);
    } catch (err) {
      await index.close().catch(() => undefined);
      throw err;
    }
  }

  // ---- append ----------------------------------------------------------------------------

  /**
   * Appends a batch atomically: every event is validated first (nothing of a refused batch
   * is stored), then acknowledged once durable and indexed. An event whose id is already
   * stored with the same content is not stored again; with other content the whole batch
   * is refused with ID_CONFLICT.
   */
  append(inputs: unknown): Promise<AppendResult[]> {
    try {
      this.assertOpen();
      const events = validateBatch(inputs, this.options);
      return this.appendValid(events);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Appends events already validated by validateBatch (API layers that validate early). */
  appendValid(events: ValidEvent[]): Promise<AppendResult[]> {
    this.assertOpen();
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.committing ??= this.commitLoop();
    });
  }

  /**
   * Group commit, pipelined: while one group's write and fsync are in flight, the next
   * group is sealed (ids looked up, seqs, hashes and frames made) on top of it, so the
   * CPU work of sealing overlaps the disk's wait. Writes themselves stay strictly in order.
   * If a write fails, the group sealed on top of it is unsealed and queued again, in front,
   * to be sealed afresh on the log's real head.
   */
  private async commitLoop(): Promise<void> {
    let inFlight: InFlightWrite | undefined;
    try {
      for (;;) {
        if (this.queue.length === 0 || this.unindexedGroups >= MAX_UNINDEXED_GROUPS) {
          // Nothing to seal (or too much unindexed): let the write under way finish first.
          if (inFlight !== undefined) {
            await inFlight.done;
            inFlight = undefined;
            continue;
          }
          if (this.queue.length === 0) return;
          await new Promise<void>((r) => (this.indexDrained = r));
          continue;
        }
        const group = this.takeGroup();
        // A retry of an event still being written must wait for that write's outcome.
        if (inFlight !== undefined && retriesOf(group, inFlight.ids)) {
          await inFlight.done;
          inFlight = undefined;
        }
        let sealed: SealedGroup | undefined;
        try {
          sealed = await this.sealGroup(group, inFlight);
        } catch (err) {
          for (const p of group) p.reject(err);
          continue;
        }
        if (inFlight !== undefined) {
          const ok = await inFlight.done;
          inFlight = undefined;
          if (!ok) {
            // Sealed on top of a write that failed: seal its requests again, first (those
            // refused while sealing, or answered as retries, stay answered).
            if (sealed !== undefined) {
              this.unseal(sealed);
              this.queue.unshift(...sealed.accepted.map((a) => a.pending));
            }
            continue;
          }
        }
        if (sealed !== undefined) inFlight = this.writeGroup(sealed);
      }
    } finally {
      this.committing = undefined;
    }
  }

  private takeGroup(): Pending[] {
    const max = this.options.maxGroupEvents ?? 10_000;
    const group: Pending[] = [];
    let n = 0;
    while (this.queue.length > 0 && (n === 0 || n + (this.queue[0] as Pending).events.length <= max)) {
      const p = this.queue.shift() as Pending;
      n += p.events.length;
      group.push(p);
    }
    return group;
  }

  /**
   * Seals a group on top of the log's head, or of the group still being written: seqs,
   * the timestamp, hashes, frames. Requests with an ID_CONFLICT are refused here. Returns
   * undefined when nothing new is to be written (retries only; they are answered here).
   */
  private async sealGroup(group: Pending[], below: InFlightWrite | undefined): Promise<SealedGroup | undefined> {
    const known = await this.lookupKnownIds(group);
    const now = Math.max(Date.now(), this.lastTimestampMs);
    const timestamp = new Date(now).toISOString();
    const base = below?.last ?? this.log.head;
    let seq = base?.seq ?? 0;
    const baseHash = base?.event_hash ?? GENESIS_HASH;
    let previousHash = baseHash;
    const sealed: StoredEvent[] = [];
    const accepted: Accepted[] = [];
    const sealedInGroup = new Map<string, StoredEvent>();

    for (const pending of group) {
      const stored: StoredEvent[] = [];
      const fresh: boolean[] = [];
      let conflict: SpineError | undefined;
      const events = pending.events;
      for (let i = 0; i < events.length; i++) {
        const ev = events[i] as ValidEvent;
        const id = ev.id;
        if (id !== undefined) {
          const existing = sealedInGroup.get(id) ?? known.get(id);
          if (existing !== undefined) {
            if (!sameContent(ev, existing)) {
              conflict = new SpineError('ID_CONFLICT', `events[${i}].id: event ${id} already exists (seq ${existing.seq}) with different content`, { field: `events[${i}].id` });
              break;
            }
            stored.push(existing);
            fresh.push(false);
            continue;
          }
        }
        seq += 1;
        // One object shape for every event (entity_name present even when undefined) keeps
        // the hashing and encoding call sites monomorphic.
        const record: StoredEvent = {
          seq,
          id: id ?? uuidv7(),
          event_type: ev.event_type,
          domain: ev.domain,
          entity_type: ev.entity_type,
          action: ev.action,
          entity_id: ev.entity_id,
          entity_name: ev.entity_name,
          actor_id: ev.actor_id,
          actor_type: ev.actor_type,
          organization_id: ev.organization_id,
          environment: ev.environment,
          timestamp,
          severity: ev.severity,
          payloadJson: ev.payloadJson,
          payload_hash: ev.payload_hash,
          previous_hash: previousHash,
          event_hash: '',
        };
        record.event_hash = eventHash(record);
        previousHash = record.event_hash;
        this.recentIds.add(record.id);
        if (id !== undefined) sealedInGroup.set(id, record);
        stored.push(record);
        fresh.push(true);
      }
      if (conflict !== undefined) {
        // The whole request is refused: roll back the seqs and ids it took.
        seq -= fresh.filter(Boolean).length;
        for (let j = 0; j < stored.length; j++) if (fresh[j]) sealedInGroup.delete((stored[j] as StoredEvent).id);
        previousHash = sealed.length > 0 ? (sealed[sealed.length - 1] as StoredEvent).event_hash : baseHash;
        pending.reject(conflict);
        continue;
      }
      for (let j = 0; j < stored.length; j++) if (fresh[j]) sealed.push(stored[j] as StoredEvent);
      accepted.push({ pending, stored, fresh });
    }

    if (sealed.length === 0) {
      // Only retries, of events already durable (a retry of the write under way waited for
      // it in commitLoop): answered at once.
      for (const a of accepted) a.pending.resolve(results(a.stored, a.fresh));
      return undefined;
    }
    this.lastTimestampMs = now;
    // Only client-given ids can come back as retries before the index has them.
    if (sealedInGroup.size > 0) this.unindexedIds.push(sealedInGroup);
    return { sealed, accepted, sealedInGroup, encoded: encodeFrames(sealed) };
  }

  /** Undoes sealGroup's bookkeeping for a group that will not be written as sealed. */
  private unseal(group: SealedGroup): void {
    forget(this.unindexedIds, group.sealedInGroup);
  }

  /**
   * Writes a sealed group (one write, one fsync) and, once durable, queues its index write,
   * after which its requests are acknowledged. `done` says whether the log write worked.
   */
  private writeGroup(group: SealedGroup): InFlightWrite {
    const { sealed, accepted, sealedInGroup } = group;
    const last = sealed[sealed.length - 1] as StoredEvent;
    const writeStart = performance.now();
    const done = this.log.append(sealed, group.encoded).then(
      ({ run }) => {
        this.afterWrite(group, run, performance.now() - writeStart);
        return true;
      },
      (err: unknown) => {
        this.unseal(group);
        for (const a of accepted) a.pending.reject(err);
        return false;
      },
    );
    return { done, last: { seq: last.seq, event_hash: last.event_hash, timestamp: last.timestamp }, ids: sealedInGroup };
  }

  private afterWrite(group: SealedGroup, run: FrameRun, writeMs: number): void {
    const { sealed, accepted, sealedInGroup } = group;
    const last = sealed[sealed.length - 1] as StoredEvent;
    // Durable: acknowledged now. Reads wait for the index to cover it (visibleSeq).
    this.acked = { seq: last.seq, event_hash: last.event_hash, timestamp: last.timestamp };
    for (const a of accepted) a.pending.resolve(results(a.stored, a.fresh));
    this.unindexedGroups += 1;
    this.toIndex.push({ run, sealed, requests: accepted.length, ids: sealedInGroup, writeMs });
    if (!this.mayLinger()) this.endLinger?.();
    this.indexChain = this.indexChain.then(() => this.indexWaiting());
  }

  /**
   * Indexes every durable group still waiting that continues the first one in its segment,
   * in one index write: while the index is behind, the groups that come meanwhile are
   * indexed together (each LevelDB batch and worker round trip has a cost of its own, and
   * a value seen in several groups costs one posting chunk, not one per group), and while
   * nothing waits for the index it lingers for more (INDEX_LINGER_EVENTS). Called once per
   * group; a call that finds its group already indexed does nothing.
   */
  private async indexWaiting(): Promise<void> {
    if (this.toIndex.length === 0) return;
    if (this.mayLinger()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, INDEX_LINGER_MS);
        this.endLinger = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.endLinger = undefined;
    }
    const first = this.toIndex[0] as IndexWaiting;
    let n = 1;
    let length = first.run.length;
    for (let next = this.toIndex[n]; next !== undefined && next.run.segment === first.run.segment && next.run.offset === first.run.offset + length; next = this.toIndex[n]) {
      length += next.run.length;
      n += 1;
    }
    const groups = this.toIndex.splice(0, n);
    const indexStart = performance.now();
    try {
      await this.indexWithRetry({ ...first.run, length });
      const indexMs = performance.now() - indexStart;
      for (const g of groups) {
        this.options.onCommit?.({ requests: g.requests, events: g.sealed.length, bytes: g.run.length, writeMs: g.writeMs, indexMs });
        forget(this.unindexedIds, g.ids);
        this.indexedSeq = (g.sealed[g.sealed.length - 1] as StoredEvent).seq;
        for (const listener of this.listeners) listener.push(g.sealed);
      }
    } catch {
      // Only a closing store stops the retries; its readers get STORE_CLOSED.
    } finally {
      this.wakeIndexWaiters();
      this.unindexedGroups -= groups.length;
      const drained = this.indexDrained;
      this.indexDrained = undefined;
      drained?.();
    }
  }

  /** Whether an index write may wait for more events to gather (INDEX_LINGER_EVENTS). */
  private mayLinger(): boolean {
    if (this.closing || this.indexWaiters.length > 0 || this.listeners.size > 0 || this.unindexedGroups >= MAX_UNINDEXED_GROUPS / 2) return false;
    let events = 0;
    for (const g of this.toIndex) events += g.sealed.length;
    return events < INDEX_LINGER_EVENTS;
  }

  /** Stored events for the client-given ids of a group (from the index, or sealed just now). */
  private async lookupKnownIds(group: Pending[]): Promise<Map<string, StoredEvent>> {
    const known = new Map<string, StoredEvent>();
    const ask: string[] = [];
    for (const p of group) {
      for (const ev of p.events) {
        // A sealed id is never surely new: only the others are looked for.
        if (ev.id === undefined || this.recentIds.isSurelyNew(ev.id) || known.has(ev.id)) continue;
        const sealed = unindexed(this.unindexedIds, ev.id);
        if (sealed !== undefined) known.set(ev.id, sealed);
        else ask.push(ev.id);
      }
    }
    if (ask.length === 0) return known;
    const hits = await this.index.lookupIds(ask);
    const reads: Promise<void>[] = [];
    for (const [i, hit] of hits.entries()) {
      if (hit === undefined) continue;
      const loc = { segment: this.log.segmentOf(hit.seq), offset: hit.offset, length: hit.length };
      reads.push(this.log.readAt(hit.seq, loc).then((ev) => void known.set(ask[i] as string, ev)));
    }
    await Promise.all(reads);
    return known;
  }

  /**
   * Index writes only fail on a full or failing disk. The events are already durable, so
   * keep trying (reopening LevelDB, which stops writing after an error) until it works.
   */
  private async indexWithRetry(run: FrameRun): Promise<void> {
    let delayMs = 50;
    for (;;) {
      try {
        await this.index.write(run);
        return;
      } catch (err) {
        if (this.closed) throw new SpineError('STORE_CLOSED', 'the store closed before the index caught up', { cause: err });
        this.options.onNotice?.('index write failed; retrying', { error: (err as Error).message, delayMs });
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(delayMs * 2, 5_000);
        await this.index.reopen().catch(() => undefined);
      }
    }
  }

  // ---- reads -----------------------------------------------------------------------------

  /** The last acknowledged event (seq 0 and the genesis hash for an empty store). */
  head(): Head {
    const h = this.acked;
    return { seq: h?.seq ?? 0, event_hash: h?.event_hash ?? GENESIS_HASH, timestamp: h?.timestamp };
  }

  /**
   * The seq up to which subscribers have been handed every event: acknowledged and indexed.
   * It trails head() while the index catches up, so a live subscriber that is idle has
   * seen every match up to here, not up to head().
   */
  fedSeq(): number {
    return this.indexedSeq;
  }

  /**
   * Events durable in the log but not yet indexed (acknowledged, but reads wait for them):
   * up to INDEX_LINGER_EVENTS while nobody reads; it grows when the index cannot keep up
   * or cannot write.
   */
  indexLag(): number {
    return (this.log.head?.seq ?? 0) - this.indexedSeq;
  }

  /**
   * The head as of now, once the index covers it: every read starts here, so that it sees
   * every event acknowledged before it started. INDEX_BEHIND if the index does not catch
   * up within INDEX_WAIT_MS (it is failing to write; appends stop soon after).
   */
  private async visibleSeq(): Promise<number> {
    const seq = this.acked?.seq ?? 0;
    if (this.indexedSeq >= seq) return seq;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.indexWaiters.push({ seq, resolve });
      this.endLinger?.();
      timer = setTimeout(resolve, INDEX_WAIT_MS);
    });
    clearTimeout(timer);
    if (this.indexedSeq >= seq) return seq;
    if (this.closed) throw new SpineError('STORE_CLOSED', 'the store closed before the index caught up');
    throw new SpineError('INDEX_BEHIND', `the index is ${this.indexLag()} events behind the log and has not caught up in ${INDEX_WAIT_MS} ms; retry later`);
  }

  private wakeIndexWaiters(): void {
    if (this.indexWaiters.length === 0) return;
    const closed = this.closed;
    for (let i = this.indexWaiters.length - 1; i >= 0; i--) {
      const w = this.indexWaiters[i] as { seq: number; resolve: () => void };
      if (closed || w.seq <= this.indexedSeq) {
        this.indexWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** One event by id, or undefined. */
  async get(id: string): Promise<StoredEvent | undefined> {
    this.assertOpen();
    const visible = await this.visibleSeq();
    const [hit] = await this.index.lookupIds([id]);
    if (hit === undefined || hit.seq > visible) return undefined;
    return this.log.readAt(hit.seq, { segment: this.log.segmentOf(hit.seq), offset: hit.offset, length: hit.length });
  }

  /** One event by seq, or undefined. */
  async getBySeq(seq: number): Promise<StoredEvent | undefined> {
    this.assertOpen();
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > (await this.visibleSeq())) return undefined;
    return this.reader.bySeq(seq);
  }

  /** A page of events matching the filter, with a cursor for the next page. */
  async query(filter: QueryFilter, page: QueryPage = {}): Promise<QueryResult> {
    this.assertOpen();
    const f = normalizeFilter(filter);
    const order = page.order ?? 'asc';
    const limit = page.limit ?? DEFAULT_QUERY_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
      throw new SpineError('INVALID_QUERY', `limit: must be an integer from 1 to ${MAX_QUERY_LIMIT}`, { field: 'limit' });
    }
    const range = await this.reader.seqRange(f, await this.visibleSeq(), order);
    let { lo, hi } = range;
    if (page.cursor !== undefined) {
      const at = decodeCursor(page.cursor, order, f);
      if (order === 'asc') lo = Math.max(lo, at);
      else hi = Math.min(hi, at);
    }
    const items: StoredEvent[] = [];
    let scanned = 0;
    const maxScan = page.maxScan ?? DEFAULT_MAX_SCAN;
    for await (const c of this.reader.scan(f, lo, hi, order === 'desc', range.start)) {
      if (c.event !== undefined) {
        if (items.length === limit) return { items, next_cursor: encodeCursor(c.seq, order, f) };
        items.push(c.event);
      }
      scanned += 1;
      if (scanned >= maxScan && items.length < limit) {
        const nextSeq = order === 'asc' ? c.seq + 1 : c.seq - 1;
        const more = order === 'asc' ? nextSeq <= hi : nextSeq >= lo;
        return { items, next_cursor: more ? encodeCursor(nextSeq, order, f) : undefined };
      }
    }
    return { items, next_cursor: undefined };
  }

  /** Every matching event in [from_seq, to_seq] (to the head by default), in seq order. */
  async *read(filter: QueryFilter = {}): AsyncGenerator<StoredEvent> {
    this.assertOpen();
    const f = normalizeFilter(filter);
    const { lo, hi, start } = await this.reader.seqRange(f, await this.visibleSeq());
    for await (const c of this.reader.scan(f, lo, hi, false, start)) if (c.event !== undefined) yield c.event;
  }

  /** Catch up from `from_seq` (or start at the head), then follow live. */
  subscribe(filter: QueryFilter = {}, options: SubscribeOptions = {}): AsyncGenerator<SubscriptionItem> {
    this.assertOpen();
    const f = normalizeFilter(filter);
    if (options.from_seq !== undefined && (!Number.isSafeInteger(options.from_seq) || options.from_seq < 1)) {
      throw new SpineError('INVALID_QUERY', 'from_seq: must be an integer ≥ 1', { field: 'from_seq' });
    }
    const source: SubscriptionSource = {
      startSeq: () => this.head().seq,
      ackedSeq: () => this.fedSeq(),
      settled: () => this.visibleSeq(),
      catchUp: async function* (this: Store, filter: NormalizedFilter, lo: number, hi: number) {
        for await (const c of this.reader.scan(filter, lo, hi, false)) if (c.event !== undefined) yield c.event;
      }.bind(this),
      attach: (l) => {
        this.listeners.add(l);
        this.endLinger?.();
      },
      detach: (l) => this.listeners.delete(l),
    };
    return subscription(source, f, options, () => this.closing);
  }

  /** Counts of matching events grouped by a field or a time bucket. */
  async aggregate(filter: QueryFilter, groupBy: AggregateGroupBy | string): Promise<AggregateResult> {
    checkGroupBy(groupBy);
    return aggregateEvents(this.read(filter), groupBy);
  }

  /**
   * Re-checks frames, payload digests, event hashes and the chain over [from, to]; with
   * `checkIndex`, also that the index finds each event by id. Reports the first bad seq.
   */
  async verify(range: { from_seq?: number; to_seq?: number; checkIndex?: boolean; organizations?: readonly string[] } = {}): Promise<VerifyResult> {
    this.assertOpen();
    const headSeq = await this.visibleSeq();
    const from = Math.max(1, range.from_seq ?? 1);
    const to = Math.min(headSeq, range.to_seq ?? headSeq);
    const result: VerifyResult = { ok: true, from_seq: from, to_seq: to, checked: 0 };
    if (from > to) return result;
    let previous: string | undefined;
    let expected = from;
    const fail = (seq: number, reason: string): VerifyResult => ({ ...result, ok: false, first_bad_seq: seq, reason });
    let pendingIds: StoredEvent[] = [];
    const checkIds = async (): Promise<VerifyResult | undefined> => {
      const hits = await this.index.lookupIds(pendingIds.map((e) => e.id));
      for (const [i, hit] of hits.entries()) {
        const ev = pendingIds[i] as StoredEvent;
        if (hit?.seq !== ev.seq) return fail(ev.seq, `the index does not find event ${ev.id} at seq ${ev.seq}`);
      }
      pendingIds = [];
      return undefined;
    };
    try {
      // Inside the try: a damaged event just before the range is reported, not thrown.
      previous = from === 1 ? GENESIS_HASH : (await this.reader.bySeq(from - 1))?.event_hash;
      for await (const ev of this.reader.ascendingLog(from, to)) {
        if (ev.seq !== expected) return fail(expected, `seq ${expected} is missing (found ${ev.seq})`);
        if (ev.previous_hash !== previous) return fail(ev.seq, 'previous_hash does not equal the event_hash of the event before it');
        const problem = verifyEventHashes(ev);
        if (problem !== undefined) return fail(ev.seq, problem);
        previous = ev.event_hash;
        expected += 1;
        // The whole chain is always checked; a caller limited to some organizations is
        // told how many of its own events that covered, not how many others have.
        if (range.organizations === undefined || range.organizations.includes(ev.organization_id)) result.checked += 1;
        if (range.checkIndex === true) {
          pendingIds.push(ev);
          if (pendingIds.length >= 1000) {
            const bad = await checkIds();
            if (bad !== undefined) return bad;
          }
        }
      }
      if (pendingIds.length > 0) {
        const bad = await checkIds();
        if (bad !== undefined) return bad;
      }
    } catch (err) {
      if (isSpineError(err) && err.code === 'LOG_CORRUPT') return fail(expected, err.message);
      throw err;
    }
    if (expected <= to) return fail(expected, `the log ends at seq ${expected - 1}`);
    return result;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Stops accepting, finishes in-flight appends, syncs and closes. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.shutDown();
    return this.closePromise;
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    this.endLinger?.();
    // Appends already queued were accepted before close(): finish them.
    while (this.committing !== undefined) await this.committing;
    await this.indexChain;
    for (const l of this.listeners) l.end();
    this.closed = true;
    this.wakeIndexWaiters();
    await this.log.close();
    await this.index.close();
  }

  private assertOpen(): void {
    if (this.closing) throw new SpineError('STORE_CLOSED', 'the store is closed or shutting down');
  }
}

function sameContent(ev: ValidEvent, stored: StoredEvent): boolean {
  return (
    ev.event_type === stored.event_type &&
    ev.entity_id === stored.entity_id &&
    ev.entity_name === stored.entity_name &&
    ev.actor_id === stored.actor_id &&
    ev.actor_type === stored.actor_type &&
    ev.organization_id === stored.organization_id &&
    ev.environment === stored.environment &&
    ev.severity === stored.severity &&
    ev.payloadJson === stored.payloadJson
  );
}

function results(stored: StoredEvent[], fresh: boolean[]): AppendResult[] {
  return stored.map((ev, i) => ({ seq: ev.seq, id: ev.id, timestamp: ev.timestamp, event_hash: ev.event_hash, deduplicated: !fresh[i] }));
}

// Cursors are opaque to clients: a position bound to the query's order and filter.
function encodeCursor(seq: number, order: 'asc' | 'desc', f: QueryFilter): string {
  return Buffer.from(JSON.stringify([1, order, seq, filterFingerprint(f)])).toString('base64url');
}

function decodeCursor(cursor: string, order: 'asc' | 'desc', f: QueryFilter): number {
  try {
    const [v, o, seq, fp] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (v === 1 && o === order && typeof seq === 'number' && Number.isSafeInteger(seq) && fp === filterFingerprint(f)) return seq;
  } catch {
    // fall through
  }
  throw new SpineError('INVALID_CURSOR', 'cursor: not a cursor issued for this query (same filters and order)', { field: 'cursor' });
}
