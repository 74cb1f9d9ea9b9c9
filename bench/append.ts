/**
 * In-process append throughput and latency: ~400-byte events, batches of 1/10/100/1000,
 * 1/4/64 concurrent writers, fsync durability. Reports events/s, MB/s, p50/p99
 * acknowledgement latency and the time until the last event is queryable.
 *
 *   node dist/bench/append.js [--events N] [--quick] [--out FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../src/store';
import { corpusEvent, corpusEventBytes } from './corpus';
import { conditions, percentile, round } from './stats';

interface Row {
  batch: number;
  writers: number;
  events: number;
  events_per_s: number;
  mb_per_s: number;
  p50_ms: number;
  p99_ms: number;
  queryable_after_ms: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

export async function runAppend(batch: number, writers: number, total: number, withIds: boolean): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'es-bench-append-'));
  const store = await Store.open({
    dataDir: dir,
    segmentBytes: 128 * 1024 * 1024,
    durability: 'fsync',
    defaultOrganizationId: 'default',
    defaultEnvironment: 'prod',
    maxPayloadBytes: 64 * 1024,
    maxBatchEvents: 10_000,
  });
  const perWriter = Math.ceil(total / writers / batch);
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let r = 0; r < perWriter; r++) {
        const events = [];
        for (let k = 0; k < batch; k++) events.push(corpusEvent(next++, withIds));
        const s = performance.now();
        await store.append(events);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  // Acknowledged means indexed: the last event is queryable now; measure a real query.
  const q0 = performance.now();
  const last = await store.getBySeq(store.head().seq);
  const found = last === undefined ? undefined : await store.query({ entity_type: last.entity_type, entity_id: last.entity_id }, { order: 'desc', limit: 1 });
  if (found?.items[0]?.seq !== last?.seq) throw new Error('last event not queryable');
  const queryableMs = performance.now() - q0;
  const events = perWriter * writers * batch;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    batch,
    writers,
    events,
    events_per_s: Math.round(events / (elapsedMs / 1000)),
    mb_per_s: round((events * corpusEventBytes()) / (elapsedMs / 1000) / 1e6),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    queryable_after_ms: round(queryableMs),
  };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const total = Number(arg('--events', quick ? '50000' : '200000'));
  const withIds = process.argv.includes('--ids');
  const out = arg('--out', '');
  const cond = conditions({ durability: 'fsync', event_bytes: corpusEventBytes(), client_ids: withIds });
  console.log(JSON.stringify(cond));
  const rows: Row[] = [];
  const shapes: [number, number][] = quick ? [[100, 4]] : [[1, 1], [1, 4], [1, 64], [10, 4], [100, 1], [100, 4], [100, 64], [1000, 4]];
  for (const [batch, writers] of shapes) {
    const n = batch === 1 && writers === 1 ? Math.min(total, 5_000) : batch === 1 ? Math.min(total, 50_000) : total;
    const row = await runAppend(batch, writers, n, withIds);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  if (out !== '') writeFileSync(out, JSON.stringify({ conditions: cond, rows }, null, 2));
}

if (require.main === module) void main();
