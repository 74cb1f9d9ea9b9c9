/**
 * Subscribe's fan-out writes each event's bytes, encoded once and shared by every
 * subscriber (src/api/grpc/pre-encoded.ts), several messages at a time (write-window.ts).
 * Held here to what encoding every message on its own delivered: subscribers with different
 * filters and keys (two restricted to one organization), catching up from seq 1 or live
 * from the head, all of them through fell_behind (a queue of 8 events) and one paused
 * outright, get exactly their matching events, in order, each equal to Get of its seq; and
 * the bytes of every event message are those of the message encoded by itself.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { PROTO_DIR, spineClient, wireEvent, type Msg } from '../../helpers/grpc-client';
import { startGrpcServer } from '../../helpers/grpc-server';
import { TENANT_KEYS } from '../../helpers/keys';

const definition = protoLoader.loadSync(['eventspine/v1/event_spine.proto'], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR] });
const SUBSCRIBE = (definition['eventspine.v1.EventSpine'] as protoLoader.ServiceDefinition).Subscribe as protoLoader.MethodDefinition<object, Msg>;

const ORGS = ['acme', 'globex', 'default'];
const TYPES = ['hcm.employee.updated', 'finance.invoice.paid', 'hcm.employee.hired', 'crm.contact.created'];

/** The i-th event of the test: every organization with every type, some without entity_name. */
function mixed(i: number, padBytes: number): Msg {
  return wireEvent({
    organization_id: ORGS[i % ORGS.length],
    event_type: TYPES[i % TYPES.length],
    severity: i % 7 === 0 ? 'high' : 'low',
    ...(i % 5 === 0 ? { entity_name: undefined } : {}),
    payload: JSON.stringify({ i, note: `événement ${i}`, pad: 'p'.repeat(padBytes) }),
  });
}

interface Appended {
  seq: number;
  organization_id: string;
  event_type: string;
  domain: string;
}

interface Subscriber {
  name: string;
  /** Which appended events it must get (live-from-head ones also by seq, once known). */
  wants(ev: Appended): boolean;
  items: Msg[];
  /** The raw bytes of each message, for the subscriber that reads them undecoded. */
  raw: Buffer[];
  stream: grpc.ClientReadableStream<unknown>;
}

