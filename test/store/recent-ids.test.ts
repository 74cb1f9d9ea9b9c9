/**
 * Ids known to be new without an index look-up (store/recent-ids.ts): UUIDv7 ids past the
 * newest stored one. Whatever the order ids arrive in, across reopens, crashes of memory
 * and indexes written before the horizon was kept, a retry is still found.
 */
import t from 'tap';
import fc from 'fast-check';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pack, unpack } from 'msgpackr';
import { uuidv7, uuidv7Ms, uuidv7MsOfBytes, uuidToBytes } from '../../src/event/uuid';
import { RecentIds } from '../../src/store/recent-ids';
import type { Store } from '../../src/store';
import { counterId, openAt, scratchDir } from '../helpers/events';

/** A UUIDv7 of a given time, told apart by `n`. */
function v7(ms: number, n: number): string {
  const t48 = ms.toString(16).padStart(12, '0');
  return `${t48.slice(0, 8)}-${t48.slice(8)}-7000-8000-${n.toString(16).padStart(12, '0')}`;
}

function ev(id: string, k = 0): Record<string, unknown> {
  return { id, event_type: 'hcm.employee.updated', entity_id: `emp-${k}`, actor_id: 'user-1', payload: { k } };
}

async function count(store: Store): Promise<number> {
  let n = 0;
  for await (const _ of store.read()) n += 1;
  return n;
}

t.test('the time of a UUIDv7, as text and as bytes; -1 for other versions', async (t) => {
  const now = Date.now();
  const made = uuidv7();
  t.ok(Math.abs(uuidv7Ms(made) - now) < 5_000, 'a fresh id carries about now');
  t.equal(uuidv7MsOfBytes(uuidToBytes(made)), uuidv7Ms(made), 'bytes and text agree');
  t.equal(uuidv7Ms(v7(0x0123456789ab, 1)), 0x0123456789ab, 'all 48 bits');
  t.equal(uuidv7MsOfBytes(uuidToBytes(v7(0xffffffffffff, 1))), 0xffffffffffff, 'the largest time');
  t.equal(uuidv7Ms(counterId(1)), -1, 'version 4');
  t.equal(uuidv7Ms('01900000-0000-7000-c000-000000000001'), -1, 'version 7 of another variant');
  t.equal(uuidv7MsOfBytes(uuidToBytes(counterId(1))), -1);
});

t.test('RecentIds: new past the horizon unless sealed; everything else is looked up', async (t) => {
  const ids = new RecentIds(1_000);
  t.notOk(ids.isSurelyNew(v7(1_000, 1)), 'at the newest stored time: may be stored');
  t.ok(ids.isSurelyNew(v7(1_001, 1)), 'past it: new');
  t.notOk(ids.isSurelyNew(counterId(1)), 'a UUIDv4 is always looked up');
  ids.add(v7(1_001, 1));
  t.notOk(ids.isSurelyNew(v7(1_001, 1)), 'sealed: no longer surely new');
  t.ok(ids.isSurelyNew(v7(1_001, 2)), 'its neighbour still is');
});

t.test('property: an id once added is never called new, however many follow and in whatever time order', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 2, max: 20 }), (times, limit) => {
      const ids = new RecentIds(50, limit);
      const added: string[] = [];
      for (const [n, ms] of times.entries()) {
        const id = v7(ms, n);
        ids.add(id);
        added.push(id);
        if (added.some((a) => ids.isSurelyNew(a))) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('a store: retries of UUIDv7 ids are found in the same commit, after it, and after reopens', async (t) => {
  const dir = join(scratchDir(), 'data');
  let store = await openAt(dir);
  t.teardown(() => store.close());
  const base = Date.now();
  const ids = [v7(base, 1), v7(base + 1, 2), v7(base - 60_000, 3), v7(base + 86_400_000, 4)];
  const [first, again] = await Promise.all([store.append(ids.map((id, k) => ev(id, k))), store.append(ids.map((id, k) => ev(id, k)))]);
  t.same(first?.map((r) => r.seq), [1, 2, 3, 4]);
  t.same(again?.map((r) => [r.seq, r.deduplicated]), [[1, true], [2, true], [3, true], [4, true]], 'a concurrent retry');
  t.same((await store.append([ev(ids[3] as string, 3)]))[0]?.deduplicated, true, 'a later retry');

  // Reopen: the index carries the newest id time (a day ahead here), so nothing before it is taken as new.
  await store.close();
  store = await openAt(dir);
  for (const [k, id] of ids.entries()) t.equal((await store.append([ev(id, k)]))[0]?.seq, k + 1, `after a reopen, id ${k} is found`);
  const fresh = await store.append([ev(v7(base + 2, 5), 5)]);
  t.same([fresh[0]?.seq, fresh[0]?.deduplicated], [5, false], 'a new id is stored');
  t.equal(await count(store), 5, 'nothing duplicated');
  await t.rejects(store.append([ev(ids[0] as string, 9)]), { code: 'ID_CONFLICT' }, 'other content under a stored id is still refused');
});

t.test('an index head written before the newest id time was kept: it is found from the ids at open', async (t) => {
  const dir = join(scratchDir(), 'data');
  let store = await openAt(dir);
  t.teardown(() => store.close());
  const future = v7(Date.now() + 86_400_000, 1);
  await store.append([ev(future, 1), ev(counterId(2), 2)]);
  await store.close();

  // Rewrite the head as the previous version of the daemon wrote it (five items).
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'index'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const head = unpack((await db.get(Buffer.from('H'))) as Buffer) as unknown[];
  t.equal(head.length, 6, 'the head keeps the newest id time');
  t.equal(head[5], uuidv7Ms(future));
  await db.put(Buffer.from('H'), pack(head.slice(0, 5)));
  await db.close();

  store = await openAt(dir);
  const retry = await store.append([ev(future, 1)]);
  t.same([retry[0]?.seq, retry[0]?.deduplicated], [1, true], 'the future id is found: the horizon came from the ids');
  t.equal(await count(store), 2);
});
