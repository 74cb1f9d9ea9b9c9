/**
 * A varied, seeded data set for query and index tests, and a reference implementation of
 * the query filters written from DESIGN §3 (not from src/store/filter.ts), so the store's
 * answers can be checked against a plain scan of a full read.
 */
import type { StoredEvent } from '../../src/event/types';
import type { QueryFilter, Store } from '../../src/store';
import { pick, prng, sleep } from './events';

/** Includes near-misses for prefixes: `hcmx.` is not under `hcm.`, `employees` not under `employee.`. */
export const EVENT_TYPES = [
  'hcm.employee.hired',
  'hcm.employee.updated',
  'hcm.employee.terminated',
  'hcm.employees.imported',
  'hcm.department.created',
  'hcm.department.renamed',
  'hcmx.employee.created',
  'finance.invoice.approved',
  'finance.invoice.paid',
  'finance.budget.updated',
  'ops.job.started',
  'ops.job.done',
] as const;
export const ORGS = ['acme', 'globex', 'initech'] as const;
export const ACTORS = ['alice', 'bob', 'carol', 'dave', 'pipeline-7'] as const;
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export const ENVIRONMENTS = ['dev', 'test', 'stage', 'prod'] as const;

export function datasetEvent(rand: () => number, n: number): Record<string, unknown> {
  const eventType = pick(rand, EVENT_TYPES);
  // Entity ids repeat across entity types: an entity is its type and its id together.
  return {
    event_type: eventType,
    entity_id: `ent-${Math.floor(rand() * 25)}`,
    entity_name: rand() < 0.5 ? `Name ${n}` : undefined,
    actor_id: pick(rand, ACTORS),
    actor_type: pick(rand, ['human', 'system', 'pipeline'] as const),
    organization_id: pick(rand, ORGS),
    environment: pick(rand, ENVIRONMENTS),
    severity: rand() < 0.6 ? 'low' : pick(rand, SEVERITIES),
    payload: { n, text: 'x'.repeat(Math.floor(rand() * 80)) },
  };
}

/** Appends `total` events in batches of 1–40, a few ms apart so that timestamps differ. */
export async function fillStore(store: Store, total: number, seed = 1): Promise<void> {
  const rand = prng(seed);
  let n = 0;
  while (n < total) {
    const size = Math.min(total - n, 1 + Math.floor(rand() * 40));
    const batch = Array.from({ length: size }, () => datasetEvent(rand, n++));
    // Two requests at once now and then: one group commit holding both.
    if (rand() < 0.3 && size > 1) await Promise.all([store.append(batch.slice(0, size >> 1)), store.append(batch.slice(size >> 1))]);
    else await store.append(batch);
    if (rand() < 0.5) await sleep(2);
  }
}

export async function readAll(store: Store, filter: QueryFilter = {}): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  for await (const ev of store.read(filter)) all.push(ev);
  return all;
}

/** The reference: does `ev` pass every given filter? */
export function refMatches(f: QueryFilter, ev: StoredEvent): boolean {
  const [domain, entityType] = ev.event_type.split('.');
  if (f.entity_type !== undefined && entityType !== f.entity_type) return false;
  if (f.entity_id !== undefined && ev.entity_id !== f.entity_id) return false;
  if (f.event_type !== undefined) {
    const ok = f.event_type.endsWith('.') ? ev.event_type.startsWith(f.event_type) : ev.event_type === f.event_type;
    if (!ok) return false;
  }
  if (f.domain !== undefined && domain !== f.domain) return false;
  if (f.organization_id !== undefined && ev.organization_id !== f.organization_id) return false;
  if (f.organizations !== undefined && !f.organizations.includes(ev.organization_id)) return false;
  if (f.actor_id !== undefined && ev.actor_id !== f.actor_id) return false;
  if (f.severity !== undefined && ev.severity !== f.severity) return false;
  if (f.environment !== undefined && ev.environment !== f.environment) return false;
  if (f.since !== undefined && Date.parse(ev.timestamp) < Date.parse(f.since)) return false;
  if (f.until !== undefined && Date.parse(ev.timestamp) >= Date.parse(f.until)) return false;
  if (f.from_seq !== undefined && ev.seq < f.from_seq) return false;
  if (f.to_seq !== undefined && ev.seq > f.to_seq) return false;
  return true;
}

/** Every page of a query, checking each page's size; returns the seqs in the order given. */
export async function queryAllPages(store: Store, filter: QueryFilter, order: 'asc' | 'desc', limit: number): Promise<{ seqs: number[]; pages: number; problems: string[] }> {
  const seqs: number[] = [];
  const problems: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.query(filter, { order, limit, ...(cursor === undefined ? {} : { cursor }) });
    pages += 1;
    if (page.items.length > limit) problems.push(`page ${pages} has ${page.items.length} items, limit ${limit}`);
    if (page.items.length < limit && page.next_cursor !== undefined && page.items.length === 0) problems.push(`page ${pages} is empty but has a cursor`);
    seqs.push(...page.items.map((e) => e.seq));
    cursor = page.next_cursor;
    if (pages > 10_000) throw new Error('the cursor never ends');
  } while (cursor !== undefined);
  return { seqs, pages, problems };
}

/** The filters the index and the scan must answer alike, from the data set's actual values. */
export function filterSet(events: readonly StoredEvent[]): QueryFilter[] {
  const at = (i: number): StoredEvent => events[Math.min(events.length - 1, Math.floor(events.length * i))] as StoredEvent;
  const since = at(0.3).timestamp;
  const until = at(0.7).timestamp;
  const e1 = at(0.1);
  const e2 = at(0.5);
  return [
    {},
    { entity_type: e1.entity_type, entity_id: e1.entity_id },
    { entity_type: e2.entity_type, entity_id: e2.entity_id },
    { entity_type: 'employee', entity_id: 'ent-3' },
    { entity_type: 'employee', entity_id: 'no-such-entity' },
    { entity_type: 'employee' },
    { entity_type: 'department' },
    { event_type: 'hcm.employee.updated' },
    { event_type: 'finance.invoice.paid' },
    { event_type: 'hcm.' },
    { event_type: 'hcm.employee.' },
    { event_type: 'hcmx.' },
    { event_type: 'finance.invoice.' },
    { event_type: 'nothing.here.' },
    { domain: 'hcm' },
    { domain: 'finance' },
    { domain: 'ops' },
    { organization_id: 'acme' },
    { organization_id: 'initech' },
    { actor_id: 'alice' },
    { actor_id: 'pipeline-7' },
    { severity: 'critical' },
    { severity: 'low' },
    { environment: 'stage' },
    { environment: 'prod' },
    { since },
    { until },
    { since, until },
    { since: until, until: since },
    { from_seq: 100, to_seq: 400 },
    { entity_type: 'employee', organization_id: 'acme', severity: 'low' },
    { event_type: 'hcm.', actor_id: 'bob', environment: 'prod' },
    { event_type: 'hcm.employee.', since, until },
    { domain: 'finance', organization_id: 'globex', since },
    { entity_type: e1.entity_type, entity_id: e1.entity_id, actor_id: e1.actor_id, until },
    { actor_id: 'carol', severity: 'high', from_seq: 50 },
    { organization_id: 'acme', environment: 'dev', until },
    { event_type: 'ops.job.done', domain: 'ops' },
    { event_type: 'ops.job.done', domain: 'hcm' },
    { organizations: ['acme', 'globex'], severity: 'medium' },
  ];
}
