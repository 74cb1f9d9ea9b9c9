/**
 * Operations (DESIGN §6): a long-running job is an entity of its own. Its progress steps are
 * events in the log (domain `ops`, entity_type `operation`, entity_id = the operation id,
 * action = the step), so anyone can replay them, join late or reconnect without a gap.
 */
import type { ActorType, JsonObject } from '../event';

export const OPERATION_KINDS = ['batch_auto_setup', 'verify', 'reindex', 'export'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export type OperationStatus = 'running' | 'succeeded' | 'failed';

/** The domain and entity type of every progress event. */
export const OPS_DOMAIN = 'ops';
export const OPERATION_ENTITY = 'operation';

/** The last step of every operation: `done` (succeeded) or `error` (failed). */
export const DONE_STEP = 'done';
export const ERROR_STEP = 'error';

export function isTerminalStep(step: string): boolean {
  return step === DONE_STEP || step === ERROR_STEP;
}

/** Who starts an operation: every progress event is attributed to them. */
export interface OperationActor {
  actor_id: string;
  actor_type?: ActorType;
  /** Tenant of the operation's events; the store's default when absent. */
  organization_id?: string;
}

/** One progress step as watchers see it (SSE `event:`/`id:`/`data:`, gRPC OperationEvent). */
export interface OperationEvent {
  operation_id: string;
  kind: OperationKind;
  /** The stored event's seq: the SSE `id`, the point to resume after. */
  seq: number;
  /** The step name, e.g. `recommend_phase_start`: the SSE event name. */
  step: string;
  timestamp: string;
  /** The step's data (the stored payload). */
  data: JsonObject;
}

/** An operation's state, derived from its events (first and last). */
export interface OperationView {
  id: string;
  kind: OperationKind;
  status: OperationStatus;
  started_at: string;
  /** The timestamp of the terminal step, once there is one. */
  ended_at?: string;
  actor_id: string;
  actor_type: ActorType;
  organization_id: string;
  /** The last step so far. */
  last_step: string;
  /** The seq of the last step so far. */
  last_seq: number;
  /** `done`'s summary. */
  summary?: JsonObject;
  /** `error`'s message. */
  error?: string;
}
