/**
 * Which addresses may be served without keys (DESIGN §7): an unauthenticated daemon is
 * allowed only where nothing but this machine can reach it.
 */
import { isIP } from 'node:net';
import { SpineError } from '../errors';
import type { AuthMode } from './guard';

/** Whether `host` is a loopback address or name (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export interface ListenerSettings {
  host: string;
  auth: { mode: AuthMode; allowUnauthenticatedNetwork: boolean };
}

/**
 * Refuses (CONFIG_INVALID) auth.mode "none" on an address beyond loopback, unless the
 * override is set; returns the warning to log when it is.
 */
export function listenerPolicy(c: ListenerSettings): string | undefined {
  if (c.auth.mode !== 'none' || isLoopback(c.host)) return undefined;
  if (!c.auth.allowUnauthenticatedNetwork) {
    throw new SpineError(
      'CONFIG_INVALID',
      `host is ${c.host}, beyond loopback, and auth.mode is "none": anyone who can reach it could read and write every event. Set auth.mode "keys" with auth.keysFile, or bind 127.0.0.1; only on a trusted private network, set auth.allowUnauthenticatedNetwork true`,
      { field: 'auth.mode' },
    );
  }
  return `UNAUTHENTICATED daemon listening on ${c.host} beyond loopback (auth.allowUnauthenticatedNetwork is true): every caller that reaches it may read and write every event`;
}
