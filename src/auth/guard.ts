/**
 * The gate every call passes (DESIGN §7): it turns the credentials a call presents into a
 * Caller, and holds each key's limits — a token-bucket rate and a count of open streams.
 * It knows how to end each open stream, so that a reload of the keys file ends the streams
 * of the keys it removed or changed (revocation takes effect at once, not at the next call).
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

/**
 * Ends a stream whose key a reload removed or changed (the stream then ends and calls its
 * release). `why` is the UNAUTHENTICATED error the surface ends it with.
 */
export type StreamStop = (why: SpineError) => void;

/** What a reload changed (the key ids, never a secret). */
export interface ReloadOutcome {
  /** Keys in force after it. */
  keys: number;
  /** Ids of keys no longer in the file. */
  removed: string[];
  /** Ids of keys whose entry differs (scopes, organizations, actor, limits or id). */
  changed: string[];
  /** Open streams of removed or changed keys that it ended. */
  streamsEnded: number;
}

/** An open stream: the key it was opened with, and how to end it. */
interface HeldStream {
  readonly key: ApiKey;
  readonly stop: StreamStop | undefined;
  /** A reload has told it to stop (it will release once it has ended). */
  stopping: boolean;
}

/** Where a refusal happened, for the log line and the metric. */
export interface CallSite {
  surface: 'grpc' | 'http';
  /** The RPC (`Append`) or route (`GET /api/events`). */
  call: string;
}

export class Guard {
  private byHash = new Map<string, ApiKey>();
  private readonly buckets = new Map<string, Bucket>();
  /** Open streams by key id: their count is the key's streams in use. */
  private readonly held = new Map<string, Set<HeldStream>>();
  private readonly rateLogAt = new Map<string, number>();

  constructor(private readonly options: GuardOptions) {
    if (options.mode === 'keys') this.setKeys(options.keys ?? readKeysFile(requiredFile(options.keysFile)));
  }

  /** The guard of auth.mode "none": every call is the anonymous caller, without limits. */
  static none(logger: Logger, metrics: SpineMetrics): Guard {
    return new Guard({ mode: 'none', rateLimitPerSecond: 0, rateLimitBurst: 0, maxStreamsPerKey: 1, logger, metrics });
  }

  get mode(): AuthMode {
    return this.options.mode;
  }

  /** Keys in force (0 in auth.mode "none"). */
  get keyCount(): number {
    return this.byHash.size;
  }

  /**
   * Rereads the keys file (SIGHUP): new keys work at once; removed keys are refused from
   * their next call, and every open stream of a key that was removed or changed is ended.
   * A file that does not load throws, and the keys in force stay. Logs one line: what
   * changed (key ids) and how many streams were ended.
   */
  reload(): ReloadOutcome {
    const file = this.options.mode === 'keys' ? this.options.keysFile : undefined;
    let outcome: ReloadOutcome = { keys: this.byHash.size, removed: [], changed: [], streamsEnded: 0 };
    if (file !== undefined) {
      const { removed, changed } = this.setKeys(readKeysFile(file));
      outcome = { keys: this.byHash.size, removed, changed, streamsEnded: this.endRevokedStreams() };
    }
    this.options.logger.info('keys reloaded', { ...outcome });
    return outcome;
  }

  /**
   * Calls the stop of every open stream whose key is no longer in force, once each; returns
   * how many. Runs after the keys are swapped: a stop may run its surface's code at once,
   * which must already see the new keys.
   */
  private endRevokedStreams(): number {
    let ended = 0;
    for (const hold of [...this.held.values()].flatMap((s) => [...s])) {
      if (hold.stop === undefined || hold.stopping || this.inForce(hold.key)) continue;
      hold.stopping = true;
      ended += 1;
      try {
        hold.stop(revokedError(hold.key, this.byHash.has(hold.key.hash)));
      } catch (err) {
        this.options.logger.error('a stream of a revoked key did not stop cleanly', { key: hold.key.id, err });
      }
    }
    return ended;
  }

