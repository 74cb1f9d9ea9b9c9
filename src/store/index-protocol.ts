/** Messages between the store and its index worker (index-worker.ts). */
import type { IndexHead } from '../index';
import type { SegmentFiles } from '../log';

export type IndexRequest =
  | { op: 'open'; dir: string }
  /**
   * Index the frames of a durable group, which the worker reads from the segment file
   * itself: posting the bytes to a busy worker costs the posting thread about a
   * millisecond, a message of a few numbers a few microseconds.
   */
  | { op: 'write'; dir: string; segment: number; offset: number; length: number }
  | { op: 'lookupIds'; ids: string[] }
  /**
   * The frames from the located frame at or before `seq` on, `bytes` of them at most (fewer
   * at the end of the segment), read from the segment files (FrameReader).
   */
  | { op: 'logStart'; seq: number; segment: number; bytes: number; files: SegmentFiles }
  /**
   * The first seq stamped at or after each bound of a time range (null: no bound, or no
   * such seq); with `start`, also the logStart of the seq range this narrows [fromSeq,
   * toSeq] to, when it is not empty (a time-range page in one round trip).
   */
  | { op: 'timeBounds'; sinceMs: number | null; untilMs: number | null; start: { fromSeq: number; toSeq: number; bytes: number; files: SegmentFiles } | null }
  /** Up to `max` postings as flat [seq, offset, length, …] triples, with their frames (FrameReader). */
  | { op: 'postingFrames'; tagValue: string; fromSeq: number; toSeq: number; descending: boolean; max: number; files: SegmentFiles }
  | { op: 'reopen' }
  | { op: 'close' };

export interface IndexResults {
  open: IndexHead | null;
  write: IndexHead;
  lookupIds: (number[] | null)[];
  /** `frames` starts with the frame of `seq`, at `offset`; its ArrayBuffer is transferred. */
  logStart: { seq: number; offset: number; frames: Uint8Array } | null;
  timeBounds: { bounds: [number | null, number | null]; start: ({ lo: number } & NonNullable<IndexResults['logStart']>) | null };
  /** `frames` holds each posting's frame, in posting order; its ArrayBuffer is transferred. */
  postingFrames: { postings: number[]; frames: Uint8Array };
  reopen: null;
  close: null;
}

export type IndexReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code?: string; message: string } };
