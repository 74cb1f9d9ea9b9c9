/**
 * The gate every call passes (DESIGN §7): it turns the credentials a call presents into a
 * Caller, and holds each key's limits — a token-bucket rate and a count of open streams.
 * Refusals are logged and counted by key id, never with a secret.
 */
import { SpineError, isSpineError } from '../errors';
import type { Logger, SpineMetrics } from '../observability';
import { Caller } from './caller';
import { hashSecret, readKeysFile, type ApiKey } from './keys';

export type AuthMode = 'none' | 'keys';

export interface GuardOptions {
  mode: AuthMode;
  /** auth.mode "keys": the keys file, read now and on reload(). */
  keysFile?: string;
  /** Instead of keysFile (tests, embedding). */
  keys?: readonly ApiKey[];
  /** Calls per second of a key without its own; 0: none. */
  rateLimitPerSecond: number;
  /** Bucket size; 0: one second of the rate. */
  rateLimitBurst: number;
  maxStreamsPerKey: number;
  logger: Logger;
  metrics: SpineMetrics;
}

/** The settings of the `auth` group that a Guard needs (a slice of Config). */
export interface AuthSettings {
  mode: AuthMode;
  keysFile: string;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  maxStreamsPerKey: number;
}

export function guardOptions(auth: AuthSettings, logger: Logger, metrics: SpineMetrics): GuardOptions {
  return { ...auth, ...(auth.keysFile === '' ? {} : { keysFile: auth.keysFile }), logger, metrics };
}

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
class Bucket {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes one token, or returns how many ms until one is there. */
  take(): number {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) * 1000) / this.rate;
  }
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/** Where a refusal happened, for the log line and the metric. */
export interface CallSite {
  surface: 'grpc' | 'http';
  /** The RPC (`Append`) or route (`GET /api/events`). */
  call: string;
}

export class Guard {
  private byHash = new Map<string, ApiKey>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly streams = new Map<string, number>();
  private readonly rateLogAt = new Map<string, number>();

  constructor(private readonly options: GuardOptions) {
    if (options.mode === 'keys') this.setKeys(options.keys ?? readKeysFile(requiredFile(options.keysFile)));
  }

  get mode(): AuthMode {
    return this.options.mode;
  }

  /** Keys in force (0 in auth.mode "none"). */
  get keyCount(): number {
    return this.byHash.size;
  }

  /** Rereads the keys file (SIGHUP): new keys work at once, removed ones stop at their next call. */
  reload(): number {
    if (this.options.mode !== 'keys' || this.options.keysFile === undefined) return this.byHash.size;
    this.setKeys(readKeysFile(this.options.keysFile));
    return this.byHash.size;
  }

  private setKeys(keys: readonly ApiKey[]): void {
    this.byHash = new Map(keys.map((k) => [k.hash, k]));
    for (const id of this.buckets.keys()) if (!keys.some((k) => k.id === id)) this.buckets.delete(id);
  }

  /**
   * The Caller of an `Authorization` value (`Bearer <secret>`), or UNAUTHENTICATED. In
   * auth.mode "none" every call is the anonymous caller and credentials are ignored.
   */
  authenticate(authorization: string | undefined): Caller {
    if (this.options.mode === 'none') return Caller.anonymous;
    if (authorization === undefined || authorization === '') {
      throw new SpineError('UNAUTHENTICATED', 'an API key is required: send "authorization: Bearer <key>"');
    }
    const m = BEARER.exec(authorization);
    if (m === null) throw new SpineError('UNAUTHENTICATED', 'the authorization value must be "Bearer <key>"');
    const key = this.byHash.get(hashSecret(m[1] as string));
    if (key === undefined) throw new SpineError('UNAUTHENTICATED', 'the API key is not valid (unknown, or removed from the keys file)');
    return new Caller(key);
  }

  /** Charges one call to the caller's rate limit; RATE_LIMITED with a retry delay past it. */
  admit(caller: Caller): void {
    const key = caller.key;
    if (key === undefined) return;
    const rate = key.rateLimitPerSecond ?? this.options.rateLimitPerSecond;
    if (rate === 0) return;
    let bucket = this.buckets.get(key.id);
    if (bucket === undefined) {
      const burst = key.rateLimitPerSecond === undefined && this.options.rateLimitBurst > 0 ? this.options.rateLimitBurst : Math.max(1, rate);
      bucket = new Bucket(rate, burst);
      this.buckets.set(key.id, bucket);
    }
    const waitMs = bucket.take();
    if (waitMs > 0) {
      throw new SpineError('RATE_LIMITED', `key ${key.id} is over its rate limit of ${rate} calls per second; retry after ${Math.ceil(waitMs)} ms`, { retryAfterMs: waitMs });
    }
  }

  /**
   * Counts a long-lived stream against the caller's limit; returns its release (call it
   * once, when the stream ends). RATE_LIMITED when the key already holds its maximum.
   */
  openStream(caller: Caller): () => void {
    const key = caller.key;
    if (key === undefined) return () => undefined;
    const max = key.maxStreams ?? this.options.maxStreamsPerKey;
    const open = this.streams.get(key.id) ?? 0;
    if (open >= max) {
      throw new SpineError('RATE_LIMITED', `key ${key.id} already holds ${open} open streams, its limit (max_streams or auth.maxStreamsPerKey); close one first`, { retryAfterMs: 1000 });
    }
    this.streams.set(key.id, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.streams.get(key.id) ?? 1) - 1;
      if (n === 0) this.streams.delete(key.id);
      else this.streams.set(key.id, n);
    };
  }

  /** Streams open for a key id (tests, metrics). */
  openStreams(keyId: string): number {
    return this.streams.get(keyId) ?? 0;
  }

  /**
   * Logs and counts a call refused for authentication, permission or limits (other errors
   * are not the guard's); the key id is logged, never the secret.
   */
  noteFailure(err: unknown, caller: Caller | undefined, site: CallSite): void {
    if (!isSpineError(err) || !DENIALS.has(err.code)) return;
    const key = caller?.keyId ?? 'none';
    this.options.metrics.authDenials.inc({ surface: site.surface, code: err.code, key });
    if (err.code === 'RATE_LIMITED') {
      // A caller over its limit retries in a loop: one line a second per key is enough.
      const now = Date.now();
      if (now - (this.rateLogAt.get(key) ?? 0) < 1000) return;
      this.rateLogAt.set(key, now);
    }
    this.options.logger.warn('call refused', { surface: site.surface, call: site.call, key, code: err.code, reason: err.message });
  }
}

const DENIALS = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED', 'RATE_LIMITED']);

function requiredFile(file: string | undefined): string {
  if (file === undefined) throw new SpineError('CONFIG_INVALID', 'auth.mode is "keys" but auth.keysFile is empty', { field: 'auth.keysFile' });
  return file;
}
