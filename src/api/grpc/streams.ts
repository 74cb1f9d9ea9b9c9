/**
 * The server-streaming reads: Read (a range, without paging) and Subscribe (catch up,
 * then live). Both honour backpressure: when grpc-js's write buffer is full they stop
 * pulling events until 'drain'. A slow subscriber is never dropped: the store's live queue
 * for it overflows, it gets `fell_behind` and is served from the log until `caught_up`.
 * Both are narrowed to the caller's organizations, the live part of Subscribe included.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Caller } from '../../auth';
import { SpineError } from '../../errors';
import type { SubscriptionItem } from '../../store';
import { deadlineMs, serverStream, waitForDrain, type Malformed, type ServiceContext } from './calls';
import { toEventMsg, toQueryFilter } from './convert';
import type { EventMsg, ReadRequestMsg, SubscribeRequestMsg, SubscribeResponseMsg } from './messages';
import { encodedSubscribeEvent } from './pre-encoded';

export function streamHandlers(ctx: ServiceContext) {
  const { store } = ctx;
  return {
    Read: serverStream<ReadRequestMsg, EventMsg>(ctx, 'Read', 'read', async (req, caller, call, revoked) => {
      const deadline = deadlineMs(call);
      const events = store.read(caller.restrict(toQueryFilter(req.filter)));
      for await (const ev of events) {
        // A cancelled call is over; a passed deadline must never look like a complete read.
        if (call.cancelled || revoked.aborted) return;
        if (Date.now() >= deadline) throw new SpineError('DEADLINE_EXCEEDED', "the caller's deadline passed during the read");
        if (!call.write(toEventMsg(ev)) && !(await waitForDrain(call, revoked))) return;
      }
    }),

    Subscribe: serverStream<SubscribeRequestMsg, SubscribeResponseMsg | Buffer>(ctx, 'Subscribe', 'read', (req, caller, call, revoked) => subscribe(ctx, caller, req, call, revoked)),
  };
}

type Wake = 'stop' | 'heartbeat' | 'drained' | 'closed';

/**
 * What a subscription waits on besides its events: a stop (client cancel, deadline,
 * shutdown, revocation), the heartbeat, 'drain'. Each wait is a fresh promise, so that
 * nothing accumulates on a long-lived one over millions of events. The heartbeat is one
 * timer per stream, armed once and re-armed when it fires, rather than a timer set and
 * cleared around every event: with a fan-out, events × subscribers timers add up.
 */
class Waker {
  stopped = false;
  private wake: ((w: Wake) => void) | undefined;
  /** When the current wait for an item began; undefined when not waiting for one. */
  private waitingSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly heartbeatMs: number) {}

  stop(): void {
    this.stopped = true;
    this.wake?.('stop');
  }

  /** Ends the heartbeat timer (the stream is over). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves with the next item, or 'stop', or 'heartbeat' once it has waited heartbeatMs. */
  next<T>(pending: Promise<T>): Promise<T | Wake> {
    return new Promise<T | Wake>((resolve, reject) => {
      if (this.stopped) return resolve('stop');
      const settle = (w: T | Wake): void => {
        if (this.wake !== settle) return; // already woken
        this.wake = undefined;
        this.waitingSince = undefined;
        resolve(w);
      };
      this.wake = settle;
      this.waitingSince = performance.now();
      this.timer ??= setTimeout(() => this.tick(), this.heartbeatMs);
      pending.then(settle, (err: unknown) => {
        if (this.wake !== settle) return;
        this.wake = undefined;
        this.waitingSince = undefined;
        reject(err);
      });
    });
  }

  /** The heartbeat timer: wakes a wait that has lasted heartbeatMs, else waits the rest of it. */
  private tick(): void {
    const since = this.waitingSince;
    const waited = since === undefined ? 0 : performance.now() - since;
    // Timers may fire a little early; a millisecond short counts as due.
    if (since !== undefined && waited >= this.heartbeatMs - 1) {
      this.timer = setTimeout(() => this.tick(), this.heartbeatMs);
      this.wake?.('heartbeat');
      return;
    }
    this.timer = setTimeout(() => this.tick(), this.heartbeatMs - waited);
  }

  /** Resolves 'drained' on the call's 'drain', 'closed' when it ends, 'stop' on a stop. */
  drain(call: NodeJS.EventEmitter): Promise<Wake> {
    return new Promise<Wake>((resolve) => {
      const done = (w: Wake) => (): void => {
        call.off('drain', onDrain);
        call.off('cancelled', onClosed);
        call.off('close', onClosed);
        this.wake = undefined;
        resolve(w);
      };
      const onDrain = done('drained');
      const onClosed = done('closed');
      call.once('drain', onDrain);
      call.once('cancelled', onClosed);
      call.once('close', onClosed);
      this.wake = (w) => done(w)();
      if (this.stopped) done('stop')();
    });
  }
}

