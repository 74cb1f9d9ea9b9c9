/**
 * Prometheus metrics without a dependency: counters, gauges and histograms, rendered in the
 * text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).
 */

export type Labels = Readonly<Record<string, string>>;

/** The Content-Type of the text format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

abstract class Metric {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new TypeError(`metric name ${JSON.stringify(name)} is not valid`);
    for (const l of labelNames) if (!LABEL.test(l) || l === 'le') throw new TypeError(`label name ${JSON.stringify(l)} is not valid`);
  }

  /** `{a="1",b="2"}` for the declared labels, in declared order ('' without labels). */
  protected labelText(labels: Labels | undefined, extra?: string): string {
    const parts = this.labelNames.map((l) => {
      const v = labels?.[l];
      if (v === undefined) throw new TypeError(`metric ${this.name}: label ${l} is missing`);
      return `${l}="${escapeLabelValue(v)}"`;
    });
    if (extra !== undefined) parts.push(extra);
    return parts.length === 0 ? '' : `{${parts.join(',')}}`;
  }

  render(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n${this.samples()}`;
  }

  protected abstract samples(): string;
}

/** A value that only goes up (resets with the process). */
export class Counter extends Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, number>();

  inc(labels?: Labels, by = 1): void {
    if (by < 0) throw new TypeError(`counter ${this.name} cannot decrease`);
    const key = this.labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(labels?: Labels): number {
    return this.values.get(this.labelText(labels)) ?? 0;
  }

  protected samples(): string {
    if (this.values.size === 0 && this.labelNames.length === 0) return `${this.name} 0\n`;
    let out = '';
    for (const [labels, value] of this.values) out += `${this.name}${labels} ${formatNumber(value)}\n`;
    return out;
  }
}

/** A value that goes up and down; either set, or read when rendered through `collect`. */
export class Gauge extends Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, number>();

  constructor(name: string, help: string, labelNames: readonly string[] = [], private readonly collect?: () => number | undefined) {
    super(name, help, labelNames);
  }

  set(value: number, labels?: Labels): void {
    this.values.set(this.labelText(labels), value);
  }

  inc(labels?: Labels, by = 1): void {
    const key = this.labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  dec(labels?: Labels, by = 1): void {
    this.inc(labels, -by);
  }

  get(labels?: Labels): number {
    return this.values.get(this.labelText(labels)) ?? 0;
  }

  protected samples(): string {
    if (this.collect !== undefined) {
      const v = this.collect();
      return v === undefined ? '' : `${this.name} ${formatNumber(v)}\n`;
    }
    if (this.values.size === 0 && this.labelNames.length === 0) return `${this.name} 0\n`;
    let out = '';
    for (const [labels, value] of this.values) out += `${this.name}${labels} ${formatNumber(value)}\n`;
    return out;
  }
}

interface HistogramSeries {
  labels: Labels | undefined;
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets (`le`), with their sum and count. */
export class Histogram extends Metric {
  readonly type = 'histogram';
  private readonly series = new Map<string, HistogramSeries>();
  readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    super(name, help, labelNames);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || new Set(sorted).size !== sorted.length) throw new TypeError(`histogram ${name}: buckets must be distinct and non-empty`);
    this.buckets = sorted;
  }

  observe(value: number, labels?: Labels): void {
    const key = this.labelText(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Counted into the first bucket it fits; rendering accumulates.
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    if (i < this.buckets.length) s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count += 1;
  }

  /** Observations so far (all label sets, or one). */
  count(labels?: Labels): number {
    if (labels !== undefined) return this.series.get(this.labelText(labels))?.count ?? 0;
    let n = 0;
    for (const s of this.series.values()) n += s.count;
    return n;
  }

  protected samples(): string {
    let out = '';
    const all = this.series.size === 0 && this.labelNames.length === 0 ? [{ labels: undefined, counts: this.buckets.map(() => 0), sum: 0, count: 0 }] : [...this.series.values()];
    for (const s of all) {
      let cumulative = 0;
      for (const [i, le] of this.buckets.entries()) {
        cumulative += s.counts[i] as number;
        out += `${this.name}_bucket${this.labelText(s.labels, `le="${formatNumber(le)}"`)} ${cumulative}\n`;
      }
      out += `${this.name}_bucket${this.labelText(s.labels, 'le="+Inf"')} ${s.count}\n`;
      out += `${this.name}_sum${this.labelText(s.labels)} ${formatNumber(s.sum)}\n`;
      out += `${this.name}_count${this.labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

/** The metrics of one process, rendered together for /metrics. */
export class Registry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: () => number | undefined): Gauge {
    return this.add(new Gauge(name, help, labelNames, collect));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  render(): string {
    let out = '';
    for (const m of this.metrics.values()) out += m.render();
    return out;
  }

  private add<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new TypeError(`metric ${metric.name} is registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}
