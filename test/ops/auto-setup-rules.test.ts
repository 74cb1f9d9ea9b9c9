/** The batch auto-setup's parts without a store: request checks, table model, rules, evaluation. */
import t, { type Test } from 'tap';
import { SpineError } from '../../src/errors';
import {
  checkId,
  evaluateCheck,
  interpretTable,
  interpretType,
  parseAutoSetupRequest,
  recommendChecks,
  DEFAULT_AUTO_SETUP_OPTIONS,
  type CheckSpec,
  type TableInput,
  type TableModel,
} from '../../src/ops';
import { customersChecks, ordersChecks, threeTables } from '../helpers/auto-setup';

function refused(t: Test, body: unknown, field: string, message: RegExp, limits?: { maxTables: number; maxColumns: number }): void {
  try {
    parseAutoSetupRequest(body, limits);
    t.fail(`accepted; expected an error on ${field}`);
  } catch (err) {
    t.ok(err instanceof SpineError, 'a SpineError');
    t.match(err, { code: 'INVALID_REQUEST', field }, field);
    t.match((err as Error).message, message, (err as Error).message);
  }
}

const col = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'c', type: 'integer', ...over });
const tbl = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 't', columns: [col()], ...over });

t.test('request: shapes, types, names and limits are checked up front', async (t) => {
  refused(t, [], 'request', /must be an object/);
  refused(t, {}, 'tables', /is required/);
  refused(t, { tables: [] }, 'tables', /at least one table/);
  refused(t, { tables: 'orders' }, 'tables', /must be an array/);
  refused(t, { tables: [tbl()], colour: 1 }, 'colour', /unknown field/);
  refused(t, { tables: [5] }, 'tables[0]', /must be an object, not a number/);
  refused(t, { tables: [tbl({ name: '' })] }, 'tables[0].name', /must not be empty/);
  refused(t, { tables: [tbl({ columns: undefined })] }, 'tables[0].columns', /is required/);
  refused(t, { tables: [tbl({ columns: {} })] }, 'tables[0].columns', /must be an array/);
  refused(t, { tables: [tbl(), tbl({ name: 'u', columns: [col(), { type: 'text' }] })] }, 'tables[1].columns[1].name', /is required/);
  refused(t, { tables: [tbl({ columns: [col({ name: 42 })] })] }, 'tables[0].columns[0].name', /must be a string, not a number/);
  refused(t, { tables: [tbl({ columns: [col({ type: undefined })] })] }, 'tables[0].columns[0].type', /is required/);
  refused(t, { tables: [tbl({ columns: [col({ nullable: 'yes' })] })] }, 'tables[0].columns[0].nullable', /true or false/);
  refused(t, { tables: [tbl({ columns: [col({ nulable: false })] })] }, 'tables[0].columns[0].nulable', /unknown field/);
  refused(t, { tables: [tbl({ columns: [col({ statistics: { null_count: -1 } })] })] }, 'tables[0].columns[0].statistics.null_count', /integer ≥ 0/);
  refused(t, { tables: [tbl({ columns: [col({ statistics: { distinct_count: 1.5 } })] })] }, 'tables[0].columns[0].statistics.distinct_count', /integer ≥ 0/);
  refused(t, { tables: [tbl({ columns: [col({ statistics: { min: [1] } })] })] }, 'tables[0].columns[0].statistics.min', /number or a string/);
  refused(t, { tables: [tbl({ columns: [col({ statistics: { sample_values: [1, 1] } })] })] }, 'tables[0].columns[0].statistics.sample_values[1]', /listed twice/);
  refused(t, { tables: [tbl({ columns: [col({ statistics: { sample_values: [null] } })] })] }, 'tables[0].columns[0].statistics.sample_values[0]', /not null/);
  refused(t, { tables: [tbl({ statistics: { row_count: '12' } })] }, 'tables[0].statistics.row_count', /integer ≥ 0/);
  refused(t, { tables: [tbl({ statistics: { last_updated: 'yesterday' } })] }, 'tables[0].statistics.last_updated', /RFC 3339/);
  refused(t, { tables: [tbl(), tbl()] }, 'tables[1].name', /listed twice \(also tables\[0\]\)/);
  refused(t, { tables: [tbl()], options: { freshness_max_age_hours: 0 } }, 'options.freshness_max_age_hours', /above 0/);
  refused(t, { tables: [tbl()], actor_type: 'robot' }, 'actor_type', /human, system, pipeline/);
  const many = { tables: Array.from({ length: 5000 }, (_, i) => tbl({ name: `t${i}` })) };
  refused(t, many, 'tables', /5000 tables, over the limit of 1000/);
  refused(t, { tables: [tbl({ columns: [col(), col({ name: 'd' }), col({ name: 'e' })] })] }, 'tables[0].columns', /more than 2 columns/, { maxTables: 10, maxColumns: 2 });

  const ok = parseAutoSetupRequest({ tables: [tbl({ schema: 's' })], options: { accepted_values_max_distinct: 5 } });
  t.same(ok.options, { ...DEFAULT_AUTO_SETUP_OPTIONS, accepted_values_max_distinct: 5 });
  t.same(ok.tables[0], { name: 't', schema: 's', columns: [{ name: 'c', type: 'integer' }] });
});

