/**
 * API keys for tests: a keys file written into the test's directory, and each key's secret.
 *
 *   const keys = writeKeys(t, {
 *     admin: { scopes: ['append', 'read', 'admin'] },
 *     acme: { scopes: ['append', 'read'], organizations: ['acme'], actor_id: 'svc-acme' },
 *   });
 *   keys.file            // pass as --keys-file (with --auth-mode keys)
 *   keys.secret.acme     // "esk_…": send as "authorization: Bearer <secret>"
 *   keys.bearer('acme')  // "Bearer esk_…"
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { hashSecret, newSecret, type Scope } from '../../src/auth';

export interface KeySpec {
  scopes: Scope[];
  organizations?: string[];
  actor_id?: string;
  actor_type?: 'human' | 'system' | 'pipeline';
  rate_limit_per_second?: number;
  max_streams?: number;
}

/**
 * The tenants of the access tests of both surfaces: an admin of everything, two tenants
 * (acme's key bound to an actor), single-scope keys and an admin limited to acme.
 */
export const TENANT_KEYS: Readonly<Record<string, KeySpec>> = {
  admin: { scopes: ['append', 'read', 'admin'] },
  acme: { scopes: ['append', 'read'], organizations: ['acme'], actor_id: 'svc-acme' },
  globex: { scopes: ['append', 'read'], organizations: ['globex'] },
  readonly: { scopes: ['read'] },
  appendonly: { scopes: ['append'] },
  acmeadmin: { scopes: ['admin', 'read'], organizations: ['acme'] },
};

export interface TestKeys {
  file: string;
  secret: Record<string, string>;
  bearer(id: string): string;
  /** Daemon flags that turn keys on with this file. */
  args: string[];
}

export function writeKeys(t: Test, specs: Record<string, KeySpec>, dir: string = t.testdir()): TestKeys {
  const secret: Record<string, string> = {};
  const keys = Object.entries(specs).map(([id, spec]) => {
    secret[id] = newSecret();
    return { id, hash: hashSecret(secret[id] as string), ...spec };
  });
  const file = join(dir, `keys-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ keys }, null, 2));
  return {
    file,
    secret,
    bearer: (id) => {
      const s = secret[id];
      if (s === undefined) throw new TypeError(`no test key ${id}`);
      return `Bearer ${s}`;
    },
    args: ['--auth-mode', 'keys', '--keys-file', file],
  };
}
