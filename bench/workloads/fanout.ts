/**
 * W4 live fan-out: the W1 append shape (4 producers, 100-event requests, each awaited)
 * runs for a fixed time with 0, 10 and 100 live subscribers attached, each receiving every
 * event. Reports the append rate (and what the subscribers cost of it, against 0), and the
 * delivery lag seen by the subscribers (receive time minus the event's server timestamp).
 * The subscribers live in a child process (bench/lib/subscribers.ts), on the same two
 * cores: their decoding competes with the server for CPU, as it would on a shared host.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnTracked, stopChild, tail } from '../lib/children';
import { w1Event, type BenchEvent } from '../lib/events';
import { closedLoop, guarded } from '../lib/measure';
import type { FanoutResult } from '../lib/subscribers';
import type { BatchAppender, System, SystemName } from '../peers/system';
import { round } from '../stats';

export interface FanoutRow {
  system: SystemName;
  subscribers: number;
  append_variant: string;
  appended: number;
  append_events_per_s: number;
  /** Append rate lost against the same system with no subscriber, in %. */
  append_rate_lost_pct?: number;
  append_p99_ms: number;
  delivered_pct?: number;
  drain_ms?: number;
  lag_p50_ms?: number;
  lag_p99_ms?: number;
  lag_max_ms?: number;
  fell_behind?: number;
  note: string;
}

function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
}

async function nextJson(it: AsyncIterator<string>, timeoutMs: number, what: string, lastLines: () => string): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms\n${lastLines()}`)), timeoutMs)));
  try {
    for (;;) {
      const r = await Promise.race([it.next(), timeout]);
      if (r.done === true) throw new Error(`${what}: the subscriber process ended\n${lastLines()}`);
      try {
        return JSON.parse(r.value) as Record<string, unknown>;
      } catch {
        // not ours
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

function events(first: number, count: number): BenchEvent[] {
  return Array.from({ length: count }, (_, k) => w1Event(first + k));
}

export async function runFanout(
  systems: System[],
  opts: { subscriberCounts: number[]; warmupMs: number; appendMs: number; drainMs: number; variantFor: (s: SystemName) => string | undefined },
  log: (msg: string) => void,
): Promise<FanoutRow[]> {
  const rows: FanoutRow[] = [];
  for (const system of systems) await guarded('W4 fan-out', system.name, log, async () => {
    let base: number | undefined;
    const variant = opts.variantFor(system.name) ?? (system.batchVariants()[0] as string);
    for (const count of opts.subscriberCounts) {
      const running = await system.start();
      if (running.fanoutTarget === undefined) {
        // No push subscription: say so once, measure nothing.
        rows.push({ system: system.name, subscribers: count, append_variant: variant, appended: 0, append_events_per_s: 0, append_p99_ms: 0, note: running.fanoutNote });
        await running.stop();
        break;
      }
      log(`W4 fan-out ${system.name}: ${count} subscribers, appending for ${opts.appendMs} ms (${variant})`);
      const appenders: BatchAppender[] = [];
      let child: ChildProcess | undefined;
      try {
        for (let p = 0; p < 4; p++) appenders.push(await running.batchAppender(variant));
        // Warm the server and the client up (JIT, caches) before anyone listens.
        await closedLoop({ producers: 4, total: 10_000_000, batch: 100, deadlineMs: opts.warmupMs, send: (p, first, n) => (appenders[p] as BatchAppender).send(events(20_000_000 + first, n)) });
        let it: AsyncIterator<string> | undefined;
        let lastLines = (): string => '';
        if (count > 0) {
          const spec = { system: system.name, target: running.fanoutTarget, count };
          child = spawnTracked(process.execPath, [join(__dirname, '..', 'lib', 'subscribers.js'), JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
          lastLines = tail(child);
          it = lines(child);
          await nextJson(it, 120_000, `${count} ${system.name} subscribers`, lastLines);
        }
        const r = await closedLoop({
          producers: 4,
          total: 10_000_000,
          batch: 100,
          deadlineMs: opts.appendMs,
          send: (p, first, n) => (appenders[p] as BatchAppender).send(events(first, n)),
        });
        if (count === 0) base = r.events_per_s;
        const row: FanoutRow = {
          system: system.name,
          subscribers: count,
          append_variant: variant,
          appended: r.events,
          append_events_per_s: r.events_per_s,
          append_p99_ms: r.p99_ms,
          note: running.fanoutNote,
        };
        if (base !== undefined && count > 0) row.append_rate_lost_pct = round(100 * (1 - r.events_per_s / base), 1);
        if (child !== undefined && it !== undefined) {
          child.stdin?.write(JSON.stringify({ expected: r.events, deadlineMs: opts.drainMs }) + '\n');
          const res = (await nextJson(it, opts.drainMs + 30_000, `${count} ${system.name} subscribers`, lastLines)) as unknown as FanoutResult;
          Object.assign(row, {
            delivered_pct: round((100 * res.delivered) / Math.max(1, res.expected), 1),
            drain_ms: res.drain_ms,
            lag_p50_ms: res.lag_p50_ms,
            lag_p99_ms: res.lag_p99_ms,
            lag_max_ms: res.lag_max_ms,
            fell_behind: res.fell_behind,
          });
        }
        rows.push(row);
        log(
          `  ${r.events_per_s} events/s appended${row.append_rate_lost_pct !== undefined ? ` (${row.append_rate_lost_pct}% lost)` : ''}` +
            (row.delivered_pct !== undefined ? `; delivered ${row.delivered_pct}% in ${row.drain_ms} ms after the appends, lag p50 ${row.lag_p50_ms} ms p99 ${row.lag_p99_ms} ms, fell_behind ${row.fell_behind}` : ''),
        );
      } finally {
        if (child !== undefined) await stopChild(child, 'SIGTERM', 5_000);
        for (const a of appenders) await a.close().catch(() => undefined);
        await running.stop();
      }
    }
  });
  return rows;
}
