/**
 * GET /api/events/stream: the live tail as Server-Sent Events
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 *
 *   retry: 2000                         once, first: the reconnection delay
 *
 *   id: 42                              every message names a seq to resume after:
 *   event: event                          an event (data: the event, as GET /api/events/:id)
 *   data: {"seq":42,…}
 *
 *   id: 42                                caught_up: every match up to seq 42 was sent, now live
 *   event: caught_up                      fell_behind: too slow, reading from the log again
 *   data: {"seq":42}
 *
 *   : heartbeat 42                      a comment while idle (subscriptions.heartbeatMs)
 *
 * A client that reconnects with `Last-Event-ID: 42` (or `?lastEventId=42`, for clients
 * that cannot set headers; the header wins) gets every match from seq 43 on: seqs are
 * durable, so this holds across a daemon restart too. Without either, `from_seq` starts
 * the catch-up, and without that the stream starts at the head.
 *
 * A stream catches up on a store subscription of its own, then joins the live fan-out hub
 * of its filter (sse-hub.ts), which writes every stream the same bytes and feeds a stream
 * that paused from its recent history. A stream further behind than that history is let
 * go: it catches up on its own again (`fell_behind`, then `caught_up`) and rejoins. On its
 * own, the next item is taken only once the socket took the last writes ('drain'), and the
 * subscription's bounded live queue overflows into a read from the log. So a slow client
 * never grows memory without bound and appends never wait for a reader.
 *
 * While the daemon starts or stops, the stream answers 200 with only a retry hint and
 * ends, so EventSource clients come back later: a 503 would make them give up for good.
 *
 * The stream needs the read scope; the key comes in the Authorization header or, for
 * EventSource, as `?access_token=` (gate.ts). The filter is narrowed to the caller's
 * organizations, and each stream holds one of the key's stream slots until it ends. A keys
 * reload (SIGHUP) that removes or changes the key ends its streams: `stream_error` with
 * UNAUTHENTICATED, then the end of the response.
 */
import { SpineError, isSpineError } from '../../errors';
import type { QueryFilter, Store, SubscriptionItem } from '../../store';
import type { Counter } from '../../observability';
import type { ApiContext } from './context';
import { FILTER_PARAMS, QueryParams } from './query-params';
import { errorBody } from './respond';
import type { CallContext } from './gate';
import { LiveHub } from './sse-hub';
import { FrameCache, OpenStream, markerFrame } from './sse-output';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
};

const STREAM_FILTERS = FILTER_PARAMS.filter((p) => p !== 'from_seq' && p !== 'to_seq');
/** Events a stream takes in a row before it lets the event loop turn. */
const YIELD_EVERY = 256;

/** The resume position: Last-Event-ID (header first, then the query parameter), if any. */
function lastEventId(header: string | string[] | undefined, params: QueryParams): number | undefined {
  const text = (Array.isArray(header) ? header[0] : header)?.trim();
  if (text !== undefined && text !== '') {
    if (!/^\d{1,15}$/.test(text)) throw new SpineError('INVALID_QUERY', `Last-Event-ID: must be a seq (a decimal integer), not ${JSON.stringify(text)}`, { field: 'Last-Event-ID' });
    return Number(text);
  }
  return params.integer('lastEventId', 0);
}

export class SseStreams {
  private readonly open = new Set<OpenStream>();
  private readonly hubs = new Map<string, LiveHub>();
  private readonly frames = new FrameCache();
  private closing = false;
  private readonly paused: Counter;
  private readonly fellBehind: Counter;

  constructor(private readonly ctx: ApiContext) {
    const r = ctx.metrics.registry;
    r.gauge('eventspine_sse_streams', 'Open SSE streams (GET /api/events/stream).', [], () => this.open.size);
    r.gauge('eventspine_sse_fanout_hubs', 'SSE fan-out hubs: one per distinct filter of live streams.', [], () => this.hubs.size);
    this.paused = r.counter('eventspine_sse_paused_total', 'Times the SSE fan-out skipped a stream whose socket was full, to feed it from its history once drained.');
    this.fellBehind = r.counter('eventspine_sse_fell_behind_total', 'SSE streams that fell further behind than the fan-out history and caught up from the log.');
  }

