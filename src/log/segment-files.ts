/**
 * Where segments are and how their damage is named: shared by the log and by readers on
 * other threads (frame-reader.ts).
 */
import { SpineError } from '../errors';

/** Which segments exist: enough for a reader on another thread to find any frame. */
export interface SegmentFiles {
  /** The folder of the segment files. */
  dir: string;
  /** First seqs of all segments, ascending. */
  segments: readonly number[];
}

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

/** The segment (its first seq) that holds `seq`, given the first seqs of all segments. */
export function segmentOfSeq(segments: readonly number[], seq: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((segments[mid] as number) <= seq) lo = mid;
    else hi = mid - 1;
  }
  return segments[lo] as number;
}

/** LOG_CORRUPT naming the segment file, the offset and (when known) the seq. */
export function logDamage(segment: number, offset: number, seq: number, problem: string, cause?: unknown): SpineError {
  const at = seq > 0 ? `, seq ${seq}` : '';
  return new SpineError('LOG_CORRUPT', `log damaged in segment ${segmentFileName(segment)} at offset ${offset}${at}: ${problem}`, { cause });
}
