/** Messages between the store and its index worker (index-worker.ts). */
import type { IndexHead } from '../index';

export type IndexRequest =
  | { op: 'open'; dir: string }
  | { op: 'write'; segment: number; offset: number; frames: Uint8Array }
  | { op: 'lookupIds'; ids: string[] }
  | { op: 'locate'; seq: number; segment: number }
  | { op: 'firstSeqAtOrAfter'; ms: number }
  /** Up to `max` postings as flat [seq, offset, length, …] triples. */
  | { op: 'postings'; tagValue: string; fromSeq: number; toSeq: number; descending: boolean; max: number }
  | { op: 'reopen' }
  | { op: 'close' };

export interface IndexResults {
  open: IndexHead | null;
  write: IndexHead;
  lookupIds: (number[] | null)[];
  locate: { seq: number; offset: number } | null;
  firstSeqAtOrAfter: number | null;
  postings: number[];
  reopen: null;
  close: null;
}

export type IndexReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code?: string; message: string } };
