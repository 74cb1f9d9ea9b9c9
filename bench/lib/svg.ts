/**
 * The chart of a run, drawn from its JSON as plain SVG (no dependency): W1 throughput as
 * bars (left) and W2 throughput against producer count as lines (right, log-2 x axis).
 *
 *   node dist/bench/lib/svg.js bench/results/<run>.json   (writes <run>.svg beside it)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Results } from './results';

const COLORS: Record<string, string> = { 'event-spine': '#1f6feb', redis: '#d1242f', postgres: '#1a7f37', jetstream: '#bf8700' };
const W = 960;
const H = 420;
const PANEL = { top: 60, bottom: 70, left: 80, width: 360 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function kilo(v: number): string {
  return v >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v));
}

function yAxis(x0: number, y0: number, h: number, max: number, w: number): string[] {
  const out: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    const y = y0 + h - (h * i) / 5;
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="#d0d7de" stroke-width="${i === 0 ? 1.5 : 0.6}"/>`);
    out.push(`<text x="${x0 - 8}" y="${y + 4}" text-anchor="end" font-size="11">${kilo(v)}</text>`);
  }
  return out;
}

export function chartSvg(r: Results): string {
  const parts: string[] = [];
  const h = H - PANEL.top - PANEL.bottom;
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" fill="#24292f">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">event-spine and its peers — ${esc(r.run)}${r.quick ? ' (quick)' : ''}</text>`);
  parts.push(`<text x="${W / 2}" y="40" text-anchor="middle" font-size="11">${esc(String(r.conditions.machine ?? ''))}; events/s, higher is better</text>`);

  // W1 bars
  const w1 = r.w1 ?? [];
  const x1 = PANEL.left;
  parts.push(`<text x="${x1 + PANEL.width / 2}" y="${PANEL.top - 6}" text-anchor="middle" font-size="13" font-weight="bold">W1 batched appends (100 per request, 4 producers)</text>`);
  if (w1.length > 0) {
    const max = niceMax(Math.max(...w1.map((x) => x.events_per_s)));
    parts.push(...yAxis(x1, PANEL.top, h, max, PANEL.width));
    const slot = PANEL.width / w1.length;
    w1.forEach((row, i) => {
      const bh = (h * row.events_per_s) / max;
      const x = x1 + i * slot + slot * 0.15;
      const y = PANEL.top + h - bh;
      parts.push(`<rect x="${x}" y="${y}" width="${slot * 0.7}" height="${bh}" fill="${COLORS[row.system] ?? '#888'}"/>`);
      parts.push(`<text x="${x + slot * 0.35}" y="${y - 4}" text-anchor="middle" font-size="11">${kilo(row.events_per_s)}</text>`);
      const cx = x + slot * 0.35;
      parts.push(`<text x="${cx}" y="${PANEL.top + h + 16}" text-anchor="middle" font-size="11">${esc(row.system)}</text>`);
      parts.push(`<text x="${cx}" y="${PANEL.top + h + 30}" text-anchor="middle" font-size="9" fill="#57606a">${esc(row.variant)}</text>`);
    });
  } else {
    parts.push(`<text x="${x1 + PANEL.width / 2}" y="${PANEL.top + h / 2}" text-anchor="middle" font-size="12">not run</text>`);
  }

  // W2 lines
  const w2 = r.w2 ?? [];
  const x2 = PANEL.left + PANEL.width + 140;
  parts.push(`<text x="${x2 + PANEL.width / 2}" y="${PANEL.top - 6}" text-anchor="middle" font-size="13" font-weight="bold">W2 single-event producers, each awaiting its ack</text>`);
  if (w2.length > 0) {
    const max = niceMax(Math.max(...w2.map((x) => x.events_per_s)));
    parts.push(...yAxis(x2, PANEL.top, h, max, PANEL.width));
    const counts = [...new Set(w2.map((x) => x.producers))].sort((a, b) => a - b);
    const lo = Math.log2(counts[0] as number);
    const hi = Math.log2(counts[counts.length - 1] as number);
    const px = (p: number): number => x2 + 20 + (hi === lo ? (PANEL.width - 40) / 2 : ((Math.log2(p) - lo) / (hi - lo)) * (PANEL.width - 40));
    const py = (v: number): number => PANEL.top + h - (h * v) / max;
    for (const c of counts) parts.push(`<text x="${px(c)}" y="${PANEL.top + h + 16}" text-anchor="middle" font-size="11">${c}</text>`);
    parts.push(`<text x="${x2 + PANEL.width / 2}" y="${PANEL.top + h + 34}" text-anchor="middle" font-size="11">producers</text>`);
    const systems = [...new Set(w2.map((x) => x.system))];
    systems.forEach((s, i) => {
      const pts = w2.filter((x) => x.system === s).sort((a, b) => a.producers - b.producers);
      const color = COLORS[s] ?? '#888';
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map((p) => `${px(p.producers)},${py(p.events_per_s)}`).join(' ')}"/>`);
      for (const p of pts) {
        parts.push(`<circle cx="${px(p.producers)}" cy="${py(p.events_per_s)}" r="4" fill="${color}"/>`);
        parts.push(`<text x="${px(p.producers) + 6}" y="${py(p.events_per_s) - 6}" font-size="10" fill="${color}">${kilo(p.events_per_s)}</text>`);
      }
      const ly = H - 18;
      const lx = PANEL.left + i * 170;
      parts.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="12" fill="${color}"/><text x="${lx + 18}" y="${ly + 1}" font-size="12">${esc(s)}</text>`);
    });
  } else {
    parts.push(`<text x="${x2 + PANEL.width / 2}" y="${PANEL.top + h / 2}" text-anchor="middle" font-size="12">not run</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

if (require.main === module) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/lib/svg.js bench/results/<run>.json\n');
    process.exit(2);
  }
  const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
  writeFileSync(file.replace(/\.json$/, '.svg'), chartSvg(r));
}
