/**
 * The store's handle on the index worker: the same questions EventIndex answers, asked
 * across the thread boundary. Writes carry the log's frames as written.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { SpineError, type ErrorCode } from '../errors';
import type { IndexHead, Posting } from '../index';
import type { FrameBatch } from '../log';
import type { IndexReply, IndexRequest, IndexResults } from './index-protocol';

/** Postings fetched per round trip while a query iterates a posting list. */
const POSTINGS_PAGE = 512;

function workerScript(): string {
  const js = join(__dirname, 'index-worker.js');
  if (existsSync(js)) return js;
  // Running from the TypeScript sources (tests): the compiled worker that `npm test` builds
  // starts in milliseconds; the .ts one needs the TypeScript loader and seconds.
  const compiled = join(__dirname, '..', '..', 'dist', 'src', 'store', 'index-worker.js');
  return existsSync(compiled) ? compiled : join(__dirname, 'index-worker.ts');
}

/**
 * A worker inherits the parent's --import hooks (execArgv and NODE_OPTIONS). Under the test
 * runner those load a TypeScript compiler into every new thread, seconds per Store.open;
 * the compiled worker needs none of them.
 */
function workerOptions(script: string): WorkerOptions {
  if (!__filename.endsWith('.ts') || !script.endsWith('.js')) return {};
  return { execArgv: [], env: { ...process.env, NODE_OPTIONS: '' } };
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
    const script = workerScript();
    const client = new IndexClient(new Worker(script, workerOptions(script)));
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

  /** Indexes a batch of frames (structured clone copies them; a transfer costs more). */
  async write(batch: FrameBatch): Promise<void> {
    this.head = await this.call({ op: 'write', segment: batch.segment, offset: batch.offset, frames: batch.frames });
  }

  async lookupIds(ids: string[]): Promise<(Posting | undefined)[]> {
    if (ids.length === 0) return [];
    const hits = await this.call({ op: 'lookupIds', ids });
    return hits.map((h) => (h === null ? undefined : { seq: h[0] as number, offset: h[1] as number, length: h[2] as number }));
  }

  async locate(seq: number, segment: number): Promise<{ seq: number; offset: number } | undefined> {
    return (await this.call({ op: 'locate', seq, segment })) ?? undefined;
  }

  async firstSeqAtOrAfter(ms: number): Promise<number | undefined> {
    return (await this.call({ op: 'firstSeqAtOrAfter', ms })) ?? undefined;
  }

  /** The postings of one value in [fromSeq, toSeq], fetched a page at a time. */
  async *postings(tagValue: string, fromSeq: number, toSeq: number, descending: boolean): AsyncGenerator<Posting> {
    let lo = fromSeq;
    let hi = toSeq;
    while (lo <= hi) {
      const flat = await this.call({ op: 'postings', tagValue, fromSeq: lo, toSeq: hi, descending, max: POSTINGS_PAGE });
      for (let i = 0; i < flat.length; i += 3) yield { seq: flat[i] as number, offset: flat[i + 1] as number, length: flat[i + 2] as number };
      if (flat.length < POSTINGS_PAGE * 3) return;
      const lastSeq = flat[flat.length - 3] as number;
      if (descending) hi = lastSeq - 1;
      else lo = lastSeq + 1;
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
