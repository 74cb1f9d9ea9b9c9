/**
 * Authentication and authorization of every RPC of eventspine.v1.EventSpine (DESIGN §7),
 * against a real GrpcServer over a real Store, through a client built from proto/ alone:
 * a matrix of credentials over every method of the service definition; tenant isolation on
 * every read path (Subscribe's live part included); bound actors and organizations on
 * appends; rate and stream limits; what refusals leave in the metrics and the logs. Last,
 * the same gate in the real daemon.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { newSecret, type Scope } from '../../../src/auth';
import { startDaemon } from '../../helpers/daemon';
import { PROTO_DIR, collect, errorInfo, spineClient, wireEvent, type Msg, type SpineClient } from '../../helpers/grpc-client';
import { startGrpcServer, type GrpcServerHandle } from '../../helpers/grpc-server';
import { TENANT_KEYS, writeKeys, type KeySpec } from '../../helpers/keys';

const SERVICE = protoLoader.loadSync(['eventspine/v1/event_spine.proto'], { keepCase: true, includeDirs: [PROTO_DIR] })['eventspine.v1.EventSpine'] as protoLoader.ServiceDefinition;

const KEYS: Record<string, KeySpec> = {
  ...TENANT_KEYS,
  limited: { scopes: ['read'], rate_limit_per_second: 2 },
  ratedappend: { scopes: ['append'], rate_limit_per_second: 2 },
  streams2: { scopes: ['read'], max_streams: 2 },
};

/** For each scope: a key with it (and little else), and one without it. */
const WITH: Record<Scope, string> = { append: 'appendonly', read: 'readonly', admin: 'acmeadmin' };
const WITHOUT: Record<Scope, string> = { append: 'readonly', read: 'appendonly', admin: 'acme' };

function md(authorization: string | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (authorization !== undefined) m.set('authorization', authorization);
  return m;
}

interface Outcome {
  status: number;
  code: string | undefined;
  field: string | undefined;
  details: string;
  retryAfter: string | undefined;
  messages: Msg[];
}

function failed(err: unknown): Outcome {
  const retry = (err as grpc.ServiceError).metadata?.get('retry-after')[0];
  return { ...errorInfo(err), retryAfter: retry === undefined ? undefined : String(retry), messages: [] };
}

const OK: Outcome = { status: grpc.status.OK, code: undefined, field: undefined, details: '', retryAfter: undefined, messages: [] };

/** A stream's first message (then cancelled: Subscribe never ends) or its end, whichever comes first. */
function firstOrEnd(stream: grpc.ClientReadableStream<Msg> | grpc.ClientDuplexStream<Msg, Msg>): Promise<Outcome> {
  return new Promise((resolve) => {
    stream.on('data', (m: Msg) => {
      resolve({ ...OK, messages: [m] });
      stream.cancel();
    });
    stream.on('error', (err: unknown) => resolve(failed(err)));
    stream.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve(OK);
    });
  });
}

/** Any RPC of the service, by the shape the service definition gives it. */
async function invoke(c: SpineClient, method: string, request: Msg, authorization: string | undefined): Promise<Outcome> {
  const def = SERVICE[method];
  if (def === undefined) throw new TypeError(`no method ${method}`);
  const options = { metadata: md(authorization) };
  if (!def.requestStream && !def.responseStream) {
    try {
      return { ...OK, messages: [await c.call<Msg>(method, request, options)] };
    } catch (err) {
      return failed(err);
    }
  }
  if (!def.requestStream) return firstOrEnd(c.stream(method, request, options));
  const stream = c.appendStream(options);
  const outcome = firstOrEnd(stream);
  stream.write(request);
  stream.end();
  return outcome;
}

