/**
 * What the client sends and receives. Event fields keep their wire names (snake_case, as in
 * DESIGN §1, the proto, REST and exports); options of the client itself are camelCase.
 */
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import type { ActorType, Environment, JsonObject, Severity } from '../event/types';

export type { ActorType, Environment, JsonObject, JsonValue, Severity } from '../event/types';

/**
 * One event to emit, shaped like the seed's `emit_event(event_type=…, entity_type=…,
 * entity_id=…, action=…, actor_id=…, payload={…})`. Only event_type and entity_id are always
 * required; actor_id too unless the client has a default actor.
 */
export interface EmitEvent {
  /** UUID; the idempotency key. The client makes a UUIDv7 when absent, so retries never duplicate. */
  id?: string;
  /** `<domain>.<entity>.<action>`. */
  event_type: string;
  /** Optional; when given, must equal the parts of event_type. */
  domain?: string;
  entity_type?: string;
  action?: string;
  entity_id: string;
  entity_name?: string;
  actor_id?: string;
  actor_type?: ActorType;
  organization_id?: string;
  environment?: Environment;
  severity?: Severity;
  /** A JSON object; sent as JSON text. Default `{}`. */
  payload?: JsonObject | Record<string, unknown>;
}

/** What the store assigned to one appended event. */
export interface AppendResult {
  seq: number;
  id: string;
  timestamp: string;
  event_hash: string;
  /** True when this id was already stored with identical content (nothing new was stored). */
  deduplicated: boolean;
}

/** A stored event: every field of the envelope, payload parsed. */
export interface SpineEvent {
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
  /** The payload, parsed from its canonical text. */
  payload: JsonObject;
  /** The payload as canonical JSON text (RFC 8785): exactly what payload_hash digests. */
  payloadJson: string;
  payload_hash: string;
  previous_hash: string;
  event_hash: string;
}

/** Query filters: all given must hold. */
export interface Filter {
  /** entity_id needs entity_type. */
  entity_type?: string;
  entity_id?: string;
  /** Exact, or a prefix ending in a dot: `hcm.` or `hcm.employee.`. */
  event_type?: string;
  domain?: string;
  organization_id?: string;
  actor_id?: string;
  severity?: Severity;
  environment?: Environment;
  /** RFC 3339; since inclusive, until exclusive. */
  since?: string;
  until?: string;
  /** Inclusive seq bounds. */
  from_seq?: number;
  to_seq?: number;
}

export type Order = 'asc' | 'desc';

/** Per-call options of every RPC. */
export interface CallOptions {
  /** Deadline of the call (including its retries), in milliseconds from now. */
  timeoutMs?: number;
}

export interface QueryOptions extends CallOptions {
  order?: Order;
  /** 1–10000; the server's default is 100. */
  limit?: number;
  /** From a previous page's next_cursor, with the same filter and order. */
  cursor?: string;
}

export interface QueryPage {
  items: SpineEvent[];
  /** Absent when there is nothing more. */
  next_cursor?: string;
}

export type GetKey = { id: string } | { seq: number };

/** A position marker of a subscription (surfaced only with `markers: true`). */
export interface SubscriptionMarker {
  type: 'caught_up' | 'fell_behind' | 'heartbeat';
  seq: number;
}

export interface SubscribeOptions {
  /** Deliver events from this seq on; absent: only events acknowledged after the call. */
  fromSeq?: number;
  /** Also yield caught_up / fell_behind / heartbeat markers. */
  markers?: boolean;
  /** Ends the iteration (it returns normally) when aborted. */
  signal?: AbortSignal;
  /**
   * Reopen a stream that brings nothing, not even a heartbeat, for this long while the
   * loop waits (a half-open connection). Default 60 000 ms, four of the server's default
   * heartbeat intervals; 0 turns it off.
   */
  idleTimeoutMs?: number;
}

export type AggregateGroupBy = 'event_type' | 'entity_type' | 'domain' | 'actor_id' | 'severity' | 'organization_id' | 'hour' | 'day';

export interface AggregateResult {
  group_by: string;
  total: number;
  /** Largest count first; hour and day buckets in time order. */
  groups: { key: string; count: number }[];
}

export interface VerifyRange {
  from_seq?: number;
  to_seq?: number;
  /** Also check that the index finds every event by id. */
  check_index?: boolean;
}

export interface VerifyResult {
  ok: boolean;
  from_seq: number;
  to_seq: number;
  checked: number;
  first_bad_seq?: number;
  reason?: string;
}

export interface Head {
  /** 0 for an empty store. */
  seq: number;
  event_hash: string;
  timestamp?: string;
}

/** Defaults applied to every emitted or appended event that does not set the field. */
export interface EventDefaults {
  organization_id?: string;
  environment?: Environment;
  actor_id?: string;
  actor_type?: ActorType;
}

/**
 * How emits share AppendStream requests. While no request is in flight, emits go out on
 * the next turn of the event loop (all emits of the same turn together); while requests
 * are in flight, emits wait up to maxDelayMs for company.
 */
export interface BatchOptions {
  /** Most events in one AppendStream request (default 500). */
  maxEvents?: number;
  /** Longest wait for more emits while requests are in flight (default 2 ms; 0: next turn of the event loop). */
  maxDelayMs?: number;
  /** Most bytes of events in one request (default 1 MiB); a larger event goes alone. */
  maxBytes?: number;
  /** Requests in flight on the stream before emits wait for answers (default 32). */
  maxInFlight?: number;
}

/**
 * Retries after passing failures (connection lost, daemon restarting, STORE_CLOSED,
 * DISK_FULL): exponential backoff with jitter. The defaults ride out about 25 s of
 * unavailability; `attempts: Infinity` never gives up (a subscriber that must not stop).
 */
export interface RetryOptions {
  /** Sends of one emit, tries of one call, consecutive reconnections of one stream (default 20). */
  attempts?: number;
  /** First backoff (default 50 ms); doubles with each failure, with jitter. */
  baseDelayMs?: number;
  /** Longest backoff (default 2000 ms). */
  maxDelayMs?: number;
}

/**
 * TLS to a daemon serving `tls.certFile` (PEM, as Buffers or strings). Without `ca` the
 * system's trusted CAs check the server; `cert` and `key` go together, for mutual TLS.
 */
export interface ClientTlsOptions {
  /** CA certificates that signed the daemon's certificate. */
  ca?: Buffer | string;
  /** The client's certificate chain (mutual TLS: tls.clientCaFile on the daemon). */
  cert?: Buffer | string;
  /** The private key of `cert`. */
  key?: Buffer | string;
  /** The name the server certificate must carry, when it differs from the address's host. */
  serverName?: string;
}

export interface ClientOptions {
  /** `host:port` of the daemon's gRPC listener, e.g. `127.0.0.1:50051`. */
  address: string;
  /** TLS (the daemon's tls.* settings); without it and `credentials`, plain text. */
  tls?: ClientTlsOptions;
  /** grpc-js channel credentials, instead of `tls`. Default: insecure (plain text), for a daemon on loopback. */
  credentials?: ChannelCredentials;
  /** An API key (auth.mode "keys"): sent as `authorization: Bearer <apiKey>` on every call. */
  apiKey?: string;
  defaults?: EventDefaults;
  batch?: BatchOptions;
  retry?: RetryOptions;
  /** Default deadline of unary calls (none by default). */
  timeoutMs?: number;
  /** Extra grpc-js channel options (keepalive, message limits, …). */
  channelOptions?: ChannelOptions;
}
