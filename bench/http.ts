/**
 * The HTTP adapter under load, against the real daemon (a child process, fsync
 * durability), clients on the same machine:
 *
 * 1. POST /api/events throughput: bodies of 100 corpus events (~49 KB), 1, 4 and 16
 *    concurrent clients on keep-alive connections; events/s and request latency p50/p99.
 * 2. SSE fan-out: a producer POSTs 50 events every 10 ms (5,000 events/s) for a fixed
 *    time, with no subscriber and then with 100 SSE subscribers (GET /api/events/stream,
 *    one connection each, in a child process: lib/sse-subscribers.ts). Reports the append
 *    rate achieved and lost to fan-out, the appends' latency, and the delivery lag
 *    (receive time − the event's server timestamp) p50/p99 over every delivery.
 *
 *   node dist/bench/http.js [--quick] [--out FILE] [--profile DIR] [--subscribers N] [--fanout-only]
 */
import { Agent, request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { corpusEvent } from './corpus';
import { spawnTracked, removeTempDir, tempDir, stopChild } from './lib/children';
import { startDaemon, stopDaemon, type Daemon } from './lib/daemon';
import type { SseFanoutResult } from './lib/sse-subscribers';
import { conditions, percentile, round } from './stats';

const quick = process.argv.includes('--quick');
/** --fanout-only: skip the POST throughput part. */
const fanoutOnly = process.argv.includes('--fanout-only');
const outIndex = process.argv.indexOf('--out');
const out = outIndex >= 0 ? process.argv[outIndex + 1] : join(__dirname, '..', '..', 'bench', 'results', `http-${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);

const profileIndex = process.argv.indexOf('--profile');
/** --profile DIR: the fan-out daemon runs under node --cpu-prof, its profile in DIR. */
const profileDir = profileIndex >= 0 ? process.argv[profileIndex + 1] : undefined;

const EVENTS_PER_BODY = 100;
const FANOUT_RATE = 5_000;
const FANOUT_BATCH = 50;
const subscribersIndex = process.argv.indexOf('--subscribers');
const FANOUT_SUBSCRIBERS = subscribersIndex >= 0 ? Number(process.argv[subscribersIndex + 1]) : 100;
const FANOUT_SECONDS = quick ? 4 : 10;

/** CPU seconds (user + system) a process has used so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** One POST on a keep-alive agent; resolves with the status once the response is read. */
function post(agent: Agent, address: string, body: Buffer): Promise<number> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method: 'POST', path: '/api/events', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function bodyOf(first: number, n: number): Buffer {
  return Buffer.from(JSON.stringify({ events: Array.from({ length: n }, (_, k) => corpusEvent(first + k)) }));
}

interface ThroughputRow {
  clients: number;
  requests: number;
  events: number;
  events_per_s: number;
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
}

async function postThroughput(d: Daemon, clients: number, requests: number): Promise<ThroughputRow> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const bodies = Array.from({ length: 16 }, (_, i) => bodyOf(i * EVENTS_PER_BODY, EVENTS_PER_BODY));
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests) {
        const i = next++;
        const s = performance.now();
        const status = await post(agent, d.http, bodies[i % bodies.length] as Buffer);
        if (status !== 201) throw new Error(`POST /api/events: HTTP ${status}`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    clients,
    requests,
    events: requests * EVENTS_PER_BODY,
    events_per_s: Math.round((requests * EVENTS_PER_BODY) / seconds),
    requests_per_s: round(requests / seconds, 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
  };
}

interface PacedResult {
  target_events_per_s: number;
  /** The machine's 1-minute load average when the phase ended (other work on the machine). */
  load_average: number;
  /** CPU seconds the daemon used during the phase (appends, and fan-out until drained). */
  daemon_cpu_s: number;
  seconds: number;
  events: number;
  events_per_s: number;
  append_p50_ms: number;
  append_p99_ms: number;
}

/** POSTs FANOUT_BATCH events every 10 ms (open loop: a late batch is sent at once, not dropped). */
async function pacedAppends(d: Daemon, seconds: number): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const intervalMs = (1000 * FANOUT_BATCH) / FANOUT_RATE;
  const total = Math.round((seconds * 1000) / intervalMs);
  const body = bodyOf(0, FANOUT_BATCH);
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  for (let k = 0; k < total; k++) {
    const due = t0 + k * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    const p = post(agent, d.http, body).then((status) => {
      if (status !== 201) throw new Error(`POST /api/events: HTTP ${status}`);
      latencies.push(performance.now() - s);
      inFlight.delete(p);
    });
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    target_events_per_s: FANOUT_RATE,
    load_average: round(loadavg()[0] ?? NaN, 1),
    daemon_cpu_s: NaN,
    seconds: round(elapsed),
    events: total * FANOUT_BATCH,
    events_per_s: Math.round((total * FANOUT_BATCH) / elapsed),
    append_p50_ms: round(percentile(latencies, 50)),
    append_p99_ms: round(percentile(latencies, 99)),
  };
}

interface FanoutReport {
  alone: PacedResult;
  with_subscribers: PacedResult;
  delivery: SseFanoutResult;
  rate_lost_pct: number;
  /** CPU seconds the subscribers' process used while the events were appended and drained. */
  subscribers_cpu_s: number;
  /** From /metrics: streams the fan-out skipped while their socket was full, then fed from its history. */
  fanout_pauses: number;
  /** From /metrics: streams that fell further behind than the history and caught up from the log. */
  fanout_fell_behind: number;
  /** From /metrics: the daemon's resident memory once the fan-out drained. */
  daemon_rss_mb: number;
  /** Daemon CPU per event delivered to one subscriber, beyond the appends' own cost. */
  daemon_cpu_us_per_delivery: number;
}

async function fanout(d: Daemon): Promise<FanoutReport> {
  let cpu0 = cpuSeconds(d.proc.pid);
  const alone = await pacedAppends(d, FANOUT_SECONDS);
  alone.daemon_cpu_s = round(cpuSeconds(d.proc.pid) - cpu0);
  const child = spawnTracked(process.execPath, [join(__dirname, 'lib', 'sse-subscribers.js'), JSON.stringify({ target: d.http, count: FANOUT_SUBSCRIBERS })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const ready = await lines.next();
  if (ready.done === true || !String(ready.value).includes('ready')) throw new Error('the SSE subscribers did not get ready');
  cpu0 = cpuSeconds(d.proc.pid);
  const childCpu0 = cpuSeconds(child.pid);
  const withSubscribers = await pacedAppends(d, FANOUT_SECONDS);
  child.stdin?.write(JSON.stringify({ expected: withSubscribers.events, deadlineMs: 60_000 }) + '\n');
  const result = await lines.next();
  withSubscribers.daemon_cpu_s = round(cpuSeconds(d.proc.pid) - cpu0);
  const subscribersCpu = round(cpuSeconds(child.pid) - childCpu0);
  await stopChild(child, 'SIGTERM', 5_000);
  const delivery = JSON.parse(String(result.value)) as SseFanoutResult;
  const metrics = await (await fetch(`http://${d.http}/metrics`)).text();
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  const extraCpu = withSubscribers.daemon_cpu_s - (alone.daemon_cpu_s * withSubscribers.events) / alone.events;
  return {
    alone,
    with_subscribers: withSubscribers,
    delivery,
    rate_lost_pct: round(100 * (1 - withSubscribers.events_per_s / alone.events_per_s), 1),
    subscribers_cpu_s: subscribersCpu,
    fanout_pauses: metric('eventspine_sse_paused_total'),
    fanout_fell_behind: metric('eventspine_sse_fell_behind_total'),
    daemon_rss_mb: round(metric('process_resident_memory_bytes') / 1024 / 1024, 1),
    daemon_cpu_us_per_delivery: round((1e6 * extraCpu) / Math.max(1, delivery.delivered), 2),
  };
}

async function main(): Promise<void> {
  const cond = conditions({ durability: 'fsync', events_per_body: EVENTS_PER_BODY, body_bytes: bodyOf(0, EVENTS_PER_BODY).length, quick, load_average_at_start: loadavg().map((l) => round(l, 1)) });
  console.log(`# HTTP adapter bench\n${JSON.stringify(cond)}`);

  const dir = tempDir('http');
  const d = await startDaemon(dir);
  const throughput: ThroughputRow[] = [];
  try {
    for (const clients of fanoutOnly ? [] : [1, 4, 16]) {
      const row = await postThroughput(d, clients, quick ? 100 : 500);
      throughput.push(row);
      console.log(`POST /api/events, ${EVENTS_PER_BODY}-event bodies, ${clients} client(s): ${row.events_per_s} events/s (${row.requests_per_s} req/s), p50 ${row.p50_ms} ms, p99 ${row.p99_ms} ms`);
    }
  } finally {
    await stopDaemon(d);
    removeTempDir(dir);
  }

  const dir2 = tempDir('http-fanout');
  const d2 = await startDaemon(dir2, profileDir === undefined ? {} : { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
  let fan: FanoutReport;
  try {
    fan = await fanout(d2);
  } finally {
    await stopDaemon(d2);
    removeTempDir(dir2);
  }
  console.log(`SSE fan-out, ${FANOUT_RATE} events/s target for ${FANOUT_SECONDS} s:`);
  const phase = (r: PacedResult): string => `${r.events_per_s} events/s appended, append p50 ${r.append_p50_ms} ms, p99 ${r.append_p99_ms} ms, daemon CPU ${r.daemon_cpu_s} s, load average ${r.load_average}`;
  console.log(`  no subscriber:     ${phase(fan.alone)}`);
  console.log(`  ${FANOUT_SUBSCRIBERS} subscribers:   ${phase(fan.with_subscribers)}`);
  console.log(`  daemon CPU per delivery (one event to one subscriber): ${fan.daemon_cpu_us_per_delivery} µs; the subscribers' process used ${fan.subscribers_cpu_s} s of CPU; daemon RSS ${fan.daemon_rss_mb} MB`);
  console.log(`  append rate lost to fan-out: ${fan.rate_lost_pct}% (target < 10%)`);
  console.log(
    `  delivery: ${fan.delivery.delivered} of ${fan.delivery.expected * fan.delivery.subscribers} (${fan.delivery.complete_subscribers}/${fan.delivery.subscribers} subscribers complete), lag p50 ${fan.delivery.lag_p50_ms} ms, p99 ${fan.delivery.lag_p99_ms} ms, max ${fan.delivery.lag_max_ms} ms, fell_behind ${fan.delivery.fell_behind} (fan-out pauses ${fan.fanout_pauses}, let go to the log ${fan.fanout_fell_behind}), drained ${fan.delivery.drain_ms} ms after the last append`,
  );
  if (out !== undefined) {
    writeFileSync(out, JSON.stringify({ conditions: cond, post_throughput: throughput, sse_fanout: fan }, null, 2) + '\n');
    console.log(`wrote ${out}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
