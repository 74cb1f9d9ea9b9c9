/**
 * Live fan-out for SSE streams that share a filter: one store subscription for all of
 * them, each burst of events (a group commit) encoded and joined once, the same bytes
 * written to every stream. Without it, each stream pulls each event through its own
 * subscription: a cost per event and subscriber that a large fan-out cannot afford.
 *
 * The hub keeps its recent bursts (http.sseHistoryBytes). A stream whose socket is full (more
 * than PAUSE_BYTES waiting) is skipped and, once its socket drains, fed the bursts it
 * missed from that history: a briefly slow client costs the hub nothing but the shared
 * bytes. Only a client that falls further behind than the history reaches is let go: it
 * gets `fell_behind`, catches up from the log on a subscription of its own, and joins
 * again once caught up. So a slow client never holds the hub back, and the memory spent on
 * slow clients is bounded: the history (shared) plus PAUSE_BYTES per stream at most.
 *
 * No gap, no duplicate: a stream joins only at a position the history covers (everything
 * after it is in the history or still to come from the hub's own gapless subscription),
 * and is written only what lies after its position.
 */
import type { Logger } from '../../observability';
import type { QueryFilter, Store, SubscriptionItem } from '../../store';
import type { FrameCache, OpenStream } from './sse-output';

/** Bytes waiting in a stream's socket buffer past which the hub stops writing to it until it drains. */
export const PAUSE_BYTES = 256 * 1024;
/** Past this many bytes a burst is broadcast at once rather than at its end. */
const BURST_BYTES = 256 * 1024;
/** Events the hub takes in a row before it lets the event loop turn. */
const YIELD_EVERY = 1024;

interface Burst {
  /** The position before the burst. */
  from: number;
  /** The position after it (its last item's seq). */
  to: number;
  data: Buffer;
  /** The position after each frame. */
  seqs: number[];
  /** The byte offset of each frame. */
  offsets: number[];
}

export interface LiveHubOptions {
  store: Store;
  filter: QueryFilter;
  /** subscriptions.queueLimit, for the hub's own subscription. */
  queueLimit: number;
  /** http.sseHistoryBytes */
  historyBytes: number;
  cache: FrameCache;
  logger: Logger;
  /** Told when the hub stops (no stream left, or its subscription ended). */
  onStop(hub: LiveHub): void;
  /** Told when a stream's socket is full and the hub waits for it to drain. */
  onPause(): void;
  /** Told when the hub lets go of a stream that fell behind its history. */
  onFellBehind(): void;
}

export class LiveHub {
  private readonly streams = new Set<OpenStream>();
  /** Every matching event up to here has been broadcast. */
  private flushed: number;
  private history: Burst[] = [];
  private historyBytes = 0;
  private frames: Buffer[] = [];
  private seqs: number[] = [];
  private offsets: number[] = [];
  private bytes = 0;
  private scheduled = false;
  private stopped = false;
  private wakeStop: (() => void) | undefined;
  /** Ends the hub's subscription when it stops, also while it waits for events. */
  private readonly detach = new AbortController();

  constructor(
    private readonly options: LiveHubOptions,
    /** The position it starts after: it broadcasts every matching event after this seq. */
    position: number,
  ) {
    this.flushed = position;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Takes a stream whose client has everything up to `stream.position`; false if it cannot. */
  join(stream: OpenStream): boolean {
    const oldest = this.history[0]?.from ?? this.flushed;
    if (this.stopped || stream.position < oldest) return false;
    this.streams.add(stream);
    stream.hub = this;
    this.feed(stream);
    return true;
  }

  /** A stream leaves (its client went away); the hub stops with its last stream. */
  leave(stream: OpenStream): void {
    if (!this.streams.delete(stream)) return;
    stream.hub = undefined;
    if (stream.hubDrain !== undefined) stream.res.off('drain', stream.hubDrain);
    stream.hubDrain = undefined;
    if (this.streams.size === 0) this.stop();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of [...this.streams]) this.release(s);
    this.options.onStop(this);
    this.detach.abort();
    const wake = this.wakeStop;
    this.wakeStop = undefined;
    wake?.();
  }

  /** Runs until stopped; never rejects (a failure lets every stream go on on its own). */
  async run(): Promise<void> {
    let items: AsyncGenerator<SubscriptionItem> | undefined;
    let pulled = 0;
    try {
      items = this.options.store.subscribe(this.options.filter, { from_seq: this.flushed + 1, queueLimit: this.options.queueLimit, signal: this.detach.signal });
      for (;;) {
        const next = await this.next(items);
        if (next === undefined || next.done === true) break;
        const item = next.value;
        // The hub's own caught_up / fell_behind are not its streams' business: it stays
        // gapless either way (a hub that fell behind reads from the log).
        if (item.type === 'event') {
          this.add(this.options.cache.eventFrame(item.event), item.event.seq);
          // While the hub reads from the log (it fell behind), let other work in now and then.
          if (++pulled % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      this.broadcast();
    } catch (err) {
      this.options.logger.warn('SSE fan-out stopped; its streams go on, each on its own', { err });
    } finally {
      this.stop();
      void items?.return(undefined).catch(() => undefined);
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
    const last = seqs[seqs.length - 1] as number;
    const burst: Burst = { from: this.flushed, to: last, data: frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes), seqs, offsets };
    this.history.push(burst);
    this.historyBytes += burst.data.length;
    while (this.history.length > 1 && this.historyBytes > this.options.historyBytes) this.historyBytes -= (this.history.shift() as Burst).data.length;
    this.flushed = last;
    for (const s of this.streams) if (s.hubDrain === undefined) this.feed(s);
  }

  /** Writes a stream what it has not had yet, until its socket is full (then again on 'drain'). */
  private feed(stream: OpenStream): void {
    while (stream.res.writableLength < PAUSE_BYTES) {
      if (!stream.writable) return this.release(stream);
      if (stream.position >= this.flushed) return; // up to date
      const burst = this.burstAfter(stream.position);
      if (burst === undefined) {
        this.options.onFellBehind();
        return this.release(stream); // behind the history: the log serves it
      }
      let i = 0;
      while ((burst.seqs[i] as number) <= stream.position) i++;
      stream.writeNow(i === 0 ? burst.data : burst.data.subarray(burst.offsets[i]), burst.to);
    }
    if (stream.hubDrain !== undefined) return;
    this.options.onPause();
    const drained = (): void => {
      stream.hubDrain = undefined;
      if (this.streams.has(stream)) this.feed(stream);
    };
    stream.hubDrain = drained;
    stream.res.once('drain', drained);
  }

  /** The burst holding the first item after `position`, if the history still has it. */
  private burstAfter(position: number): Burst | undefined {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const b = this.history[i] as Burst;
      if (b.from <= position) return b.to > position ? b : undefined;
    }
    return undefined;
  }

  /** Lets go of a stream: its loop wakes and goes on with a subscription of its own. */
  private release(stream: OpenStream): void {
    this.streams.delete(stream);
    stream.hub = undefined;
    if (stream.hubDrain !== undefined) stream.res.off('drain', stream.hubDrain);
    stream.hubDrain = undefined;
    const wake = stream.wake;
    stream.wake = undefined;
    wake?.();
    if (this.streams.size === 0) this.stop();
  }
}
