/**
 * The workloads that need a full store, run on one store per system and size:
 * W3 — a 100-event entity history (newest first) and the first page of 100 events of a
 *      one-hour time range starting at a random moment of the fill; p50/p99 over a fixed,
 *      seeded sequence of queries, the same for every system;
 * W4 (catch-up) — a new reader consuming every stored event from the start;
 * W5 — restart on the same data after a graceful stop and after SIGKILL: time until the
 *      system answers.
 * event-spine's store is filled in-process, where its open time and in-process query
 * latency are also measured before the daemon serves it.
 */
import { Store } from '../../src/store';
import { W3_ENTITY_TYPE, w3Entity } from '../lib/events';
import { guarded, rng, timeCalls } from '../lib/measure';
import { SpineSystem, storeOptions } from '../lib/spine-system';
import type { RunningSystem, System, SystemName } from '../peers/system';
import { round } from '../stats';

export interface QueryStats {
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  items: number;
  calls: number;
}

export interface W3Row {
  system: SystemName;
  /** daemon (over its client) or in-process (event-spine's Store called directly). */
  mode: 'server' | 'in-process';
  size: number;
  fill_s?: number;
  fill_events_per_s?: number;
  disk_mb?: number;
  entity?: QueryStats;
  entity_note: string;
  range?: QueryStats;
  range_note: string;
}

export interface CatchUpRow {
  system: SystemName;
  size: number;
  events: number;
  elapsed_s: number;
  events_per_s: number;
  note: string;
}

export interface W5Row {
  system: SystemName;
  mode: 'server' | 'in-process';
  size: number;
  /** The first start on the filled store (event-spine: the daemon after the in-process fill). */
  first_open_ms?: number;
  clean_restart_ms?: number;
  crash_restart_ms?: number;
  /** Every measurement (the columns above are their medians). */
  clean_restarts_ms?: number[];
  crash_restarts_ms?: number[];
  note?: string;
  /** Per restart (event-spine: the last acknowledged seq and the head after each SIGKILL). */
  details?: string[];
}

export interface StoreOptions {
  sizes: number[];
  entityQueries: number;
  rangeQueries: number;
  /**
   * W3 measures the steady state: each system first answers untimed queries for this long
   * (the JIT of the daemon and of every client, and the index compaction that follows a bulk
   * fill, settle meanwhile).
   */
  warmupMs: number;
  w3: boolean;
  w4: boolean;
  w5: boolean;
  /** W5 repetitions (graceful, crash): start-up times are noisy on a loaded machine. */
  w5Repeats: [number, number];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
}

interface QueryPlan {
  entityIds: string[];
  ranges: { sinceMs: number; untilMs: number }[];
}

const HOUR_MS = 3_600_000;

function plan(size: number, firstMs: number, lastMs: number, opts: StoreOptions): QueryPlan {
  const r = rng(size);
  const entities = Math.max(1, Math.floor(size / 100));
  const entityIds = Array.from({ length: opts.entityQueries + 20 }, () => w3Entity(Math.floor(r() * entities), size));
  // Starts in the first 90% of the fill's time window, so that (the fill being written in
  // 1000-event steps) a page of 100 exists after every start.
  const ranges = Array.from({ length: opts.rangeQueries + 20 }, () => {
    const sinceMs = Math.floor(firstMs + r() * 0.9 * Math.max(1, lastMs - firstMs));
    return { sinceMs, untilMs: sinceMs + HOUR_MS };
  });
  return { entityIds, ranges };
}

async function timeQueries(
  p: QueryPlan,
  opts: StoreOptions,
  entity: RunningSystem['entityHistory'],
  range: RunningSystem['timeRange'],
): Promise<{ entity?: QueryStats; range?: QueryStats }> {
  const out: { entity?: QueryStats; range?: QueryStats } = {};
  const at = (i: number, n: number): number => (i < 0 ? n + (-1 - i) : i); // warm-up calls use the tail of the plan
  if (entity !== undefined) {
    out.entity = await timeCalls(
      opts.entityQueries,
      20,
      (i) => entity({ entityType: W3_ENTITY_TYPE, entityId: p.entityIds[at(i, opts.entityQueries)] as string, sinceMs: 0, untilMs: 0, limit: 100 }),
      opts.warmupMs,
    );
  }
  if (range !== undefined) {
    out.range = await timeCalls(
      opts.rangeQueries,
      20,
      (i) => {
        const q = p.ranges[at(i, opts.rangeQueries)] as { sinceMs: number; untilMs: number };
        return range({ entityType: '', entityId: '', sinceMs: q.sinceMs, untilMs: q.untilMs, limit: 100 });
      },
      opts.warmupMs,
    );
  }
  return out;
}