t.test('column types', async (t) => {
  const cases: [string, string | undefined][] = [
    ['BIGINT', 'integer'],
    ['int unsigned', 'integer'],
    ['numeric(10, 2)', 'number'],
    ['double precision', 'number'],
    ['character varying(64)', 'string'],
    ['UUID', 'string'],
    ['boolean', 'boolean'],
    ['date', 'date'],
    ['timestamp(3) with time zone', 'timestamp'],
    ['TIMESTAMP_NTZ(9)', 'timestamp'],
    ['jsonb', 'opaque'],
    ['text[]', 'opaque'],
    ['hyperloglog', undefined],
  ];
  for (const [type, kind] of cases) t.equal(interpretType(type), kind, type);
});

function model(input: Record<string, unknown>, index = 0): TableModel {
  const r = interpretTable(parseAutoSetupRequest({ tables: [input] }).tables[0] as TableInput, index);
  if (!r.ok) throw new Error(r.message);
  return r.table;
}

function problem(input: Record<string, unknown>): string {
  const r = interpretTable(parseAutoSetupRequest({ tables: [input] }).tables[0] as TableInput, 0);
  return r.ok ? 'ok' : r.message;
}

t.test('a table whose description contradicts itself gets an error naming the field', async (t) => {
  t.match(problem(tbl({ columns: [col({ type: 'hyperloglog' })] })), /^tables\[0\]\.columns\[0\]\.type: cannot interpret the column type "hyperloglog"/);
  t.match(problem(tbl({ columns: [col(), col()] })), /^tables\[0\]\.columns\[1\]\.name: column "c" appears twice/);
  t.match(problem(tbl({ columns: [col({ primary_key: true, nullable: true })] })), /columns\[0\]\.nullable: a primary key column cannot be nullable/);
  t.match(problem(tbl({ statistics: { row_count: 100 }, columns: [col({ statistics: { null_count: 120 } })] })), /statistics\.null_count: 120 nulls, but the table has 100 rows/);
  t.match(problem(tbl({ columns: [col({ nullable: false, statistics: { null_count: 3 } })] })), /null_count: 3 nulls in a column declared not nullable/);
  t.match(problem(tbl({ statistics: { row_count: 10 }, columns: [col({ statistics: { null_count: 4, distinct_count: 7 } })] })), /distinct_count: 7 distinct values, but only 6 non-null rows/);
  t.match(problem(tbl({ columns: [col({ statistics: { min: 'abc' } })] })), /statistics\.min: "abc" is not an integer, as the column type integer says/);
  t.match(problem(tbl({ columns: [col({ statistics: { min: 10, max: 5 } })] })), /statistics\.min: 10 is above max 5/);
  t.match(problem(tbl({ columns: [col({ type: 'date', statistics: { max: '2024-13-45x' } })] })), /statistics\.max: .* is not a date/);
  t.match(problem(tbl({ columns: [col({ statistics: { distinct_count: 1, sample_values: [1, 2] } })] })), /2 distinct sample values, but distinct_count is 1/);
  t.match(problem(tbl({ columns: [col({ type: 'text', statistics: { sample_values: ['a', 3] } })] })), /sample_values\[1\]: 3 is not a string/);
  t.equal(problem(tbl({ columns: [col({ type: 'numeric', statistics: { min: '1.50', max: 2 } })] })), 'ok', 'numeric bounds may come as strings');
});

