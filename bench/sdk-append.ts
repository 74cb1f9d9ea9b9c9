/**
 * The SDK's acknowledged-append path end to end: single-event producers, each awaiting its
 * own acknowledgement from `EventSpineClient.emit()` before emitting the next, against a
 * daemon in a child process (fresh data directory, port 0, fsync durability). The client
 * gathers concurrent emits into AppendStream requests; the daemon group-commits them.
 * Reports events/s and p50/p99 acknowledgement latency per producer count.
 *
 *   node dist/bench/sdk-append.js [--producers 4,64] [--events 200000] [--events-small 20000]
 *                                 [--max-delay-ms 2] [--durability fsync|write] [--out FILE]
 *
 * `--events` is the total for the largest producer count, `--events-small` for counts
 * below 16 (few producers each waiting for an fsync are latency-bound, not throughput-bound).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { EventSpineClient, type EmitEvent } from '../src/client';
import { packageRoot } from '../src/paths';
import { corpusEvent, corpusEventBytes } from './corpus';
import { conditions, percentile, round } from './stats';

interface Row {
  producers: number;
  events: number;
  elapsed_s: number;
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

interface Daemon {
  proc: ChildProcess;
  grpc: string;
  dataDir: string;
}

async function startDaemon(durability: string): Promise<Daemon> {
  const dataDir = mkdtempSync(join(tmpdir(), 'es-bench-sdk-'));
  const bin = join(packageRoot(), 'bin', 'event-spine.js');
  const proc = spawn(process.execPath, [bin, 'serve', '--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0', '--durability', durability], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const grpc = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon not ready within 30 s')), 30_000);
    proc.once('exit', (code) => reject(new Error(`daemon exited with ${code} before ready`)));
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { msg?: string; grpc?: string };
        if (msg.msg === 'ready' && msg.grpc !== undefined) {
          clearTimeout(timer);
          resolve(msg.grpc);
        }
      } catch {
        // not a log line
      }
    });
  });
  return { proc, grpc, dataDir };
}

async function stopDaemon(d: Daemon): Promise<number | null> {
  const exited = new Promise<number | null>((r) => d.proc.once('exit', (code) => r(code)));
  d.proc.kill('SIGTERM');
  const code = await exited;
  rmSync(d.dataDir, { recursive: true, force: true });
  return code;
}

async function run(producers: number, total: number, durability: string, maxDelayMs: number): Promise<Row> {
  const daemon = await startDaemon(durability);
  const client = new EventSpineClient({ address: daemon.grpc, batch: { maxDelayMs } });
  try {
    // Warm up the connection, the stream and the JIT on both sides.
    await Promise.all(Array.from({ length: producers }, (_, i) => client.emit(corpusEvent(i) as unknown as EmitEvent)));
    const perProducer = Math.ceil(total / producers);
    const latencies = new Float64Array(perProducer * producers);
    let n = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: producers }, async (_, p) => {
        for (let k = 0; k < perProducer; k++) {
          const ev = corpusEvent(producers + p * perProducer + k) as unknown as EmitEvent;
          const s = performance.now();
          await client.emit(ev);
          latencies[n++] = performance.now() - s;
        }
      }),
    );
    const elapsedMs = performance.now() - t0;
    const head = await client.head();
    const expected = producers + perProducer * producers;
    if (head.seq !== expected) throw new Error(`head is ${head.seq}, expected ${expected}`);
    const sorted = Array.from(latencies).sort((a, b) => a - b);
    return {
      producers,
      events: perProducer * producers,
      elapsed_s: round(elapsedMs / 1000),
      events_per_s: Math.round((perProducer * producers) / (elapsedMs / 1000)),
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      max_ms: round(sorted.at(-1) ?? NaN),
    };
  } finally {
    await client.close();
    const code = await stopDaemon(daemon);
    if (code !== 0) console.error(`daemon exited with ${code}`);
  }
}

async function main(): Promise<void> {
  const producerCounts = arg('--producers', '4,64').split(',').map(Number);
  const big = Number(arg('--events', '200000'));
  const small = Number(arg('--events-small', '20000'));
  const durability = arg('--durability', 'fsync');
  const maxDelayMs = Number(arg('--max-delay-ms', '2'));
  const out = arg('--out', join(packageRoot(), 'bench', 'results', 'sdk-append.json'));
  const cond = conditions({
    bench: 'sdk-append',
    durability,
    event_bytes: corpusEventBytes(),
    batch: `client-side: concurrent emits share AppendStream requests (maxEvents 500, maxDelayMs ${maxDelayMs}); server group commit`,
    transport: 'gRPC AppendStream over loopback, daemon in a child process',
    concurrency: 'single-event producers, each awaiting its own acknowledgement',
    // Client and daemon share the machine's cores; other load skews every figure.
    load_average_1m: round(loadavg()[0] ?? NaN),
  });
  console.log(JSON.stringify(cond));
  const rows: Row[] = [];
  for (const producers of producerCounts) {
    const row = await run(producers, producers >= 16 ? big : small, durability, maxDelayMs);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ conditions: cond, rows }, null, 2) + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
