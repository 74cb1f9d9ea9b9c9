/**
 * The server's hand-written reader of append requests (src/wire/append-decoder.ts), held to
 * the .proto's own decoder (protobufjs decode + toObject, as the server loaded it before):
 * for any events the same fields with the same text, unknown fields skipped, request ids up
 * to 2^53, malformed text read as Node reads it; bytes that are not such a message throw.
 * Through a real server, a request with an unknown field is stored, and garbage is refused.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import t from 'tap';
import { decodeAppendRequest, decodeAppendStreamRequest, type WireEventInput } from '../../src/wire';
import { PROTO_DIR } from '../helpers/grpc-client';
import { startGrpcServer } from '../helpers/grpc-server';
import { TENANT_KEYS } from '../helpers/keys';

const definition = protoLoader.loadSync(['eventspine/v1/event_spine.proto'], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false, includeDirs: [PROTO_DIR] });
const service = definition['eventspine.v1.EventSpine'] as protoLoader.ServiceDefinition;
const APPEND = service.Append as protoLoader.MethodDefinition<object, object>;
const STREAM = service.AppendStream as protoLoader.MethodDefinition<object, object>;

const FIELDS = ['id', 'event_type', 'domain', 'entity_type', 'action', 'entity_id', 'entity_name', 'actor_id', 'actor_type', 'organization_id', 'environment', 'severity', 'payload'];
const TEXTS = ['', 'plain', 'événement à Zürich', '社員の記録'.repeat(8), '📦🚚 shipped', 'x'.repeat(128), '€'.repeat(43), JSON.stringify({ pad: 'p'.repeat(20_000) })];
const text = fc.oneof(fc.constantFrom(...TEXTS), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 300 }));
const event = fc.dictionary(fc.constantFrom(...FIELDS), text, { maxKeys: FIELDS.length });

/** The decoded object without the fields it lacks, as toObject leaves them out. */
function present(value: { request_id?: number; events?: WireEventInput[] }): object {
  const out: Record<string, unknown> = {};
  if (value.request_id !== undefined) out.request_id = value.request_id;
  if (value.events !== undefined) out.events = value.events.map((ev) => Object.fromEntries(Object.entries(ev).filter(([, v]) => v !== undefined)));
  return out;
}

t.test('the objects are those of the .proto decoder', async (t) => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 6 }), fc.oneof(fc.nat(), fc.constant(2 ** 53 - 1), fc.constant(0)), (events, request_id) => {
      const append = APPEND.requestSerialize({ events });
      const stream = STREAM.requestSerialize({ request_id, events });
      t.same(present(decodeAppendRequest(append)), APPEND.requestDeserialize(append));
      t.same(present(decodeAppendStreamRequest(stream)), STREAM.requestDeserialize(stream));
    }),
    { numRuns: 300, interruptAfterTimeLimit: 20_000 },
  );
  const ev = decodeAppendRequest(APPEND.requestSerialize({ events: [{ event_type: 'a.b.c' }, { payload: '{}', id: 'x' }] })).events ?? [];
  t.same(ev.map((e) => Object.keys(e)), [FIELDS, FIELDS], 'every event has every key, in one order (one object shape)');
  t.same(decodeAppendStreamRequest(Buffer.alloc(0)), {}, 'an empty message has no events and no request_id');
});

