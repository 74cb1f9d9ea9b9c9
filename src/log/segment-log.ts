/**
 * The append-only log: segment files of frames (frame.ts) under `<dir>/segments`, named by
 * the 20-digit seq of their first record. Only the last segment is ever written; a segment
 * is sealed (never written again) once it reaches `segmentBytes`.
 *
 * Appends are whole groups: one write and, under `fsync` durability, one fdatasync, and an
 * append resolves only once its bytes are durable. A failed write (a full disk) is cut back
 * off the file so that the log stays exactly what was acknowledged, and the next append
 * simply tries again.
 */
import { mkdir, open, readdir, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SpineError, wrapIoError } from '../errors';
import { GENESIS_HASH, type StoredEvent } from '../event/types';
import {
  FRAME_HEADER_BYTES,
  MAX_FRAME_BODY_BYTES,
  SEGMENT_HEADER_BYTES,
  loadChecksum,
  parseFrame,
  parseSegmentHeader,
  segmentHeader,
} from './frame';
import { decodeRecord, encodeFrames, peekSeq, type EncodedFrames } from './record';
import { LogWriter } from './log-writer';
import { logDamage, segmentFileName, segmentOfSeq, type SegmentFiles } from './segment-files';

export type Durability = 'fsync' | 'write';

export interface LogOptions {
  /** The data directory; segments live in `<dir>/segments`. */
  dir: string;
  segmentBytes: number;
  /** `fsync`: acknowledged once on disk. `write`: once in the OS page cache (survives a process crash, not a power loss). */
  durability: Durability;
}

/** Where a frame is: the segment (its first seq), the byte offset and the frame's length. */
export interface Location {
  segment: number;
  offset: number;
  length: number;
}

export interface LogEntry {
  event: StoredEvent;
  loc: Location;
}

/** Consecutive frames of one segment, by place (`length` bytes from `offset`): what the indexer consumes. */
export interface FrameRun {
  /** The folder of the segment files. */
  dir: string;
  segment: number;
  /** Offset of the first frame. */
  offset: number;
  length: number;
}

export interface LogHead {
  seq: number;
  event_hash: string;
  timestamp: string;
}

/** Where recovery resumes: just after the last frame the index already holds. */
export interface ResumePoint {
  head: LogHead;
  segment: number;
  offset: number;
}

export interface RecoveryHooks {
  /** Receives every frame after the resume point, in order, in runs (index catch-up). */
  visit(run: FrameRun): Promise<void>;
  /** Bytes scanned so far and in all, for a progress display. */
  progress?(scannedBytes: number, totalBytes: number): void;
  /** A torn tail was cut off the last segment (an append that was never acknowledged). */
  truncated?(segmentFile: string, offset: number, bytesCut: number): void;
}

/** A frame that does not parse, where, and the seq expected there (-1: not known). */
interface ScanDamage {
  damage: string;
  offset: number;
  incomplete: boolean;
  expectedSeq: number;
}

/**
 * A sequential read starts with a small chunk (a query page is tens of KiB) and doubles
 * it up to the large one (exports, catch-up, recovery).
 */
const FIRST_SCAN_CHUNK_BYTES = 64 * 1024;
const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;
const VISIT_BATCH = 10_000;

export class SegmentLog {
  private readonly segmentsDir: string;
  /** First seqs of all segments, ascending. The last one is the active segment. */
  private readonly segments: number[] = [];
  private readonly readHandles = new Map<number, Promise<FileHandle>>();
  private writer: FileHandle | undefined;
  /** Writes and fsyncs the appends (started by the first one). */
  private appender: LogWriter | undefined;
  private writeOffset = SEGMENT_HEADER_BYTES;
  private lastHead: LogHead | undefined;
  private closed = false;
  private broken: SpineError | undefined;
  /** Free space as last measured, less what was written since (see checkSpace). */
  private space: { freeBytes: number; reserveBytes: number; atMs: number } | undefined;

