/**
 * Queries (DESIGN §3 Query): every filter alone and combined, ascending and descending,
 * limit and cursor paging without loss or overlap, refusals of bad cursors and filters
 * naming the field, and read-your-acknowledgement under concurrent appends.
 */
import t from 'tap';
import { join } from 'node:path';
import type { StoredEvent } from '../../src/event/types';
import type { QueryFilter } from '../../src/store';
import { counterId, openAt, scratchDir } from '../helpers/events';
import { fillStore, filterSet, queryAllPages, readAll, refMatches } from '../helpers/dataset';

const TOTAL = 800;

t.test('queries', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'), { segmentBytes: 64 * 1024 });
  t.teardown(() => store.close());
  await fillStore(store, TOTAL, 11);
  const all = await readAll(store);
  t.equal(all.length, TOTAL, 'the data set is in');
  t.ok(new Set(all.map((e) => e.timestamp)).size > 20, 'with many distinct timestamps');
  const bySeq = new Map(all.map((e) => [e.seq, e]));

  await t.test('every filter, alone and combined, in both orders, paged', async (t) => {
    const problems: string[] = [];
    let nonEmpty = 0;
    for (const filter of filterSet(all)) {
      const expected = all.filter((e) => refMatches(filter, e)).map((e) => e.seq);
      if (expected.length > 0) nonEmpty += 1;
      for (const order of ['asc', 'desc'] as const) {
        const want = order === 'asc' ? expected : [...expected].reverse();
        for (const limit of [1000, 37, 1]) {
          if (limit === 1 && expected.length > 40) continue; // one event a page: only on small results
          const got = await queryAllPages(store, filter, order, limit);
          const what = `${JSON.stringify(filter)} ${order} limit ${limit}`;
          problems.push(...got.problems.map((p) => `${what}: ${p}`));
          if (JSON.stringify(got.seqs) !== JSON.stringify(want)) {
            problems.push(`${what}: ${got.seqs.length} seqs, expected ${want.length} (first difference at ${got.seqs.findIndex((s, i) => s !== want[i])})`);
          }
        }
      }
      // Items are whole events, the same as a full read gives.
      const page = await store.query(filter, { limit: 5 });
      for (const ev of page.items) if (JSON.stringify(ev) !== JSON.stringify(bySeq.get(ev.seq))) problems.push(`${JSON.stringify(filter)}: seq ${ev.seq} differs from the full read`);
    }
    t.same(problems.slice(0, 10), [], 'every query returns exactly the matching seqs, in order, with no page over its limit and no loss or overlap across pages');
    t.ok(nonEmpty > 30, `most filters select something (${nonEmpty})`);
  });

  await t.test('limits and defaults', async (t) => {
    const first = await store.query({});
    t.equal(first.items.length, 100, 'the default limit is 100');
    t.ok(first.next_cursor !== undefined, 'with a cursor for more');
    const last = await store.query({}, { order: 'desc', limit: 3 });
    t.same(last.items.map((e) => e.seq), [TOTAL, TOTAL - 1, TOTAL - 2], 'desc starts at the head');
    const exact = await store.query({ from_seq: TOTAL - 4 }, { limit: 5 });
    t.same([exact.items.length, exact.next_cursor], [5, undefined], 'a page that ends exactly at the last match has no cursor');
    const none = await store.query({ entity_type: 'nobody', entity_id: 'x' });
    t.same([none.items, none.next_cursor], [[], undefined], 'no match: an empty page, no cursor');
    t.same((await store.query({ from_seq: TOTAL + 5 })).items, [], 'a range beyond the head is empty');
    const bounded = await store.query({}, { limit: 50, maxScan: 10 });
    t.ok(bounded.items.length <= 50 && bounded.next_cursor !== undefined, 'maxScan bounds one call and returns a cursor');
  });

  await t.test('a cursor keeps its place while events are appended', async (t) => {
    const filter: QueryFilter = { event_type: 'hcm.employee.' };
    const p1 = await store.query(filter, { limit: 10 });
    await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'late', actor_id: 'zed', organization_id: 'acme' }]);
    const rest = await queryAllPagesFrom(filter, p1.next_cursor);
    const seqs = [...p1.items.map((e) => e.seq), ...rest];
    const expected = (await readAll(store)).filter((e) => refMatches(filter, e)).map((e) => e.seq);
    t.same(seqs, expected, 'ascending paging picks up an event appended after the first page');
  });

  async function queryAllPagesFrom(filter: QueryFilter, cursor: string | undefined): Promise<number[]> {
    const seqs: number[] = [];
    while (cursor !== undefined) {
      const page = await store.query(filter, { limit: 50, cursor });
      seqs.push(...page.items.map((e) => e.seq));
      cursor = page.next_cursor;
    }
    return seqs;
  }

  await t.test('bad cursors are INVALID_CURSOR', async (t) => {
    const page = await store.query({ domain: 'hcm' }, { limit: 5 });
    const cursor = page.next_cursor as string;
    t.ok(cursor, 'a real cursor');
    await t.rejects(store.query({ domain: 'hcm' }, { cursor: 'garbage' }), { code: 'INVALID_CURSOR', field: 'cursor' }, 'garbage');
    await t.rejects(store.query({ domain: 'hcm' }, { cursor: '' }), { code: 'INVALID_CURSOR' }, 'an empty string');
    await t.rejects(store.query({ domain: 'finance' }, { cursor }), { code: 'INVALID_CURSOR' }, 'a cursor of another filter');
    await t.rejects(store.query({ domain: 'hcm', severity: 'low' }, { cursor }), { code: 'INVALID_CURSOR' }, 'a cursor of a narrower filter');
    await t.rejects(store.query({ domain: 'hcm' }, { cursor, order: 'desc' }), { code: 'INVALID_CURSOR' }, 'a cursor of the other order');
    const forged = Buffer.from(JSON.stringify([1, 'asc', '12', 'domain="hcm"'])).toString('base64url');
    await t.rejects(store.query({ domain: 'hcm' }, { cursor: forged }), { code: 'INVALID_CURSOR' }, 'a forged cursor with a string position');
    const truncated = cursor.slice(0, cursor.length - 4);
    await t.rejects(store.query({ domain: 'hcm' }, { cursor: truncated }), { code: 'INVALID_CURSOR' }, 'a truncated cursor');
    t.ok((await store.query({ domain: 'hcm' }, { cursor, limit: 5 })).items.length > 0, 'the real cursor still works');
  });

  await t.test('bad filters are INVALID_QUERY naming the field', async (t) => {
    const cases: [string, QueryFilter, { order?: 'asc' | 'desc'; limit?: number }][] = [
      ['entity_id', { entity_id: 'ent-1' }, {}],
      ['entity_type', { entity_type: 'Employee', entity_id: 'x' }, {}],
      ['entity_type', { entity_type: 'employee.x' }, {}],
      ['event_type', { event_type: 'hcm' }, {}],
      ['event_type', { event_type: 'hcm.employee' }, {}],
      ['event_type', { event_type: 'hcm.employee.hired.' }, {}],
      ['event_type', { event_type: '.' }, {}],
      ['event_type', { event_type: 'HCM.' }, {}],
      ['domain', { domain: 'hcm.' }, {}],
      ['severity', { severity: 'urgent' as never }, {}],
      ['environment', { environment: 'production' as never }, {}],
      ['since', { since: 'yesterday' }, {}],
      ['since', { since: '2024-01-01' }, {}],
      ['until', { until: '2024-13-45T99:00:00Z' }, {}],
      ['from_seq', { from_seq: 0 }, {}],
      ['from_seq', { from_seq: 1.5 }, {}],
      ['to_seq', { to_seq: -1 }, {}],
      ['limit', {}, { limit: 0 }],
      ['limit', {}, { limit: 10_001 }],
      ['limit', {}, { limit: 2.5 }],
    ];
    for (const [field, filter, page] of cases) {
      await t.rejects(store.query(filter, page), { code: 'INVALID_QUERY', field }, `${JSON.stringify(filter)} ${JSON.stringify(page)} → ${field}`);
    }
    await t.rejects(store.read({ event_type: 'nope' }).next(), { code: 'INVALID_QUERY', field: 'event_type' }, 'read: INVALID_QUERY naming the field');
  });
});