  get size(): number {
    return this.open.size;
  }

  /** Shutdown: ends every open stream now (clients reconnect with Last-Event-ID). */
  closeAll(): void {
    this.closing = true;
    for (const hub of [...this.hubs.values()]) hub.stop();
    for (const s of this.open) this.finish(s, ': the daemon is shutting down; reconnect with Last-Event-ID\n\n');
  }

  readonly handle = async ({ req, res, url, caller, openStream }: CallContext): Promise<void> => {
    const params = new QueryParams(url, [...FILTER_PARAMS, 'lastEventId']);
    // Narrowed to the caller's organizations, for the catch-up and for the hub alike.
    const filter = caller.restrict(params.filter(STREAM_FILTERS));
    const fromSeq = params.integer('from_seq', 1);
    const toSeq = params.integer('to_seq', 1);
    const resumeAfter = lastEventId(req.headers['last-event-id'], params);
    const start = resumeAfter !== undefined ? resumeAfter + 1 : fromSeq;
    const { sseRetryMs, heartbeatMs, queueLimit } = this.ctx.settings;

    if (req.method === 'HEAD') {
      res.writeHead(200, SSE_HEADERS);
      res.end();
      return;
    }
    if (this.closing || !this.ctx.ready()) {
      res.writeHead(200, SSE_HEADERS);
      res.end(`retry: ${sseRetryMs}\n: the daemon is ${this.closing ? 'shutting down' : 'starting'}; reconnect in ${sseRetryMs} ms\n\n`);
      return;
    }
    if (toSeq !== undefined && start !== undefined && start > toSeq) {
      res.writeHead(204, { 'cache-control': 'no-store' }); // complete: EventSource stops reconnecting
      res.end();
      return;
    }
    const store = this.ctx.store();
    const stream = new OpenStream(res, start === undefined ? store.head().seq : start - 1);
    // One of the caller's stream slots (429 before anything is sent), released however the
    // stream ends. A keys reload that removes or changes the key ends the response after a
    // `stream_error` (UNAUTHENTICATED); a reconnect with a removed key is then a 401.
    const release = openStream((why) => this.finish(stream, `event: stream_error\ndata: ${JSON.stringify(errorBody(why))}\n\n`));
    // Checks the filter before anything is sent: a bad one is a plain 400.
    // Each subscription of the stream gets its own abort signal: return() alone would wait
    // behind a pending next() until the next matching event.
    let detach = new AbortController();
    let items: AsyncGenerator<SubscriptionItem> | undefined;
    try {
      items = store.subscribe(filter, { ...(start === undefined ? {} : { from_seq: start }), queueLimit, signal: detach.signal });
    } catch (err) {
      release();
      throw err;
    }

    this.open.add(stream);
    const stop = (): void => this.stop(stream);
    res.once('close', stop);
    res.on('error', () => undefined); // a client gone mid-write: 'close' ends the loop
    res.writeHead(200, SSE_HEADERS);
    res.write(`retry: ${sseRetryMs}\n\n`);

    let live = false;
    const heartbeat = setInterval(() => {
      // Live and idle: every event subscribers were handed up to fedSeq has been through the filter.
      if (toSeq !== undefined && live && store.fedSeq() >= toSeq) return this.finish(stream, ': to_seq reached\n\n');
      if (!stream.wrote && !res.writableNeedDrain) res.write(`: heartbeat ${store.fedSeq()}\n\n`);
      stream.wrote = false;
    }, heartbeatMs);
    // Streams share a hub only when their narrowed filters are identical (organizations
    // included): a hub never carries one caller's events to a caller who may not see them.
    const hubKey = JSON.stringify(filter);
    let pulled = 0;
    try {
      while (items !== undefined) {
        let joined = false;
        try {
          for (;;) {
            if (res.writableNeedDrain) await this.drained(stream);
            const next = await this.next(stream, items);
            if (next === undefined || next.done === true) break;
            const item = next.value;
            if (item.type === 'event') {
              if (toSeq !== undefined && item.event.seq > toSeq) break;
              stream.queue(this.frames.eventFrame(item.event), item.event.seq);
              // A long catch-up whose socket keeps taking bytes would otherwise run as one
              // chain of microtasks: let appends and other requests in now and then.
              if (++pulled % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
              continue;
            }
            live = item.type === 'caught_up';
            stream.queue(markerFrame(item.type, item.seq), item.seq);
            if (live && toSeq !== undefined && item.seq >= toSeq) break;
            if (live && toSeq === undefined && this.joinHub(hubKey, filter, store, stream)) {
              joined = true;
              break;
            }
          }
        } finally {
          detach.abort();
          void items.return(undefined).catch(() => undefined);
          items = undefined;
        }
        if (!joined) break;
        // On the hub until it lets go (too slow) or the stream stops.
        await new Promise<void>((resolve) => {
          if (stream.hub === undefined || stream.stopped) resolve();
          else stream.wake = resolve;
        });
        if (stream.stopped || this.closing) break;
        live = false;
        stream.queue(markerFrame('fell_behind', stream.position), stream.position);
        detach = new AbortController();
        items = store.subscribe(filter, { from_seq: stream.position + 1, queueLimit, signal: detach.signal });
      }
      this.finish(stream, '');
    } catch (err) {
      const e = isSpineError(err) ? err : new SpineError('INTERNAL', 'the stream failed inside the server (logged with its stack)', { cause: err });
      if (!isSpineError(err)) this.ctx.logger.error('SSE stream failed', { err });
      this.finish(stream, `event: stream_error\ndata: ${JSON.stringify(errorBody(e))}\n\n`);
    } finally {
      clearInterval(heartbeat);
      res.off('close', stop);
      this.stop(stream);
      release();
    }
  };

  /** Hands a caught-up stream to its filter's hub (made on demand); false if it cannot join. */
  private joinHub(key: string, filter: QueryFilter, store: Store, stream: OpenStream): boolean {
    if (this.closing) return false;
    stream.flush(); // what it has so far goes out before the hub's bytes
    let hub = this.hubs.get(key);
    if (hub === undefined) {
      const made = new LiveHub(
        {
          store,
          filter,
          queueLimit: this.ctx.settings.queueLimit,
          historyBytes: this.ctx.settings.sseHistoryBytes,
          cache: this.frames,
          logger: this.ctx.logger,
          onStop: (h) => {
            if (this.hubs.get(key) === h) this.hubs.delete(key);
          },
          onPause: () => this.paused.inc(),
          onFellBehind: () => this.fellBehind.inc(),
        },
        stream.position,
      );
      this.hubs.set(key, made);
      hub = made;
      if (!hub.join(stream)) return false;
      void made.run();
      return true;
    }
    return hub.join(stream);
  }

  /** The next subscription item, or undefined once the stream is to stop. */
  private next(stream: OpenStream, items: AsyncGenerator<SubscriptionItem>): Promise<IteratorResult<SubscriptionItem> | undefined> {
    if (stream.stopped) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      stream.wake = () => resolve(undefined);
      items.next().then(resolve, reject);
    });
  }

  private drained(stream: OpenStream): Promise<void> {
    if (stream.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        stream.res.off('drain', done);
        stream.wake = undefined;
        resolve();
      };
      stream.res.once('drain', done);
      stream.wake = done;
    });
  }

  private finish(stream: OpenStream, lastWords: string): void {
    stream.end(lastWords);
    this.stop(stream);
  }

  private stop(stream: OpenStream): void {
    stream.stopped = true;
    this.open.delete(stream);
    stream.hub?.leave(stream);
    const wake = stream.wake;
    stream.wake = undefined;
    wake?.();
  }
}
