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
 * Flow control: the next item is taken from the store's subscription only once the last
 * write was accepted (`res.write()` true, or 'drain'), so a slow client holds at most one
 * socket buffer here; the subscription's bounded live queue overflows into `fell_behind`
 * and a read from the log, and appends never wait for a reader. The events of one group
 * commit reach a stream together and are written together (see `write`).
 *
 * While the daemon starts or stops, the stream answers 200 with only a retry hint and
 * ends, so EventSource clients come back later: a 503 would make them give up for good.
 */
import type { ServerResponse } from 'node:http';
import { SpineError, isSpineError } from '../../errors';
import type { StoredEvent } from '../../event';
import type { SubscriptionItem } from '../../store';
import type { ApiContext } from './context';
import { eventJson } from './event-json';
import { FILTER_PARAMS, QueryParams } from './query-params';
import { errorBody } from './respond';
import type { RouteContext } from './router';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
};

const STREAM_FILTERS = FILTER_PARAMS.filter((p) => p !== 'from_seq' && p !== 'to_seq');

/**
 * Recent events' messages, serialized and UTF-8 encoded once however many streams carry
 * them: a ring indexed by seq (an event never changes, so within one store its seq names
 * its message). Live streams and streams catching up from the log (fresh objects each)
 * share it. At most FRAME_RING × FRAME_CACHE_MAX_BYTES (32 MiB); larger ones are not kept.
 */
const FRAME_RING = 4096;
const FRAME_CACHE_MAX_BYTES = 8 * 1024;

class FrameCache {
  private readonly seqs = new Float64Array(FRAME_RING);
  private readonly frames: (Buffer | undefined)[] = new Array<Buffer | undefined>(FRAME_RING);

  eventFrame(ev: StoredEvent): Buffer {
    const slot = ev.seq % FRAME_RING;
    if (this.seqs[slot] === ev.seq) return this.frames[slot] as Buffer;
    const frame = Buffer.from(`id: ${ev.seq}\nevent: event\ndata: ${eventJson(ev)}\n\n`);
    if (frame.length <= FRAME_CACHE_MAX_BYTES) {
      this.seqs[slot] = ev.seq;
      this.frames[slot] = frame;
    }
    return frame;
  }
}

function markerFrame(name: 'caught_up' | 'fell_behind', seq: number): Buffer {
  return Buffer.from(`id: ${seq}\nevent: ${name}\ndata: {"seq":${seq}}\n\n`);
}

/** The resume position: Last-Event-ID (header first, then the query parameter), if any. */
function lastEventId(header: string | string[] | undefined, params: QueryParams): number | undefined {
  const text = (Array.isArray(header) ? header[0] : header)?.trim();
  if (text !== undefined && text !== '') {
    if (!/^\d{1,15}$/.test(text)) throw new SpineError('INVALID_QUERY', `Last-Event-ID: must be a seq (a decimal integer), not ${JSON.stringify(text)}`, { field: 'Last-Event-ID' });
    return Number(text);
  }
  return params.integer('lastEventId', 0);
}

interface OpenStream {
  res: ServerResponse;
  /** Wakes the stream's loop so it ends. */
  wake: (() => void) | undefined;
  stopped: boolean;
  /** Messages not written yet: they leave together once the current burst is done. */
  pending: Buffer[];
  pendingBytes: number;
  /** A flush of `pending` is scheduled. */
  flushing: boolean;
  /** Something was written since the last heartbeat tick. */
  wrote: boolean;
}

/** Past this many bytes a burst is written at once rather than at its end. */
const FLUSH_BYTES = 64 * 1024;

export class SseStreams {
  private readonly open = new Set<OpenStream>();
  private readonly frames = new FrameCache();
  private closing = false;

  constructor(private readonly ctx: ApiContext) {}

  get size(): number {
    return this.open.size;
  }

  /** Shutdown: ends every open stream now (clients reconnect with Last-Event-ID). */
  closeAll(): void {
    this.closing = true;
    for (const s of this.open) this.finish(s, ': the daemon is shutting down; reconnect with Last-Event-ID\n\n');
  }

