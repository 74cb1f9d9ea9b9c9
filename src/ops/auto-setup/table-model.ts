/**
 * One table as the rules see it: column types interpreted, bounds parsed as the column's
 * values, and the statistics checked against the schema and against each other. A table
 * whose description contradicts itself (more nulls than rows, nulls in a NOT NULL column,
 * min above max, a type the rules do not know) is not guessed at: it gets
 * `recommend_error`, naming the field, and the other tables go on.
 */
import type { Scalar, TableInput } from './request';
import { qualifiedName } from './request';
import { KNOWN_TYPES_HINT, interpretType, type ValueKind } from './column-types';

/** A bound or value as given, with the key it is compared by. */
export interface Comparable {
  value: string | number;
  key: number | string;
}

export interface ColumnModel {
  name: string;
  kind: ValueKind;
  /** As declared; undefined when the description does not say. */
  nullable: boolean | undefined;
  primary_key: boolean;
  unique: boolean;
  null_count?: number;
  distinct_count?: number;
  min?: Comparable;
  max?: Comparable;
  sample_values?: Scalar[];
}

export interface TableModel {
  /** `schema.name` or `name`. */
  name: string;
  index: number;
  row_count?: number;
  last_updated?: string;
  columns: ColumnModel[];
}

export type TableInterpretation = { ok: true; table: TableModel } | { ok: false; field: string; message: string };

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

class Problem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A value as the column's kind compares it; undefined when it is not one. */
export function comparable(kind: ValueKind, v: Scalar): Comparable | undefined {
  switch (kind) {
    case 'integer':
    case 'number': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) return undefined;
      return { value: v as string | number, key: n };
    }
    case 'date':
    case 'timestamp': {
      if (typeof v !== 'string' || !(DATE.test(v) || RFC3339.test(v))) return undefined;
      const ms = Date.parse(DATE.test(v) ? `${v}T00:00:00Z` : v);
      return Number.isNaN(ms) ? undefined : { value: v, key: ms };
    }
    case 'string':
      return typeof v === 'string' ? { value: v, key: v } : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? { value: String(v), key: String(v) } : undefined;
    case 'opaque':
      return undefined;
  }
}

function describeKind(kind: ValueKind): string {
  return { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', date: 'a date (YYYY-MM-DD)', timestamp: 'a timestamp (RFC 3339)', opaque: 'a value' }[kind];
}

/** Interprets one table of a request already checked by parseAutoSetupRequest. */
export function interpretTable(input: TableInput, index: number): TableInterpretation {
  try {
    return { ok: true, table: model(input, index) };
  } catch (err) {
    if (err instanceof Problem) return { ok: false, field: err.field, message: `${err.field}: ${err.message}` };
    throw err;
  }
}

function model(input: TableInput, index: number): TableModel {
  const at = `tables[${index}]`;
  const rows = input.statistics?.row_count;
  const table: TableModel = { name: qualifiedName(input), index, columns: [] };
  if (rows !== undefined) table.row_count = rows;
  if (input.statistics?.last_updated !== undefined) table.last_updated = input.statistics.last_updated;
  const seen = new Map<string, number>();
  for (const [j, c] of input.columns.entries()) {
    const f = `${at}.columns[${j}]`;
    const earlier = seen.get(c.name);
    if (earlier !== undefined) throw new Problem(`${f}.name`, `column "${c.name}" appears twice in table ${table.name} (also columns[${earlier}])`);
    seen.set(c.name, j);
    const kind = interpretType(c.type);
    if (kind === undefined) throw new Problem(`${f}.type`, `cannot interpret the column type "${c.type}" (known types include ${KNOWN_TYPES_HINT})`);
    const pk = c.primary_key === true;
    if (pk && c.nullable === true) throw new Problem(`${f}.nullable`, 'a primary key column cannot be nullable');
    const col: ColumnModel = { name: c.name, kind, nullable: pk ? false : c.nullable, primary_key: pk, unique: c.unique === true };
    const s = c.statistics ?? {};
    const sf = `${f}.statistics`;
    if (s.null_count !== undefined) {
      if (rows !== undefined && s.null_count > rows) throw new Problem(`${sf}.null_count`, `${s.null_count} nulls, but the table has ${rows} rows`);
      if (col.nullable === false && s.null_count > 0) throw new Problem(`${sf}.null_count`, `${s.null_count} nulls in a column declared ${pk ? 'a primary key' : 'not nullable'}`);
      col.null_count = s.null_count;
    }
    if (s.distinct_count !== undefined) {
      const nonNull = rows === undefined ? undefined : rows - (s.null_count ?? 0);
      if (nonNull !== undefined && s.distinct_count > nonNull) throw new Problem(`${sf}.distinct_count`, `${s.distinct_count} distinct values, but only ${nonNull} non-null rows`);
      col.distinct_count = s.distinct_count;
    }
    if (kind !== 'opaque' && kind !== 'boolean') {
      for (const which of ['min', 'max'] as const) {
        const v = s[which];
        if (v === undefined) continue;
        const cmp = comparable(kind, v);
        if (cmp === undefined) throw new Problem(`${sf}.${which}`, `${JSON.stringify(v)} is not ${describeKind(kind)}, as the column type ${c.type} says`);
        col[which] = cmp;
      }
      if (col.min !== undefined && col.max !== undefined && col.min.key > col.max.key) throw new Problem(`${sf}.min`, `${JSON.stringify(col.min.value)} is above max ${JSON.stringify(col.max.value)}`);
    }
    if (s.sample_values !== undefined) {
      if (s.distinct_count !== undefined && s.sample_values.length > s.distinct_count) {
        throw new Problem(`${sf}.sample_values`, `${s.sample_values.length} distinct sample values, but distinct_count is ${s.distinct_count}`);
      }
      if (kind !== 'opaque') {
        for (const [k, v] of s.sample_values.entries()) {
          if (comparable(kind, v) === undefined) throw new Problem(`${sf}.sample_values[${k}]`, `${JSON.stringify(v)} is not ${describeKind(kind)}, as the column type ${c.type} says`);
        }
      }
      col.sample_values = s.sample_values;
    }
    table.columns.push(col);
  }
  return table;
}
