/**
 * Queries driven by a posting list get their frames from the index worker with the
 * postings (src/log/frame-reader.ts): pages of several sizes, frames adjacent in the log
 * (read together) and scattered over many segments, read-ahead left behind by a page that
 * filled up, and damage found and named (checksum, a frame cut short by the file's end),
 * also by a sequential read that starts at the located frame before it. Time-range pages,
 * whose first frames come with their time bounds, equal a full read's.
 */
import t from 'tap';
import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredEvent } from '../../src/event/types';
import type { QueryFilter, Store } from '../../src/store';
import { openAt, scratchDir } from '../helpers/events';
import { queryAllPages, readAll, refMatches } from '../helpers/dataset';
import { allFrames, segmentsDir } from '../helpers/segments';

const SEGMENT_BYTES = 32 * 1024;

function event(entity: string, n: number): Record<string, unknown> {
  return { event_type: 'hcm.employee.updated', entity_id: entity, actor_id: `actor-${n % 3}`, payload: { n, note: 'x'.repeat(n % 40) } };
}

/** Entity `big`: 1500 events, some in runs of adjacent frames, the rest scattered among others. */
async function fill(store: Store): Promise<void> {
  let n = 0;
  for (let round = 0; round < 30; round++) {
    const batch = [];
    for (let k = 0; k < 20; k++) batch.push(event('big', n++)); // adjacent frames of one entity
    for (let k = 0; k < 30; k++) batch.push(event(`other-${k % 7}`, n++), event('big', n++));
    await store.append(batch);
  }
}

t.test('posting-driven queries read their frames through the index worker', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  t.teardown(() => store.close());
  await fill(store);
  const all = await readAll(store);
  const segments = new Set((await allFrames(dataDir)).map((f) => f.file));
  t.ok(segments.size > 10, `the log spans many segments (${segments.size})`);
  const bySeq = new Map(all.map((e) => [e.seq, e]));

  const filters: QueryFilter[] = [
    { entity_type: 'employee', entity_id: 'big' },
    { entity_type: 'employee', entity_id: 'other-3' },
    { actor_id: 'actor-1' },
    { entity_type: 'employee', entity_id: 'big', actor_id: 'actor-2' },
    { entity_type: 'employee', entity_id: 'big', from_seq: 333, to_seq: 1400 },
  ];
  const problems: string[] = [];
  for (const filter of filters) {
    const expected = all.filter((e) => refMatches(filter, e)).map((e) => e.seq);
    for (const order of ['asc', 'desc'] as const) {
      const want = order === 'asc' ? expected : [...expected].reverse();
      for (const limit of [10_000, 700, 129, 128, 100, 1]) {
        if (limit === 1 && expected.length > 300) continue;
        const got = await queryAllPages(store, filter, order, limit);
        const what = `${JSON.stringify(filter)} ${order} limit ${limit}`;
        problems.push(...got.problems.map((p) => `${what}: ${p}`));
        if (JSON.stringify(got.seqs) !== JSON.stringify(want)) problems.push(`${what}: ${got.seqs.length} seqs, expected ${want.length}`);
      }
    }
    const page = await store.query(filter, { limit: 300, order: 'desc' });
    for (const ev of page.items) if (JSON.stringify(ev) !== JSON.stringify(bySeq.get(ev.seq))) problems.push(`${JSON.stringify(filter)}: seq ${ev.seq} differs from the log read`);
  }
  t.same(problems.slice(0, 10), [], 'every page holds exactly the matching events, whole, in order, across page sizes, runs of adjacent frames and segments');

  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => store.query({ entity_type: 'employee', entity_id: 'big' }, { limit: 5 + i, order: i % 2 === 0 ? 'asc' : 'desc' })));
  t.same(
    many.map((p) => p.items.length),
    Array.from({ length: 20 }, (_, i) => 5 + i),
    'concurrent queries that stop early (their read-ahead unused) each get their page',
  );
  const big = all.filter((e) => e.entity_id === 'big');
  t.same(
    (await store.query({ entity_type: 'employee', entity_id: 'big' }, { limit: 3, order: 'desc' })).items.map((e) => e.seq),
    big.slice(-3).reverse().map((e) => e.seq),
    'and the store answers normally after them',
  );
});

