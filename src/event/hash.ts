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
import { quoteString } from './canonical';
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
  // A template literal builds a flat string, which hashes ~2.5× faster than the rope that
  // `+` concatenation leaves behind.
  if (
    plain(ev.event_type) && plain(ev.actor_id) && plain(ev.entity_id) && plain(ev.organization_id) &&
    (ev.entity_name === undefined || plain(ev.entity_name)) && plain(ev.action) && plain(ev.domain) &&
    plain(ev.entity_type) && plain(ev.actor_type) && plain(ev.environment) && plain(ev.severity) &&
    plain(ev.id) && plain(ev.payload_hash) && plain(ev.previous_hash) && plain(ev.timestamp)
  ) {
    if (ev.entity_name !== undefined) {
      return `{"action":"${ev.action}","actor_id":"${ev.actor_id}","actor_type":"${ev.actor_type}","domain":"${ev.domain}","entity_id":"${ev.entity_id}","entity_name":"${ev.entity_name}","entity_type":"${ev.entity_type}","environment":"${ev.environment}","event_type":"${ev.event_type}","id":"${ev.id}","organization_id":"${ev.organization_id}","payload_hash":"${ev.payload_hash}","previous_hash":"${ev.previous_hash}","seq":${ev.seq},"severity":"${ev.severity}","timestamp":"${ev.timestamp}"}`;
    }
    return `{"action":"${ev.action}","actor_id":"${ev.actor_id}","actor_type":"${ev.actor_type}","domain":"${ev.domain}","entity_id":"${ev.entity_id}","entity_type":"${ev.entity_type}","environment":"${ev.environment}","event_type":"${ev.event_type}","id":"${ev.id}","organization_id":"${ev.organization_id}","payload_hash":"${ev.payload_hash}","previous_hash":"${ev.previous_hash}","seq":${ev.seq},"severity":"${ev.severity}","timestamp":"${ev.timestamp}"}`;
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

/** Whether a string's JSON text is just the string between quotes (nothing to escape). */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return false;
  }
  return true;
}

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
