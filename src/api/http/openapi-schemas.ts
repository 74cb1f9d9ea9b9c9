/**
 * The JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses them) of every JSON body the HTTP
 * surface reads or writes: the event, append requests and results, pages, the Maysano
 * views, and errors. Responses are closed (`additionalProperties: false`): a field added
 * without its schema fails the tests that validate every response against this document.
 */
import { ERROR_TABLE } from '../../errors';
import { ACTOR_TYPES, ENVIRONMENTS, SEVERITIES } from '../../event';
import { AGGREGATE_GROUPS } from '../../store';

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const PART = '^[a-z][a-z0-9_]{0,62}$';
const HASH = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const TIMESTAMP = { type: 'string', format: 'date-time', description: 'UTC, RFC 3339 with milliseconds and Z.' } as const;
const SEQ = { type: 'integer', minimum: 1 } as const;
const ID = { type: 'string', format: 'uuid' } as const;
const ANY_JSON = { description: 'Any JSON value (null when the payload has none).' } as const;

function page(item: string, description: string): Record<string, unknown> {
  return {
    type: 'object',
    description,
    required: ['items', 'nextCursor'],
    additionalProperties: false,
    properties: {
      items: { type: 'array', items: ref(item) },
      nextCursor: { type: ['string', 'null'], description: 'Opaque; pass as `cursor` for the next page. null on the last page.' },
    },
  };
}

const EVENT_FIELDS = {
  id: { ...ID, description: 'Client-given (the idempotency key) or a server-made UUIDv7.' },
  event_type: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}\\.[a-z][a-z0-9_]{0,62}\\.[a-z][a-z0-9_]{0,62}$', description: '<domain>.<entity>.<action>' },
  domain: { type: 'string', pattern: PART },
  entity_type: { type: 'string', pattern: PART },
  action: { type: 'string', pattern: PART },
  entity_id: { type: 'string', minLength: 1, maxLength: 256 },
  entity_name: { type: 'string', maxLength: 1024, description: "The entity's name at the time of the event." },
  actor_id: { type: 'string', minLength: 1, maxLength: 256 },
  actor_type: { type: 'string', enum: [...ACTOR_TYPES] },
  organization_id: { type: 'string', minLength: 1, maxLength: 256 },
  environment: { type: 'string', enum: [...ENVIRONMENTS] },
  severity: { type: 'string', enum: [...SEVERITIES] },
  payload: { type: 'object', description: 'A JSON object (not an array or scalar); integers beyond ±(2^53−1) and non-finite numbers are refused.' },
} as const;

