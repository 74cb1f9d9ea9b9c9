/** The client's unit-level pieces: wire encoding, error mapping, retry timing, packaging. */
import { Metadata, status } from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EventSpineError, protoPath } from '../../src/client';
import { fromGrpcError, fromStreamError, isTransient } from '../../src/client/errors';
import { backoffMs } from '../../src/client/retry';
import { decodeEvent, encodeEvent } from '../../src/client/wire';
import { isCanonicalPayloadText, parseUuid } from '../../src/event';

t.test('encodeEvent fixes a UUIDv7 id once, applies defaults and sends the payload as canonical JSON text', async (t) => {
  const ev = encodeEvent(
    { event_type: 'hcm.employee.created', entity_type: 'employee', entity_id: 'e-1', action: 'created', payload: { name: 'Ada', n: 1.5 } },
    { organization_id: 'acme', environment: 'prod', actor_id: 'svc-hr', actor_type: 'system' },
  );
  t.equal(parseUuid(ev.id), ev.id, 'a lowercase UUID');
  t.equal(ev.id[14], '7', 'version 7');
  t.same(ev, { id: ev.id, event_type: 'hcm.employee.created', entity_type: 'employee', action: 'created', entity_id: 'e-1', actor_id: 'svc-hr', actor_type: 'system', organization_id: 'acme', environment: 'prod', payload: '{"n":1.5,"name":"Ada"}' });
  t.ok(isCanonicalPayloadText(ev.payload as string), 'which the server takes without parsing');
  const dated = encodeEvent({ event_type: 'a.b.c', entity_id: 'x', payload: { z: 1, at: new Date(0) } }, {});
  t.equal(dated.payload, '{"z":1,"at":"1970-01-01T00:00:00.000Z"}', "what canonical form cannot write goes as JSON.stringify's text, for the server to judge");
  const own = encodeEvent({ id: 'AAAAAAAA-0000-7000-8000-000000000001', event_type: 'a.b.c', entity_id: 'x', actor_id: 'me', organization_id: 'other' }, { organization_id: 'acme', actor_id: 'svc' });
  t.equal(own.id, 'AAAAAAAA-0000-7000-8000-000000000001', "the caller's id is kept as given");
  t.equal(own.actor_id, 'me', 'an explicit field wins over the default');
  t.equal(own.organization_id, 'other');
  t.notOk('payload' in own, 'no payload: the server applies {}');
  const big = { n: 1n } as unknown as Record<string, unknown>;
  t.throws(() => encodeEvent({ event_type: 'a.b.c', entity_id: 'x', actor_id: 'me', payload: big }, {}), { code: 'INVALID_PAYLOAD', field: 'payload' });
});

t.test('decodeEvent parses the payload and keeps its canonical text', async (t) => {
  const ev = decodeEvent({ seq: 7, id: 'i', event_type: 'a.b.c', domain: 'a', entity_type: 'b', action: 'c', entity_id: 'e', actor_id: 'u', actor_type: 'human', organization_id: 'o', environment: 'prod', timestamp: 't', severity: 'low', payload: '{"a":[1,{"b":null}]}', payload_hash: 'p', previous_hash: 'q', event_hash: 'h' });
  t.same(ev.payload, { a: [1, { b: null }] });
  t.equal(ev.payloadJson, '{"a":[1,{"b":null}]}');
  t.equal(ev.seq, 7);
  t.notOk('entity_name' in ev, 'absent optional fields stay absent');
  t.same(decodeEvent({}).payload, {}, 'an empty payload field is {}');
});

t.test('errors carry the server code and field; only passing failures are retried', async (t) => {
  const md = new Metadata();
  md.set('error-code', 'INVALID_EVENT_TYPE');
  md.set('error-field', 'events[0].event_type');
  const fromServer = Object.assign(new Error('3 INVALID_ARGUMENT: bad'), { code: status.INVALID_ARGUMENT, details: 'bad', metadata: md });
  const e = fromGrpcError(fromServer);
  t.ok(e instanceof EventSpineError);
  t.match(e, { code: 'INVALID_EVENT_TYPE', grpcStatus: status.INVALID_ARGUMENT, field: 'events[0].event_type', message: 'bad' });
  t.notOk(isTransient(e));

  const transport = fromGrpcError(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: status.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() }));
  t.match(transport, { code: 'UNAVAILABLE', grpcStatus: status.UNAVAILABLE });
  t.ok(isTransient(transport));
  const rst = fromGrpcError(Object.assign(new Error('13 INTERNAL: Received RST_STREAM'), { code: status.INTERNAL, details: 'Received RST_STREAM', metadata: new Metadata() }));
  t.ok(isTransient(rst), 'a stream torn down by the transport is retried');
  const internalMd = new Metadata();
  internalMd.set('error-code', 'INTERNAL');
  t.notOk(isTransient(fromGrpcError(Object.assign(new Error('13 INTERNAL: x'), { code: status.INTERNAL, details: 'x', metadata: internalMd }))), 'a failure the server reported is not');

  t.ok(isTransient(fromStreamError({ code: 'STORE_CLOSED', message: 'closing', status: status.UNAVAILABLE })));
  t.ok(isTransient(fromStreamError({ code: 'DISK_FULL', message: 'full', status: status.RESOURCE_EXHAUSTED })));
  t.notOk(isTransient(fromStreamError({ code: 'REQUEST_TOO_LARGE', message: 'big', status: status.RESOURCE_EXHAUSTED })));
  t.notOk(isTransient(fromStreamError({ code: 'ID_CONFLICT', message: 'c', status: status.ALREADY_EXISTS, field: 'events[2].id' })));
  t.equal(fromStreamError({ code: 'ID_CONFLICT', message: 'c', status: status.ALREADY_EXISTS }).forEvent('id-1').eventId, 'id-1');
});

t.test('backoff grows exponentially to its cap, with jitter in the upper half', async (t) => {
  const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
  for (let i = 0; i < 200; i++) {
    const first = backoffMs(policy, 1);
    t.ok(first >= 50 && first <= 100, `first wait ${first}`);
    const third = backoffMs(policy, 3);
    if (!(third >= 200 && third <= 400)) t.fail(`third wait ${third}`);
    const late = backoffMs(policy, 40);
    if (!(late >= 500 && late <= 1000)) t.fail(`capped wait ${late}`);
  }
});

t.test("the proto is found from the package's own proto/", async (t) => {
  t.ok(existsSync(protoPath()));
  t.equal(protoPath(), join(__dirname, '..', '..', 'proto', 'eventspine', 'v1', 'event_spine.proto'));
});

t.test("the built package exports 'event-spine/client' (resolved through package.json exports)", async (t) => {
  // A self-reference: resolved through "exports" exactly as an installed package would be.
  const resolved = require.resolve('event-spine/client');
  t.equal(resolved, join(__dirname, '..', '..', 'dist', 'src', 'client', 'index.js'));
  const mod = require('event-spine/client') as typeof import('../../src/client');
  t.type(mod.EventSpineClient, 'function');
  t.equal(mod.protoPath(), protoPath(), 'the compiled client finds the same proto from dist/');
  t.equal(require.resolve('event-spine'), resolved, 'the package root is the client too');
  t.ok(existsSync(join(__dirname, '..', '..', 'dist', 'src', 'client', 'index.d.ts')), 'with its types');
  const client = new mod.EventSpineClient({ address: '127.0.0.1:1' });
  await client.close();
  await t.rejects(client.emit({ event_type: 'a.b.c', entity_id: 'x', actor_id: 'y' }), { code: 'CLIENT_CLOSED' });
});
