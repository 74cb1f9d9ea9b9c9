/**
 * Stored events as JSON text. The payload is spliced in as the stored canonical text
 * (RFC 8785), never parsed and re-serialized: what a client reads is byte for byte what
 * payload_hash digests, and JavaScript's own key order (integer-like keys first) cannot
 * creep in.
 */
import type { StoredEvent } from '../../event';

const s = JSON.stringify;

/** Every field of DESIGN §1 in its order (entity_name only when it has a value). */
export function eventJson(ev: StoredEvent): string {
  return (
    `{"seq":${ev.seq},"id":${s(ev.id)},"event_type":${s(ev.event_type)},"domain":${s(ev.domain)},` +
    `"entity_type":${s(ev.entity_type)},"action":${s(ev.action)},"entity_id":${s(ev.entity_id)},` +
    (ev.entity_name === undefined ? '' : `"entity_name":${s(ev.entity_name)},`) +
    `"actor_id":${s(ev.actor_id)},"actor_type":${s(ev.actor_type)},"organization_id":${s(ev.organization_id)},` +
    `"environment":${s(ev.environment)},"timestamp":${s(ev.timestamp)},"severity":${s(ev.severity)},` +
    `"payload":${ev.payloadJson},"payload_hash":${s(ev.payload_hash)},"previous_hash":${s(ev.previous_hash)},` +
    `"event_hash":${s(ev.event_hash)}}`
  );
}

/** `{"items":[…],"nextCursor":…|null}` from items already in JSON text. */
export function pageJson(items: readonly string[], nextCursor: string | undefined): string {
  return `{"items":[${items.join(',')}],"nextCursor":${nextCursor === undefined ? 'null' : s(nextCursor)}}`;
}
