/**
 * Query latency and open time against store size: stores of 100k and 1M ~400-byte events
 * (10M with --huge), each entity holding 100 events scattered through the log. Measures
 * 100-event entity-history queries (p50/p99), a time-range page, a full-store open and
 * the reopen after the index is deleted (rebuild).
 *
 *   node dist/bench/query.js [--sizes 100000,1000000] [--queries 500] [--out FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, type StoreOptions } from '../src/store';
import { corpusEvent } from './corpus';
import { conditions, percentile, round } from './stats';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

function options(dataDir: string): StoreOptions {
  return {
    dataDir,
    segmentBytes: 128 * 1024 * 1024,
    durability: 'fsync',
    defaultOrganizationId: 'default',
    defaultEnvironment: 'prod',
    maxPayloadBytes: 65536,
    maxBatchEvents: 10_000,
  };
}

async function fill(store: Store, total: number): Promise<number> {
  const entities = total / 100;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < total) {
        const batch = [];
        for (let k = 0; k < 1000 && next < total; k++, next++) batch.push({ ...corpusEvent(next), entity_type: undefined, event_type: 'hcm.employee.updated', entity_id: `emp-${next % entities}` });
        await store.append(batch);
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

async function timeQueries(store: Store, total: number, n: number): Promise<{ p50: number; p99: number; items: number }> {
  const entities = total / 100;
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < n; i++) {
    const id = `emp-${Math.floor(Math.random() * entities)}`;
    const t0 = performance.now();
    const page = await store.query({ entity_type: 'employee', entity_id: id }, { limit: 100, order: 'desc' });
    times.push(performance.now() - t0);
    items += page.items.length;
  }
  times.sort((a, b) => a - b);
  return { p50: round(percentile(times, 50), 3), p99: round(percentile(times, 99), 3), items: items / n };
}

async function main(): Promise<void> {
  const sizes = (process.argv.includes('--huge') ? '100000,1000000,10000000' : arg('--sizes', '100000,1000000')).split(',').map(Number);
  const queries = Number(arg('--queries', '500'));
  const out = arg('--out', '');
  const cond = conditions({ durability: 'fsync', history_events: 100 });
  console.log(JSON.stringify(cond));
  const rows = [];
  for (const size of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'es-bench-query-'));
    let store = await Store.open(options(dir));
    const fillS = await fill(store, size);
    await store.close();
    let t0 = performance.now();
    store = await Store.open(options(dir));
    const openMs = performance.now() - t0;
    const entity = await timeQueries(store, size, queries);
    // A one-hour time range (the whole store here), first page of 100, newest first.
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const q0 = performance.now();
      await store.query({ since }, { limit: 100, order: 'desc' });
      times.push(performance.now() - q0);
    }
    times.sort((a, b) => a - b);
    await store.close();
    rmSync(join(dir, 'index'), { recursive: true, force: true });
    t0 = performance.now();
    store = await Store.open(options(dir));
    const rebuildMs = performance.now() - t0;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    const row = {
      events: size,
      fill_s: round(fillS),
      fill_events_per_s: Math.round(size / fillS),
      open_ms: round(openMs),
      entity_history_p50_ms: entity.p50,
      entity_history_p99_ms: entity.p99,
      entity_history_items: entity.items,
      time_range_page_p50_ms: round(percentile(times, 50), 3),
      time_range_page_p99_ms: round(percentile(times, 99), 3),
      rebuild_ms: round(rebuildMs),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  if (out !== '') writeFileSync(out, JSON.stringify({ conditions: cond, rows }, null, 2));
}

void main();
