/**
 * Operations against the real daemon (a child process) over real HTTP (fetch, EventSource)
 * and gRPC: the batch auto-setup's exact SSE stream, idempotent checks, re-attaching after a
 * disconnect over SSE and WatchOperation, bad requests refused before any stream, and the
 * daemon's own jobs started as operations.
 */
import { EventSource } from 'eventsource';
import t from 'tap';
import { AUTO_SETUP_STEPS } from '../../src/ops';
import { expectedSteps, normalize, threeTables } from '../helpers/auto-setup';
import { startDaemon } from '../helpers/daemon';
import { collect, errorInfo, spineClient, type Msg } from '../helpers/grpc-client';
import { httpApi } from '../helpers/http-api';
import { allMessages, sseMessages, type SseMessage } from '../helpers/operation-sse';

const PATH = '/api/quality-intelligence/batch-auto-setup';

/** The HTTP body of the fixture as a gRPC BatchAutoSetupRequest (values as Scalar messages). */
function toProto(body: Record<string, unknown>): Msg {
  const scalar = (v: unknown): Msg => (typeof v === 'string' ? { text: v } : typeof v === 'number' ? { number: v } : { boolean: v });
  const tables = body.tables as { columns: { statistics?: Record<string, unknown> }[] }[];
  return {
    ...body,
    tables: tables.map((tb) => ({
      ...tb,
      columns: tb.columns.map((c) => {
        if (c.statistics === undefined) return c;
        const s: Record<string, unknown> = { ...c.statistics };
        for (const k of ['min', 'max']) if (s[k] !== undefined) s[k] = scalar(s[k]);
        if (Array.isArray(s.sample_values)) s.sample_values = s.sample_values.map(scalar);
        return { ...c, statistics: s };
      }),
    })),
  };
}

/** Many tables: enough steps that a client can leave while the operation still runs. */
function manyTables(n: number): Record<string, unknown> {
  const body = threeTables() as { tables: unknown[] };
  for (let i = 0; i < n; i++) {
    body.tables.push({
      name: `events_${i}`,
      statistics: { row_count: 100 + i, last_updated: new Date().toISOString() },
      columns: [
        { name: 'id', type: 'uuid', primary_key: true, statistics: { null_count: 0, distinct_count: 100 + i } },
        { name: 'kind', type: 'text', nullable: false, statistics: { null_count: 0, distinct_count: 2, sample_values: ['a', 'b'] } },
        { name: 'amount', type: 'double', statistics: { null_count: 0, min: 0, max: i } },
      ],
    });
  }
  return body;
}

