/** Writing HTTP responses: JSON bodies, and errors as {"error":{"code","message"}} (DESIGN §4). */
import type { ServerResponse } from 'node:http';
import { SpineError } from '../../errors';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** The error body of a SpineError (`field` too, where there is one). */
export function errorBody(err: SpineError): { error: { code: string; message: string; field?: string } } {
  return { error: { code: err.code, message: err.message, ...(err.field === undefined ? {} : { field: err.field }) } };
}

export function sendError(res: ServerResponse, err: SpineError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const retry: Record<string, string> = err.retryAfterMs === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) };
  sendJson(res, err.httpStatus, errorBody(err), { ...retry, ...headers });
}