t.test('rules: the fixture gets exactly the expected checks', async (t) => {
  const body = threeTables('2026-01-19T08:30:00.000Z');
  const req = parseAutoSetupRequest(body);
  const orders = interpretTable(req.tables[0] as TableInput, 0);
  const customers = interpretTable(req.tables[2] as TableInput, 2);
  t.ok(orders.ok && customers.ok);
  if (!orders.ok || !customers.ok) return;
  t.same(recommendChecks(orders.table, req.options, 'default'), ordersChecks('2026-01-19T08:30:00.000Z'));
  t.same(recommendChecks(customers.table, req.options, 'default'), customersChecks());
  t.notOk(interpretTable(req.tables[1] as TableInput, 1).ok);
});

t.test('rules: each rule fires when, and only when, it should', async (t) => {
  const kinds = (input: Record<string, unknown>, options = DEFAULT_AUTO_SETUP_OPTIONS): string[] => recommendChecks(model(input), options, 'o').map((c) => `${c.column ?? '*'}:${c.kind}`);
  t.same(kinds(tbl({ statistics: { row_count: 0 }, columns: [col()] })), [], 'an empty table: no row_count check; no stats: nothing else');
  t.same(kinds(tbl({ statistics: { row_count: 5 }, columns: [col({ statistics: { null_count: 0 } })] })), ['*:row_count', 'c:not_null'], '0 observed nulls → not_null');
  t.same(kinds(tbl({ statistics: { row_count: 5 }, columns: [col({ nullable: true, statistics: { null_count: 1 } })] })), ['*:row_count'], 'nulls seen → no not_null');
  t.same(kinds(tbl({ statistics: { row_count: 5 }, columns: [col({ nullable: true, statistics: { null_count: 1, distinct_count: 4 } })] })), ['*:row_count', 'c:unique'], 'distinct = non-null rows → unique');
  t.same(kinds(tbl({ statistics: { row_count: 1 }, columns: [col({ nullable: true, statistics: { null_count: 0, distinct_count: 1 } })] })), ['*:row_count', 'c:not_null'], 'one row proves no uniqueness');
  t.same(kinds(tbl({ columns: [col({ type: 'boolean', unique: true })] })), ['c:unique'], 'a unique flag is a unique check');
  t.same(kinds(tbl({ columns: [col({ type: 'timestamp', statistics: { min: '2024-01-01T00:00:00Z', max: '2024-06-01T00:00:00Z' } })] })), ['c:range']);
  t.same(recommendChecks(model(tbl({ columns: [col({ type: 'timestamptz', statistics: { min: '2024-01-01T00:00:00Z' } })] })), DEFAULT_AUTO_SETUP_OPTIONS, 'o')[0]?.params, { min: '2024-01-01T00:00:00Z', not_in_future: true });
  t.same(kinds(tbl({ columns: [col({ type: 'text', statistics: { min: 'a', max: 'z' } })] })), [], 'no range on text');
  const lowCard = (n: number, rows: number): Record<string, unknown> => tbl({ statistics: { row_count: rows }, columns: [col({ type: 'text', nullable: true, statistics: { null_count: 1, distinct_count: n, sample_values: Array.from({ length: n }, (_, i) => `v${i}`) } })] });
  t.same(kinds(lowCard(3, 100)), ['*:row_count', 'c:accepted_values']);
  t.same(kinds(lowCard(11, 100)), ['*:row_count'], 'more distinct values than accepted_values_max_distinct');
  t.same(kinds(lowCard(11, 100), { ...DEFAULT_AUTO_SETUP_OPTIONS, accepted_values_max_distinct: 20 }), ['*:row_count', 'c:accepted_values'], 'the option raises the bound');
  t.same(kinds(lowCard(3, 4)), ['*:row_count', 'c:unique'], 'every value distinct: unique, not accepted values');
  t.same(kinds(tbl({ statistics: { row_count: 100 }, columns: [col({ type: 'text', nullable: true, statistics: { null_count: 1, distinct_count: 3, sample_values: ['a', 'b'] } })] })), ['*:row_count'], 'a partial sample: no accepted values');
  t.same(kinds(tbl({ columns: [col({ type: 'jsonb', nullable: false })] })), ['c:not_null'], 'opaque columns: nullability only');
});

