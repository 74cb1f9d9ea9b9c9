/** The SDK against a real daemon in a child process: every call, batching, errors, deadlines. */
import { status } from '@grpc/grpc-js';
import t from 'tap';
import { EventSpineClient, type SpineEvent, type SubscriptionItem } from '../../src/client';
import { employeeEvent, openClient, within } from '../helpers/client';
import { startDaemon } from '../helpers/daemon';

t.test('emit, get, query, read, aggregate, verify, head through the SDK', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t);
  const spine = openClient(t, daemon.grpcAddress, { defaults: { organization_id: 'acme', environment: 'test', actor_id: 'svc-hr', actor_type: 'system' } });

  t.same(await spine.head(), { seq: 0, event_hash: '0'.repeat(64) }, 'an empty store');
  // The seed's usage, with TypeScript names.
  const created = await spine.emit({
    event_type: 'hcm.employee.created',
    entity_type: 'employee',
    entity_id: 'emp-1',
    action: 'created',
    actor_id: 'user-7',
    payload: { name: 'Ada Lovelace', department: 'dept-42' },
  });
  t.match(created, { seq: 1, deduplicated: false, timestamp: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, event_hash: /^[0-9a-f]{64}$/ });
  t.match(created.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a client-made UUIDv7');

  const results = await Promise.all(Array.from({ length: 300 }, (_, i) => spine.emit(employeeEvent(i, { severity: i % 10 === 0 ? 'high' : 'low' }))));
  const seqs = results.map((r) => r.seq).sort((a, b) => a - b);
  t.same(seqs, Array.from({ length: 300 }, (_, i) => i + 2), '300 concurrent emits: seqs 2…301, each once');

  const ev = (await spine.get({ id: created.id })) as SpineEvent;
  t.match(ev, { seq: 1, id: created.id, event_type: 'hcm.employee.created', domain: 'hcm', entity_type: 'employee', action: 'created', entity_id: 'emp-1', actor_id: 'user-7', actor_type: 'system', organization_id: 'acme', environment: 'test', severity: 'low', previous_hash: '0'.repeat(64), event_hash: created.event_hash });
  t.same(ev.payload, { name: 'Ada Lovelace', department: 'dept-42' }, 'payload parsed');
  t.equal(ev.payloadJson, '{"department":"dept-42","name":"Ada Lovelace"}', 'and its canonical text (RFC 8785 key order)');
  t.same(await spine.get({ seq: 1 }), ev, 'by seq');
  t.equal(await spine.get({ seq: 999 }), undefined, 'NOT_FOUND is undefined');
  t.equal(await spine.get({ id: '0190a000-0000-7000-8000-00000000ffff' }), undefined);

  const page1 = await spine.query({ entity_type: 'employee', entity_id: 'emp-5' }, { order: 'desc', limit: 2 });
  t.same(page1.items.map((e) => e.payload.n), [205, 105], 'newest first');
  t.type(page1.next_cursor, 'string');
  const page2 = await spine.query({ entity_type: 'employee', entity_id: 'emp-5' }, { order: 'desc', limit: 2, cursor: page1.next_cursor as string });
  t.same(page2.items.map((e) => e.payload.n), [5]);
  t.equal(page2.next_cursor, undefined, 'no cursor after the last page');
  t.equal((await spine.query({ event_type: 'hcm.', severity: 'high' }, { limit: 1000 })).items.length, 30, 'prefix and severity filters');

  const all: SpineEvent[] = [];
  for await (const e of spine.read({ from_seq: 2 })) all.push(e);
  t.same(all.map((e) => e.seq), seqs, 'read streams the range in seq order');
  t.ok(all.every((e, i) => i === 0 || e.previous_hash === (all[i - 1] as SpineEvent).event_hash), 'chained');

  const agg = await spine.aggregate({ domain: 'hcm' }, 'event_type');
  t.same(agg, { group_by: 'event_type', total: 301, groups: [{ key: 'hcm.employee.updated', count: 300 }, { key: 'hcm.employee.created', count: 1 }] });
  const v = await spine.verify({ check_index: true });
  t.match(v, { ok: true, from_seq: 1, to_seq: 301, checked: 301 });
  t.equal(v.first_bad_seq, undefined);
  const head = await spine.head();
  t.match(head, { seq: 301, event_hash: all.at(-1)?.event_hash });
  t.ok(head.timestamp);
});

