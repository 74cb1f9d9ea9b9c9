/**
 * W4 live fan-out, the subscriber side: a child process holding `count` live subscribers
 * of one system, each on its own connection, each receiving every new event.
 *
 *   node dist/bench/lib/subscribers.js '{"system":"event-spine","target":"127.0.0.1:PORT","count":100}'
 *
 * Protocol (JSON lines): prints {"ready":true} once every subscriber is live; then reads
 * {"expected":N,"deadlineMs":D} on stdin (N = events appended since), waits until every
 * subscriber has N events or D ms passed, and prints the result: deliveries, delivery lag
 * p50/p99/max (receive time minus the event's server timestamp), fell_behind markers.
 */
import { createInterface } from 'node:readline';
import { ioredis } from './ioredis';
import { DeliverPolicy, connect } from 'nats';
import { EventSpineClient } from '../../src/client';

export interface SubscriberSpec {
  system: 'event-spine' | 'redis' | 'jetstream';
  /** host:port */
  target: string;
  count: number;
}

export interface FanoutResult {
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
let delivered = 0;
let fellBehind = 0;

function record(serverMs: number): void {
  const ms = Math.max(0, Date.now() - serverMs);
  lag[Math.min(BUCKETS - 1, Math.round(ms))]! += 1;
  if (ms > lagMax) lagMax = ms;
  delivered += 1;
}

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

/** One subscriber: counts what it receives; resolves once stopped. */
interface Sub {
  received: number;
  live: Promise<void>;
  done: Promise<void>;
  stop(): void;
}

function spineSub(target: string): Sub {
  const client = new EventSpineClient({ address: target, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  const ac = new AbortController();
  let markLive!: () => void;
  const live = new Promise<void>((r) => (markLive = r));
  const sub: Sub = { received: 0, live, done: Promise.resolve(), stop: () => undefined };
  sub.done = (async () => {
    try {
      for await (const item of client.subscribe({}, { markers: true, signal: ac.signal })) {
        if (item.type === 'event') {
          record(Date.parse(item.event.timestamp));
          sub.received++;
        } else if (item.type === 'caught_up') markLive();
        else if (item.type === 'fell_behind') fellBehind++;
      }
    } finally {
      await client.close();
    }
  })();
  sub.stop = () => ac.abort();
  return sub;
}

function redisSub(target: string): Sub {
  const [host, port] = target.split(':');
  const r = new (ioredis().Redis)({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  let stopped = false;
  let markLive!: () => void;
  const live = new Promise<void>((res) => (markLive = res));
  const sub: Sub = { received: 0, live, done: Promise.resolve(), stop: () => undefined };
  sub.done = (async () => {
    await r.connect();
    const last = (await r.xrevrange('spine', '+', '-', 'COUNT', 1)) as [string, string[]][];
    let from = last[0]?.[0] ?? '0-0';
    markLive();
    while (!stopped) {
      const res = (await r.xread('COUNT', 1000, 'BLOCK', 500, 'STREAMS', 'spine', from)) as [string, [string, string[]][]][] | null;
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          JSON.parse(fields[1] as string);
          record(Number(id.split('-')[0]));
          sub.received++;
          from = id;
        }
      }
    }
    r.disconnect();
  })();
  sub.stop = () => void (stopped = true);
  return sub;
}

function jetstreamSub(target: string): Sub {
  let stopMsgs: (() => void) | undefined;
  let markLive!: () => void;
  const live = new Promise<void>((res) => (markLive = res));
  const sub: Sub = { received: 0, live, done: Promise.resolve(), stop: () => undefined };
  sub.done = (async () => {
    const nc = await connect({ servers: target, reconnect: false });
    const consumer = await nc.jetstream().consumers.get('SPINE', { deliver_policy: DeliverPolicy.New });
    const msgs = await consumer.consume({ max_messages: 1000 });
    stopMsgs = () => msgs.stop();
    markLive();
    for await (const m of msgs) {
      JSON.parse(m.string());
      record(m.info.timestampNanos / 1e6);
      sub.received++;
    }
    await consumer.delete().catch(() => undefined);
    await nc.close();
  })();
  sub.stop = () => stopMsgs?.();
  return sub;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as SubscriberSpec;
  const make = spec.system === 'event-spine' ? spineSub : spec.system === 'redis' ? redisSub : jetstreamSub;
  const subs: Sub[] = [];
  for (let i = 0; i < spec.count; i++) subs.push(make(spec.target));
  await Promise.all(subs.map((s) => s.live));
  // JetStream creates its consumers asynchronously: give them a moment to be in place.
  await new Promise((r) => setTimeout(r, 250));
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  const order = await new Promise<{ expected: number; deadlineMs: number }>((resolve) => {
    createInterface({ input: process.stdin }).once('line', (line) => resolve(JSON.parse(line) as { expected: number; deadlineMs: number }));
  });
  const t0 = performance.now();
  const deadline = t0 + order.deadlineMs;
  while (performance.now() < deadline && subs.some((s) => s.received < order.expected)) await new Promise((r) => setTimeout(r, 10));
  const drainMs = performance.now() - t0;
  const result: FanoutResult = {
    subscribers: spec.count,
    expected: order.expected * spec.count,
    delivered,
    complete_subscribers: subs.filter((s) => s.received >= order.expected).length,
    drain_ms: Math.round(drainMs),
    lag_p50_ms: lagPercentile(50),
    lag_p99_ms: lagPercentile(99),
    lag_max_ms: Math.round(lagMax),
    fell_behind: fellBehind,
  };
  process.stdout.write(JSON.stringify({ done: true, ...result }) + '\n');
  for (const s of subs) s.stop();
  await Promise.race([Promise.allSettled(subs.map((s) => s.done)), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(0);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`subscribers: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