t.test('check ids are name-based UUIDs: same table, column, kind and organization → same id', async (t) => {
  const a = checkId('o', 't', 'c', 'unique');
  t.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv8');
  t.equal(checkId('o', 't', 'c', 'unique'), a);
  t.not(checkId('o', 't', 'c', 'not_null'), a);
  t.not(checkId('p', 't', 'c', 'unique'), a, 'organizations do not share checks');
});

t.test('evaluate: stored parameters judge the supplied statistics', async (t) => {
  const now = Date.parse('2026-02-01T00:00:00Z');
  const table = model({
    name: 't',
    statistics: { row_count: 100, last_updated: '2026-01-30T00:00:00Z' },
    columns: [
      { name: 'n', type: 'integer', nullable: true, statistics: { null_count: 2, distinct_count: 90, min: -5, max: 50 } },
      { name: 's', type: 'text', statistics: { distinct_count: 3, sample_values: ['a', 'b', 'x'] } },
      { name: 'd', type: 'date', statistics: { min: '2020-01-01', max: '2026-12-31' } },
    ],
  });
  const run = (kind: CheckSpec['kind'], column: string | undefined, params: Record<string, unknown>) => {
    const r = evaluateCheck({ check_id: 'id', table: 't', ...(column === undefined ? {} : { column }), kind, params: params as never }, table, now);
    return { status: r.status, observed: r.observed };
  };
  t.same(run('row_count', undefined, { min_rows: 1 }), { status: 'passed', observed: 100 });
  t.same(run('row_count', undefined, { min_rows: 101 }), { status: 'failed', observed: 100 });
  t.same(run('freshness', undefined, { max_age_hours: 24 }), { status: 'failed', observed: { last_updated: '2026-01-30T00:00:00Z', age_hours: 48 } });
  t.same(run('freshness', undefined, { max_age_hours: 72 }).status, 'passed');
  t.same(run('not_null', 'n', {}), { status: 'failed', observed: 2 });
  t.same(run('unique', 'n', {}), { status: 'failed', observed: 8 }, '98 non-null rows, 90 distinct');
  t.same(run('range', 'n', { min: 0, max: 100 }), { status: 'failed', observed: { min: -5, max: 50 } });
  t.same(run('range', 'n', { min: -10, max: 50 }).status, 'passed');
  t.same(run('range', 'd', { min: '2019-01-01', not_in_future: true }), { status: 'failed', observed: { min: '2020-01-01', max: '2026-12-31' } }, 'a date in the future');
  t.same(run('accepted_values', 's', { values: ['a', 'b', 'c'] }), { status: 'failed', observed: { unexpected_values: ['x'], distinct_count: 3 } });
  t.same(run('accepted_values', 's', { values: ['a', 'b', 'x'] }).status, 'passed');
  t.same(run('not_null', 's', {}), { status: 'skipped', observed: null }, 'no null_count supplied');
  t.same(run('not_null', 'gone', {}).status, 'skipped', 'a column the request does not describe');
});
