/**
 * Revoking a key on a running daemon (DESIGN §7): the real daemon in a child process, real
 * gRPC and HTTP clients. The keys file is rewritten without a leaked key (and with another
 * key's rights changed), the daemon gets SIGHUP, and then: the leaked key's Subscribe and
 * AppendStream end UNAUTHENTICATED (the AppendStream after answering what it was
 * appending: answered ⇔ stored), its SSE response ends after a `stream_error`, the changed
 * key's Subscribe ends too and opens again with the new rights, another key's streams keep
 * receiving new events, and any new call with the leaked key is refused.
 *
 * Every wait is on an event (a message, a chunk, a stream's end, a log line); the limit of
 * `within` only turns a hang into a failure that names what never came.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { collect, errorInfo, spineClient, wireEvent, type Msg } from '../helpers/grpc-client';
import { writeKeys } from '../helpers/keys';
import { parseMessages } from '../helpers/sse';

const WAIT_LIMIT_MS = 20_000;

/** `promise`, or a failure naming `what` if it has not settled within WAIT_LIMIT_MS. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`never happened within ${WAIT_LIMIT_MS} ms: ${what}`)), WAIT_LIMIT_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Resolves once `pred` holds, checked now and on every `event` of `emitter`; rejects when `end` is emitted first. */
function when(emitter: EventEmitter, event: string, end: string, pred: () => boolean, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        off();
        resolve();
      };
      const ended = (): void => {
        off();
        if (pred()) resolve();
        else reject(new Error(`the stream ended before ${what}`));
      };
      const off = (): void => {
        emitter.off(event, check);
        emitter.off(end, ended);
      };
      emitter.on(event, check);
      emitter.once(end, ended);
      check();
    }),
    what,
  );
}

function md(authorization: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', authorization);
  return m;
}

interface WatchedCall {
  items: Msg[];
  /** The stream's error once it has ended with one, undefined while open. */
  error: grpc.ServiceError | undefined;
  /** Resolves with the error the stream ends with (undefined: it ended OK). */
  ended: Promise<grpc.ServiceError | undefined>;
  until(pred: (items: Msg[]) => boolean, what: string): Promise<void>;
}

/** A server stream's messages as they come, and how it ends. */
function watchCall(stream: grpc.ClientReadableStream<Msg>): WatchedCall {
  const w: WatchedCall = {
    items: [],
    error: undefined,
    ended: new Promise((resolve) => {
      stream.on('error', (err: grpc.ServiceError) => {
        w.error = err;
        resolve(err);
      });
      stream.on('status', (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve(undefined);
      });
    }),
    until: (pred, what) => when(stream, 'data', 'status', () => pred(w.items), what),
  };
  stream.on('data', (m: Msg) => w.items.push(m));
  return w;
}

const caughtUp = (items: Msg[]): boolean => items.some((m) => m.item === 'caught_up');
const hasEvent = (entityId: string) => (items: Msg[]): boolean => items.some((m) => m.item === 'event' && (m.event as Msg).entity_id === entityId);

interface SseResponse {
  status: number;
  text(): string;
  /** Resolves when the body has ended: 'end' when the server ended it, 'error' when cut or aborted. */
  ended: Promise<'end' | 'error'>;
  until(pred: (text: string) => boolean, what: string): Promise<void>;
  abort(): void;
}

/** GET an SSE stream with fetch and read its body as it comes. */
async function openSse(t: Test, url: string, authorization: string): Promise<SseResponse> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', authorization }, signal: controller.signal });
  const chunks = new EventEmitter();
  let text = '';
  const decoder = new TextDecoder();
  const ended = (async (): Promise<'end' | 'error'> => {
    try {
      if (response.body !== null) {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true });
          chunks.emit('chunk');
        }
      }
      return 'end';
    } catch {
      return 'error';
    } finally {
      chunks.emit('end');
    }
  })();
  t.teardown(() => controller.abort());
  return {
    status: response.status,
    text: () => text,
    ended,
    until: (pred, what) => when(chunks, 'chunk', 'end', () => pred(text), what),
    abort: () => controller.abort(),
  };
}

