/**
 * The REST API against the real daemon, through node's fetch; every JSON response is
 * checked against the served OpenAPI document (test/helpers/http-api.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BIN, REPO_ROOT, daemonEnv, startDaemon } from '../../helpers/daemon';
import { sleep } from '../../helpers/events';
import { allPages, httpApi, type Json } from '../../helpers/http-api';

const ORIGIN = 'https://app.example.com';

const EVENTS: Json[] = [
  { event_type: 'hcm.employee.created', entity_id: 'e1', entity_name: 'Zoë', actor_id: 'alice', organization_id: 'acme', environment: 'prod', severity: 'low', payload: { b: 1, a: { '10': 1, '9': 2 } } },
  { event_type: 'hcm.employee.updated', entity_id: 'e1', actor_id: 'bob', organization_id: 'acme', environment: 'test', severity: 'high', payload: { field: 'fte', old_value: 0.8, new_value: 1 } },
  { event_type: 'hcm.contract.signed', entity_id: 'c1', actor_id: 'alice', organization_id: 'globex', severity: 'medium' },
  { event_type: 'crm.account.created', entity_id: 'a1', actor_id: 'carol', organization_id: 'globex', environment: 'dev', severity: 'critical' },
  { event_type: 'crm.account.updated', entity_id: 'a1', actor_id: 'alice', actor_type: 'system', organization_id: 'acme', payload: { tier: 'gold' } },
  { event_type: 'hcm.employee.updated', entity_id: 'e2', actor_id: 'bob', organization_id: 'acme', severity: 'high' },
  { event_type: 'crm.contact.created', entity_id: 'k1', actor_id: 'carol', organization_id: 'acme', environment: 'stage' },
];

const FIELDS = ['seq', 'id', 'event_type', 'domain', 'entity_type', 'action', 'entity_id', 'actor_id', 'actor_type', 'organization_id', 'environment', 'timestamp', 'severity', 'payload', 'payload_hash', 'previous_hash', 'event_hash'];

t.test('REST endpoints on a real daemon', async (t) => {
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_HTTP_CORS_ORIGINS: `${ORIGIN},http://localhost:3000` } });
  const api = await httpApi(t, daemon.httpAddress);

  t.test('the OpenAPI document covers the whole surface', async (t) => {
    const paths = Object.keys(api.doc.paths as Json);
    for (const p of ['/healthz', '/readyz', '/metrics', '/api/openapi.json', '/api/events', '/api/events/stream', '/api/events/{id}', '/api/head', '/api/verify', '/api/aggregate', '/api/structural-events', '/api/products/{id}/activities', '/api/objectives/{id}/history']) {
      t.ok(paths.includes(p), `documents ${p}`);
    }
    const schemas = Object.keys((api.doc.components as Json).schemas as Json);
    for (const s of ['Event', 'AppendResult', 'StructuralEvent', 'ProductActivity', 'ObjectiveHistoryEntry', 'Error']) t.ok(schemas.includes(s), `schema ${s}`);
  });

  t.test('health, readiness, metrics', async (t) => {
    t.equal((await api.get('/healthz')).status, 200);
    t.same((await api.get('/readyz')).json, { status: 'ready' });
    const metrics = await api.get('/metrics');
    t.equal(metrics.status, 200);
    t.match(metrics.text, /eventspine_http_requests_total/);
  });

  t.test('an empty store', async (t) => {
    const head = await api.get('/api/head');
    t.same(head.json, { seq: 0, event_hash: '0'.repeat(64), timestamp: null });
    t.same((await api.get('/api/events')).json, { items: [], nextCursor: null });
    t.same((await api.get('/api/verify')).json.ok, true);
  });

  const stored: Json[] = [];

  t.test('POST /api/events: one event, then a batch', async (t) => {
    const one = await api.post('/api/events', EVENTS[0]);
    t.equal(one.status, 201);
    const [r] = one.json.results as Json[];
    t.match(r, { seq: 1, deduplicated: false });
    t.equal(one.headers.get('location'), `/api/events/${String(r?.id)}`);

    const batch = await api.post('/api/events', { events: EVENTS.slice(1) });
    t.equal(batch.status, 201);
    t.same((batch.json.results as Json[]).map((x) => x.seq), [2, 3, 4, 5, 6, 7]);
    t.equal(batch.headers.get('location'), null, 'no Location for a batch');

    const got = await api.get(String(one.headers.get('location')));
    t.equal(got.status, 200);
    t.same(Object.keys(got.json).sort(), [...FIELDS, 'entity_name'].sort(), 'every field of DESIGN §1');
    t.match(got.json, { seq: 1, event_type: 'hcm.employee.created', domain: 'hcm', entity_type: 'employee', action: 'created', entity_name: 'Zoë', actor_type: 'human', previous_hash: '0'.repeat(64), event_hash: r?.event_hash, timestamp: r?.timestamp });
    t.ok(got.text.includes('"payload":{"a":{"10":1,"9":2},"b":1}'), 'payload is the stored canonical text, spliced verbatim');
    t.same(got.json.payload, { a: { '10': 1, '9': 2 }, b: 1 });

    const all = await api.get('/api/events?limit=100');
    stored.push(...(all.json.items as Json[]));
    t.equal(stored.length, 7);
    t.same(Object.keys(stored[2] as Json).sort(), FIELDS.slice().sort(), 'no entity_name when the event has none');
    t.same(stored[2]?.payload, {}, 'payload defaults to {}');
  });

  t.test('idempotent retries by id', async (t) => {
    const id = '0195a3c2-6f10-7d2e-8a41-3b5c9e7f0a12';
    const first = await api.post('/api/events', { ...EVENTS[6], id });
    const again = await api.post('/api/events', { ...EVENTS[6], id });
    t.equal(again.status, 201);
    t.match((again.json.results as Json[])[0], { seq: (first.json.results as Json[])[0]?.seq, deduplicated: true });
    const conflict = await api.post('/api/events', { ...EVENTS[6], id, severity: 'critical' });
    t.equal(conflict.status, 409);
    t.equal((conflict.json.error as Json).code, 'ID_CONFLICT');
    const got = await api.get(`/api/events/${id.toUpperCase()}`);
    t.equal(got.json.seq, 8, 'found by id in any case');
    stored.push(got.json);
  });

  t.test('GET /api/events/:id by seq, and what is not there', async (t) => {
    t.same((await api.get('/api/events/3')).json, stored[2]);
    const missingSeq = await api.get('/api/events/999');
    t.equal(missingSeq.status, 404);
    t.equal((missingSeq.json.error as Json).code, 'NOT_FOUND');
    t.equal((await api.get('/api/events/00000000-0000-4000-8000-000000000000')).status, 404);
    const bad = await api.get('/api/events/not-an-id');
    t.equal(bad.status, 400);
    t.equal((bad.json.error as Json).code, 'INVALID_ID');
  });

  t.test('every Query filter as a query parameter', async (t) => {
    const ts = (i: number): string => String(stored[i]?.timestamp);
    const cases: [string, (e: Json) => boolean][] = [
      ['entity_type=employee&entity_id=e1', (e) => e.entity_type === 'employee' && e.entity_id === 'e1'],
      ['entity_type=account', (e) => e.entity_type === 'account'],
      ['event_type=hcm.employee.updated', (e) => e.event_type === 'hcm.employee.updated'],
      ['event_type=hcm.', (e) => String(e.event_type).startsWith('hcm.')],
      ['event_type=crm.account.', (e) => String(e.event_type).startsWith('crm.account.')],
      ['domain=crm', (e) => e.domain === 'crm'],
      ['organization_id=globex', (e) => e.organization_id === 'globex'],
      ['actor_id=alice', (e) => e.actor_id === 'alice'],
      ['severity=high', (e) => e.severity === 'high'],
      ['environment=prod', (e) => e.environment === 'prod'],
      [`since=${ts(3)}`, (e) => String(e.timestamp) >= ts(3)],
      [`until=${ts(3)}`, (e) => String(e.timestamp) < ts(3)],
      ['from_seq=3&to_seq=5', (e) => Number(e.seq) >= 3 && Number(e.seq) <= 5],
      ['domain=hcm&actor_id=bob&severity=high', (e) => e.domain === 'hcm' && e.actor_id === 'bob' && e.severity === 'high'],
    ];
    for (const [qs, pred] of cases) {
      const expected = stored.filter(pred).map((e) => e.seq);
      t.ok(expected.length > 0, `${qs} selects something`);
      t.same(((await api.get(`/api/events?${qs}`)).json.items as Json[]).map((e) => e.seq), expected, qs);
      t.same(((await api.get(`/api/events?${qs}&order=desc`)).json.items as Json[]).map((e) => e.seq), expected.slice().reverse(), `${qs} desc`);
      t.same((await allPages(api, `/api/events?${qs}&order=desc`, 2)).items.map((e) => e.seq), expected.slice().reverse(), `${qs} desc, pages of 2`);
    }
    const pages = await allPages(api, '/api/events', 3);
    t.same(pages.pages.map((p) => p.length), [3, 3, 2], 'pages of 3 over 8 events');
    t.same(pages.items, stored, 'pages put together are the whole log');
  });

  t.test('head, verify, aggregate', async (t) => {
    const last = stored[stored.length - 1] as Json;
    t.same((await api.get('/api/head')).json, { seq: last.seq, event_hash: last.event_hash, timestamp: last.timestamp });
    t.same((await api.get('/api/verify')).json, { ok: true, from_seq: 1, to_seq: 8, checked: 8 });
    t.same((await api.get('/api/verify?from_seq=2&to_seq=4&check_index=true')).json, { ok: true, from_seq: 2, to_seq: 4, checked: 3 });
    const agg = await api.get('/api/aggregate?group_by=domain');
    t.same(agg.json, { group_by: 'domain', total: 8, groups: [{ key: 'crm', count: 4 }, { key: 'hcm', count: 4 }] });
    const byActor = await api.get('/api/aggregate?group_by=actor_id&domain=hcm');
    t.same(byActor.json, { group_by: 'actor_id', total: 4, groups: [{ key: 'alice', count: 2 }, { key: 'bob', count: 2 }] });
    const day = await api.get('/api/aggregate?group_by=day');
    t.equal((day.json.groups as Json[]).reduce((n, g) => n + Number(g.count), 0), 8);
    t.equal((await api.get('/api/aggregate')).status, 400, 'group_by is required');
    t.equal((await api.get('/api/aggregate?group_by=colour')).status, 400);
  });

  t.test('PUT, PATCH and DELETE on any event resource: 405 IMMUTABLE with Allow', async (t) => {
    const resources: [string, string][] = [
      ['/api/events', 'GET, HEAD, OPTIONS, POST'],
      ['/api/events/1', 'GET, HEAD, OPTIONS'],
      [`/api/events/${String(stored[0]?.id)}`, 'GET, HEAD, OPTIONS'],
      ['/api/events/stream', 'GET, HEAD, OPTIONS'],
      ['/api/structural-events', 'GET, HEAD, OPTIONS'],
      ['/api/products/p1/activities', 'GET, HEAD, OPTIONS'],
      ['/api/objectives/o1/history', 'GET, HEAD, OPTIONS'],
    ];
    for (const [path, allow] of resources) {
      for (const method of ['PUT', 'PATCH', 'DELETE']) {
        const r = await api.request(method, path, { body: { event_type: 'x.y.z' } });
        t.equal(r.status, 405, `${method} ${path}`);
        t.equal((r.json.error as Json).code, 'IMMUTABLE');
        t.match(String((r.json.error as Json).message), /^events are immutable: /);
        t.same(String(r.headers.get('allow')).split(', ').sort(), allow.split(', ').sort(), `${method} ${path} Allow`);
      }
    }
    t.equal((await api.get('/api/head')).json.seq, 8, 'nothing changed');
    const post = await api.request('POST', '/api/events/1');
    t.equal(post.status, 405, 'POST on one event is not allowed either');
    t.notMatch(String(post.headers.get('allow')), /PUT|PATCH|DELETE/, 'refusing routes are not advertised');
  });

  t.test('CORS for the configured origins', async (t) => {
    const allowed = await api.get('/api/head', { origin: ORIGIN });
    t.equal(allowed.headers.get('access-control-allow-origin'), ORIGIN);
    t.match(String(allowed.headers.get('vary')), /Origin/);
    const other = await api.get('/api/head', { origin: 'https://evil.example' });
    t.equal(other.headers.get('access-control-allow-origin'), null);
    const errorResponse = await api.get('/api/events/999', { origin: ORIGIN });
    t.equal(errorResponse.headers.get('access-control-allow-origin'), ORIGIN, 'errors carry CORS headers too');

    const preflight = await api.request('OPTIONS', '/api/events', { headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    t.equal(preflight.status, 204);
    t.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    t.match(String(preflight.headers.get('access-control-allow-methods')), /POST/);
    t.match(String(preflight.headers.get('access-control-allow-headers')), /content-type/);
    const refused = await api.request('OPTIONS', '/api/events', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    t.equal(refused.status, 204);
    t.equal(refused.headers.get('access-control-allow-origin'), null);
    const stream = await api.request('OPTIONS', '/api/events/stream', { headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' } });
    t.match(String(stream.headers.get('access-control-allow-headers')), /last-event-id/);
  });
});

t.test('an invalid http.corsOrigins stops the start with a clear message', async (t) => {
  await t.rejects(startDaemon(t, { env: { EVENT_SPINE_HTTP_CORS_ORIGINS: 'app.example.com/' } }), /http\.corsOrigins/);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

t.test('while the store opens the API answers 503 NOT_READY, then serves', async (t) => {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'event-spine-test-'));
  const proc = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--grpc-port', '0', '--http-port', String(port)], { cwd: REPO_ROOT, env: daemonEnv(), stdio: 'ignore' });
  t.teardown(() => {
    proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  const seen = new Map<string, number>();
  const deadline = Date.now() + 20_000;
  let api: Awaited<ReturnType<typeof httpApi>> | undefined;
  while (Date.now() < deadline) {
    try {
      api ??= await httpApi(t, `127.0.0.1:${port}`); // the document is served before the store opens
      const r = await api.get('/api/head');
      const key = r.status === 200 ? '200' : `${r.status} ${String((r.json.error as Json | undefined)?.code)}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (r.status === 200) break;
    } catch {
      await sleep(5); // not listening yet
    }
  }
  t.ok(seen.has('200'), 'ready in the end');
  for (const key of seen.keys()) t.ok(key === '200' || key === '503 NOT_READY', `while starting: ${key}`);
  t.comment(`responses while starting: ${JSON.stringify([...seen])}`);
});
