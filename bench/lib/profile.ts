/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): where the samples fell, by function
 * (self time) and by area (our src/ folders, each dependency, Node internals, GC, idle).
 *
 *   node dist/bench/lib/profile.js FILE.cpuprofile [--top 20]
 */
import { readFileSync } from 'node:fs';
import { round } from '../stats';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  total_ms: number;
  busy_pct: number;
  top_functions: { name: string; where: string; self_ms: number; self_pct: number }[];
  /** Time with the function anywhere on the stack (our own code only: dist/src, dist/bench). */
  inclusive: { name: string; where: string; total_ms: number; total_pct: number }[];
  areas: { area: string; self_ms: number; self_pct: number }[];
}

function area(url: string, fn: string): string {
  if (fn === '(idle)') return '(idle)';
  if (fn === '(garbage collector)') return '(garbage collector)';
  if (fn === '(program)') return '(program: native, not attributed)';
  if (url === '') return '(native / V8 builtins)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm !== null) return `dep: ${nm[1]}`;
  const src = /dist\/(src\/[^/]+|bench)/.exec(url);
  if (src !== null) return src[1] as string;
  if (url.startsWith('node:')) return 'node: internals';
  return url.replace(/^file:\/\//, '');
}

export function summarise(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Self time per node from the samples and their time deltas (µs).
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    const dt = deltas[i + 1] ?? deltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const totalUs = Math.max(1, p.endTime - p.startTime);
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (n === undefined) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName === '' ? '(anonymous)' : functionName;
    if (name === '(idle)') idleUs += us;
    const where = url === '' ? '' : `${url.replace(/^.*?(dist\/|node_modules\/)/, '$1')}:${lineNumber + 1}`;
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fns.set(key, f);
    const a = area(url, name);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'}@${n.callFrame.url.replace(/^.*?(dist\/|node_modules\/)/, '$1')}:${n.callFrame.lineNumber + 1}`;
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (n === undefined || !/dist\/(src|bench)\//.test(n.callFrame.url)) continue;
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number): number => round((100 * us) / totalUs, 1);
  return {
    file,
    total_ms: round(totalUs / 1000, 0),
    busy_pct: round(100 - (100 * idleUs) / totalUs, 1),
    top_functions: [...fns.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, self_ms: round(f.us / 1000, 0), self_pct: pct(f.us) })),
    inclusive: [...incl]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => {
        const at = k.indexOf('@');
        return { name: k.slice(0, at), where: k.slice(at + 1), total_ms: round(us / 1000, 0), total_pct: pct(us) };
      }),
    areas: [...areas]
      .sort((a, b) => b[1] - a[1])
      .map(([a, us]) => ({ area: a, self_ms: round(us / 1000, 0), self_pct: pct(us) })),
  };
}

export function summaryText(s: ProfileSummary): string {
  const lines = [`${s.file}: ${s.total_ms} ms profiled, ${s.busy_pct}% busy`, '  by area (self time):'];
  for (const a of s.areas.slice(0, 12)) lines.push(`    ${String(a.self_pct).padStart(5)}%  ${a.area}`);
  lines.push('  top functions (self time):');
  for (const f of s.top_functions) lines.push(`    ${String(f.self_pct).padStart(5)}%  ${f.name}  ${f.where}`);
  lines.push('  our functions, inclusive (on the stack):');
  for (const f of s.inclusive) lines.push(`    ${String(f.total_pct).padStart(5)}%  ${f.name}  ${f.where}`);
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/lib/profile.js FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const i = process.argv.indexOf('--top');
  console.log(summaryText(summarise(file, i > 0 ? Number(process.argv[i + 1]) : 20)));
}
