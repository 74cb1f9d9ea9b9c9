/**
 * Running a check against the statistics a request supplied. A check runs with its stored
 * parameters (those of the request that created it), so a later profile is judged by the
 * expectations set earlier. A check whose statistic is not in this request is `skipped`.
 *
 * | kind            | observed                                   | passes when                                    |
 * |-----------------|--------------------------------------------|------------------------------------------------|
 * | row_count       | row_count                                  | observed ≥ min_rows                            |
 * | freshness       | {last_updated, age_hours}                  | age_hours ≤ max_age_hours                      |
 * | not_null        | null_count                                 | observed = 0                                   |
 * | unique          | duplicate rows = non-null rows − distinct  | observed = 0                                   |
 * | range           | {min, max}                                 | within [min, max] (dates: ≥ min, not in future)|
 * | accepted_values | {distinct_count, unexpected_values}        | no unexpected value, distinct ≤ accepted count |
 */
import type { JsonObject, JsonValue } from '../../event';
import type { CheckKind } from './rules';
import { comparable, type ColumnModel, type TableModel } from './table-model';

/** What a check is, as stored in its quality.check.created event. */
export interface CheckDefinition {
  check_id: string;
  table: string;
  column?: string;
  kind: CheckKind;
  params: JsonObject;
}

export type CheckStatus = 'passed' | 'failed' | 'skipped';

export interface CheckResult {
  check_id: string;
  table: string;
  column?: string;
  kind: CheckKind;
  status: CheckStatus;
  /** The observed value; null when skipped. */
  observed: JsonValue;
  /** Why it was skipped. */
  reason?: string;
}

/** Clock skew allowed before a timestamp counts as in the future. */
const FUTURE_SKEW_MS = 5 * 60_000;

export function evaluateCheck(def: CheckDefinition, table: TableModel, nowMs: number): CheckResult {
  const base: CheckResult = { check_id: def.check_id, table: def.table, kind: def.kind, status: 'skipped', observed: null };
  if (def.column !== undefined) base.column = def.column;
  const outcome = evaluate(def, table, nowMs);
  if (typeof outcome === 'string') return { ...base, reason: outcome };
  return { ...base, status: outcome.passed ? 'passed' : 'failed', observed: outcome.observed };
}

type Outcome = { passed: boolean; observed: JsonValue } | string;

function evaluate(def: CheckDefinition, table: TableModel, nowMs: number): Outcome {
  const p = def.params;
  if (def.kind === 'row_count') {
    if (table.row_count === undefined) return 'the request has no row_count for this table';
    return { passed: table.row_count >= num(p.min_rows, 1), observed: table.row_count };
  }
  if (def.kind === 'freshness') {
    if (table.last_updated === undefined) return 'the request has no last_updated for this table';
    const ageHours = Math.max(0, Math.round(((nowMs - Date.parse(table.last_updated)) / 3_600_000) * 100) / 100);
    return { passed: ageHours <= num(p.max_age_hours, 24), observed: { last_updated: table.last_updated, age_hours: ageHours } };
  }
  const col = table.columns.find((c) => c.name === def.column);
  if (col === undefined) return `the request does not describe column ${def.column ?? '?'}`;
  switch (def.kind) {
    case 'not_null':
      if (col.null_count === undefined) return 'the request has no null_count for this column';
      return { passed: col.null_count === 0, observed: col.null_count };
    case 'unique': {
      if (col.distinct_count === undefined || table.row_count === undefined) return 'the request has no distinct_count (and row_count) for this column';
      const duplicates = table.row_count - (col.null_count ?? 0) - col.distinct_count;
      return { passed: duplicates === 0, observed: duplicates };
    }
    case 'range':
      return range(p, col, nowMs);
    case 'accepted_values':
      return acceptedValues(p, col);
  }
}

function num(v: JsonValue | undefined, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}

function range(p: JsonObject, col: ColumnModel, nowMs: number): Outcome {
  if (col.min === undefined && col.max === undefined) return 'the request has no min or max for this column';
  const observed: JsonObject = {};
  if (col.min !== undefined) observed.min = col.min.value;
  if (col.max !== undefined) observed.max = col.max.value;
  let passed = true;
  const lower = typeof p.min === 'number' || typeof p.min === 'string' ? comparable(col.kind, p.min) : undefined;
  const upper = typeof p.max === 'number' || typeof p.max === 'string' ? comparable(col.kind, p.max) : undefined;
  if (lower !== undefined && col.min !== undefined && col.min.key < lower.key) passed = false;
  if (upper !== undefined && col.max !== undefined && col.max.key > upper.key) passed = false;
  if (p.not_in_future === true && col.max !== undefined && typeof col.max.key === 'number' && col.max.key > nowMs + FUTURE_SKEW_MS) passed = false;
  return { passed, observed };
}

function acceptedValues(p: JsonObject, col: ColumnModel): Outcome {
  const accepted = Array.isArray(p.values) ? p.values : [];
  if (col.sample_values === undefined && col.distinct_count === undefined) return 'the request has no sample_values or distinct_count for this column';
  const allowed = new Set(accepted.map((v) => JSON.stringify(v)));
  const unexpected = (col.sample_values ?? []).filter((v) => !allowed.has(JSON.stringify(v)));
  const observed: JsonObject = { unexpected_values: unexpected };
  if (col.distinct_count !== undefined) observed.distinct_count = col.distinct_count;
  const tooMany = col.distinct_count !== undefined && col.distinct_count > accepted.length;
  return { passed: unexpected.length === 0 && !tooMany, observed };
}
