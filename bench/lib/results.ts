/**
 * The result of one `npm run bench`: what ran, under which conditions, every row, and
 * event-spine's ratios to each peer and the targets of issue 6, computed from the rows of
 * the same run. Written as JSON to bench/results/<date>[-quick].json.
 */
import type { SystemInfo, SystemName } from '../peers/system';
import type { FanoutRow } from '../workloads/fanout';
import type { CatchUpRow, W3Row, W5Row } from '../workloads/stores';
import type { W1Row, W2Row } from '../workloads/w1-w2';
import { round } from '../stats';

export interface SystemStatus extends Partial<SystemInfo> {
  name: SystemName;
  status: 'ran' | 'skipped';
  reason?: string;
}

export interface Ratio {
  workload: string;
  measure: string;
  peer: SystemName;
  event_spine: number;
  peer_value: number;
  /** How many times better event-spine is (throughput: ours/theirs; latency and time: theirs/ours). */
  advantage: number;
}

export interface Target {
  id: string;
  target: string;
  measured: string;
  /** null when the run did not measure it. */
  met: boolean | null;
}

export interface Results {
  schema: 1;
  run: string;
  quick: boolean;
  conditions: Record<string, unknown>;
  systems: SystemStatus[];
  w1?: W1Row[];
  w2?: W2Row[];
  w3?: W3Row[];
  w4?: { catchup: CatchUpRow[]; fanout: FanoutRow[] };
  w5?: W5Row[];
  ratios: Ratio[];
  targets: Target[];
  /** Workloads that failed for a system (the run went on without them). */
  errors: { workload: string; system: string; error: string }[];
}

/** Peers whose acknowledgement means "on disk" (JetStream 2.9 fsyncs on a timer). */
export const DURABLE_PEERS: SystemName[] = ['redis', 'postgres'];

const PEERS: SystemName[] = ['redis', 'postgres', 'jetstream'];

/** event-spine's W1 row: its fastest variant. */
export function bestW1(rows: W1Row[], system: SystemName): W1Row | undefined {
  return rows.filter((r) => r.system === system).sort((a, b) => b.events_per_s - a.events_per_s)[0];
}

function ratio(workload: string, measure: string, peer: SystemName, ours: number | undefined, theirs: number | undefined, higherIsBetter: boolean): Ratio | undefined {
  if (ours === undefined || theirs === undefined || !Number.isFinite(ours) || !Number.isFinite(theirs) || ours <= 0 || theirs <= 0) return undefined;
  return { workload, measure, peer, event_spine: ours, peer_value: theirs, advantage: round(higherIsBetter ? ours / theirs : theirs / ours, 2) };
}

export function computeRatios(r: Results): Ratio[] {
  const out: (Ratio | undefined)[] = [];
  for (const peer of PEERS) {
    if (r.w1 !== undefined) out.push(ratio('W1', 'events/s', peer, bestW1(r.w1, 'event-spine')?.events_per_s, bestW1(r.w1, peer)?.events_per_s, true));
    for (const p of [...new Set((r.w2 ?? []).map((x) => x.producers))]) {
      const get = (s: SystemName): number | undefined => r.w2?.find((x) => x.system === s && x.producers === p)?.events_per_s;
      out.push(ratio('W2', `events/s, ${p} producers`, peer, get('event-spine'), get(peer), true));
    }
    for (const size of [...new Set((r.w3 ?? []).map((x) => x.size))]) {
      const row = (s: SystemName): W3Row | undefined => r.w3?.find((x) => x.system === s && x.size === size && x.mode === 'server');
      out.push(ratio('W3', `entity history p99, ${size} events`, peer, row('event-spine')?.entity?.p99_ms, row(peer)?.entity?.p99_ms, false));
      out.push(ratio('W3', `time range p99, ${size} events`, peer, row('event-spine')?.range?.p99_ms, row(peer)?.range?.p99_ms, false));
    }
    for (const size of [...new Set((r.w4?.catchup ?? []).map((x) => x.size))]) {
      const get = (s: SystemName): number | undefined => r.w4?.catchup.find((x) => x.system === s && x.size === size)?.events_per_s;
      out.push(ratio('W4', `catch-up events/s, ${size} events`, peer, get('event-spine'), get(peer), true));
    }
    for (const n of [...new Set((r.w4?.fanout ?? []).map((x) => x.subscribers))]) {
      const get = (s: SystemName): number | undefined => r.w4?.fanout.find((x) => x.system === s && x.subscribers === n)?.append_events_per_s;
      out.push(ratio('W4', `append events/s with ${n} subscribers`, peer, get('event-spine'), get(peer), true));
    }
    for (const size of [...new Set((r.w5 ?? []).map((x) => x.size))]) {
      const row = (s: SystemName): W5Row | undefined => r.w5?.find((x) => x.system === s && x.size === size && x.mode === 'server');
      out.push(ratio('W5', `restart after SIGKILL, ${size} events`, peer, row('event-spine')?.crash_restart_ms, row(peer)?.crash_restart_ms, false));
    }
  }
  return out.filter((x): x is Ratio => x !== undefined);
}