export async function runStores(
  systems: System[],
  opts: StoreOptions,
  log: (msg: string) => void,
): Promise<{ w3: W3Row[]; catchup: CatchUpRow[]; w5: W5Row[] }> {
  const w3: W3Row[] = [];
  const catchup: CatchUpRow[] = [];
  const w5: W5Row[] = [];
  for (const size of opts.sizes) {
    for (const system of systems) await guarded('W3/W4/W5', `${system.name} (${size} events)`, log, async () => {
      log(`W3/W4/W5 ${system.name}: filling a store of ${size} events`);
      // event-spine: measured in-process between the fill and the daemon's start.
      let inProcess: { open_ms: number; reopen_ms: number; entity?: QueryStats; range?: QueryStats } | undefined;
      const filled =
        system instanceof SpineSystem
          ? await system.startFilled(size, log, async (dataDir) => {
              let t0 = performance.now();
              let store = await Store.open(storeOptions(dataDir));
              const open_ms = performance.now() - t0;
              await store.close();
              t0 = performance.now();
              store = await Store.open(storeOptions(dataDir));
              const reopen_ms = performance.now() - t0;
              try {
                const head = store.head();
                const first = await store.getBySeq(1);
                const p = plan(size, Date.parse(first?.timestamp ?? ''), Date.parse(head.timestamp ?? ''), opts);
                const q = opts.w3
                  ? await timeQueries(
                      p,
                      opts,
                      async (a) => (await store.query({ entity_type: a.entityType, entity_id: a.entityId }, { order: 'desc', limit: a.limit })).items.length,
                      async (a) => (await store.query({ since: new Date(a.sinceMs).toISOString(), until: new Date(a.untilMs).toISOString() }, { order: 'asc', limit: a.limit })).items.length,
                    )
                  : {};
                inProcess = { open_ms: round(open_ms), reopen_ms: round(reopen_ms), ...q };
              } finally {
                await store.close();
              }
              return {};
            })
          : await system.startFilled(size, log);
      const running = filled.running;
      const firstReadyMs = system instanceof SpineSystem ? (running as unknown as { readyMs: number }).readyMs : undefined;
      try {
        const diskMb = round(running.diskBytes() / 1e6, 1);
        log(`  filled in ${filled.fill_s} s (${Math.round(size / filled.fill_s)} events/s), ${diskMb} MB on disk`);
        if (opts.w3) {
          // The time window of the fill: event-spine's in-process plan used its own stored timestamps.
          const p = plan(size, filled.first_ms, filled.last_ms, opts);
          const q = await timeQueries(p, opts, running.entityHistory, running.timeRange);
          const row: W3Row = {
            system: system.name,
            mode: 'server',
            size,
            fill_s: filled.fill_s,
            fill_events_per_s: Math.round(size / filled.fill_s),
            disk_mb: diskMb,
            ...q,
            entity_note: running.entityHistory === undefined ? 'cannot answer without a scan' : running.entityHistoryNote,
            range_note: running.timeRange === undefined ? 'cannot answer without a scan' : running.timeRangeNote,
          };
          w3.push(row);
          log(`  entity history p50 ${q.entity?.p50_ms} ms p99 ${q.entity?.p99_ms} ms (${q.entity?.items} items); time range p50 ${q.range?.p50_ms} ms p99 ${q.range?.p99_ms} ms (${q.range?.items} items)`);
          if (inProcess !== undefined) {
            w3.push({ system: system.name, mode: 'in-process', size, entity: inProcess.entity, range: inProcess.range, entity_note: 'Store.query in-process (no gRPC)', range_note: 'Store.query in-process (no gRPC)' });
            log(`  in-process: entity p50 ${inProcess.entity?.p50_ms} p99 ${inProcess.entity?.p99_ms} ms; range p50 ${inProcess.range?.p50_ms} p99 ${inProcess.range?.p99_ms} ms`);
          }
        }
        if (opts.w4) {
          const t0 = performance.now();
          const n = await running.catchUp(size);
          const s = (performance.now() - t0) / 1000;
          catchup.push({ system: system.name, size, events: n, elapsed_s: round(s, 2), events_per_s: Math.round(n / s), note: running.catchUpNote });
          log(`  catch-up read: ${n} events in ${round(s, 2)} s (${Math.round(n / s)} events/s)`);
        }
        if (opts.w5) {
          const cleans: number[] = [];
          const crashes: number[] = [];
          const notes = new Set<string>();
          const details: string[] = [];
          for (let i = 0; i < opts.w5Repeats[0]; i++) {
            const clean = await running.restart('clean');
            cleans.push(round(clean.ready_ms));
            if (clean.note !== undefined) notes.add(clean.note);
            log(`  restart after a graceful stop: ${round(clean.ready_ms)} ms`);
          }
          for (let i = 0; i < opts.w5Repeats[1]; i++) {
            const crash = await running.restart('kill');
            crashes.push(round(crash.ready_ms));
            if (crash.note !== undefined) notes.add(crash.note);
            if (crash.detail !== undefined) details.push(crash.detail);
            log(`  restart after SIGKILL: ${round(crash.ready_ms)} ms${crash.note !== undefined ? ` (${crash.note}${crash.detail !== undefined ? `: ${crash.detail}` : ''})` : ''}`);
          }
          w5.push({
            system: system.name,
            mode: 'server',
            size,
            clean_restart_ms: round(median(cleans)),
            crash_restart_ms: round(median(crashes)),
            clean_restarts_ms: cleans,
            crash_restarts_ms: crashes,
            ...(firstReadyMs === undefined ? {} : { first_open_ms: round(firstReadyMs) }),
            note: [...notes].join('; '),
            ...(details.length > 0 ? { details } : {}),
          });
          if (inProcess !== undefined) {
            w5.push({ system: system.name, mode: 'in-process', size, first_open_ms: inProcess.open_ms, clean_restart_ms: inProcess.reopen_ms, note: 'Store.open after a clean close (first and second open)' });
          }
        }
      } finally {
        await running.stop();
      }
    });
  }
  return { w3, catchup, w5 };
}