/**
 * An AppendStream kept busy: `depth` requests of one event each in flight, a new one sent
 * for each answer, until the stream ends. Each event's entity_id names its request.
 */
function busyAppendStream(stream: grpc.ClientDuplexStream<Msg, Msg>, depth: number) {
  const sent = new Set<string>();
  const answeredOk = new Set<string>();
  const refused: Msg[] = [];
  let next = 0;
  let open = true;
  const send = (): void => {
    if (!open) return;
    next += 1;
    const entityId = `leak-${next}`;
    sent.add(entityId);
    stream.write({ request_id: next, events: [wireEvent({ entity_id: entityId })] });
  };
  stream.on('data', (m: Msg) => {
    if (m.ok !== undefined) answeredOk.add(`leak-${String(m.request_id)}`);
    else refused.push(m);
    send();
  });
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on('error', (err: grpc.ServiceError) => {
      open = false;
      resolve(err);
    });
    stream.on('status', (s: grpc.StatusObject) => {
      open = false;
      if (s.code === grpc.status.OK) resolve(undefined);
    });
  });
  for (let i = 0; i < depth; i++) send();
  return {
    sent,
    answeredOk,
    refused,
    ended,
    until: (n: number, what: string) => when(stream, 'data', 'status', () => answeredOk.size >= n, what),
  };
}

