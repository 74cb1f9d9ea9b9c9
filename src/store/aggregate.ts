/** Counts computed at query time (events are stored one by one and never pre-aggregated). */
import type { StoredEvent } from '../event/types';
import { SpineError } from '../errors';

export const AGGREGATE_GROUPS = ['event_type', 'entity_type', 'domain', 'actor_id', 'severity', 'organization_id', 'hour', 'day'] as const;
export type AggregateGroupBy = (typeof AGGREGATE_GROUPS)[number];

export interface AggregateResult {
  group_by: AggregateGroupBy;
  total: number;
  /** Largest count first; time buckets in time order. */
  groups: { key: string; count: number }[];
}

export function checkGroupBy(groupBy: string): AggregateGroupBy {
  if (!(AGGREGATE_GROUPS as readonly string[]).includes(groupBy)) {
    throw new SpineError('INVALID_QUERY', `group_by: must be one of ${AGGREGATE_GROUPS.join(', ')}`, { field: 'group_by' });
  }
  return groupBy as AggregateGroupBy;
}

function keyOf(ev: StoredEvent, groupBy: AggregateGroupBy): string {
  switch (groupBy) {
    case 'hour':
      return `${ev.timestamp.slice(0, 13)}:00:00.000Z`;
    case 'day':
      return `${ev.timestamp.slice(0, 10)}T00:00:00.000Z`;
    default:
      return ev[groupBy];
  }
}

export async function aggregateEvents(events: AsyncIterable<StoredEvent>, groupBy: string): Promise<AggregateResult> {
  const by = checkGroupBy(groupBy);
  const counts = new Map<string, number>();
  let total = 0;
  for await (const ev of events) {
    const key = keyOf(ev, by);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    total += 1;
  }
  const groups = [...counts].map(([key, count]) => ({ key, count }));
  if (by === 'hour' || by === 'day') groups.sort((a, b) => (a.key < b.key ? -1 : 1));
  else groups.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
  return { group_by: by, total, groups };
}