t.test('refusals: the offending emit rejects with code and field, its batch neighbours are stored', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t);
  const spine = openClient(t, daemon.grpcAddress);
  // All in one turn of the event loop: they share one AppendStream request.
  const good = Array.from({ length: 20 }, (_, i) => spine.emit(employeeEvent(i)));
  const badType = spine.emit(employeeEvent(100, { event_type: 'Free Form Name' }));
  const noActor = spine.emit({ event_type: 'hcm.employee.created', entity_id: 'e-9' });
  const badNumber = spine.emit(employeeEvent(101, { payload: { amount: 2 ** 60 } }));
  const more = Array.from({ length: 20 }, (_, i) => spine.emit(employeeEvent(200 + i)));
  await t.rejects(badType, { code: 'INVALID_EVENT_TYPE', grpcStatus: status.INVALID_ARGUMENT, field: /event_type$/ });
  await t.rejects(noActor, { code: 'MISSING_FIELD', grpcStatus: status.INVALID_ARGUMENT, field: /actor_id$/ });
  await t.rejects(badNumber, { code: 'UNSAFE_NUMBER', field: /payload\.amount$/ });
  const stored = await Promise.all([...good, ...more]);
  t.equal(stored.length, 40);
  t.equal((await spine.head()).seq, 40, 'exactly the 40 valid events, nothing of the refused ones');

  // Idempotency: the same id with the same content is the same event; other content is refused.
  const first = await spine.emit(employeeEvent(1, { id: '0190a000-0000-7000-8000-000000000001' }));
  const again = await spine.emit(employeeEvent(1, { id: '0190a000-0000-7000-8000-000000000001' }));
  t.match(again, { seq: first.seq, id: first.id, event_hash: first.event_hash, deduplicated: true });
  await t.rejects(spine.emit(employeeEvent(2, { id: '0190a000-0000-7000-8000-000000000001' })), {
    code: 'ID_CONFLICT',
    grpcStatus: status.ALREADY_EXISTS,
    eventId: '0190a000-0000-7000-8000-000000000001',
  });

  // append() is atomic: one bad event and nothing of the batch is stored.
  const before = (await spine.head()).seq;
  await t.rejects(spine.append([employeeEvent(1), employeeEvent(2, { severity: 'urgent' as 'high' })]), { code: 'INVALID_ENUM', field: 'events[1].severity' });
  t.equal((await spine.head()).seq, before);
  const ok = await spine.append([employeeEvent(3), employeeEvent(4)]);
  t.same(ok.map((r) => r.seq), [before + 1, before + 2]);
});

t.test('subscribe: catch up from a seq, then live, with markers on request', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_SUBSCRIPTIONS_HEARTBEAT_MS: '100' } });
  const spine = openClient(t, daemon.grpcAddress);
  for (let i = 0; i < 5; i++) await spine.emit(employeeEvent(i, { event_type: i % 2 === 0 ? 'hcm.employee.updated' : 'finance.invoice.created', entity_type: undefined, action: undefined }));

  const items: SubscriptionItem[] = [];
  const ctl = new AbortController();
  const consumer = (async () => {
    for await (const item of spine.subscribe({ event_type: 'hcm.' }, { fromSeq: 1, markers: true, signal: ctl.signal })) {
      items.push(item);
      if (items.filter((x) => x.type === 'event').length === 5) ctl.abort();
    }
  })();
  // Only-new subscription (no fromSeq): starts after the head as of the call.
  const fresh: SpineEvent[] = [];
  const freshDone = (async () => {
    for await (const ev of spine.subscribe({}, {})) {
      fresh.push(ev);
      if (fresh.length === 2) break;
    }
  })();
  // Live and idle for a while (heartbeats), and the new-only subscription's start fixed
  // (its head request answered before this one) before anything more is emitted.
  await within(10_000, 'caught_up', (async () => {
    while (!items.some((x) => x.type === 'caught_up')) await new Promise((r) => setTimeout(r, 10));
  })());
  await new Promise((r) => setTimeout(r, 300));
  await spine.head();
  await spine.emit(employeeEvent(10));
  await spine.emit(employeeEvent(11, { event_type: 'finance.invoice.created', entity_type: undefined, action: undefined }));
  await spine.emit(employeeEvent(12));
  // On a timeout, say what each subscriber had received by then.
  const got = (): string => `the hcm. subscriber has ${JSON.stringify(items.map((x) => (x.type === 'event' ? x.event.seq : x.type)))}, the new-only one ${JSON.stringify(fresh.map((e) => e.seq))}`;
  await within(10_000, 'subscribers', Promise.all([consumer, freshDone]), got);
  const events = items.flatMap((x) => (x.type === 'event' ? [x.event] : []));
  t.same(events.map((e) => e.seq), [1, 3, 5, 6, 8], 'the hcm. events, catch-up then live, in order');
  t.ok(events.every((e) => e.domain === 'hcm'));
  const caughtUp = items.filter((x) => x.type !== 'heartbeat').findIndex((x) => x.type === 'caught_up');
  t.equal(caughtUp, 3, 'caught_up right after the three stored events');
  t.same(fresh.map((e) => e.seq), [6, 7], 'a subscription without fromSeq sees only later events');
  const heartbeats = items.filter((x) => x.type === 'heartbeat');
  t.ok(heartbeats.length > 0, `heartbeats while idle (${heartbeats.length})`);
  t.ok(heartbeats.every((x) => x.type === 'heartbeat' && x.seq <= 8), 'each naming a resume point already delivered');

  // The start of a subscription without fromSeq is fixed by the call, not by the first next().
  const early = spine.subscribe({});
  await spine.head(); // answered after the subscription's own head request
  const emitted = await spine.emit(employeeEvent(20));
  const first = await within(10_000, 'the early subscription', early.next());
  t.equal(first.value?.seq, emitted.seq, 'an event emitted between subscribe() and the first next() is delivered');
  await early.return(undefined);

  // to_seq ends the iteration by itself.
  const bounded: number[] = [];
  for await (const ev of spine.subscribe({ to_seq: 4 }, { fromSeq: 2 })) bounded.push(ev.seq);
  t.same(bounded, [2, 3, 4]);
});

