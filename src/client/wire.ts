/**
 * Between the client's types and the proto messages: payload objects become JSON text on
 * the way out and are parsed on the way back; proto3 defaults are filled in explicitly.
 */
import { status as Status } from '@grpc/grpc-js';
import { canonicalize, uuidv7 } from '../event';
import { EventSpineError } from './errors';
import type { AggregateResult, AppendResult, EmitEvent, EventDefaults, Filter, Head, JsonObject, SpineEvent, VerifyResult } from './types';

/** EventInput as the proto has it (payload as JSON text). */
export interface WireEventInput {
  id: string;
  event_type: string;
  domain?: string;
  entity_type?: string;
  action?: string;
  entity_id: string;
  entity_name?: string;
  actor_id?: string;
  actor_type?: string;
  organization_id?: string;
  environment?: string;
  severity?: string;
  payload?: string;
}

/** An event as decoded from the wire: absent fields stay absent (proto-loader `defaults: false`). */
export interface WireEvent {
  seq?: number;
  id?: string;
  event_type?: string;
  domain?: string;
  entity_type?: string;
  action?: string;
  entity_id?: string;
  entity_name?: string;
  actor_id?: string;
  actor_type?: string;
  organization_id?: string;
  environment?: string;
  timestamp?: string;
  severity?: string;
  payload?: string;
  payload_hash?: string;
  previous_hash?: string;
  event_hash?: string;
}

const OPTIONAL_TEXT = ['domain', 'entity_type', 'action', 'entity_name', 'actor_id', 'actor_type', 'organization_id', 'environment', 'severity'] as const;

/**
 * The wire form of one event, with the client's defaults applied and an id assigned when
 * the caller gave none: the id is fixed here, once, so every retry sends the same event.
 */
export function encodeEvent(ev: EmitEvent, defaults: EventDefaults): WireEventInput {
  if (ev === null || typeof ev !== 'object') throw new TypeError('emit: an event must be an object');
  const out: WireEventInput = { id: ev.id ?? uuidv7(), event_type: ev.event_type, entity_id: ev.entity_id };
  for (const key of OPTIONAL_TEXT) {
    const v = ev[key] ?? (key in defaults ? defaults[key as keyof EventDefaults] : undefined);
    if (v !== undefined) out[key] = v;
  }
  if (ev.payload !== undefined) {
    let text: string | undefined;
    try {
      text = payloadText(ev.payload);
    } catch (err) {
      throw new EventSpineError('INVALID_PAYLOAD', `payload cannot be written as JSON: ${err instanceof Error ? err.message : String(err)}`, {
        grpcStatus: Status.INVALID_ARGUMENT,
        field: 'payload',
        eventId: out.id,
        cause: err,
      });
    }
    // JSON.stringify(undefined-like values) gives undefined: let the server name the field.
    out.payload = text ?? 'null';
  }
  return out;
}

/**
 * The payload as JSON text: RFC 8785 canonical where it can be, which the server takes as
 * it is without parsing (its fast path); otherwise JSON.stringify's text (a Date, a class
 * with toJSON), which the server parses, canonicalises or refuses, naming the field.
 */
function payloadText(payload: unknown): string | undefined {
  try {
    return canonicalize(payload as Parameters<typeof canonicalize>[0]);
  } catch {
    return JSON.stringify(payload);
  }
}

/** A rough size of the event on the wire, to keep requests under the message limit. */
export function wireSize(ev: WireEventInput): number {
  let n = 64 + ev.id.length + ev.event_type.length + ev.entity_id.length + (ev.payload?.length ?? 0);
  for (const key of OPTIONAL_TEXT) n += (ev[key]?.length ?? 0) + 2;
  return n;
}

export function decodeEvent(w: WireEvent): SpineEvent {
  const payloadJson = w.payload ?? '{}';
  const ev: SpineEvent = {
    seq: Number(w.seq ?? 0),
    id: w.id ?? '',
    event_type: w.event_type ?? '',
    domain: w.domain ?? '',
    entity_type: w.entity_type ?? '',
    action: w.action ?? '',
    entity_id: w.entity_id ?? '',
    actor_id: w.actor_id ?? '',
    actor_type: (w.actor_type ?? '') as SpineEvent['actor_type'],
    organization_id: w.organization_id ?? '',
    environment: (w.environment ?? '') as SpineEvent['environment'],
    timestamp: w.timestamp ?? '',
    severity: (w.severity ?? '') as SpineEvent['severity'],
    payload: JSON.parse(payloadJson) as JsonObject,
    payloadJson,
    payload_hash: w.payload_hash ?? '',
    previous_hash: w.previous_hash ?? '',
    event_hash: w.event_hash ?? '',
  };
  if (w.entity_name !== undefined) ev.entity_name = w.entity_name;
  return ev;
}

export interface WireAppendResult {
  seq?: number;
  id?: string;
  timestamp?: string;
  event_hash?: string;
  deduplicated?: boolean;
}

export function decodeAppendResult(w: WireAppendResult): AppendResult {
  return { seq: Number(w.seq ?? 0), id: w.id ?? '', timestamp: w.timestamp ?? '', event_hash: w.event_hash ?? '', deduplicated: w.deduplicated ?? false };
}

/** The proto Filter: only the fields given (undefined ones left out). */
export function encodeFilter(filter: Filter | undefined): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  if (filter === undefined) return out;
  for (const [k, v] of Object.entries(filter)) if (v !== undefined) out[k] = v as string | number;
  return out;
}

export function decodeHead(w: { seq?: number; event_hash?: string; timestamp?: string }): Head {
  const head: Head = { seq: Number(w.seq ?? 0), event_hash: w.event_hash ?? '' };
  if (w.timestamp !== undefined) head.timestamp = w.timestamp;
  return head;
}

export function decodeVerify(w: { ok?: boolean; from_seq?: number; to_seq?: number; checked?: number; first_bad_seq?: number; reason?: string }): VerifyResult {
  const out: VerifyResult = { ok: w.ok ?? false, from_seq: Number(w.from_seq ?? 0), to_seq: Number(w.to_seq ?? 0), checked: Number(w.checked ?? 0) };
  if (w.first_bad_seq !== undefined) out.first_bad_seq = Number(w.first_bad_seq);
  if (w.reason !== undefined) out.reason = w.reason;
  return out;
}

export function decodeAggregate(w: { group_by?: string; total?: number; groups?: { key?: string; count?: number }[] }): AggregateResult {
  return {
    group_by: w.group_by ?? '',
    total: Number(w.total ?? 0),
    groups: (w.groups ?? []).map((g) => ({ key: g.key ?? '', count: Number(g.count ?? 0) })),
  };
}
