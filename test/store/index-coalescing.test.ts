/**
 * Groups that become durable while the index is writing are indexed together, in one
 * write (store.ts indexWaiting). Under many concurrent writers and small segments (so that
 * runs of groups meet segment rolls), every acknowledged event is found by every posting
 * list it belongs to, in seq order with paging; a live subscriber is handed every event
 * once, in order; every group is reported once; and the chain and index verify after a
 * reopen.
 */
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/event';
import type { CommitInfo, QueryFilter, Store } from '../../src/store';
import { openAt, prng, scratchDir } from '../helpers/events';

const ACTORS = 7;
const ENTITIES = 11;

async function queryAll(store: Store, filter: QueryFilter, order: 'asc' | 'desc'): Promise<number[]> {
  const seqs: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.query(filter, { order, limit: 37, ...(cursor === undefined ? {} : { cursor }) });
    seqs.push(...page.items.map((e: StoredEvent) => e.seq));
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  return seqs;
}

t.test('groups indexed together: every posting, every subscriber event, every group once', { timeout: 90_000 }, async (t) => {
  const dir = join(scratchDir(), 'data');
  const commits: CommitInfo[] = [];
  const store = await openAt(dir, { segmentBytes: 96 * 1024, onCommit: (c) => commits.push(c) });
  t.teardown(() => store.close());

  const seen: number[] = [];
  const sub = store.subscribe({}, { from_seq: 1 });
  let total = 0;
  const consumer = (async () => {
    for await (const item of sub) {
      if (item.type !== 'event') continue;
      seen.push(item.event.seq);
      if (total > 0 && seen.length >= total) break;
    }
  })();

  const rand = prng(7);
  const byActor = new Map<string, number[]>();
  const byEntity = new Map<string, number[]>();
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let r = 0; r < 40; r++) {
        const events = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, k) => ({
          event_type: 'hcm.employee.updated',
          entity_id: `emp-${(w * 40 + r + k) % ENTITIES}`,
          actor_id: `user-${(w + k) % ACTORS}`,
          payload: { w, r, k },
        }));
        const results = await store.append(events);
        results.forEach((res, k) => {
          const ev = events[k] as (typeof events)[number];
          for (const [map, key] of [[byActor, ev.actor_id], [byEntity, ev.entity_id]] as const) {
            const list = map.get(key) ?? [];
            list.push(res.seq);
            map.set(key, list);
          }
        });
      }
    }),
  );
  total = store.head().seq;
  const problems: string[] = [];
  for (const [actor, seqs] of byActor) {
    const want = [...seqs].sort((a, b) => a - b);
    if (JSON.stringify(await queryAll(store, { actor_id: actor }, 'asc')) !== JSON.stringify(want)) problems.push(`actor ${actor} ascending`);
    if (JSON.stringify(await queryAll(store, { actor_id: actor }, 'desc')) !== JSON.stringify([...want].reverse())) problems.push(`actor ${actor} descending`);
  }
  for (const [entity, seqs] of byEntity) {
    const want = [...seqs].sort((a, b) => a - b);
    if (JSON.stringify(await queryAll(store, { entity_type: 'employee', entity_id: entity }, 'asc')) !== JSON.stringify(want)) problems.push(`entity ${entity}`);
  }
  t.same(problems, [], `every actor's and entity's events, in order, through pages (${total} events)`);

  await consumer;
  t.same(seen, Array.from({ length: total }, (_, i) => i + 1), 'the subscriber was handed seqs 1…N once each, in order');
  t.equal(commits.reduce((n, c) => n + c.events, 0), total, 'every group reported once');
  const writes = new Set(commits.map((c) => c.indexMs)).size;
  t.comment(`${commits.length} groups in ${writes} index writes`);

  const reopened = await (async () => {
    await store.close();
    return openAt(dir, { segmentBytes: 96 * 1024 });
  })();
  t.teardown(() => reopened.close());
  t.match(await reopened.verify({ checkIndex: true }), { ok: true, checked: total }, 'chain and index verify after a reopen');
});
