/**
 * Following an operation in a live daemon over HTTP (the command line's `--http URL`):
 * start it with POST /api/operations, then read GET /api/operations/:id/events (SSE),
 * reconnecting with Last-Event-ID if the connection drops, until its terminal step.
 *
 * A daemon with auth.mode "keys" gets the key of `--api-key-file FILE` (a file, so the
 * secret never shows in `ps`); an https:// daemon with a private CA gets `--ca-file FILE`,
 * and one asking for client certificates `--cert-file` and `--key-file`.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { SpineError } from '../errors';
import type { JsonObject } from '../event';
import type { OperationView } from './types';

/** A live daemon's HTTP API and how to reach it. */
export interface RemoteDaemon {
  /** `http://host:port` or `https://host:port`. */
  base: string;
  /** Sent as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** PEM: CA certificates of the daemon's certificate, and a client certificate and key (mutual TLS). */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The flags of a remote command that say how to reach the daemon (files, never secrets). */
export interface RemoteFlags {
  apiKeyFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

const REMOTE_FLAGS = { '--api-key-file': 'apiKeyFile', '--ca-file': 'caFile', '--cert-file': 'certFile', '--key-file': 'keyFile' } as const;

/** Takes --api-key-file, --ca-file, --cert-file and --key-file (FILE or =FILE) out of `argv`. */
export function takeRemoteFlags(argv: string[]): { flags: RemoteFlags; rest: string[] } {
  const flags: RemoteFlags = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (!(name in REMOTE_FLAGS)) {
      rest.push(a);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else {
      value = argv[i + 1];
      i += 1;
    }
    if (value === undefined || value === '' || value.startsWith('--')) throw new SpineError('CONFIG_INVALID', `${name} needs a file name`, { field: name.slice(2) });
    flags[REMOTE_FLAGS[name as keyof typeof REMOTE_FLAGS]] = value;
  }
  if (rest.some((a) => a === '--api-key' || a.startsWith('--api-key='))) {
    throw new SpineError('CONFIG_INVALID', '--api-key is not a flag: a key on the command line shows in `ps` and in shell history; put it in a file readable only by you and pass --api-key-file FILE', { field: 'api-key' });
  }
  return { flags, rest };
}

function readFlagFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new SpineError('CONFIG_INVALID', `${flag}: ${file} cannot be read: ${(err as Error).message}`, { field: flag.slice(2), cause: err });
  }
}

/** The daemon at `address` (host:port or a URL), with the key and certificates the flags name. */
export function remoteDaemon(address: string, flags: RemoteFlags = {}): RemoteDaemon {
  const daemon: RemoteDaemon = { base: httpBase(address) };
  if (flags.apiKeyFile !== undefined) {
    // The file holds the secret alone; a trailing newline (echo, an editor) is not part of it.
    const secret = readFlagFile('--api-key-file', flags.apiKeyFile).toString('utf8').trim();
    if (!/^[\x21-\x7e]+$/.test(secret)) throw new SpineError('CONFIG_INVALID', `--api-key-file: ${flags.apiKeyFile} must hold one API key (printable characters, no spaces) and nothing else`, { field: 'api-key-file' });
    daemon.apiKey = secret;
  }
  if ((flags.certFile === undefined) !== (flags.keyFile === undefined)) {
    throw new SpineError('CONFIG_INVALID', '--cert-file and --key-file go together (a client certificate and its key, for mutual TLS)', { field: flags.certFile === undefined ? 'cert-file' : 'key-file' });
  }
  const tls = flags.caFile !== undefined || flags.certFile !== undefined;
  if (tls && !daemon.base.startsWith('https:')) {
    throw new SpineError('CONFIG_INVALID', `--ca-file, --cert-file and --key-file are for a TLS daemon: give --http as https://host:port (not ${daemon.base})`, { field: 'http' });
  }
  if (flags.caFile !== undefined) daemon.ca = readFlagFile('--ca-file', flags.caFile);
  if (flags.certFile !== undefined) daemon.cert = readFlagFile('--cert-file', flags.certFile);
  if (flags.keyFile !== undefined) daemon.key = readFlagFile('--key-file', flags.keyFile);
  return daemon;
}

function asDaemon(daemon: RemoteDaemon | string): RemoteDaemon {
  return typeof daemon === 'string' ? { base: daemon } : daemon;
}

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

/** The Response of an answer from node:http(s); no body for statuses that have none. */
function toResponse(res: IncomingMessage): Response {
  const status = res.statusCode ?? 500;
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
  if (status === 204 || status === 205 || status === 304) {
    res.resume();
    return new Response(null, { status, headers });
  }
  return new Response(Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>, { status, headers });
}

/**
 * One request to the daemon, answered as a fetch Response. node:http(s) rather than fetch,
 * whose TLS cannot be given a private CA or a client certificate without another dependency.
 */
function request(daemon: RemoteDaemon, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
  const url = new URL(path, daemon.base);
  const headers: Record<string, string> = { ...init.headers };
  if (daemon.apiKey !== undefined) headers.authorization = `Bearer ${daemon.apiKey}`;
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  const options = { method: init.method ?? 'GET', headers };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => resolve(toResponse(res));
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...options, ...(daemon.ca === undefined ? {} : { ca: daemon.ca }), ...(daemon.cert === undefined ? {} : { cert: daemon.cert, key: daemon.key }) }, onResponse)
        : httpRequest(url, options, onResponse);
    req.once('error', (err) => reject(new SpineError('IO_ERROR', `cannot reach the daemon at ${url.origin}: ${err.message}`, { cause: err })));
    req.end(init.body);
  });
}

/** POST /api/operations: starts a daemon job; resolves with the operation as the daemon answered. */
export async function startRemoteJob(daemon: RemoteDaemon | string, body: JsonObject): Promise<OperationView> {
  const r = await request(asDaemon(daemon), '/api/operations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
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
export async function* followRemote(daemon: RemoteDaemon | string, id: string, options: { maxReconnects?: number; retryMs?: number } = {}): AsyncGenerator<RemoteStep> {
  const remote = asDaemon(daemon);
  const maxReconnects = options.maxReconnects ?? 20;
  let last = 0;
  let failures = 0;
  for (;;) {
    let r: Response | undefined;
    try {
      r = await request(remote, `/api/operations/${id}/events`, { headers: { accept: 'text/event-stream', ...(last > 0 ? { 'last-event-id': String(last) } : {}) } });
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
        if (++failures > maxReconnects) throw new SpineError('IO_ERROR', `lost the daemon at ${remote.base}: ${(err as Error).message}`, { cause: err });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 500));
  }
}

/** GET /api/operations/:id/export, written through `write` chunk by chunk. */
export async function downloadExport(daemon: RemoteDaemon | string, id: string, write: (chunk: Uint8Array) => Promise<boolean>): Promise<number> {
  const r = await request(asDaemon(daemon), `/api/operations/${id}/export`);
  if (r.status !== 200 || r.body === null) throw await errorOf(r);
  let bytes = 0;
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    if (!(await write(chunk))) break;
  }
  return bytes;
}
