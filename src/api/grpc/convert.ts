/**
 * Between wire messages and the store: events in (payload JSON text parsed, every event
 * validated with errors naming `events[i].field`), stored events and results out, filters.
 */
import { SpineError } from '../../errors';
import { validateWireEvent, type EnvelopeOptions, type StoredEvent, type ValidEvent } from '../../event';
import { FILTER_FIELDS, type QueryFilter } from '../../store';
import type { EventInputMsg, EventMsg, FilterMsg } from './messages';

/**
 * Validates the events of an append request, in order; the first problem refuses the whole
 * request. `payload` is JSON text on the wire (see validateWireEvent).
 */
export function validateEvents(events: readonly EventInputMsg[] | undefined, options: EnvelopeOptions): ValidEvent[] {
  const n = events?.length ?? 0;
  if (events === undefined || n === 0) throw new SpineError('EMPTY_BATCH', 'events holds no event; a batch needs at least one', { field: 'events' });
  if (n > options.maxBatchEvents) {
    throw new SpineError('BATCH_TOO_LARGE', `events holds ${n} events, over the limit of ${options.maxBatchEvents} events per batch`, { field: 'events' });
  }
  const out: ValidEvent[] = new Array<ValidEvent>(n);
  for (let i = 0; i < n; i++) out[i] = validateWireEvent(events[i] as EventInputMsg, options, `events[${i}].`);
  return out;
}

/** A stored event as the Event message (payload: its canonical JSON text, verbatim). */
export function toEventMsg(ev: StoredEvent): EventMsg {
  const msg: EventMsg = {
    seq: ev.seq,
    id: ev.id,
    event_type: ev.event_type,
    domain: ev.domain,
    entity_type: ev.entity_type,
    action: ev.action,
    entity_id: ev.entity_id,
    actor_id: ev.actor_id,
    actor_type: ev.actor_type,
    organization_id: ev.organization_id,
    environment: ev.environment,
    timestamp: ev.timestamp,
    severity: ev.severity,
    payload: ev.payloadJson,
    payload_hash: ev.payload_hash,
    previous_hash: ev.previous_hash,
    event_hash: ev.event_hash,
  };
  if (ev.entity_name !== undefined) msg.entity_name = ev.entity_name;
  return msg;
}

/** The Filter message as a store filter (the store checks it and names a bad field). */
export function toQueryFilter(f: FilterMsg | undefined): QueryFilter {
  const out: Record<string, unknown> = {};
  if (f === undefined) return out;
  for (const key of FILTER_FIELDS) {
    const v = f[key];
    if (v !== undefined) out[key] = v;
  }
  return out as QueryFilter;
}
