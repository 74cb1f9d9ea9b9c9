/**
 * SSE fan-out, the subscriber side: a child process holding `count` live subscribers of
 * GET /api/events/stream, each on its own HTTP connection, each receiving every new event.
 *
 *   node dist/bench/lib/sse-subscribers.js '{"target":"127.0.0.1:PORT","count":100}'
 *
 * Protocol (JSON lines, as lib/subscribers.ts): prints {"ready":true} once every
 * subscriber has its `caught_up` marker (it is live); then reads {"expected":N,
 * "deadlineMs":D} on stdin, waits until every subscriber has N events or D ms passed, and
 * prints the result: deliveries, delivery lag p50/p99/max (receive time minus the event's
 * server timestamp, sampled on the first event of every chunk received), fell_behind
 * markers. Messages are counted on the bytes, not parsed: the subscribers share the
 * machine's two cores with the daemon and should take as little of them as they can.
 */
import { get, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';

export interface SseFanoutResult {
  subscribers: number;
  expected: number;
  delivered: number;
  complete_subscribers: number;
  drain_ms: number;
  lag_p50_ms: number;
  lag_p99_ms: number;
  lag_max_ms: number;
  fell_behind: number;
}

const BUCKETS = 600_001; // 1 ms buckets up to 10 minutes
const lag = new Uint32Array(BUCKETS);
let lagMax = 0;
let fellBehind = 0;

function lagPercentile(p: number): number {
  const total = lag.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  const want = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += lag[i] as number;
    if (seen >= want) return i;
  }
  return BUCKETS - 1;
}

const TS = Buffer.from('"timestamp":"');
const EVENT = Buffer.from('\nevent: event\n');
const CAUGHT_UP = Buffer.from('\nevent: caught_up\n');
const FELL_BEHIND = Buffer.from('\nevent: fell_behind\n');
/** Bytes kept from the end of a chunk, so a marker split across two chunks is still found. */
const CARRY = 64;

class Subscriber {
  events = 0;
  live = false;
  private carry: Buffer = Buffer.alloc(0);
  res: IncomingMessage | undefined;

  constructor(
    private readonly target: string,
    private readonly onLive: () => void,
  ) {}

  start(): Promise<void> {
    const [host, port] = this.target.split(':');
    return new Promise((resolve, reject) => {
      const req = get({ host, port: Number(port), path: '/api/events/stream', headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream: HTTP ${res.statusCode ?? '?'}`));
        this.res = res;
        res.on('data', (chunk: Buffer) => this.take(chunk));
        resolve();
      });
      req.on('error', reject);
    });
  }

  /**
   * Counts `event: event` messages on the bytes and reads the timestamp of the first one
   * of each chunk (a sample of the lag, one per burst the daemon wrote).
   */
  private take(chunk: Buffer): void {
    const now = Date.now();
    const buf = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const from = this.carry.length === 0 ? 0 : 0;
    let at = buf.indexOf(EVENT, from);
    let first = true;
    while (at >= 0) {
      this.events += 1;
      if (first) {
        first = false;
        const i = buf.indexOf(TS, at);
        if (i >= 0 && i + TS.length + 24 <= buf.length) {
          const ms = Math.max(0, now - Date.parse(buf.toString('latin1', i + TS.length, i + TS.length + 24)));
          lag[Math.min(BUCKETS - 1, Math.round(ms))]! += 1;
          if (ms > lagMax) lagMax = ms;
        }
      }
      at = buf.indexOf(EVENT, at + EVENT.length);
    }
    if (!this.live && buf.indexOf(CAUGHT_UP) >= 0) {
      this.live = true;
      this.onLive();
    }
    if (buf.indexOf(FELL_BEHIND) >= 0) fellBehind += 1;
    // Keep the tail, minus any marker already counted in it.
    const tail = Math.max(0, buf.length - CARRY);
    const lastEvent = buf.lastIndexOf(EVENT);
    const keepFrom = Math.max(tail, lastEvent >= 0 ? lastEvent + EVENT.length : 0);
    this.carry = Buffer.from(buf.subarray(keepFrom));
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as { target: string; count: number };
  let live = 0;
  let announced = false;
  const subs: Subscriber[] = [];
  const onLive = (): void => {
    live += 1;
    if (live === spec.count && !announced) {
      announced = true;
      process.stdout.write(JSON.stringify({ ready: true }) + '\n');
    }
  };
  for (let i = 0; i < spec.count; i++) subs.push(new Subscriber(spec.target, onLive));
  await Promise.all(subs.map((s) => s.start()));

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const { expected, deadlineMs } = JSON.parse(line) as { expected: number; deadlineMs: number };
    const t0 = Date.now();
    while (Date.now() - t0 < deadlineMs && subs.some((s) => s.events < expected)) await new Promise((r) => setTimeout(r, 10));
    const result: SseFanoutResult = {
      subscribers: subs.length,
      expected,
      delivered: subs.reduce((n, s) => n + s.events, 0),
      complete_subscribers: subs.filter((s) => s.events >= expected).length,
      drain_ms: Date.now() - t0,
      lag_p50_ms: lagPercentile(50),
      lag_p99_ms: lagPercentile(99),
      lag_max_ms: Math.round(lagMax),
      fell_behind: fellBehind,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
    for (const s of subs) s.res?.destroy();
    process.exit(0);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`sse-subscribers: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
