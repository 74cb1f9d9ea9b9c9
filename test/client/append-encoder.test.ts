/**
 * The client's append requests written by hand (src/client/append-encoder.ts), held to the
 * .proto's own serializer: for events with every field, with optional fields absent or
 * empty, text of 1- to 4-byte UTF-8 characters, payloads whose lengths take one, two and
 * three length bytes, request ids past 2^32, the bytes are the same. Requests of another
 * shape go to protobufjs, with its coercions and errors. Through a real server, the
 * client's appends store every field as sent.
 */
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { EventSpineClient } from '../../src/client';
import { appendRequestSerializer, appendStreamRequestSerializer } from '../../src/client/append-encoder';
import { PROTO_DIR } from '../helpers/grpc-client';
import { startGrpcServer } from '../helpers/grpc-server';
import { TENANT_KEYS } from '../helpers/keys';

const definition = protoLoader.loadSync(['eventspine/v1/event_spine.proto'], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR] });
const service = definition['eventspine.v1.EventSpine'] as protoLoader.ServiceDefinition;
const APPEND = service.Append as protoLoader.MethodDefinition<object, object>;
const STREAM = service.AppendStream as protoLoader.MethodDefinition<object, object>;
const byHand = appendRequestSerializer(APPEND.requestSerialize);
const streamByHand = appendStreamRequestSerializer(STREAM.requestSerialize);

const FIELDS = ['id', 'event_type', 'domain', 'entity_type', 'action', 'entity_id', 'entity_name', 'actor_id', 'actor_type', 'organization_id', 'environment', 'severity', 'payload'];
const TEXTS = ['', 'plain', 'événement à Zürich', '社員の記録'.repeat(8), '📦🚚 shipped', 'é'.repeat(63), 'é'.repeat(64), 'x'.repeat(127), 'x'.repeat(128), '€'.repeat(43)];

const text = fc.oneof(fc.constantFrom(...TEXTS), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 300 }));
const event = fc.dictionary(fc.constantFrom(...FIELDS), text, { maxKeys: FIELDS.length });

t.test('the bytes are those of the .proto serializer', async (t) => {
  const problems: string[] = [];
  for (const payloadBytes of [0, 90, 200, 20_000, 70_000]) {
    const events = TEXTS.map((s, i) => {
      const ev: Record<string, string> = { event_type: 'hcm.employee.updated', entity_id: `emp-${s}`, actor_id: s, payload: JSON.stringify({ note: s, pad: 'p'.repeat(payloadBytes) }) };
      if (i % 2 === 0) ev.id = '0190f1a2-3b4c-7d5e-8f60-718293a4b5c6';
      if (i % 3 !== 0) ev.entity_name = s;
      if (i % 4 === 1) Object.assign(ev, { domain: 'hcm', entity_type: 'employee', action: 'updated', actor_type: 'human', organization_id: '', environment: 'prod', severity: 'low' });
      return ev;
    });
    for (const n of [0, 1, events.length]) {
      const some = events.slice(0, n);
      if (!byHand({ events: some }).equals(APPEND.requestSerialize({ events: some }))) problems.push(`Append: payload ${payloadBytes}, ${n} events`);
      for (const request_id of [0, 1, 127, 128, 2 ** 32 + 5, 2 ** 53 - 1]) {
        if (!streamByHand({ request_id, events: some }).equals(STREAM.requestSerialize({ request_id, events: some }))) problems.push(`AppendStream ${request_id}: payload ${payloadBytes}, ${n} events`);
      }
    }
  }
  t.same(problems, [], 'Append and AppendStream request bytes equal the serializer’s, for every shape');

  fc.assert(
    fc.property(fc.array(event, { maxLength: 5 }), fc.nat(), (events, request_id) => {
      return byHand({ events }).equals(APPEND.requestSerialize({ events })) && streamByHand({ request_id, events }).equals(STREAM.requestSerialize({ request_id, events }));
    }),
    { numRuns: 500, interruptAfterTimeLimit: 20_000 },
  );
  t.pass('random events: the same bytes');
});

t.test('a request of another shape is serialized by protobufjs, coercions and all', async (t) => {
  const odd: object[] = [
    { events: [{ event_type: 'a.b.c', entity_id: 42 }] },
    { events: [{ event_type: 'a.b.c', entity_id: 'x', payload: { not: 'text' } }] },
    { events: [{ event_type: 'a.b.c', entity_id: 'x', actor_id: null }] },
    { events: [{ event_type: 'a.b.c', entity_id: 'x', extra: 'ignored' }] },
    {},
  ];
  for (const value of odd) {
    t.same(byHand(value), APPEND.requestSerialize(value), `Append ${JSON.stringify(value)}`);
    for (const request_id of [undefined, -1, 1.5, '7', 3]) {
      const req = { ...value, ...(request_id === undefined ? {} : { request_id }) };
      let want: Buffer | Error;
      try {
        want = STREAM.requestSerialize(req);
      } catch (err) {
        want = err as Error;
      }
      if (want instanceof Error) t.throws(() => streamByHand(req), `AppendStream ${JSON.stringify(req)} throws as protobufjs does`);
      else t.same(streamByHand(req), want, `AppendStream ${JSON.stringify(req)}`);
    }
  }
});

t.test("through a real server, the client's appends store every field as sent", async (t) => {
  const s = await startGrpcServer(t, { keys: TENANT_KEYS });
  const client = new EventSpineClient({ address: s.address, apiKey: s.keys.secret.admin as string });
  t.teardown(() => client.close());
  const sent = TEXTS.map((s, i) => ({
    event_type: 'hcm.employee.updated',
    entity_id: `emp-${i}`,
    ...(i % 3 === 0 ? {} : { entity_name: s === '' ? 'n' : s }),
    actor_id: `actor ${s}`,
    organization_id: 'acme',
    payload: { note: s, i, pad: 'p'.repeat(i * 2000) },
  }));
  const appended = await client.append(sent);
  const emitted = await Promise.all(sent.map((ev) => client.emit({ ...ev, entity_id: `${ev.entity_id}-emitted` })));
  const problems: string[] = [];
  for (const [i, r] of [...appended, ...emitted].entries()) {
    const stored = await s.store.getBySeq(r.seq);
    const want = sent[i % sent.length] as (typeof sent)[number];
    if (stored === undefined) {
      problems.push(`seq ${r.seq} missing`);
      continue;
    }
    const got = { entity_name: stored.entity_name, actor_id: stored.actor_id, organization_id: stored.organization_id, payload: JSON.parse(stored.payloadJson) as unknown };
    const expected = { entity_name: 'entity_name' in want ? want.entity_name : undefined, actor_id: want.actor_id, organization_id: want.organization_id, payload: want.payload };
    if (!isDeepStrictEqual(got, expected)) problems.push(`seq ${r.seq}: ${JSON.stringify(got).slice(0, 80)}`);
    if (stored.id !== r.id) problems.push(`seq ${r.seq}: id ${stored.id} ≠ ${r.id}`);
  }
  t.same(problems, [], 'every event stored with the fields the client sent');
});
