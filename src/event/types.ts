/** The event envelope (DESIGN §1): what clients send and what the store keeps. */

export const ACTOR_TYPES = ['human', 'system', 'pipeline'] as const;
export const ENVIRONMENTS = ['dev', 'test', 'stage', 'prod'] as const;
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

export type ActorType = (typeof ACTOR_TYPES)[number];
export type Environment = (typeof ENVIRONMENTS)[number];
export type Severity = (typeof SEVERITIES)[number];

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** What a client sends: wire names; everything but event_type, entity_id and actor_id optional. */
export interface EventInput {
  id?: string;
  event_type: string;
  domain?: string;
  entity_type?: string;
  action?: string;
  entity_id: string;
  entity_name?: string;
  actor_id: string;
  actor_type?: string;
  organization_id?: string;
  environment?: string;
  severity?: string;
  payload?: unknown;
}

/**
 * A validated event with defaults applied, ready for the sequencer: every client field in
 * its stored form, the payload already canonical (RFC 8785) and digested. `id` is absent
 * when the server is to make one.
 */
export interface ValidEvent {
  id: string | undefined;
  event_type: string;
  domain: string;
  entity_type: string;
  action: string;
  entity_id: string;
  entity_name: string | undefined;
  actor_id: string;
  actor_type: ActorType;
  organization_id: string;
  environment: Environment;
  severity: Severity;
  /** JCS(payload): the exact text that payload_hash digests. */
  payloadJson: string;
  payload_hash: string;
}

/** A stored event with every field of DESIGN §1 (payload as its canonical JSON text). */
export interface StoredEvent {
  seq: number;
  id: string;
  event_type: string;
  domain: string;
  entity_type: string;
  action: string;
  entity_id: string;
  entity_name?: string;
  actor_id: string;
  actor_type: ActorType;
  organization_id: string;
  environment: Environment;
  timestamp: string;
  severity: Severity;
  payloadJson: string;
  payload_hash: string;
  previous_hash: string;
  event_hash: string;
}

/** The all-zero previous_hash of seq 1. */
export const GENESIS_HASH = '0'.repeat(64);