t.test('pre-encoded Subscribe delivers exactly what a per-stream encoding did', async (t) => {
  const s = await startGrpcServer(t, { keys: TENANT_KEYS, queueLimit: 8, heartbeatMs: 60_000 });
  const c = spineClient(t, s.address);
  const as = (key: string): { metadata: grpc.Metadata } => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', s.keys.bearer(key));
    return { metadata };
  };
  const appended: Appended[] = [];
  const append = async (events: Msg[]): Promise<void> => {
    const res = await c.call<{ results: Msg[] }>('Append', { events }, as('admin'));
    res.results.forEach((r, k) => {
      const e = events[k] as Msg;
      const type = e.event_type as string;
      appended.push({ seq: r.seq as number, organization_id: e.organization_id as string, event_type: type, domain: type.split('.')[0] as string });
    });
  };
  let n = 0;
  const batch = (count: number, padBytes: number): Msg[] => Array.from({ length: count }, () => mixed(n++, padBytes));

  // Before anyone subscribes: what the catch-up part reads from the log.
  for (let i = 0; i < 3; i++) await append(batch(20, 50));
  const headBefore = appended.length;

  const raw = new grpc.Client(s.address, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const subscribers: Subscriber[] = [];
  const subscribe = (name: string, key: string, request: Msg, wants: (ev: Appended) => boolean, undecoded = false): Subscriber => {
    const stream = undecoded
      ? raw.makeServerStreamRequest<Msg, Buffer>(SUBSCRIBE.path, (m) => SUBSCRIBE.requestSerialize(m), (bytes) => bytes, request, as(key).metadata)
      : c.stream('Subscribe', request, as(key));
    const sub: Subscriber = { name, wants, items: [], raw: [], stream };
    stream.on('data', (m: Msg | Buffer) => {
      if (Buffer.isBuffer(m)) {
        sub.raw.push(m);
        sub.items.push(SUBSCRIBE.responseDeserialize(m));
      } else sub.items.push(m);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) t.fail(`${name}: the stream failed: ${err.code} ${err.details}`);
    });
    subscribers.push(sub);
    return sub;
  };
  const live = (ev: Appended): boolean => ev.seq > headBefore;
  subscribe('admin, everything, from seq 1', 'admin', { from_seq: 1 }, () => true);
  subscribe('admin, the finance domain, from seq 1', 'admin', { from_seq: 1, filter: { domain: 'finance' } }, (ev) => ev.domain === 'finance');
  subscribe('admin, hcm.employee.*, live from the head', 'admin', { filter: { event_type: 'hcm.employee.' } }, (ev) => live(ev) && ev.event_type.startsWith('hcm.employee.'));
  subscribe('admin, crm.contact.created of globex, from seq 10', 'admin', { from_seq: 10, filter: { event_type: 'crm.contact.created', organization_id: 'globex' } }, (ev) => ev.seq >= 10 && ev.event_type === 'crm.contact.created' && ev.organization_id === 'globex');
  subscribe('acme key, everything it may read, from seq 1', 'acme', { from_seq: 1 }, (ev) => ev.organization_id === 'acme');
  subscribe('acme key, the hcm domain, live from the head', 'acme', { filter: { domain: 'hcm' } }, (ev) => live(ev) && ev.organization_id === 'acme' && ev.domain === 'hcm');
  const undecoded = subscribe('admin, everything, from seq 1, read as bytes', 'admin', { from_seq: 1 }, () => true, true);
  const paused = subscribe('admin, everything, from seq 1, paused during the bursts', 'admin', { from_seq: 1 }, () => true);

  const caughtUp = (sub: Subscriber): boolean => sub.items.some((m) => m.item === 'caught_up');
  const deadline = Date.now() + 20_000;
  const until = async (what: string, pred: () => boolean): Promise<void> => {
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await until('every subscriber caught up', () => subscribers.every(caughtUp));

  // Bursts of 200 events in a request: past the queue of 8 in one group, so every live
  // subscriber falls behind and reads the log; the paused one stops reading altogether.
  paused.stream.pause();
  for (let i = 0; i < 6; i++) await append(batch(200, 500));
  paused.stream.resume();
  // Then a trickle: the live path, one group at a time.
  for (let i = 0; i < 10; i++) await append(batch(1 + (i % 3), 20));

  const received = (sub: Subscriber): Msg[] => sub.items.filter((m) => m.item === 'event').map((m) => m.event as Msg);
  const expected = (sub: Subscriber): number[] => appended.filter((ev) => sub.wants(ev)).map((ev) => ev.seq);
  await until('every subscriber has its events', () => subscribers.every((sub) => received(sub).length >= expected(sub).length));
  await new Promise((r) => setTimeout(r, 100)); // anything extra would have come by now

  const byGet = new Map<number, Msg>();
  for (let i = 0; i < appended.length; i += 100) {
    const got = await Promise.all(appended.slice(i, i + 100).map((ev) => c.call<Msg>('Get', { seq: ev.seq }, as('admin'))));
    for (const g of got) byGet.set(g.seq as number, g);
  }

  for (const sub of subscribers) {
    const events = received(sub);
    t.same(
      events.map((e) => e.seq),
      expected(sub),
      `${sub.name}: exactly the matching events, in order, no gap, no duplicate`,
    );
    t.same(
      events.filter((e) => JSON.stringify(e) !== JSON.stringify(byGet.get(e.seq as number))).map((e) => e.seq),
      [],
      `${sub.name}: every event equal to Get of its seq, field by field`,
    );
    const markers = sub.items.filter((m) => m.item === 'caught_up' || m.item === 'fell_behind').map((m) => m.item);
    t.equal(markers.at(-1), 'caught_up', `${sub.name}: caught up in the end (${markers.length} markers)`);
  }
  t.ok(
    paused.items.some((m) => m.item === 'fell_behind'),
    'the paused subscriber fell behind',
  );
  t.ok(
    subscribers.filter((sub) => sub.items.some((m) => m.item === 'fell_behind')).length >= 2,
    'subscribers other than the paused one fell behind too (bursts past the queue)',
  );

  // The bytes: each event message as the Event from Get would be encoded on its own.
  const mismatched = undecoded.raw.filter((bytes, i) => {
    const item = undecoded.items[i] as Msg;
    if (item.item !== 'event') return false;
    const want = SUBSCRIBE.responseSerialize({ event: byGet.get((item.event as Msg).seq as number) as Msg });
    return !want.equals(bytes);
  });
  t.equal(mismatched.length, 0, 'every event message: byte for byte the message encoded by itself');
  t.ok(undecoded.raw.length > appended.length, `${undecoded.raw.length} messages compared`);

  for (const sub of subscribers) sub.stream.cancel();
});
