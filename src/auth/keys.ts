/**
 * API keys (DESIGN §7). A key is a random secret given to one caller; the daemon keeps only
 * its SHA-256, in the keys file, with what the key may do:
 *
 *   {
 *     "keys": [
 *       {
 *         "id": "billing-ingest",              // a name for logs and metrics, never secret
 *         "hash": "sha256:9f86d0…",            // SHA-256 of the secret, hex
 *         "scopes": ["append", "read"],        // append | read | admin
 *         "organizations": ["acme"],           // optional: the only tenants it sees and writes
 *         "actor_id": "billing-service",       // optional: every event it appends is by this actor
 *         "actor_type": "system",              // optional: … and of this actor type
 *         "rate_limit_per_second": 500,        // optional: overrides auth.rateLimitPerSecond
 *         "max_streams": 16                    // optional: overrides auth.maxStreamsPerKey
 *       }
 *     ]
 *   }
 *
 * Secrets are 32 random bytes, so a plain SHA-256 is enough (no password stretching: the
 * secret is not guessable); lookups go by hash, so a secret is never compared in the clear.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SpineError } from '../errors';
import { ACTOR_TYPES, type ActorType } from '../event';

export const SCOPES = ['append', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  /** `sha256:<64 hex digits>` of the secret. */
  hash: string;
  scopes: ReadonlySet<Scope>;
  /** The only organizations the key sees and appends to; undefined: every one. */
  organizations: readonly string[] | undefined;
  /** The actor every event appended with the key must name (filled in where absent). */
  actor_id: string | undefined;
  actor_type: ActorType | undefined;
  rateLimitPerSecond: number | undefined;
  maxStreams: number | undefined;
}

/** The prefix of every secret made by `event-spine keys new`, so leaked keys are recognisable. */
export const SECRET_PREFIX = 'esk_';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HASH = /^sha256:[0-9a-f]{64}$/;
const KEY_FIELDS = ['id', 'hash', 'scopes', 'organizations', 'actor_id', 'actor_type', 'rate_limit_per_second', 'max_streams'];

/** `sha256:<hex>` of a secret, as stored in the keys file. */
export function hashSecret(secret: string): string {
  return 'sha256:' + createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A new secret: `esk_` and 43 base64url characters (256 random bits). */
export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

function invalid(file: string, field: string, message: string): SpineError {
  return new SpineError('CONFIG_INVALID', `keys file ${file}: ${field} ${message}`, { field });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function textField(file: string, field: string, v: unknown): string {
  // eslint-disable-next-line no-control-regex
  if (typeof v !== 'string' || v === '' || v.length > 256 || /[\u0000-\u001f\u007f]/.test(v)) {
    throw invalid(file, field, 'must be a non-empty string of at most 256 characters without control characters');
  }
  return v;
}

function countField(file: string, field: string, v: unknown, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > 10_000_000) throw invalid(file, field, `must be an integer from ${min} to 10000000`);
  return v;
}

/** Checks one entry of the keys file; errors name `keys[i].field`. */
function parseKey(file: string, entry: unknown, at: string): ApiKey {
  if (!isObject(entry)) throw invalid(file, at, 'must be an object with id, hash and scopes');
  for (const key of Object.keys(entry)) {
    if (!KEY_FIELDS.includes(key)) throw invalid(file, `${at}.${key}`, `is not a key field; the fields are ${KEY_FIELDS.join(', ')}`);
  }
  const id = entry.id;
  if (typeof id !== 'string' || !ID.test(id)) throw invalid(file, `${at}.id`, 'must be 1 to 64 letters, digits, ".", "_" or "-"');
  if (typeof entry.hash !== 'string' || !HASH.test(entry.hash)) {
    throw invalid(file, `${at}.hash`, 'must be "sha256:" and 64 lowercase hex digits (the SHA-256 of the secret; `event-spine keys new` prints one)');
  }
  const scopes = entry.scopes;
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) {
    throw invalid(file, `${at}.scopes`, `must be a non-empty list of ${SCOPES.join(', ')}`);
  }
  let organizations: string[] | undefined;
  if (entry.organizations !== undefined) {
    if (!Array.isArray(entry.organizations) || entry.organizations.length === 0) {
      throw invalid(file, `${at}.organizations`, 'must be a non-empty list of organization ids (leave it out for every organization)');
    }
    organizations = entry.organizations.map((o, i) => textField(file, `${at}.organizations[${i}]`, o));
  }
  const actorType = entry.actor_type;
  if (actorType !== undefined && !(ACTOR_TYPES as readonly unknown[]).includes(actorType)) {
    throw invalid(file, `${at}.actor_type`, `must be one of ${ACTOR_TYPES.join(', ')}`);
  }
  return {
    id,
    hash: entry.hash,
    scopes: new Set(scopes as Scope[]),
    organizations,
    actor_id: entry.actor_id === undefined ? undefined : textField(file, `${at}.actor_id`, entry.actor_id),
    actor_type: actorType as ActorType | undefined,
    rateLimitPerSecond: countField(file, `${at}.rate_limit_per_second`, entry.rate_limit_per_second, 1),
    maxStreams: countField(file, `${at}.max_streams`, entry.max_streams, 1),
  };
}

/** Parses the text of a keys file; a bad entry is CONFIG_INVALID naming `keys[i].field`. */
export function parseKeys(text: string, file: string): ApiKey[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SpineError('CONFIG_INVALID', `keys file ${file} is not valid JSON: ${(err as Error).message}`, { field: 'auth.keysFile' });
  }
  if (!isObject(json) || !Array.isArray(json.keys)) throw invalid(file, 'keys', 'must be a list: the file holds {"keys": [ … ]}');
  const keys = json.keys.map((entry, i) => parseKey(file, entry, `keys[${i}]`));
  const ids = new Set<string>();
  const hashes = new Set<string>();
  for (const [i, key] of keys.entries()) {
    if (ids.has(key.id)) throw invalid(file, `keys[${i}].id`, `${JSON.stringify(key.id)} is used twice; ids name keys in logs and must be unique`);
    if (hashes.has(key.hash)) throw invalid(file, `keys[${i}].hash`, 'is the hash of another key: one secret cannot have two sets of rights');
    ids.add(key.id);
    hashes.add(key.hash);
  }
  return keys;
}

export function readKeysFile(file: string): ApiKey[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpineError('CONFIG_INVALID', `keys file ${file} cannot be read: ${(err as Error).message}`, { field: 'auth.keysFile', cause: err });
  }
  return parseKeys(text, file);
}