t.test('an append() batch travels alone: refused or stored whole, whatever the emits beside it', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t);
  const spine = openClient(t, daemon.grpcAddress);
  // All in one turn of the event loop, as emits that would share a request.
  const goodEmits = Array.from({ length: 10 }, (_, i) => spine.emit(employeeEvent(i)));
  const badBatch = spine.append([employeeEvent(10), employeeEvent(11, { event_type: 'Free Form' }), employeeEvent(12)]);
  const badEmit = spine.emit(employeeEvent(13, { severity: 'urgent' as 'high' }));
  const goodBatch = spine.append(Array.from({ length: 5 }, (_, i) => employeeEvent(20 + i)));
  await t.rejects(badBatch, { code: 'INVALID_EVENT_TYPE', grpcStatus: status.INVALID_ARGUMENT, field: 'events[1].event_type' });
  await t.rejects(badEmit, { code: 'INVALID_ENUM', field: /severity$/ });
  const stored = await goodBatch;
  t.same(stored.map((r) => r.seq - (stored[0] as { seq: number }).seq), [0, 1, 2, 3, 4], 'the good batch at consecutive seqs');
  t.equal((await Promise.all(goodEmits)).length, 10);
  t.equal((await spine.head()).seq, 15, 'the 10 emits and the good batch; nothing of the bad batch');
  // A batch sent again with the same ids is the same events.
  const ids = stored.map((r) => r.id);
  const again = await spine.append(Array.from({ length: 5 }, (_, i) => employeeEvent(20 + i, { id: ids[i] })));
  t.same(again.map((r) => [r.seq, r.deduplicated]), stored.map((r) => [r.seq, true]), 'a repeated batch is answered with the original seqs');
  await t.rejects(spine.append([]), { code: 'EMPTY_BATCH', grpcStatus: status.INVALID_ARGUMENT });
  const big = Array.from({ length: 1200 }, (_, i) => employeeEvent(100 + i));
  t.equal((await spine.append(big)).length, 1200, 'a batch larger than batch.maxEvents still goes as one request');
});

t.test('an append() batch goes out at once, not after the emits\' batching delay', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t);
  // A delay no test would wait for: only what is sent at once is acknowledged in time.
  const spine = openClient(t, daemon.grpcAddress, { batch: { maxDelayMs: 600_000 } });
  const first = spine.append([employeeEvent(1)]);
  await new Promise((r) => setImmediate(r)); // the first request is now in flight
  const second = spine.append([employeeEvent(2), employeeEvent(3)]);
  const results = await within(20_000, 'append() beside a request in flight', Promise.all([first, second]));
  t.same(results.map((r) => r.map((x) => x.seq)), [[1], [2, 3]], 'both stored, in order');
  // An emit made while a request is in flight does wait for company (maxDelayMs): an
  // append() made after it takes it along.
  const third = spine.append([employeeEvent(4)]);
  await new Promise((r) => setImmediate(r));
  const emitted = spine.emit(employeeEvent(5));
  const fourth = spine.append([employeeEvent(6)]);
  const [a, b, c] = await within(20_000, 'an emit queued before an append()', Promise.all([third, emitted, fourth]));
  t.same([a.map((x) => x.seq), b.seq, c.map((x) => x.seq)], [[4], 5, [6]], 'the emit goes out with the batch behind it, in order');
});

