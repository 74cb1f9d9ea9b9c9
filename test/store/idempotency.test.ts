/**
 * Idempotency by id (DESIGN §1.2): the same id with the same content returns the original
 * seq and event_hash and stores nothing; with other content the whole request is refused
 * with ID_CONFLICT. It holds within a batch, across concurrent requests of one group commit,
 * after a reopen (the id is found through the index, not memory) and with no time window.
 */
import t from 'tap';
import { join } from 'node:path';
import type { Store } from '../../src/store';
import { counterId, openAt, scratchDir } from '../helpers/events';

function ev(k: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: counterId(k),
    event_type: 'hcm.employee.updated',
    entity_id: `emp-${k % 5}`,
    entity_name: `Employee ${k % 5}`,
    actor_id: 'user-1',
    severity: 'medium',
    payload: { k, note: 'idempotency' },
    ...over,
  };
}

async function count(store: Store): Promise<number> {
  let n = 0;
  for await (const _ of store.read()) n += 1;
  return n;
}

t.test('the same id and content: the original result, nothing stored', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  const first = await store.append([ev(1), ev(2), ev(3)]);
  t.same(first.map((r) => [r.seq, r.deduplicated]), [[1, false], [2, false], [3, false]], 'three new events');
  const head = store.head();

  const again = await store.append([ev(1), ev(2), ev(3)]);
  t.same(again, first.map((r) => ({ ...r, deduplicated: true })), 'a retry returns seq, id, timestamp and event_hash of the originals, marked deduplicated');
  t.same(store.head(), head, 'the head did not move');
  t.equal(await count(store), 3, 'nothing was stored');

  // Key order and payload key order do not make content different (the payload is canonical).
  const reordered = await store.append([{ payload: { note: 'idempotency', k: 2 }, actor_id: 'user-1', severity: 'medium', entity_name: 'Employee 2', entity_id: 'emp-2', event_type: 'hcm.employee.updated', id: counterId(2) }]);
  t.equal(reordered[0]?.seq, 2, 'the same event written in another key order is the same event');
  t.equal(reordered[0]?.deduplicated, true, 'and is deduplicated');

  // Defaults count as content: spelling out the default organization/environment is the same event.
  const spelled = await store.append([ev(3, { organization_id: 'default', environment: 'prod', actor_type: 'human' })]);
  t.equal(spelled[0]?.seq, 3, 'spelling out the defaults gives the same event');

  // A mixed batch: old ones deduplicated, new ones stored, in order.
  const mixed = await store.append([ev(4), ev(1), ev(5)]);
  t.same(mixed.map((r) => [r.seq, r.deduplicated]), [[4, false], [1, true], [5, false]], 'new events get the next seqs, the retried one its old seq');
  t.ok((await store.verify({ checkIndex: true })).ok, 'the chain verifies');
});

t.test('the same id with other content is refused, and nothing of the batch is stored', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await store.append([ev(1), ev(2)]);
  const head = store.head();
  const changes: [string, Record<string, unknown>][] = [
    ['payload', { payload: { k: 1, note: 'changed' } }],
    ['entity_id', { entity_id: 'emp-9' }],
    ['entity_name', { entity_name: 'Someone else' }],
    ['no entity_name', { entity_name: undefined }],
    ['actor_id', { actor_id: 'user-2' }],
    ['actor_type', { actor_type: 'system' }],
    ['event_type', { event_type: 'hcm.employee.hired' }],
    ['severity', { severity: 'high' }],
    ['organization_id', { organization_id: 'other-org' }],
    ['environment', { environment: 'dev' }],
  ];
  for (const [what, change] of changes) {
    const input = ev(1, change);
    if (change.entity_name === undefined && 'entity_name' in change) delete input.entity_name;
    // The conflicting event sits between two new ones: neither may be stored.
    await t.rejects(store.append([ev(100), input, ev(101)]), { code: 'ID_CONFLICT', field: 'events[1].id' }, `a different ${what} is ID_CONFLICT naming events[1].id`);
  }
  t.same(store.head(), head, 'the head did not move');
  t.equal(await count(store), 2, 'no event of the refused batches was stored');
  t.equal(await store.get(counterId(100)), undefined, 'the new event before the conflict is not stored');
  t.equal(await store.get(counterId(101)), undefined, 'nor the one after it');
  const later = await store.append([ev(100)]);
  t.same(later.map((r) => [r.seq, r.deduplicated]), [[3, false]], 'the seqs the refused batches took were given back');
  t.ok((await store.verify({ checkIndex: true })).ok, 'the chain verifies');
});