/** The messages of a stream as they come; `until` resolves once they satisfy a condition. */
function follow(stream: grpc.ClientReadableStream<Msg>): { items: Msg[]; until(pred: (items: Msg[]) => boolean, what: string): Promise<void> } {
  const items: Msg[] = [];
  const waiters: { pred: (items: Msg[]) => boolean; resolve: () => void; reject: (e: Error) => void; what: string }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      if (w.pred(items)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  stream.on('data', (m: Msg) => {
    items.push(m);
    check();
  });
  stream.on('error', (err: grpc.ServiceError) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`the stream ended (${err.code} ${err.details}) before ${w.what}`));
  });
  return {
    items,
    until: (pred, what) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ pred, resolve, reject, what });
        check();
      }),
  };
}

/** Waits for a state the server reaches on its own (a cancelled stream let go); fails after `ms`. */
async function eventually(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const events = (items: Msg[]): Msg[] => items.filter((m) => m.item === 'event').map((m) => m.event as Msg);
const seqs = (list: Msg[]): number[] => list.map((e) => e.seq as number);

function setupRequest(org: string | undefined): Msg {
  return {
    ...(org === undefined ? {} : { organization_id: org }),
    tables: [{ name: 'orders', statistics: { row_count: 10, last_updated: new Date().toISOString() }, columns: [{ name: 'id', type: 'bigint', primary_key: true, statistics: { null_count: 0, distinct_count: 10 } }] }],
  };
}

t.test('every RPC of eventspine.v1.EventSpine is authenticated and authorized', async (t) => {
  const s: GrpcServerHandle = await startGrpcServer(t, { keys: KEYS, heartbeatMs: 60_000 });
  const c = spineClient(t, s.address);
  const as = (key: string) => ({ metadata: md(s.keys.bearer(key)) });
  const head = async (): Promise<number> => ((await c.call<Msg>('Head', {}, as('admin'))).seq as number | undefined) ?? 0;
  const query = async (key: string, filter: Msg = {}): Promise<Msg[]> => (await c.call<{ items?: Msg[] }>('Query', { filter, limit: 10_000 }, as(key))).items ?? [];

  // ---- seed: both organizations' events and one operation each, through the admin key ----
  const seed = (org: string, types: string[]): Msg[] => types.map((event_type) => wireEvent({ event_type, organization_id: org, actor_id: 'alice' }));
  await c.call('Append', { events: seed('acme', ['finance.invoice.created', 'finance.invoice.created', 'finance.invoice.paid', 'hcm.employee.hired', 'hcm.employee.hired']) }, as('admin'));
  await c.call('Append', { events: seed('globex', ['finance.invoice.created', 'crm.lead.created', 'crm.lead.created', 'crm.lead.won']) }, as('admin'));
  const ops: Record<string, string> = {};
  for (const org of ['acme', 'globex']) {
    const run = await collect(c.stream('BatchAutoSetup', setupRequest(org), as('admin')));
    t.equal(run.status.code, grpc.status.OK, `the ${org} operation ran`);
    ops[org] = String(run.messages[0]?.operation_id);
  }
  const globexEvent = (await query('admin', { organization_id: 'globex' }))[0] as Msg;

  await t.test('the matrix: every method of the service definition, every kind of credentials', async (t) => {
    const rows: Record<string, { scope: Scope; request: () => Msg }> = {
      Append: { scope: 'append', request: () => ({ events: [wireEvent()] }) },
      AppendStream: { scope: 'append', request: () => ({ request_id: 1, events: [wireEvent()] }) },
      BatchAutoSetup: { scope: 'append', request: () => setupRequest(undefined) },
      Get: { scope: 'read', request: () => ({ seq: 1 }) },
      Query: { scope: 'read', request: () => ({ filter: {} }) },
      Read: { scope: 'read', request: () => ({ filter: { to_seq: 3 } }) },
      Subscribe: { scope: 'read', request: () => ({ from_seq: 1 }) },
      Aggregate: { scope: 'read', request: () => ({ group_by: 'event_type' }) },
      Head: { scope: 'read', request: () => ({}) },
      GetOperation: { scope: 'read', request: () => ({ operation_id: ops.acme }) },
      WatchOperation: { scope: 'read', request: () => ({ operation_id: ops.acme }) },
      Verify: { scope: 'admin', request: () => ({}) },
    };
    const methods = Object.keys(SERVICE).sort();
    t.ok(methods.length >= 12, `the service has ${methods.length} methods`);
    const unauthenticated = { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED', messages: [] };
    for (const method of methods) {
      const row = rows[method];
      if (row === undefined) {
        t.fail(`${method} has no row in the auth matrix: add one (and make sure its handler passes the gate)`);
        continue;
      }
      const cases: [string, string | undefined, Partial<Outcome>][] = [
        ['no key', undefined, unauthenticated],
        ['an unknown key', `Bearer ${newSecret()}`, unauthenticated],
        ['Basic credentials', `Basic ${Buffer.from(`admin:${s.keys.secret.admin}`).toString('base64')}`, unauthenticated],
        ['"Bearer" alone', 'Bearer', unauthenticated],
        ['the secret without "Bearer"', s.keys.secret.admin, unauthenticated],
        [`a key without the ${row.scope} scope`, s.keys.bearer(WITHOUT[row.scope]), { status: grpc.status.PERMISSION_DENIED, code: 'PERMISSION_DENIED', messages: [] }],
      ];
      const before = await head();
      for (const [what, authorization, expected] of cases) t.match(await invoke(c, method, row.request(), authorization), expected, `${method}, ${what}: refused`);
      t.equal(await head(), before, `${method}: nothing stored by refused calls`);
      const allowed = await invoke(c, method, row.request(), s.keys.bearer(WITH[row.scope]));
      t.equal(allowed.status, grpc.status.OK, `${method}, a key with the ${row.scope} scope (${WITH[row.scope]}): allowed ${allowed.details}`);
      if (method === 'AppendStream') t.equal(allowed.messages[0]?.outcome, 'ok', 'AppendStream: the request appended');
      if (method === 'BatchAutoSetup') {
        // Let the operation run to its end, so that the store holds still for what follows.
        const rest = await collect(c.stream('WatchOperation', { operation_id: allowed.messages[0]?.operation_id }, as('admin')));
        t.equal(rest.status.code, grpc.status.OK, 'BatchAutoSetup: the operation ran to its end');
      }
    }
  });

  await t.test('a key limited to acme sees only acme events, on every read path', async (t) => {
    const acmeEvents = await query('admin', { organization_id: 'acme' });
    const globexSeqs = seqs(await query('admin', { organization_id: 'globex' }));
    t.ok(acmeEvents.length >= 5 && globexSeqs.length >= 4, 'both organizations have events');

    // Query, with and without organization_id; naming another organization is refused.
    t.same(seqs(await query('acme')), seqs(acmeEvents), 'Query: exactly the acme events');
    t.same(seqs(await query('acme', { organization_id: 'acme' })), seqs(acmeEvents), 'Query naming acme: the same');
    t.same(seqs(await query('acme', { event_type: 'finance.invoice.created' })), seqs(acmeEvents.filter((e) => e.event_type === 'finance.invoice.created')), 'Query: other filters combine');
    for (const method of ['Query', 'Read', 'Subscribe', 'Aggregate']) {
      const request = method === 'Aggregate' ? { filter: { organization_id: 'globex' }, group_by: 'event_type' } : { filter: { organization_id: 'globex' } };
      t.match(await invoke(c, method, request, s.keys.bearer('acme')), { status: grpc.status.PERMISSION_DENIED, code: 'PERMISSION_DENIED', field: 'organization_id' }, `${method} naming globex: PERMISSION_DENIED`);
    }

    // A cursor made under acme's restriction does not widen under another key.
    const page = await c.call<{ items: Msg[]; next_cursor?: string }>('Query', { filter: {}, limit: 1 }, as('acme'));
    t.type(page.next_cursor, 'string', 'acme gets a cursor');
    for (const key of ['admin', 'globex', 'readonly']) {
      const other = await c.call('Query', { filter: {}, limit: 1, cursor: page.next_cursor }, as(key)).catch((e: unknown) => e);
      t.match(errorInfo(other), { status: grpc.status.INVALID_ARGUMENT, code: 'INVALID_CURSOR' }, `acme's cursor under the ${key} key: INVALID_CURSOR`);
    }

    // Get: a globex event is answered exactly as a missing one.
    const byId = failed(await c.call('Get', { id: globexEvent.id }, as('acme')).catch((e: unknown) => e));
    const missingId = randomUUID();
    const noId = failed(await c.call('Get', { id: missingId }, as('acme')).catch((e: unknown) => e));
    t.match(byId, { status: grpc.status.NOT_FOUND, code: 'NOT_FOUND', field: 'id' }, 'Get of a globex id: NOT_FOUND');
    t.equal(byId.details.replace(String(globexEvent.id), '<id>'), noId.details.replace(missingId, '<id>'), 'the message of a missing id');
    const bySeq = failed(await c.call('Get', { seq: globexEvent.seq }, as('acme')).catch((e: unknown) => e));
    const noSeq = failed(await c.call('Get', { seq: 1_000_000 }, as('acme')).catch((e: unknown) => e));
    t.match(bySeq, { status: grpc.status.NOT_FOUND, code: 'NOT_FOUND', field: 'seq' }, 'Get of a globex seq: NOT_FOUND');
    t.equal(bySeq.details.replace(`seq ${String(globexEvent.seq)} `, 'seq <n> '), noSeq.details.replace('seq 1000000 ', 'seq <n> '), 'the message of a missing seq');
    t.equal((await c.call<Msg>('Get', { seq: acmeEvents[0]?.seq }, as('acme'))).id, acmeEvents[0]?.id, 'Get of an acme event works');

    // Read.
    const read = await collect(c.stream('Read', { filter: {} }, as('acme')));
    t.equal(read.status.code, grpc.status.OK);
    t.same(seqs(read.messages), seqs(acmeEvents), 'Read: exactly the acme events');

    // Aggregate: totals and groups of the acme events alone.
    for (const group_by of ['event_type', 'organization_id', 'actor_id']) {
      const mine = await c.call<Msg>('Aggregate', { group_by }, as('acme'));
      const expected = await c.call<Msg>('Aggregate', { filter: { organization_id: 'acme' }, group_by }, as('admin'));
      t.equal(mine.total, acmeEvents.length, `Aggregate by ${group_by}: the acme total`);
      t.same(mine.groups, expected.groups, `Aggregate by ${group_by}: the acme groups`);
    }

    // Verify: the limited admin key checks the whole chain and counts only acme events.
    const to_seq = await head();
    t.same(await c.call<Msg>('Verify', { to_seq }, as('admin')), { ok: true, from_seq: 1, to_seq, checked: to_seq }, 'Verify via admin: every event');
    t.same(await c.call<Msg>('Verify', { to_seq }, as('acmeadmin')), { ok: true, from_seq: 1, to_seq, checked: acmeEvents.length }, 'Verify via the limited admin: the whole chain, counting acme events only');

    // Operations: globex's is NOT_FOUND for acme, as an unknown one is.
    t.equal((await c.call<Msg>('GetOperation', { operation_id: ops.acme }, as('acme'))).organization_id, 'acme');
    for (const id of [ops.globex, randomUUID()]) {
      const get = failed(await c.call('GetOperation', { operation_id: id }, as('acme')).catch((e: unknown) => e));
      t.match(get, { status: grpc.status.NOT_FOUND, code: 'NOT_FOUND' }, `GetOperation ${id === ops.globex ? 'of globex' : 'unknown'}: NOT_FOUND`);
      const watch = await collect(c.stream('WatchOperation', { operation_id: id }, as('acme')));
      t.equal(watch.messages.length, 0);
      t.match(errorInfo(watch.error), { status: grpc.status.NOT_FOUND, code: 'NOT_FOUND' }, `WatchOperation ${id === ops.globex ? 'of globex' : 'unknown'}: NOT_FOUND`);
    }
    const watched = await collect(c.stream('WatchOperation', { operation_id: ops.acme }, as('acme')));
    t.equal(watched.status.code, grpc.status.OK, 'WatchOperation of acme: the whole run');
    t.ok(watched.messages.length > 0);
  });

  await t.test('Subscribe with the acme key: catch-up and live carry acme events only', async (t) => {
    const acmeSeqs = seqs(await query('admin', { organization_id: 'acme' }));
    const sub = c.stream('Subscribe', { from_seq: 1 }, as('acme'));
    sub.on('error', () => undefined);
    const f = follow(sub);
    await f.until((items) => items.some((m) => m.item === 'caught_up'), 'caught_up');
    t.same(seqs(events(f.items)), acmeSeqs, 'catch-up: exactly the acme events');

    await c.call('Append', { events: [wireEvent(), wireEvent(), wireEvent()] }, as('globex'));
    const mine = await c.call<{ results: Msg[] }>('Append', { events: [wireEvent({ actor_id: undefined })] }, as('acme'));
    const seq = mine.results[0]?.seq as number;
    await f.until((items) => seqs(events(items)).includes(seq), 'the live acme event');
    const live = events(f.items).slice(acmeSeqs.length);
    t.same(seqs(live), [seq], 'live: the acme event, none of the globex events appended before it');
    t.ok(
      events(f.items).every((e) => e.organization_id === 'acme'),
      'every event delivered is acme',
    );
    sub.cancel();
  });

  await t.test('appends are bound to the key: its actor, its organizations, never the ops domain', async (t) => {
    const before = await head();
    const spoofed = failed(await c.call('Append', { events: [wireEvent({ actor_id: 'other' })] }, as('acme')).catch((e: unknown) => e));
    t.match(spoofed, { status: grpc.status.PERMISSION_DENIED, code: 'PERMISSION_DENIED', field: 'events[0].actor_id' }, 'acme appending as another actor: refused');
    const second = failed(await c.call('Append', { events: [wireEvent({ actor_id: undefined }), wireEvent({ actor_id: 'other' })] }, as('acme')).catch((e: unknown) => e));
    t.match(second, { status: grpc.status.PERMISSION_DENIED, field: 'events[1].actor_id' }, 'the offending event is named');
    const otherOrg = failed(await c.call('Append', { events: [wireEvent({ actor_id: undefined, organization_id: 'globex' })] }, as('acme')).catch((e: unknown) => e));
    t.match(otherOrg, { status: grpc.status.PERMISSION_DENIED, code: 'PERMISSION_DENIED', field: 'events[0].organization_id' }, 'acme appending to globex: refused');
    for (const key of ['admin', 'acme', 'appendonly']) {
      const ops = failed(await c.call('Append', { events: [wireEvent({ event_type: 'ops.operation.started', actor_id: key === 'acme' ? 'svc-acme' : 'alice' })] }, as(key)).catch((e: unknown) => e));
      t.match(ops, { status: grpc.status.PERMISSION_DENIED, code: 'PERMISSION_DENIED', field: 'events[0].event_type' }, `the ops domain via ${key}: refused`);
    }
    t.equal(await head(), before, 'nothing stored by any refused batch');

    const filled = await c.call<{ results: Msg[] }>('Append', { events: [wireEvent({ actor_id: undefined, organization_id: undefined })] }, as('acme'));
    const stored = await c.call<Msg>('Get', { seq: filled.results[0]?.seq }, as('acme'));
    t.match(stored, { actor_id: 'svc-acme', organization_id: 'acme' }, 'omitted actor and organization: filled in from the key');

    // AppendStream: the same rules per request; a refused request leaves the stream open.
    const stream = c.appendStream(as('acme'));
    const answers = new Map<number, Msg>();
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Msg) => answers.set(m.request_id as number, m));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    stream.write({ request_id: 1, events: [wireEvent({ actor_id: 'other' })] });
    stream.write({ request_id: 2, events: [wireEvent({ actor_id: undefined, organization_id: 'globex' })] });
    stream.write({ request_id: 3, events: [wireEvent({ actor_id: undefined, event_type: 'ops.operation.done' })] });
    stream.write({ request_id: 4, events: [wireEvent({ actor_id: undefined })] });
    stream.end();
    await done;
    t.match(answers.get(1), { outcome: 'error', error: { code: 'PERMISSION_DENIED', field: 'events[0].actor_id', status: grpc.status.PERMISSION_DENIED } });
    t.match(answers.get(2), { outcome: 'error', error: { code: 'PERMISSION_DENIED', field: 'events[0].organization_id' } });
    t.match(answers.get(3), { outcome: 'error', error: { code: 'PERMISSION_DENIED', field: 'events[0].event_type' } });
    t.match(answers.get(4), { outcome: 'ok' }, 'a valid request on the same stream is appended');
    const ok = (answers.get(4)?.ok as { results: Msg[] }).results[0] as Msg;
    t.match(await c.call<Msg>('Get', { seq: ok.seq }, as('acme')), { actor_id: 'svc-acme', organization_id: 'acme' });
  });

  await t.test('rate limits: past its burst a key gets RESOURCE_EXHAUSTED, RATE_LIMITED, retry-after', async (t) => {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 30; i++) {
      const o = await invoke(c, 'Head', {}, s.keys.bearer('limited'));
      outcomes.push(o);
      if (o.status !== grpc.status.OK) break;
    }
    t.equal(outcomes[0]?.status, grpc.status.OK, 'the first call of the burst');
    t.equal(outcomes[1]?.status, grpc.status.OK, 'the second call of the burst');
    t.match(outcomes.at(-1), { status: grpc.status.RESOURCE_EXHAUSTED, code: 'RATE_LIMITED', retryAfter: /^[1-9]\d*$/ }, 'then refused, with retry-after (seconds)');

    // AppendStream: each request is one more call; a refused one is answered, the stream goes on.
    const stream = c.appendStream(as('ratedappend'));
    const answers: Msg[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Msg) => answers.push(m));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    for (let i = 1; i <= 8; i++) stream.write({ request_id: i, events: [wireEvent()] });
    stream.end();
    await done;
    t.equal(answers.length, 8, 'every request answered');
    const limited = answers.filter((a) => a.outcome === 'error');
    t.ok(limited.length > 0, `${limited.length} requests over the rate`);
    for (const a of limited) t.match(a.error, { code: 'RATE_LIMITED', status: grpc.status.RESOURCE_EXHAUSTED });
    for (const a of answers.filter((x) => x.outcome === 'ok')) {
      const r = (a.ok as { results: Msg[] }).results[0] as Msg;
      t.ok(await c.call('Get', { seq: r.seq }, as('admin')), `request ${String(a.request_id)} stored`);
    }
  });

  await t.test('stream limits: a third Subscribe of a key with max_streams 2 is refused until one ends', async (t) => {
    const open = (): { stream: grpc.ClientReadableStream<Msg>; first: Promise<Outcome> } => {
      const stream = c.stream('Subscribe', {}, as('streams2'));
      return { stream, first: firstOrEnd(stream) };
    };
    // Streams that end by themselves, or fail, give their slot back at once.
    for (let i = 0; i < 3; i++) t.equal((await collect(c.stream('Read', { filter: { to_seq: 2 } }, as('streams2')))).status.code, grpc.status.OK, `Read ${i + 1} ends`);
    for (let i = 0; i < 3; i++) t.match(await invoke(c, 'Subscribe', { filter: { severity: 'urgent' } }, s.keys.bearer('streams2')), { code: 'INVALID_QUERY' }, `failed Subscribe ${i + 1}`);
    t.equal(s.guard.openStreams('streams2'), 0, 'no slot held');

    // firstOrEnd cancels a stream after its first message: keep these open by hand.
    const held = [c.stream('Subscribe', {}, as('streams2')), c.stream('Subscribe', {}, as('streams2'))];
    for (const h of held) {
      h.on('error', () => undefined);
      await follow(h).until((items) => items.length > 0, 'caught_up');
    }
    t.equal(s.guard.openStreams('streams2'), 2);
    const third = open();
    t.match(await third.first, { status: grpc.status.RESOURCE_EXHAUSTED, code: 'RATE_LIMITED' }, 'the third: RESOURCE_EXHAUSTED');
    (held[0] as grpc.ClientReadableStream<Msg>).cancel();
    await eventually('the cancelled stream gives its slot back', () => s.guard.openStreams('streams2') === 1);
    const again = open();
    t.match(await again.first, { status: grpc.status.OK, messages: [{ item: 'caught_up' }] }, 'after a cancel, a new one is let in');
    (held[1] as grpc.ClientReadableStream<Msg>).cancel();
    await eventually('every slot given back', () => s.guard.openStreams('streams2') === 0);
  });

  await t.test('refusals are counted and logged by key id, never with a secret', async (t) => {
    const denials = (code: string, key: string): number => s.metrics.authDenials.get({ surface: 'grpc', code, key });
    t.ok(denials('UNAUTHENTICATED', 'none') >= 5 * Object.keys(SERVICE).length, 'UNAUTHENTICATED, key "none"');
    t.ok(denials('PERMISSION_DENIED', 'acme') > 0, 'PERMISSION_DENIED by acme');
    t.ok(denials('PERMISSION_DENIED', 'readonly') > 0, 'PERMISSION_DENIED by readonly');
    t.ok(denials('RATE_LIMITED', 'limited') > 0, 'RATE_LIMITED by limited');
    t.ok(denials('RATE_LIMITED', 'ratedappend') > 0, 'RATE_LIMITED by ratedappend (AppendStream requests)');
    t.ok(denials('RATE_LIMITED', 'streams2') > 0, 'RATE_LIMITED by streams2 (streams)');
    t.match(s.metrics.render(), /^eventspine_auth_denials_total\{surface="grpc",code="PERMISSION_DENIED",key="acme"\} [1-9]\d*$/m, 'in the /metrics text');

    const log = s.logLines.join('');
    for (const [id, secret] of Object.entries(s.keys.secret)) t.notOk(log.includes(secret), `no log line holds the secret of ${id}`);
    const refused = s.logLines.map((l) => JSON.parse(l) as Msg).filter((r) => r.msg === 'call refused');
    t.ok(
      refused.some((r) => r.call === 'Verify' && r.key === 'acme' && r.code === 'PERMISSION_DENIED' && r.surface === 'grpc'),
      'a refusal names the call, the key id and the code',
    );
    t.ok(
      refused.some((r) => r.key === 'none' && r.code === 'UNAUTHENTICATED'),
      'an unknown key is logged as "none"',
    );
  });
});