  /**
   * Puts `keys` in force. An entry equal to the one in force keeps its object, so a Caller
   * authenticated before the reload still holds the key in force exactly when its rights
   * are unchanged. Rate buckets of removed and changed keys start afresh.
   */
  private setKeys(keys: readonly ApiKey[]): { removed: string[]; changed: string[] } {
    const previous = this.byHash;
    this.byHash = new Map(keys.map((k) => {
      const old = previous.get(k.hash);
      return [k.hash, old !== undefined && sameKey(old, k) ? old : k];
    }));
    const removed: string[] = [];
    const changed: string[] = [];
    for (const old of previous.values()) {
      if (this.inForce(old)) continue;
      (this.byHash.has(old.hash) ? changed : removed).push(old.id);
      this.buckets.delete(old.id);
    }
    return { removed, changed };
  }

  /** Whether `key` is still in force as it is (not removed, not changed by a reload). */
  private inForce(key: ApiKey): boolean {
    return this.byHash.get(key.hash) === key;
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
   * once, when the stream ends; calling it again does nothing). RATE_LIMITED when the key
   * already holds its maximum; UNAUTHENTICATED when a reload removed or changed the key
   * since the call was authenticated. `stop` ends the stream should a reload remove or
   * change its key; the stream still calls the release once it has ended.
   */
  openStream(caller: Caller, stop?: StreamStop): () => void {
    const key = caller.key;
    if (key === undefined) return () => undefined;
    if (!this.inForce(key)) throw revokedError(key, this.byHash.has(key.hash));
    const max = key.maxStreams ?? this.options.maxStreamsPerKey;
    const open = this.openStreams(key.id);
    if (open >= max) {
      throw new SpineError('RATE_LIMITED', `key ${key.id} already holds ${open} open streams, its limit (max_streams or auth.maxStreamsPerKey); close one first`, { retryAfterMs: 1000 });
    }
    const hold: HeldStream = { key, stop, stopping: false };
    let holds = this.held.get(key.id);
    if (holds === undefined) this.held.set(key.id, (holds = new Set()));
    holds.add(hold);
    return () => {
      if (!holds.delete(hold)) return; // released already
      if (holds.size === 0 && this.held.get(key.id) === holds) this.held.delete(key.id);
    };
  }

  /** Streams open for a key id (tests, metrics). */
  openStreams(keyId: string): number {
    return this.held.get(keyId)?.size ?? 0;
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

/** Why a stream of `key` ends, or may not open: a reload removed its entry, or changed it. */
function revokedError(key: ApiKey, changed: boolean): SpineError {
  return changed
    ? new SpineError('UNAUTHENTICATED', `key ${key.id} was changed in the keys file (reloaded): streams opened with its previous rights are ended; open the stream again`)
    : new SpineError('UNAUTHENTICATED', `key ${key.id} was revoked: it is no longer in the keys file (reloaded)`);
}

/** Whether two entries of one hash give the same rights and limits (and the same id, which counts its streams). */
function sameKey(a: ApiKey, b: ApiKey): boolean {
  return (
    a.id === b.id &&
    a.hash === b.hash &&
    sameSet(a.scopes, b.scopes) &&
    (a.organizations === undefined ? b.organizations === undefined : b.organizations !== undefined && sameSet(new Set(a.organizations), new Set(b.organizations))) &&
    a.actor_id === b.actor_id &&
    a.actor_type === b.actor_type &&
    a.rateLimitPerSecond === b.rateLimitPerSecond &&
    a.maxStreams === b.maxStreams
  );
}

function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

function requiredFile(file: string | undefined): string {
  if (file === undefined) throw new SpineError('CONFIG_INVALID', 'auth.mode is "keys" but auth.keysFile is empty', { field: 'auth.keysFile' });
  return file;
}
