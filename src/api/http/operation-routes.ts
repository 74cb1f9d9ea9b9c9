/**
 * Operations over HTTP (DESIGN §6):
 *
 *   POST /api/quality-intelligence/batch-auto-setup   the request checked first (400 naming the
 *                                                     field), then 200 text/event-stream of its steps
 *   POST /api/operations {"kind":"verify"|"export"}   202 with the operation (Location: its URL)
 *   GET  /api/operations/:id                          status and summary, derived from its steps
 *   GET  /api/operations/:id/events                   SSE: its steps, resumable with Last-Event-ID
 *   GET  /api/operations/:id/export                   the JSON Lines file of a finished export
 *
 * Every SSE message is one step: `id:` its seq, `event:` the step name (exactly the Maysano
 * seed's for the batch auto-setup), `data:` the step's data with `operation_id`. A stream
 * ends after the terminal step (`done` or `error`). A client that goes away cancels nothing:
 * the operation runs to its end in the daemon, and GET …/events with `Last-Event-ID` (or
 * `?lastEventId=`) picks it up after the last step it saw. Once everything has been sent,
 * …/events answers 204, which tells an EventSource to stop reconnecting.
 *
 * Keys (DESIGN §7, gate.ts): the auto-setup needs append, status and steps read, starting
 * a job and an export file admin; an operation of an organization the caller does not see
 * is 404, as a missing one. Each SSE response holds one of the key's stream slots until it
 * ends; GET …/events also takes the key as `?access_token=`, for EventSource. A keys reload
 * that removes or changes the key ends its streams (a comment line names UNAUTHENTICATED).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Guard } from '../../auth';
import type { Config } from '../../config';
import { SpineError } from '../../errors';
import type { Logger } from '../../observability';
import { operationEventData, type OperationEvent, type OperationService, type WatchOptions } from '../../ops';
import { readJson } from './body';
import { apiSettings } from './context';
import { CorsPolicy } from './cors';
import { requireJsonBody } from './events-routes';
import { HttpGate, type CallContext } from './gate';
import { sendJson } from './respond';
import type { GatedRoute, Router } from './router';

export interface OperationRoutesDeps {
  /** The operations once the daemon is ready; undefined while the store opens. */
  service(): OperationService | undefined;
  config: Config;
  logger: Logger;
  /** Authentication and rights of every call (DESIGN §7); auth.mode "none" without it. */
  guard?: Guard;
}

export interface OperationRoutes {
  /** Shutdown hook: new requests answer 503; open streams end (clients resume with Last-Event-ID). */
  close(): void;
  openStreams(): number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
};

export const BATCH_AUTO_SETUP_PATH = '/api/quality-intelligence/batch-auto-setup';

/** One SSE message of a step. */
export function stepFrame(ev: OperationEvent): string {
  return `id: ${ev.seq}\nevent: ${ev.step}\ndata: ${operationEventData(ev)}\n\n`;
}

