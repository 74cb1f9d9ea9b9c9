/**
 * What every call goes through: the gate (API key, rate, scope, stream slots), requests
 * that failed to decode, deadlines, the mapping of errors to statuses, metrics by method
 * and status, and the registry of long-lived streams that a shutdown ends.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Caller, Guard, Scope } from '../../auth';
import { GrpcStatus, SpineError } from '../../errors';
import type { EnvelopeOptions } from '../../event';
import type { Logger, SpineMetrics } from '../../observability';
import type { Store } from '../../store';
import { enterCall, holdStream, noteRefusal } from './gate';
import { asSpineError, serviceError, statusName } from './status';

/** The settings the service reads (a slice of the daemon's Config). */
export interface ServiceSettings {
  envelope: EnvelopeOptions;
  maxMessageBytes: number;
  maxInFlightPerStream: number;
  queueLimit: number;
  heartbeatMs: number;
}

export interface ServiceContext {
  store: Store;
  settings: ServiceSettings;
  logger: Logger;
  metrics: SpineMetrics;
  calls: OpenCalls;
  /** Who may call what (DESIGN §7); in auth.mode "none" every call is the anonymous caller. */
  guard: Guard;
}

// ---- requests that did not decode --------------------------------------------------------

const MALFORMED = Symbol('malformed request');

/** What a request deserializer returns instead of throwing (grpc-js would answer INTERNAL). */
export interface Malformed {
  readonly [MALFORMED]: SpineError;
}

export function malformed(err: SpineError): Malformed {
  return { [MALFORMED]: err };
}

/** Throws the SpineError of a request that did not decode or was too large. */
export function checkDecoded<T>(request: T | Malformed): T {
  if (typeof request === 'object' && request !== null && MALFORMED in request) throw (request as Malformed)[MALFORMED];
  return request as T;
}

/** What every kind of server call has (grpc-js does not export its ServerSurfaceCall). */
export type SurfaceCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getDeadline' | 'cancelled' | 'metadata'> & NodeJS.EventEmitter;

// ---- deadlines ---------------------------------------------------------------------------

export function deadlineMs(call: SurfaceCall): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

export function deadlinePassed(call: SurfaceCall): boolean {
  return deadlineMs(call) <= Date.now();
}

export function deadlineError(): SpineError {
  return new SpineError('DEADLINE_EXCEEDED', "the caller's deadline passed before the call started");
}

// ---- open calls, for a graceful shutdown -------------------------------------------------

/**
 * Long-lived streams register a `stop` that ends them on shutdown; appends in flight are
 * counted so that a shutdown can wait for every one of them.
 */
export class OpenCalls {
  closing = false;
  private readonly stops = new Set<() => void>();
  private appends = 0;
  private appendsDone: (() => void)[] = [];

  /** Registers a stream's stop; returns the unregister function (call it when the stream ends). */
  trackStream(stop: () => void): () => void {
    if (this.closing) {
      queueMicrotask(stop);
      return () => undefined;
    }
    this.stops.add(stop);
    return () => this.stops.delete(stop);
  }

  /** Counts an append in flight; call the returned function once it is answered. */
  beginAppend(): () => void {
    this.appends += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.appends -= 1;
      if (this.appends === 0) for (const resolve of this.appendsDone.splice(0)) resolve();
    };
  }

  get appendsInFlight(): number {
    return this.appends;
  }

  /** Ends every registered stream (each finishes its in-flight work first). */
  stopStreams(): void {
    this.closing = true;
    for (const stop of [...this.stops]) stop();
    this.stops.clear();
  }

  /** Resolves once no append is in flight. */
  appendsSettled(): Promise<void> {
    if (this.appends === 0) return Promise.resolve();
    return new Promise((resolve) => this.appendsDone.push(resolve));
  }
}

// ---- wrappers ----------------------------------------------------------------------------

/** Records a finished call in the metrics (and its error code, if any). */
export function recordCall(ctx: ServiceContext, method: string, code: number, err?: SpineError, startedMs?: number): void {
  ctx.metrics.grpcCalls.inc({ method, status: statusName(code) });
  if (startedMs !== undefined) ctx.metrics.grpcSeconds.observe((performance.now() - startedMs) / 1000, { method });
  if (err !== undefined) ctx.metrics.failed(err.code);
}

/** The status a call the client or grpc-js ended (cancel, deadline) is counted under. */
export function abandonedStatus(call: SurfaceCall): number {
  return deadlinePassed(call) ? GrpcStatus.DEADLINE_EXCEEDED : GrpcStatus.CANCELLED;
}

/**
 * A unary handler of eventspine.v1.EventSpine from an async function: deadline checked
 * first, then the gate (a key with `scope`, within its rate), then the request; the
 * handler gets the Caller. Errors mapped; refusals logged and counted.
 */
