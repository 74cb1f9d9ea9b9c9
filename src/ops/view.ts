/**
 * From stored events to what watchers and status readers see. An operation's state is a
 * function of its first event (kind, actor, start) and its last (status, end, summary):
 * there is no other state that could disagree with the log.
 */
import type { JsonObject, StoredEvent } from '../event';
import { DONE_STEP, ERROR_STEP, OPERATION_ENTITY, OPERATION_KINDS, OPS_DOMAIN, type OperationEvent, type OperationKind, type OperationView } from './types';

function isKind(name: string | undefined): name is OperationKind {
  return name !== undefined && (OPERATION_KINDS as readonly string[]).includes(name);
}

function isOperationEvent(ev: StoredEvent): boolean {
  return ev.domain === OPS_DOMAIN && ev.entity_type === OPERATION_ENTITY && isKind(ev.entity_name);
}

function payloadOf(ev: StoredEvent): JsonObject {
  return JSON.parse(ev.payloadJson) as JsonObject;
}

/** A stored progress event as watchers see it; undefined for an event that is not one. */
export function toOperationEvent(ev: StoredEvent): OperationEvent | undefined {
  if (!isOperationEvent(ev)) return undefined;
  return { operation_id: ev.entity_id, kind: ev.entity_name as OperationKind, seq: ev.seq, step: ev.action, timestamp: ev.timestamp, data: payloadOf(ev) };
}

/** The operation's state from its first and last events (undefined if they are not an operation's). */
export function deriveView(first: StoredEvent, last: StoredEvent): OperationView | undefined {
  if (!isOperationEvent(first) || !isOperationEvent(last)) return undefined;
  const view: OperationView = {
    id: first.entity_id,
    kind: first.entity_name as OperationKind,
    status: last.action === DONE_STEP ? 'succeeded' : last.action === ERROR_STEP ? 'failed' : 'running',
    started_at: first.timestamp,
    actor_id: first.actor_id,
    actor_type: first.actor_type,
    organization_id: first.organization_id,
    last_step: last.action,
    last_seq: last.seq,
  };
  if (view.status === 'running') return view;
  view.ended_at = last.timestamp;
  const data = payloadOf(last);
  if (last.action === DONE_STEP && typeof data.summary === 'object' && data.summary !== null && !Array.isArray(data.summary)) view.summary = data.summary;
  if (last.action === ERROR_STEP) view.error = typeof data.message === 'string' ? data.message : 'failed';
  return view;
}

/**
 * The step's data as both surfaces send it (the SSE `data:` line, gRPC OperationEvent.data):
 * the operation id, then the stored payload's members.
 */
export function operationEventData(ev: OperationEvent): string {
  return JSON.stringify({ operation_id: ev.operation_id, ...ev.data });
}