  readonly handle = async ({ req, res, url }: RouteContext): Promise<void> => {
    const params = new QueryParams(url, [...FILTER_PARAMS, 'lastEventId']);
    const filter = params.filter(STREAM_FILTERS);
    const fromSeq = params.integer('from_seq', 1);
    const toSeq = params.integer('to_seq', 1);
    const resumeAfter = lastEventId(req.headers['last-event-id'], params);
    const start = resumeAfter !== undefined ? resumeAfter + 1 : fromSeq;
    const { sseRetryMs, heartbeatMs, queueLimit } = this.ctx.settings;

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
    // Checks the filter before anything is sent: a bad one is a plain 400.
    const items = store.subscribe(filter, { ...(start === undefined ? {} : { from_seq: start }), queueLimit });

    const stream: OpenStream = { res, wake: undefined, stopped: false, pending: [], pendingBytes: 0, flushing: false, wrote: true };
    this.open.add(stream);
    const stop = (): void => this.stop(stream);
    res.once('close', stop);
    res.on('error', () => undefined); // a client gone mid-write: 'close' ends the loop
    res.writeHead(200, SSE_HEADERS);
    res.write(`retry: ${sseRetryMs}\n\n`);

    let live = false;
    const heartbeat = setInterval(() => {
      if (toSeq !== undefined && live && store.head().seq >= toSeq) return this.finish(stream, ': to_seq reached\n\n');
      if (!stream.wrote && !res.writableNeedDrain) res.write(`: heartbeat ${store.head().seq}\n\n`);
      stream.wrote = false;
    }, heartbeatMs);
    try {
      for (;;) {
        if (res.writableNeedDrain) await this.drained(stream);
        const next = await this.next(stream, items);
        if (next === undefined || next.done === true) break;
        const item = next.value;
        let last = false;
        if (item.type === 'event') {
          if (toSeq !== undefined && item.event.seq > toSeq) break;
          this.write(stream, this.frames.eventFrame(item.event));
        } else {
          live = item.type === 'caught_up';
          last = live && toSeq !== undefined && item.seq >= toSeq;
          this.write(stream, markerFrame(item.type, item.seq));
        }
        if (last || stream.stopped) break;
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
      // A subscription waiting for live events finishes its return() once it wakes (the
      // next matching event, or the store closing); never wait for that here.
      void items.return(undefined).catch(() => undefined);
    }
  };

  /** The next subscription item, or undefined once the stream is to stop. */
  private next(stream: OpenStream, items: AsyncGenerator<SubscriptionItem>): Promise<IteratorResult<SubscriptionItem> | undefined> {
    if (stream.stopped) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      stream.wake = () => resolve(undefined);
      items.next().then(resolve, reject);
    });
  }

  /**
   * Queues a message. The events of one group commit reach the stream in one burst of
   * microtasks: they leave as one write (process.nextTick runs after the burst), not one
   * write, chunk and system call per event and subscriber.
   */
  private write(stream: OpenStream, frame: Buffer): void {
    stream.pending.push(frame);
    stream.pendingBytes += frame.length;
    stream.wrote = true;
    if (stream.pendingBytes >= FLUSH_BYTES) this.flush(stream);
    else if (!stream.flushing) {
      stream.flushing = true;
      process.nextTick(() => this.flush(stream));
    }
  }

  private flush(stream: OpenStream): void {
    stream.flushing = false;
    const bytes = this.takePending(stream);
    if (bytes.length > 0 && !stream.res.writableEnded && !stream.res.destroyed) stream.res.write(bytes);
  }

  private takePending(stream: OpenStream): Buffer {
    const { pending, pendingBytes } = stream;
    stream.pending = [];
    stream.pendingBytes = 0;
    return pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
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
    const bytes = this.takePending(stream);
    if (!stream.res.writableEnded && !stream.res.destroyed) stream.res.end(Buffer.concat([bytes, Buffer.from(lastWords)]));
    this.stop(stream);
  }

  private stop(stream: OpenStream): void {
    stream.stopped = true;
    this.open.delete(stream);
    const wake = stream.wake;
    stream.wake = undefined;
    wake?.();
  }
}
