/**
 * Every RPC of eventspine.v1.EventSpine against the real daemon, through a client built
 * from proto/ alone; plus grpc.health.v1 and server reflection.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { REPO_ROOT, startDaemon } from '../../helpers/daemon';
import { collect, errorInfo, spineClient, wireEvent, type Msg } from '../../helpers/grpc-client';

const GENESIS = '0'.repeat(64);
const HEARTBEAT_MS = 150;

t.test('the EventSpine service, end to end', async (t) => {
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_SUBSCRIPTIONS_HEARTBEAT_MS: String(HEARTBEAT_MS), EVENT_SPINE_SUBSCRIPTIONS_QUEUE_LIMIT: '16', EVENT_SPINE_LIMITS_MAX_IN_FLIGHT_PER_STREAM: '4' } });
  const c = spineClient(t, daemon.grpcAddress);

  await t.test('Head of an empty store', async (t) => {
    const head = await c.call<Msg>('Head', {});
    t.notOk(head.seq, 'seq 0');
    t.equal(head.event_hash, GENESIS, 'the genesis hash');
    t.equal(head.timestamp, undefined, 'no timestamp');
  });

  const appended: Msg[] = [];
  await t.test('Append: a batch, atomically, with what the store assigned', async (t) => {
    const id = randomUUID();
    const events = [wireEvent({ id }), wireEvent({ severity: 'high', actor_type: 'system' }), wireEvent({ payload: undefined })];
    const res = await c.call<{ results: Msg[] }>('Append', { events });
    t.equal(res.results.length, 3);
    t.same(
      res.results.map((r) => r.seq),
      [1, 2, 3],
    );
    t.equal(res.results[0]?.id, id, 'a client-given id is kept');
    for (const r of res.results) {
      t.match(r, { id: /^[0-9a-f-]{36}$/, timestamp: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, event_hash: /^[0-9a-f]{64}$/ });
      t.notOk(r.deduplicated);
    }
    appended.push(...res.results);

    const again = await c.call<{ results: Msg[] }>('Append', { events: [events[0] as Msg] });
    t.same(again.results[0], { ...res.results[0], deduplicated: true }, 'a retry with the same id and content stores nothing new');

    const conflict = await c.call('Append', { events: [{ ...(events[0] as Msg), actor_id: 'someone-else' }] }).catch((e: unknown) => e);
    t.match(errorInfo(conflict), { status: grpc.status.ALREADY_EXISTS, code: 'ID_CONFLICT', field: 'events[0].id' });
    t.equal(((await c.call<Msg>('Head', {})).seq as number) ?? 0, 3, 'nothing stored by the refused request');
  });

  await t.test('Get by id and by seq', async (t) => {
    const first = appended[0] as Msg;
    const byId = await c.call<Msg>('Get', { id: first.id });
    const bySeq = await c.call<Msg>('Get', { seq: 1 });
    t.same(byId, bySeq);
    t.match(byId, {
      seq: 1,
      id: first.id,
      event_type: 'hcm.employee.updated',
      domain: 'hcm',
      entity_type: 'employee',
      action: 'updated',
      actor_type: 'human',
      organization_id: 'default',
      environment: 'prod',
      severity: 'low',
      previous_hash: GENESIS,
      event_hash: first.event_hash,
      timestamp: first.timestamp,
    });
    t.match(byId.payload, /^\{"field":"department","n":\d+,"new_value":"d-2","old_value":"d-1"\}$/, 'payload: canonical JSON text');
    t.equal((await c.call<Msg>('Get', { seq: 3 })).payload, '{}', 'an absent payload is {}');
    t.equal((await c.call<Msg>('Get', { id: String(first.id).toUpperCase() })).seq, 1, 'ids are case-insensitive');

    const missing = await c.call('Get', { id: randomUUID() }).catch((e: unknown) => e);
    t.match(errorInfo(missing), { status: grpc.status.NOT_FOUND, code: 'NOT_FOUND', field: 'id' });
    const missingSeq = await c.call('Get', { seq: 99 }).catch((e: unknown) => e);
    t.match(errorInfo(missingSeq), { status: grpc.status.NOT_FOUND, code: 'NOT_FOUND', field: 'seq' });
    const badId = await c.call('Get', { id: 'not-a-uuid' }).catch((e: unknown) => e);
    t.match(errorInfo(badId), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_ID', field: 'id' });
    const neither = await c.call('Get', {}).catch((e: unknown) => e);
    t.match(errorInfo(neither), { status: grpc.status.INVALID_ARGUMENT, code: 'MISSING_FIELD' });
  });

  await t.test('AppendStream: many requests in flight on one stream (the server reads 4 ahead), each answered by request_id', async (t) => {
    const stream = c.appendStream();
    const answers = new Map<number, Msg>();
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Msg) => answers.set(m.request_id as number, m));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    const REQUESTS = 120;
    for (let i = 1; i <= REQUESTS; i++) {
      const bad = i % 30 === 0;
      const events = Array.from({ length: 5 }, (_, k) => wireEvent({ event_type: bad && k === 2 ? 'Not.Valid' : 'qa.stream.tested', payload: JSON.stringify({ i, k }) }));
      stream.write({ request_id: i, events });
    }
    stream.end();
    await done;
    t.equal(answers.size, REQUESTS, 'every request answered');
    const seqs: number[] = [];
    for (let i = 1; i <= REQUESTS; i++) {
      const a = answers.get(i) as Msg;
      if (i % 30 === 0) {
        t.match(a, { outcome: 'error', error: { code: 'INVALID_EVENT_TYPE', field: 'events[2].event_type', status: grpc.status.INVALID_ARGUMENT } }, `request ${i} refused, the stream went on`);
      } else {
        const results = (a.ok as { results: Msg[] }).results;
        t.equal(results.length, 5);
        seqs.push(...results.map((r) => r.seq as number));
      }
    }
    seqs.sort((a, b) => a - b);
    t.equal(seqs.length, (REQUESTS - 4) * 5);
    t.ok(
      seqs.every((s, i) => s === 4 + i),
      'dense seqs after the first 3 events, no refused event stored',
    );
  });

  await t.test('Query: filters, order, paging with a cursor', async (t) => {
    await c.call('Append', {
      events: [
        wireEvent({ event_type: 'finance.invoice.created', entity_id: 'inv-1', actor_id: 'alice', severity: 'critical', organization_id: 'acme' }),
        wireEvent({ event_type: 'finance.invoice.paid', entity_id: 'inv-1', actor_id: 'bob', organization_id: 'acme', environment: 'test' }),
        wireEvent({ event_type: 'finance.payment.created', entity_id: 'pay-1', actor_id: 'alice' }),
      ],
    });
    const q = (filter: Msg, more: Msg = {}) => c.call<{ items: Msg[]; next_cursor?: string }>('Query', { filter, ...more });
    t.same((await q({ entity_type: 'invoice', entity_id: 'inv-1' })).items.map((e) => e.event_type), ['finance.invoice.created', 'finance.invoice.paid']);
    t.equal((await q({ event_type: 'finance.' })).items.length, 3, 'a domain prefix');
    t.equal((await q({ event_type: 'finance.invoice.' })).items.length, 2, 'an entity prefix');
    t.equal((await q({ event_type: 'finance.invoice.paid' })).items.length, 1, 'exact');
    t.equal((await q({ domain: 'finance', actor_id: 'alice' })).items.length, 2);
    t.equal((await q({ organization_id: 'acme', severity: 'critical' })).items.length, 1);
    t.equal((await q({ environment: 'test' })).items.length, 1);
    const last = (await q({}, { order: 'ORDER_DESC', limit: 1 })).items[0] as Msg;
    t.equal(last.event_type, 'finance.payment.created', 'descending order');
    const since = (await c.call<Msg>('Get', { seq: 1 })).timestamp as string;
    t.ok((await q({ since, until: '2999-01-01T00:00:00.000Z' })).items.length > 0, 'a time range');
    t.equal((await q({ from_seq: 2, to_seq: 3 })).items.length, 2, 'a seq range');

    // Paging: every event of the domain exactly once, in order.
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await q({ domain: 'qa' }, { limit: 100, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((e) => e.seq as number));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== undefined);
    t.equal(seen.length, 116 * 5);
    t.ok(pages >= 6, 'several pages');
    t.ok(
      seen.every((s, i) => i === 0 || s > (seen[i - 1] as number)),
      'ascending, no duplicate',
    );

    const badCursor = await q({ domain: 'qa' }, { cursor: 'nope' }).catch((e: unknown) => e);
    t.match(errorInfo(badCursor), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_CURSOR', field: 'cursor' });
    const badFilter = await q({ entity_id: 'x' }).catch((e: unknown) => e);
    t.match(errorInfo(badFilter), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_QUERY', field: 'entity_id' });
    const badLimit = await q({}, { limit: 0 }).catch((e: unknown) => e);
    t.match(errorInfo(badLimit), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_QUERY', field: 'limit' });
  });

  await t.test('Read: a filtered range as a stream, in seq order', async (t) => {
    const head = (await c.call<Msg>('Head', {})).seq as number;
    const all = await collect(c.stream('Read', {}));
    t.equal(all.status.code, grpc.status.OK);
    t.equal(all.messages.length, head);
    t.same(
      all.messages.map((e) => e.seq),
      Array.from({ length: head }, (_, i) => i + 1),
    );
    const some = await collect(c.stream('Read', { filter: { event_type: 'finance.', from_seq: 1 } }));
    t.equal(some.messages.length, 3);
    const bad = await collect(c.stream('Read', { filter: { severity: 'urgent' } }));
    t.match(errorInfo(bad.error), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_QUERY', field: 'severity' });
  });

  await t.test('Subscribe: catch up, caught_up, live, heartbeats, cancel', async (t) => {
    const head = (await c.call<Msg>('Head', {})).seq as number;
    const sub = c.stream('Subscribe', { filter: { domain: 'finance' }, from_seq: 1 });
    const items: Msg[] = [];
    let wake: (() => void) | undefined;
    sub.on('data', (m: Msg) => {
      items.push(m);
      wake?.();
    });
    const ended = new Promise<grpc.StatusObject>((resolve) => sub.on('status', resolve));
    sub.on('error', () => undefined);
    const until = async (pred: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 5_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(items)}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
    };
    await until(() => items.some((m) => m.item === 'caught_up'), 'caught_up');
    t.same(
      items.filter((m) => m.item === 'event').map((m) => (m.event as Msg).event_type),
      ['finance.invoice.created', 'finance.invoice.paid', 'finance.payment.created'],
      'catch-up: the matching events',
    );
    t.same(items.find((m) => m.item === 'caught_up')?.caught_up, { seq: head }, 'caught_up at the head');

    await c.call('Append', { events: [wireEvent({ event_type: 'hcm.employee.hired' }), wireEvent({ event_type: 'finance.invoice.voided', entity_id: 'inv-1' })] });
    await until(() => items.filter((m) => m.item === 'event').length === 4, 'the live event');
    t.equal(((items.filter((m) => m.item === 'event')[3] as Msg).event as Msg).seq, head + 2, 'live: only the matching event, no gap, no duplicate');

    const before = items.length;
    await until(() => items.slice(before).some((m) => m.item === 'heartbeat'), 'a heartbeat');
    t.same(items.slice(before).find((m) => m.item === 'heartbeat')?.heartbeat, { seq: head + 2 }, 'heartbeat: every event up to the head went through the filter');

    sub.cancel();
    const status = await ended;
    t.equal(status.code, grpc.status.CANCELLED, 'the client ended it');
    // The server side ends too: the gauge goes back to 0.
    const deadline = Date.now() + 3_000;
    let gauge = '';
    while (Date.now() < deadline) {
      gauge = (await (await fetch(`http://${daemon.httpAddress}/metrics`)).text()).split('\n').find((l) => l.startsWith('eventspine_subscribers ')) ?? '';
      if (gauge === 'eventspine_subscribers 0') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.equal(gauge, 'eventspine_subscribers 0');

    const fromHead = c.stream('Subscribe', {});
    const first = await new Promise<Msg>((resolve) => fromHead.once('data', resolve));
    t.same(first, { caught_up: { seq: head + 2 }, item: 'caught_up' }, 'without from_seq: live from the head');
    fromHead.on('error', () => undefined);
    fromHead.cancel();
  });

  await t.test('Subscribe: a subscriber that does not read falls behind, is never dropped, and catches up', async (t) => {
    const head = (await c.call<Msg>('Head', {})).seq as number;
    const sub = c.stream('Subscribe', { filter: { domain: 'load' } });
    const items: Msg[] = [];
    sub.on('data', (m: Msg) => items.push(m));
    sub.on('error', () => undefined);
    while (items.length === 0) await new Promise((r) => setTimeout(r, 10));
    t.same(items[0]?.caught_up, { seq: head });
    sub.pause(); // stop reading: HTTP/2 flow control backs up to the server
    const TOTAL = 3_000;
    for (let i = 0; i < TOTAL; i += 500) {
      await c.call('Append', { events: Array.from({ length: 500 }, (_, k) => wireEvent({ event_type: 'load.item.added', payload: JSON.stringify({ k: i + k, pad: 'p'.repeat(300) }) })) });
    }
    sub.resume();
    const deadline = Date.now() + 15_000;
    const events = (): Msg[] => items.filter((m) => m.item === 'event');
    while (events().length < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seqs = events().map((m) => (m.event as Msg).seq as number);
    t.equal(seqs.length, TOTAL, 'every event delivered');
    t.ok(
      seqs.every((s, i) => s === head + 1 + i),
      'in order, no gap, no duplicate',
    );
    const markers = items.filter((m) => m.item !== 'event' && m.item !== 'heartbeat').map((m) => m.item);
    t.ok(markers.includes('fell_behind'), `fell behind (markers: ${markers.join(', ')})`);
    t.equal(markers.at(-1), 'caught_up', 'and caught up again');
    sub.cancel();
  });

  await t.test('Aggregate', async (t) => {
    const res = await c.call<Msg>('Aggregate', { filter: { domain: 'finance' }, group_by: 'event_type' });
    t.equal(res.total, 4);
    t.same(res.groups, [
      { key: 'finance.invoice.created', count: 1 },
      { key: 'finance.invoice.paid', count: 1 },
      { key: 'finance.invoice.voided', count: 1 },
      { key: 'finance.payment.created', count: 1 },
    ]);
    const bySeverity = await c.call<Msg>('Aggregate', { group_by: 'severity' });
    t.equal((bySeverity.groups as Msg[])[0]?.key, 'low', 'largest count first');
    const byDay = await c.call<Msg>('Aggregate', { group_by: 'day' });
    t.match((byDay.groups as Msg[])[0], { key: /T00:00:00\.000Z$/ });
    const bad = await c.call('Aggregate', { group_by: 'colour' }).catch((e: unknown) => e);
    t.match(errorInfo(bad), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_QUERY', field: 'group_by' });
  });

  await t.test('Verify', async (t) => {
    const head = (await c.call<Msg>('Head', {})).seq as number;
    const all = await c.call<Msg>('Verify', { check_index: true });
    t.same(all, { ok: true, from_seq: 1, to_seq: head, checked: head });
    const part = await c.call<Msg>('Verify', { from_seq: 5, to_seq: 9 });
    t.same(part, { ok: true, from_seq: 5, to_seq: 9, checked: 5 });
  });

  await t.test('Head after appends', async (t) => {
    const head = await c.call<Msg>('Head', {});
    const last = await c.call<Msg>('Get', { seq: head.seq });
    t.match(head, { seq: last.seq, event_hash: last.event_hash, timestamp: last.timestamp });
  });

  await t.test('deadlines: a call whose deadline has passed is not started', async (t) => {
    const before = (await c.call<Msg>('Head', {})).seq;
    const err = await c.call('Append', { events: [wireEvent()] }, { deadlineMs: -1 }).catch((e: unknown) => e);
    t.equal(errorInfo(err).status, grpc.status.DEADLINE_EXCEEDED);
    t.equal((await c.call<Msg>('Head', {})).seq, before, 'nothing appended');
  });

  await t.test('deadlines: a long Read stops at its deadline', async (t) => {
    const read = c.stream('Read', {}, { deadlineMs: 300 });
    read.pause(); // a slow reader: the server fills the window and waits
    const ended = collect(read);
    await new Promise((r) => setTimeout(r, 500));
    read.resume();
    const { status, messages } = await ended;
    t.equal(status.code, grpc.status.DEADLINE_EXCEEDED);
    const head = (await c.call<Msg>('Head', {})).seq as number;
    t.ok(messages.length < head, `stopped part-way (${messages.length} of ${head})`);
  });

  await t.test('grpc.health.v1: Check, Watch', async (t) => {
    t.same(await c.check(''), { status: 'SERVING' });
    t.same(await c.check('eventspine.v1.EventSpine'), { status: 'SERVING' });
    const unknown = await c.check('nope.Service').catch((e: unknown) => e);
    t.equal(errorInfo(unknown).status, grpc.status.NOT_FOUND);
    const watch = (c.health as unknown as { Watch(req: Msg): grpc.ClientReadableStream<Msg> }).Watch({ service: '' });
    const first = await new Promise<Msg>((resolve) => watch.once('data', resolve));
    t.same(first, { status: 'SERVING' });
    watch.on('error', () => undefined);
    watch.cancel();
  });

  await t.test('server reflection (v1 and v1alpha) lists the services and describes them', async (t) => {
    for (const version of ['v1', 'v1alpha']) {
      const reflectionProto = join(REPO_ROOT, 'node_modules', '@grpc', 'reflection', 'build', 'proto', 'grpc', 'reflection', version, 'reflection.proto');
      const def = protoLoader.loadSync(reflectionProto, { keepCase: true, longs: Number, defaults: false, oneofs: true });
      const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> } };
      const Reflection = (pkg.grpc.reflection[version] as { ServerReflection: grpc.ServiceClientConstructor }).ServerReflection;
      const client = new Reflection(daemon.grpcAddress, grpc.credentials.createInsecure());
      t.teardown(() => client.close());
      const ask = (request: Msg): Promise<Msg> =>
        new Promise((resolve, reject) => {
          const call = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<Msg, Msg> }).ServerReflectionInfo();
          call.once('data', (m: Msg) => {
            resolve(m);
            call.end();
          });
          call.once('error', reject);
          call.write(request);
        });
      const list = await ask({ list_services: '' });
      const names = ((list.list_services_response as Msg).service as Msg[]).map((s) => s.name);
      t.ok(names.includes('eventspine.v1.EventSpine'), `${version} lists: ${names.join(', ')}`);
      t.ok(names.includes('grpc.health.v1.Health'));
      const file = await ask({ file_containing_symbol: 'eventspine.v1.EventSpine' });
      const protos = (file.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
      t.ok(
        protos.some((b) => b.toString('latin1').includes('AppendStream')),
        `${version}: the file descriptor describing AppendStream`,
      );
    }
  });

  await t.test('the HTTP listener: /healthz, /readyz, /metrics, unknown paths', async (t) => {
    const base = `http://${daemon.httpAddress}`;
    const healthz = await fetch(`${base}/healthz`);
    t.equal(healthz.status, 200);
    t.same(await healthz.json(), { status: 'ok' });
    const readyz = await fetch(`${base}/readyz`);
    t.equal(readyz.status, 200);
    t.same(await readyz.json(), { status: 'ready' });
    const metrics = await fetch(`${base}/metrics`);
    t.equal(metrics.status, 200);
    t.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const missing = await fetch(`${base}/no/such/path`);
    t.equal(missing.status, 404);
    t.match(await missing.json(), { error: { code: 'NOT_FOUND', message: /no route for \/no\/such\/path/ } });
    const wrongMethod = await fetch(`${base}/healthz`, { method: 'POST' });
    t.equal(wrongMethod.status, 405);
    t.match(await wrongMethod.json(), { error: { code: 'METHOD_NOT_ALLOWED' } });
  });

  await t.test('/metrics counts what happened', async (t) => {
    const text = await (await fetch(`http://${daemon.httpAddress}/metrics`)).text();
    const head = (await c.call<Msg>('Head', {})).seq as number;
    t.match(text, new RegExp(`^eventspine_append_events_total ${head}$`, 'm'), 'events stored');
    t.match(text, /^eventspine_log_write_seconds_bucket\{le="\+Inf"\} \d+$/m, 'write latency histogram');
    t.match(text, /^eventspine_append_batch_events_bucket\{le="5"\} \d+$/m, 'batch size histogram');
    t.match(text, /^eventspine_grpc_calls_total\{method="Append",status="OK"\} \d+$/m);
    t.match(text, /^eventspine_grpc_calls_total\{method="Get",status="NOT_FOUND"\} 2$/m);
    t.match(text, /^eventspine_errors_total\{code="INVALID_EVENT_TYPE"\} 4$/m, 'errors by code (the 4 refused stream requests)');
    t.match(text, /^eventspine_log_bytes_written_total \d+$/m);
    t.match(text, new RegExp(`^eventspine_head_seq ${head}$`, 'm'));
    t.match(text, /^# TYPE eventspine_log_write_seconds histogram$/m);
  });
});
