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
import { encodeSubscribeEvent, encodedSubscribeEvent } from './pre-encoded';

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
 * shutdown), the heartbeat timer, 'drain'. Each wait is a fresh promise, so that nothing
 * accumulates on a long-lived one over millions of events.
 */
class Waker {
  stopped = false;
  private wake: ((w: Wake) => void) | undefined;

  stop(): void {
    this.stopped = true;
    this.wake?.('stop');
  }

  /** Resolves 'stop', or 'heartbeat' after `ms`. */
  sleep(ms: number): { promise: Promise<Wake>; cancel: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<Wake>((resolve) => {
      this.wake = resolve;
      if (this.stopped) resolve('stop');
      else timer = setTimeout(() => resolve('heartbeat'), ms);
    });
    return {
      promise,
      cancel: () => {
        clearTimeout(timer);
        this.wake = undefined;
      },
    };
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

  const waker = new Waker();
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
  /** Writes, waiting for 'drain' when grpc-js's buffer is full; false when the stream must stop. */
  const write = async (message: SubscribeResponseMsg | Buffer): Promise<boolean> => {
    if (call.cancelled || waker.stopped) return false;
    if (call.write(message)) return true;
    return (await waker.drain(call)) === 'drained' && !call.cancelled;
  };
  try {
    for (;;) {
      if (waker.stopped || call.cancelled) break;
      pending ??= iterator.next();
      const sleep = waker.sleep(settings.heartbeatMs);
      const woke = await Promise.race([pending, sleep.promise]);
      sleep.cancel();
      if (woke === 'stop' || waker.stopped || call.cancelled) break;
      if (woke === 'heartbeat') {
        // Idle and live: every acknowledged event has been through our filter.
        const seq = live ? Math.max(delivered, store.head().seq) : delivered;
        if (!(await write({ heartbeat: { seq } }))) break;
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
        // Live events are the store's shared objects: their bytes are encoded once for all.
        message = live ? encodedSubscribeEvent(item.event) : encodeSubscribeEvent(item.event);
        delivered = item.event.seq;
      } else if (item.type === 'caught_up') {
        message = { caught_up: { seq: item.seq } };
        delivered = Math.max(delivered, item.seq);
        live = true;
      } else {
        message = { fell_behind: { seq: item.seq } };
        live = false;
      }
      if (!(await write(message))) break;
    }
  } finally {
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
