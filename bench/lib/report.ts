/**
 * The results as Markdown tables: printed on stdout after a run, and kept in
 * bench/README.md between the `results:begin` / `results:end` markers.
 */
import type { Results } from './results';

type Cell = string | number | undefined | null;

function fmt(v: Cell): string {
  if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) return '–';
  if (typeof v === 'number') return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
  return v;
}

export function table(head: string[], rows: Cell[][]): string {
  const cells = [head, ...rows.map((r) => r.map(fmt))];
  const widths = head.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((x, c) => x.padEnd(widths[c] as number)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

function label(r: Results, name: string): string {
  return r.systems.find((s) => s.name === name)?.label ?? name;
}

export function conditionsMarkdown(r: Results): string {
  const c = r.conditions;
  const items = Object.entries(c).map(([k, v]) => `- **${k}**: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return items.join('\n');
}

/** CPU per event of W1/W2 rows (workloads/w1-w2.ts), absent in results of older runs. */
const CPU_HEADERS = ['server CPU µs/event', 'client CPU µs/event'];

function cpuCells(x: { server_cpu_us_per_event?: number; client_cpu_us_per_event?: number }): Cell[] {
  return [x.server_cpu_us_per_event, x.client_cpu_us_per_event];
}

export function resultsMarkdown(r: Results): string {
  const out: string[] = [];
  if (r.w1 !== undefined) {
    out.push(`### W1 — batched appends (${r.w1[0]?.events ?? ''} events, ${r.w1[0]?.batch} per request, ${r.w1[0]?.producers} producers)`);
    out.push(table(['system', 'how', 'events', 'events/s', 'p50 ms', 'p99 ms', 'max ms', ...CPU_HEADERS], r.w1.map((x) => [label(r, x.system), x.variant, x.events, x.events_per_s, x.p50_ms, x.p99_ms, x.max_ms, ...cpuCells(x)])));
  }
  if (r.w2 !== undefined) {
    out.push('### W2 — single-event producers, each awaiting its acknowledgement');
    out.push(table(['system', 'producers', 'events', 'events/s', 'p50 ms', 'p99 ms', 'max ms', ...CPU_HEADERS], r.w2.map((x) => [label(r, x.system), x.producers, x.events, x.events_per_s, x.p50_ms, x.p99_ms, x.max_ms, ...cpuCells(x)])));
  }
  if (r.w3 !== undefined) {
    out.push('### W3 — queries (100-event entity history, newest first; first page of 100 of a one-hour time range)');
    out.push(
      table(
        ['system', 'mode', 'events', 'fill events/s', 'disk MB', 'entity p50 ms', 'entity p99 ms', 'items', 'range p50 ms', 'range p99 ms', 'items'],
        r.w3.map((x) => [label(r, x.system), x.mode, x.size, x.fill_events_per_s, x.disk_mb, x.entity?.p50_ms ?? (x.entity_note.startsWith('cannot') ? x.entity_note : undefined), x.entity?.p99_ms, x.entity?.items, x.range?.p50_ms ?? (x.range_note.startsWith('cannot') ? x.range_note : undefined), x.range?.p99_ms, x.range?.items]),
      ),
    );
    const notes = new Map<string, string>();
    for (const x of r.w3) {
      notes.set(`${label(r, x.system)} (${x.mode}) entity history`, x.entity_note);
      notes.set(`${label(r, x.system)} (${x.mode}) time range`, x.range_note);
    }
    out.push([...notes].map(([k, v]) => `- ${k}: ${v}`).join('\n'));
  }
  if (r.w4 !== undefined) {
    if (r.w4.catchup.length > 0) {
      out.push('### W4 — catch-up read (a new reader consuming the whole store from the start)');
      out.push(table(['system', 'store events', 'read', 's', 'events/s', 'how'], r.w4.catchup.map((x) => [label(r, x.system), x.size, x.events, x.elapsed_s, x.events_per_s, x.note])));
    }
    if (r.w4.fanout.length > 0) {
      out.push('### W4 — live fan-out (W1 append shape for a fixed time, every subscriber receives every event)');
      out.push(
        table(
          ['system', 'subscribers', 'append events/s', 'rate lost %', 'append p99 ms', 'delivered %', 'drain ms', 'lag p50 ms', 'lag p99 ms', 'fell_behind'],
          r.w4.fanout.map((x) => [label(r, x.system), x.subscribers, x.appended === 0 ? x.note : x.append_events_per_s, x.append_rate_lost_pct, x.append_p99_ms || undefined, x.delivered_pct, x.drain_ms, x.lag_p50_ms, x.lag_p99_ms, x.fell_behind]),
        ),
      );
    }
  }
  if (r.w5 !== undefined) {
    out.push('### W5 — open and crash recovery against store size (ms until the system answers; medians of the repetitions listed)');
    const all = (xs?: number[]): string | undefined => (xs === undefined || xs.length < 2 ? undefined : xs.map((x) => Math.round(x)).join(', '));
    out.push(
      table(
        ['system', 'mode', 'events', 'first open', 'after clean stop', '(each)', 'after SIGKILL', '(each)', 'note'],
        r.w5.map((x) => [label(r, x.system), x.mode, x.size, x.first_open_ms, x.clean_restart_ms, all(x.clean_restarts_ms), x.crash_restart_ms, all(x.crash_restarts_ms), x.note]),
      ),
    );
  }
  if (r.ratios.length > 0) {
    out.push('### event-spine against each peer (× better: throughput ours/theirs, latency and time theirs/ours)');
    out.push(table(['workload', 'measure', 'peer', 'event-spine', 'peer', '× better'], r.ratios.map((x) => [x.workload, x.measure, label(r, x.peer), x.event_spine, x.peer_value, x.advantage])));
  }
  if (r.targets.length > 0) {
    out.push('### Targets (issue 6)');
    out.push(table(['target', 'wanted', 'measured', 'met'], r.targets.map((x) => [x.id, x.target, x.measured, x.met === null ? 'not measured' : x.met ? 'yes' : '**no**'])));
  }
  if (r.errors.length > 0) out.push(`### Failures\n\n${r.errors.map((e) => `- ${e.workload} ${e.system}: ${e.error.split('\n')[0]}`).join('\n')}`);
  const skipped = r.systems.filter((s) => s.status === 'skipped');
  if (skipped.length > 0) out.push(`Skipped: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`);
  return out.join('\n\n');
}
