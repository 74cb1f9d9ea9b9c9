/**
 * Query-string parameters: each route names the ones it takes, and an unknown or repeated
 * parameter is refused (a typo such as `entityType` on /api/events must not silently
 * widen a query). Values are checked here for shape; the store checks their meaning.
 */
import { SpineError } from '../../errors';
import { FILTER_FIELDS, type QueryFilter } from '../../store';

/** The store's Query filters, by their wire names. */
export const FILTER_PARAMS = FILTER_FIELDS;

export const PAGE_PARAMS = ['order', 'limit', 'cursor'] as const;

const SEQ_PARAMS = new Set<string>(['from_seq', 'to_seq']);

function bad(name: string, message: string): SpineError {
  return new SpineError('INVALID_QUERY', `${name}: ${message}`, { field: name });
}

export class QueryParams {
  private readonly values = new Map<string, string>();

  constructor(url: URL, allowed: readonly string[]) {
    for (const [name, value] of url.searchParams) {
      if (!allowed.includes(name)) {
        throw bad(name, `unknown query parameter; ${url.pathname} takes ${allowed.length === 0 ? 'none' : allowed.join(', ')}`);
      }
      if (this.values.has(name)) throw bad(name, 'given more than once');
      this.values.set(name, value);
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** A non-empty text value, or undefined when absent. */
  text(name: string): string | undefined {
    const v = this.values.get(name);
    if (v === undefined) return undefined;
    if (v === '') throw bad(name, 'must not be empty (leave the parameter out instead)');
    return v;
  }

  /** A decimal integer ≥ `min`, or undefined when absent. */
  integer(name: string, min: number): number | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const n = /^\d{1,15}$/.test(v) ? Number(v) : NaN;
    if (!(n >= min)) throw bad(name, `must be a decimal integer ≥ ${min}, not ${JSON.stringify(v)}`);
    return n;
  }

  oneOf<const T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw bad(name, `must be one of ${allowed.join(', ')}, not ${JSON.stringify(v)}`);
    return v as T;
  }

  /** The store filter from the filter parameters present (FILTER_PARAMS names). */
  filter(names: readonly string[] = FILTER_PARAMS): QueryFilter {
    const out: Record<string, string | number> = {};
    for (const name of names) {
      const v = SEQ_PARAMS.has(name) ? this.integer(name, 1) : this.text(name);
      if (v !== undefined) out[name] = v;
    }
    return out as QueryFilter;
  }

  /** order (asc by default), limit and cursor. */
  page(defaultOrder: 'asc' | 'desc' = 'asc'): { order: 'asc' | 'desc'; limit?: number; cursor?: string } {
    const limit = this.integer('limit', 1);
    const cursor = this.values.get('cursor');
    if (cursor === '') throw new SpineError('INVALID_CURSOR', 'cursor: must not be empty (leave it out for the first page)', { field: 'cursor' });
    return {
      order: this.oneOf('order', ['asc', 'desc'] as const) ?? defaultOrder,
      ...(limit === undefined ? {} : { limit }),
      ...(cursor === undefined ? {} : { cursor }),
    };
  }
}
