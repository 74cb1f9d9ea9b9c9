/**
 * The one corpus every system gets: bench/corpus.ts's ~400-byte spine events. W1/W2/W4
 * use them as they are; the W3 stores give every entity exactly 100 events scattered
 * through the log (entity `ent-<i mod entities>`, one entity type), so an entity-history
 * query returns 100 events at every store size.
 */
import { corpusEvent } from '../corpus';

export type BenchEvent = Record<string, unknown> & { event_type: string; entity_id: string; payload: Record<string, unknown> };

export const HISTORY_EVENTS = 100;
export const W3_EVENT_TYPE = 'hcm.employee.updated';
export const W3_ENTITY_TYPE = 'employee';

export function w1Event(i: number): BenchEvent {
  return corpusEvent(i) as BenchEvent;
}

export function w3Event(i: number, total: number): BenchEvent {
  const entities = Math.max(1, Math.floor(total / HISTORY_EVENTS));
  return { ...(corpusEvent(i) as BenchEvent), event_type: W3_EVENT_TYPE, entity_id: `ent-${i % entities}`, entity_name: `Employee ${i % entities}` };
}

export function w3Entity(k: number, total: number): string {
  return `ent-${k % Math.max(1, Math.floor(total / HISTORY_EVENTS))}`;
}

/** domain, entity_type and action: the three parts of event_type. */
export function typeParts(eventType: string): { domain: string; entity_type: string; action: string } {
  const [domain = '', entity_type = '', action = ''] = eventType.split('.');
  return { domain, entity_type, action };
}

/** A peer's view of an event: every client field, defaults applied as event-spine would. */
export interface FlatEvent {
  event_type: string;
  domain: string;
  entity_type: string;
  action: string;
  entity_id: string;
  entity_name: string | null;
  actor_id: string;
  actor_type: string;
  organization_id: string;
  environment: string;
  severity: string;
  payload: Record<string, unknown>;
}

export function flatten(ev: BenchEvent): FlatEvent {
  return {
    event_type: ev.event_type,
    ...typeParts(ev.event_type),
    entity_id: ev.entity_id,
    entity_name: (ev.entity_name as string | undefined) ?? null,
    actor_id: (ev.actor_id as string | undefined) ?? 'unknown',
    actor_type: (ev.actor_type as string | undefined) ?? 'human',
    organization_id: (ev.organization_id as string | undefined) ?? 'default',
    environment: (ev.environment as string | undefined) ?? 'prod',
    severity: (ev.severity as string | undefined) ?? 'low',
    payload: ev.payload,
  };
}

/** The JSON text a message-oriented peer (Redis, JetStream) stores for one event. */
export function eventJson(ev: BenchEvent): string {
  return JSON.stringify(flatten(ev));
}