  private constructor(private readonly options: LogOptions) {
    this.segmentsDir = join(options.dir, 'segments');
  }

  /**
   * Opens the log, scanning only what follows `resume` (everything when it is undefined):
   * the scan checks each frame, cuts a torn tail off the last segment, and refuses to open
   * on damage anywhere else, naming the segment, offset and seq.
   */
  static async open(options: LogOptions, resume: ResumePoint | undefined, hooks: RecoveryHooks): Promise<SegmentLog> {
    await loadChecksum();
    const log = new SegmentLog(options);
    try {
      await log.recover(resume, hooks);
    } catch (err) {
      // A refused open must not leave its segment files open.
      await log.close().catch(() => undefined);
      throw err;
    }
    return log;
  }

  /** The last durable event, or undefined for an empty log. */
  get head(): LogHead | undefined {
    return this.lastHead;
  }

  /** The segment (first seq) that holds `seq`. */
  segmentOf(seq: number): number {
    return segmentOfSeq(this.segments, seq);
  }

  /** The segment files as of now, for a FrameReader on another thread. */
  get files(): SegmentFiles {
    return { dir: this.segmentsDir, segments: this.segments };
  }

  /**
   * Appends sealed events (seqs continuing the head) as one write and one sync. Resolves
   * with each event's location once durable; on failure nothing of the group remains.
   * The frames' memory is handed over to the writer thread, not copied: `encoded.frames`
   * is empty once this returns.
   */
  async append(events: readonly StoredEvent[], encoded: EncodedFrames = encodeFrames(events)): Promise<{ locations: Location[]; run: FrameRun }> {
    this.assertOpen();
    const { frames, frameLengths } = encoded;
    const first = events[0];
    if (first === undefined) throw new TypeError('append needs at least one event');
    // The store seals groups ahead of their writes; a group must continue the chain exactly.
    const head = this.lastHead;
    if (first.seq !== (head?.seq ?? 0) + 1 || (head !== undefined && first.previous_hash !== head.event_hash)) {
      throw new TypeError(`append of seq ${first.seq} does not continue the log's head (seq ${head?.seq ?? 0})`);
    }
    await this.checkSpace(frames.length + SEGMENT_HEADER_BYTES);
    if (this.writeOffset > SEGMENT_HEADER_BYTES && this.writeOffset + frames.length > this.options.segmentBytes) {
      await this.roll(first.seq);
    }
    const writer = this.writer as FileHandle;
    const start = this.writeOffset;
    try {
      this.appender ??= new LogWriter();
      await this.appender.write(writer.fd, frames, start, this.options.durability === 'fsync');
    } catch (err) {
      await this.cutBack(start);
      throw wrapIoError(err, `appending ${events.length} events to segment ${this.activeFile()}`);
    }
    const segment = this.segments[this.segments.length - 1] as number;
    const locations: Location[] = [];
    let at = start;
    for (const length of frameLengths) {
      locations.push({ segment, offset: at, length });
      at += length;
    }
    this.writeOffset = at;
    const last = events[events.length - 1] as StoredEvent;
    this.lastHead = { seq: last.seq, event_hash: last.event_hash, timestamp: last.timestamp };
    return { locations, run: { dir: this.segmentsDir, segment, offset: start, length: at - start } };
  }

  /** Reads the event at a known location, checking its frame and its seq. */
  async readAt(seq: number, loc: Location): Promise<StoredEvent> {
    const fh = await this.readHandle(loc.segment);
    const buf = Buffer.allocUnsafe(loc.length);
    const { bytesRead } = await fh.read(buf, 0, loc.length, loc.offset);
    return this.eventOfFrame(seq, loc, buf.subarray(0, bytesRead), 0);
  }

