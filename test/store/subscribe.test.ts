/**
 * Subscriptions (DESIGN §3 Subscribe): catch up from a seq (or start at the head), then
 * follow live with the same filters, with no gap and no duplicate across the switch; a
 * slow subscriber never blocks appends and is never dropped: it gets `fell_behind`, reads
 * the log, and rejoins live with `caught_up`.
 */
import t from 'tap';
import { join } from 'node:path';
import type { Store, SubscriptionItem } from '../../src/store';
import type { QueryFilter } from '../../src/store';
import { openAt, prng, scratchDir, sleep } from '../helpers/events';
import { readAll, refMatches } from '../helpers/dataset';

function event(rand: () => number, n: number): Record<string, unknown> {
  return {
    event_type: rand() < 0.5 ? 'hcm.employee.updated' : 'finance.invoice.paid',
    entity_id: `ent-${Math.floor(rand() * 5)}`,
    actor_id: rand() < 0.3 ? 'alice' : 'bob',
    payload: { n },
  };
}

/** `writers` concurrent writers appending batches of 1–20 until `total` events are in. */
async function appendConcurrently(store: Store, total: number, writers: number, seed: number): Promise<void> {
  const rand = prng(seed);
  let n = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (n < total) {
        const size = Math.min(total - n, 1 + Math.floor(rand() * 20));
        const batch = Array.from({ length: size }, () => event(rand, n++));
        await store.append(batch);
      }
    }),
  );
}

type Marker = Exclude<SubscriptionItem, { type: 'event' }>;

interface Collected {
  seqs: number[];
  markers: Marker[];
  /** Position of each marker in the event stream (events seen before it). */
  markerAt: number[];
}

/**
 * Consumes until an event with seq ≥ `lastSeq()` arrives (or, with `untilCaughtUp`, until
 * the subscription says it caught up with it), then detaches.
 */
async function collect(sub: AsyncGenerator<SubscriptionItem>, lastSeq: () => number | undefined, onItem?: (n: number) => Promise<void>, untilCaughtUp = false): Promise<Collected> {
  const out: Collected = { seqs: [], markers: [], markerAt: [] };
  let n = 0;
  for await (const item of sub) {
    if (item.type === 'event') out.seqs.push(item.event.seq);
    else {
      out.markers.push(item);
      out.markerAt.push(out.seqs.length);
    }
    await onItem?.(++n);
    const last = lastSeq();
    const live = out.markers[out.markers.length - 1]?.type === 'caught_up';
    if ((!untilCaughtUp || live) && last !== undefined && (out.seqs[out.seqs.length - 1] ?? 0) >= last) break;
    if (last !== undefined && item.type === 'caught_up' && item.seq >= last) break;
  }
  return out;
}

/**
 * Ends the subscriptions of a test: once the writers are done, one last event, whose seq
 * the consumers are told first, so that none waits for an event that will not come.
 */
async function finish(store: Store, setLast: (seq: number) => void): Promise<number> {
  const last = store.head().seq + 1;
  setLast(last);
  const [res] = await store.append([{ event_type: 'finance.employee.closed', entity_id: 'ent-2', actor_id: 'alice' }]);
  if (res?.seq !== last) throw new Error('finish: another writer is still appending');
  return last;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

t.test('catch up from a seq, then live, while appends run', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'), { segmentBytes: 64 * 1024 });
  t.teardown(() => store.close());
  await appendConcurrently(store, 1000, 4, 1);
  let finalHead: number | undefined;
  const sub = store.subscribe({}, { from_seq: 200 });
  const consumer = collect(sub, () => finalHead);
  await appendConcurrently(store, 2000, 8, 2);
  const last = await finish(store, (s) => (finalHead = s));
  const got = await consumer;
  t.same(got.seqs, range(200, last), `seqs 200..${last}, each once, in order: no gap and no duplicate across the switch`);
  t.equal(got.markers.filter((m) => m.type === 'caught_up').length >= 1, true, 'a caught_up marker');
  const caughtUp = got.markers.find((m) => m.type === 'caught_up');
  const at = got.markerAt[got.markers.indexOf(caughtUp as Marker)] as number;
  t.equal(caughtUp?.seq, at === 0 ? 199 : got.seqs[at - 1], 'caught_up names the last seq delivered before it');
  t.same(got.markers.filter((m) => m.type === 'fell_behind'), [], 'a quick consumer never falls behind');
});

t.test('the switch to live, many times over', { timeout: 60_000 }, async (t) => {
  // Subscriptions started at random moments of a busy store: each must see every seq from its start.
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await appendConcurrently(store, 200, 2, 3);
  let finalHead: number | undefined;
  const writing = appendConcurrently(store, 3000, 6, 4).then(() => finish(store, (s) => (finalHead = s)));
  const subs: Promise<{ from: number; got: Collected }>[] = [];
  for (let i = 0; i < 20; i++) {
    await sleep(5);
    const from = Math.max(1, store.head().seq - 30 + i);
    subs.push(collect(store.subscribe({}, { from_seq: from }), () => finalHead).then((got) => ({ from, got })));
  }
  await writing;
  const problems: string[] = [];
  for (const { from, got } of await Promise.all(subs)) {
    if (JSON.stringify(got.seqs) !== JSON.stringify(range(from, finalHead as number))) problems.push(`from ${from}: ${got.seqs.length} events, expected ${(finalHead as number) - from + 1}`);
  }
  t.same(problems, [], '20 subscriptions started during appends each saw every seq from their start once, in order');
});