t.test('a posting-driven read finds a damaged frame and names it', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  t.teardown(() => store.close());
  await fill(store);
  const frames = await allFrames(dataDir);
  const big = (await readAll(store, { entity_type: 'employee', entity_id: 'big' })) as StoredEvent[];
  const victim = frames.find((f) => f.seq === (big[700] as StoredEvent).seq);
  if (victim === undefined) throw new Error('no victim frame');
  const path = join(segmentsDir(dataDir), victim.file);
  const flip = async (at: number): Promise<void> => {
    const fh = await open(path, 'r+');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0] = (b[0] as number) ^ 0x10;
      await fh.write(b, 0, 1, at);
    } finally {
      await fh.close();
    }
  };
  const filter = { entity_type: 'employee', entity_id: 'big' };
  for (const at of [victim.offset + 5, victim.offset + 20, victim.offset + victim.length - 1]) {
    await flip(at);
    const err = await store.query(filter, { limit: 10_000 }).then(() => undefined, (e: { code?: string; message?: string }) => e);
    t.equal(err?.code, 'LOG_CORRUPT', `a flipped byte at +${at - victim.offset}: LOG_CORRUPT`);
    t.match(err?.message, `${victim.file} at offset ${victim.offset}, seq ${victim.seq}:`, 'naming the segment, offset and seq');
    // A sequential read from the index's located frame before it (frames before the range
    // are checked but not decoded) names it the same way.
    const bySeq = await store.getBySeq(victim.seq).then(() => undefined, (e: { code?: string; message?: string }) => e);
    t.match(bySeq, { code: 'LOG_CORRUPT', message: `${victim.file} at offset ${victim.offset}, seq ${victim.seq}:` }, 'getBySeq names the segment, offset and seq');
    // A page of 699 looks at one more candidate (the cursor), not at the damaged 701st.
    const before = await store.query(filter, { limit: 699 });
    t.equal(before.items.length, 699, 'the events before it still read');
    await flip(at);
  }
  t.equal((await store.query(filter, { limit: 10_000 })).items.length, big.length, 'restored, the whole history reads again');

  // The file ending inside a frame (as if cut short under the store): named the same way.
  const last = frames.filter((f) => f.file === frames[frames.length - 1]?.file);
  const lastBig = last.filter((f) => big.some((e) => e.seq === f.seq)).pop();
  if (lastBig === undefined) throw new Error('no frame of big in the last segment');
  await truncate(join(segmentsDir(dataDir), lastBig.file), lastBig.offset + 10);
  const err = await store.query(filter, { order: 'desc', limit: 1 }).then(() => undefined, (e: { code?: string; message?: string }) => e);
  t.equal(err?.code, 'LOG_CORRUPT', 'a frame past the end of its file: LOG_CORRUPT');
  t.match(err?.message, `${lastBig.file} at offset ${lastBig.offset}, seq ${lastBig.seq}: the segment ends inside this frame`, 'naming the segment, offset and seq');
});

t.test('time-range pages start with the frames read along with their bounds', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  t.teardown(() => store.close());
  for (let g = 0; g < 40; g++) {
    await store.append(Array.from({ length: 1 + ((g * 7) % 40) }, (_, k) => event(`e-${k % 5}`, g * 100 + k)));
    await new Promise((r) => setTimeout(r, 2)); // a millisecond of its own for each group
  }
  const all = await readAll(store);
  const stamps = [...new Set(all.map((e) => e.timestamp))];
  t.ok(stamps.length >= 30, `many instants (${stamps.length})`);
  const problems: string[] = [];
  for (let i = 0; i < stamps.length; i += 3) {
    const since = stamps[i] as string;
    for (const until of [undefined, stamps[Math.min(stamps.length - 1, i + 5)] as string]) {
      for (const extra of [{}, { from_seq: 70 }, { to_seq: 400 }]) {
        const filter: QueryFilter = { since, ...(until === undefined ? {} : { until }), ...extra };
        const want = all.filter((e) => refMatches(filter, e)).map((e) => e.seq);
        const got = await queryAllPages(store, filter, 'asc', 50);
        if (JSON.stringify(got.seqs) !== JSON.stringify(want) || got.problems.length > 0) problems.push(`${JSON.stringify(filter)}: ${got.seqs.length} seqs, expected ${want.length} ${got.problems.join('; ')}`);
      }
    }
  }
  t.same(problems.slice(0, 10), [], 'every time range, paged, holds exactly its events, across segment boundaries and location strides');
});
