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
 * server timestamp), fell_behind markers. Messages are parsed just enough to find their
 * kind and the event's timestamp (a browser's EventSource does about as much).
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

const TS = '"timestamp":"';

class Subscriber {
  events = 0;
  live = false;
  private rest = '';
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
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.take(chunk));
        resolve();
      });
      req.on('error', reject);
    });
  }

  private take(chunk: string): void {
    const now = Date.now();
    const text = this.rest + chunk;
    let at = 0;
    for (;;) {
      const end = text.indexOf('\n\n', at);
      if (end < 0) break;
      const block = text.slice(at, end); // id: …\nevent: …\ndata: … (or a comment, or retry:)
      if (block.includes('\nevent: event\n')) {
        const i = block.indexOf(TS);
        if (i >= 0) {
          const ms = Math.max(0, now - Date.parse(block.slice(i + TS.length, i + TS.length + 24)));
          lag[Math.min(BUCKETS - 1, Math.round(ms))]! += 1;
          if (ms > lagMax) lagMax = ms;
        }
        this.events += 1;
      } else if (block.includes('\nevent: caught_up\n')) {
        if (!this.live) {
          this.live = true;
          this.onLive();
        }
      } else if (block.includes('\nevent: fell_behind\n')) {
        fellBehind += 1;
      }
      at = end + 2;
    }
    this.rest = text.slice(at);
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
