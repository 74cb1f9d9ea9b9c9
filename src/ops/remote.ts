/**
 * Following an operation in a live daemon over HTTP (the command line's `--http URL`):
 * start it with POST /api/operations, then read GET /api/operations/:id/events (SSE),
 * reconnecting with Last-Event-ID if the connection drops, until its terminal step.
 */
import { SpineError } from '../errors';
import type { JsonObject } from '../event';
import type { OperationView } from './types';

export interface RemoteStep {
  step: string;
  seq: number;
  data: JsonObject;
}

/** The base URL of a daemon's HTTP API: `http://host:port`, from `host:port` or a URL. */
export function httpBase(address: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SpineError('CONFIG_INVALID', `--http: ${JSON.stringify(address)} is not an address such as 127.0.0.1:8080 or http://host:8080`, { field: 'http' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SpineError('CONFIG_INVALID', `--http: ${url.protocol} is not http: or https:`, { field: 'http' });
  return url.origin;
}

async function errorOf(response: Response): Promise<SpineError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    const e = body.error;
    if (e?.code !== undefined && e.message !== undefined) return new SpineError(e.code as SpineError['code'], e.message);
  } catch {
    // not JSON
  }
  return new SpineError('INTERNAL', `HTTP ${response.status}: ${text.slice(0, 200)}`);
}

async function request(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new SpineError('IO_ERROR', `cannot reach the daemon at ${new URL(url).origin}: ${(err as Error).message}${(err as { cause?: Error }).cause === undefined ? '' : ` (${(err as { cause: Error }).cause.message})`}`, { cause: err });
  }
}

/** POST /api/operations: starts a daemon job; resolves with the operation as the daemon answered. */
export async function startRemoteJob(base: string, body: JsonObject): Promise<OperationView> {
  const r = await request(`${base}/api/operations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 202) throw await errorOf(r);
  return (await r.json()) as OperationView;
}

/** The SSE messages of a response body: {event, id, data}, comments and retry lines skipped. */
async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; id: string | undefined; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event: string | undefined;
  let id: string | undefined;
  let data: string[] = [];
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) yield { event: event ?? 'message', id, data: data.join('\n') };
        event = undefined;
        id = undefined;
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
    }
  }
}

/**
 * The operation's steps, from the first to the terminal one, over SSE; a dropped
 * connection is resumed with Last-Event-ID (up to `maxReconnects` times in a row).
 */
export async function* followRemote(base: string, id: string, options: { maxReconnects?: number; retryMs?: number } = {}): AsyncGenerator<RemoteStep> {
  const maxReconnects = options.maxReconnects ?? 20;
  let last = 0;
  let failures = 0;
  for (;;) {
    let r: Response | undefined;
    try {
      r = await request(`${base}/api/operations/${id}/events`, { headers: { accept: 'text/event-stream', ...(last > 0 ? { 'last-event-id': String(last) } : {}) } });
    } catch (err) {
      if (++failures > maxReconnects) throw err;
    }
    if (r !== undefined) {
      if (r.status === 204) return; // nothing after `last`: the terminal step was seen
      if (r.status !== 200 || r.body === null) throw await errorOf(r);
      try {
        for await (const m of sseMessages(r.body)) {
          failures = 0;
          const seq = Number(m.id);
          if (!Number.isSafeInteger(seq) || seq <= last) continue;
          last = seq;
          const { operation_id: _, ...data } = JSON.parse(m.data) as JsonObject;
          yield { step: m.event, seq, data };
          if (m.event === 'done' || m.event === 'error') return;
        }
      } catch (err) {
        if (++failures > maxReconnects) throw new SpineError('IO_ERROR', `lost the daemon at ${base}: ${(err as Error).message}`, { cause: err });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 500));
  }
}

/** GET /api/operations/:id/export, written through `write` chunk by chunk. */
export async function downloadExport(base: string, id: string, write: (chunk: Uint8Array) => Promise<boolean>): Promise<number> {
  const r = await request(`${base}/api/operations/${id}/export`);
  if (r.status !== 200 || r.body === null) throw await errorOf(r);
  let bytes = 0;
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    if (!(await write(chunk))) break;
  }
  return bytes;
}
