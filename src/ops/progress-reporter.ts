/**
 * Progress of a long command on standard error: a bar redrawn in place on a terminal, and
 * plain lines otherwise (one at every tenth of the way, and one at the end), so that logs
 * and CI output stay readable.
 *
 *   terminal:  verify [##########··········]  50%  5000/10000 events
 *   otherwise: verify: 5000/10000 events (50%)
 */

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** How an amount is shown: events as counts, bytes in binary units. */
export type ProgressUnit = 'events' | 'bytes';

const BAR_WIDTH = 24;
const REDRAW_MS = 100;

export function formatAmount(n: number, unit: ProgressUnit): string {
  if (unit === 'events') return String(n);
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(1)} ${units[i] as string}`;
}

export class ProgressReporter {
  private lastDecile = -1;
  private lastDrawMs = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly unit: ProgressUnit,
    private readonly out: ProgressOutput = process.stderr,
  ) {}

  get tty(): boolean {
    return this.out.isTTY === true;
  }

  update(done: number, total: number): void {
    const percent = total <= 0 ? 100 : Math.min(100, Math.floor((100 * done) / total));
    const amounts = `${formatAmount(done, this.unit)}/${formatAmount(total, this.unit)} ${this.unit === 'events' ? 'events' : ''}`.trimEnd();
    if (this.tty) {
      const now = Date.now();
      if (percent < 100 && now - this.lastDrawMs < REDRAW_MS) return;
      this.lastDrawMs = now;
      const filled = Math.round((BAR_WIDTH * percent) / 100);
      const bar = '#'.repeat(filled) + '·'.repeat(BAR_WIDTH - filled);
      this.out.write(`\r\x1b[2K${this.label} [${bar}] ${String(percent).padStart(3)}%  ${amounts}`);
      this.drawn = true;
      return;
    }
    const decile = Math.floor(percent / 10);
    if (decile <= this.lastDecile) return;
    this.lastDecile = decile;
    this.out.write(`${this.label}: ${amounts} (${percent}%)\n`);
  }

  /** Ends the bar (a newline on a terminal); `message`, if any, on a line of its own. */
  finish(message?: string): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
    if (message !== undefined) this.out.write(`${message}\n`);
  }
}
