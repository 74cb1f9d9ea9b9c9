/**
 * W1 — batched appends: `total` events, `batch` per request, `producers` producers, each
 * awaiting its request's acknowledgement before sending the next.
 * W2 — single-event producers, each awaiting its own acknowledgement, at several producer
 * counts.
 * Every system starts fresh (empty data directory) for every measured run, and first takes
 * a warm-up of further events on the same connections (at least `warmup` of them and for
 * at least `warmupMs`), not measured: what is compared is the steady state a long-running
 * service sees, not the first seconds of its just-in-time compilers (the daemon's, and
 * every client's in this process alike).
 */
import { serverCpuMs } from '../lib/children';
import { w1Event, type BenchEvent } from '../lib/events';
import { closedLoop, guarded, type LoopResult, type LoopSpec } from '../lib/measure';
import { round } from '../stats';
import type { BatchAppender, System, SystemName } from '../peers/system';

/**
 * CPU per event of the measured loop: the server's (every process started for it, every
 * thread) and the clients' (this process). Their proportion moves far less than events/s
 * when the shared host's speed does (bench/README.md).
 */
export interface CpuPerEvent {
  server_cpu_us_per_event: number;
  client_cpu_us_per_event: number;
}

async function measuredLoop(spec: LoopSpec): Promise<LoopResult & CpuPerEvent> {
  const server0 = serverCpuMs();
  const client0 = process.cpuUsage();
  const r = await closedLoop(spec);
  const client = process.cpuUsage(client0);
  const events = Math.max(1, r.events);
  return { ...r, server_cpu_us_per_event: round(((serverCpuMs() - server0) * 1000) / events, 1), client_cpu_us_per_event: round((client.user + client.system) / events, 1) };
}

export interface W1Row extends LoopResult, Partial<CpuPerEvent> {
  system: SystemName;
  variant: string;
  producers: number;
  batch: number;
}

export interface W2Row extends LoopResult, Partial<CpuPerEvent> {
  system: SystemName;
  producers: number;
}

function events(first: number, count: number): BenchEvent[] {
  const out = new Array<BenchEvent>(count);
  for (let k = 0; k < count; k++) out[k] = w1Event(first + k);
  return out;
}

/**
 * Sends at least `warmup` events, and for at least `warmupMs`, numbered from `total` on
 * (distinct from the measured ones), unmeasured: rounds of `warmup` events until the time
 * is up. A count alone left the JIT compilers cold: 20k events are 0.4 s of W1.
 */
async function warmUp(spec: { producers: number; batch: number; total: number; warmup: number; warmupMs: number; deadlineMs: number; send: (p: number, first: number, count: number) => Promise<void> }): Promise<void> {
  if (spec.warmup <= 0) return;
  const until = performance.now() + spec.warmupMs;
  let sent = 0;
  do {
    const first = spec.total + sent;
    sent += (await closedLoop({ producers: spec.producers, total: spec.warmup, batch: spec.batch, deadlineMs: spec.deadlineMs, send: (p, at, count) => spec.send(p, first + at, count) })).events;
  } while (performance.now() < until);
}

export async function runW1(systems: System[], opts: { total: number; warmup: number; warmupMs: number; producers: number; batch: number; deadlineMs: number }, log: (msg: string) => void): Promise<W1Row[]> {
  const rows: W1Row[] = [];
  for (const system of systems) {
    for (const variant of system.batchVariants()) await guarded('W1', `${system.name} (${variant})`, log, async () => {
      log(`W1 ${system.name} (${variant}): ${opts.total} events, ${opts.batch} per request, ${opts.producers} producers`);
      const running = await system.start();
      const appenders: BatchAppender[] = [];
      try {
        for (let p = 0; p < opts.producers; p++) appenders.push(await running.batchAppender(variant));
        const send = (p: number, first: number, count: number): Promise<void> => (appenders[p] as BatchAppender).send(events(first, count));
        await warmUp({ ...opts, send });
        const r = await measuredLoop({ producers: opts.producers, total: opts.total, batch: opts.batch, deadlineMs: opts.deadlineMs, send });
        rows.push({ system: system.name, variant, producers: opts.producers, batch: opts.batch, ...r });
        log(`  ${r.events_per_s} events/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms${r.timed_out ? ' (stopped by the deadline)' : ''}`);
      } finally {
        for (const a of appenders) await a.close().catch(() => undefined);
        await running.stop();
      }
    });
  }
  return rows;
}

export async function runW2(
  systems: System[],
  opts: { producerCounts: number[]; totalFor: (producers: number) => number; warmupShare: number; warmupMs: number; deadlineMs: number },
  log: (msg: string) => void,
): Promise<W2Row[]> {
  const rows: W2Row[] = [];
  for (const system of systems) {
    for (const producers of opts.producerCounts) await guarded('W2', `${system.name} (${producers} producers)`, log, async () => {
      const total = opts.totalFor(producers);
      log(`W2 ${system.name}: ${producers} single-event producers, ${total} events`);
      const running = await system.start();
      try {
        const emitter = await running.singleEmitter(producers);
        try {
          const send = (_: number, first: number): Promise<void> => emitter.emit(w1Event(first));
          await warmUp({ producers, batch: 1, total, warmup: Math.round(total * opts.warmupShare), warmupMs: opts.warmupMs, deadlineMs: opts.deadlineMs, send });
          const r = await measuredLoop({ producers, total, batch: 1, deadlineMs: opts.deadlineMs, send });
          rows.push({ system: system.name, producers, ...r });
          log(`  ${r.events_per_s} events/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms${r.timed_out ? ' (stopped by the deadline)' : ''}`);
        } finally {
          await emitter.close().catch(() => undefined);
        }
      } finally {
        await running.stop();
      }
    });
  }
  return rows;
}