t.test('a shutdown gives back the stream slots of the streams it ends', async (t) => {
  const s = await startGrpcServer(t, { keys: { streams2: { scopes: ['read'], max_streams: 2 } } });
  const c = spineClient(t, s.address);
  const subs = [0, 1].map(() => c.stream('Subscribe', {}, { metadata: md(s.keys.bearer('streams2')) }));
  for (const sub of subs) {
    sub.on('error', () => undefined);
    await follow(sub).until((items) => items.length > 0, 'caught_up');
  }
  t.equal(s.guard.openStreams('streams2'), 2);
  await s.shutdown();
  t.equal(s.guard.openStreams('streams2'), 0, 'both released');
});

t.test('a keys reload ends the WatchOperation and AppendStream of a revoked key and gives back their slots', async (t) => {
  const s = await startGrpcServer(t, { keys: { revoked: { scopes: ['append', 'read'] }, kept: { scopes: ['read'] } } });
  const c = spineClient(t, s.address);
  const as = (key: string) => ({ metadata: md(s.keys.bearer(key)) });
  // A real operation that runs until the test lets it finish.
  let finish = (): void => undefined;
  const released = new Promise<void>((resolve) => (finish = resolve));
  const started = await s.operations.operations.start('verify', { actor_id: 'test' }, { step: 'verify_start', data: {} }, async (ctx) => {
    await Promise.race([released, new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))]);
    return {};
  });
  t.teardown(finish);
  const watchRevoked = c.stream('WatchOperation', { operation_id: started.id }, as('revoked'));
  const watchKept = c.stream('WatchOperation', { operation_id: started.id }, as('kept'));
  const keptSteps = collect(watchKept);
  const revokedEnd = collect(watchRevoked);
  const firstSteps = [follow(watchRevoked), follow(watchKept)].map((f) => f.until((items) => items.length > 0, 'the first step'));
  await Promise.all(firstSteps);
  const appends = c.appendStream(as('revoked'));
  const answers: Msg[] = [];
  const appendEnd = new Promise<grpc.ServiceError>((resolve) => appends.on('error', resolve));
  await new Promise<void>((resolve) => {
    appends.on('data', (m: Msg) => {
      answers.push(m);
      resolve();
    });
    appends.write({ request_id: 1, events: [wireEvent()] });
  });
  t.equal(s.guard.openStreams('revoked'), 2);

  const entries = (JSON.parse(readFileSync(s.keys.file, 'utf8')) as { keys: Msg[] }).keys;
  writeFileSync(s.keys.file, JSON.stringify({ keys: entries.filter((k) => k.id !== 'revoked') }));
  t.match(s.guard.reload(), { keys: 1, removed: ['revoked'], changed: [], streamsEnded: 2 });

  const watched = await revokedEnd;
  t.match(errorInfo(watched.error), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED', details: /key revoked was revoked/ }, 'WatchOperation ends UNAUTHENTICATED');
  t.match(errorInfo(await appendEnd), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED', details: /key revoked was revoked/ }, 'AppendStream ends UNAUTHENTICATED');
  t.match(answers, [{ request_id: 1, ok: {} }], 'what it had appended was answered');
  t.equal(s.guard.openStreams('revoked'), 0, 'both slots given back by the time the client sees the end');

  finish();
  const kept = await keptSteps;
  t.equal(kept.status.code, grpc.status.OK, "the other key's WatchOperation runs to the operation's end");
  t.equal(kept.messages.at(-1)?.step, 'done');
  t.equal(s.guard.openStreams('kept'), 0);
});

