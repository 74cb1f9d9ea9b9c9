/**
 * Query, Subscribe and append answers with bytes written straight from the stored events
 * and results (src/api/grpc/event-encoder.ts). Held here to the .proto's own serializer:
 * for events with and without entity_name, text of 1-, 2-, 3- and 4-byte UTF-8 characters,
 * payloads whose lengths take one, two and three length bytes, seqs past 2^32, with and
 * without a cursor, the bytes are the same; and through a real server a client built from
 * proto/ alone reads every page as the store holds it, for a restricted key too.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { encodeAppendResponse, encodeAppendStreamOk, encodeQueryResponse, encodeSubscribeEvent } from '../../../src/api/grpc/event-encoder';
import { toEventMsg } from '../../../src/api/grpc/convert';
import type { StoredEvent } from '../../../src/event/types';
import { PROTO_DIR, spineClient, wireEvent, type Msg } from '../../helpers/grpc-client';
import { startGrpcServer } from '../../helpers/grpc-server';
import { TENANT_KEYS } from '../../helpers/keys';

const definition = protoLoader.loadSync(['eventspine/v1/event_spine.proto'], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR] });
const service = definition['eventspine.v1.EventSpine'] as protoLoader.ServiceDefinition;
const QUERY = service.Query as protoLoader.MethodDefinition<object, Msg>;
const SUBSCRIBE = service.Subscribe as protoLoader.MethodDefinition<object, Msg>;
const APPEND = service.Append as protoLoader.MethodDefinition<object, Msg>;
const APPEND_STREAM = service.AppendStream as protoLoader.MethodDefinition<object, Msg>;

const TEXTS = ['', 'plain', 'événement à Zürich', '社員の記録'.repeat(8), '📦🚚 shipped', 'é'.repeat(63), 'é'.repeat(64), 'x'.repeat(127), 'x'.repeat(128), '€'.repeat(43)];

function storedEvent(i: number, payloadBytes: number): StoredEvent {
  const text = TEXTS[i % TEXTS.length] as string;
  return {
    seq: [1, 127, 128, 16_384, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1][i % 7] as number,
    id: '0190f1a2-3b4c-7d5e-8f60-718293a4b5c6',
    event_type: 'hcm.employee.updated',
    domain: 'hcm',
    entity_type: 'employee',
    action: 'updated',
    entity_id: `emp-${text}`,
    entity_name: i % 3 === 0 ? undefined : text,
    actor_id: text === '' ? 'a' : text,
    actor_type: 'human',
    organization_id: 'acme',
    environment: 'prod',
    timestamp: '2026-11-22T09:30:00.123Z',
    severity: 'low',
    payloadJson: JSON.stringify({ note: text, pad: 'p'.repeat(payloadBytes) }),
    payload_hash: 'a'.repeat(64),
    previous_hash: 'b'.repeat(64),
    event_hash: 'c'.repeat(64),
  };
}

t.test('the bytes are those of the .proto serializer', async (t) => {
  const problems: string[] = [];
  for (const payloadBytes of [0, 90, 200, 20_000, 70_000]) {
    const items = Array.from({ length: 21 }, (_, i) => storedEvent(i, payloadBytes));
    for (const cursor of [undefined, 'eyJjdXJzb3IiOjF9', 'ü'.repeat(100)]) {
      for (const n of [0, 1, 21]) {
        const page = items.slice(0, n);
        const expected = QUERY.responseSerialize({ items: page.map(toEventMsg), ...(cursor === undefined ? {} : { next_cursor: cursor }) });
        if (!encodeQueryResponse(page, cursor).equals(expected)) problems.push(`payload ${payloadBytes}, ${n} items, cursor ${cursor?.slice(0, 10)}`);
      }
    }
    for (const ev of items) {
      if (!encodeSubscribeEvent(ev).equals(SUBSCRIBE.responseSerialize({ event: toEventMsg(ev) }))) problems.push(`Subscribe: seq ${ev.seq}, payload ${payloadBytes}`);
    }
  }
  t.same(problems, [], 'Query and Subscribe event bytes equal the serializer’s, for every shape');
});

t.test('append results: the bytes are those of the .proto serializer', async (t) => {
  const problems: string[] = [];
  const results = Array.from({ length: 21 }, (_, i) => {
    const ev = storedEvent(i, 0);
    return { seq: ev.seq, id: ev.id, timestamp: ev.timestamp, event_hash: ev.event_hash, deduplicated: i % 2 === 0 };
  });
  for (const n of [0, 1, 21]) {
    const some = results.slice(0, n);
    if (!encodeAppendResponse(some).equals(APPEND.responseSerialize({ results: some }))) problems.push(`Append: ${n} results`);
    for (const request_id of [0, 1, 128, 2 ** 32 + 5, 2 ** 53 - 1]) {
      if (!encodeAppendStreamOk(request_id, some).equals(APPEND_STREAM.responseSerialize({ request_id, ok: { results: some } }))) problems.push(`AppendStream ${request_id}: ${n} results`);
    }
  }
  t.same(problems, [], 'Append and AppendStream answers equal the serializer’s');
});

/**
 * Field order aside (the decoder follows the .proto's, toEventMsg its own), and the
 * decoder's virtual oneof property of the optional entity_name (`_entity_name`).
 */