t.test('duplicates within one batch', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  const res = await store.append([ev(1), ev(2), ev(1), ev(1)]);
  t.same(res.map((r) => [r.seq, r.deduplicated]), [[1, false], [2, false], [1, true], [1, true]], 'a repeated id in a batch is stored once; its repeats are deduplicated');
  t.equal(res[2]?.event_hash, res[0]?.event_hash, 'with the same event_hash');
  await t.rejects(store.append([ev(3), ev(3, { severity: 'critical' })]), { code: 'ID_CONFLICT', field: 'events[1].id' }, 'a repeated id with other content in one batch is refused');
  t.equal(await count(store), 2, 'and nothing of that batch is stored');
  t.equal(store.head().seq, 2, 'the head is 2');
});

t.test('concurrent requests in one group commit', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  // Fired together, these are sealed in one or a few group commits.
  const settled = await Promise.allSettled([
    store.append([ev(1), ev(2)]),
    store.append([ev(2), ev(3)]), // 2 again, same content
    store.append([ev(4), ev(3, { payload: { other: true } })]), // conflicts with 3
    store.append([ev(5)]),
    store.append([ev(1)]),
  ]);
  const ok = settled.map((s) => (s.status === 'fulfilled' ? s.value.map((r) => r.id) : (s.reason as { code: string }).code));
  t.same(ok, [[counterId(1), counterId(2)], [counterId(2), counterId(3)], 'ID_CONFLICT', [counterId(5)], [counterId(1)]], 'the retries are accepted, the conflicting request refused');
  const seqs = new Map<string, number>();
  for (const s of settled) if (s.status === 'fulfilled') for (const r of s.value) seqs.set(`${r.id}@${r.seq}`, r.seq);
  t.same([...new Set([...seqs.values()])].sort((a, b) => a - b), [1, 2, 3, 4], 'ids 1, 2, 3 and 5 hold seqs 1..4: the refused request gave its seq back');
  t.equal(await store.get(counterId(4)), undefined, 'the refused request stored nothing');
  t.equal(await count(store), 4, 'four events in all');
  t.ok((await store.verify({ checkIndex: true })).ok, 'the chain verifies');
});

t.test('a retry racing the original: acknowledged means visible', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  const problems: string[] = [];
  for (let round = 0; round < 200; round++) {
    const batch = Array.from({ length: 20 }, (_, i) => ev(round * 100 + i));
    const original = store.append(batch);
    // Sent before the original is acknowledged: sealed in a later group, deduplicated
    // against events that may not be indexed yet.
    const retry = await store.append(batch);
    const id = counterId(round * 100 + 19);
    const seen = await store.get(id);
    if (seen?.seq !== retry[19]?.seq) problems.push(`round ${round}: the retry was acknowledged with seq ${retry[19]?.seq} but get() gives ${seen?.seq}`);
    if (store.head().seq < (retry[19]?.seq ?? Infinity)) problems.push(`round ${round}: the head ${store.head().seq} is behind the acknowledged seq ${retry[19]?.seq}`);
    const original19 = (await original)[19];
    if (original19?.seq !== retry[19]?.seq || original19?.deduplicated !== false || retry[19]?.deduplicated !== true) problems.push(`round ${round}: ${JSON.stringify([original19, retry[19]])}`);
  }
  t.same(problems.slice(0, 5), [], 'every deduplicated acknowledgement is readable at once, with the original seq');
});

t.test('after a reopen the id is found through the index', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  let store = await openAt(dataDir, { segmentBytes: 4096 });
  const first = await store.append(Array.from({ length: 30 }, (_, i) => ev(i)));
  await store.close();
  store = await openAt(dataDir, { segmentBytes: 4096 });
  t.teardown(() => store.close());
  const again = await store.append(Array.from({ length: 30 }, (_, i) => ev(i)));
  t.same(again, first.map((r) => ({ ...r, deduplicated: true })), 'every id of a sealed segment is found after a reopen, with its original result');
  await t.rejects(store.append([ev(5, { actor_id: 'user-x' })]), { code: 'ID_CONFLICT' }, 'and other content is still refused');
  t.equal(store.head().seq, 30, 'nothing was stored');
});
