/**
 * Authentication and authorization of every HTTP route (DESIGN §7) against the real daemon
 * with API keys: a matrix over every route the router has (derived from the route tables,
 * so a new route without a row fails), tenant isolation on every read path (queries,
 * aggregates, the Maysano views, SSE catch-up and live, operations, verify), bound appends,
 * the reserved ops domain, rate and stream limits, /metrics, and logs without secrets.
 * Every JSON response is checked against the served OpenAPI document.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { Guard, type Scope } from '../../../src/auth';
import { HttpServer, Router, addOpsRoutes, registerApiRoutes, type RouteAccess } from '../../../src/api/http';
import { operationOpenApiPaths } from '../../../src/api/http/operation-openapi';
import { registerOperationRoutes } from '../../../src/api/http/operation-routes';
import { loadConfig } from '../../../src/config';
import { Logger, SpineMetrics } from '../../../src/observability';
import { createOperationService } from '../../../src/ops';
import { Store } from '../../../src/store';
import { threeTables } from '../../helpers/auto-setup';
import { startDaemon } from '../../helpers/daemon';
import { sleep } from '../../helpers/events';
import { httpApi, type ApiResponse, type Json } from '../../helpers/http-api';
import { TENANT_KEYS, writeKeys } from '../../helpers/keys';
import { follow, parseMessages, rawStream, type Follower } from '../../helpers/sse';
import { storeDefaults } from '../../helpers/store';

const ORIGIN = 'https://app.example.com';
const BATCH_AUTO_SETUP = '/api/quality-intelligence/batch-auto-setup';

/** What each route needs: the rows of the matrix (OPTIONS preflights and the 405 refusals are open by rule). */
const EXPECTED: Record<string, { scope: Scope | 'open'; allOrganizations?: boolean; tokenInQuery?: boolean }> = {
  'GET /healthz': { scope: 'open' },
  'GET /readyz': { scope: 'open' },
  'GET /api/openapi.json': { scope: 'open' },
  'GET /metrics': { scope: 'admin', allOrganizations: true },
  'GET /api/events/stream': { scope: 'read', tokenInQuery: true },
  'GET /api/events': { scope: 'read' },
  'POST /api/events': { scope: 'append' },
  'GET /api/events/:id': { scope: 'read' },
  'GET /api/head': { scope: 'read' },
  'GET /api/verify': { scope: 'admin' },
  'GET /api/aggregate': { scope: 'read' },
  'GET /api/structural-events': { scope: 'read' },
  'GET /api/products/:id/activities': { scope: 'read' },
  'GET /api/objectives/:id/history': { scope: 'read' },
  [`POST ${BATCH_AUTO_SETUP}`]: { scope: 'append' },
  'POST /api/operations': { scope: 'admin' },
  'GET /api/operations/:id': { scope: 'read' },
  'GET /api/operations/:id/events': { scope: 'read', tokenInQuery: true },
  'GET /api/operations/:id/export': { scope: 'admin' },
};

/** The access a route should declare, by its row (or the rule for preflights and 405s). */
function expectedAccess(method: string, pattern: string): RouteAccess | undefined {
  if (method === 'OPTIONS') return { scope: undefined, tokenInQuery: true, allOrganizations: false };
  if (['PUT', 'PATCH', 'DELETE'].includes(method)) return { scope: undefined, tokenInQuery: false, allOrganizations: false };
  const row = EXPECTED[`${method} ${pattern}`];
  if (row === undefined) return undefined;
  return { scope: row.scope === 'open' ? undefined : row.scope, tokenInQuery: row.tokenInQuery ?? false, allOrganizations: row.allOrganizations ?? false };
}

/** The daemon's routes, registered as main.ts registers them, with their declarations. */
function daemonRoutes(): ReturnType<Router['list']> {
  const { config } = loadConfig({ env: {}, argv: [] });
  const metrics = new SpineMetrics();
  const logger = new Logger('error', () => undefined);
  const router = addOpsRoutes(new Router(), { storeOpen: () => false, shuttingDown: () => false }, metrics);
  registerApiRoutes(router, { store: () => undefined, config, logger, metrics, openApiPaths: operationOpenApiPaths() });
  registerOperationRoutes(router, { service: () => undefined, config, logger });
  return router.list();
}

const errorOf = (r: ApiResponse): Json => (r.json.error as Json | undefined) ?? {};

