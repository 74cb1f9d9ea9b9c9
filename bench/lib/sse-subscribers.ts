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
 * server timestamp, sampled on the first event of every read), fell_behind
 * markers. Messages are not parsed, only positions read off the bytes: the subscribers
 * share the machine's two cores with the daemon and should take as little as they can.
 */
import { connect, type Socket } from 'node:net';
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
const ID = Buffer.from('id: ');
const CAUGHT_UP = Buffer.from('\nevent: caught_up\n');
const FELL_BEHIND = Buffer.from('\nevent: fell_behind\n');
/** Bytes kept from the end of a read, so a marker split across two reads is still found. */
const CARRY = 64;

/** Bytes one read may bring (each subscriber reads into its own fixed buffer: no garbage). */
const READ_BYTES = 256 * 1024;

class Subscriber {
  live = false;
  private startSeq = 0;
  private lastSeq = 0;
  private carry = 0;
  private readonly memory = Buffer.alloc(CARRY + READ_BYTES);
  private socket: Socket | undefined;

  constructor(
    private readonly target: string,
    private readonly onLive: () => void,
  ) {}

  /** A raw HTTP/1.1 GET read with `onread` into a fixed buffer (node:http would allocate per chunk). */
  start(): Promise<void> {
    const [host, port] = this.target.split(':');
    return new Promise((resolve, reject) => {
      let first = true;
      const socket = connect({
        host,
        port: Number(port),
        onread: {
          buffer: this.memory.subarray(CARRY),
          callback: (nread: number): boolean => {
            if (first) {
              first = false;
              if (!this.memory.toString('latin1', CARRY, CARRY + 12).startsWith('HTTP/1.1 200')) reject(new Error(`stream: ${this.memory.toString('latin1', CARRY, CARRY + 40)}`));
            }
            this.take(nread);
            return true;
          },
        },
      });
      this.socket = socket;
      socket.once('connect', () => {
        socket.write(`GET /api/events/stream HTTP/1.1\r\nHost: ${this.target}\r\nAccept: text/event-stream\r\n\r\n`);
        resolve();
      });
      socket.once('error', reject);
    });
  }

  destroy(): void {
    this.socket?.destroy();
  }

  /**
   * Follows the stream's position on the bytes: the seq of the last event of each read
   * (`id: N\nevent: event`), and the timestamp of the first (a sample of the lag, one per
   * burst the daemon wrote). With no filter every seq is delivered, so the events received
   * are the last seq minus the one `caught_up` named; the tests check every message, the
   * bench keeps the receiving side cheap.
   */
  private take(nread: number): void {
    const now = Date.now();
    // The carried tail of the last read sits just before this read's bytes.
    const buf = this.memory.subarray(CARRY - this.carry, CARRY + nread);
    const firstEvent = buf.indexOf(EVENT);
    if (firstEvent >= 0) {
      const i = buf.indexOf(TS, firstEvent);
      if (i >= 0 && i + TS.length + 24 <= buf.length) {
        const ms = Math.max(0, now - Date.parse(buf.toString('latin1', i + TS.length, i + TS.length + 24)));
        lag[Math.min(BUCKETS - 1, Math.round(ms))]! += 1;
        if (ms > lagMax) lagMax = ms;
      }
      const lastEvent = buf.lastIndexOf(EVENT);
      const idLine = buf.lastIndexOf(ID, lastEvent);
      if (idLine >= 0) this.lastSeq = Number(buf.toString('latin1', idLine + ID.length, lastEvent));
    }
    if (!this.live) {
      const c = buf.indexOf(CAUGHT_UP);
      if (c >= 0) {
        const idLine = buf.lastIndexOf(ID, c);
        this.startSeq = Number(buf.toString('latin1', idLine + ID.length, c));
        this.lastSeq = Math.max(this.lastSeq, this.startSeq);
        this.live = true;
        this.onLive();
      }
    }
    // Markers wholly inside the carried tail were seen with the read before.
    const fresh = Math.max(0, this.carry - FELL_BEHIND.length + 1);
    for (let f = buf.indexOf(FELL_BEHIND, fresh); f >= 0; f = buf.indexOf(FELL_BEHIND, f + 1)) fellBehind += 1;
    this.carry = Math.min(CARRY, buf.length);
    buf.copy(this.memory, CARRY - this.carry, buf.length - this.carry);
  }

  /** Events received since the stream went live. */
  get events(): number {
    return this.live ? this.lastSeq - this.startSeq : 0;
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
    for (const s of subs) s.destroy();
    process.exit(0);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`sse-subscribers: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
