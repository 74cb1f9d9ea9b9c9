/**
 * The recommendation rules: from a table's schema and profile, the data-quality checks
 * worth having. Each rule says why it fired (`reason`). Order: the table's checks
 * (row_count, freshness), then each column's (not_null, unique, range, accepted_values).
 *
 * | kind            | when                                                                  | params                         |
 * |-----------------|-----------------------------------------------------------------------|--------------------------------|
 * | row_count       | the profile saw rows (row_count > 0)                                  | {min_rows: 1}                  |
 * | freshness       | the profile has last_updated                                          | {max_age_hours}                |
 * | not_null        | declared not nullable / primary key, or 0 nulls in the profiled rows  | {}                             |
 * | unique          | primary key or unique flag, or every non-null value distinct (> 1)    | {}                             |
 * | range           | numeric column with min and max; date/timestamp column with min       | {min, max} / {min, not_in_future: true} |
 * | accepted_values | string/integer column, distinct ≤ accepted_values_max_distinct, values repeat, and sample_values lists them all | {values} |
 *
 * A check's id is name-based (table, column, kind and organization), so the same check
 * recommended again is recognised as already present.
 */
import type { JsonObject } from '../../event';
import { nameUuid } from '../name-uuid';
import type { AutoSetupOptions, Scalar } from './request';
import type { ColumnModel, TableModel } from './table-model';

export const CHECK_KINDS = ['row_count', 'freshness', 'not_null', 'unique', 'range', 'accepted_values'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

export interface CheckSpec {
  check_id: string;
  table: string;
  /** Absent for table-level checks (row_count, freshness). */
  column?: string;
  kind: CheckKind;
  params: JsonObject;
  /** Why the rule recommended it. */
  reason: string;
}

const CHECK_NAMESPACE = 'event-spine/quality-check/v1';

/** The id of the check of `kind` on a table (and column) in an organization. */
export function checkId(organizationId: string, table: string, column: string | undefined, kind: CheckKind): string {
  return nameUuid(CHECK_NAMESPACE, [organizationId, table, column ?? '', kind]);
}

/** The checks a table should have, in a fixed order. */
export function recommendChecks(table: TableModel, options: AutoSetupOptions, organizationId: string): CheckSpec[] {
  const out: CheckSpec[] = [];
  const add = (column: string | undefined, kind: CheckKind, params: JsonObject, reason: string): void => {
    const spec: CheckSpec = { check_id: checkId(organizationId, table.name, column, kind), table: table.name, kind, params, reason };
    if (column !== undefined) spec.column = column;
    out.push(spec);
  };
  const rows = table.row_count;
  if (rows !== undefined && rows > 0) add(undefined, 'row_count', { min_rows: 1 }, `the table had ${rows} rows when profiled`);
  if (table.last_updated !== undefined) add(undefined, 'freshness', { max_age_hours: options.freshness_max_age_hours }, `the profile records the last update (${table.last_updated})`);
  for (const c of table.columns) {
    const notNull = notNullReason(c, rows);
    if (notNull !== undefined) add(c.name, 'not_null', {}, notNull);
    const unique = uniqueReason(c, rows);
    if (unique !== undefined) add(c.name, 'unique', {}, unique);
    const range = rangeParams(c);
    if (range !== undefined) add(c.name, 'range', range, 'the profile records the smallest and largest values');
    const values = acceptedValues(c, rows, options.accepted_values_max_distinct);
    if (values !== undefined) add(c.name, 'accepted_values', { values }, `only ${values.length} distinct values in the profiled rows`);
  }
  return out;
}

function notNullReason(c: ColumnModel, rows: number | undefined): string | undefined {
  if (c.primary_key) return 'primary key';
  if (c.nullable === false) return 'declared not nullable';
  if (c.null_count === 0 && rows !== undefined && rows > 0) return `no nulls in ${rows} profiled rows`;
  return undefined;
}

function uniqueReason(c: ColumnModel, rows: number | undefined): string | undefined {
  if (c.primary_key) return 'primary key';
  if (c.unique) return 'declared unique';
  if (c.kind === 'boolean' || c.kind === 'opaque' || rows === undefined || c.distinct_count === undefined) return undefined;
  const nonNull = rows - (c.null_count ?? 0);
  if (nonNull > 1 && c.distinct_count === nonNull) return `all ${nonNull} non-null values are distinct`;
  return undefined;
}

function rangeParams(c: ColumnModel): JsonObject | undefined {
  if ((c.kind === 'integer' || c.kind === 'number') && c.min !== undefined && c.max !== undefined) return { min: c.min.key as number, max: c.max.key as number };
  if ((c.kind === 'date' || c.kind === 'timestamp') && c.min !== undefined) return { min: c.min.value, not_in_future: true };
  return undefined;
}

function acceptedValues(c: ColumnModel, rows: number | undefined, maxDistinct: number): Scalar[] | undefined {
  if (c.kind !== 'string' && c.kind !== 'integer') return undefined;
  if (c.primary_key || c.unique || c.distinct_count === undefined || c.sample_values === undefined || rows === undefined) return undefined;
  const nonNull = rows - (c.null_count ?? 0);
  if (c.distinct_count === 0 || c.distinct_count > maxDistinct || c.sample_values.length !== c.distinct_count || nonNull <= c.distinct_count) return undefined;
  return sortValues(c.sample_values);
}

/** Values in a stable order: numbers ascending, then strings by code unit. */
export function sortValues(values: readonly Scalar[]): Scalar[] {
  return [...values].sort((a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    if (typeof a !== typeof b) return typeof a < typeof b ? -1 : 1;
    const x = String(a);
    const y = String(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