/** A field as bytes: tag, then the value's bytes (with their length for wire type 2). */
function field(number: number, wireType: number, value: Buffer | number[]): Buffer {
  const bytes = Buffer.from(value as Uint8Array);
  const tag = Buffer.from(varint(number * 8 + wireType));
  return wireType === 2 ? Buffer.concat([tag, Buffer.from(varint(bytes.length)), bytes]) : Buffer.concat([tag, bytes]);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

t.test('fields of other numbers and wire types are skipped; the last occurrence wins', async (t) => {
  const eventBytes = Buffer.concat([
    field(2, 2, Buffer.from('first.type.one')),
    field(40, 0, varint(300)),
    field(41, 1, [1, 2, 3, 4, 5, 6, 7, 8]),
    field(42, 5, [1, 2, 3, 4]),
    field(43, 2, Buffer.from('skipped')),
    Buffer.from([...varint((44 << 3) | 3), (1 << 3) | 0, 5, ...varint((44 << 3) | 4)]), // a group holding a varint
    field(2, 2, Buffer.from('hcm.employee.updated')),
    field(6, 2, Buffer.from([0x65, 0xff, 0x31])), // not UTF-8: read as Node reads it
  ]);
  const bytes = Buffer.concat([field(1, 0, varint(2 ** 40 + 3)), field(9, 2, Buffer.from('x')), field(2, 2, eventBytes), field(2, 2, Buffer.alloc(0))]);
  const mine = present(decodeAppendStreamRequest(bytes));
  t.same(mine, STREAM.requestDeserialize(bytes), 'as protobufjs reads them');
  t.same(mine, { request_id: 2 ** 40 + 3, events: [{ event_type: 'hcm.employee.updated', entity_id: 'e\ufffd1' }, {}] });
});

t.test('bytes that are not an append request throw, naming where', async (t) => {
  const good = APPEND.requestSerialize({ events: [{ event_type: 'hcm.employee.updated', entity_id: 'e-1', actor_id: 'u-1', payload: '{"a":1}' }] });
  for (let cut = 1; cut < good.length; cut++) {
    t.throws(() => decodeAppendRequest(good.subarray(0, cut)), /at offset \d+/, `cut after ${cut} of ${good.length} bytes`);
  }
  t.throws(() => decodeAppendRequest(Buffer.from([0x16])), /invalid wire type 6 at offset/, 'wire type 6');
  t.throws(() => decodeAppendRequest(Buffer.from([0x14])), /invalid wire type 4/, 'an end of group without its start');
  t.throws(() => decodeAppendRequest(field(1, 0, [5])), /field 1 has wire type 0, not 2/, 'events as a varint');
  t.throws(() => decodeAppendRequest(field(1, 2, field(2, 0, [1]))), /field 2 has wire type 0, not 2/, 'event_type as a varint');
  t.throws(() => decodeAppendStreamRequest(field(1, 2, Buffer.from('x'))), /field 1 has wire type 2, not 0/, 'request_id as text');
  t.throws(() => decodeAppendStreamRequest(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), /longer than 10 bytes/, 'an endless varint');
});

t.test('through a real server: an unknown field is skipped, garbage is refused', async (t) => {
  const server = await startGrpcServer(t, { keys: TENANT_KEYS });
  const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', server.keys.bearer('acme'));
  const call = (bytes: Buffer): Promise<{ err: grpc.ServiceError | null; value: Buffer | undefined }> =>
    new Promise((resolve) => raw.makeUnaryRequest('/eventspine.v1.EventSpine/Append', (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, (err, value) => resolve({ err, value })));

  // No actor_id: the key (bound to actor svc-acme of organization acme) fills it in.
  const eventBytes = Buffer.concat([field(2, 2, Buffer.from('hcm.employee.updated')), field(6, 2, Buffer.from('e-1')), field(99, 2, Buffer.from('from a newer client')), field(13, 2, Buffer.from('{"a":1}'))]);
  const ok = await call(field(1, 2, eventBytes));
  t.equal(ok.err, null, 'stored');
  const answer = APPEND.responseDeserialize(ok.value as Buffer) as { results: { seq: number }[] };
  const stored = await server.store.getBySeq(answer.results[0]?.seq ?? 0);
  t.match(stored, { seq: 1, event_type: 'hcm.employee.updated', entity_id: 'e-1', actor_id: 'svc-acme', organization_id: 'acme', payloadJson: '{"a":1}' }, 'with the fields sent and those the key implies');

  const bad = await call(Buffer.concat([field(1, 2, eventBytes), Buffer.from([0x16])]));
  t.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT, 'garbage after a good event: INVALID_ARGUMENT');
  t.match(bad.err?.details, /not a valid .*AppendRequest.*invalid wire type 6/);
  t.equal(bad.err?.metadata.get('error-code')[0], 'INVALID_REQUEST');
  t.equal(server.store.head().seq, 1, 'nothing of the refused request was stored');
});