/** The seq to resume after: Last-Event-ID (header first), then ?lastEventId=, else 0. */
function resumeAfter(req: IncomingMessage, url: URL): number {
  for (const key of url.searchParams.keys()) {
    if (key !== 'lastEventId') throw new SpineError('INVALID_QUERY', `${key}: unknown query parameter; ${url.pathname} takes lastEventId`, { field: key });
  }
  const header = req.headers['last-event-id'];
  const text = ((Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('lastEventId') ?? '').trim();
  if (text === '') return 0;
  if (!/^\d{1,15}$/.test(text)) throw new SpineError('INVALID_QUERY', `Last-Event-ID: must be a seq (a decimal integer), not ${JSON.stringify(text)}`, { field: 'Last-Event-ID' });
  return Number(text);
}

export function registerOperationRoutes(router: Router, deps: OperationRoutesDeps): OperationRoutes {
  const { heartbeatMs, sseRetryMs, maxBodyBytes, queueLimit, corsOrigins } = apiSettings(deps.config);
  const open = new Set<{ res: ServerResponse; abort: AbortController }>();
  let closed = false;

  const service = (): OperationService => {
    if (closed) throw new SpineError('STORE_CLOSED', 'the daemon is shutting down');
    const s = deps.service();
    if (s === undefined) throw new SpineError('NOT_READY', 'the daemon is starting: the store is opening (recovery or index catch-up)');
    return s;
  };

  /**
   * Streams the steps after `after` as SSE until the terminal step, the client leaving,
   * shutdown, or a keys reload that revokes the caller's key (a comment line says so); then
   * releases the caller's stream slot.
   */
  const stream = async (res: ServerResponse, id: string, watch: (options: WatchOptions) => AsyncIterable<OperationEvent>, after: number, slot: StreamSlot, headers: Record<string, string> = {}): Promise<void> => {
    const { abort, release } = slot;
    const entry = { res, abort };
    open.add(entry);
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    res.on('error', () => undefined); // a client gone mid-write: 'close' stops the watch
    res.writeHead(200, { ...SSE_HEADERS, ...headers });
    res.write(`retry: ${sseRetryMs}\n\n`);
    let wrote = true;
    const heartbeat = setInterval(() => {
      if (!wrote && !res.writableNeedDrain) res.write(': heartbeat\n\n');
      wrote = false;
    }, heartbeatMs);
    let last = after;
    try {
      for await (const ev of watch({ after_seq: after, signal: abort.signal, queueLimit })) {
        if (abort.signal.aborted) break; // not one more step to a revoked key
        wrote = true;
        last = ev.seq;
        if (!res.write(stepFrame(ev))) await drained(res, abort.signal);
        if (abort.signal.aborted) break;
      }
      if (slot.revokedBy !== undefined) throw slot.revokedBy;
      if (!res.writableEnded && !res.destroyed) res.end();
    } catch (err) {
      // Headers are sent: say why on a comment line and end; the client resumes after `last`.
      if (!(err instanceof SpineError)) deps.logger.error('operation stream failed', { operation_id: id, err });
      const why = err instanceof SpineError ? `${err.code}: ${err.message}` : 'the stream failed inside the server';
      if (!res.writableEnded && !res.destroyed) res.end(`: ${why.replace(/\n/g, ' ')}; resume with Last-Event-ID: ${last}\n\n`);
    } finally {
      clearInterval(heartbeat);
      res.off('close', onClose);
      open.delete(entry);
      release();
    }
  };

  // Each route with the scope it needs (DESIGN §7); the service checks the rest (the
  // caller's organizations and actor, admin for daemon jobs, every organization for exports).
  const gate = HttpGate.of(deps.guard, undefined, deps.logger);
  const routes: [method: 'GET' | 'POST', pattern: string, route: GatedRoute][] = [
    [
      'POST',
      BATCH_AUTO_SETUP_PATH,
      gate.requires('append', async ({ req, res, caller, openStream }: CallContext) => {
        requireJsonBody(req);
        const svc = service();
        const body = await readJson(req, maxBodyBytes);
        const slot = takeSlot(openStream); // taken before the operation starts: a 429 starts nothing
        let started: Awaited<ReturnType<OperationService['startAutoSetup']>>;
        try {
          started = await svc.startAutoSetup(body, caller); // a bad request fails here: a plain 400
        } catch (err) {
          slot.release();
          throw err;
        }
        // The caller's own operation: its steps are the answer to this request, also for a
        // key with the append scope alone (a later GET …/events needs read).
        await stream(res, started.id, (options) => svc.operations.watch(started.id, options), 0, slot, { location: `/api/operations/${started.id}`, 'operation-id': started.id });
      }),
    ],
    [
      'POST',
      '/api/operations',
      gate.requires('admin', async ({ req, res, caller }: CallContext) => {
        requireJsonBody(req);
        const svc = service();
        const started = await svc.startJob(await readJson(req, maxBodyBytes), caller);
        sendJson(res, 202, await svc.get(started.id, caller), { location: `/api/operations/${started.id}` });
      }),
    ],
    [
      'GET',
      '/api/operations/:id',
      gate.requires('read', async ({ res, url, params, caller }: CallContext) => {
        noQuery(url);
        sendJson(res, 200, await service().get(params.id ?? '', caller));
      }),
    ],
    [
      'GET',
      '/api/operations/:id/events',
      gate.requires(
        'read',
        async ({ req, res, url, params, caller, openStream }: CallContext) => {
          const after = resumeAfter(req, url);
          const svc = service();
          const view = await svc.get(params.id ?? '', caller); // NOT_FOUND before any stream starts
          if (view.status !== 'running' && view.last_seq <= after) {
            res.writeHead(204, { 'cache-control': 'no-store' }); // complete: EventSource stops reconnecting
            res.end();
            return;
          }
          await stream(res, view.id, (options) => svc.watch(view.id, caller, options), after, takeSlot(openStream));
        },
        { tokenInQuery: true },
      ),
    ],
    [
      'GET',
      '/api/operations/:id/export',
      gate.requires('admin', async ({ req, res, url, params, caller }: CallContext) => {
        noQuery(url);
        const file = await service().exportFile(params.id ?? '', caller);
        const size = (await stat(file).catch((err: unknown) => {
          throw new SpineError('NOT_FOUND', `the export file of ${params.id ?? ''} is gone (${(err as Error).message})`, { cause: err });
        })).size;
        res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'content-length': size, 'cache-control': 'no-store' });
        if (req.method === 'HEAD') return void res.end();
        createReadStream(file).on('error', (err) => res.destroy(err)).pipe(res);
      }),
    ],
  ];

  const cors = new CorsPolicy(corsOrigins);
  const methods = new Map<string, string[]>();
  for (const [method, pattern, route] of routes) {
    router.add(method, pattern, cors.wrap(route));
    methods.set(pattern, [...(methods.get(pattern) ?? []), method]);
  }
  for (const [pattern, allowed] of methods) router.add('OPTIONS', pattern, gate.preflight(cors.preflight(allowed)));

  return {
    close(): void {
      closed = true;
      for (const s of open) {
        s.abort.abort();
        if (!s.res.writableEnded) s.res.end(': the daemon is shutting down; resume with Last-Event-ID at GET /api/operations/:id/events\n\n');
      }
      open.clear();
    },
    openStreams: () => open.size,
  };
}

/** A stream slot of the caller's key and what ends its stream: the client, a shutdown, a revocation. */
interface StreamSlot {
  release: () => void;
  /** Aborted when the stream is to end. */
  abort: AbortController;
  /** Set when a keys reload removed or changed the key. */
  revokedBy: SpineError | undefined;
}

/** Takes one of the caller's stream slots (429 past its limit); a revocation aborts the stream. */
function takeSlot(openStream: CallContext['openStream']): StreamSlot {
  const abort = new AbortController();
  const slot: StreamSlot = { release: () => undefined, abort, revokedBy: undefined };
  slot.release = openStream((why) => {
    slot.revokedBy = why;
    abort.abort();
  });
  return slot;
}

function noQuery(url: URL): void {
  for (const key of url.searchParams.keys()) throw new SpineError('INVALID_QUERY', `${key}: unknown query parameter; ${url.pathname} takes none`, { field: key });
}

function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