export function unary<Req, Res>(
  ctx: ServiceContext,
  method: string,
  scope: Scope,
  fn: (request: Req, caller: Caller, call: grpc.ServerUnaryCall<Req | Malformed, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req | Malformed, Res> {
  return unaryCall(ctx, method, (call) => enterCall(ctx.guard, call.metadata, scope, method), fn);
}

/** A unary handler open to every caller, without a key: grpc.health.v1 only (probes carry none). */
export function openUnary<Req, Res>(
  ctx: ServiceContext,
  method: string,
  fn: (request: Req, call: grpc.ServerUnaryCall<Req | Malformed, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req | Malformed, Res> {
  return unaryCall(ctx, method, () => undefined, (request: Req, _caller, call) => fn(request, call));
}

function unaryCall<Req, Res, C extends Caller | undefined>(
  ctx: ServiceContext,
  method: string,
  enter: (call: SurfaceCall) => C,
  fn: (request: Req, caller: C, call: grpc.ServerUnaryCall<Req | Malformed, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req | Malformed, Res> {
  return (call, callback) => {
    const started = performance.now();
    const fail = (err: SpineError): void => {
      recordCall(ctx, method, serviceError(err).code, err, started);
      callback(serviceError(err));
    };
    if (deadlinePassed(call)) return fail(deadlineError());
    let caller: C;
    let request: Req;
    try {
      caller = enter(call);
      request = checkDecoded(call.request);
    } catch (err) {
      return fail(asSpineError(err, ctx.logger, method));
    }
    fn(request, caller, call).then(
      (response) => {
        if (call.cancelled) return recordCall(ctx, method, abandonedStatus(call), undefined, started);
        recordCall(ctx, method, GrpcStatus.OK, undefined, started);
        callback(null, response);
      },
      (err: unknown) => {
        noteRefusal(ctx.guard, err, caller, method);
        fail(asSpineError(err, ctx.logger, method));
      },
    );
  };
}

/**
 * A long-lived server-streaming handler from an async function that writes messages and
 * resolves when done: the call then ends with OK, or with the status of the error it
 * threw. It passes the gate as unary() does and holds one of the key's stream slots until
 * the function settles, however the stream ends (end, error, cancel, shutdown).
 *
 * `revoked` aborts when a keys reload removes or changes the caller's key: the function
 * stops writing and settles, and the call ends UNAUTHENTICATED, whatever it resolved or
 * threw (its key gives it no right to an answer any more).
 */
export function serverStream<Req, Res>(
  ctx: ServiceContext,
  method: string,
  scope: Scope,
  fn: (request: Req, caller: Caller, call: grpc.ServerWritableStream<Req | Malformed, Res>, revoked: AbortSignal) => Promise<void>,
): grpc.handleServerStreamingCall<Req | Malformed, Res> {
  return (call) => {
    const fail = (err: SpineError): void => {
      recordCall(ctx, method, serviceError(err).code, err);
      call.emit('error', serviceError(err));
    };
    if (deadlinePassed(call)) return fail(deadlineError());
    let caller: Caller;
    let request: Req;
    let release: () => void;
    const revocation = new AbortController();
    let revokedBy: SpineError | undefined;
    try {
      caller = enterCall(ctx.guard, call.metadata, scope, method);
      request = checkDecoded(call.request);
      release = holdStream(ctx.guard, caller, method, (why) => {
        revokedBy = why;
        revocation.abort(why);
      });
    } catch (err) {
      return fail(asSpineError(err, ctx.logger, method));
    }
    // An async wrapper: a handler that throws at once still releases its slot.
    (async () => fn(request, caller, call, revocation.signal))().then(
      () => {
        release();
        if (call.cancelled) return recordCall(ctx, method, abandonedStatus(call));
        if (revokedBy !== undefined) return fail(revokedBy);
        recordCall(ctx, method, GrpcStatus.OK);
        call.end();
      },
      (err: unknown) => {
        release();
        if (call.cancelled) return recordCall(ctx, method, abandonedStatus(call));
        if (revokedBy !== undefined) return fail(revokedBy);
        noteRefusal(ctx.guard, err, caller, method);
        fail(asSpineError(err, ctx.logger, method));
      },
    );
  };
}

/**
 * Resolves true on 'drain', false when the call ends first (a write-buffer-full wait) or
 * `signal` aborts (the stream is to stop).
 */
export function waitForDrain(call: SurfaceCall, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      call.off('drain', onDrain);
      call.off('cancelled', onEnd);
      call.off('close', onEnd);
      signal?.removeEventListener('abort', onEnd);
      resolve(ok);
    };
    const onDrain = done(true);
    const onEnd = done(false);
    call.once('drain', onDrain);
    call.once('cancelled', onEnd);
    call.once('close', onEnd);
    signal?.addEventListener('abort', onEnd, { once: true });
  });
}