t.test('the daemon gates gRPC with its keys file', async (t) => {
  const keys = writeKeys(t, { admin: { scopes: ['append', 'read', 'admin'] }, acme: { scopes: ['append', 'read'], organizations: ['acme'] } });
  const daemon = await startDaemon(t, { args: keys.args });
  const c = spineClient(t, daemon.grpcAddress);
  const as = (key: string) => ({ metadata: md(keys.bearer(key)) });
  t.match(errorInfo(await c.call('Head', {}).catch((e: unknown) => e)), { status: grpc.status.UNAUTHENTICATED, code: 'UNAUTHENTICATED' }, 'no key');
  t.match(errorInfo(await c.call('Verify', {}, as('acme')).catch((e: unknown) => e)), { status: grpc.status.PERMISSION_DENIED, code: 'PERMISSION_DENIED' }, 'no admin scope');
  await c.call('Append', { events: [wireEvent()] }, as('admin'));
  t.same((await c.call<{ items?: Msg[] }>('Query', { filter: {} }, as('acme'))).items ?? [], [], "acme does not see the default organization's event");
  t.equal((await c.check()).status, 'SERVING', 'grpc.health.v1 stays open');
  const logs = JSON.stringify(daemon.logs);
  for (const secret of Object.values(keys.secret)) t.notOk(logs.includes(secret), 'no secret in the logs');
  t.ok(
    daemon.logs.some((r) => r.msg === 'call refused' && r.call === 'Verify' && r.key === 'acme'),
    'the refusal is logged',
  );
});