export const SCHEMAS: Record<string, unknown> = {
  Event: {
    type: 'object',
    description: 'A stored event: every field of DESIGN §1. `payload` is the stored canonical JSON (RFC 8785) that `payload_hash` digests.',
    required: ['seq', 'id', 'event_type', 'domain', 'entity_type', 'action', 'entity_id', 'actor_id', 'actor_type', 'organization_id', 'environment', 'timestamp', 'severity', 'payload', 'payload_hash', 'previous_hash', 'event_hash'],
    additionalProperties: false,
    properties: {
      seq: { ...SEQ, description: 'Global position: 1, 2, 3, … dense, never reused.' },
      ...EVENT_FIELDS,
      timestamp: TIMESTAMP,
      payload_hash: { ...HASH, description: 'hex SHA-256 of the UTF-8 of JCS(payload).' },
      previous_hash: { ...HASH, description: 'event_hash of seq − 1; 64 zeros for seq 1.' },
      event_hash: { ...HASH, description: 'hex SHA-256 of JCS(record): README "The hash".' },
    },
  },
  EventInput: {
    type: 'object',
    description: 'An event as a client sends it. domain, entity_type and action may be left out (they are derived from event_type) or must match it.',
    required: ['event_type', 'entity_id', 'actor_id'],
    additionalProperties: false,
    properties: EVENT_FIELDS,
  },
  AppendRequest: {
    description: 'One event, or a batch appended atomically (nothing of a refused batch is stored).',
    oneOf: [
      ref('EventInput'),
      {
        type: 'object',
        required: ['events'],
        additionalProperties: false,
        properties: { events: { type: 'array', minItems: 1, items: ref('EventInput'), description: 'At most limits.maxBatchEvents events.' } },
      },
    ],
  },
  AppendResult: {
    type: 'object',
    required: ['seq', 'id', 'timestamp', 'event_hash', 'deduplicated'],
    additionalProperties: false,
    properties: {
      seq: SEQ,
      id: ID,
      timestamp: TIMESTAMP,
      event_hash: HASH,
      deduplicated: { type: 'boolean', description: 'An event with this id and the same content was already stored: nothing new was stored.' },
    },
  },
  AppendResponse: {
    type: 'object',
    required: ['results'],
    additionalProperties: false,
    properties: { results: { type: 'array', minItems: 1, items: ref('AppendResult'), description: 'One per event, in request order.' } },
  },
  EventPage: page('Event', 'A page of events in the requested order.'),
  Head: {
    type: 'object',
    required: ['seq', 'event_hash', 'timestamp'],
    additionalProperties: false,
    properties: {
      seq: { type: 'integer', minimum: 0, description: '0 for an empty store.' },
      event_hash: { ...HASH, description: '64 zeros for an empty store.' },
      timestamp: { oneOf: [TIMESTAMP, { type: 'null' }] },
    },
  },
  VerifyResult: {
    type: 'object',
    required: ['ok', 'from_seq', 'to_seq', 'checked'],
    additionalProperties: false,
    properties: {
      ok: { type: 'boolean' },
      from_seq: { type: 'integer', minimum: 1 },
      to_seq: { type: 'integer', minimum: 0 },
      checked: { type: 'integer', minimum: 0 },
      first_bad_seq: { ...SEQ, description: 'Only when ok is false.' },
      reason: { type: 'string', description: 'Only when ok is false.' },
    },
  },
  AggregateResult: {
    type: 'object',
    required: ['group_by', 'total', 'groups'],
    additionalProperties: false,
    properties: {
      group_by: { type: 'string', enum: [...AGGREGATE_GROUPS] },
      total: { type: 'integer', minimum: 0 },
      groups: {
        type: 'array',
        description: 'Largest count first; hour and day buckets in time order.',
        items: { type: 'object', required: ['key', 'count'], additionalProperties: false, properties: { key: { type: 'string' }, count: { type: 'integer', minimum: 1 } } },
      },
    },
  },
  StructuralEvent: {
    type: 'object',
    description: 'Maysano structural event. entityType = entity_type, entityId = entity_id, entityName = entity_name (null when the event has none), eventType = action, metadata = payload, createdAt = timestamp.',
    required: ['id', 'entityType', 'entityId', 'entityName', 'eventType', 'metadata', 'createdAt'],
    additionalProperties: false,
    properties: {
      id: ID,
      entityType: { type: 'string' },
      entityId: { type: 'string' },
      entityName: { type: ['string', 'null'] },
      eventType: { type: 'string' },
      metadata: { type: 'object' },
      createdAt: TIMESTAMP,
    },
  },
  ProductActivity: {
    type: 'object',
    description:
      'Maysano product activity. productId = entity_id, productName = entity_name (or null), activityType = action, description = payload.description or payload.summary, else a sentence built from the event (README "HTTP API"), details = payload, performedBy = actor_id, createdAt = timestamp.',
    required: ['id', 'productId', 'productName', 'activityType', 'description', 'details', 'performedBy', 'createdAt'],
    additionalProperties: false,
    properties: {
      id: ID,
      productId: { type: 'string' },
      productName: { type: ['string', 'null'] },
      activityType: { type: 'string' },
      description: { type: 'string' },
      details: { type: 'object' },
      performedBy: { type: 'string' },
      createdAt: TIMESTAMP,
    },
  },
  ObjectiveHistoryEntry: {
    type: 'object',
    description:
      'Maysano objective history entry. objectiveId = entity_id, action = action, field / oldValue / newValue from payload.field, payload.old_value|oldValue|old, payload.new_value|newValue|new (or a payload.changes array of one entry), summary = payload.summary or payload.description, else a sentence built from the event, performedBy = actor_id, createdAt = timestamp.',
    required: ['id', 'objectiveId', 'action', 'field', 'oldValue', 'newValue', 'summary', 'performedBy', 'createdAt'],
    additionalProperties: false,
    properties: {
      id: ID,
      objectiveId: { type: 'string' },
      action: { type: 'string' },
      field: { type: ['string', 'null'] },
      oldValue: ANY_JSON,
      newValue: ANY_JSON,
      summary: { type: 'string' },
      performedBy: { type: 'string' },
      createdAt: TIMESTAMP,
    },
  },
  StructuralEventPage: page('StructuralEvent', 'Structural events, newest first.'),
  ProductActivityPage: page('ProductActivity', 'Activities of one product, newest first.'),
  ObjectiveHistoryPage: page('ObjectiveHistoryEntry', 'History of one objective, newest first.'),
  Error: {
    type: 'object',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', enum: Object.keys(ERROR_TABLE), description: 'Stable machine code (README "Errors").' },
          message: { type: 'string', description: 'Names the field or limit; may improve between versions.' },
          field: { type: 'string', description: 'The field, parameter or header the error is about, where there is one.' },
        },
      },
    },
  },
  Health: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { const: 'ok' } } },
  Ready: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { const: 'ready' } } },
};
