/**
 * The one error vocabulary of event-spine (DESIGN §4): every stable machine code with its
 * gRPC status and HTTP status. Both API surfaces and the store speak only these codes.
 * Codes are stable; messages may improve.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

interface ErrorSpec {
  readonly grpc: number;
  readonly http: number;
  /** What the code means, for the README and the OpenAPI document. */
  readonly doc: string;
}

const g = GrpcStatus;

export const ERROR_TABLE = {
  // Validation of one event (the whole request is refused, nothing stored).
  INVALID_REQUEST: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'The request is malformed (not an object, not JSON, wrong shape).' },
  UNSUPPORTED_MEDIA_TYPE: { grpc: g.INVALID_ARGUMENT, http: 415, doc: 'The HTTP request body is not sent as Content-Type: application/json.' },
  MISSING_FIELD: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'A required field is absent or empty.' },
  UNKNOWN_FIELD: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'A field that the event envelope does not have.' },
  INVALID_FIELD_TYPE: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'A field has the wrong JSON type.' },
  INVALID_EVENT_TYPE: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'event_type is not <domain>.<entity>.<action> with each part ^[a-z][a-z0-9_]{0,62}$.' },
  EVENT_TYPE_MISMATCH: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'domain, entity_type or action was sent and differs from the part of event_type.' },
  INVALID_ID: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'id is not a UUID (8-4-4-4-12 hexadecimal digits).' },
  INVALID_TEXT: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'A text field is too long, or holds control characters or unpaired surrogates.' },
  INVALID_ENUM: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'actor_type, environment or severity is not one of its allowed values.' },
  INVALID_PAYLOAD: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'payload is not a JSON object, or holds a value JSON cannot carry.' },
  UNSAFE_NUMBER: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'payload holds a non-finite number or an integer beyond ±(2^53−1), which JSON cannot carry exactly.' },
  PAYLOAD_TOO_LARGE: { grpc: g.INVALID_ARGUMENT, http: 413, doc: 'The canonical payload exceeds the configured limit.' },
  BATCH_TOO_LARGE: { grpc: g.INVALID_ARGUMENT, http: 413, doc: 'The batch has more events than the configured limit.' },
  REQUEST_TOO_LARGE: { grpc: g.RESOURCE_EXHAUSTED, http: 413, doc: 'The request message or body exceeds the configured size limit (limits.maxMessageBytes, limits.maxHttpBodyBytes).' },
  EMPTY_BATCH: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'The batch holds no event.' },
  ID_CONFLICT: { grpc: g.ALREADY_EXISTS, http: 409, doc: 'An event with this id exists with different content.' },
  // Reads.
  INVALID_QUERY: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'A query filter, limit or range is invalid.' },
  INVALID_CURSOR: { grpc: g.INVALID_ARGUMENT, http: 400, doc: 'The cursor is not one this server issued for this query.' },
  NOT_FOUND: { grpc: g.NOT_FOUND, http: 404, doc: 'No event (or resource) with that id or seq.' },
  METHOD_NOT_ALLOWED: { grpc: g.UNIMPLEMENTED, http: 405, doc: 'The HTTP method is not allowed on this path (the Allow header lists those that are).' },
  IMMUTABLE: { grpc: g.UNIMPLEMENTED, http: 405, doc: 'Events are immutable: there is no update or delete.' },
  // The store itself.
  STORE_CLOSED: { grpc: g.UNAVAILABLE, http: 503, doc: 'The store is closed or shutting down.' },
  NOT_READY: { grpc: g.UNAVAILABLE, http: 503, doc: 'The daemon is starting or recovering.' },
  INDEX_BEHIND: { grpc: g.UNAVAILABLE, http: 503, doc: 'The index has fallen too far behind the log; appends pause until it catches up.' },
  DISK_FULL: { grpc: g.RESOURCE_EXHAUSTED, http: 507, doc: 'The disk is full: appends are refused until space is freed; reads keep working.' },
  IO_ERROR: { grpc: g.UNAVAILABLE, http: 503, doc: 'A write or fsync failed; nothing of the request was acknowledged.' },
  LOG_CORRUPT: { grpc: g.DATA_LOSS, http: 500, doc: 'A stored frame or the hash chain does not verify (segment, offset and seq are named).' },
  INTERNAL: { grpc: g.INTERNAL, http: 500, doc: 'An unexpected failure inside the server.' },
  // Callers and limits.
  UNAUTHENTICATED: { grpc: g.UNAUTHENTICATED, http: 401, doc: 'No valid API key was presented.' },
  PERMISSION_DENIED: { grpc: g.PERMISSION_DENIED, http: 403, doc: 'The key lacks the scope, organization or actor for this call.' },
  RATE_LIMITED: { grpc: g.RESOURCE_EXHAUSTED, http: 429, doc: 'Too many requests or streams for this caller.' },
  DEADLINE_EXCEEDED: { grpc: g.DEADLINE_EXCEEDED, http: 504, doc: "The caller's deadline passed before the call finished." },
  CONFIG_INVALID: { grpc: g.FAILED_PRECONDITION, http: 500, doc: 'A configuration value is unknown or invalid.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** The one error class: a stable code, a message naming the field or limit, an optional cause. */
export class SpineError extends Error {
  readonly code: ErrorCode;
  /** The field the error is about, where there is one (e.g. `events[3].payload.amount`). */
  readonly field: string | undefined;
  /** When a retry may succeed (RATE_LIMITED): HTTP Retry-After, gRPC `retry-after` metadata. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; field?: string; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SpineError';
    this.code = code;
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
  }

  get grpcStatus(): number {
    return ERROR_TABLE[this.code].grpc;
  }

  get httpStatus(): number {
    return ERROR_TABLE[this.code].http;
  }
}

export function isSpineError(err: unknown): err is SpineError {
  return err instanceof SpineError;
}

/** Wrap a lower-level failure (fs, LevelDB) so it never passes through raw. */
export function wrapIoError(err: unknown, what: string): SpineError {
  if (err instanceof SpineError) return err;
  const sysCode = (err as NodeJS.ErrnoException | undefined)?.code;
  if (sysCode === 'ENOSPC' || sysCode === 'EDQUOT') {
    return new SpineError('DISK_FULL', `disk full while ${what}: appends are refused until space is freed`, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new SpineError('IO_ERROR', `${what} failed: ${detail}`, { cause: err });
}
