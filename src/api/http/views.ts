/**
 * The three Maysano views (DESIGN §5.2, seed 000): spine events as the seed's items, with
 * its field names exactly. Fields the envelope carries map one to one; the others are
 * derived from the payload by the rules below (also in the README, "HTTP API"):
 *
 * - field / oldValue / newValue: `payload.field`, `payload.old_value` (or `oldValue`, `old`)
 *   and `payload.new_value` (or `newValue`, `new`); without `payload.field`, a
 *   `payload.changes` array of one `{field, old…, new…}` entry gives them. Several changes:
 *   `field`, `oldValue` and `newValue` are null and the summary names every field.
 * - summary (objectives) / description (products): `payload.summary` or
 *   `payload.description` when the producer wrote one (a non-empty string), else a
 *   sentence built from the entity type, its name (or id), the action and the change:
 *   `Objective "Grow ARR" updated: target changed from 10 to 12`.
 */
import type { JsonObject, JsonValue, StoredEvent } from '../../event';

const s = JSON.stringify;

/** What one event says changed. */
export interface Change {
  field: string | null;
  oldValue: JsonValue | null;
  newValue: JsonValue | null;
  /** Every field named, for the summary (one or more entries of `payload.changes`). */
  fields: string[];
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

function first(o: JsonObject, keys: readonly string[]): JsonValue | null {
  for (const k of keys) if (Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined) return o[k] as JsonValue;
  return null;
}

const OLD_KEYS = ['old_value', 'oldValue', 'old'] as const;
const NEW_KEYS = ['new_value', 'newValue', 'new'] as const;

export function changeOf(payload: JsonObject): Change {
  const field = nonEmptyString(payload.field);
  if (field !== undefined) return { field, oldValue: first(payload, OLD_KEYS), newValue: first(payload, NEW_KEYS), fields: [field] };
  const changes = Array.isArray(payload.changes) ? payload.changes.filter(isObject).filter((c) => nonEmptyString(c.field) !== undefined) : [];
  const only = changes.length === 1 ? changes[0] : undefined;
  if (only !== undefined) {
    const f = only.field as string;
    return { field: f, oldValue: first(only, OLD_KEYS), newValue: first(only, NEW_KEYS), fields: [f] };
  }
  return { field: null, oldValue: null, newValue: null, fields: changes.map((c) => c.field as string) };
}

function shown(v: JsonValue): string {
  const text = s(v);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** `Objective "Grow ARR" updated: target changed from 10 to 12` (see the file comment). */
export function summarize(ev: StoredEvent, change: Change): string {
  const kind = ev.entity_type.replace(/_/g, ' ');
  const label = kind.charAt(0).toUpperCase() + kind.slice(1);
  const name = ev.entity_name !== undefined && ev.entity_name !== '' ? s(ev.entity_name) : ev.entity_id;
  const base = `${label} ${name} ${ev.action.replace(/_/g, ' ')}`;
  const { field, oldValue, newValue, fields } = change;
  if (field !== null) {
    if (oldValue !== null && newValue !== null) return `${base}: ${field} changed from ${shown(oldValue)} to ${shown(newValue)}`;
    if (newValue !== null) return `${base}: ${field} set to ${shown(newValue)}`;
    if (oldValue !== null) return `${base}: ${field} changed from ${shown(oldValue)}`;
    return `${base}: ${field} changed`;
  }
  if (fields.length > 0) return `${base}: ${fields.join(', ')} changed`;
  return base;
}

function payloadOf(ev: StoredEvent): JsonObject {
  return JSON.parse(ev.payloadJson) as JsonObject;
}

const nameOrNull = (ev: StoredEvent): string => (ev.entity_name === undefined ? 'null' : s(ev.entity_name));

/** `{id, entityType, entityId, entityName, eventType, metadata, createdAt}` (metadata: the payload, verbatim). */
export function structuralEventJson(ev: StoredEvent): string {
  return (
    `{"id":${s(ev.id)},"entityType":${s(ev.entity_type)},"entityId":${s(ev.entity_id)},"entityName":${nameOrNull(ev)},` +
    `"eventType":${s(ev.action)},"metadata":${ev.payloadJson},"createdAt":${s(ev.timestamp)}}`
  );
}

/** `{id, productId, productName, activityType, description, details, performedBy, createdAt}`. */
export function productActivityJson(ev: StoredEvent): string {
  const payload = payloadOf(ev);
  const description = nonEmptyString(payload.description) ?? nonEmptyString(payload.summary) ?? summarize(ev, changeOf(payload));
  return (
    `{"id":${s(ev.id)},"productId":${s(ev.entity_id)},"productName":${nameOrNull(ev)},"activityType":${s(ev.action)},` +
    `"description":${s(description)},"details":${ev.payloadJson},"performedBy":${s(ev.actor_id)},"createdAt":${s(ev.timestamp)}}`
  );
}

/** `{id, objectiveId, action, field, oldValue, newValue, summary, performedBy, createdAt}`. */
export function objectiveHistoryJson(ev: StoredEvent): string {
  const payload = payloadOf(ev);
  const change = changeOf(payload);
  const summary = nonEmptyString(payload.summary) ?? nonEmptyString(payload.description) ?? summarize(ev, change);
  return (
    `{"id":${s(ev.id)},"objectiveId":${s(ev.entity_id)},"action":${s(ev.action)},"field":${s(change.field)},` +
    `"oldValue":${s(change.oldValue)},"newValue":${s(change.newValue)},"summary":${s(summary)},` +
    `"performedBy":${s(ev.actor_id)},"createdAt":${s(ev.timestamp)}}`
  );
}
