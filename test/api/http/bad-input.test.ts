/**
 * Bad input over HTTP: every refusal has its documented status and code, and nothing of a
 * refused request is stored (the head does not move).
 */
import { request } from 'node:http';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon';
import { httpApi, jsonEvent, type Json } from '../../helpers/http-api';

const MAX_BODY = 100_000;

/** A chunked POST (no Content-Length) of `total` bytes: the server learns the size only by reading. */
function chunkedPost(address: string, total: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const [host, port] = address.split(':');
    const req = request({ host, port: Number(port), method: 'POST', path: '/api/events', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const write = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    req.write('{"event_type":"a.b.c","entity_id":"x","actor_id":"y","payload":{"pad":"');
    write();
  });
}

t.test('bad input is refused with the documented error, and nothing is stored', async (t) => {
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_LIMITS_MAX_HTTP_BODY_BYTES: String(MAX_BODY), EVENT_SPINE_LIMITS_MAX_BATCH_EVENTS: '5' } });
  const api = await httpApi(t, daemon.httpAddress);
  t.equal((await api.post('/api/events', { events: [jsonEvent(), jsonEvent()] })).status, 201, 'two good events first');
  const head = (await api.get('/api/head')).json;

  const good = jsonEvent({ entity_id: 'e-good', id: undefined });
  const posts: [string, { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> }, number, string, string?][] = [
    ['malformed JSON', { raw: '{"event_type": "a.b.c",', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_REQUEST'],
    ['an empty body', { raw: '', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_REQUEST'],
    ['a top-level array', { body: [good] }, 400, 'INVALID_REQUEST'],
    ['a JSON string', { body: 'hcm.employee.created' }, 400, 'INVALID_REQUEST'],
    ['events not an array', { body: { events: { 0: good } } }, 400, 'INVALID_REQUEST', 'events'],
    ['an empty batch', { body: { events: [] } }, 400, 'EMPTY_BATCH', 'events'],
    ['a batch with another member', { body: { events: [good], dry_run: true } }, 400, 'INVALID_REQUEST', 'dry_run'],
    ['a batch over limits.maxBatchEvents', { body: { events: Array.from({ length: 6 }, () => jsonEvent()) } }, 413, 'BATCH_TOO_LARGE', 'events'],
    ['entity_id a number', { body: { ...good, entity_id: 42 } }, 400, 'INVALID_FIELD_TYPE', 'entity_id'],
    ['actor_id missing', { body: { ...good, actor_id: undefined } }, 400, 'MISSING_FIELD', 'actor_id'],
    ['severity not one of its values', { body: { ...good, severity: 'urgent' } }, 400, 'INVALID_ENUM', 'severity'],
    ['payload an array', { body: { ...good, payload: [1, 2] } }, 400, 'INVALID_PAYLOAD', 'payload'],
    ['payload a string', { body: { ...good, payload: '{"a":1}' } }, 400, 'INVALID_PAYLOAD', 'payload'],
    ['payload an unsafe integer', { raw: '{"event_type":"a.b.c","entity_id":"x","actor_id":"y","payload":{"n":9007199254740993}}', headers: { 'content-type': 'application/json' } }, 400, 'UNSAFE_NUMBER'],
    ['event_type with capitals', { body: { ...good, event_type: 'Portfolio.Product.Created' } }, 400, 'INVALID_EVENT_TYPE', 'event_type'],
    ['event_type of two parts', { body: { ...good, event_type: 'portfolio.product' } }, 400, 'INVALID_EVENT_TYPE', 'event_type'],
    ['event_type of four parts', { body: { ...good, event_type: 'a.b.c.d' } }, 400, 'INVALID_EVENT_TYPE', 'event_type'],
    ['a free-form event name', { body: { ...good, event_type: 'product created!' } }, 400, 'INVALID_EVENT_TYPE', 'event_type'],
    ['domain not matching event_type', { body: { ...good, domain: 'crm' } }, 400, 'EVENT_TYPE_MISMATCH', 'domain'],
    ['an unknown field', { body: { ...good, colour: 'red' } }, 400, 'UNKNOWN_FIELD', 'colour'],
    ['a server field', { body: { ...good, seq: 1 } }, 400, 'UNKNOWN_FIELD', 'seq'],
    ['an id that is not a UUID', { body: { ...good, id: 'order-17' } }, 400, 'INVALID_ID', 'id'],
    ['one bad event in a batch', { body: { events: [good, jsonEvent(), { ...jsonEvent(), entity_id: '' }] } }, 400, 'MISSING_FIELD', 'events[2].entity_id'],
    ['a payload over limits.maxPayloadBytes', { body: { ...good, payload: { pad: 'x'.repeat(70_000) } } }, 413, 'PAYLOAD_TOO_LARGE', 'payload'],
    ['a body over limits.maxHttpBodyBytes', { body: { ...good, payload: { pad: 'x'.repeat(MAX_BODY) } } }, 413, 'REQUEST_TOO_LARGE'],
    ['Content-Type text/plain', { raw: JSON.stringify(good), headers: { 'content-type': 'text/plain' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no Content-Type', { raw: Buffer.from(JSON.stringify(good)) }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a charset other than UTF-8', { raw: JSON.stringify(good), headers: { 'content-type': 'application/json; charset=iso-8859-1' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['form data', { raw: 'event_type=a.b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  for (const [name, options, status, code, field] of posts) {
    const r = await api.request('POST', '/api/events', options);
    t.equal(r.status, status, `${name}: ${status}`);
    t.equal((r.json.error as Json | undefined)?.code, code, `${name}: ${code}`);
    if (field !== undefined) t.equal((r.json.error as Json | undefined)?.field, field, `${name}: names ${field}`);
  }

  const chunked = await chunkedPost(daemon.httpAddress, 4 * MAX_BODY);
  t.equal(chunked.status, 413, 'a chunked body over the limit: 413 once the limit is passed');
  t.equal((JSON.parse(chunked.body) as { error: Json }).error.code, 'REQUEST_TOO_LARGE');
  t.equal((await api.get('/healthz')).status, 200, 'the server is fine afterwards');

  const gets: [string, number, string][] = [
    ['/api/events?cursor=not-a-cursor', 400, 'INVALID_CURSOR'],
    ['/api/events?cursor=', 400, 'INVALID_CURSOR'],
    ['/api/events?since=yesterday', 400, 'INVALID_QUERY'],
    ['/api/events?since=2026-01-19', 400, 'INVALID_QUERY'],
    ['/api/events?until=2026-13-45T25:00:00Z', 400, 'INVALID_QUERY'],
    ['/api/events?limit=0', 400, 'INVALID_QUERY'],
    ['/api/events?limit=ten', 400, 'INVALID_QUERY'],
    ['/api/events?limit=10001', 400, 'INVALID_QUERY'],
    ['/api/events?order=up', 400, 'INVALID_QUERY'],
    ['/api/events?from_seq=0', 400, 'INVALID_QUERY'],
    ['/api/events?to_seq=-3', 400, 'INVALID_QUERY'],
    ['/api/events?severity=urgent', 400, 'INVALID_QUERY'],
    ['/api/events?environment=production', 400, 'INVALID_QUERY'],
    ['/api/events?event_type=Hcm', 400, 'INVALID_QUERY'],
    ['/api/events?entity_id=e1', 400, 'INVALID_QUERY'],
    ['/api/events?entityType=product', 400, 'INVALID_QUERY'],
    ['/api/events?domain=hcm&domain=crm', 400, 'INVALID_QUERY'],
    ['/api/events/stream?since=last-week', 400, 'INVALID_QUERY'],
    ['/api/events/stream?lastEventId=x', 400, 'INVALID_QUERY'],
    ['/api/verify?from_seq=5&to_seq=2', 400, 'INVALID_QUERY'],
    ['/api/aggregate?group_by=week', 400, 'INVALID_QUERY'],
    ['/api/structural-events?since=bad', 400, 'INVALID_QUERY'],
    ['/api/structural-events?entityType=Product', 400, 'INVALID_QUERY'],
    ['/api/structural-events?cursor=e30', 400, 'INVALID_CURSOR'],
    ['/api/products/p1/activities?until=2026-02-30', 400, 'INVALID_QUERY'],
    ['/api/objectives/o1/history?limit=-1', 400, 'INVALID_QUERY'],
    ['/api/events/12abc', 400, 'INVALID_ID'],
    ['/api/events/999999', 404, 'NOT_FOUND'],
    ['/api/nothing-here', 404, 'NOT_FOUND'],
  ];
  for (const [path, status, code] of gets) {
    const r = await api.get(path);
    t.equal(r.status, status, `GET ${path}: ${status}`);
    t.equal((r.json.error as Json | undefined)?.code, code, `GET ${path}: ${code}`);
  }
  const stream = await api.get('/api/events/stream', { 'last-event-id': 'seven' });
  t.equal(stream.status, 400, 'a Last-Event-ID that is not a seq');
  t.equal((stream.json.error as Json).field, 'Last-Event-ID');

  // A cursor is bound to its query: other filters or another order refuse it.
  const page = await api.get('/api/events?limit=1&domain=hcm');
  const cursor = encodeURIComponent(String(page.json.nextCursor));
  t.equal((await api.get(`/api/events?limit=1&domain=crm&cursor=${cursor}`)).status, 400, 'cursor of another filter');
  t.equal((await api.get(`/api/events?limit=1&domain=hcm&order=desc&cursor=${cursor}`)).status, 400, 'cursor of another order');
  t.equal((await api.get(`/api/events?limit=1&domain=hcm&cursor=${cursor}`)).status, 200, 'the same query takes it');

  t.same((await api.get('/api/head')).json, head, 'nothing of a refused request was stored');
  t.equal((await api.get('/api/verify')).json.ok, true);

  const utf8 = await api.request('POST', '/api/events', { raw: JSON.stringify(good), headers: { 'content-type': 'Application/JSON; charset="UTF-8"' } });
  t.equal(utf8.status, 201, 'media type and charset are case-insensitive');
  t.equal(utf8.headers.get('access-control-allow-origin'), null, 'no CORS headers when no origin is configured');
});
