/**
 * The log's appends go to a thread of their own, which writes and fsyncs each group in one
 * go. Through the libuv pool the write and the fsync are two trips, and between them the
 * main thread has to turn its event loop (decoding, validating and sealing the next
 * requests) before the fsync can even start; the pool is also where the index's LevelDB
 * writes queue. Measured under W1 (4 producers × 100-event requests): a group's write and
 * fsync took 2.2–2.6 ms from the main thread's view with the pool, 1.8–2.2 ms with this
 * thread, and most alternating runs appended faster, by up to 10%.
 *
 * The segment stays the log's FileHandle: the thread writes to its descriptor, and only
 * while the log awaits the write, so the handle is never closed or truncated under it.
 */
import { startWorker } from '../worker-script';

export interface WriteJob {
  id: number;
  fd: number;
  bytes: Uint8Array;
  position: number;
  sync: boolean;
}

export type WriteReply = { id: number; error?: undefined } | { id: number; error: { message: string; code: string | undefined } };

export class LogWriter {
  private readonly worker = startWorker(__dirname, 'log-writer-thread');
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor() {
    this.worker.on('message', (reply: WriteReply) => {
      const w = this.waiting.get(reply.id);
      if (w === undefined) return;
      this.waiting.delete(reply.id);
      if (reply.error === undefined) w.resolve();
      else w.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    const fail = (err: Error): void => {
      this.failure ??= new Error(`the log writer thread stopped: ${err.message}`, { cause: err });
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /**
   * Writes all of `bytes` at `position` of the file `fd`, then fdatasyncs it if `sync`.
   * The memory of `bytes` moves to the thread (it must own its ArrayBuffer, see
   * encodeFrames): posting a group's frames took 60–80 µs copied, 12–33 µs moved.
   */
  write(fd: number, bytes: Buffer, position: number, sync: boolean): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, fd, bytes, position, sync } satisfies WriteJob, [bytes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