/** Resolves with the first log record of the daemon that satisfies `pred` (now or later). */
function logRecord(d: DaemonHandle, pred: (r: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  return within(
    new Promise((resolve) => {
      // The daemon helper parses stdout in its own 'data' listener, added before this one.
      const check = (): void => {
        const found = d.logs.find(pred);
        if (found === undefined) return;
        d.proc.stdout?.off('data', check);
        resolve(found);
      };
      d.proc.stdout?.on('data', check);
      check();
    }),
    what,
  );
}

/** Rewrites the keys file as an operator would (a whole new file put in place). */
function editKeysFile(file: string, edit: (keys: Record<string, unknown>[]) => Record<string, unknown>[]): void {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { keys: Record<string, unknown>[] };
  writeFileSync(`${file}.new`, JSON.stringify({ keys: edit(doc.keys) }, null, 2));
  renameSync(`${file}.new`, file);
}

t.test('SIGHUP ends the open streams of a removed or changed key; the others run on', async (t) => {
  const keys = writeKeys(t, {
    leaked: { scopes: ['append', 'read'] },
    kept: { scopes: ['append', 'read'] },
    shifted: { scopes: ['read'] },
  });
  const d = await startDaemon(t, { args: keys.args });
  const c = spineClient(t, d.grpcAddress);
  const as = (key: string) => ({ metadata: md(keys.bearer(key)) });
  const sseUrl = `http://${d.httpAddress}/api/events/stream`;
  await c.call('Append', { events: [wireEvent({ entity_id: 'before' })] }, as('kept'));

  const subA = watchCall(c.stream('Subscribe', { from_seq: 1 }, as('leaked')));
  const subB = watchCall(c.stream('Subscribe', { from_seq: 1 }, as('kept')));
  const subC = watchCall(c.stream('Subscribe', {}, as('shifted')));
  const sseA = await openSse(t, sseUrl, keys.bearer('leaked'));
  const sseB = await openSse(t, sseUrl, keys.bearer('kept'));
  t.equal(sseA.status, 200);
  t.equal(sseB.status, 200);
  await Promise.all([
    subA.until(caughtUp, "A's Subscribe caught up"),
    subB.until(caughtUp, "B's Subscribe caught up"),
    subC.until(caughtUp, "C's Subscribe caught up"),
    sseA.until((text) => text.includes('event: caught_up'), "A's SSE caught up"),
    sseB.until((text) => text.includes('event: caught_up'), "B's SSE caught up"),
  ]);
  const appendA = busyAppendStream(c.appendStream(as('leaked')), 8);
  await appendA.until(16, "A's AppendStream answering");

  // The operator takes the leaked key out and narrows another key's rights, then SIGHUP.
  editKeysFile(keys.file, (entries) => entries.filter((e) => e.id !== 'leaked').map((e) => (e.id === 'shifted' ? { ...e, organizations: ['acme'] } : e)));
  const reloaded = logRecord(d, (r) => r.msg === 'keys reloaded', 'the "keys reloaded" log line');
  d.proc.kill('SIGHUP');

  const errA = await within(subA.ended, "A's Subscribe ending");
  t.match(errorInfo(errA), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED', details: /key leaked was revoked/ }, "A's Subscribe ends UNAUTHENTICATED");
  const errC = await within(subC.ended, "C's Subscribe ending");
  t.match(errorInfo(errC), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED', details: /key shifted was changed/ }, "the changed key's Subscribe ends too");

  t.equal(await within(sseA.ended, "A's SSE response ending"), 'end', "the server ends A's SSE response");
  const last = parseMessages(sseA.text()).at(-1);
  t.match(last, { event: 'stream_error' }, "A's SSE response ends with a stream_error");
  t.match(JSON.parse(last?.data ?? '{}'), { error: { code: 'UNAUTHENTICATED', message: /key leaked was revoked/ } });

  const errAppend = await within(appendA.ended, "A's AppendStream ending");
  t.match(errorInfo(errAppend), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED', details: /key leaked was revoked/ }, "A's AppendStream ends UNAUTHENTICATED");
  t.same(appendA.refused, [], 'no request was refused on the way');

  const record = await reloaded;
  t.match(record, { level: 'info', keys: 2, removed: ['leaked'], changed: ['shifted'], streamsEnded: 4 }, 'one line: what changed, four streams ended');

  // B's streams run on and see new events.
  await c.call('Append', { events: [wireEvent({ entity_id: 'after-reload' })] }, as('kept'));
  await subB.until(hasEvent('after-reload'), "the new event on B's Subscribe");
  await sseB.until((text) => parseMessages(text).some((m) => m.event === 'event' && (JSON.parse(m.data) as Msg).entity_id === 'after-reload'), "the new event on B's SSE stream");
  t.equal(subB.error, undefined, "B's Subscribe is still open");

  // Whatever A's AppendStream answered is stored; what it did not answer is not.
  const stored = (await collect(c.stream('Read', { filter: {} }, as('kept')))).messages.map((e) => String(e.entity_id)).filter((id) => id.startsWith('leak-'));
  t.same(new Set(stored), appendA.answeredOk, `answered ⇔ stored (${appendA.answeredOk.size} answered of ${appendA.sent.size} sent)`);
  t.equal(stored.length, appendA.answeredOk.size, 'each once');

  // New calls with A are refused on both surfaces.
  t.match(errorInfo(await c.call('Head', {}, as('leaked')).catch((e: unknown) => e)), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED' }, 'a unary call with A');
  const subAgain = watchCall(c.stream('Subscribe', {}, as('leaked')));
  t.match(errorInfo(await within(subAgain.ended, 'a new Subscribe with A refused')), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED' }, 'a new Subscribe with A');
  const reconnect = await fetch(sseUrl, { headers: { accept: 'text/event-stream', authorization: keys.bearer('leaked') } });
  t.equal(reconnect.status, 401, 'an SSE reconnect with A is 401');
  t.match(await reconnect.json(), { error: { code: 'UNAUTHENTICATED' } });

  // The changed key subscribes again and gets its new rights: acme only.
  const subC2 = watchCall(c.stream('Subscribe', {}, as('shifted')));
  await subC2.until(caughtUp, 'the changed key subscribing again');
  const outside = watchCall(c.stream('Subscribe', { filter: { organization_id: 'globex' } }, as('shifted')));
  t.match(errorInfo(await within(outside.ended, 'a Subscribe outside the new organizations refused')), { code: 'PERMISSION_DENIED' }, 'its new rights hold');

  const logs = JSON.stringify(d.logs);
  for (const secret of Object.values(keys.secret)) t.notOk(logs.includes(secret), 'no secret in the logs');
  sseB.abort();
});
