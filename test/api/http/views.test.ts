/**
 * The Maysano views (seed 000) against the real daemon: events appended over gRPC and over
 * POST /api/events come back in each view with exactly the seed's fields, newest first,
 * paged without loss or overlap (also while events are appended between pages).
 */
import t from 'tap';
import { startDaemon } from '../../helpers/daemon';
import { spineClient, type SpineClient } from '../../helpers/grpc-client';
import { allPages, httpApi, type HttpApi, type Json } from '../../helpers/http-api';

const STRUCTURAL_FIELDS = ['id', 'entityType', 'entityId', 'entityName', 'eventType', 'metadata', 'createdAt'];
const ACTIVITY_FIELDS = ['id', 'productId', 'productName', 'activityType', 'description', 'details', 'performedBy', 'createdAt'];
const HISTORY_FIELDS = ['id', 'objectiveId', 'action', 'field', 'oldValue', 'newValue', 'summary', 'performedBy', 'createdAt'];

interface Sent {
  id: string;
  seq: number;
}

/** Appends one event, over gRPC (payload as JSON text) or HTTP, alternating by `via`. */
async function append(api: HttpApi, grpc: SpineClient, via: 'grpc' | 'http', event: Json): Promise<Sent> {
  if (via === 'grpc') {
    const wire = { ...event, ...(event.payload === undefined ? {} : { payload: JSON.stringify(event.payload) }) };
    const res = await grpc.call<{ results: Json[] }>('Append', { events: [wire] });
    const r = res.results[0] as Json;
    return { id: String(r.id), seq: Number(r.seq) };
  }
  const res = await api.post('/api/events', event);
  if (res.status !== 201) throw new Error(`append: ${res.status} ${res.text}`);
  const r = (res.json.results as Json[])[0] as Json;
  return { id: String(r.id), seq: Number(r.seq) };
}

/**
 * Runs a verify operation to its end: the daemon writes its steps in the ops domain (no
 * caller may append there itself). Returns those events.
 */
async function opsRun(api: HttpApi): Promise<Sent[]> {
  const started = await api.post('/api/operations', { kind: 'verify' });
  if (started.status !== 202) throw new Error(`operation: ${started.status} ${started.text}`);
  const id = String(started.json.id);
  await (await fetch(`${api.base}/api/operations/${id}/events`)).text(); // ends after the terminal step
  const steps = (await api.get(`/api/events?entity_type=operation&entity_id=${id}`)).json.items as Json[];
  return steps.map((e) => ({ id: String(e.id), seq: Number(e.seq) }));
}

