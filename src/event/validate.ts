/**
 * Validation of what clients send (DESIGN §1): one stable error code per rule, a message
 * naming the field and the limit or the allowed values, nothing altered. This is the append
 * hot path: fields are read by name, cheap checks come first, no regular expressions.
 */

import { SpineError, type ErrorCode } from '../errors';
import { canonicalPayload } from './canonical';
import { isCanonicalPayloadText } from './canonical-text';
import { payloadHash } from './hash';
import {
  ACTOR_TYPES,
  ENVIRONMENTS,
  SEVERITIES,
  type ActorType,
  type Environment,
  type Severity,
  type ValidEvent,
} from './types';
import { parseUuid } from './uuid';

export interface EnvelopeOptions {
  /** organization_id of events that do not name one. */
  defaultOrganizationId: string;
  /** environment of events that do not name one. */
  defaultEnvironment: Environment;
  /** Limit on the UTF-8 length of the canonical payload text. */
  maxPayloadBytes: number;
  /** Limit on the events of one batch. */
  maxBatchEvents: number;
}

/** The fields a client may send, in the order of DESIGN §1. */
export const CLIENT_FIELDS = [
  'id',
  'event_type',
  'domain',
  'entity_type',
  'action',
  'entity_id',
  'entity_name',
  'actor_id',
  'actor_type',
  'organization_id',
  'environment',
  'severity',
  'payload',
] as const;

/** Stored fields only the server sets. */
export const SERVER_FIELDS = ['seq', 'timestamp', 'payload_hash', 'previous_hash', 'event_hash'] as const;

/** Length limits, in Unicode code points. */
export const MAX_ID_CHARS = 256;
export const MAX_ENTITY_NAME_CHARS = 1024;
/** Each part of event_type: ^[a-z][a-z0-9_]{0,62}$. */
export const MAX_EVENT_TYPE_PART_CHARS = 63;

const ALLOWED_LIST = CLIENT_FIELDS.join(', ');

function fail(code: ErrorCode, field: string, message: string): never {
  throw new SpineError(code, `${field} ${message}`, { field });
}

// The helpers below take a field's name and the prefix that places it (`events[3].`) apart,
// and join them only to report a problem: a valid event allocates no field names.

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/**
 * Why a text field is not acceptable, or undefined: shorter than `minChars` or longer than
 * `maxChars` code points, a control character (C0, DEL, C1) or an unpaired surrogate.
 */
function textProblem(s: string, minChars: number, maxChars: number): string | undefined {
  const n = s.length;
  // Code points ≤ code units ≤ 2 × code points: most strings are decided by length alone.
  if (n > 2 * maxChars) return `is longer than ${maxChars} characters`;
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    chars++;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      return `holds the control character U+${c.toString(16).toUpperCase().padStart(4, '0')} at index ${i}`;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return `holds an unpaired UTF-16 surrogate at index ${i}`;
    }
  }
  if (chars < minChars) return minChars === 1 ? 'must not be empty' : `is shorter than ${minChars} characters`;
  if (chars > maxChars) return `is longer than ${maxChars} characters`;
  return undefined;
}

/** A string-typed field: undefined when absent (undefined or null), else the string. */
function optionalString(v: unknown, prefix: string, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail('INVALID_FIELD_TYPE', prefix + name, `must be a string, not ${describeType(v)}`);
  return v;
}

/** A required text field (entity_id, actor_id): present, non-empty, well-formed. */
function requiredText(v: unknown, prefix: string, name: string, maxChars: number): string {
  if (v === undefined || v === null || v === '') fail('MISSING_FIELD', prefix + name, 'is required');
  if (typeof v !== 'string') fail('INVALID_FIELD_TYPE', prefix + name, `must be a string, not ${describeType(v)}`);
  return checkText(v, prefix, name, 1, maxChars);
}

function checkText(v: string, prefix: string, name: string, minChars: number, maxChars: number): string {
  const problem = textProblem(v, minChars, maxChars);
  if (problem !== undefined) fail('INVALID_TEXT', prefix + name, problem);
  return v;
}

function enumValue<T extends string>(v: unknown, prefix: string, name: string, allowed: readonly T[], fallback: T): T {
  const s = optionalString(v, prefix, name);
  if (s === undefined) return fallback;
  for (let i = 0; i < allowed.length; i++) if (allowed[i] === s) return s as T;
  return fail('INVALID_ENUM', prefix + name, `must be one of ${allowed.join(', ')}, not ${JSON.stringify(s)}`);
}

/**
 * The end of the event_type part that starts at `from` (the index of the '.' or the string's
 * end), or -1 when the part is not ^[a-z][a-z0-9_]{0,62}$.
 */
function scanPart(s: string, from: number): number {
  const first = s.charCodeAt(from);
  if (!(first >= 0x61 && first <= 0x7a)) return -1;
  let i = from + 1;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) break;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return -1;
  }
  return i - from > MAX_EVENT_TYPE_PART_CHARS ? -1 : i;
}