t.test('an acknowledged event is visible to a query started right after the acknowledgement', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  const problems: string[] = [];
  let stop = false;
  let k = 0;
  // Background writers keep group commits and index writes in flight all the time.
  const writers = Array.from({ length: 4 }, async (_, w) => {
    while (!stop) await store.append(Array.from({ length: 10 }, () => ({ event_type: 'hcm.employee.updated', entity_id: `bg-${w}`, actor_id: 'bg', payload: { k: k++ } })));
  });
  for (let i = 0; i < 100; i++) {
    const id = counterId(i + 1);
    const entity = `probe-${i % 7}`;
    const [res] = await store.append([{ id, event_type: 'hcm.employee.hired', entity_id: entity, actor_id: `probe-actor-${i}`, payload: { i } }]);
    const seq = res?.seq as number;
    // Each query starts after the acknowledgement: by id, by seq, by every kind of posting, by time.
    const checks: [string, Promise<boolean>][] = [
      ['get', store.get(id).then((e) => e?.seq === seq)],
      ['getBySeq', store.getBySeq(seq).then((e) => e?.id === id)],
      ['head', Promise.resolve(store.head().seq >= seq)],
      ['entity', store.query({ entity_type: 'employee', entity_id: entity }, { order: 'desc', limit: 1000 }).then((p) => p.items.some((e) => e.seq === seq))],
      ['actor', store.query({ actor_id: `probe-actor-${i}` }).then((p) => p.items.length === 1 && p.items[0]?.seq === seq)],
      ['event_type', store.query({ event_type: 'hcm.employee.hired' }, { order: 'desc', limit: 1 }).then((p) => (p.items[0]?.seq ?? 0) >= seq)],
      ['since', store.query({ since: res?.timestamp as string, entity_type: 'employee', entity_id: entity }).then((p) => p.items.some((e) => e.seq === seq))],
      ['scan', store.query({ from_seq: seq, to_seq: seq }).then((p) => p.items[0]?.id === id)],
    ];
    for (const [what, check] of checks) if (!(await check)) problems.push(`probe ${i} (seq ${seq}): not visible by ${what}`);
  }
  stop = true;
  await Promise.all(writers);
  t.same(problems.slice(0, 10), [], 'every probe is visible by id, seq, entity, actor, type, time and scan at once');
  t.ok(k > 500, `the background writers were busy (${k} events)`);
  t.ok((await store.verify({ checkIndex: true })).ok, 'the chain verifies');
});

t.test('entity queries need both parts of the entity', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await store.append([
    { event_type: 'hcm.employee.hired', entity_id: 'x-1', actor_id: 'a' },
    { event_type: 'hcm.department.created', entity_id: 'x-1', actor_id: 'a' },
    { event_type: 'finance.employee.paid', entity_id: 'x-1', actor_id: 'a' },
    { event_type: 'hcm.employee.hired', entity_id: 'x-1/extra', actor_id: 'a' },
    { event_type: 'hcm.employee.hired', entity_id: 'x', actor_id: 'a' },
  ]);
  const seqs = async (f: QueryFilter): Promise<number[]> => (await store.query(f)).items.map((e: StoredEvent) => e.seq);
  t.same(await seqs({ entity_type: 'employee', entity_id: 'x-1' }), [1, 3], 'the same id under another entity type is another entity; the type spans domains');
  t.same(await seqs({ entity_type: 'employee', entity_id: 'x' }), [5], 'no prefix match on ids');
  t.same(await seqs({ entity_type: 'employee', entity_id: 'x-1/extra' }), [4], 'ids with a slash are their own entity');
  t.same(await seqs({ entity_type: 'department' }), [2], 'entity_type alone');
});