t.test('start at the head', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await appendConcurrently(store, 100, 2, 5);
  const head = store.head().seq;
  const sub = store.subscribe();
  // Acknowledged after subscribe() returned, before the first next(): "after the call".
  await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'first-after', actor_id: 'a' }]);
  let finalHead: number | undefined;
  const consumer = collect(sub, () => finalHead, undefined, true);
  await appendConcurrently(store, 300, 4, 6);
  const last = await finish(store, (s) => (finalHead = s));
  const got = await consumer;
  t.same(got.seqs, range(head + 1, last), 'every event acknowledged after the call, nothing from before');
  t.ok(got.markers.length > 0 && got.markers.every((m) => m.type === 'caught_up'), 'it goes live (caught_up), never falling behind');
});

t.test('an event acknowledged between subscribe() and the first next() is delivered', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'before', actor_id: 'a' }]);
  const sub = store.subscribe();
  const [res] = await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'after', actor_id: 'a' }]);
  const items: SubscriptionItem[] = [];
  for await (const item of sub) {
    items.push(item);
    if (items.length === 2) break;
  }
  t.same(items.map((i) => (i.type === 'event' ? i.event.seq : i.type)), [res?.seq, 'caught_up'], 'the subscription starts at the head as of the call');
});

t.test('filters apply to the catch-up and the live part alike', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await appendConcurrently(store, 500, 4, 7);
  const filters: QueryFilter[] = [
    { entity_type: 'employee', entity_id: 'ent-2' },
    { event_type: 'finance.' },
    { actor_id: 'alice', entity_type: 'employee' },
    { actor_id: 'alice', since: new Date(Date.now() - 60_000).toISOString() },
  ];
  let finalHead: number | undefined;
  const consumers = filters.map((f) => collect(store.subscribe(f, { from_seq: 100 }), () => finalHead));
  await appendConcurrently(store, 1500, 6, 8);
  // The last event matches every filter and ends each subscription.
  await finish(store, (s) => (finalHead = s));
  const all = await readAll(store);
  for (const [i, f] of filters.entries()) {
    const got = await consumers[i];
    const want = all.filter((e) => e.seq >= 100 && refMatches(f, e)).map((e) => e.seq);
    t.same(got?.seqs, want, `${JSON.stringify(f)}: exactly the matching events, in order`);
    t.ok((got?.seqs.length ?? 0) > 10, `${JSON.stringify(f)}: a good number of them (${got?.seqs.length})`);
  }
});

t.test('a slow consumer with a tiny queue', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await appendConcurrently(store, 50, 1, 9);
  const start = store.head().seq + 1;
  const sub = store.subscribe({}, { from_seq: start, queueLimit: 5 });
  const first = await sub.next();
  t.same(first.value, { type: 'caught_up', seq: start - 1 }, 'live at once');

  // The consumer stalls. Appends must not wait for it: they all finish while it sleeps.
  const began = Date.now();
  await appendConcurrently(store, 3000, 8, 10);
  const appendMs = Date.now() - began;
  t.pass(`3000 events appended in ${appendMs} ms while the subscriber was stalled`);

  // Now it reads slowly while more appends run, falling behind again and again.
  let finalHead: number | undefined;
  const consumer = collect(
    sub,
    () => finalHead,
    async (n) => {
      if (n % 100 === 0) await sleep(2);
    },
    true,
  );
  await appendConcurrently(store, 3000, 8, 11);
  const last = await finish(store, (s) => (finalHead = s));
  const got = await consumer;
  t.same(got.seqs, range(start, last), `every one of ${last - start + 1} events exactly once, in order`);
  const kinds = got.markers.map((m) => m.type);
  t.equal(kinds[0], 'fell_behind', 'the stalled subscriber is told it fell behind');
  t.equal(got.markers[0]?.seq, start - 1, 'naming the last seq it had');
  t.ok(kinds.includes('caught_up'), 'and later that it caught up');
  const problems: string[] = [];
  for (let i = 0; i < kinds.length; i++) if (kinds[i] === 'fell_behind' && kinds[i + 1] !== 'caught_up' && i + 1 < kinds.length) problems.push(`marker ${i} is followed by ${kinds[i + 1]}`);
  t.same(problems, [], 'every fell_behind is followed by a caught_up before the next fell_behind');
  for (const [i, m] of got.markers.entries()) {
    const before = got.markerAt[i] as number;
    if (got.seqs[before - 1] !== undefined && m.seq !== got.seqs[before - 1]) problems.push(`${m.type} says ${m.seq}, the last event before it was ${got.seqs[before - 1]}`);
  }
  t.same(problems, [], 'each marker names the last seq delivered before it');
});

t.test('closing the store ends its subscriptions', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  const sub = store.subscribe();
  t.equal((await sub.next()).value?.type, 'caught_up', 'live');
  const pending = sub.next();
  await store.close();
  t.same(await pending, { done: true, value: undefined }, 'the waiting next() ends when the store closes');
  t.throws(() => store.subscribe(), { code: 'STORE_CLOSED' }, 'a closed store refuses new subscriptions');
});

t.test('bad subscribe arguments', { timeout: 60_000 }, async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  t.throws(() => store.subscribe({}, { from_seq: 0 }), { code: 'INVALID_QUERY', field: 'from_seq' }, 'from_seq 0');
  t.throws(() => store.subscribe({ severity: 'loud' as never }), { code: 'INVALID_QUERY', field: 'severity' }, 'a bad filter');
});