const EVENT_TYPE_RULE =
  `must be <domain>.<entity>.<action>, each part a lowercase letter then up to ${MAX_EVENT_TYPE_PART_CHARS - 1} ` +
  'lowercase letters, digits or underscores (^[a-z][a-z0-9_]{0,62}$)';

function matchPart(v: unknown, prefix: string, name: string, part: string): void {
  const s = optionalString(v, prefix, name);
  if (s !== undefined && s !== part) {
    fail('EVENT_TYPE_MISMATCH', prefix + name, `is ${JSON.stringify(s)} but ${prefix}event_type says ${JSON.stringify(part)}`);
  }
}

/** Find the first key of `input` a client may not send (the slow path of an unknown-field check). */
function rejectUnknownField(input: Record<string, unknown>, prefix: string): void {
  for (const key of Object.keys(input)) {
    if ((CLIENT_FIELDS as readonly string[]).includes(key)) continue;
    const field = prefix + key;
    if ((SERVER_FIELDS as readonly string[]).includes(key)) {
      fail('UNKNOWN_FIELD', field, 'is set by the server and cannot be sent by a client');
    }
    throw new SpineError('UNKNOWN_FIELD', `unknown field ${JSON.stringify(field)}; the allowed fields are ${ALLOWED_LIST}`, {
      field,
    });
  }
}