t.test('the Maysano views', async (t) => {
  const daemon = await startDaemon(t);
  const api = await httpApi(t, daemon.httpAddress);
  const grpc = spineClient(t, daemon.grpcAddress);

  // A product and an objective with every kind of change, plus noise around them.
  const product: Sent[] = [];
  const objective: Sent[] = [];
  const opsEvents: Sent[] = [];
  const p = (action: string, payload: Json | undefined, over: Json = {}): Json => ({
    event_type: `portfolio.product.${action}`,
    entity_id: 'prod-1',
    entity_name: 'Billing API',
    actor_id: 'user-ana',
    ...(payload === undefined ? {} : { payload }),
    ...over,
  });
  const o = (action: string, payload: Json | undefined): Json => ({
    event_type: `strategy.objective.${action}`,
    entity_id: 'obj-7',
    entity_name: 'Grow ARR',
    actor_id: 'user-ben',
    ...(payload === undefined ? {} : { payload }),
  });

  product.push(await append(api, grpc, 'grpc', p('created', { tier: 'gold' })));
  objective.push(await append(api, grpc, 'http', o('created', undefined)));
  opsEvents.push(...(await opsRun(api)));
  product.push(await append(api, grpc, 'http', p('updated', { field: 'status', old_value: 'draft', new_value: 'published' })));
  product.push(await append(api, grpc, 'grpc', p('version_published', { description: 'Version 2.1 published', version: '2.1' }, { event_type: 'catalog.product.version_published' })));
  product.push(await append(api, grpc, 'http', p('governance_attached', { changes: [{ field: 'policy', old: null, new: 'gdpr' }, { field: 'owner', old: 'a', new: 'b' }] })));
  objective.push(await append(api, grpc, 'grpc', o('updated', { field: 'target', oldValue: 10, newValue: 12 })));
  objective.push(await append(api, grpc, 'http', o('status_changed', { changes: [{ field: 'status', old_value: 'draft', new_value: 'active' }] })));
  objective.push(await append(api, grpc, 'grpc', o('kpi_linked', { kpi_id: 'kpi-3', summary: 'KPI "Churn" linked' })));
  await append(api, grpc, 'http', p('created', undefined, { entity_id: 'prod-2', entity_name: 'Other' }));
  await append(api, grpc, 'grpc', { event_type: 'hcm.employee.created', entity_id: 'e-1', actor_id: 'hr' });

  t.test('product activities: the seed fields, newest first', async (t) => {
    const r = await api.get('/api/products/prod-1/activities');
    const items = r.json.items as Json[];
    t.same(items.map((i) => i.id), product.map((e) => e.id).reverse(), 'this product only, newest first');
    for (const item of items) t.same(Object.keys(item), ACTIVITY_FIELDS, 'exactly the seed fields');
    t.same(items.map((i) => i.activityType), ['governance_attached', 'version_published', 'updated', 'created']);
    t.same(items.map((i) => i.description), [
      'Product "Billing API" governance attached: policy, owner changed',
      'Version 2.1 published',
      'Product "Billing API" updated: status changed from "draft" to "published"',
      'Product "Billing API" created',
    ]);
    t.match(items[3], { productId: 'prod-1', productName: 'Billing API', details: { tier: 'gold' }, performedBy: 'user-ana' });
    const ev = await api.get(`/api/events/${String(items[3]?.id)}`);
    t.equal(items[3]?.createdAt, ev.json.timestamp, 'createdAt is the timestamp');
    t.same((await api.get('/api/products/nobody/activities')).json, { items: [], nextCursor: null });
  });

  t.test('objective history: field, oldValue, newValue, summary', async (t) => {
    const items = (await api.get('/api/objectives/obj-7/history')).json.items as Json[];
    t.same(items.map((i) => i.id), objective.map((e) => e.id).reverse());
    for (const item of items) t.same(Object.keys(item), HISTORY_FIELDS, 'exactly the seed fields');
    const [linked, status, target, created] = items;
    t.match(linked, { action: 'kpi_linked', field: null, oldValue: null, newValue: null, summary: 'KPI "Churn" linked', performedBy: 'user-ben' });
    t.match(status, { action: 'status_changed', field: 'status', oldValue: 'draft', newValue: 'active', summary: 'Objective "Grow ARR" status changed: status changed from "draft" to "active"' });
    t.match(target, { action: 'updated', field: 'target', oldValue: 10, newValue: 12, summary: 'Objective "Grow ARR" updated: target changed from 10 to 12' });
    t.match(created, { objectiveId: 'obj-7', action: 'created', field: null, summary: 'Objective "Grow ARR" created' });
  });

  t.test('structural events: every domain but ops, entityType and time filters', async (t) => {
    const all = (await api.get('/api/events?order=desc&limit=1000')).json.items as Json[];
    const items = (await api.get('/api/structural-events')).json.items as Json[];
    t.same(items.map((i) => i.id), all.filter((e) => e.domain !== 'ops').map((e) => e.id), 'newest first, ops left out');
    t.ok(opsEvents.length > 0, 'an operation wrote ops events');
    t.notOk(items.some((i) => opsEvents.some((o) => o.id === i.id)));
    for (const item of items) t.same(Object.keys(item), STRUCTURAL_FIELDS, 'exactly the seed fields');
    const first = items[items.length - 1] as Json;
    t.match(first, { entityType: 'product', entityId: 'prod-1', entityName: 'Billing API', eventType: 'created', metadata: { tier: 'gold' } });
    const employee = items.find((i) => i.entityType === 'employee') as Json;
    t.equal(employee.entityName, null, 'entityName is null when the event has no entity_name');
    t.same(employee.metadata, {});

    const objectives = (await api.get('/api/structural-events?entityType=objective')).json.items as Json[];
    t.same(objectives.map((i) => i.id), objective.map((e) => e.id).reverse());
    const since = String(objectives[1]?.createdAt);
    const recent = (await api.get(`/api/structural-events?since=${since}`)).json.items as Json[];
    t.ok(recent.every((i) => String(i.createdAt) >= since));
    t.ok(recent.length >= 2);
    const older = (await api.get(`/api/structural-events?until=${since}`)).json.items as Json[];
    t.ok(older.every((i) => String(i.createdAt) < since));
    t.equal(recent.length + older.length, items.length, 'since and until split the view');
  });

  t.test('paging without loss or overlap, also while events arrive', async (t) => {
    // 40 more activities for one product, alternating gRPC and HTTP, operations' events in between.
    const sent: Sent[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(await append(api, grpc, i % 2 === 0 ? 'grpc' : 'http', p('updated', { field: 'price', old_value: i, new_value: i + 1 }, { entity_id: 'prod-9' })));
      if (i % 13 === 0) await opsRun(api);
    }
    const expected = sent.map((e) => e.id).reverse();
    const paged = await allPages(api, '/api/products/prod-9/activities', 7);
    t.same(paged.pages.map((pg) => pg.length), [7, 7, 7, 7, 7, 5]);
    t.same(paged.items.map((i) => i.id), expected, 'every activity once, newest first');
    t.same(paged.items.map((i) => i.description), paged.items.map((_, k) => `Product "Billing API" updated: price changed from ${39 - k} to ${40 - k}`));

    // Appends between pages land before the first page, never inside the walk.
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const r: Awaited<ReturnType<HttpApi['get']>> = await api.get(`/api/products/prod-9/activities?limit=9${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      walked.push(...(r.json.items as Json[]).map((i) => String(i.id)));
      cursor = r.json.nextCursor as string | null;
      await append(api, grpc, 'http', p('updated', { field: 'price' }, { entity_id: 'prod-9' }));
    } while (cursor !== null);
    t.same(walked, expected, 'no loss, no overlap; new events do not shift the walk');

    const structural = await allPages(api, '/api/structural-events', 6);
    const all = (await api.get('/api/events?order=desc&limit=1000')).json.items as Json[];
    const expectedStructural = all.filter((e) => e.domain !== 'ops').map((e) => e.id);
    t.same(structural.items.map((i) => i.id), expectedStructural, 'structural pages skip ops events, lose nothing, overlap nowhere');
  });

  t.test('view cursors are bound to their view and filters', async (t) => {
    const first = await api.get('/api/products/prod-9/activities?limit=2');
    const cursor = encodeURIComponent(String(first.json.nextCursor));
    t.equal((await api.get(`/api/products/prod-1/activities?cursor=${cursor}`)).status, 400);
    t.equal((await api.get(`/api/objectives/prod-9/history?cursor=${cursor}`)).status, 400);
    t.equal((await api.get(`/api/structural-events?cursor=${cursor}`)).status, 400);
    const bad = await api.get('/api/structural-events?cursor=AAAA');
    t.equal((bad.json.error as Json).code, 'INVALID_CURSOR');
    t.equal((await api.get(`/api/products/prod-9/activities?limit=2&cursor=${cursor}`)).status, 200);
  });
});