  /**
   * The event of a frame already read (by a FrameReader) into `buf` at `at`: its checksum
   * and seq checked, as readAt checks them.
   */
  eventOfFrame(seq: number, loc: Location, buf: Buffer, at: number): StoredEvent {
    const frame = parseFrame(buf, at);
    if (frame.kind !== 'frame') throw this.corrupt(loc.segment, loc.offset, seq, frame.kind === 'bad' ? frame.problem : 'frame is cut short');
    if (frame.frameBytes !== loc.length) throw this.corrupt(loc.segment, loc.offset, seq, `frame is ${frame.frameBytes} bytes; the index says ${loc.length}`);
    let event: StoredEvent;
    try {
      event = decodeRecord(frame.body);
    } catch (err) {
      throw this.corrupt(loc.segment, loc.offset, seq, (err as Error).message, err);
    }
    if (event.seq !== seq) throw this.corrupt(loc.segment, loc.offset, seq, `frame holds seq ${event.seq}`);
    return event;
  }

  /**
   * Reads frames in order starting at a frame boundary (`segment`, `offset`), yielding those
   * with seq in [fromSeq, toSeq]. Every frame's checksum is checked on the way. `start.seq`
   * is the seq of the frame at the offset, if known; `first`, when given, holds the
   * segment's bytes from `offset` on, already read (a FrameReader's).
   */
  async *readRange(start: { segment: number; offset: number; seq?: number }, fromSeq: number, toSeq: number, first?: Buffer): AsyncGenerator<LogEntry> {
    let segIndex = this.segments.indexOf(start.segment);
    if (segIndex < 0) throw new SpineError('LOG_CORRUPT', `segment ${segmentFileName(start.segment)} does not exist`);
    let offset = start.offset;
    // The seq of the frame at `offset`, when known: damage there is named with it.
    let expected = start.seq ?? (offset === SEGMENT_HEADER_BYTES ? start.segment : -1);
    while (segIndex < this.segments.length) {
      const segment = this.segments[segIndex] as number;
      if (offset === SEGMENT_HEADER_BYTES) expected = segment;
      const end = segIndex === this.segments.length - 1 ? this.writeOffset : Infinity;
      const initial = segment === start.segment ? first : undefined;
      for await (const entry of this.scanSegment(segment, offset, end, initial, fromSeq)) {
        if ('damage' in entry) throw this.corrupt(segment, entry.offset, Math.max(expected, entry.expectedSeq), entry.damage);
        const seq = entry.event.seq;
        if (seq > toSeq) return;
        expected = seq + 1;
        if (seq >= fromSeq) yield entry;
        // Stop before parsing the next frame: damage past the range is not this read's.
        if (seq === toSeq) return;
      }
      segIndex += 1;
      offset = SEGMENT_HEADER_BYTES;
    }
  }

  /** Syncs (under `write` durability) and closes every file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.appender?.close();
    if (this.writer !== undefined) {
      await this.writer.datasync();
      await this.writer.close();
    }
    for (const fh of this.readHandles.values()) await (await fh).close();
    this.readHandles.clear();
  }

  /**
   * Refuses (DISK_FULL) a write that would leave less free space than the index needs. The
   * index is written after the log: if LevelDB ran out of space instead, the append would
   * hang (durable, never indexed) and the index, unable to reopen, would stop serving
   * reads. The reserve is a tenth of the filesystem, at most 64 MiB. Measured at most every
   * 100 ms while space is plentiful, at every append near the reserve (so that appends
   * resume as soon as space is freed).
   */
  private async checkSpace(bytes: number): Promise<void> {
    let space = this.space;
    const now = Date.now();
    if (space === undefined || now - space.atMs > 100 || space.freeBytes - bytes < 2 * space.reserveBytes) {
      let fs;
      try {
        fs = await statfs(this.segmentsDir);
      } catch (err) {
        throw wrapIoError(err, `measuring the free space of ${this.segmentsDir}`);
      }
      space = this.space = { freeBytes: fs.bavail * fs.bsize, reserveBytes: Math.min(64 * 1024 * 1024, (fs.blocks * fs.bsize) / 10), atMs: now };
    }
    if (space.freeBytes - bytes < space.reserveBytes) {
      throw new SpineError('DISK_FULL', `disk full: ${space.freeBytes} bytes free under ${this.segmentsDir}, ${Math.round(space.reserveBytes)} are kept for the index; appends are refused until space is freed`);
    }
    space.freeBytes -= bytes;
  }

