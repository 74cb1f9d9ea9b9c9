/**
 * Live subscriptions: catch up from the log, then follow new events as they are
 * acknowledged, with no gap and no duplicate across the switch. A subscriber's live queue
 * is bounded: when it overflows, the queue is dropped (appends never wait for a reader)
 * and the subscriber falls back to reading the log from where it was, then rejoins live.
 */
import type { StoredEvent } from '../event/types';
import { matches, type NormalizedFilter } from './filter';

export type SubscriptionItem =
  | { type: 'event'; event: StoredEvent }
  /** Everything up to `seq` (the head at that moment) has been delivered; now live. */
  | { type: 'caught_up'; seq: number }
  /** The live queue overflowed; reading from the log again after `seq`. */
  | { type: 'fell_behind'; seq: number };

/** What a subscription needs from the store. */
export interface SubscriptionSource {
  /** The last acknowledged (durable) seq: where "from now" starts. */
  startSeq(): number;
  /** The last seq subscribers have been fed (acknowledged and indexed). */
  ackedSeq(): number;
  /** Resolves once subscribers have been fed everything acknowledged so far. */
  settled(): Promise<unknown>;
  /** Matching events in [lo, hi], ascending. */
  catchUp(filter: NormalizedFilter, lo: number, hi: number): AsyncGenerator<StoredEvent>;
  attach(listener: LiveListener): void;
  detach(listener: LiveListener): void;
}

/** The store's side of one subscriber: receives acknowledged events, never blocks. */
export class LiveListener {
  private queue: StoredEvent[] = [];
  private head = 0;
  overflowed = false;
  ended = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly filter: NormalizedFilter,
    private readonly limit: number,
  ) {}

  /** Called by the store on every acknowledged group, in seq order. */
  push(events: readonly StoredEvent[]): void {
    if (this.overflowed || this.ended) return;
    for (const ev of events) {
      if (!matches(this.filter, ev)) continue;
      if (this.queue.length - this.head >= this.limit) {
        this.overflowed = true;
        this.queue = [];
        this.head = 0;
        break;
      }
      this.queue.push(ev);
    }
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  take(): StoredEvent | undefined {
    if (this.head >= this.queue.length) return undefined;
    const ev = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return ev;
  }

  waitForMore(): Promise<void> {
    if (this.head < this.queue.length || this.overflowed || this.ended) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export interface SubscribeOptions {
  /** Deliver events from this seq on; by default only events acknowledged after the call. */
  from_seq?: number;
  /** The bound of the live queue in events. */
  queueLimit?: number;
  /**
   * Ends the subscription, also while it waits for a new event: `return()` on a generator
   * waits behind its pending `next()`, so an idle subscriber could not otherwise be
   * detached until the next matching event arrived.
   */
  signal?: AbortSignal;
}

/**
 * The subscription as an async iterator. Breaking out of a `for await` (or calling
 * `return()`) detaches it.
 */
export function subscription(
  source: SubscriptionSource,
  filter: NormalizedFilter,
  options: SubscribeOptions,
  closed: () => boolean,
): AsyncGenerator<SubscriptionItem> {
  // The start is fixed by the call, not by the first next(): a generator body runs only
  // then, and an event acknowledged in between would be neither caught up nor live.
  const from = options.from_seq ?? source.startSeq() + 1;
  const signal = options.signal;
  const ended = signal === undefined ? closed : () => closed() || signal.aborted;
  return follow(source, filter, from, options.queueLimit ?? 10_000, ended, signal);
}

async function* follow(
  source: SubscriptionSource,
  filter: NormalizedFilter,
  from: number,
  limit: number,
  closed: () => boolean,
  signal: AbortSignal | undefined,
): AsyncGenerator<SubscriptionItem> {
  let next = from;
  // Everything acknowledged before the first next() is caught up before `caught_up`.
  await source.settled();
  for (;;) {
    // Catch up from the log until nothing acknowledged is left behind us.
    while (next <= source.ackedSeq()) {
      const hi = source.ackedSeq();
      for await (const ev of source.catchUp(filter, next, hi)) yield { type: 'event', event: ev };
      next = hi + 1;
    }
    if (closed()) return;
    // Synchronously after the check above: no acknowledgement can fall in between.
    const listener = new LiveListener(filter, limit);
    source.attach(listener);
    const abort = (): void => listener.end();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      yield { type: 'caught_up', seq: next - 1 };
      for (;;) {
        await listener.waitForMore();
        if (listener.ended) return;
        if (listener.overflowed) {
          yield { type: 'fell_behind', seq: next - 1 };
          break;
        }
        let ev = listener.take();
        while (ev !== undefined) {
          // Starting "from now", groups acknowledged before the start may still be fed.
          if (ev.seq < next) {
            ev = listener.take();
            continue;
          }
          next = ev.seq + 1;
          yield { type: 'event', event: ev };
          if (listener.overflowed) break;
          ev = listener.take();
        }
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      source.detach(listener);
    }
  }
}
