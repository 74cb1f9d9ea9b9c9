/**
 * Aggregate (counts by a field or a time bucket over a filtered range, computed at query
 * time), Verify over ranges, and Head (DESIGN §3).
 */
import t from 'tap';
import { join } from 'node:path';
import { GENESIS_HASH, type StoredEvent } from '../../src/event/types';
import { AGGREGATE_GROUPS, type QueryFilter } from '../../src/store';
import { openAt, scratchDir } from '../helpers/events';
import { fillStore, readAll, refMatches } from '../helpers/dataset';

/** The manual count: the key of each group written out from DESIGN §3, not from src. */
function keyOf(ev: StoredEvent, groupBy: string): string {
  const [domain, entityType] = ev.event_type.split('.') as [string, string];
  switch (groupBy) {
    case 'event_type':
      return ev.event_type;
    case 'entity_type':
      return entityType;
    case 'domain':
      return domain;
    case 'actor_id':
      return ev.actor_id;
    case 'severity':
      return ev.severity;
    case 'organization_id':
      return ev.organization_id;
    case 'hour': {
      const d = new Date(ev.timestamp);
      d.setUTCMinutes(0, 0, 0);
      return d.toISOString();
    }
    case 'day': {
      const d = new Date(ev.timestamp);
      d.setUTCHours(0, 0, 0, 0);
      return d.toISOString();
    }
    default:
      throw new Error(groupBy);
  }
}

t.test('aggregate counts match a manual count', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  await fillStore(store, 600, 21);
  const all = await readAll(store);
  const since = (all[200] as StoredEvent).timestamp;
  const filters: QueryFilter[] = [{}, { organization_id: 'acme' }, { event_type: 'hcm.', since }, { entity_type: 'employee', entity_id: 'ent-4' }, { from_seq: 100, to_seq: 300, severity: 'low' }, { actor_id: 'nobody' }];
  t.same([...AGGREGATE_GROUPS].sort(), ['actor_id', 'day', 'domain', 'entity_type', 'event_type', 'hour', 'organization_id', 'severity'], 'the groupings of DESIGN §3 (and domain, organization)');
  const problems: string[] = [];
  for (const filter of filters) {
    const matching = all.filter((e) => refMatches(filter, e));
    for (const groupBy of AGGREGATE_GROUPS) {
      const res = await store.aggregate(filter, groupBy);
      const manual = new Map<string, number>();
      for (const ev of matching) manual.set(keyOf(ev, groupBy), (manual.get(keyOf(ev, groupBy)) ?? 0) + 1);
      const what = `${JSON.stringify(filter)} by ${groupBy}`;
      if (res.group_by !== groupBy) problems.push(`${what}: group_by ${res.group_by}`);
      if (res.total !== matching.length) problems.push(`${what}: total ${res.total}, counted ${matching.length}`);
      const got = new Map(res.groups.map((g) => [g.key, g.count]));
      if (got.size !== res.groups.length) problems.push(`${what}: a key appears twice`);
      if (JSON.stringify([...got].sort()) !== JSON.stringify([...manual].sort())) problems.push(`${what}: ${JSON.stringify(res.groups)} vs ${JSON.stringify([...manual])}`);
      const counts = res.groups.map((g) => g.count);
      const keys = res.groups.map((g) => g.key);
      if (groupBy === 'hour' || groupBy === 'day') {
        if (JSON.stringify(keys) !== JSON.stringify([...keys].sort())) problems.push(`${what}: buckets not in time order`);
      } else if (JSON.stringify(counts) !== JSON.stringify([...counts].sort((a, b) => b - a))) problems.push(`${what}: not largest first`);
    }
  }
  t.same(problems, [], 'for every filter and every grouping: the same groups and counts as a manual count, total = matches, in the documented order');
  await t.rejects(store.aggregate({}, 'colour'), { code: 'INVALID_QUERY', field: 'group_by' }, 'an unknown grouping is refused, naming group_by');
  await t.rejects(store.aggregate({ event_type: 'hcm' }, 'severity'), { code: 'INVALID_QUERY', field: 'event_type' }, 'a bad filter is refused, naming it');
});

t.test('verify over ranges', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'), { segmentBytes: 8192 });
  t.teardown(() => store.close());
  t.same(await store.verify(), { ok: true, from_seq: 1, to_seq: 0, checked: 0 }, 'an empty store verifies, checking nothing');
  await fillStore(store, 300, 22);
  const cases: [{ from_seq?: number; to_seq?: number }, number, number][] = [
    [{}, 1, 300],
    [{ from_seq: 1, to_seq: 1 }, 1, 1],
    [{ from_seq: 10, to_seq: 20 }, 10, 20],
    [{ from_seq: 64, to_seq: 65 }, 64, 65], // across a location-stride boundary
    [{ from_seq: 150 }, 150, 300],
    [{ to_seq: 77 }, 1, 77],
    [{ from_seq: 299, to_seq: 5000 }, 299, 300],
    [{ from_seq: 300 }, 300, 300],
  ];
  for (const [range, from, to] of cases) {
    const v = await store.verify({ ...range, checkIndex: true });
    t.same(v, { ok: true, from_seq: from, to_seq: to, checked: to - from + 1 }, `${JSON.stringify(range)}: seqs ${from}..${to} checked`);
  }
  // Short ranges starting all over the log, across segment files and stride boundaries.
  const bad = [];
  for (let from = 1; from <= 300; from += 7) {
    const v = await store.verify({ from_seq: from, to_seq: from + 3 });
    if (!v.ok || v.checked !== Math.min(4, 301 - from)) bad.push(from);
  }
  t.same(bad, [], 'short ranges starting all over the log verify');
  t.same(await store.verify({ from_seq: 301 }), { ok: true, from_seq: 301, to_seq: 300, checked: 0 }, 'a range beyond the head checks nothing');
  t.same(await store.verify({ from_seq: 50, to_seq: 40 }), { ok: true, from_seq: 50, to_seq: 40, checked: 0 }, 'an empty range checks nothing');
});

t.test('head', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  let store = await openAt(dataDir);
  t.same(store.head(), { seq: 0, event_hash: GENESIS_HASH, timestamp: undefined }, 'an empty store: seq 0 and the genesis hash');
  const res = await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'e', actor_id: 'a' }, { event_type: 'hcm.employee.hired', entity_id: 'f', actor_id: 'a' }]);
  const last = res[1];
  t.same(store.head(), { seq: 2, event_hash: last?.event_hash, timestamp: last?.timestamp }, 'the last acknowledged event');
  await store.close();
  store = await openAt(dataDir);
  t.teardown(() => store.close());
  t.same(store.head(), { seq: 2, event_hash: last?.event_hash, timestamp: last?.timestamp }, 'the same after a reopen');
  t.match(store.head().timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'an RFC 3339 UTC timestamp with milliseconds');
});
