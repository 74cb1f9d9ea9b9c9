/**
 * Server streams that survive reconnects: `subscribe` and `read` remember the last seq they
 * delivered and, when the stream breaks (daemon killed or restarted, network, address
 * changed), open a new one from that seq + 1. Events at or below the last delivered seq are
 * dropped, so the caller sees every event exactly once, in seq order, with no gap.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { EventSpineError, fromGrpcError, isTransient } from './errors';
import { backoffMs, sleep, type RetryPolicy } from './retry';
import type { SpineEvent, SubscriptionMarker } from './types';
import { decodeEvent, type WireEvent } from './wire';

/** One item of a subscription with markers: an event or a position marker. */
export type SubscriptionItem = { type: 'event'; event: SpineEvent } | SubscriptionMarker;

/** A subscribe or read response as decoded (Read sends bare events). */
export interface WireStreamItem extends WireEvent {
  event?: WireEvent;
  caught_up?: { seq?: number };
  fell_behind?: { seq?: number };
  heartbeat?: { seq?: number };
}

/** A live server stream the client can cut (to move it to a new address). */
export interface StreamHandle {
  call: ClientReadableStream<WireStreamItem> | undefined;
  /** Set when the client cut the stream on purpose: reconnect at once, no backoff. */
  moved: boolean;
}

export interface ResumableStreamSpec {
  /** Opens the stream for events from `nextSeq` on. */
  open: (nextSeq: number | undefined) => ClientReadableStream<WireStreamItem>;
  /** Whether the items are SubscribeResponse (true) or bare Events (Read). */
  wrapped: boolean;
  /** The first seq to deliver (undefined: whatever the server starts with). */
  fromSeq: number | undefined;
  /** The iteration ends once this seq is passed, and a cleanly ended stream means done. */
  toSeq: number | undefined;
  /** For Read: a cleanly ended stream is the end. A subscription only ends at toSeq. */
  endsWhenStreamEnds: boolean;
  retry: RetryPolicy;
  /**
   * A stream that brings nothing (no event, no marker, no heartbeat) for this long while
   * the caller waits is taken for dead (a half-open connection) and reopened. 0: never.
   */
  idleTimeoutMs: number;
  /** Aborted when the caller stops or the client closes: the iteration returns. */
  signal: AbortSignal;
  track: (handle: StreamHandle) => () => void;
}

const noop = (): void => undefined;

export async function* resumableStream(spec: ResumableStreamSpec): AsyncGenerator<SubscriptionItem> {
  let next = spec.fromSeq;
  let failures = 0;
  while (!spec.signal.aborted) {
    const handle: StreamHandle = { call: undefined, moved: false };
    const untrack = spec.track(handle);
    const call = spec.open(next);
    handle.call = call;
    call.on('error', noop); // the iterator below reports errors; this keeps a late one from being unhandled
    const onAbort = (): void => call.cancel();
    spec.signal.addEventListener('abort', onAbort, { once: true });
    // The idle watchdog runs only while we wait for the server, never while the caller
    // holds an item (a slow consumer is not a dead connection).
    let idle: NodeJS.Timeout | undefined;
    let idledOut = false;
    const watch = (): void => {
      if (spec.idleTimeoutMs > 0) {
        idle = setTimeout(() => {
          idledOut = true;
          call.cancel();
        }, spec.idleTimeoutMs);
      }
    };
    watch();
    let failure: EventSpineError;
    try {
      for await (const raw of call as AsyncIterable<WireStreamItem>) {
        clearTimeout(idle);
        failures = 0;
        const item = spec.wrapped ? raw : { event: raw as WireEvent };
        if (item.event !== undefined) {
          const event = decodeEvent(item.event);
          if (next !== undefined && event.seq < next) continue; // already delivered before a reconnect
          next = event.seq + 1;
          yield { type: 'event', event };
        } else {
          const kind = item.caught_up !== undefined ? 'caught_up' : item.fell_behind !== undefined ? 'fell_behind' : item.heartbeat !== undefined ? 'heartbeat' : undefined;
          if (kind === undefined) continue;
          const seq = Number((item[kind] as { seq?: number }).seq ?? 0);
          // Every marker's seq is a safe resume point: every matching event up to it has
          // been delivered (README "gRPC API"), so a resume may start after it.
          if (next === undefined || seq + 1 > next) next = seq + 1;
          yield { type: kind, seq };
        }
        if (spec.toSeq !== undefined && next !== undefined && next > spec.toSeq) return;
        watch();
      }
      if (spec.endsWhenStreamEnds || spec.toSeq !== undefined || spec.signal.aborted) return;
      failure = new EventSpineError('UNAVAILABLE', 'the server ended the subscription', { grpcStatus: Status.UNAVAILABLE });
    } catch (err) {
      failure = fromGrpcError(err);
    } finally {
      clearTimeout(idle);
      spec.signal.removeEventListener('abort', onAbort);
      call.cancel();
      untrack();
    }
    if (spec.signal.aborted) return;
    if (handle.moved || idledOut) continue;
    if (!isTransient(failure)) throw failure;
    failures++;
    if (failures >= spec.retry.attempts) throw failure;
    await sleep(backoffMs(spec.retry, failures), spec.signal);
  }
}
