/**
 * The client's one error class. `code` is the server's stable machine code (the trailing
 * metadata `error-code`, DESIGN §4) when the server sent one; for failures that never
 * reached the store (connection lost, deadline, client closed) it is the name of the gRPC
 * status (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, `CANCELLED`) or `CLIENT_CLOSED`.
 */
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import type { ErrorCode } from '../errors';

export type ClientErrorCode = ErrorCode | 'UNAVAILABLE' | 'CANCELLED' | 'UNKNOWN' | 'CLIENT_CLOSED' | (string & {});

const STATUS_NAMES = new Map<number, string>(Object.entries(Status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

export function statusName(grpcStatus: number): string {
  return STATUS_NAMES.get(grpcStatus) ?? 'UNKNOWN';
}

export class EventSpineError extends Error {
  /** Stable machine code, e.g. `INVALID_EVENT_TYPE`, `ID_CONFLICT`, `UNAVAILABLE`. */
  readonly code: ClientErrorCode;
  /** The gRPC status the call failed with. */
  readonly grpcStatus: number;
  /** The offending field, where the server named one (e.g. `events[0].event_type`). */
  readonly field: string | undefined;
  /** For emit: the event's id. Retrying with this id never stores the event twice. */
  readonly eventId: string | undefined;

  constructor(code: ClientErrorCode, message: string, options: { grpcStatus: number; field?: string; eventId?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EventSpineError';
    this.code = code;
    this.grpcStatus = options.grpcStatus;
    this.field = options.field;
    this.eventId = options.eventId;
  }

  /** The same error about one event of an emit batch. */
  forEvent(eventId: string): EventSpineError {
    return new EventSpineError(this.code, this.message, { grpcStatus: this.grpcStatus, field: this.field, eventId, cause: this.cause });
  }
}

/** Errors whose code the server did not send: the failure happened in the transport. */
const transportErrors = new WeakSet<EventSpineError>();

function firstString(metadata: Metadata | undefined, key: string): string | undefined {
  const v = metadata?.get(key)[0];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

/** A failed call as an EventSpineError (anything else passes through as INTERNAL). */
export function fromGrpcError(err: unknown): EventSpineError {
  if (err instanceof EventSpineError) return err;
  if (!isServiceError(err)) {
    return new EventSpineError('INTERNAL', err instanceof Error ? err.message : String(err), { grpcStatus: Status.INTERNAL, cause: err });
  }
  const serverCode = firstString(err.metadata, 'error-code');
  const field = firstString(err.metadata, 'error-field');
  const out = new EventSpineError(serverCode ?? statusName(err.code), err.details || err.message, { grpcStatus: err.code, field, cause: err });
  if (serverCode === undefined) transportErrors.add(out);
  return out;
}

/** An in-band error of an AppendStream response. */
export function fromStreamError(e: { code?: string; message?: string; status?: number; field?: string }): EventSpineError {
  const grpcStatus = e.status ?? Status.UNKNOWN;
  return new EventSpineError(e.code || statusName(grpcStatus), e.message ?? 'append refused', { grpcStatus, field: e.field });
}

export function clientClosed(what: string): EventSpineError {
  return new EventSpineError('CLIENT_CLOSED', `${what}: the client is closed`, { grpcStatus: Status.CANCELLED });
}

/**
 * Whether a failure is about the connection or the server's momentary state rather than
 * the request, so that the same request (same ids) may be sent again.
 */
export function isTransient(err: EventSpineError): boolean {
  switch (err.grpcStatus) {
    case Status.UNAVAILABLE:
    case Status.ABORTED:
      return true;
    case Status.RESOURCE_EXHAUSTED:
      // A full disk or a rate limit passes; a message over the size limit does not.
      return err.code === 'DISK_FULL' || err.code === 'RATE_LIMITED';
    case Status.CANCELLED:
    case Status.INTERNAL:
    case Status.UNKNOWN:
      // A stream torn down by the transport (RST_STREAM, a server shutting down) surfaces
      // like this; a server-side failure carries an error-code and is not retried.
      return transportErrors.has(err);
    default:
      return false;
  }
}
