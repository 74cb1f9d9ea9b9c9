/**
 * The batch auto-setup fixture the ops tests share: three tables, the second malformed
 * (a column type no rule can interpret), and the exact steps such a request produces.
 */
import { checkId } from '../../src/ops';

export const ORG = 'default';
const HOUR_MS = 3_600_000;

/** A request body; `lastUpdated` defaults to two hours ago (fresh under the 24 h default). */
export function threeTables(lastUpdated = new Date(Date.now() - 2 * HOUR_MS).toISOString()): Record<string, unknown> {
  return {
    actor_id: 'analyst-7',
    tables: [
      {
        name: 'orders',
        schema: 'sales',
        statistics: { row_count: 1000, last_updated: lastUpdated },
        columns: [
          { name: 'id', type: 'bigint', primary_key: true, statistics: { null_count: 0, distinct_count: 1000, min: 1, max: 1000 } },
          { name: 'status', type: 'varchar(16)', nullable: false, statistics: { null_count: 0, distinct_count: 3, sample_values: ['shipped', 'paid', 'cancelled'] } },
          { name: 'amount', type: 'numeric(10,2)', nullable: true, statistics: { null_count: 12, distinct_count: 700, min: 0.5, max: 950.25 } },
        ],
      },
      {
        name: 'legacy_blobs',
        statistics: { row_count: 10 },
        columns: [
          { name: 'id', type: 'integer', nullable: false },
          { name: 'sketch', type: 'hyperloglog' },
        ],
      },
      {
        name: 'customers',
        statistics: { row_count: 50 },
        columns: [
          { name: 'email', type: 'text', unique: true, statistics: { null_count: 0, distinct_count: 50 } },
          { name: 'signup_date', type: 'date', nullable: true, statistics: { null_count: 5, distinct_count: 40, min: '2024-01-01', max: '2025-12-31' } },
        ],
      },
    ],
  };
}

interface Check {
  check_id: string;
  table: string;
  column?: string;
  kind: string;
  params: Record<string, unknown>;
  reason: string;
}

function check(table: string, column: string | undefined, kind: 'row_count' | 'freshness' | 'not_null' | 'unique' | 'range' | 'accepted_values', params: Record<string, unknown>, reason: string): Check {
  return { check_id: checkId(ORG, table, column, kind), table, ...(column === undefined ? {} : { column }), kind, params, reason };
}

export function ordersChecks(lastUpdated: string): Check[] {
  const t = 'sales.orders';
  return [
    check(t, undefined, 'row_count', { min_rows: 1 }, 'the table had 1000 rows when profiled'),
    check(t, undefined, 'freshness', { max_age_hours: 24 }, `the profile records the last update (${lastUpdated})`),
    check(t, 'id', 'not_null', {}, 'primary key'),
    check(t, 'id', 'unique', {}, 'primary key'),
    check(t, 'id', 'range', { min: 1, max: 1000 }, 'the profile records the smallest and largest values'),
    check(t, 'status', 'not_null', {}, 'declared not nullable'),
    check(t, 'status', 'accepted_values', { values: ['cancelled', 'paid', 'shipped'] }, 'only 3 distinct values in the profiled rows'),
    check(t, 'amount', 'range', { min: 0.5, max: 950.25 }, 'the profile records the smallest and largest values'),
  ];
}

export function customersChecks(): Check[] {
  const t = 'customers';
  return [
    check(t, undefined, 'row_count', { min_rows: 1 }, 'the table had 50 rows when profiled'),
    check(t, 'email', 'not_null', {}, 'no nulls in 50 profiled rows'),
    check(t, 'email', 'unique', {}, 'declared unique'),
    check(t, 'signup_date', 'range', { min: '2024-01-01', not_in_future: true }, 'the profile records the smallest and largest values'),
  ];
}

/** What each check observes on the fixture's statistics (all pass). */
function observed(c: Check): unknown {
  if (c.kind === 'row_count') return c.table === 'customers' ? 50 : 1000;
  if (c.kind === 'freshness') return 'AGE';
  if (c.kind === 'not_null' || c.kind === 'unique') return 0;
  if (c.kind === 'accepted_values') return { unexpected_values: [], distinct_count: 3 };
  if (c.column === 'id') return { min: 1, max: 1000 };
  if (c.column === 'amount') return { min: 0.5, max: 950.25 };
  return { min: '2024-01-01', max: '2025-12-31' };
}

function ref(c: Check): Record<string, unknown> {
  return { check_id: c.check_id, table: c.table, ...(c.column === undefined ? {} : { column: c.column }), kind: c.kind };
}

/**
 * The steps of the fixture's operation as [step, data] pairs. `present`: the checks were
 * created by an earlier identical request. Freshness ages are written 'AGE' (see normalize).
 */
export function expectedSteps(lastUpdated: string, present = false): [string, Record<string, unknown>][] {
  const orders = ordersChecks(lastUpdated);
  const customers = customersChecks();
  const all = [...orders, ...customers];
  const total = all.length;
  const status = present ? 'already_present' : 'created';
  return [
    ['recommend_phase_start', { total_tables: 3 }],
    ['recommend_start', { table: 'sales.orders', table_index: 0 }],
    ['recommend_complete', { table: 'sales.orders', table_index: 0, total_checks: orders.length, checks: orders }],
    ['recommend_start', { table: 'legacy_blobs', table_index: 1 }],
    [
      'recommend_error',
      {
        table: 'legacy_blobs',
        table_index: 1,
        error: 'tables[1].columns[1].type: cannot interpret the column type "hyperloglog" (known types include integer, bigint, numeric, double, text, varchar, uuid, boolean, date, timestamp, timestamptz, json, bytea)',
        field: 'tables[1].columns[1].type',
      },
    ],
    ['recommend_start', { table: 'customers', table_index: 2 }],
    ['recommend_complete', { table: 'customers', table_index: 2, total_checks: customers.length, checks: customers }],
    ['recommend_phase_done', { total_tables: 3, tables_succeeded: 2, tables_failed: 1, total_checks: total }],
    ['create_phase_start', { total_checks: total }],
    ...all.map((c, i): [string, Record<string, unknown>] => ['create_progress', { ...ref(c), status, processed: i + 1, total_checks: total }]),
    ['create_phase_done', { total_checks: total, created: present ? 0 : total, already_present: present ? total : 0, failed: 0 }],
    ['run_start', { total_checks: total }],
    ['run_complete', { total_checks: total, passed: total, failed: 0, skipped: 0, results: all.map((c) => ({ ...ref(c), status: 'passed', observed: observed(c) })) }],
    [
      'done',
      {
        summary: {
          tables: 3,
          tables_succeeded: 2,
          tables_failed: 1,
          checks_recommended: total,
          checks_created: present ? 0 : total,
          checks_already_present: present ? total : 0,
          checks_create_failed: 0,
          checks_passed: total,
          checks_failed: 0,
          checks_skipped: 0,
        },
      },
    ],
  ];
}

/**
 * Replaces the freshness check's age (it depends on the clock) by 'AGE' after checking it
 * is about two hours; returns the data otherwise unchanged.
 */
export function normalize(step: string, data: Record<string, unknown>): Record<string, unknown> {
  if (step !== 'run_complete') return data;
  const results = (data.results as Record<string, unknown>[]).map((r) => {
    if (r.kind !== 'freshness') return r;
    const obs = r.observed as { age_hours: number };
    if (!(obs.age_hours >= 1.9 && obs.age_hours <= 2.5)) throw new Error(`freshness age ${obs.age_hours} is not about 2 hours`);
    return { ...r, observed: 'AGE' };
  });
  return { ...data, results };
}
