/**
 * The batch auto-setup request, checked as a whole before the operation starts: shapes,
 * types, required fields and limits. Anything wrong is refused with INVALID_REQUEST naming
 * the field (`tables[2].columns[0].name`), and nothing starts.
 *
 * What is well-formed but does not make sense (statistics that contradict the schema, a
 * column type that cannot be interpreted) is not refused here: that table alone gets
 * `recommend_error` and the others go on (see table-model.ts).
 *
 *   {
 *     "tables": [{
 *       "name": "orders", "schema": "sales",                       // schema optional
 *       "statistics": { "row_count": 1200, "last_updated": "2026-01-19T08:30:00Z" },
 *       "columns": [{
 *         "name": "status", "type": "varchar(16)", "nullable": false,
 *         "primary_key": false, "unique": false,
 *         "statistics": { "null_count": 0, "distinct_count": 3, "min": "cancelled",
 *                         "max": "shipped", "sample_values": ["cancelled", "paid", "shipped"] }
 *       }]
 *     }],
 *     "options": { "freshness_max_age_hours": 24, "accepted_values_max_distinct": 10 },
 *     "actor_id": "u-17", "actor_type": "human", "organization_id": "acme"   // optional
 *   }
 */
import { SpineError } from '../../errors';
import { ACTOR_TYPES, type ActorType } from '../../event';

export type Scalar = string | number | boolean;

export interface ColumnStatistics {
  null_count?: number;
  distinct_count?: number;
  min?: string | number;
  max?: string | number;
  /** Distinct non-null values seen (all of them, for a low-cardinality column). */
  sample_values?: Scalar[];
}

export interface ColumnInput {
  name: string;
  type: string;
  nullable?: boolean;
  primary_key?: boolean;
  unique?: boolean;
  statistics?: ColumnStatistics;
}

export interface TableStatistics {
  row_count?: number;
  /** RFC 3339: when the table's data last changed. */
  last_updated?: string;
}

export interface TableInput {
  name: string;
  schema?: string;
  columns: ColumnInput[];
  statistics?: TableStatistics;
}

export interface AutoSetupOptions {
  /** The freshness check's allowed age of the last update. */
  freshness_max_age_hours: number;
  /** Columns with at most this many distinct values get an accepted_values check. */
  accepted_values_max_distinct: number;
}

export interface AutoSetupRequest {
  tables: TableInput[];
  options: AutoSetupOptions;
  actor_id?: string;
  actor_type?: ActorType;
  organization_id?: string;
}

export interface AutoSetupLimits {
  /** Tables in one request (operations.autoSetup.maxTables). */
  maxTables: number;
  /** Columns in one request, all tables together (operations.autoSetup.maxColumns). */
  maxColumns: number;
}

export const DEFAULT_AUTO_SETUP_LIMITS: AutoSetupLimits = { maxTables: 1000, maxColumns: 20_000 };
export const DEFAULT_AUTO_SETUP_OPTIONS: AutoSetupOptions = { freshness_max_age_hours: 24, accepted_values_max_distinct: 10 };

export const MAX_NAME_CHARS = 256;
const MAX_TYPE_CHARS = 128;
const MAX_SAMPLE_VALUES = 100;
const MAX_VALUE_CHARS = 256;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

function bad(field: string, message: string): SpineError {
  return new SpineError('INVALID_REQUEST', `${field}: ${message}`, { field });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, `must be an object, not ${describe(v)}`);
  return v as Record<string, unknown>;
}

function onlyKnown(o: Record<string, unknown>, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw bad(field === '' ? key : `${field}.${key}`, `unknown field; the fields are ${allowed.join(', ')}`);
  }
}

