/**
 * Bad input over gRPC: each refused with the right status, `error-code` and `error-field`,
 * over unary Append and over AppendStream, and nothing stored (the head does not move).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon';
import { collect, errorInfo, spineClient, wireEvent, type Msg } from '../../helpers/grpc-client';

const MAX_PAYLOAD = 1024;
const MAX_BATCH = 50;
const MAX_MESSAGE = 64 * 1024;

interface Case {
  name: string;
  events: Msg[];
  status: grpc.status;
  code: string;
  field?: string;
}

const ok = (over: Msg = {}): Msg => wireEvent(over);

const CASES: Case[] = [
  { name: 'event_type with capitals', events: [ok({ event_type: 'Hcm.employee.updated' })], status: 3, code: 'INVALID_EVENT_TYPE', field: 'events[0].event_type' },
  { name: 'event_type with two parts', events: [ok({ event_type: 'hcm.employee' })], status: 3, code: 'INVALID_EVENT_TYPE', field: 'events[0].event_type' },
  { name: 'event_type with four parts', events: [ok({ event_type: 'hcm.employee.updated.again' })], status: 3, code: 'INVALID_EVENT_TYPE', field: 'events[0].event_type' },
  { name: 'event_type with an empty part', events: [ok({ event_type: 'hcm..updated' })], status: 3, code: 'INVALID_EVENT_TYPE', field: 'events[0].event_type' },
  { name: 'event_type free-form', events: [ok({ event_type: 'Employee Updated!' })], status: 3, code: 'INVALID_EVENT_TYPE', field: 'events[0].event_type' },
  { name: 'no event_type', events: [ok({ event_type: undefined })], status: 3, code: 'MISSING_FIELD', field: 'events[0].event_type' },
  { name: 'no actor', events: [ok({ actor_id: undefined })], status: 3, code: 'MISSING_FIELD', field: 'events[0].actor_id' },
  { name: 'empty actor', events: [ok({ actor_id: '' })], status: 3, code: 'MISSING_FIELD', field: 'events[0].actor_id' },
  { name: 'no entity_id', events: [ok({ entity_id: undefined })], status: 3, code: 'MISSING_FIELD', field: 'events[0].entity_id' },
  { name: 'control character in entity_id', events: [ok({ entity_id: 'a\u0007b' })], status: 3, code: 'INVALID_TEXT', field: 'events[0].entity_id' },
  { name: 'domain that differs from event_type', events: [ok({ domain: 'finance' })], status: 3, code: 'EVENT_TYPE_MISMATCH', field: 'events[0].domain' },
  { name: 'id that is not a UUID', events: [ok({ id: 'abc' })], status: 3, code: 'INVALID_ID', field: 'events[0].id' },
  { name: 'unknown severity', events: [ok({ severity: 'urgent' })], status: 3, code: 'INVALID_ENUM', field: 'events[0].severity' },
  { name: 'unknown actor_type', events: [ok({ actor_type: 'robot' })], status: 3, code: 'INVALID_ENUM', field: 'events[0].actor_type' },
  { name: 'unknown environment', events: [ok({ environment: 'production' })], status: 3, code: 'INVALID_ENUM', field: 'events[0].environment' },
  { name: 'payload over the limit', events: [ok({ payload: JSON.stringify({ big: 'x'.repeat(MAX_PAYLOAD) }) })], status: 3, code: 'PAYLOAD_TOO_LARGE', field: 'events[0].payload' },
  { name: 'payload "[1]"', events: [ok({ payload: '[1]' })], status: 3, code: 'INVALID_PAYLOAD', field: 'events[0].payload' },
  { name: 'payload "not json"', events: [ok({ payload: 'not json' })], status: 3, code: 'INVALID_PAYLOAD', field: 'events[0].payload' },
  { name: 'payload ""', events: [ok({ payload: '' })], status: 3, code: 'INVALID_PAYLOAD', field: 'events[0].payload' },
  { name: 'payload "null"', events: [ok({ payload: 'null' })], status: 3, code: 'INVALID_PAYLOAD', field: 'events[0].payload' },
  { name: 'payload a string', events: [ok({ payload: '"text"' })], status: 3, code: 'INVALID_PAYLOAD', field: 'events[0].payload' },
  { name: 'payload an integer beyond 2^53', events: [ok({ payload: '{"n":12345678901234567890}' })], status: 3, code: 'UNSAFE_NUMBER', field: 'events[0].payload.n' },
  { name: 'payload a number beyond a double', events: [ok({ payload: '{"x":{"n":1e400}}' })], status: 3, code: 'UNSAFE_NUMBER', field: 'events[0].payload.x.n' },
  { name: 'the third event bad', events: [ok(), ok(), ok({ actor_type: 'nobody' })], status: 3, code: 'INVALID_ENUM', field: 'events[2].actor_type' },
  { name: 'the second event has bad JSON, the first a bad type', events: [ok({ event_type: 'x' }), ok({ payload: '{' })], status: 3, code: 'INVALID_EVENT_TYPE', field: 'events[0].event_type' },
  { name: 'bad JSON after a bad field of the same event', events: [ok({ severity: 'nope', payload: '{' })], status: 3, code: 'INVALID_ENUM', field: 'events[0].severity' },
  { name: 'an empty batch', events: [], status: 3, code: 'EMPTY_BATCH', field: 'events' },
  { name: 'a batch over limits.maxBatchEvents', events: Array.from({ length: MAX_BATCH + 1 }, () => ok()), status: 3, code: 'BATCH_TOO_LARGE', field: 'events' },
];

t.test('bad input is refused precisely and stores nothing', async (t) => {
  const daemon = await startDaemon(t, {
    env: {
      EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
      EVENT_SPINE_LIMITS_MAX_BATCH_EVENTS: String(MAX_BATCH),
      EVENT_SPINE_LIMITS_MAX_MESSAGE_BYTES: String(MAX_MESSAGE),
    },
  });
  const c = spineClient(t, daemon.grpcAddress);
  const head = async (): Promise<number> => ((await c.call<Msg>('Head', {})).seq as number | undefined) ?? 0;

  await t.test('unary Append', async (t) => {
    for (const k of CASES) {
      const err = await c.call('Append', { events: k.events }).then(
        () => undefined,
        (e: unknown) => e,
      );
      t.match(errorInfo(err), { status: k.status, code: k.code, field: k.field }, k.name);
    }
    t.equal(await head(), 0, 'nothing stored');
  });

  await t.test('AppendStream: an Error response per refused request, the stream stays open', async (t) => {
    const stream = c.appendStream();
    const answers = new Map<number, Msg>();
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Msg) => answers.set(m.request_id as number, m));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    CASES.forEach((k, i) => stream.write({ request_id: i + 1, events: k.events }));
    stream.end();
    await ended;
    CASES.forEach((k, i) => {
      t.match(answers.get(i + 1), { request_id: i + 1, outcome: 'error', error: { status: k.status, code: k.code, field: k.field, message: String } }, k.name);
    });
    t.equal(await head(), 0, 'nothing stored');
  });

  await t.test('a message over limits.maxMessageBytes', async (t) => {
    const events = Array.from({ length: 40 }, () => ok({ payload: JSON.stringify({ pad: 'y'.repeat(900) }), entity_name: 'z'.repeat(800) }));
    const err = await c.call('Append', { events }).catch((e: unknown) => e);
    t.match(errorInfo(err), { status: grpc.status.RESOURCE_EXHAUSTED, code: 'REQUEST_TOO_LARGE' });
    // Far beyond: grpc-js refuses it before it is read whole (no error-code then).
    const huge = Array.from({ length: 200 }, () => ok({ entity_name: 'z'.repeat(1000) }));
    const err2 = await c.call('Append', { events: huge }).catch((e: unknown) => e);
    t.equal(errorInfo(err2).status, grpc.status.RESOURCE_EXHAUSTED);
    t.equal(await head(), 0, 'nothing stored');
  });

  await t.test('garbage bytes to the methods', async (t) => {
    const raw = new grpc.Client(daemon.grpcAddress, grpc.credentials.createInsecure());
    t.teardown(() => raw.close());
    const send = (path: string, bytes: Buffer): Promise<unknown> =>
      new Promise((resolve) => {
        raw.makeUnaryRequest(
          path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          (err) => resolve(err),
        );
      });
    const invalid = [Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x7f, 0x01]), Buffer.from([0x0f]), Buffer.from('{"events":[{"event_type":"a.b.c"}]}')];
    for (const bytes of invalid) {
      const err = await send('/eventspine.v1.EventSpine/Append', bytes);
      t.match(errorInfo(err), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_REQUEST' }, `Append ← ${bytes.toString('hex').slice(0, 20)}`);
    }
    for (let i = 0; i < 40; i++) {
      const bytes = randomBytes(1 + (i * 37) % 300);
      for (const method of ['Append', 'Get', 'Query']) {
        const err = await send(`/eventspine.v1.EventSpine/${method}`, bytes);
        // Random bytes either do not decode, or decode into a request the store refuses; a
        // Query may even decode into a valid (empty) query.
        if (err !== null) t.equal(errorInfo(err).status === grpc.status.INVALID_ARGUMENT || errorInfo(err).status === grpc.status.NOT_FOUND, true, `${method} ← random: ${errorInfo(err).details}`);
        else t.equal(method, 'Query');
      }
    }
    const unknown = await send('/eventspine.v1.EventSpine/Delete', Buffer.alloc(0));
    t.equal(errorInfo(unknown).status, grpc.status.UNIMPLEMENTED, 'no such method: there is no delete');
    t.equal(await head(), 0, 'nothing stored');
  });

  await t.test('a garbage message on an AppendStream ends it with INVALID_ARGUMENT', async (t) => {
    const raw = new grpc.Client(daemon.grpcAddress, grpc.credentials.createInsecure());
    t.teardown(() => raw.close());
    const stream = raw.makeBidiStreamRequest(
      '/eventspine.v1.EventSpine/AppendStream',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    stream.write(Buffer.from([0xff, 0xff, 0xff]));
    const err = await new Promise<unknown>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => undefined);
    });
    t.match(errorInfo(err), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_REQUEST' });
  });

  await t.test('bad reads', async (t) => {
    const cases: [string, Msg, string, string][] = [
      ['Query', { filter: { since: 'yesterday' } }, 'INVALID_QUERY', 'since'],
      ['Query', { filter: { event_type: 'hcm' } }, 'INVALID_QUERY', 'event_type'],
      ['Query', { limit: 10_001 }, 'INVALID_QUERY', 'limit'],
      ['Verify', { from_seq: 0 }, 'INVALID_QUERY', 'from_seq'],
      ['Aggregate', {}, 'INVALID_QUERY', 'group_by'],
    ];
    for (const [method, req, code, field] of cases) {
      const err = await c.call(method, req).catch((e: unknown) => e);
      t.match(errorInfo(err), { status: grpc.status.INVALID_ARGUMENT, code, field }, `${method} ${JSON.stringify(req)}`);
    }
    const sub = await collect(c.stream('Subscribe', { from_seq: 0 }));
    t.match(errorInfo(sub.error), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_QUERY', field: 'from_seq' });
  });

  await t.test('after all of it: nothing stored, and a good append still works', async (t) => {
    t.equal(await head(), 0);
    const res = await c.call<{ results: Msg[] }>('Append', { events: [ok()] });
    t.equal(res.results[0]?.seq, 1);
    t.same(await c.call('Verify', { check_index: true }), { ok: true, from_seq: 1, to_seq: 1, checked: 1 });
  });
});