function canonical(items: readonly Msg[]): string {
  return JSON.stringify(items.map((m) => Object.keys(m).filter((k) => !k.startsWith('_')).sort().map((k) => [k, m[k]])));
}

t.test('a client reads every page as the store holds it', async (t) => {
  const s = await startGrpcServer(t, { keys: TENANT_KEYS });
  const c = spineClient(t, s.address);
  const admin = new grpc.Metadata();
  admin.set('authorization', s.keys.bearer('admin'));
  const acme = new grpc.Metadata();
  acme.set('authorization', s.keys.bearer('acme'));
  const events: Msg[] = [];
  for (let i = 0; i < 300; i++) {
    const text = TEXTS[i % TEXTS.length] as string;
    events.push(
      wireEvent({
        organization_id: i % 2 === 0 ? 'acme' : 'globex',
        entity_id: `emp-${i % 4}`,
        ...(i % 5 === 0 ? { entity_name: undefined } : { entity_name: `${text} ${i}` }),
        payload: JSON.stringify({ i, note: text, pad: 'p'.repeat((i * 97) % 3000) }),
      }),
    );
  }
  await c.call('Append', { events }, { metadata: admin });

  const problems: string[] = [];
  const cases: { filter: Msg; order: 'ORDER_ASC' | 'ORDER_DESC'; metadata: grpc.Metadata; organizations?: string[] }[] = [
    { filter: {}, order: 'ORDER_ASC', metadata: admin },
    { filter: { entity_type: 'employee', entity_id: 'emp-1' }, order: 'ORDER_DESC', metadata: admin },
    { filter: { entity_type: 'employee', entity_id: 'emp-2' }, order: 'ORDER_ASC', metadata: acme, organizations: ['acme'] },
    { filter: {}, order: 'ORDER_DESC', metadata: acme, organizations: ['acme'] },
  ];
  for (const { filter, order, metadata, organizations } of cases) {
    let cursor: string | undefined;
    let pages = 0;
    let storeCursor: string | undefined;
    do {
      const got = await c.call<{ items?: Msg[]; next_cursor?: string }>('Query', { filter, order, limit: 40, ...(cursor === undefined ? {} : { cursor }) }, { metadata });
      const want = await s.store.query({ ...filter, ...(organizations === undefined ? {} : { organizations }) }, { order: order === 'ORDER_ASC' ? 'asc' : 'desc', limit: 40, ...(storeCursor === undefined ? {} : { cursor: storeCursor }) });
      const what = `${JSON.stringify(filter)} ${order} page ${pages}`;
      if (canonical(got.items ?? []) !== canonical(want.items.map((ev) => toEventMsg(ev) as unknown as Msg))) problems.push(`${what}: items differ`);
      if (got.next_cursor !== want.next_cursor) problems.push(`${what}: cursor ${got.next_cursor} ≠ ${want.next_cursor}`);
      cursor = got.next_cursor;
      storeCursor = want.next_cursor;
      pages += 1;
    } while (cursor !== undefined && pages < 20);
    if (pages < 2) problems.push(`${JSON.stringify(filter)}: only ${pages} page`);
  }
  t.same(problems, [], 'every page: the store’s events, field for field, and its cursor');
});
