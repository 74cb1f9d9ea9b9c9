/**
 * Query filters: their validation, the predicate they define, and the posting list that
 * drives each query (the most selective filter the index answers directly).
 */
import { SpineError } from '../errors';
import { ENVIRONMENTS, SEVERITIES, type Environment, type Severity, type StoredEvent } from '../event/types';
import { Tag, entityValue } from '../index';

/** Every filter is optional; all given filters must hold (AND). */
export interface QueryFilter {
  entity_type?: string;
  /** Needs entity_type: entities are identified by both. */
  entity_id?: string;
  /** Exact (`hcm.employee.created`) or a prefix ending in a dot (`hcm.` or `hcm.employee.`). */
  event_type?: string;
  domain?: string;
  organization_id?: string;
  actor_id?: string;
  severity?: Severity;
  environment?: Environment;
  /** Events stamped at or after this instant (RFC 3339). */
  since?: string;
  /** Events stamped before this instant (RFC 3339). */
  until?: string;
  /** Inclusive seq bounds. */
  from_seq?: number;
  to_seq?: number;
  /** When set, only these organizations are visible (tenant isolation; set by the API layer). */
  organizations?: readonly string[];
}

/** The filters a caller may set, by their wire names (gRPC Filter fields, REST parameters). */
export const FILTER_FIELDS = [
  'entity_type',
  'entity_id',
  'event_type',
  'domain',
  'organization_id',
  'actor_id',
  'severity',
  'environment',
  'since',
  'until',
  'from_seq',
  'to_seq',
] as const satisfies readonly (keyof QueryFilter)[];

export interface NormalizedFilter extends QueryFilter {
  sinceMs?: number;
  untilMs?: number;
}

const PART = /^[a-z][a-z0-9_]{0,62}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

function bad(field: string, message: string): SpineError {
  return new SpineError('INVALID_QUERY', `${field}: ${message}`, { field });
}

function parseInstant(field: string, text: string): number {
  const ms = RFC3339.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw bad(field, `"${text}" is not an RFC 3339 timestamp such as 2026-01-19T08:30:00.000Z`);
  return ms;
}

function checkSeq(field: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)) throw bad(field, 'must be an integer ≥ 1');
}

/** Checks a filter once, before any work: a bad filter names its field. */
export function normalizeFilter(filter: QueryFilter): NormalizedFilter {
  const f: NormalizedFilter = { ...filter };
  if (f.entity_id !== undefined && f.entity_type === undefined) throw bad('entity_id', 'needs entity_type as well');
  if (f.entity_type !== undefined && !PART.test(f.entity_type)) throw bad('entity_type', 'must match ^[a-z][a-z0-9_]{0,62}$');
  if (f.domain !== undefined && !PART.test(f.domain)) throw bad('domain', 'must match ^[a-z][a-z0-9_]{0,62}$');
  if (f.event_type !== undefined) {
    const parts = f.event_type.split('.');
    const isPrefix = f.event_type.endsWith('.');
    const named = isPrefix ? parts.slice(0, -1) : parts;
    const ok = named.every((p) => PART.test(p)) && (isPrefix ? named.length === 1 || named.length === 2 : named.length === 3);
    if (!ok) throw bad('event_type', 'must be <domain>.<entity>.<action>, or a prefix <domain>. or <domain>.<entity>.');
  }
  if (f.severity !== undefined && !SEVERITIES.includes(f.severity)) throw bad('severity', `must be one of ${SEVERITIES.join(', ')}`);
  if (f.environment !== undefined && !ENVIRONMENTS.includes(f.environment)) throw bad('environment', `must be one of ${ENVIRONMENTS.join(', ')}`);
  checkSeq('from_seq', f.from_seq);
  checkSeq('to_seq', f.to_seq);
  if (f.since !== undefined) f.sinceMs = parseInstant('since', f.since);
  if (f.until !== undefined) f.untilMs = parseInstant('until', f.until);
  return f;
}

/** Whether an event passes every filter (the driving posting list included: it is cheap). */
export function matches(f: NormalizedFilter, ev: StoredEvent): boolean {
  if (f.entity_type !== undefined && ev.entity_type !== f.entity_type) return false;
  if (f.entity_id !== undefined && ev.entity_id !== f.entity_id) return false;
  if (f.event_type !== undefined) {
    if (f.event_type.endsWith('.') ? !ev.event_type.startsWith(f.event_type) : ev.event_type !== f.event_type) return false;
  }
  if (f.domain !== undefined && ev.domain !== f.domain) return false;
  if (f.organization_id !== undefined && ev.organization_id !== f.organization_id) return false;
  if (f.organizations !== undefined && !f.organizations.includes(ev.organization_id)) return false;
  if (f.actor_id !== undefined && ev.actor_id !== f.actor_id) return false;
  if (f.severity !== undefined && ev.severity !== f.severity) return false;
  if (f.environment !== undefined && ev.environment !== f.environment) return false;
  if (f.sinceMs !== undefined || f.untilMs !== undefined) {
    const ms = Date.parse(ev.timestamp);
    if (f.sinceMs !== undefined && ms < f.sinceMs) return false;
    if (f.untilMs !== undefined && ms >= f.untilMs) return false;
  }
  return true;
}

/**
 * The posting list that drives a query, most selective first; undefined means a plain
 * scan of the log by seq.
 */
export function drivingPosting(f: NormalizedFilter): string | undefined {
  if (f.entity_type !== undefined && f.entity_id !== undefined) return Tag.entity + entityValue(f.entity_type, f.entity_id);
  if (f.actor_id !== undefined) return Tag.actor + f.actor_id;
  if (f.event_type !== undefined) {
    if (!f.event_type.endsWith('.')) return Tag.eventType + f.event_type;
    const parts = f.event_type.split('.');
    if (parts.length === 3) return Tag.typePrefix + f.event_type.slice(0, -1);
  }
  if (f.entity_type !== undefined) return Tag.entityType + f.entity_type;
  if (f.event_type !== undefined) return Tag.domain + f.event_type.slice(0, -1);
  if (f.domain !== undefined) return Tag.domain + f.domain;
  if (f.organization_id !== undefined) return Tag.organization + f.organization_id;
  if (f.organizations !== undefined && f.organizations.length === 1) return Tag.organization + (f.organizations[0] as string);
  if (f.severity !== undefined) return Tag.severity + f.severity;
  if (f.environment !== undefined) return Tag.environment + f.environment;
  return undefined;
}

/** A stable digest of what a filter selects, bound into cursors. */
export function filterFingerprint(f: QueryFilter): string {
  const keys = Object.keys(f).filter((k) => (f as Record<string, unknown>)[k] !== undefined && !k.endsWith('Ms')).sort();
  return keys.map((k) => `${k}=${JSON.stringify((f as Record<string, unknown>)[k])}`).join('&');
}
