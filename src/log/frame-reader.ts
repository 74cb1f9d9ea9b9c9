/**
 * Reads the frames of known locations with synchronous reads on file descriptors kept
 * open. For a thread that may block (the index worker): it answers a page of a posting
 * list together with its frames in one round trip, instead of one thread-pool read per
 * frame on the main thread. It only copies bytes: each frame is checked (checksum, seq)
 * where it is decoded (SegmentLog.eventOfFrame).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { wrapIoError } from '../errors';
import { logDamage, segmentFileName, segmentOfSeq, type SegmentFiles } from './segment-files';

export class FrameReader {
  /** Descriptors by segment, of the folder `dir` (one store's). */
  private readonly fds = new Map<number, number>();
  private dir = '';

  /**
   * The frames at `postings` (flat [seq, offset, length, …] triples), one after another
   * in posting order, in an ArrayBuffer of their own (transferable). Frames adjacent both
   * in the file and in the list are read with one call.
   */
  read(files: SegmentFiles, postings: readonly number[]): Uint8Array {
    this.use(files.dir);
    let total = 0;
    for (let i = 2; i < postings.length; i += 3) total += postings[i] as number;
    const out = new Uint8Array(new ArrayBuffer(total));
    let at = 0;
    for (let i = 0; i < postings.length; ) {
      const runStart = i;
      const segment = segmentOfSeq(files.segments, postings[i] as number);
      const offset = postings[i + 1] as number;
      let length = postings[i + 2] as number;
      i += 3;
      while (i < postings.length && postings[i + 1] === offset + length && segmentOfSeq(files.segments, postings[i] as number) === segment) {
        length += postings[i + 2] as number;
        i += 3;
      }
      const got = this.readFully(segment, out, at, length, offset);
      if (got < length) {
        // The file ends before the run does: name the first frame it cuts short.
        for (let j = runStart, frameAt = offset; j < i; j += 3) {
          frameAt += postings[j + 2] as number;
          if (frameAt > offset + got) throw logDamage(segment, frameAt - (postings[j + 2] as number), postings[j] as number, 'the segment ends inside this frame');
        }
      }
      at += length;
    }
    return out;
  }

  /** Up to `bytes` of a segment of folder `dir` from `offset` (fewer at its end), in an ArrayBuffer of their own. */
  readFrom(dir: string, segment: number, offset: number, bytes: number): Uint8Array {
    this.use(dir);
    const out = new Uint8Array(new ArrayBuffer(bytes));
    return out.subarray(0, this.readFully(segment, out, 0, bytes, offset));
  }

  /** Closes every descriptor. Idempotent. */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private use(dir: string): void {
    if (dir === this.dir) return;
    this.close();
    this.dir = dir;
  }

  private readFully(segment: number, buf: Uint8Array, at: number, length: number, position: number): number {
    let done = 0;
    try {
      const fd = this.fd(segment);
      while (done < length) {
        const n = readSync(fd, buf, at + done, length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw wrapIoError(err, `reading ${length} bytes at offset ${position} of segment ${segmentFileName(segment)}`);
    }
    return done;
  }

  private fd(segment: number): number {
    let fd = this.fds.get(segment);
    if (fd === undefined) {
      fd = openSync(join(this.dir, segmentFileName(segment)), 'r');
      this.fds.set(segment, fd);
    }
    return fd;
  }
}