t.test('deadlines and a closed client', { timeout: 60_000 }, async (t) => {
  // Nothing listens on this address: emits and calls must end by their deadline.
  const dead = new EventSpineClient({ address: '127.0.0.1:9', retry: { attempts: 1000, baseDelayMs: 20, maxDelayMs: 100 } });
  const t0 = Date.now();
  await t.rejects(dead.emit(employeeEvent(1), { timeoutMs: 300 }), { code: 'DEADLINE_EXCEEDED', grpcStatus: status.DEADLINE_EXCEEDED, eventId: /^[0-9a-f-]{36}$/ });
  await t.rejects(dead.append([employeeEvent(1), employeeEvent(2)], { timeoutMs: 300 }), { code: 'DEADLINE_EXCEEDED', grpcStatus: status.DEADLINE_EXCEEDED });
  await t.rejects(dead.head({ timeoutMs: 300 }), { code: /^(UNAVAILABLE|DEADLINE_EXCEEDED)$/ });
  t.ok(Date.now() - t0 < 2000, `both ended by their deadlines (${Date.now() - t0} ms)`);
  await within(5000, 'close', dead.close());
  await dead.close();
  await t.rejects(dead.head(), { code: 'CLIENT_CLOSED' });
  await t.rejects(dead.append([employeeEvent(3)]), { code: 'CLIENT_CLOSED' });

  const daemon = await startDaemon(t);
  const spine = openClient(t, daemon.grpcAddress);
  await t.rejects(spine.verify({}, { timeoutMs: 0 }), { code: 'DEADLINE_EXCEEDED', grpcStatus: status.DEADLINE_EXCEEDED });
  // close() waits for emits already made.
  const pending = Array.from({ length: 50 }, (_, i) => spine.emit(employeeEvent(i)));
  await spine.close();
  t.equal((await Promise.all(pending)).length, 50, 'every emit made before close() was acknowledged');
  const check = openClient(t, daemon.grpcAddress);
  t.equal((await check.head()).seq, 50);
});

t.test('a subscription silent past idleTimeoutMs is reopened from where it was, without loss', { timeout: 60_000 }, async (t) => {
  const daemon = await startDaemon(t); // heartbeats every 15 s: far beyond the watchdog below
  const spine = openClient(t, daemon.grpcAddress);
  const seqs: number[] = [];
  const ctl = new AbortController();
  const consumer = (async () => {
    for await (const ev of spine.subscribe({}, { fromSeq: 1, idleTimeoutMs: 150, signal: ctl.signal })) {
      seqs.push(ev.seq);
      if (seqs.length === 4) ctl.abort();
    }
  })();
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 400)); // silences longer than the watchdog
    await spine.emit(employeeEvent(i));
  }
  await within(10_000, 'the subscriber', consumer);
  t.same(seqs, [1, 2, 3, 4], 'every event once, in order');
  const metrics = await (await fetch(`http://${daemon.httpAddress}/metrics`)).text();
  const opened = metrics
    .split('\n')
    .filter((l) => l.startsWith('eventspine_grpc_calls_total') && l.includes('method="Subscribe"'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  t.ok(opened >= 4, `the stream was reopened after each silence (${opened} Subscribe calls)`);
});

t.test('an event over the server message limit is refused alone; the stream carries on', { timeout: 60_000 }, async (t) => {
  // The smallest message limit the daemon accepts above its default 64 KiB payload limit.
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_LIMITS_MAX_MESSAGE_BYTES: '131072' } });
  const spine = openClient(t, daemon.grpcAddress, { batch: { maxBytes: 16 * 1024 } });
  const small = Array.from({ length: 30 }, (_, i) => spine.emit(employeeEvent(i)));
  const huge = spine.emit(employeeEvent(99, { payload: { blob: 'x'.repeat(200_000) } }));
  const after = Array.from({ length: 30 }, (_, i) => spine.emit(employeeEvent(100 + i)));
  await t.rejects(huge, { code: /^(REQUEST_TOO_LARGE|RESOURCE_EXHAUSTED)$/, grpcStatus: status.RESOURCE_EXHAUSTED });
  t.equal((await Promise.all([...small, ...after])).length, 60, 'its neighbours were stored');
  t.equal((await spine.head()).seq, 60);
});