/** The number of own enumerable keys of a plain object, without making an array of them. */
function ownKeys(o: Record<string, unknown>): number {
  let n = 0;
  for (const key in o) if (Object.hasOwn(o, key)) n++;
  return n;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Validate one event as a client sent it and apply the defaults (actor_type `human`,
 * severity `low`, organization_id and environment from `options`). `null` for an optional
 * field means absent. Field names in errors are prefixed with `prefix` (`events[3].` in a
 * batch). Throws SpineError; returns the event with its canonical payload and payload_hash.
 */
export function validateEvent(input: unknown, options: EnvelopeOptions, prefix = ''): ValidEvent {
  return validateWith(input, options, prefix, undefined);
}

/**
 * validateEvent for an event decoded from the wire, as on gRPC: it holds client fields
 * only, each a string or absent, and `payload` is JSON text. Text already in canonical form
 * is stored as it is, checked in one scan and never parsed; other text is parsed and
 * canonicalised. Text that is not JSON, or is `null`, is INVALID_PAYLOAD, reported after the
 * event's other problems.
 */
export function validateWireEvent(input: Readonly<Partial<Record<(typeof CLIENT_FIELDS)[number], string>>>, options: EnvelopeOptions, prefix = ''): ValidEvent {
  const text = input.payload;
  if (text === undefined || isCanonicalPayloadText(text)) return validateWith(input, options, prefix, text, true);
  let payload: unknown;
  let problem: string | undefined;
  try {
    payload = JSON.parse(text);
    if (payload === null) problem = 'must be a JSON object, not null (leave it out for {})';
  } catch (err) {
    problem = `is not JSON text (${(err as Error).message}); it must be a JSON object such as {"k":1}`;
  }
  if (problem !== undefined) {
    validateWith({ ...input, payload: undefined }, options, prefix, undefined, true); // the event's other problems first
    const field = `${prefix}payload`;
    throw new SpineError('INVALID_PAYLOAD', `${field} ${problem}`, { field });
  }
  return validateWith({ ...input, payload }, options, prefix, undefined, true);
}

/**
 * `canonicalText`: the payload's canonical text, already checked (input.payload is then
 * ignored). `fieldsKnown`: input holds no key but client fields (decoded from the wire).
 */
function validateWith(input: unknown, options: EnvelopeOptions, prefix: string, canonicalText: string | undefined, fieldsKnown = false): ValidEvent {
  if (!isPlainObject(input)) {
    const field = prefix.endsWith('.') ? prefix.slice(0, -1) : prefix;
    throw new SpineError('INVALID_REQUEST', `${field || 'the event'} must be a JSON object, not ${describeType(input)}`, {
      ...(field ? { field } : {}),
    });
  }

  // Read every allowed field by name; if the object has more keys than were found, one of
  // them is not allowed (a key holding `undefined` is rechecked by the slow path).
  const rawId = input.id;
  const rawEventType = input.event_type;
  const rawDomain = input.domain;
  const rawEntityType = input.entity_type;
  const rawAction = input.action;
  const rawEntityId = input.entity_id;
  const rawEntityName = input.entity_name;
  const rawActorId = input.actor_id;
  const rawActorType = input.actor_type;
  const rawOrganizationId = input.organization_id;
  const rawEnvironment = input.environment;
  const rawSeverity = input.severity;
  const rawPayload = input.payload;
  const present =
    +(rawId !== undefined) + +(rawEventType !== undefined) + +(rawDomain !== undefined) +
    +(rawEntityType !== undefined) + +(rawAction !== undefined) + +(rawEntityId !== undefined) +
    +(rawEntityName !== undefined) + +(rawActorId !== undefined) + +(rawActorType !== undefined) +
    +(rawOrganizationId !== undefined) + +(rawEnvironment !== undefined) + +(rawSeverity !== undefined) +
    +(rawPayload !== undefined);
  if (!fieldsKnown && ownKeys(input) !== present) rejectUnknownField(input, prefix);

  // event_type and its three parts.
  if (rawEventType === undefined || rawEventType === null || rawEventType === '') {
    fail('MISSING_FIELD', prefix + 'event_type', 'is required');
  }
  if (typeof rawEventType !== 'string') {
    fail('INVALID_FIELD_TYPE', prefix + 'event_type', `must be a string, not ${describeType(rawEventType)}`);
  }
  const end1 = scanPart(rawEventType, 0);
  const end2 = end1 < 0 || end1 >= rawEventType.length ? -1 : scanPart(rawEventType, end1 + 1);
  const end3 = end2 < 0 || end2 >= rawEventType.length ? -1 : scanPart(rawEventType, end2 + 1);
  if (end3 !== rawEventType.length) {
    fail('INVALID_EVENT_TYPE', prefix + 'event_type', `${EVENT_TYPE_RULE}, not ${JSON.stringify(rawEventType)}`);
  }
  const domain = rawEventType.slice(0, end1);
  const entityType = rawEventType.slice(end1 + 1, end2);
  const action = rawEventType.slice(end2 + 1);
  if (rawDomain !== undefined) matchPart(rawDomain, prefix, 'domain', domain);
  if (rawEntityType !== undefined) matchPart(rawEntityType, prefix, 'entity_type', entityType);
  if (rawAction !== undefined) matchPart(rawAction, prefix, 'action', action);

  // id: a UUID of any version, stored in lowercase canonical form; absent → the server makes one.
  let id: string | undefined;
  const givenId = optionalString(rawId, prefix, 'id');
  if (givenId !== undefined) {
    id = parseUuid(givenId);
    if (id === undefined) {
      fail('INVALID_ID', prefix + 'id', `must be a UUID (8-4-4-4-12 hexadecimal digits), not ${JSON.stringify(givenId)}`);
    }
  }

  const entityId = requiredText(rawEntityId, prefix, 'entity_id', MAX_ID_CHARS);
  const givenName = optionalString(rawEntityName, prefix, 'entity_name');
  const entityName =
    givenName === undefined ? undefined : checkText(givenName, prefix, 'entity_name', 0, MAX_ENTITY_NAME_CHARS);
  const actorId = requiredText(rawActorId, prefix, 'actor_id', MAX_ID_CHARS);
  const actorType: ActorType = enumValue(rawActorType, prefix, 'actor_type', ACTOR_TYPES, 'human');
  const givenOrganization = optionalString(rawOrganizationId, prefix, 'organization_id');
  const organizationId =
    givenOrganization === undefined
      ? options.defaultOrganizationId
      : checkText(givenOrganization, prefix, 'organization_id', 1, MAX_ID_CHARS);
  const environment: Environment = enumValue(rawEnvironment, prefix, 'environment', ENVIRONMENTS, options.defaultEnvironment);
  const severity: Severity = enumValue(rawSeverity, prefix, 'severity', SEVERITIES, 'low');

  // payload: canonical text in one walk; its UTF-8 size against the limit.
  const payloadJson = canonicalText ?? canonicalPayload(rawPayload === null ? undefined : rawPayload, prefix + 'payload');
  const limit = options.maxPayloadBytes;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: skip the count when the text is surely small.
  if (payloadJson.length * 3 > limit) {
    const bytes = Buffer.byteLength(payloadJson, 'utf8');
    if (bytes > limit) {
      fail('PAYLOAD_TOO_LARGE', prefix + 'payload', `is ${bytes} bytes as canonical JSON, over the limit of ${limit} bytes`);
    }
  }

  return {
    id,
    event_type: rawEventType,
    domain,
    entity_type: entityType,
    action,
    entity_id: entityId,
    entity_name: entityName,
    actor_id: actorId,
    actor_type: actorType,
    organization_id: organizationId,
    environment,
    severity,
    payloadJson,
    payload_hash: payloadHash(payloadJson),
  };
}

/**
 * Validate a batch: an array of 1..maxBatchEvents events, each validated as by
 * validateEvent with errors naming `events[i].field`. The first error refuses the batch.
 */
export function validateBatch(inputs: unknown, options: EnvelopeOptions): ValidEvent[] {
  if (!Array.isArray(inputs)) {
    throw new SpineError('INVALID_REQUEST', `events must be an array of events, not ${describeType(inputs)}`, {
      field: 'events',
    });
  }
  const n = inputs.length;
  if (n === 0) throw new SpineError('EMPTY_BATCH', 'events holds no event; a batch needs at least one', { field: 'events' });
  if (n > options.maxBatchEvents) {
    throw new SpineError(
      'BATCH_TOO_LARGE',
      `events holds ${n} events, over the limit of ${options.maxBatchEvents} events per batch`,
      { field: 'events' },
    );
  }
  const out: ValidEvent[] = [];
  for (let i = 0; i < n; i++) out.push(validateEvent(inputs[i], options, `events[${i}].`));
  return out;
}
