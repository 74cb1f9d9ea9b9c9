/**
 * What an SSE stream writes: the messages (events encoded once for every stream that
 * carries them) and each open stream's output state.
 */
import type { ServerResponse } from 'node:http';
import type { StoredEvent } from '../../event';
import { eventJson } from './event-json';

/**
 * Recent events' messages, serialized and UTF-8 encoded once however many streams carry
 * them: a ring indexed by seq (an event never changes, so within one store its seq names
 * its message). Live streams and streams catching up from the log (fresh objects each)
 * share it. At most FRAME_RING × FRAME_CACHE_MAX_BYTES (32 MiB); larger ones are not kept.
 */
const FRAME_RING = 4096;
const FRAME_CACHE_MAX_BYTES = 8 * 1024;

export class FrameCache {
  private readonly seqs = new Float64Array(FRAME_RING);
  private readonly frames: (Buffer | undefined)[] = new Array<Buffer | undefined>(FRAME_RING);

  eventFrame(ev: StoredEvent): Buffer {
    const slot = ev.seq % FRAME_RING;
    if (this.seqs[slot] === ev.seq) return this.frames[slot] as Buffer;
    const frame = Buffer.from(`id: ${ev.seq}\nevent: event\ndata: ${eventJson(ev)}\n\n`);
    if (frame.length <= FRAME_CACHE_MAX_BYTES) {
      this.seqs[slot] = ev.seq;
      this.frames[slot] = frame;
    }
    return frame;
  }
}

/** caught_up / fell_behind: a position to resume after, like an event's id. */
export function markerFrame(name: 'caught_up' | 'fell_behind', seq: number): Buffer {
  return Buffer.from(`id: ${seq}\nevent: ${name}\ndata: {"seq":${seq}}\n\n`);
}

/** Past this many bytes a burst is written at once rather than at its end. */
const FLUSH_BYTES = 64 * 1024;

/** One open stream. */
export class OpenStream {
  /** Every matching event up to this seq has been written (the client's resume point). */
  position: number;
  stopped = false;
  /** Something was written since the last heartbeat tick. */
  wrote = true;
  /** Wakes the stream's loop (to end, or when a hub lets go of it). */
  wake: (() => void) | undefined;
  /** The fan-out hub writing to this stream, while one does (sse-hub.ts). */
  hub: { leave(stream: OpenStream): void } | undefined;
  /** The hub waits for this stream's socket to drain (its 'drain' listener). */
  hubDrain: (() => void) | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushing = false;

  constructor(
    readonly res: ServerResponse,
    position: number,
  ) {
    this.position = position;
  }

  get writable(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /**
   * Queues a message. The events of one group commit reach the stream in one burst of
   * microtasks: they leave as one write (process.nextTick runs after the burst), not one
   * write, chunk and system call per event.
   */
  queue(frame: Buffer, seq: number): void {
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    this.position = seq;
    this.wrote = true;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.flushing) {
      this.flushing = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Writes bytes now (a hub's burst), after anything queued. */
  writeNow(bytes: Buffer, position: number): void {
    this.flush();
    this.position = position;
    this.wrote = true;
    if (this.writable) this.res.write(bytes);
  }

  flush(): void {
    this.flushing = false;
    const bytes = this.take();
    if (bytes.length > 0 && this.writable) this.res.write(bytes);
  }

  /** Ends the response with what is queued and `lastWords`. */
  end(lastWords: string): void {
    const bytes = this.take();
    if (this.writable) this.res.end(Buffer.concat([bytes, Buffer.from(lastWords)]));
  }

  private take(): Buffer {
    const { pending, pendingBytes } = this;
    this.pending = [];
    this.pendingBytes = 0;
    return pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
  }
}
