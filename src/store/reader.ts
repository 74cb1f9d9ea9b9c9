/**
 * Reads events for queries, exports, subscriptions and aggregates: turns a filter and a seq
 * range into events in seq order, driven by a posting list of the index or, without one,
 * by a sequential read of the log.
 */
import type { StoredEvent } from '../event/types';
import type { IndexClient, LogStart } from './index-client';
import { LOCATION_STRIDE } from '../index';
import type { SegmentLog } from '../log';
import { SpineError } from '../errors';
import { drivingPosting, matches, type NormalizedFilter } from './filter';

/**
 * Bytes of the log read with the start of a sequential read: a page of 100 ~500-byte events
 * and the up to 63 frames before its first one (the index locates every 64th seq).
 */
const FIRST_READ_BYTES = 96 * 1024;

/** The start of a sequential read of seq `lo`, read with a range's time bounds. */
export type SeqRangeStart = LogStart & { lo: number };

/** One candidate looked at: the event when it matched, and the seq either way (for cursors). */
export interface Scanned {
  seq: number;
  event: StoredEvent | undefined;
}

export class EventReader {
  constructor(
    private readonly log: SegmentLog,
    private readonly index: IndexClient,
  ) {}

  /**
   * The seq range a filter's seq and time bounds select, within [1, headSeq]. When `order`
   * is ascending and no posting list drives the filter, the start of the sequential read
   * comes with the time bounds (one round trip): pass `start` on to scan.
   */
  async seqRange(f: NormalizedFilter, headSeq: number, order: 'asc' | 'desc' = 'asc'): Promise<{ lo: number; hi: number; start?: SeqRangeStart }> {
    let lo = Math.max(1, f.from_seq ?? 1);
    let hi = Math.min(headSeq, f.to_seq ?? headSeq);
    if (f.sinceMs === undefined && f.untilMs === undefined) return { lo, hi };
    const ask = order === 'asc' && drivingPosting(f) === undefined && lo <= hi ? { fromSeq: lo, toSeq: hi, bytes: FIRST_READ_BYTES, files: this.log.files } : undefined;
    const { since, until, start } = await this.index.timeBounds(f.sinceMs, f.untilMs, ask);
    if (f.sinceMs !== undefined) lo = Math.max(lo, since ?? headSeq + 1);
    if (until !== undefined) hi = Math.min(hi, until - 1);
    return start === undefined ? { lo, hi } : { lo, hi, start };
  }

  /**
   * Every candidate in [lo, hi], in order, with the event where it matches the filter.
   * `start`: what seqRange read ahead, used when the scan starts where it was read for.
   */
  async *scan(f: NormalizedFilter, lo: number, hi: number, descending: boolean, start?: SeqRangeStart): AsyncGenerator<Scanned> {
    if (lo > hi) return;
    const posting = drivingPosting(f);
    if (posting === undefined) {
      const events = descending ? this.descendingLog(lo, hi) : this.ascendingLog(lo, hi, start?.lo === lo ? start : undefined);
      for await (const ev of events) yield { seq: ev.seq, event: matches(f, ev) ? ev : undefined };
      return;
    }
    // The index worker reads the frames with the postings; each is checked and decoded here.
    for await (const page of this.index.postingFrames(posting, lo, hi, descending, () => this.log.files)) {
      const { postings, frames } = page;
      for (let i = 0, at = 0; i < postings.length; i += 3) {
        const seq = postings[i] as number;
        const length = postings[i + 2] as number;
        const ev = this.log.eventOfFrame(seq, { segment: this.log.segmentOf(seq), offset: postings[i + 1] as number, length }, frames, at);
        at += length;
        yield { seq, event: matches(f, ev) ? ev : undefined };
      }
    }
  }

  /** The event with this seq, or undefined beyond the log. */
  async bySeq(seq: number): Promise<StoredEvent | undefined> {
    for await (const ev of this.ascendingLog(seq, seq)) return ev;
    return undefined;
  }

  /** Events [lo, hi] read sequentially from the log (from `read`, the start of lo, if given). */
  async *ascendingLog(lo: number, hi: number, read?: LogStart): AsyncGenerator<StoredEvent> {
    if (lo > hi) return;
    const segment = this.log.segmentOf(lo);
    // The worker locates the start and reads the first frames (a query page's worth) with it.
    const start = read ?? (await this.index.logStart(lo, segment, FIRST_READ_BYTES, this.log.files));
    if (start === undefined) throw new SpineError('LOG_CORRUPT', `the index has no location at or before seq ${lo}: rebuild the index`);
    for await (const entry of this.log.readRange({ segment, offset: start.offset, seq: start.seq }, lo, hi, start.frames)) yield entry.event;
  }

  /** Events [lo, hi] newest first: read in ascending blocks of the location stride, reversed. */
  private async *descendingLog(lo: number, hi: number): AsyncGenerator<StoredEvent> {
    let top = hi;
    while (top >= lo) {
      const base = Math.max(lo, this.log.segmentOf(top), top - (top % LOCATION_STRIDE));
      const block: StoredEvent[] = [];
      for await (const ev of this.ascendingLog(base, top)) block.push(ev);
      for (let i = block.length - 1; i >= 0; i--) yield block[i] as StoredEvent;
      top = base - 1;
    }
  }
}