  // ---- recovery ------------------------------------------------------------------------

  private async recover(resume: ResumePoint | undefined, hooks: RecoveryHooks): Promise<void> {
    await mkdir(this.segmentsDir, { recursive: true });
    const names = (await readdir(this.segmentsDir)).filter((n) => /^\d{20}\.seg$/.test(n)).sort();
    for (const name of names) this.segments.push(Number(name.slice(0, 20)));
    if (this.segments.length === 0) {
      if (resume !== undefined) throw new SpineError('LOG_CORRUPT', `the index names seq ${resume.head.seq} but ${this.segmentsDir} holds no segment`);
      await this.createSegment(1);
      return;
    }

    let startIndex = 0;
    let offset = SEGMENT_HEADER_BYTES;
    let expectedSeq = 1;
    let previousHash = GENESIS_HASH;
    if (resume !== undefined) {
      startIndex = this.segments.indexOf(resume.segment);
      if (startIndex < 0) throw new SpineError('LOG_CORRUPT', `the index resumes in segment ${segmentFileName(resume.segment)}, which does not exist`);
      offset = resume.offset;
      expectedSeq = resume.head.seq + 1;
      previousHash = resume.head.event_hash;
      this.lastHead = resume.head;
    }

    const sizes = await Promise.all(this.segments.map(async (s) => (await stat(this.fileOf(s))).size));
    const totalBytes = sizes.slice(startIndex).reduce((a, b) => a + b, 0) - offset;
    let scannedBefore = 0;
    // The frames to hand over, by place: the index reads them from the segment itself.
    let batchFrames = 0;
    let batchOffset = 0;
    let batchEnd = 0;
    const flush = async (segment: number): Promise<void> => {
      if (batchFrames === 0) return;
      await hooks.visit({ dir: this.segmentsDir, segment, offset: batchOffset, length: batchEnd - batchOffset });
      batchFrames = 0;
    };

    for (let i = startIndex; i < this.segments.length; i++) {
      const segment = this.segments[i] as number;
      const isLast = i === this.segments.length - 1;
      const size = sizes[i] as number;
      if (isLast && size < SEGMENT_HEADER_BYTES) {
        // A crash while the segment was being created: it never held a frame.
        await this.rewriteHeader(segment);
        offset = SEGMENT_HEADER_BYTES;
        break;
      }
      await this.checkHeader(segment, expectedSeq, i === startIndex && resume !== undefined);
      let end = offset;
      for await (const entry of this.scanSegment(segment, offset, size)) {
        if ('damage' in entry) {
          if (isLast && (entry.incomplete || !(await this.anyFrameAfter(segment, entry.offset, size)))) {
            hooks.truncated?.(segmentFileName(segment), entry.offset, size - entry.offset);
            await this.cutTail(segment, entry.offset);
            break;
          }
          throw this.corrupt(segment, entry.offset, expectedSeq, entry.damage);
        }
        const ev = entry.event;
        if (ev.seq !== expectedSeq) throw this.corrupt(segment, entry.loc.offset, expectedSeq, `frame holds seq ${ev.seq}`);
        if (ev.previous_hash !== previousHash) throw this.corrupt(segment, entry.loc.offset, ev.seq, 'previous_hash does not match the event before it');
        expectedSeq = ev.seq + 1;
        previousHash = ev.event_hash;
        this.lastHead = { seq: ev.seq, event_hash: ev.event_hash, timestamp: ev.timestamp };
        end = entry.loc.offset + entry.loc.length;
        if (batchFrames === 0) batchOffset = entry.loc.offset;
        batchFrames += 1;
        batchEnd = end;
        if (batchFrames >= VISIT_BATCH) {
          await flush(segment);
          hooks.progress?.(scannedBefore + end - offset, totalBytes);
        }
      }
      await flush(segment);
      scannedBefore += size - offset;
      // Per segment as well: a log of many small segments would otherwise report only at the end.
      hooks.progress?.(scannedBefore, totalBytes);
      if (isLast) this.writeOffset = end;
      offset = SEGMENT_HEADER_BYTES;
    }
    hooks.progress?.(totalBytes, totalBytes);
    const active = this.segments[this.segments.length - 1] as number;
    this.writer = await this.openWriter(active);
  }