async function subscribe(ctx: ServiceContext, caller: Caller, req: SubscribeRequestMsg, call: grpc.ServerWritableStream<SubscribeRequestMsg | Malformed, SubscribeResponseMsg | Buffer>, revoked: AbortSignal): Promise<void> {
  const { store, settings } = ctx;
  const detach = new AbortController();
  const iterator = store.subscribe(caller.restrict(toQueryFilter(req.filter)), {
    ...(req.from_seq === undefined ? {} : { from_seq: req.from_seq }),
    queueLimit: settings.queueLimit,
    signal: detach.signal,
  });

  const waker = new Waker(settings.heartbeatMs);
  let shuttingDown = false;
  const untrack = ctx.calls.trackStream(() => {
    shuttingDown = true;
    waker.stop();
  });
  const onCancel = (): void => waker.stop();
  call.once('cancelled', onCancel);
  revoked.addEventListener('abort', onCancel, { once: true }); // a keys reload revoked the key: serverStream ends the call

  ctx.metrics.subscribers.inc();
  // Every matching event with seq ≤ `delivered` has been written: a safe resume point.
  let delivered = (req.from_seq ?? store.head().seq + 1) - 1;
  let live = false;
  let pending: Promise<IteratorResult<SubscriptionItem>> | undefined;
  /**
   * Writes; true once written, false when the stream must stop, or a promise of either when
   * grpc-js's buffer is full and 'drain' is awaited (the common case costs no promise).
   */
  const write = (message: SubscribeResponseMsg | Buffer): boolean | Promise<boolean> => {
    if (call.cancelled || waker.stopped) return false;
    if (call.write(message)) return true;
    return waker.drain(call).then((w) => w === 'drained' && !call.cancelled);
  };
  try {
    for (;;) {
      if (waker.stopped || call.cancelled) break;
      pending ??= iterator.next();
      const woke = await waker.next(pending);
      if (woke === 'stop' || waker.stopped || call.cancelled) break;
      if (woke === 'heartbeat') {
        // Idle and live: every event subscribers were handed has been through our filter
        // (not every acknowledged one: the index, which feeds them, may trail the head).
        const seq = live ? Math.max(delivered, store.fedSeq()) : delivered;
        const sent = write({ heartbeat: { seq } });
        if (sent === false || (sent !== true && !(await sent))) break;
        continue;
      }
      if (typeof woke === 'string') continue;
      pending = undefined;
      if (woke.done === true) {
        shuttingDown = true; // the store closed under us
        break;
      }
      const item = woke.value;
      let message: SubscribeResponseMsg | Buffer;
      if (item.type === 'event') {
        // Encoded once for every subscriber that gets this event (pre-encoded.ts).
        message = encodedSubscribeEvent(item.event);
        delivered = item.event.seq;
      } else if (item.type === 'caught_up') {
        message = { caught_up: { seq: item.seq } };
        delivered = Math.max(delivered, item.seq);
        live = true;
      } else {
        message = { fell_behind: { seq: item.seq } };
        live = false;
      }
      const sent = write(message);
      if (sent === false || (sent !== true && !(await sent))) break;
    }
  } finally {
    waker.close();
    untrack();
    call.off('cancelled', onCancel);
    revoked.removeEventListener('abort', onCancel);
    ctx.metrics.subscribers.dec();
    // Wake an iterator waiting for live events so that it detaches now, not at the next
    // matching event; its return() then completes.
    detach.abort();
    void iterator.return(undefined).catch(() => undefined);
  }
  if (shuttingDown && !call.cancelled) {
    throw new SpineError('STORE_CLOSED', `the server is shutting down; subscribe again from seq ${delivered + 1} once it is back`);
  }
}