t.test('HTTP authentication and authorization', async (t) => {
  const keys = writeKeys(t, {
    ...TENANT_KEYS,
    throttled: { scopes: ['read'], rate_limit_per_second: 1 },
    streamer: { scopes: ['read'], max_streams: 2 },
  });
  const daemon = await startDaemon(t, { args: keys.args, env: { EVENT_SPINE_HTTP_CORS_ORIGINS: ORIGIN, EVENT_SPINE_HTTP_SSE_RETRY_MS: '100' } });
  const api = await httpApi(t, daemon.httpAddress); // the document is open
  const base = api.base;
  const as = (id: string): Record<string, string> => ({ authorization: keys.bearer(id) });
  const token = (id: string): string => `access_token=${encodeURIComponent(keys.secret[id] as string)}`;
  const get = (path: string, id?: string): Promise<ApiResponse> => api.get(path, id === undefined ? undefined : as(id));
  const post = (path: string, body: unknown, id?: string): Promise<ApiResponse> => api.post(path, body, id === undefined ? undefined : as(id));
  const headSeq = async (): Promise<number> => Number((await get('/api/head', 'admin')).json.seq);

  /** Posts a batch auto-setup and reads its SSE answer to the end; returns the operation id and the steps. */
  const autoSetup = async (id: string, body: Json): Promise<{ op: string; steps: string[] }> => {
    const res = await fetch(`${base}${BATCH_AUTO_SETUP}`, { method: 'POST', headers: { 'content-type': 'application/json', ...as(id) }, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`auto-setup as ${id}: ${res.status} ${await res.text()}`);
    const steps = parseMessages(await res.text()).map((m) => m.event);
    return { op: String(res.headers.get('operation-id')), steps };
  };
  /** Waits for an operation's end by reading its steps stream to the end. */
  const finished = async (op: string, id: string): Promise<string[]> => {
    const res = await fetch(`${base}/api/operations/${op}/events`, { headers: as(id) });
    return parseMessages(await res.text()).map((m) => m.event);
  };

  // Seed: events of both organizations, Maysano-view events for a product and an
  // objective that both organizations have (same ids), and one operation per organization.
  const seeded = await post(
    '/api/events',
    {
      events: [
        { event_type: 'hcm.employee.created', entity_id: 'e1', actor_id: 'alice', organization_id: 'acme' },
        { event_type: 'hcm.employee.created', entity_id: 'e1', actor_id: 'bob', organization_id: 'globex' },
        { event_type: 'portfolio.product.created', entity_id: 'prod-shared', entity_name: 'Acme API', actor_id: 'alice', organization_id: 'acme', payload: { tier: 'gold' } },
        { event_type: 'portfolio.product.created', entity_id: 'prod-shared', entity_name: 'Globex API', actor_id: 'bob', organization_id: 'globex' },
        { event_type: 'portfolio.product.updated', entity_id: 'prod-shared', entity_name: 'Globex API', actor_id: 'bob', organization_id: 'globex', payload: { field: 'status', old_value: 'draft', new_value: 'live' } },
        { event_type: 'strategy.objective.created', entity_id: 'obj-shared', entity_name: 'Grow ARR', actor_id: 'alice', organization_id: 'acme' },
        { event_type: 'strategy.objective.updated', entity_id: 'obj-shared', entity_name: 'Grow share', actor_id: 'bob', organization_id: 'globex', payload: { field: 'target', old_value: 1, new_value: 2 } },
        { event_type: 'crm.account.created', entity_id: 'a1', actor_id: 'carol', organization_id: 'globex', severity: 'high' },
      ],
    },
    'admin',
  );
  t.equal(seeded.status, 201, 'admin appends to any organization, as any actor');
  const own = await post('/api/events', { event_type: 'portfolio.product.version_published', entity_id: 'prod-shared', entity_name: 'Acme API', payload: { version: '2' } }, 'acme');
  t.equal(own.status, 201, 'acme appends without naming actor or organization');
  const ownEvent = await get(`/api/events/${String((own.json.results as Json[])[0]?.id)}`, 'acme');
  t.match(ownEvent.json, { actor_id: 'svc-acme', organization_id: 'acme' }, "the key's actor and organization are filled in");
  t.equal((await post('/api/events', { events: [{ event_type: 'strategy.objective.updated', entity_id: 'obj-shared', actor_id: 'gina', payload: { field: 'owner', new_value: 'gina' } }] }, 'globex')).status, 201);
  const { op: acmeOp, steps: acmeSteps } = await autoSetup('acme', { ...threeTables(), actor_id: 'svc-acme' });
  const { op: globexOp } = await autoSetup('globex', threeTables());
  t.equal(acmeSteps[acmeSteps.length - 1], 'done', "the auto-setup's SSE answer runs to its end");
  const exportStart = await post('/api/operations', { kind: 'export' }, 'admin');
  t.equal(exportStart.status, 202);
  const exportOp = String(exportStart.json.id);
  const exportSteps = await finished(exportOp, 'admin');
  t.equal(exportSteps[exportSteps.length - 1], 'done', 'the export ran', { steps: exportSteps, view: (await get(`/api/operations/${exportOp}`, 'admin')).json });

  const everything = (await get('/api/events?limit=10000', 'admin')).json.items as Json[];
  const acmeEvents = everything.filter((e) => e.organization_id === 'acme');
  const acmeIds = new Set(acmeEvents.map((e) => String(e.id)));
  const globexEvents = everything.filter((e) => e.organization_id === 'globex');
  t.ok(acmeEvents.some((e) => e.domain === 'ops') && globexEvents.some((e) => e.domain === 'ops'), 'each organization has operation events');
  t.ok(globexEvents.length > 0 && acmeEvents.length > 0);

  t.test('the route matrix: every route the router has', async (t) => {
    const routes = daemonRoutes();
    const doc = api.doc.paths as Record<string, Json>;
    // The in-process routes are the daemon's: each is in the served document and back.
    const templates = new Set(routes.map((r) => `${r.method.toLowerCase()} ${r.pattern.replace(/:(\w+)/g, '{$1}')}`));
    const documented = Object.entries(doc).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
    t.same([...templates].sort(), documented.sort(), 'the routes are exactly the operations of the served document');

    const sample = (pattern: string): string =>
      pattern.startsWith('/api/operations/') ? pattern.replace(':id', acmeOp) : pattern.replace(':id', pattern.startsWith('/api/events') ? '1' : pattern.includes('products') ? 'prod-shared' : 'obj-shared');
    const wrong = `Bearer esk_${'x'.repeat(43)}`;
    const malformed = ['Basic YWRtaW46YWRtaW4=', 'Bearer', `Bearer ${keys.secret.admin as string} extra`, keys.secret.admin as string];
    const lacking: Record<Scope, string> = { read: 'appendonly', append: 'readonly', admin: 'acme' };

    for (const route of routes) {
      const name = `${route.method} ${route.pattern}`;
      const access = expectedAccess(route.method, route.pattern);
      if (access === undefined) {
        t.fail(`${name} has no row in the matrix: add what it needs to EXPECTED`);
        continue;
      }
      t.same(route.access, access, `${name} declares ${access.scope ?? 'open'}`);
      const path = sample(route.pattern);
      const with_ = (q: string): string => `${path}${path.includes('?') ? '&' : '?'}${q}`;
      const send = (p: string, headers: Record<string, string> = {}): Promise<ApiResponse> =>
        api.request(route.method, p, { headers, ...(route.method === 'POST' ? { body: {} } : {}) });

      if (route.method === 'OPTIONS') {
        const r = await send(with_('access_token=anything'));
        t.equal(r.status, 204, `${name}: a preflight needs no key and ignores a token in its URL`);
        continue;
      }
      if (access.scope === undefined) {
        const r = await send(path);
        t.equal(r.status, route.method === 'GET' ? 200 : 405, `${name}: open`);
        const misplaced = await send(with_(token('admin')));
        t.equal(misplaced.status, 400, `${name}: access_token refused`);
        t.match(errorOf(misplaced), { code: 'INVALID_QUERY', field: 'access_token' });
        continue;
      }

      const none = await send(path);
      t.equal(none.status, 401, `${name}: no key`);
      t.equal(errorOf(none).code, 'UNAUTHENTICATED');
      const bad = await send(path, { authorization: wrong });
      t.equal(bad.status, 401, `${name}: unknown key`);
      t.equal(errorOf(bad).code, 'UNAUTHENTICATED');
      for (const value of malformed) {
        const r = await send(path, { authorization: value });
        t.equal(r.status, 401, `${name}: malformed ${value.slice(0, 12)}…`);
        t.equal(errorOf(r).code, 'UNAUTHENTICATED');
      }
      const denied = await send(path, as(lacking[access.scope]));
      t.equal(denied.status, 403, `${name}: ${lacking[access.scope]} lacks ${access.scope}`);
      t.equal(errorOf(denied).code, 'PERMISSION_DENIED');
      if (access.allOrganizations) {
        const limited = await send(path, as('acmeadmin'));
        t.equal(limited.status, 403, `${name}: an admin limited to acme does not see every organization`);
        t.equal(errorOf(limited).code, 'PERMISSION_DENIED');
      }

      // With the scope, the gate lets it through (a POST's empty body is then refused as invalid).
      if (route.pattern === '/api/events/stream') {
        const s = await rawStream(`${base}${path}`, as('admin'));
        t.equal(s.status, 200, `${name}: admin streams`);
        s.abort();
        await s.ended;
      } else {
        const passed = await send(path, as('admin'));
        t.notOk([401, 403, 429].includes(passed.status), `${name}: admin passes the gate (${passed.status})`);
        if (route.method === 'POST') t.equal(passed.status, 400, `${name}: the empty body is refused after the gate`);
      }

      if (access.tokenInQuery) {
        const s = await rawStream(`${base}${with_(token('admin'))}`);
        t.equal(s.status, 200, `${name}: the key as access_token`);
        s.abort();
        await s.ended;
        const unknown = await send(with_('access_token=esk_nope'));
        t.equal(unknown.status, 401, `${name}: an unknown access_token`);
        const both = await send(with_(token('admin')), as('admin'));
        t.equal(both.status, 400, `${name}: header and access_token together are refused (RFC 6750 §3.1)`);
        t.match(errorOf(both), { code: 'INVALID_QUERY', field: 'access_token' });
        const noScope = await send(with_(token(lacking[access.scope])));
        t.equal(noScope.status, 403, `${name}: access_token of a key without ${access.scope}`);
      } else {
        for (const headers of [{}, as('admin')]) {
          const r = await send(with_(token('admin')), headers);
          t.equal(r.status, 400, `${name}: access_token is refused off the streams`);
          t.match(errorOf(r), { code: 'INVALID_QUERY', field: 'access_token' });
          t.match(String(errorOf(r).message), /Authorization header/);
        }
      }
    }
  });

  t.test('acme sees only acme: lists, pages, get, aggregate', async (t) => {
    const list = (await get('/api/events?limit=10000', 'acme')).json.items as Json[];
    t.same(list, acmeEvents, 'the list is exactly the acme events');
    const pages: Json[] = [];
    let cursor: string | null = null;
    do {
      const r: ApiResponse = await get(`/api/events?order=desc&limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, 'acme');
      pages.push(...(r.json.items as Json[]));
      cursor = r.json.nextCursor as string | null;
    } while (cursor !== null);
    t.same(pages, acmeEvents.slice().reverse(), 'pages of 3, newest first: acme only');
    t.same((await get('/api/events?organization_id=acme&limit=10000', 'acme')).json.items, acmeEvents);
    const other = await get('/api/events?organization_id=globex', 'acme');
    t.equal(other.status, 403, 'naming another organization is refused, not answered empty');
    t.match(errorOf(other), { code: 'PERMISSION_DENIED', field: 'organization_id' });
    t.same((await get('/api/events?domain=crm', 'acme')).json.items, [], "globex's crm events do not exist for acme");

    const globexEvent = globexEvents[0] as Json;
    const missingId = '0195a3c2-6f10-7d2e-8a41-3b5c9e7f0a12';
    const answers: [string, string][] = [
      [String(globexEvent.id), missingId],
      [String(globexEvent.seq), '999999'],
    ];
    for (const [ref, missing] of answers) {
      const invisible = await get(`/api/events/${ref}`, 'acme');
      const absent = await get(`/api/events/${missing}`, 'acme');
      t.equal(invisible.status, 404, `a globex event (${ref}) is not found`);
      t.same(errorOf(invisible), { ...errorOf(absent), message: String(errorOf(absent).message).replace(missing, ref) }, 'exactly as a missing one');
    }
    t.equal((await get(`/api/events/${String(acmeEvents[0]?.id)}`, 'acme')).status, 200);
    t.equal((await get(`/api/events/${String(globexEvent.id)}`, 'globex')).status, 200);

    const byType = await get('/api/aggregate?group_by=event_type', 'acme');
    const counts = new Map<string, number>();
    for (const e of acmeEvents) counts.set(String(e.event_type), (counts.get(String(e.event_type)) ?? 0) + 1);
    t.equal(byType.json.total, acmeEvents.length, 'aggregate counts acme events only');
    t.same(new Map((byType.json.groups as Json[]).map((g) => [String(g.key), Number(g.count)])), counts);
    t.same((await get('/api/aggregate?group_by=organization_id', 'acme')).json.groups, [{ key: 'acme', count: acmeEvents.length }]);
    t.equal((await get('/api/aggregate?group_by=domain&organization_id=globex', 'acme')).status, 403);
    t.equal((await get('/api/head', 'acme')).json.seq, everything.length, 'the head is global');
  });

  t.test('acme sees only acme in the three Maysano views', async (t) => {
    for (const path of ['/api/structural-events?limit=1000', '/api/products/prod-shared/activities', '/api/objectives/obj-shared/history']) {
      const all = ((await get(path, 'admin')).json.items as Json[]).map((i) => String(i.id));
      const mine = ((await get(path, 'acme')).json.items as Json[]).map((i) => String(i.id));
      t.ok(all.some((id) => !acmeIds.has(id)), `${path}: globex has items there`);
      t.ok(mine.length > 0, `${path}: acme has items there`);
      t.same(mine, all.filter((id) => acmeIds.has(id)), `${path}: acme's items only, in the view's order`);
    }
    const first = await get('/api/products/prod-shared/activities?limit=1', 'admin');
    const cursor = encodeURIComponent(String(first.json.nextCursor));
    const reused = await get(`/api/products/prod-shared/activities?limit=1&cursor=${cursor}`, 'acme');
    t.equal(reused.status, 400, "an admin's cursor does not carry its view to acme");
    t.equal(errorOf(reused).code, 'INVALID_CURSOR');
  });

  t.test('SSE: catch-up and live, by header and by access_token, never another tenant', async (t) => {
    const url = (q: string): string => `${base}/api/events/stream?from_seq=1${q === '' ? '' : `&${q}`}`;
    const byHeader = follow(t, url(''), { headers: as('acme') });
    const byToken = follow(t, url(token('acme')));
    const globexStream = follow(t, url(token('globex')));
    const adminStream = follow(t, url(''), { headers: as('admin') });
    const streams: [string, Follower][] = [['acme by header', byHeader], ['acme by access_token', byToken], ['globex', globexStream], ['admin', adminStream]];
    for (const [name, f] of streams) await f.until(() => f.markers.some((m) => m.type === 'caught_up'), `${name} caught up`);
    t.same(byHeader.events, acmeEvents, 'catch-up by header: the acme events, all of them');
    t.same(byToken.events, acmeEvents, 'catch-up by access_token: the acme events, all of them');
    t.same(globexStream.events, globexEvents);
    t.same(adminStream.events, everything);

    const g = await post('/api/events', { event_type: 'crm.account.updated', entity_id: 'a1', actor_id: 'carol', organization_id: 'globex' }, 'admin');
    const a = await post('/api/events', { event_type: 'crm.account.updated', entity_id: 'a9' }, 'acme');
    const gid = String((g.json.results as Json[])[0]?.id);
    const aid = String((a.json.results as Json[])[0]?.id);
    const has = (f: Follower, id: string) => (): boolean => f.events.some((e) => e.id === id);
    await byHeader.until(has(byHeader, aid), 'the live acme event by header');
    await byToken.until(has(byToken, aid), 'the live acme event by access_token');
    await globexStream.until(has(globexStream, gid), 'the live globex event');
    await adminStream.until(has(adminStream, aid), 'both live events for admin');
    // Seqs arrive in order: the globex event, appended first, would have come before.
    for (const [name, f] of streams.slice(0, 2)) {
      t.notOk(f.events.some((e) => e.id === gid), `${name}: the globex event never arrives`);
      t.ok(f.events.every((e) => e.organization_id === 'acme'), `${name}: acme events only`);
    }
    t.notOk(globexStream.events.some((e) => e.id === aid), 'globex never gets the acme event');
    t.ok(has(adminStream, gid)(), 'admin gets both');
    for (const [, f] of streams) f.close();
    t.equal(byHeader.errors + byToken.errors, 0, 'no reconnection was needed');

    const other = await get('/api/events/stream?organization_id=globex', 'acme');
    t.equal(other.status, 403, 'a stream of another organization is refused before it starts');
    t.match(errorOf(other), { code: 'PERMISSION_DENIED', field: 'organization_id' });
  });

  t.test('operations: another tenant\'s are not found; exports need every organization', async (t) => {
    t.equal((await get(`/api/operations/${acmeOp}`, 'acme')).status, 200);
    const lookups: [string, string | undefined][] = [
      [`/api/operations/${globexOp}`, 'acme'],
      [`/api/operations/${globexOp}/events`, 'acme'],
      [`/api/operations/${globexOp}/events?${token('acme')}`, undefined],
    ];
    for (const [path, key] of lookups) {
      const r = await get(path, key);
      t.equal(r.status, 404, `acme: ${path.replace(/access_token=[^&]+/, 'access_token=…')}`);
      t.equal(errorOf(r).code, 'NOT_FOUND');
    }
    t.equal((await get(`/api/operations/${acmeOp}`, 'globex')).status, 404, 'and the other way round');
    const steps = await finished(acmeOp, 'acme');
    t.equal(steps.pop(), 'done', "acme replays its own operation's steps");
    // An export holds every organization: refused for any id to a limited key, so the answer says nothing of the id.
    for (const id of [globexOp, acmeOp, '0195a3c2-6f10-7d2e-8a41-3b5c9e7f0a12']) {
      const r = await get(`/api/operations/${id}/export`, 'acmeadmin');
      t.equal(r.status, 403, `a limited admin: export of ${id}`);
      t.equal(errorOf(r).code, 'PERMISSION_DENIED');
    }
    t.equal((await get(`/api/operations/${globexOp}/export`, 'acme')).status, 403, 'acme has no admin scope');
    const file = await fetch(`${base}/api/operations/${exportOp}/export`, { headers: as('admin') });
    const lines = (await file.text()).split('\n').filter((l) => l !== '');
    t.equal(file.status, 200, 'admin downloads the export', { body: lines.slice(0, 2) });
    t.equal(lines.length, everything.filter((e) => e.entity_id !== exportOp).length, 'every event before the export started');
    t.equal((await get(`/api/operations/${globexOp}/export`, 'admin')).status, 404, 'not an export');

    const job = await post('/api/operations', { kind: 'verify' }, 'acmeadmin');
    t.equal(job.status, 202, 'a limited admin starts a verify');
    t.equal(job.json.organization_id, 'acme', 'in its organization');
    const exp = await post('/api/operations', { kind: 'export' }, 'acmeadmin');
    t.equal(exp.status, 403, 'but not an export');
    t.equal(errorOf(exp).code, 'PERMISSION_DENIED');
    t.equal((await finished(String(job.json.id), 'acmeadmin')).pop(), 'done');
    t.equal((await get(`/api/operations/${String(job.json.id)}`, 'globex')).status, 404);

    const appendOnly = await autoSetup('appendonly', threeTables());
    t.equal(appendOnly.steps[appendOnly.steps.length - 1], 'done', 'a key with append alone gets the steps of the auto-setup it started');
    t.equal((await get(`/api/operations/${appendOnly.op}`, 'appendonly')).status, 403, 'reading it later needs read');
  });

  t.test('verify: admin only; a limited admin counts its own events', async (t) => {
    const to = await headSeq();
    const all = await get(`/api/verify?to_seq=${to}`, 'admin');
    t.same(all.json, { ok: true, from_seq: 1, to_seq: to, checked: to });
    const events = (await get(`/api/events?to_seq=${to}&limit=10000`, 'admin')).json.items as Json[];
    const limited = await get(`/api/verify?to_seq=${to}`, 'acmeadmin');
    t.same(limited.json, { ok: true, from_seq: 1, to_seq: to, checked: events.filter((e) => e.organization_id === 'acme').length }, 'checked counts acme events only');
    t.ok(Number(limited.json.checked) < to);
    t.equal((await get('/api/verify', 'acme')).status, 403);
  });

  t.test('appends: bound actor, own organization, no ops domain; nothing stored when refused', async (t) => {
    const before = await headSeq();
    const refusals: [string, unknown, string, string][] = [
      ['acme', { event_type: 'crm.account.updated', entity_id: 'a1', actor_id: 'mallory' }, 'actor_id', 'a spoofed actor'],
      ['acme', { event_type: 'crm.account.updated', entity_id: 'a1', organization_id: 'globex' }, 'organization_id', 'another organization'],
      ['acme', { events: [{ event_type: 'crm.account.updated', entity_id: 'a1' }, { event_type: 'crm.account.updated', entity_id: 'a2', actor_id: 'mallory' }] }, 'events[1].actor_id', 'a spoofed actor in a batch'],
      ['globex', { events: [{ event_type: 'crm.account.updated', entity_id: 'a1', actor_id: 'x' }, { event_type: 'crm.account.updated', entity_id: 'a2', organization_id: 'acme', actor_id: 'x' }] }, 'events[1].organization_id', 'another organization in a batch'],
      ['admin', { event_type: 'ops.operation.done', entity_id: 'op-x', actor_id: 'root' }, 'event_type', 'the ops domain, even for admin'],
      ['admin', { events: [{ event_type: 'ops.operation.started', entity_id: 'op-x', actor_id: 'root' }] }, 'events[0].event_type', 'the ops domain in a batch'],
      ['acme', { event_type: 'ops.operation.done', entity_id: 'op-x' }, 'event_type', 'the ops domain for a tenant'],
    ];
    for (const [key, body, field, what] of refusals) {
      const r = await post('/api/events', body, key);
      t.equal(r.status, 403, `${key}: ${what}`);
      t.match(errorOf(r), { code: 'PERMISSION_DENIED', field });
    }
    t.equal(await headSeq(), before, 'head unchanged: nothing stored');
    const invalid = await post('/api/events', { event_type: 'crm.account.updated', entity_id: '' }, 'acme');
    t.equal(invalid.status, 400, 'validation still names the field');
    t.equal(errorOf(invalid).field, 'entity_id');
    const spoofedAutoSetup = await fetch(`${base}${BATCH_AUTO_SETUP}`, { method: 'POST', headers: { 'content-type': 'application/json', ...as('acme') }, body: JSON.stringify(threeTables()) });
    t.equal(spoofedAutoSetup.status, 403, 'an auto-setup as another actor is refused before it starts');
    t.match(((await spoofedAutoSetup.json()) as Json).error, { code: 'PERMISSION_DENIED', field: 'actor_id' });
    t.equal(await headSeq(), before, 'nothing started');
  });

  t.test('rate limit: 429 RATE_LIMITED with Retry-After', async (t) => {
    let limited: ApiResponse | undefined;
    for (let i = 0; i < 50 && limited === undefined; i++) {
      const r = await get('/api/head', 'throttled');
      if (r.status === 429) limited = r;
      else t.equal(r.status, 200);
    }
    t.ok(limited !== undefined, 'a key of 1 call a second is limited within 50 calls');
    if (limited === undefined) return;
    t.equal(errorOf(limited).code, 'RATE_LIMITED');
    t.ok(Number(limited.headers.get('retry-after')) >= 1, 'Retry-After in seconds');
  });

  t.test('stream limit: max_streams 2 → the third is 429; one closed, a new one works', async (t) => {
    const first = await rawStream(`${base}/api/events/stream`, as('streamer'));
    const second = await rawStream(`${base}/api/events/stream?${token('streamer')}`);
    t.equal(first.status, 200);
    t.equal(second.status, 200);
    for (const path of ['/api/events/stream', `/api/operations/${acmeOp}/events`]) {
      const third = await get(path, 'streamer');
      t.equal(third.status, 429, `a third stream: ${path}`);
      t.equal(errorOf(third).code, 'RATE_LIMITED');
      t.ok(Number(third.headers.get('retry-after')) >= 1);
    }
    t.equal((await get('/api/head', 'streamer')).status, 200, 'plain requests are not streams');
    first.abort();
    await first.ended;
    // The daemon frees the slot once it sees the connection close.
    let again: Awaited<ReturnType<typeof rawStream>> | undefined;
    for (let i = 0; i < 200 && again === undefined; i++) {
      const s = await rawStream(`${base}/api/events/stream`, as('streamer'));
      if (s.status === 200) again = s;
      else {
        t.equal(s.status, 429);
        await s.ended;
        await sleep(10);
      }
    }
    t.ok(again !== undefined, 'a new stream once one closed');
    again?.abort();
    second.abort();
    await Promise.all([again?.ended, second.ended]);
  });

  t.test('/metrics: admin of every organization only', async (t) => {
    const none = await api.get('/metrics');
    t.equal(none.status, 401);
    t.equal(errorOf(none).code, 'UNAUTHENTICATED');
    for (const key of ['acme', 'acmeadmin', 'readonly']) {
      const r = await get('/metrics', key);
      t.equal(r.status, 403, key);
      t.equal(errorOf(r).code, 'PERMISSION_DENIED');
    }
    const ok = await get('/metrics', 'admin');
    t.equal(ok.status, 200);
    t.match(ok.text, /eventspine_auth_denials_total\{surface="http",code="UNAUTHENTICATED",key="none"\} \d+/);
    t.match(ok.text, /eventspine_auth_denials_total\{surface="http",code="PERMISSION_DENIED",key="acme"\} \d+/);
    t.match(ok.text, /eventspine_auth_denials_total\{surface="http",code="RATE_LIMITED",key="throttled"\} \d+/);
  });

  t.test('CORS: preflights need no key and allow the Authorization header; refusals carry CORS headers', async (t) => {
    const preflight = await api.request('OPTIONS', `/api/events/stream?${token('acme')}`, { headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    t.equal(preflight.status, 204);
    t.match(String(preflight.headers.get('access-control-allow-headers')), /authorization/);
    const refused = await api.get('/api/events', { origin: ORIGIN });
    t.equal(refused.status, 401);
    t.equal(refused.headers.get('access-control-allow-origin'), ORIGIN, 'a browser can read the 401');
  });

  t.test('the OpenAPI document describes the security', async (t) => {
    const components = api.doc.components as Json;
    t.match(components.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer' }, accessToken: { type: 'apiKey', in: 'query', name: 'access_token' } });
    const paths = api.doc.paths as Record<string, Record<string, Json>>;
    t.same(paths['/api/events']?.get?.security, [{ bearerAuth: ['read'] }]);
    t.same(paths['/api/events/stream']?.get?.security, [{ bearerAuth: ['read'] }, { accessToken: ['read'] }]);
    t.same(paths['/healthz']?.get?.security, []);
    for (const stream of ['/api/events/stream', '/api/operations/{id}/events']) {
      t.ok((paths[stream]?.get?.parameters as Json[]).some((p) => p.name === 'access_token' && p.in === 'query'), `${stream} documents access_token`);
    }
    t.notOk((paths['/api/events']?.get?.parameters as Json[]).some((p) => p.name === 'access_token'));
  });

  t.test('logs: refusals by route and key id, never a secret nor a URL with a token', async (t) => {
    const text = JSON.stringify(daemon.logs) + daemon.stderr();
    for (const [id, secret] of Object.entries(keys.secret)) t.notOk(text.includes(secret), `the secret of ${id} is in no log line`);
    t.notMatch(text, /access_token=/, 'no URL with a token');
    const refused = daemon.logs.filter((r) => r.msg === 'call refused' && r.surface === 'http');
    t.ok(refused.some((r) => r.call === 'GET /api/events/stream' && r.code === 'UNAUTHENTICATED' && r.key === 'none'), 'an unauthenticated stream, by route');
    t.ok(refused.some((r) => r.call === 'POST /api/events' && r.code === 'PERMISSION_DENIED' && r.key === 'acme'), 'a spoofed append, by key id');
    t.ok(refused.every((r) => !String(r.call).includes('?')), 'calls are route patterns, never URLs');
  });
});

t.test("a keys reload ends the operation SSE streams of a revoked key; another key's runs to the end", async (t) => {
  const dir = t.testdir();
  const keys = writeKeys(t, { revoked: { scopes: ['read'] }, kept: { scopes: ['read'] } }, dir);
  const lines: string[] = [];
  const logger = new Logger('debug', (line) => lines.push(line));
  const metrics = new SpineMetrics();
  const guard = new Guard({ mode: 'keys', keysFile: keys.file, rateLimitPerSecond: 0, rateLimitBurst: 0, maxStreamsPerKey: 8, logger, metrics });
  const { config } = loadConfig({ env: {}, argv: [] });
  const store = await Store.open({ ...storeDefaults, dataDir: dir });
  const service = createOperationService(store, { ...config, dataDir: dir }, (message, details) => logger.warn(message, details));
  const router = new Router();
  registerOperationRoutes(router, { service: () => service, config, logger, guard });
  const http = new HttpServer({ router, logger, metrics });
  const base = `http://${await http.listen('127.0.0.1', 0)}`;
  // A real operation that runs until the test lets it finish.
  let finish = (): void => undefined;
  const released = new Promise<void>((resolve) => (finish = resolve));
  t.teardown(async () => {
    finish();
    await service.operations.close();
    await http.close(1_000);
    await store.close();
  });
  const started = await service.operations.start('verify', { actor_id: 'test' }, { step: 'verify_start', data: {} }, async (ctx) => {
    await Promise.race([released, new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))]);
    return {};
  });
  const url = `${base}/api/operations/${started.id}/events`;
  const revoked = await rawStream(url, { authorization: keys.bearer('revoked') });
  const kept = await rawStream(url, { authorization: keys.bearer('kept') });
  t.equal(revoked.status, 200);
  t.equal(kept.status, 200);
  t.equal(guard.openStreams('revoked'), 1, 'the stream holds its slot once its headers are out');

  const entries = (JSON.parse(readFileSync(keys.file, 'utf8')) as { keys: Json[] }).keys;
  writeFileSync(keys.file, JSON.stringify({ keys: entries.filter((k) => k.id !== 'revoked') }));
  t.match(guard.reload(), { removed: ['revoked'], streamsEnded: 1 });
  await revoked.ended;
  t.match(revoked.text(), /\n: UNAUTHENTICATED: key revoked was revoked[^\n]*; resume with Last-Event-ID: \d+\n\n$/, 'the response ends with a comment naming UNAUTHENTICATED');
  t.equal(guard.openStreams('revoked'), 0, 'its slot given back');
  const again = await fetch(url, { headers: { authorization: keys.bearer('revoked') } });
  t.equal(again.status, 401, 'a reconnect with the revoked key is 401');

  finish();
  await kept.ended;
  t.equal(parseMessages(kept.text()).at(-1)?.event, 'done', "the other key's stream runs to the operation's end");
  t.equal(guard.openStreams('kept'), 0);
  const text = lines.join('');
  for (const secret of Object.values(keys.secret)) t.notOk(text.includes(secret), 'no secret in the logs');
});
