/** Deterministic test data: a seeded PRNG and store-option shorthands. */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tap from 'tap';
import { Store, type StoreOptions } from '../../src/store';
import { storeDefaults } from './store';

/** mulberry32: small, fast and seeded, so a failing case can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(rand: () => number, values: readonly T[]): T {
  return values[Math.floor(rand() * values.length)] as T;
}

export function randomBytes(rand: () => number, n: number): Buffer {
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i++) buf[i] = Math.floor(rand() * 256);
  return buf;
}

/** A UUID derived from a counter, so another process can recompute it. */
export function counterId(k: number): string {
  return `00000000-0000-4000-8000-${k.toString(16).padStart(12, '0')}`;
}

export function storeOptions(dataDir: string, more: Partial<StoreOptions> = {}): StoreOptions {
  return { ...storeDefaults, ...more, dataDir };
}

export function openAt(dataDir: string, more: Partial<StoreOptions> = {}): Promise<Store> {
  return Store.open(storeOptions(dataDir, more));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A fresh directory under the OS temp dir. Unlike t.testdir() its name is unique per run,
 * so two test runs in one checkout (two sessions, or `npm test` beside a single file) never
 * share a store. It is removed when the whole file is done: after every subtest's own
 * teardown (closing its stores), whatever order those run in.
 */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'event-spine-test-'));
  tap.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
