/**
 * The hash, DESIGN §1.1 (the contract with auditors):
 *
 *     payload_hash = lowercase hex( SHA-256( UTF-8( JCS(payload) ) ) )
 *     event_hash   = lowercase hex( SHA-256( UTF-8( JCS(record) ) ) )
 *
 * `record` is the stored event minus `event_hash` and `payload`, plus `payload_hash`;
 * optional fields without a value are left out, never written as null. JCS is RFC 8785.
 * The README's section "The hash" walks through two chained events.
 */

import * as crypto from 'node:crypto';
import { NEEDS_CARE_CLASS, quoteString } from './canonical';
import type { StoredEvent } from './types';

/** The fields of `record`, in JCS order (UTF-16 code unit order of the names). */
export const RECORD_FIELDS = [
  'action',
  'actor_id',
  'actor_type',
  'domain',
  'entity_id',
  'entity_name',
  'entity_type',
  'environment',
  'event_type',
  'id',
  'organization_id',
  'payload_hash',
  'previous_hash',
  'seq',
  'severity',
  'timestamp',
] as const;

/** What `record` is built from: a stored event without its own hash and payload text. */
export type HashedFields = Omit<StoredEvent, 'event_hash' | 'payloadJson'>;

// crypto.hash (Node ≥ 20.12) is a one-shot digest, about twice as fast as createHash for
// the few hundred bytes of an event; fall back where it is missing.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** Lowercase hex SHA-256 of the UTF-8 encoding of `text`. */
export const sha256Hex: (text: string) => string =
  typeof oneShot === 'function'
    ? (text) => oneShot('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** payload_hash of a payload's canonical text (JCS(payload), see canonicalPayload). */
export function payloadHash(payloadJson: string): string {
  return sha256Hex(payloadJson);
}

/**
 * JCS(record), written directly: the key set is fixed, so its order is precomputed and only
 * the values are serialised. A property test checks it against `canonicalize`.
 */
export function recordCanonical(ev: HashedFields): string {
  if (!Number.isSafeInteger(ev.seq) || ev.seq < 1) {
    throw new TypeError(`recordCanonical: seq must be a positive safe integer, not ${String(ev.seq)}`);
  }
  // The common case: no value needs an escape, so each is its own JSON text between quotes.
  // A template literal builds it, and one regular expression checks the whole text in a
  // single native pass: every value is between its quotes with nothing JSON escapes in it
  // (a quote, a backslash, a control character or a surrogate sends the record to the
  // escaping path below). The test also flattens the text, which the hash then reads as
  // it is. Checking each value in a loop of its own took a third of event_hash's time.
  if (ev.entity_name !== undefined) {
    const text = `{"action":"${ev.action}","actor_id":"${ev.actor_id}","actor_type":"${ev.actor_type}","domain":"${ev.domain}","entity_id":"${ev.entity_id}","entity_name":"${ev.entity_name}","entity_type":"${ev.entity_type}","environment":"${ev.environment}","event_type":"${ev.event_type}","id":"${ev.id}","organization_id":"${ev.organization_id}","payload_hash":"${ev.payload_hash}","previous_hash":"${ev.previous_hash}","seq":${ev.seq},"severity":"${ev.severity}","timestamp":"${ev.timestamp}"}`;
    if (PLAIN_RECORD_WITH_NAME.test(text)) return text;
  } else {
    const text = `{"action":"${ev.action}","actor_id":"${ev.actor_id}","actor_type":"${ev.actor_type}","domain":"${ev.domain}","entity_id":"${ev.entity_id}","entity_type":"${ev.entity_type}","environment":"${ev.environment}","event_type":"${ev.event_type}","id":"${ev.id}","organization_id":"${ev.organization_id}","payload_hash":"${ev.payload_hash}","previous_hash":"${ev.previous_hash}","seq":${ev.seq},"severity":"${ev.severity}","timestamp":"${ev.timestamp}"}`;
    if (PLAIN_RECORD.test(text)) return text;
  }
  const s = quoteString;
  return (
    '{"action":' + s(ev.action) +
    ',"actor_id":' + s(ev.actor_id) +
    ',"actor_type":' + s(ev.actor_type) +
    ',"domain":' + s(ev.domain) +
    ',"entity_id":' + s(ev.entity_id) +
    (ev.entity_name === undefined ? '' : ',"entity_name":' + s(ev.entity_name)) +
    ',"entity_type":' + s(ev.entity_type) +
    ',"environment":' + s(ev.environment) +
    ',"event_type":' + s(ev.event_type) +
    ',"id":' + s(ev.id) +
    ',"organization_id":' + s(ev.organization_id) +
    ',"payload_hash":' + s(ev.payload_hash) +
    ',"previous_hash":' + s(ev.previous_hash) +
    ',"seq":' + String(ev.seq) +
    ',"severity":' + s(ev.severity) +
    ',"timestamp":' + s(ev.timestamp) +
    '}'
  );
}

/**
 * The record's text when no value needs escaping: the keys in order, each string value
 * free of quotes, backslashes, control characters and surrogates, the seq in digits.
 */
function plainRecord(withName: boolean): RegExp {
  const value = `"[^${NEEDS_CARE_CLASS}]*"`;
  const fields = RECORD_FIELDS.filter((name) => withName || name !== 'entity_name').map((name) => `"${name}":${name === 'seq' ? '[0-9]+' : value}`);
  return new RegExp(`^\\{${fields.join(',')}\\}$`);
}
const PLAIN_RECORD_WITH_NAME = plainRecord(true);
const PLAIN_RECORD = plainRecord(false);

/** event_hash = SHA-256 of JCS(record). */
export function eventHash(ev: HashedFields): string {
  return sha256Hex(recordCanonical(ev));
}

/**
 * Re-check one stored event's own digests. Returns why it does not verify, or undefined.
 * (The link to the previous event, `previous_hash`, is the caller's to check.)
 */
export function verifyEventHashes(ev: StoredEvent): string | undefined {
  const actualPayloadHash = payloadHash(ev.payloadJson);
  if (actualPayloadHash !== ev.payload_hash) {
    return `payload_hash ${ev.payload_hash} does not match the payload (SHA-256 of its canonical text is ${actualPayloadHash})`;
  }
  let actualEventHash: string;
  try {
    actualEventHash = eventHash(ev);
  } catch (err) {
    return `the record cannot be canonicalised: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (actualEventHash !== ev.event_hash) {
    return `event_hash ${ev.event_hash} does not match the record (SHA-256 of its canonical text is ${actualEventHash})`;
  }
  return undefined;
}
