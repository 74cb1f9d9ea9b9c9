/**
 * Errors on the wire: every SpineError leaves with the gRPC status of ERROR_TABLE (never
 * UNKNOWN: grpc-js turns any non-numeric code into UNKNOWN), its message as the status
 * details, and trailing metadata `error-code` (the stable code) and `error-field` (the
 * offending field, where there is one). Anything else is INTERNAL, and its stack is logged.
 */
import * as grpc from '@grpc/grpc-js';
import { ERROR_TABLE, GrpcStatus, SpineError, isSpineError } from '../../errors';
import type { Logger } from '../../observability';
import type { ErrorMsg } from './messages';

export const ERROR_CODE_KEY = 'error-code';
export const ERROR_FIELD_KEY = 'error-field';
export const RETRY_AFTER_KEY = 'retry-after';

/** The SpineError an API call fails with; unexpected errors become INTERNAL (and are logged). */
export function asSpineError(err: unknown, logger: Logger, method: string): SpineError {
  if (isSpineError(err)) return err;
  logger.error('unexpected error', { method, err });
  return new SpineError('INTERNAL', 'an unexpected failure inside the server (logged with its stack)', { cause: err });
}

export function errorMetadata(err: SpineError): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(ERROR_CODE_KEY, err.code);
  if (err.field !== undefined) md.set(ERROR_FIELD_KEY, err.field);
  if (err.retryAfterMs !== undefined) {
    // Seconds, as HTTP's Retry-After; and gRPC's own retry pushback (gRFC A6), in ms.
    md.set(RETRY_AFTER_KEY, String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
    md.set('grpc-retry-pushback-ms', String(Math.ceil(err.retryAfterMs)));
  }
  return md;
}

/** What grpc-js needs to end a call with this error. */
export function serviceError(err: SpineError): Partial<grpc.StatusObject> & { message: string; code: grpc.status } {
  return { code: ERROR_TABLE[err.code].grpc as grpc.status, details: err.message, message: err.message, metadata: errorMetadata(err) };
}

/** The Error message of an AppendStream response. */
export function errorMsg(err: SpineError): ErrorMsg {
  const msg: ErrorMsg = { code: err.code, message: err.message, status: ERROR_TABLE[err.code].grpc };
  if (err.field !== undefined) msg.field = err.field;
  return msg;
}

const STATUS_NAMES = new Map<number, string>(Object.entries(GrpcStatus).map(([name, code]) => [code, name]));

/** `INVALID_ARGUMENT` for 3, for metrics labels. */
export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? String(code);
}