  private async checkHeader(segment: number, expectedSeq: number, resuming: boolean): Promise<void> {
    const fh = await this.readHandle(segment);
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
    await fh.read(header, 0, SEGMENT_HEADER_BYTES, 0);
    const parsed = parseSegmentHeader(header);
    if ('problem' in parsed) throw this.corrupt(segment, 0, segment, parsed.problem);
    if (parsed.firstSeq !== segment) throw this.corrupt(segment, 0, segment, `header names first seq ${parsed.firstSeq}`);
    if (!resuming && segment !== expectedSeq) throw this.corrupt(segment, 0, expectedSeq, `segment starts at seq ${segment}; seq ${expectedSeq} was expected`);
  }

  /**
   * Yields each frame of a segment from `offset` up to `end` bytes, or a damage record at
   * the first frame that does not parse (then stops). `incomplete` marks a frame the file
   * ends inside of: the signature of a torn append. `initial`: the first bytes, if read
   * already. Frames with a seq below `fromSeq` are checked but neither decoded nor yielded.
   */
  private async *scanSegment(
    segment: number,
    offset: number,
    end: number,
    initial?: Buffer,
    fromSeq = 0,
  ): AsyncGenerator<LogEntry | ScanDamage> {
    const fh = await this.readHandle(segment);
    // Bytes read elsewhere may run past what this scan may look at (an append under way).
    let buf = initial === undefined ? Buffer.alloc(0) : initial.subarray(0, Math.max(0, Math.min(initial.length, end - offset)));
    let bufStart = offset;
    let at = 0;
    let eof = false;
    let chunk = FIRST_SCAN_CHUNK_BYTES;
    /** The seq after the last frame parsed (-1 before the first): damage is named with it. */
    let nextSeq = -1;
    for (;;) {
      const parsed = parseFrame(buf, at);
      if (parsed.kind === 'frame') {
        const frameOffset = bufStart + at;
        const seq = peekSeq(parsed.body);
        if (seq !== undefined && seq < fromSeq) {
          // Before the range (its checksum checked): not decoded.
          nextSeq = seq + 1;
          at += parsed.frameBytes;
          continue;
        }
        let event: StoredEvent;
        try {
          event = decodeRecord(parsed.body);
        } catch (err) {
          yield { damage: (err as Error).message, offset: frameOffset, incomplete: false, expectedSeq: seq ?? nextSeq };
          return;
        }
        nextSeq = event.seq + 1;
        yield { event, loc: { segment, offset: frameOffset, length: parsed.frameBytes } };
        at += parsed.frameBytes;
        continue;
      }
      if (parsed.kind === 'bad') {
        yield { damage: parsed.problem, offset: bufStart + at, incomplete: false, expectedSeq: nextSeq };
        return;
      }
      if (eof || bufStart + buf.length >= end) {
        if (at < buf.length) yield { damage: 'the segment ends inside this frame', offset: bufStart + at, incomplete: true, expectedSeq: nextSeq };
        return;
      }
      // Need more bytes: keep the unparsed rest, read the next chunk after it.
      const want = Math.max(chunk, parsed.needBytes);
      chunk = Math.min(2 * chunk, SCAN_CHUNK_BYTES);
      const rest = buf.subarray(at);
      const next = Buffer.allocUnsafe(rest.length + want);
      rest.copy(next, 0);
      const readFrom = bufStart + buf.length;
      const toRead = Math.min(want, end - readFrom);
      const { bytesRead } = await fh.read(next, rest.length, toRead, readFrom);
      if (bytesRead < toRead) eof = true;
      bufStart += at;
      buf = next.subarray(0, rest.length + bytesRead);
      at = 0;
    }
  }

