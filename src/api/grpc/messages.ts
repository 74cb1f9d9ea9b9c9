/**
 * The messages of proto/eventspine/v1/event_spine.proto as proto-loader hands them over
 * (LOADER_OPTIONS: snake_case names, uint64 as number, absent fields undefined).
 * Incoming messages are typed loosely (every field may be absent); outgoing ones exactly.
 */

export interface EventInputMsg {
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
  severity?: string;
  payload?: string;
}

export interface EventMsg {
  seq: number;
  id: string;
  event_type: string;
  domain: string;
  entity_type: string;
  action: string;
  entity_id: string;
  entity_name?: string;
  actor_id: string;
  actor_type: string;
  organization_id: string;
  environment: string;
  timestamp: string;
  severity: string;
  payload: string;
  payload_hash: string;
  previous_hash: string;
  event_hash: string;
}

export interface AppendRequestMsg {
  events?: EventInputMsg[];
}

export interface AppendResultMsg {
  seq: number;
  id: string;
  timestamp: string;
  event_hash: string;
  deduplicated: boolean;
}

export interface AppendResponseMsg {
  results: AppendResultMsg[];
}

export interface AppendStreamRequestMsg {
  request_id?: number;
  events?: EventInputMsg[];
}

export interface ErrorMsg {
  code: string;
  message: string;
  status: number;
  field?: string;
}

export type AppendStreamResponseMsg = { request_id: number; ok: AppendResponseMsg } | { request_id: number; error: ErrorMsg };

export interface GetRequestMsg {
  id?: string;
  seq?: number;
  key?: 'id' | 'seq';
}

export interface FilterMsg {
  entity_type?: string;
  entity_id?: string;
  event_type?: string;
  domain?: string;
  organization_id?: string;
  actor_id?: string;
  severity?: string;
  environment?: string;
  since?: string;
  until?: string;
  from_seq?: number;
  to_seq?: number;
}

export interface QueryRequestMsg {
  filter?: FilterMsg;
  order?: 'ORDER_ASC' | 'ORDER_DESC' | number;
  limit?: number;
  cursor?: string;
}

export interface ReadRequestMsg {
  filter?: FilterMsg;
}

export interface SubscribeRequestMsg {
  filter?: FilterMsg;
  from_seq?: number;
}

export interface MarkerMsg {
  seq: number;
}

export type SubscribeResponseMsg = { event: EventMsg } | { caught_up: MarkerMsg } | { fell_behind: MarkerMsg } | { heartbeat: MarkerMsg };

export interface AggregateRequestMsg {
  filter?: FilterMsg;
  group_by?: string;
}

export interface AggregateResponseMsg {
  group_by: string;
  total: number;
  groups: { key: string; count: number }[];
}

export interface VerifyRequestMsg {
  from_seq?: number;
  to_seq?: number;
  check_index?: boolean;
}

export interface VerifyResponseMsg {
  ok: boolean;
  from_seq: number;
  to_seq: number;
  checked: number;
  first_bad_seq?: number;
  reason?: string;
}

export interface HeadResponseMsg {
  seq: number;
  event_hash: string;
  timestamp?: string;
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthCheckRequestMsg {
  service?: string;
}

export interface HealthCheckResponseMsg {
  status: ServingStatus;
}