t.test('operations over HTTP and gRPC', async (t) => {
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_HTTP_SSE_RETRY_MS: '100' } });
  const base = `http://${daemon.httpAddress}`;
  const api = await httpApi(t, daemon.httpAddress);
  const grpc = spineClient(t, daemon.grpcAddress);
  const post = (body: unknown, signal?: AbortSignal): Promise<Response> =>
    fetch(`${base}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...(signal === undefined ? {} : { signal }) });
  const count = async (query: string): Promise<number> => {
    const r = await api.get(`/api/events?${query}&limit=10000`);
    return (r.json.items as unknown[]).length;
  };

  await t.test('the SSE stream of a three-table request with one malformed table, event by event', async (t) => {
    const lastUpdated = new Date(Date.now() - 2 * 3_600_000).toISOString();
    for (const [round, present] of [
      [1, false],
      [2, true],
    ] as const) {
      const r = await post(threeTables(lastUpdated));
      t.equal(r.status, 200);
      t.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const id = r.headers.get('operation-id') ?? '';
      t.equal(r.headers.get('location'), `/api/operations/${id}`);
      const messages = await allMessages(r);
      const expected = expectedSteps(lastUpdated, present);
      t.equal(messages.length, expected.length, `round ${round}: ${expected.length} events`);
      let previous = 0;
      for (const [i, m] of messages.entries()) {
        const [step, data] = expected[i] ?? ['?', {}];
        t.equal(m.event, step, `event ${i + 1} is ${step}`);
        const seq = Number(m.id);
        t.ok(Number.isSafeInteger(seq) && seq > previous, `${step}: id is a seq after the one before`);
        previous = seq;
        const { operation_id, ...rest } = JSON.parse(m.data) as Record<string, unknown>;
        t.equal(operation_id, id, `${step}: data names the operation`);
        t.same(normalize(step, rest), data, `${step}: data`);
      }
      const status = await api.get(`/api/operations/${id}`);
      t.match(status.json, { id, kind: 'batch_auto_setup', status: 'succeeded', actor_id: 'analyst-7', last_step: 'done', last_seq: previous, summary: { checks_created: present ? 0 : 12, checks_already_present: present ? 12 : 0 } });
      t.equal(await count('event_type=quality.check.created'), 12, `round ${round}: 12 checks, never duplicated`);
    }
    const structural = await api.get('/api/structural-events?entityType=check&limit=100');
    const items = structural.json.items as Record<string, unknown>[];
    t.equal(items.filter((i) => i.eventType === 'created').length, 12, 'the checks show in /api/structural-events');
    t.equal(items.filter((i) => i.eventType === 'evaluated').length, 24, 'with their evaluations');
    t.match(items.find((i) => i.eventType === 'created'), { entityType: 'check', metadata: { kind: 'range' } });
    const ops = await api.get('/api/structural-events?entityType=operation');
    t.same(ops.json.items, [], 'progress steps (domain ops) stay out of the structural view');
  });

  await t.test('a client that leaves mid-stream re-attaches over SSE and gRPC: every event once, in order', async (t) => {
    const leave = new AbortController();
    const r = await post(manyTables(150), leave.signal);
    const id = r.headers.get('operation-id') ?? '';
    const seen: SseMessage[] = [];
    for await (const m of sseMessages(r)) {
      seen.push(m);
      if (seen.length === 7) break;
    }
    leave.abort();
    const cut = seen.at(-1)?.id ?? '';
    t.equal(seen.at(-1)?.event, 'recommend_complete');
    t.equal((await api.get(`/api/operations/${id}`)).json.status, 'running', 'the operation goes on without its client');

    // SSE with Last-Event-ID.
    const resumed = await fetch(`${base}/api/operations/${id}/events`, { headers: { 'last-event-id': cut } });
    t.equal(resumed.status, 200);
    const rest = await allMessages(resumed);
    t.equal(rest.at(-1)?.event, 'done', 'to the end');
    // gRPC WatchOperation after the same seq.
    const watched = await collect(grpc.stream('WatchOperation', { operation_id: id, after_seq: Number(cut) }));
    t.equal(watched.status.code, 0);
    const asSse = (m: Msg): SseMessage => ({ event: String(m.step), id: String(m.seq), data: String(m.data) });
    // (Compared as text: tap's deep comparison of thousands of objects is slow.)
    const same = (a: unknown, b: unknown, message: string): void => void t.ok(JSON.stringify(a) === JSON.stringify(b), message);
    same(watched.messages.map(asSse), rest, 'gRPC carries the same events as SSE');

    // The whole stream, once, from both surfaces.
    const full = await allMessages(await fetch(`${base}/api/operations/${id}/events`));
    same([...seen, ...rest], full, 'what was seen plus the rest is the whole stream: nothing lost, nothing twice');
    const ids = full.map((m) => Number(m.id));
    same(ids, [...ids].sort((a, b) => a - b), 'in seq order');
    t.equal(new Set(ids).size, ids.length, 'no duplicates');
    const grpcFull = await collect(grpc.stream('WatchOperation', { operation_id: id }));
    same(grpcFull.messages.map(asSse), full, 'the whole stream over gRPC too');
    t.match(grpcFull.messages[0], { operation_id: id, kind: 'batch_auto_setup', step: 'recommend_phase_start', seq: Number(full[0]?.id) });

    const op = await grpc.call('GetOperation', { operation_id: id });
    t.match(op, { id, status: 'succeeded', last_step: 'done', last_seq: Number(full.at(-1)?.id) });
    const summary = JSON.parse(String(op.summary)) as Record<string, number>;
    t.match(summary, { tables: 153, tables_failed: 1, checks_created: 150 * 8, checks_already_present: 12, checks_create_failed: 0 }, 'the fixture checks existed; every new one was created');

    // A browser's EventSource: re-attach after a seq, get the rest, then 204 stops it.
    const es = new EventSource(`${base}/api/operations/${id}/events?lastEventId=${cut}`);
    const viaEventSource: SseMessage[] = [];
    await new Promise<void>((resolve) => {
      // The seed's `error` step shares its name with EventSource's own connection errors:
      // only a MessageEvent (it has data) is a step.
      for (const step of AUTO_SETUP_STEPS) {
        es.addEventListener(step, (e) => {
          if (e instanceof MessageEvent) viaEventSource.push({ event: step, id: e.lastEventId, data: String(e.data) });
        });
      }
      es.addEventListener('error', (e) => {
        if ((e as unknown as { code?: number }).code === 204) resolve();
      });
    });
    es.close();
    same(viaEventSource, rest, 'EventSource: the same events, and no reconnection loop once done');
    t.equal((await fetch(`${base}/api/operations/${id}/events`, { headers: { 'last-event-id': full.at(-1)?.id ?? '' } })).status, 204);
  });

  await t.test('gRPC BatchAutoSetup streams the same events as SSE', async (t) => {
    const lastUpdated = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const run = await collect(grpc.stream('BatchAutoSetup', toProto(threeTables(lastUpdated))));
    t.equal(run.status.code, 0);
    const id = String(run.messages[0]?.operation_id);
    t.same(
      run.messages.map((m) => [m.step, normalize(String(m.step), JSON.parse(String(m.data)) as Record<string, unknown>)]),
      expectedSteps(lastUpdated, true).map(([step, data]) => [step, { operation_id: id, ...data }]),
      'the exact steps (every check already present by now)',
    );
    const sse = await allMessages(await fetch(`${base}/api/operations/${id}/events`));
    t.same(
      run.messages.map((m) => ({ event: m.step, id: String(m.seq), data: m.data })),
      sse,
      'identical to the SSE replay, data text included',
    );
  });

  await t.test('bad requests get a clear error before any stream starts', async (t) => {
    const head = async (): Promise<unknown> => (await api.get('/api/head')).json.seq;
    const headBefore = await head();
    const cases: [string, unknown, string, RegExp][] = [
      ['no tables', { tables: [] }, 'tables', /at least one table/],
      ['tables missing', {}, 'tables', /is required/],
      ['wrong type', { tables: [{ name: 'orders', columns: [{ name: 'id', type: 'int', nullable: 'no' }] }] }, 'tables[0].columns[0].nullable', /true or false/],
      ['a count that is not a number', { tables: [{ name: 'orders', statistics: { row_count: '12' }, columns: [] }] }, 'tables[0].statistics.row_count', /integer/],
      ['a column without a name', { tables: [{ name: 'a', columns: [] }, { name: 'orders', columns: [{ name: 'id', type: 'int' }, { type: 'text' }] }] }, 'tables[1].columns[1].name', /is required/],
      ['thousands of tables', { tables: Array.from({ length: 3000 }, (_, i) => ({ name: `t${i}`, columns: [{ name: 'id', type: 'int' }] })) }, 'tables', /3000 tables, over the limit of 1000/],
    ];
    for (const [what, body, field, message] of cases) {
      const r = await api.post(PATH, body);
      t.equal(r.status, 400, `${what}: 400`);
      t.match(r.headers.get('content-type'), /^application\/json/, `${what}: JSON, not a stream`);
      t.match(r.json, { error: { code: 'INVALID_REQUEST', field } }, `${what}: names ${field}`);
      t.match((r.json.error as { message: string }).message, message);
    }
    const notJson = await post('{"tables": [');
    t.equal(notJson.status, 400);
    t.match(await notJson.json(), { error: { code: 'INVALID_REQUEST' } });
    const plain = await fetch(`${base}${PATH}`, { method: 'POST', body: '{}' });
    t.equal(plain.status, 415, 'not sent as JSON');

    const failed = await collect(grpc.stream('BatchAutoSetup', { tables: [{ name: 'orders', columns: [{ type: 'text' }] }] }));
    t.equal(failed.messages.length, 0, 'gRPC: no message');
    t.match(errorInfo(failed.error), { status: 3, code: 'INVALID_REQUEST', field: 'tables[0].columns[0].name' });
    const none = await collect(grpc.stream('BatchAutoSetup', {}));
    t.match(errorInfo(none.error), { status: 3, code: 'INVALID_REQUEST', field: 'tables' });
    t.equal(await head(), headBefore, 'nothing was stored: no operation started');

    const unknown = await api.get('/api/operations/01a20000-0000-7000-8000-000000000000');
    t.match(unknown, { status: 404, json: { error: { code: 'NOT_FOUND' } } });
    t.equal((await fetch(`${base}/api/operations/01a20000-0000-7000-8000-000000000000/events`)).status, 404);
    const watchUnknown = await collect(grpc.stream('WatchOperation', { operation_id: 'nope' }));
    t.match(errorInfo(watchUnknown.error), { status: 5, code: 'NOT_FOUND' });
  });

  await t.test("the daemon's own jobs as operations: verify, export; reindex refused live", async (t) => {
    const verify = await api.post('/api/operations', { kind: 'verify', actor_id: 'ops-bot', actor_type: 'system' });
    t.equal(verify.status, 202);
    const id = String(verify.json.id);
    t.equal(verify.headers.get('location'), `/api/operations/${id}`);
    t.match(verify.json, { kind: 'verify', actor_id: 'ops-bot', actor_type: 'system' });
    const steps = await allMessages(await fetch(`${base}/api/operations/${id}/events`));
    t.equal(steps[0]?.event, 'started');
    t.equal(steps.at(-1)?.event, 'done');
    const total = (JSON.parse(steps[0]?.data ?? '{}') as { total: number }).total;
    t.match(JSON.parse(steps.at(-1)?.data ?? '{}'), { operation_id: id, summary: { ok: true, checked: total, to_seq: total } });
    t.match((await api.get(`/api/operations/${id}`)).json, { status: 'succeeded', summary: { ok: true } });

    const exp = await api.post('/api/operations', { kind: 'export' });
    const expId = String(exp.json.id);
    const done = (await allMessages(await fetch(`${base}/api/operations/${expId}/events`))).at(-1);
    const summary = (JSON.parse(done?.data ?? '{}') as { summary: { events: number; sha256: string } }).summary;
    const file = await fetch(`${base}/api/operations/${expId}/export`);
    t.equal(file.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
    const text = await file.text();
    t.equal(text.trimEnd().split('\n').length, summary.events);
    const { createHash } = await import('node:crypto');
    t.equal(createHash('sha256').update(text).digest('hex'), summary.sha256, 'the file is the one whose digest is in the log');
    t.equal((await fetch(`${base}/api/operations/${id}/export`)).status, 404, 'a verify has no export file');

    const reindex = await api.post('/api/operations', { kind: 'reindex' });
    t.match(reindex, { status: 400, json: { error: { code: 'INVALID_REQUEST', field: 'kind' } } });
    t.match((reindex.json.error as { message: string }).message, /stop the daemon/);
  });
});

t.test('a shutdown mid-operation closes it as failed; the restarted daemon says so', async (t) => {
  const daemon = await startDaemon(t);
  const r = await fetch(`http://${daemon.httpAddress}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(manyTables(300)) });
  const id = r.headers.get('operation-id') ?? '';
  for await (const m of sseMessages(r)) if (m.event === 'recommend_start') break;
  t.equal(await daemon.stop('SIGTERM'), 0, 'a clean exit');
  const again = await startDaemon(t, { dataDir: daemon.dataDir });
  const op = (await (await fetch(`http://${again.httpAddress}/api/operations/${id}`)).json()) as Record<string, unknown>;
  t.not(op.status, 'running', 'not left running');
  t.comment(`the operation ${String(op.status)}${op.error === undefined ? '' : `: ${String(op.error)}`}`);
  if (op.status === 'failed') t.match(op.error, /^(the daemon shut down before the operation finished|interrupted: the daemon stopped before the operation finished)$/);
  const steps = await allMessages(await fetch(`http://${again.httpAddress}/api/operations/${id}/events`));
  t.equal(steps.at(-1)?.event, op.status === 'failed' ? 'error' : 'done', 'the stream ends with the terminal step');
});
