/**
 * Closed-loop producers: each of `producers` loops "build → send → await the
 * acknowledgement" until the shared count is used up or the deadline passes, and every
 * acknowledgement's latency is recorded. Runs are bounded in count and in time.
 */
import { percentile, round } from '../stats';

export interface LoopResult {
  events: number;
  requests: number;
  elapsed_s: number;
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** True when the deadline stopped the run before the count was reached. */
  timed_out: boolean;
}

export interface LoopSpec {
  producers: number;
  /** Events in all. */
  total: number;
  /** Events per request (1 for single-event producers). */
  batch: number;
  /** Stop starting new requests after this long. */
  deadlineMs: number;
  /** Sends events [first, first + count) as one request and resolves on its acknowledgement. */
  send: (producer: number, first: number, count: number) => Promise<void>;
}

export async function closedLoop(spec: LoopSpec): Promise<LoopResult> {
  const latencies: number[] = [];
  let next = 0;
  let done = 0;
  let timedOut = false;
  const t0 = performance.now();
  const stopAt = t0 + spec.deadlineMs;
  await Promise.all(
    Array.from({ length: spec.producers }, async (_, p) => {
      for (;;) {
        if (next >= spec.total) return;
        if (performance.now() > stopAt) {
          timedOut = true;
          return;
        }
        const first = next;
        const count = Math.min(spec.batch, spec.total - first);
        next += count;
        const s = performance.now();
        await spec.send(p, first, count);
        latencies.push(performance.now() - s);
        done += count;
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return {
    events: done,
    requests: latencies.length,
    elapsed_s: round(elapsedMs / 1000, 3),
    events_per_s: Math.round(done / (elapsedMs / 1000)),
    p50_ms: round(percentile(latencies, 50), 3),
    p99_ms: round(percentile(latencies, 99), 3),
    max_ms: round(latencies.at(-1) ?? NaN, 3),
    timed_out: timedOut,
  };
}

/**
 * Times `n` calls of `fn` one after another: p50/p99/mean in ms. First come untimed calls
 * (`fn(-1)` … `fn(-warmup)`, over again) until there were at least `warmup` of them and
 * `warmupMs` have passed.
 */
export async function timeCalls(n: number, warmup: number, fn: (i: number) => Promise<number>, warmupMs = 0): Promise<{ p50_ms: number; p99_ms: number; mean_ms: number; items: number; calls: number }> {
  const warmUntil = performance.now() + warmupMs;
  for (let i = 0; i < warmup || performance.now() < warmUntil; i++) await fn(-1 - (i % Math.max(1, warmup)));
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    items += await fn(i);
    times.push(performance.now() - s);
  }
  const mean = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
  times.sort((a, b) => a - b);
  return { p50_ms: round(percentile(times, 50), 3), p99_ms: round(percentile(times, 99), 3), mean_ms: round(mean, 3), items: round(items / Math.max(1, n), 1), calls: n };
}

/** A deterministic pseudo-random sequence (the same queries for every system). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fills a store: `writers` concurrent loops sending batches of `batch` events made by
 * `make(i)`, i = 0 … total-1. Returns the time it took and the wall-clock window of the
 * writes (the W3 time-range queries pick their start inside it).
 */
export async function fillConcurrently<E>(
  total: number,
  batch: number,
  writers: number,
  make: (i: number) => E,
  send: (writer: number, events: E[]) => Promise<void>,
  progress?: (done: number) => void,
): Promise<{ fill_s: number; first_ms: number; last_ms: number }> {
  let next = 0;
  let done = 0;
  let lastReport = 0;
  const first = Date.now();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (next < total) {
        const from = next;
        const n = Math.min(batch, total - from);
        next += n;
        const events: E[] = new Array<E>(n);
        for (let k = 0; k < n; k++) events[k] = make(from + k);
        await send(w, events);
        done += n;
        if (progress !== undefined && done - lastReport >= total / 10) {
          lastReport = done;
          progress(done);
        }
      }
    }),
  );
  return { fill_s: round((performance.now() - t0) / 1000, 2), first_ms: first, last_ms: Date.now() };
}

/** Failures of one system in one workload: recorded, reported, and the run goes on. */
export const failures: { workload: string; system: string; error: string }[] = [];

export async function guarded(workload: string, system: string, log: (msg: string) => void, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    failures.push({ workload, system, error });
    log(`  ${workload} ${system} FAILED: ${error}`);
  }
}