  /** Whether a checksum-valid frame starts anywhere after a damaged one (damage, not a torn tail). */
  private async anyFrameAfter(segment: number, damagedAt: number, size: number): Promise<boolean> {
    const fh = await this.readHandle(segment);
    const from = damagedAt + 1;
    const buf = Buffer.allocUnsafe(size - from);
    await fh.read(buf, 0, buf.length, from);
    for (let at = 0; at + FRAME_HEADER_BYTES < buf.length; at++) {
      const length = buf.readUInt32BE(at);
      if (length === 0 || length > MAX_FRAME_BODY_BYTES || at + FRAME_HEADER_BYTES + length > buf.length) continue;
      if (parseFrame(buf, at).kind === 'frame') return true;
    }
    return false;
  }

  private corrupt(segment: number, offset: number, seq: number, problem: string, cause?: unknown): SpineError {
    return logDamage(segment, offset, seq, problem, cause);
  }

  // ---- files ---------------------------------------------------------------------------

  private fileOf(segment: number): string {
    return join(this.segmentsDir, segmentFileName(segment));
  }

  private activeFile(): string {
    return segmentFileName(this.segments[this.segments.length - 1] as number);
  }

  private readHandle(segment: number): Promise<FileHandle> {
    let fh = this.readHandles.get(segment);
    if (fh === undefined) {
      fh = open(this.fileOf(segment), 'r');
      this.readHandles.set(segment, fh);
      fh.catch(() => this.readHandles.delete(segment));
    }
    return fh;
  }

  private async openWriter(segment: number): Promise<FileHandle> {
    return open(this.fileOf(segment), 'r+');
  }

  /** Seals the active segment and starts a new one whose first seq is `firstSeq`. */
  private async roll(firstSeq: number): Promise<void> {
    const old = this.writer as FileHandle;
    await old.datasync().catch((err: unknown) => {
      throw wrapIoError(err, `sealing segment ${this.activeFile()}`);
    });
    await this.createSegment(firstSeq);
    await old.close();
  }

  private async createSegment(firstSeq: number): Promise<void> {
    const file = this.fileOf(firstSeq);
    let fh: FileHandle | undefined;
    try {
      fh = await open(file, 'wx+');
      await writeFully(fh, segmentHeader(firstSeq), 0);
      await fh.datasync();
      await syncDir(this.segmentsDir);
    } catch (err) {
      if (fh !== undefined) {
        await fh.close().catch(() => undefined);
        await unlink(file).catch(() => undefined);
      }
      throw wrapIoError(err, `creating segment ${segmentFileName(firstSeq)}`);
    }
    this.segments.push(firstSeq);
    this.writer = fh;
    this.writeOffset = SEGMENT_HEADER_BYTES;
  }

  private async rewriteHeader(segment: number): Promise<void> {
    const fh = await open(this.fileOf(segment), 'r+');
    try {
      await fh.truncate(0);
      await writeFully(fh, segmentHeader(segment), 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  private async cutTail(segment: number, offset: number): Promise<void> {
    const fh = await open(this.fileOf(segment), 'r+');
    try {
      await fh.truncate(offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  /** Undo a failed append: the file goes back to exactly what was acknowledged. */
  private async cutBack(offset: number): Promise<void> {
    const writer = this.writer as FileHandle;
    try {
      await writer.truncate(offset);
      await writer.datasync();
    } catch (err) {
      // The file may hold an unacknowledged partial group we could not remove: stop
      // appending rather than chain new events after bytes we do not control.
      this.broken = new SpineError('IO_ERROR', `could not cut a failed append off segment ${this.activeFile()}; restart required`, { cause: err });
      throw this.broken;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SpineError('STORE_CLOSED', 'the log is closed');
    if (this.broken !== undefined) throw this.broken;
  }
}

async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
