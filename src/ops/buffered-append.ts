/**
 * Steps of an operation written in batches: one append (one fsync) for many steps, so a
 * thousand-table request does not wait for thousands of fsyncs, while watchers still see
 * progress at least every `maxDelayMs`. Order is kept: a batch is appended in the order its
 * events were added, and batches one after the other.
 */
import type { EventInput } from '../event';
import type { AppendResult } from '../store';

export class BufferedAppend {
  private buffer: EventInput[] = [];
  private lastFlushMs = Date.now();

  constructor(
    private readonly append: (events: EventInput[]) => Promise<AppendResult[]>,
    private readonly maxEvents = 500,
    private readonly maxDelayMs = 100,
  ) {}

  /** Adds events; appends the buffer when it is full or has waited long enough. */
  async add(...events: EventInput[]): Promise<void> {
    this.buffer.push(...events);
    if (this.buffer.length >= this.maxEvents || Date.now() - this.lastFlushMs >= this.maxDelayMs) await this.flush();
  }

  /** Appends whatever is buffered. */
  async flush(): Promise<void> {
    this.lastFlushMs = Date.now();
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    await this.append(batch);
  }
}
