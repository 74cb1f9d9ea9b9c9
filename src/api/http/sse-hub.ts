/**
 * Live fan-out for SSE streams that share a filter: one store subscription for all of
 * them, each burst of events (a group commit) encoded and joined once, the same bytes
 * written to every stream. Without it, each stream pulls each event through its own
 * subscription: a cost per event and subscriber that a large fan-out cannot afford.
 *
 * No gap, no duplicate: a stream joins only at a position the hub has not broadcast past
 * (everything after it is still to come from the hub, whose own subscription is gapless),
 * and gets from each burst only what lies after its position. A stream whose socket does
 * not keep up (more than SLOW_BYTES waiting in its buffer) is let go: it goes back to a
 * subscription of its own from its position, catching up from the log, and joins again
 * once caught up. So a slow client never holds the hub back and never holds more than
 * SLOW_BYTES plus a burst in memory.
 */
import type { Logger } from '../../observability';
import type { QueryFilter, Store, SubscriptionItem } from '../../store';
import { markerFrame, type FrameCache, type OpenStream } from './sse-output';

/** Bytes waiting in a stream's socket buffer past which the hub lets go of it. */
export const SLOW_BYTES = 256 * 1024;
/** Past this many bytes a burst is broadcast at once rather than at its end. */
const BURST_BYTES = 256 * 1024;

export class LiveHub {
  private readonly streams = new Set<OpenStream>();
  /** Every matching event up to here has been broadcast. */
  private flushed: number;
  private frames: Buffer[] = [];
  /** The position after each frame of the burst. */
  private seqs: number[] = [];
  /** The byte offset of each frame in the burst. */
  private offsets: number[] = [];
  private bytes = 0;
  private scheduled = false;
  private stopped = false;
  private wakeStop: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly filter: QueryFilter,
    /** The position it starts after: it broadcasts every matching event after this seq. */
    position: number,
    private readonly queueLimit: number,
    private readonly cache: FrameCache,
    private readonly logger: Logger,
    /** Told when the hub stops (no stream left, or its subscription ended). */
    private readonly onStop: (hub: LiveHub) => void,
  ) {
    this.flushed = position;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Takes a stream whose client has everything up to `stream.position`; false if it cannot. */
  join(stream: OpenStream): boolean {
    if (this.stopped || stream.position < this.flushed) return false;
    this.streams.add(stream);
    stream.hub = this;
    return true;
  }

  /** A stream leaves (its client went away); the hub stops with its last stream. */
  leave(stream: OpenStream): void {
    if (!this.streams.delete(stream)) return;
    stream.hub = undefined;
    if (this.streams.size === 0) this.stop();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of [...this.streams]) this.release(s);
    this.onStop(this);
    const wake = this.wakeStop;
    this.wakeStop = undefined;
    wake?.();
  }

  async run(): Promise<void> {
    const items = this.store.subscribe(this.filter, { from_seq: this.flushed + 1, queueLimit: this.queueLimit });
    let started = false;
    try {
      for (;;) {
        const next = await this.next(items);
        if (next === undefined || next.done === true) break;
        const item = next.value;
        if (item.type === 'event') this.add(this.cache.eventFrame(item.event), item.event.seq);
        else if (started || item.type === 'fell_behind') this.add(markerFrame(item.type, item.seq), item.seq);
        started = true;
      }
      this.broadcast();
    } catch (err) {
      this.logger.warn('SSE fan-out stopped; its streams go on, each on its own', { err });
    } finally {
      this.stop();
      void items.return(undefined).catch(() => undefined);
    }
  }

  private next(items: AsyncGenerator<SubscriptionItem>): Promise<IteratorResult<SubscriptionItem> | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.wakeStop = () => resolve(undefined);
      items.next().then(resolve, reject);
    });
  }

  private add(frame: Buffer, seq: number): void {
    this.offsets.push(this.bytes);
    this.frames.push(frame);
    this.seqs.push(seq);
    this.bytes += frame.length;
    if (this.bytes >= BURST_BYTES) this.broadcast();
    else if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.broadcast());
    }
  }

  private broadcast(): void {
    this.scheduled = false;
    const { frames, seqs, offsets, bytes } = this;
    if (frames.length === 0) return;
    this.frames = [];
    this.seqs = [];
    this.offsets = [];
    this.bytes = 0;
    const data = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes);
    const last = seqs[seqs.length - 1] as number;
    for (const s of this.streams) {
      if (!s.writable) {
        this.release(s);
        continue;
      }
      if (s.position >= last) continue;
      let i = 0;
      while ((seqs[i] as number) <= s.position) i++;
      s.writeNow(i === 0 ? data : data.subarray(offsets[i]), last);
      if (s.res.writableLength > SLOW_BYTES) this.release(s);
    }
    this.flushed = last;
    if (this.streams.size === 0) this.stop();
  }

  /** Lets go of a stream: its loop wakes and goes on with a subscription of its own. */
  private release(stream: OpenStream): void {
    this.streams.delete(stream);
    stream.hub = undefined;
    const wake = stream.wake;
    stream.wake = undefined;
    wake?.();
  }
}
