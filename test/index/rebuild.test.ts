/**
 * The index is a projection of the log (DESIGN §2): deleted, it is rebuilt from the
 * segments with progress reports and answers every query as before; left behind the log
 * (a crash between the log write and the index write), it catches up on open.
 */
import t from 'tap';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../../src/store';
import { copyDir } from '../helpers/segments';
import { openAt, scratchDir } from '../helpers/events';
import { fillStore, filterSet, queryAllPages, readAll, refMatches } from '../helpers/dataset';

const SEGMENT_BYTES = 16 * 1024;

/** Every filter of the set, both orders, paged: the answers to compare. */
async function snapshot(store: Store): Promise<Map<string, number[]>> {
  const all = await readAll(store);
  const answers = new Map<string, number[]>();
  for (const filter of filterSet(all)) {
    for (const order of ['asc', 'desc'] as const) {
      const got = await queryAllPages(store, filter, order, 53);
      answers.set(`${JSON.stringify(filter)} ${order}`, got.seqs);
    }
  }
  const ids = await Promise.all(all.map(async (e) => (await store.get(e.id))?.seq ?? -1));
  answers.set('get by every id', ids);
  answers.set('aggregate by actor', (await store.aggregate({}, 'actor_id')).groups.map((g) => g.count));
  return answers;
}

t.test('a deleted index is rebuilt with the same answers', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  let store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  await fillStore(store, 800, 5);
  const before = await snapshot(store);
  const head = store.head();
  await store.close();

  await rm(join(dataDir, 'index'), { recursive: true });
  const progress: [number, number][] = [];
  const notices: string[] = [];
  store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES, onRecoveryProgress: (done, total) => progress.push([done, total]), onNotice: (m) => notices.push(m) });
  t.teardown(() => store.close());
  t.same(store.head(), head, 'the head is the same');
  t.ok(progress.length > 0, 'progress was reported');
  const last = progress[progress.length - 1] as [number, number];
  t.equal(last[0], last[1], 'progress ends at its total');
  t.ok(last[1] > 800 * 100, `the total is the log's size (${last[1]} bytes)`);
  t.ok(notices.some((m) => m.includes('caught up')), 'the rebuild is told about');

  const after = await snapshot(store);
  const differences = [...before.keys()].filter((k) => JSON.stringify(before.get(k)) !== JSON.stringify(after.get(k)));
  t.same(differences, [], `all ${before.size} answers are identical after the rebuild`);
  t.ok((await store.verify({ checkIndex: true })).ok, 'verify with the index check passes');
  const again = await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'after-rebuild', actor_id: 'alice' }]);
  t.equal(again[0]?.seq, head.seq + 1, 'appends continue after the rebuild');
  t.same((await store.query({ entity_type: 'employee', entity_id: 'after-rebuild' })).items.map((e) => e.seq), [head.seq + 1], 'and are indexed');
});

t.test('rebuild progress over many segments', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  let store = await openAt(dataDir, { segmentBytes: 64 * 1024 });
  const total = 6000;
  for (let i = 0; i < total; i += 500) {
    await store.append(Array.from({ length: 500 }, (_, j) => ({ event_type: 'ops.job.step', entity_id: `job-${(i + j) % 13}`, actor_id: 'runner', payload: { n: i + j } })));
  }
  await store.close();
  await rm(join(dataDir, 'index'), { recursive: true });
  const progress: [number, number][] = [];
  store = await openAt(dataDir, { segmentBytes: 64 * 1024, onRecoveryProgress: (done, all) => progress.push([done, all]) });
  t.teardown(() => store.close());
  t.equal(store.head().seq, total, 'every event is back');
  t.ok(progress.length >= 3, `progress came in steps (${progress.length} reports)`);
  t.ok(progress.every(([, all]) => all === (progress[0] as [number, number])[1]), 'against one total');
  t.ok(progress.every(([done], i) => i === 0 || done >= (progress[i - 1] as [number, number])[0]), 'never going back');
  const last = progress[progress.length - 1] as [number, number];
  t.equal(last[0], last[1], 'and ending at the total');
  t.equal((await store.query({ entity_type: 'job', entity_id: 'job-5' }, { limit: 10_000 })).items.length, Math.ceil((total - 5) / 13), 'the rebuilt postings are complete');
});

t.test('an index left behind the log catches up on open', async (t) => {
  const base = scratchDir();
  const dataDir = join(base, 'data');
  let store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  await fillStore(store, 300, 8);
  await store.close();
  // What a crash between the log's fsync and the index write leaves: an older index.
  await copyDir(join(dataDir, 'index'), join(base, 'old-index'));
  store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  await fillStore(store, 400, 9);
  const head = store.head();
  await store.close();
  await copyDir(join(base, 'old-index'), join(dataDir, 'index'));

  const notices: { message: string; details: Record<string, unknown> }[] = [];
  store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES, onNotice: (message, details) => notices.push({ message, details }) });
  t.teardown(() => store.close());
  t.same(store.head(), head, 'the head is the log head');
  const caughtUp = notices.find((n) => n.message.includes('caught up'));
  t.equal(caughtUp?.details.events, 400, 'the 400 events the index missed were indexed');

  const all = await readAll(store);
  t.equal(all.length, 700, 'a full read has every event');
  const problems: string[] = [];
  for (const filter of filterSet(all)) {
    const want = all.filter((e) => refMatches(filter, e)).map((e) => e.seq);
    const got = await queryAllPages(store, filter, 'desc', 100);
    if (JSON.stringify(got.seqs) !== JSON.stringify([...want].reverse())) problems.push(`${JSON.stringify(filter)}: ${got.seqs.length} of ${want.length}`);
  }
  t.same(problems, [], 'every query sees the events the old index did not have');
  const missing = (await Promise.all(all.map(async (e) => ((await store.get(e.id))?.seq === e.seq ? undefined : e.seq)))).filter((s) => s !== undefined);
  t.same(missing, [], 'every id is found');
  t.ok((await store.verify({ checkIndex: true })).ok, 'verify with the index check passes');
});