function text(v: unknown, field: string, maxChars: number): string {
  if (typeof v !== 'string') throw bad(field, `must be a string, not ${describe(v)}`);
  if (v.trim() === '') throw bad(field, 'must not be empty');
  if ([...v].length > maxChars) throw bad(field, `is longer than ${maxChars} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) throw bad(field, 'holds a control character');
  return v;
}

function requiredText(o: Record<string, unknown>, key: string, field: string, maxChars: number): string {
  if (o[key] === undefined) throw bad(field, 'is required');
  return text(o[key], field, maxChars);
}

function optionalText(o: Record<string, unknown>, key: string, field: string, maxChars: number): string | undefined {
  return o[key] === undefined ? undefined : text(o[key], field, maxChars);
}

function optionalBoolean(o: Record<string, unknown>, key: string, field: string): boolean | undefined {
  const v = o[key];
  if (v !== undefined && typeof v !== 'boolean') throw bad(field, `must be true or false, not ${describe(v)}`);
  return v;
}

function optionalCount(o: Record<string, unknown>, key: string, field: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, `must be an integer ≥ 0, not ${typeof v === 'number' ? v : describe(v)}`);
  return v;
}

function bound(v: unknown, field: string): string | number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(field, 'must be a finite number');
    return v;
  }
  if (typeof v === 'string') {
    if ([...v].length > MAX_VALUE_CHARS) throw bad(field, `is longer than ${MAX_VALUE_CHARS} characters`);
    return v;
  }
  throw bad(field, `must be a number or a string, not ${describe(v)}`);
}

function sampleValues(v: unknown, field: string): Scalar[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw bad(field, `must be an array of distinct values, not ${describe(v)}`);
  if (v.length > MAX_SAMPLE_VALUES) throw bad(field, `has ${v.length} values, more than the ${MAX_SAMPLE_VALUES} allowed`);
  const seen = new Set<string>();
  return v.map((x: unknown, i) => {
    const f = `${field}[${i}]`;
    if (typeof x === 'number' && !Number.isFinite(x)) throw bad(f, 'must be a finite number');
    if (typeof x === 'string' && [...x].length > MAX_VALUE_CHARS) throw bad(f, `is longer than ${MAX_VALUE_CHARS} characters`);
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') throw bad(f, `must be a string, a number or a boolean (the distinct non-null values), not ${describe(x)}`);
    const key = JSON.stringify(x);
    if (seen.has(key)) throw bad(f, `${key} is listed twice; sample_values lists distinct values`);
    seen.add(key);
    return x;
  });
}

function columnStatistics(v: unknown, field: string): ColumnStatistics | undefined {
  if (v === undefined) return undefined;
  const o = object(v, field);
  onlyKnown(o, field, ['null_count', 'distinct_count', 'min', 'max', 'sample_values']);
  const s: ColumnStatistics = {};
  const nullCount = optionalCount(o, 'null_count', `${field}.null_count`);
  if (nullCount !== undefined) s.null_count = nullCount;
  const distinct = optionalCount(o, 'distinct_count', `${field}.distinct_count`);
  if (distinct !== undefined) s.distinct_count = distinct;
  const min = bound(o.min, `${field}.min`);
  if (min !== undefined) s.min = min;
  const max = bound(o.max, `${field}.max`);
  if (max !== undefined) s.max = max;
  const sample = sampleValues(o.sample_values, `${field}.sample_values`);
  if (sample !== undefined) s.sample_values = sample;
  return s;
}

function column(v: unknown, field: string): ColumnInput {
  const o = object(v, field);
  onlyKnown(o, field, ['name', 'type', 'nullable', 'primary_key', 'unique', 'statistics']);
  const c: ColumnInput = { name: requiredText(o, 'name', `${field}.name`, MAX_NAME_CHARS), type: requiredText(o, 'type', `${field}.type`, MAX_TYPE_CHARS) };
  const nullable = optionalBoolean(o, 'nullable', `${field}.nullable`);
  if (nullable !== undefined) c.nullable = nullable;
  const pk = optionalBoolean(o, 'primary_key', `${field}.primary_key`);
  if (pk !== undefined) c.primary_key = pk;
  const unique = optionalBoolean(o, 'unique', `${field}.unique`);
  if (unique !== undefined) c.unique = unique;
  const stats = columnStatistics(o.statistics, `${field}.statistics`);
  if (stats !== undefined) c.statistics = stats;
  return c;
}

function tableStatistics(v: unknown, field: string): TableStatistics | undefined {
  if (v === undefined) return undefined;
  const o = object(v, field);
  onlyKnown(o, field, ['row_count', 'last_updated']);
  const s: TableStatistics = {};
  const rows = optionalCount(o, 'row_count', `${field}.row_count`);
  if (rows !== undefined) s.row_count = rows;
  if (o.last_updated !== undefined) {
    const f = `${field}.last_updated`;
    const t = text(o.last_updated, f, 64);
    if (!RFC3339.test(t) || Number.isNaN(Date.parse(t))) throw bad(f, `"${t}" is not an RFC 3339 timestamp such as 2026-01-19T08:30:00Z`);
    s.last_updated = t;
  }
  return s;
}

function table(v: unknown, field: string, columnBudget: { left: number; max: number }): TableInput {
  const o = object(v, field);
  onlyKnown(o, field, ['name', 'schema', 'columns', 'statistics']);
  const name = requiredText(o, 'name', `${field}.name`, MAX_NAME_CHARS);
  const schema = optionalText(o, 'schema', `${field}.schema`, MAX_NAME_CHARS);
  if (o.columns === undefined) throw bad(`${field}.columns`, 'is required (an array of columns)');
  if (!Array.isArray(o.columns)) throw bad(`${field}.columns`, `must be an array of columns, not ${describe(o.columns)}`);
  columnBudget.left -= o.columns.length;
  if (columnBudget.left < 0) throw bad(`${field}.columns`, `the request has more than ${columnBudget.max} columns in all, over the limit (operations.autoSetup.maxColumns)`);
  const t: TableInput = { name, columns: o.columns.map((c: unknown, j) => column(c, `${field}.columns[${j}]`)) };
  if (schema !== undefined) t.schema = schema;
  const stats = tableStatistics(o.statistics, `${field}.statistics`);
  if (stats !== undefined) t.statistics = stats;
  return t;
}

function options(v: unknown): AutoSetupOptions {
  const out = { ...DEFAULT_AUTO_SETUP_OPTIONS };
  if (v === undefined) return out;
  const o = object(v, 'options');
  onlyKnown(o, 'options', ['freshness_max_age_hours', 'accepted_values_max_distinct']);
  const hours = o.freshness_max_age_hours;
  if (hours !== undefined) {
    if (typeof hours !== 'number' || !Number.isFinite(hours) || hours <= 0 || hours > 87_600) throw bad('options.freshness_max_age_hours', 'must be a number of hours above 0 and at most 87600');
    out.freshness_max_age_hours = hours;
  }
  const distinct = o.accepted_values_max_distinct;
  if (distinct !== undefined) {
    if (typeof distinct !== 'number' || !Number.isSafeInteger(distinct) || distinct < 1 || distinct > MAX_SAMPLE_VALUES) throw bad('options.accepted_values_max_distinct', `must be an integer from 1 to ${MAX_SAMPLE_VALUES}`);
    out.accepted_values_max_distinct = distinct;
  }
  return out;
}

/** The table's name as checks and events name it: `schema.name`, or `name`. */
export function qualifiedName(t: { name: string; schema?: string }): string {
  return t.schema === undefined ? t.name : `${t.schema}.${t.name}`;
}

/** Checks a whole request; INVALID_REQUEST naming the first field that is wrong. */
export function parseAutoSetupRequest(body: unknown, limits: AutoSetupLimits = DEFAULT_AUTO_SETUP_LIMITS): AutoSetupRequest {
  const o = object(body, 'request');
  onlyKnown(o, '', ['tables', 'options', 'actor_id', 'actor_type', 'organization_id']);
  if (o.tables === undefined) throw bad('tables', 'is required: the tables to set up, each with its columns');
  if (!Array.isArray(o.tables)) throw bad('tables', `must be an array of tables, not ${describe(o.tables)}`);
  if (o.tables.length === 0) throw bad('tables', 'must list at least one table');
  if (o.tables.length > limits.maxTables) throw bad('tables', `${o.tables.length} tables, over the limit of ${limits.maxTables} in one request (operations.autoSetup.maxTables)`);
  const budget = { left: limits.maxColumns, max: limits.maxColumns };
  const tables = o.tables.map((t: unknown, i) => table(t, `tables[${i}]`, budget));
  const seen = new Map<string, number>();
  for (const [i, t] of tables.entries()) {
    const name = qualifiedName(t);
    const earlier = seen.get(name);
    if (earlier !== undefined) throw bad(`tables[${i}].name`, `table "${name}" is listed twice (also tables[${earlier}])`);
    seen.set(name, i);
  }
  const request: AutoSetupRequest = { tables, options: options(o.options) };
  const actor = optionalText(o, 'actor_id', 'actor_id', MAX_NAME_CHARS);
  if (actor !== undefined) request.actor_id = actor;
  if (o.actor_type !== undefined) {
    if (typeof o.actor_type !== 'string' || !(ACTOR_TYPES as readonly string[]).includes(o.actor_type)) throw bad('actor_type', `must be one of ${ACTOR_TYPES.join(', ')}`);
    request.actor_type = o.actor_type as ActorType;
  }
  const org = optionalText(o, 'organization_id', 'organization_id', MAX_NAME_CHARS);
  if (org !== undefined) request.organization_id = org;
  return request;
}
