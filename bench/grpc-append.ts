/**
 * gRPC appends end to end: ~400-byte events (bench/corpus.ts) in batches, from concurrent
 * producers, against the daemon in a child process (fresh data directory, port 0, fsync
 * durability by default), over AppendStream (several requests in flight per stream) and
 * over unary Append (one call in flight per producer, or a window). Each producer has its
 * own connection, as separate services would. The client is built from proto/ alone.
 * Reports events/s and p50/p99 request latency (sent → acknowledged).
 *
 *   node dist/bench/grpc-append.js [--events 200000] [--producers 4] [--batch 100]
 *                                  [--window 4] [--durability fsync|write] [--out FILE]
 *                                  [--only AppendStream|Append] [--cpu-prof DIR]
 *
 * `--cpu-prof DIR` writes a V8 CPU profile of the daemon and of this process to DIR.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../src/paths';
import { corpusEvent, corpusEventBytes } from './corpus';
import { removeTempDir, tempDir } from './lib/children';
import { startDaemon, stopDaemon } from './lib/daemon';
import { conditions, percentile, round } from './stats';

interface Row {
  path: 'AppendStream' | 'Append';
  /** CPU time per event: the daemon (all its threads) and this client process. */
  daemon_cpu_us_per_event?: number;
  client_cpu_us_per_event?: number;
  producers: number;
  batch: number;
  in_flight_per_producer: number;
  events: number;
  elapsed_s: number;
  events_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

type Msg = Record<string, unknown>;

/** CPU time (user + system) of a process and all its threads, in microseconds (Linux /proc). */
function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks / 100) * 1e6; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const definition = protoLoader.loadSync('eventspine/v1/event_spine.proto', {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [join(packageRoot(), 'proto')],
});
const EventSpine = (grpc.loadPackageDefinition(definition) as unknown as { eventspine: { v1: { EventSpine: grpc.ServiceClientConstructor } } }).eventspine.v1.EventSpine;

/** The corpus event as the wire carries it (payload as JSON text). */
function wireEvent(i: number): Msg {
  const ev = corpusEvent(i);
  return { ...ev, payload: JSON.stringify(ev.payload) };
}

function batchAt(start: number, size: number): Msg[] {
  return Array.from({ length: size }, (_, k) => wireEvent(start + k));
}

function newClient(address: string): grpc.Client {
  // A connection of its own per producer (grpc-js would otherwise share one).
  return new EventSpine(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

function unaryAppend(client: grpc.Client, events: Msg[]): Promise<Msg> {
  return new Promise((resolve, reject) => {
    (client as unknown as { Append(req: Msg, cb: (err: Error | null, res: Msg) => void): void }).Append({ events }, (err, res) => (err === null ? resolve(res) : reject(err)));
  });
}

/** One producer on AppendStream: `window` requests in flight; resolves once all are acknowledged. */
function streamProducer(client: grpc.Client, first: number, requests: number, batch: number, window: number, latencies: number[]): Promise<void> {
  const stream = (client as unknown as { AppendStream(): grpc.ClientDuplexStream<Msg, Msg> }).AppendStream();
  const sentAt = new Map<number, number>();
  let sent = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    const send = (): void => {
      while (sent < requests && sentAt.size < window) {
        const id = sent + 1;
        const events = batchAt(first + sent * batch, batch);
        sentAt.set(id, performance.now());
        stream.write({ request_id: id, events });
        sent += 1;
      }
      if (sent === requests) stream.end();
    };
    stream.on('data', (m: Msg) => {
      const id = m.request_id as number;
      if (m.outcome !== 'ok') return reject(new Error(`request ${id} refused: ${JSON.stringify(m.error)}`));
      latencies.push(performance.now() - (sentAt.get(id) as number));
      sentAt.delete(id);
      done += 1;
      if (done === requests) resolve();
      else send();
    });
    stream.on('error', reject);
    send();
  });
}

async function unaryProducer(client: grpc.Client, first: number, requests: number, batch: number, window: number, latencies: number[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < requests) {
        const r = next++;
        const events = batchAt(first + r * batch, batch);
        const s = performance.now();
        await unaryAppend(client, events);
        latencies.push(performance.now() - s);
      }
    }),
  );
}

async function run(path: Row['path'], producers: number, batch: number, window: number, total: number, durability: 'fsync' | 'write'): Promise<Row> {
  const dataDir = tempDir('es-bench-grpc-');
  const profileDir = arg('--cpu-prof', '');
  const daemon = await startDaemon(dataDir, { durability, ...(profileDir === '' ? {} : { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] }) });
  const clients = Array.from({ length: producers }, () => newClient(daemon.grpc));
  try {
    // Warm-up: connections, streams and the JIT on both sides (not counted).
    const warm = 2_000;
    await Promise.all(clients.map((c, p) => unaryAppend(c, batchAt(1e9 + p * warm, 10))));
    const requestsPerProducer = Math.ceil(total / producers / batch);
    const latencies: number[] = [];
    const t0 = performance.now();
    const cpuBefore = process.cpuUsage();
    const daemonCpuBefore = processCpuUs(daemon.proc.pid);
    await Promise.all(
      clients.map((c, p) => {
        const first = p * requestsPerProducer * batch;
        return path === 'AppendStream' ? streamProducer(c, first, requestsPerProducer, batch, window, latencies) : unaryProducer(c, first, requestsPerProducer, batch, window, latencies);
      }),
    );
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpuBefore);
    const daemonCpuAfter = processCpuUs(daemon.proc.pid);
    const events = requestsPerProducer * producers * batch;
    const daemonCpu = daemonCpuBefore === undefined || daemonCpuAfter === undefined ? undefined : round((daemonCpuAfter - daemonCpuBefore) / events);
    latencies.sort((a, b) => a - b);
    return {
      path,
      producers,
      batch,
      in_flight_per_producer: window,
      events,
      elapsed_s: round(elapsedMs / 1000),
      events_per_s: Math.round(events / (elapsedMs / 1000)),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      max_ms: round(latencies.at(-1) ?? NaN),
      ...(daemonCpu === undefined ? {} : { daemon_cpu_us_per_event: daemonCpu }),
      client_cpu_us_per_event: round((cpu.user + cpu.system) / events),
    };
  } finally {
    for (const c of clients) c.close();
    const code = await stopDaemon(daemon);
    if (code !== 0) console.error(`daemon exited with ${String(code)}`);
    removeTempDir(dataDir);
  }
}

async function main(): Promise<void> {
  const total = Number(arg('--events', '200000'));
  const producers = Number(arg('--producers', '4'));
  const batch = Number(arg('--batch', '100'));
  const window = Number(arg('--window', '4'));
  const durability = arg('--durability', 'fsync') as 'fsync' | 'write';
  const out = arg('--out', '');
  const cond = conditions({ bench: 'grpc-append', durability, event_bytes: corpusEventBytes(), batch, producers, total_events: total, client: 'proto-loader client in the bench process; daemon in a child process', load_average: loadavg().map((l) => round(l)) });
  console.log(JSON.stringify(cond));
  const rows: Row[] = [];
  const only = arg('--only', '');
  for (const [path, w] of [
    ['AppendStream', window],
    ['Append', 1],
    ['Append', window],
  ] as const) {
    if (only !== '' && only !== path) continue;
    const row = await run(path, producers, batch, w, total, durability);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  if (out !== '') {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ conditions: cond, rows }, null, 2) + '\n');
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
