/**
 * The store's handle on the index worker: the same questions EventIndex answers, asked
 * across the thread boundary. Writes carry the log's frames as written.
 */
import type { Worker } from 'node:worker_threads';
import { SpineError, type ErrorCode } from '../errors';
import type { IndexHead, Posting } from '../index';
import type { FrameRun, SegmentFiles } from '../log';
import { startWorker } from '../worker-script';
import type { IndexReply, IndexRequest, IndexResults } from './index-protocol';

/**
 * Postings with frames: the first page covers a query page of 100 (and the one after it
 * that makes the cursor) in one round trip; later pages double, up to the last size.
 */
const FRAME_PAGES = [128, 256, 512, 1024] as const;

/** Where a sequential read starts: the frame of `seq` at `offset`, and the bytes from there. */
export interface LogStart {
  seq: number;
  offset: number;
  frames: Buffer;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A page of postings with their frames, one after another in `frames`. */
export interface PostingFrames {
  /** Flat [seq, offset, length, …] triples. */
  postings: number[];
  frames: Buffer;
}

export class IndexClient {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private head: IndexHead | undefined;
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: IndexReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new SpineError((reply.error.code as ErrorCode | undefined) ?? 'INTERNAL', reply.error.message));
    });
    const fail = (err: Error): void => {
      this.failure = new SpineError('INTERNAL', `the index worker stopped: ${err.message}`, { cause: err });
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  static async open(dir: string): Promise<IndexClient> {
    const client = new IndexClient(startWorker(__dirname, 'index-worker'));
    try {
      client.head = (await client.call({ op: 'open', dir })) ?? undefined;
    } catch (err) {
      await client.worker.terminate();
      throw err;
    }
    return client;
  }

  private call<Op extends IndexRequest['op']>(req: Extract<IndexRequest, { op: Op }>): Promise<IndexResults[Op]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, req });
    });
  }

  get indexedHead(): IndexHead | undefined {
    return this.head;
  }

  /**
   * Indexes a run of frames once they are in the log (the worker reads them there): one
   * segment's bytes from `offset` on, one or more group commits' worth.
   */
  async write(run: FrameRun): Promise<void> {
    this.head = await this.call({ op: 'write', dir: run.dir, segment: run.segment, offset: run.offset, length: run.length });
  }

  async lookupIds(ids: string[]): Promise<(Posting | undefined)[]> {
    if (ids.length === 0) return [];
    const hits = await this.call({ op: 'lookupIds', ids });
    return hits.map((h) => (h === null ? undefined : { seq: h[0] as number, offset: h[1] as number, length: h[2] as number }));
  }

  /**
   * Where a sequential read of `seq` starts (the located frame at or before it), with up to
   * `bytes` of the frames from there, read by the worker: no thread-pool read for a short
   * range. Undefined when the index has no location for it.
   */
  async logStart(seq: number, segment: number, bytes: number, files: SegmentFiles): Promise<LogStart | undefined> {
    const start = await this.call({ op: 'logStart', seq, segment, bytes, files });
    if (start === null) return undefined;
    return { seq: start.seq, offset: start.offset, frames: asBuffer(start.frames) };
  }

  /**
   * The first seq stamped at or after each bound of a time range, in one round trip; with
   * `start`, also the logStart of the seq range they narrow [fromSeq, toSeq] to (`lo` is
   * its first seq), when it is not empty.
   */
  async timeBounds(
    sinceMs: number | undefined,
    untilMs: number | undefined,
    start?: { fromSeq: number; toSeq: number; bytes: number; files: SegmentFiles },
  ): Promise<{ since: number | undefined; until: number | undefined; start: (LogStart & { lo: number }) | undefined }> {
    const reply = await this.call({ op: 'timeBounds', sinceMs: sinceMs ?? null, untilMs: untilMs ?? null, start: start ?? null });
    const [since, until] = reply.bounds;
    const s = reply.start;
    return { since: since ?? undefined, until: until ?? undefined, start: s === null ? undefined : { lo: s.lo, seq: s.seq, offset: s.offset, frames: asBuffer(s.frames) } };
  }

  /**
   * The postings of one value in [fromSeq, toSeq] with their frames, a page per round trip
   * (the worker reads the frames: no read per frame here). From the second page on, the
   * next page is asked for before this one is handed over, so that the worker reads while
   * the caller decodes.
   */
  async *postingFrames(tagValue: string, fromSeq: number, toSeq: number, descending: boolean, files: () => SegmentFiles): AsyncGenerator<PostingFrames> {
    let lo = fromSeq;
    let hi = toSeq;
    let page = 0;
    const size = (n: number): number => FRAME_PAGES[Math.min(n, FRAME_PAGES.length - 1)] as number;
    const ask = (): Promise<IndexResults['postingFrames']> => {
      const reply = this.call({ op: 'postingFrames', tagValue, fromSeq: lo, toSeq: hi, descending, max: size(page), files: files() });
      // A read-ahead may fail while the caller is busy, or be left behind: it is awaited (and
      // its error thrown) only when its page is wanted.
      reply.catch(() => undefined);
      return reply;
    };
    let pending = lo <= hi ? ask() : undefined;
    while (pending !== undefined) {
      const { postings, frames } = await pending;
      pending = undefined;
      let more = postings.length >= 3 * size(page);
      if (more) {
        const lastSeq = postings[postings.length - 3] as number;
        if (descending) hi = lastSeq - 1;
        else lo = lastSeq + 1;
        more = lo <= hi;
      }
      page += 1;
      // A query page usually ends within the first page: read ahead from the second on.
      if (more && page > 1) pending = ask();
      yield { postings, frames: asBuffer(frames) };
      if (more && pending === undefined) pending = ask();
    }
  }

  async reopen(): Promise<void> {
    await this.call({ op: 'reopen' });
  }

  async close(): Promise<void> {
    if (this.failure === undefined) await this.call({ op: 'close' });
    await this.worker.terminate();
  }
}