export function computeTargets(r: Results): Target[] {
  const t: Target[] = [];
  const bestDurable = <T extends { system: SystemName; events_per_s: number }>(rows: T[]): T | undefined =>
    rows.filter((x) => DURABLE_PEERS.includes(x.system)).sort((a, b) => b.events_per_s - a.events_per_s)[0];

  if (r.w1 !== undefined) {
    const ours = bestW1(r.w1, 'event-spine');
    const peer = bestDurable(DURABLE_PEERS.map((p) => bestW1(r.w1 as W1Row[], p)).filter((x): x is W1Row => x !== undefined));
    const x = ours !== undefined && peer !== undefined ? ours.events_per_s / peer.events_per_s : undefined;
    t.push({
      id: 'W1',
      target: '≥ 1.5× the best durable peer',
      measured: x === undefined ? 'no durable peer ran' : `${round(x, 2)}× ${peer?.system} (${ours?.events_per_s} vs ${peer?.events_per_s} events/s, event-spine via ${ours?.variant})`,
      met: x === undefined ? null : x >= 1.5,
    });
  }
  if (r.w2 !== undefined) {
    const at = Math.max(...r.w2.map((x) => x.producers));
    const rows = r.w2.filter((x) => x.producers === at);
    const ours = rows.find((x) => x.system === 'event-spine');
    const peer = bestDurable(rows);
    const x = ours !== undefined && peer !== undefined ? ours.events_per_s / peer.events_per_s : undefined;
    t.push({
      id: 'W2',
      target: `≥ 2× the best durable peer at ${at} producers`,
      measured: x === undefined ? 'no durable peer ran' : `${round(x, 2)}× ${peer?.system} (${ours?.events_per_s} vs ${peer?.events_per_s} events/s)`,
      met: x === undefined ? null : x >= 2,
    });
  }
  if (r.w3 !== undefined) {
    const rows = r.w3.filter((x) => x.system === 'event-spine');
    const sizes = [...new Set(rows.map((x) => x.size))].sort((a, b) => a - b);
    const small = sizes[0] as number;
    const large = sizes[sizes.length - 1] as number;
    for (const mode of ['server', 'in-process'] as const) {
      const lo = rows.find((x) => x.size === small && x.mode === mode);
      const hi = rows.find((x) => x.size === large && x.mode === mode);
      if (hi === undefined) continue;
      const p99s = [hi.entity?.p99_ms, hi.range?.p99_ms].filter((v): v is number => v !== undefined);
      t.push({
        id: `W3 p99 (${mode})`,
        target: `p99 ≤ 5 ms at ${large} events`,
        measured: `entity history ${hi.entity?.p99_ms} ms, time range ${hi.range?.p99_ms} ms`,
        met: p99s.length === 0 ? null : p99s.every((v) => v <= 5),
      });
      if (lo !== undefined && small !== large) {
        const g = (a?: number, b?: number): number | undefined => (a !== undefined && b !== undefined && a > 0 ? b / a : undefined);
        const ge = g(lo.entity?.p99_ms, hi.entity?.p99_ms);
        const gr = g(lo.range?.p99_ms, hi.range?.p99_ms);
        t.push({
          id: `W3 growth (${mode})`,
          target: `p99 growth ≤ 1.5× from ${small} to ${large} events`,
          measured: `entity history ${ge === undefined ? '–' : round(ge, 2)}×, time range ${gr === undefined ? '–' : round(gr, 2)}×`,
          met: ge === undefined || gr === undefined ? null : ge <= 1.5 && gr <= 1.5,
        });
      }
    }
  }
  if (r.w4 !== undefined) {
    const most = r.w4.fanout.filter((x) => x.system === 'event-spine' && x.append_rate_lost_pct !== undefined).sort((a, b) => b.subscribers - a.subscribers)[0];
    if (most !== undefined) {
      t.push({
        id: 'W4',
        target: `${most.subscribers} subscribers cost < 10% of the append rate`,
        measured: `${most.append_rate_lost_pct}% lost (${most.append_events_per_s} events/s with ${most.subscribers} subscribers)`,
        met: (most.append_rate_lost_pct as number) < 10,
      });
    }
  }
  if (r.w5 !== undefined) {
    for (const mode of ['server', 'in-process'] as const) {
      const rows = r.w5.filter((x) => x.system === 'event-spine' && x.mode === mode).sort((a, b) => a.size - b.size);
      const lo = rows[0];
      const hi = rows[rows.length - 1];
      if (lo === undefined || hi === undefined || lo.size === hi.size) continue;
      const parts: string[] = [];
      let ok = true;
      for (const key of ['first_open_ms', 'clean_restart_ms', 'crash_restart_ms'] as const) {
        const a = lo[key];
        const b = hi[key];
        if (a === undefined || b === undefined) continue;
        parts.push(`${key.replace(/_ms$/, '')} ${a} → ${b} ms (${round(b / a, 2)}×)`);
        if (b / a > 1.5) ok = false;
      }
      t.push({ id: `W5 (${mode})`, target: `open time flat in store size (≤ 1.5× from ${lo.size} to ${hi.size} events)`, measured: parts.join(', '), met: parts.length === 0 ? null : ok });
    }
  }
  return t;
}
