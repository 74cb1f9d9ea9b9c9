/**
 * The keys file (the format is at the top of src/auth/keys.ts): what a valid entry becomes,
 * and every refusal naming `keys[i].field`, so an operator finds the line to fix.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SECRET_PREFIX, hashSecret, newSecret, parseKeys, readKeysFile } from '../../src/auth';

const HASH_A = hashSecret('secret-a');
const HASH_B = hashSecret('secret-b');

/** The keys file holding `entries`, parsed. */
const parse = (entries: unknown[]): ReturnType<typeof parseKeys> => parseKeys(JSON.stringify({ keys: entries }), 'keys.json');
const valid = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 'k', hash: HASH_A, scopes: ['read'], ...over });

t.test('hashSecret and newSecret', async (t) => {
  t.equal(hashSecret('test'), 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'SHA-256 of the UTF-8 bytes, hex');
  const a = newSecret();
  t.match(a, new RegExp(`^${SECRET_PREFIX}[A-Za-z0-9_-]{43}$`));
  t.not(a, newSecret());
});

t.test('a full entry and a minimal one', async (t) => {
  const [full, minimal] = parse([
    { id: 'billing-ingest', hash: HASH_A, scopes: ['append', 'read'], organizations: ['acme'], actor_id: 'billing-service', actor_type: 'system', rate_limit_per_second: 500, max_streams: 16 },
    { id: 'auditor.1', hash: HASH_B, scopes: ['admin'] },
  ]);
  t.same(full, {
    id: 'billing-ingest',
    hash: HASH_A,
    scopes: new Set(['append', 'read']),
    organizations: ['acme'],
    actor_id: 'billing-service',
    actor_type: 'system',
    rateLimitPerSecond: 500,
    maxStreams: 16,
  });
  t.same([...(full?.scopes ?? [])], ['append', 'read']);
  t.same(minimal, { id: 'auditor.1', hash: HASH_B, scopes: new Set(['admin']), organizations: undefined, actor_id: undefined, actor_type: undefined, rateLimitPerSecond: undefined, maxStreams: undefined });
  t.same(parse([]), [], 'an empty list: no key lets anyone in');
});

t.test('every refusal is CONFIG_INVALID naming keys[i].field', async (t) => {
  const cases: [string, unknown[], string][] = [
    ['an entry that is not an object', [valid(), 'k2'], 'keys[1]'],
    ['an unknown field', [valid({ scope: ['read'] })], 'keys[0].scope'],
    ['id missing', [{ hash: HASH_A, scopes: ['read'] }], 'keys[0].id'],
    ['id with a space', [valid({ id: 'has space' })], 'keys[0].id'],
    ['id over 64 characters', [valid({ id: 'k'.repeat(65) })], 'keys[0].id'],
    ['hash missing', [{ id: 'k', scopes: ['read'] }], 'keys[0].hash'],
    ['hash in upper case', [valid({ hash: HASH_A.toUpperCase() })], 'keys[0].hash'],
    ['hash without its prefix', [valid({ hash: HASH_A.slice('sha256:'.length) })], 'keys[0].hash'],
    ['hash one digit short', [valid({ hash: HASH_A.slice(0, -1) })], 'keys[0].hash'],
    ['a secret where the hash goes', [valid({ hash: newSecret() })], 'keys[0].hash'],
    ['scopes missing', [{ id: 'k', hash: HASH_A }], 'keys[0].scopes'],
    ['scopes empty', [valid({ scopes: [] })], 'keys[0].scopes'],
    ['an unknown scope', [valid({ scopes: ['read', 'write'] })], 'keys[0].scopes'],
    ['scopes as a string', [valid({ scopes: 'read' })], 'keys[0].scopes'],
    ['organizations empty', [valid({ organizations: [] })], 'keys[0].organizations'],
    ['organizations as a string', [valid({ organizations: 'acme' })], 'keys[0].organizations'],
    ['an empty organization', [valid({ organizations: ['acme', ''] })], 'keys[0].organizations[1]'],
    ['an organization with a control character', [valid({ organizations: ['ac\nme'] })], 'keys[0].organizations[0]'],
    ['actor_id empty', [valid({ actor_id: '' })], 'keys[0].actor_id'],
    ['actor_id a number', [valid({ actor_id: 7 })], 'keys[0].actor_id'],
    ['an unknown actor_type', [valid({ actor_type: 'robot' })], 'keys[0].actor_type'],
    ['rate_limit_per_second 0', [valid({ rate_limit_per_second: 0 })], 'keys[0].rate_limit_per_second'],
    ['rate_limit_per_second a fraction', [valid({ rate_limit_per_second: 1.5 })], 'keys[0].rate_limit_per_second'],
    ['rate_limit_per_second as text', [valid({ rate_limit_per_second: '5' })], 'keys[0].rate_limit_per_second'],
    ['max_streams 0', [valid({ max_streams: 0 })], 'keys[0].max_streams'],
    ['the same id twice', [valid(), valid({ hash: HASH_B })], 'keys[1].id'],
    ['the same hash twice (one secret, two sets of rights)', [valid(), valid({ id: 'k2', scopes: ['admin'] })], 'keys[1].hash'],
    ['a later bad entry', [valid(), valid({ id: 'k2', hash: HASH_B }), valid({ id: 'k3', hash: hashSecret('c'), scopes: ['root'] })], 'keys[2].scopes'],
  ];
  for (const [what, entries, field] of cases) {
    t.throws(() => parse(entries), { code: 'CONFIG_INVALID', field, message: new RegExp(`^keys file keys\\.json: ${field.replace(/[[\].]/g, '\\$&')} `) }, what);
  }
});

t.test('the file as a whole', async (t) => {
  t.throws(() => parseKeys('{"keys": [', 'keys.json'), { code: 'CONFIG_INVALID', field: 'auth.keysFile', message: /not valid JSON/ }, 'not JSON');
  t.throws(() => parseKeys('[]', 'keys.json'), { code: 'CONFIG_INVALID', field: 'keys' }, 'a list instead of {"keys": […]}');
  t.throws(() => parseKeys('{"key": []}', 'keys.json'), { code: 'CONFIG_INVALID', field: 'keys' }, 'no keys list');
  const dir = t.testdir();
  t.throws(() => readKeysFile(join(dir, 'missing.json')), { code: 'CONFIG_INVALID', field: 'auth.keysFile', message: /cannot be read/ });
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify({ keys: [valid()] }));
  t.equal(readKeysFile(file)[0]?.id, 'k');
});
