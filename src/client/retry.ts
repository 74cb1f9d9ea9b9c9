/** Retry timing: exponential backoff with jitter, and sleeps that end early on abort. */

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 20, baseDelayMs: 50, maxDelayMs: 2000 };

/**
 * The wait before try number `failures + 1`: base·2^(failures−1), capped, then "equal
 * jitter" (between half and all of it), so that many clients cut off by one daemon restart
 * do not all come back in the same millisecond.
 */
export function backoffMs(policy: RetryPolicy, failures: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, Math.min(30, failures - 1)));
  return exp / 2 + Math.random() * (exp / 2);
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
