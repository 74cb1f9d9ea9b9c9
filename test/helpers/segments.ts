/**
 * Reads segment files the way an outside tool would, from the format documented at the top
 * of src/log/frame.ts: a 32-byte header, then frames [u32 BE length][u32 BE xxh32][body].
 * Bodies are decoded with msgpackr directly (the record is a 15-field array, seq first),
 * so the corruption tests do not lean on the code they test to find their targets.
 */
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { checksum, loadChecksum } from '../../src/log/frame';

export const HEADER_BYTES = 32;
export const FRAME_HEADER_BYTES = 8;

export interface FrameInfo {
  /** Segment file name, e.g. 00000000000000000001.seg. */
  file: string;
  /** Byte offset of the frame (its length field) in the file. */
  offset: number;
  /** Whole frame: 8 header bytes + body. */
  length: number;
  seq: number;
}

export function segmentsDir(dataDir: string): string {
  return join(dataDir, 'segments');
}

/** Segment file names in seq order. */
export async function segmentFiles(dataDir: string): Promise<string[]> {
  return (await readdir(segmentsDir(dataDir))).filter((n) => n.endsWith('.seg')).sort();
}

/** Every frame of one segment; throws if the file does not parse cleanly to its end. */
export function parseSegment(file: string, buf: Buffer): FrameInfo[] {
  if (buf.subarray(0, 8).toString('latin1') !== 'EVSPINE\0') throw new Error(`${file}: bad magic`);
  const frames: FrameInfo[] = [];
  let at = HEADER_BYTES;
  while (at < buf.length) {
    const length = buf.readUInt32BE(at);
    const end = at + FRAME_HEADER_BYTES + length;
    if (length === 0 || end > buf.length) throw new Error(`${file}: frame at ${at} runs past the end`);
    const record = unpack(buf.subarray(at + FRAME_HEADER_BYTES, end)) as unknown[];
    frames.push({ file, offset: at, length: end - at, seq: record[0] as number });
    at = end;
  }
  return frames;
}

export async function readSegment(dataDir: string, file: string): Promise<Buffer> {
  return readFile(join(segmentsDir(dataDir), file));
}

export async function writeSegment(dataDir: string, file: string, buf: Buffer): Promise<void> {
  await writeFile(join(segmentsDir(dataDir), file), buf);
}

/** Every frame of every segment, in order. */
export async function allFrames(dataDir: string): Promise<FrameInfo[]> {
  const frames: FrameInfo[] = [];
  for (const file of await segmentFiles(dataDir)) frames.push(...parseSegment(file, await readSegment(dataDir, file)));
  return frames;
}

/** Recomputes and stores the xxh32 of the frame at `offset` (after its body was edited). */
export async function resealFrame(buf: Buffer, offset: number): Promise<void> {
  await loadChecksum();
  const length = buf.readUInt32BE(offset);
  const body = buf.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
  buf.writeUInt32BE(checksum(body), offset + 4);
}

/** Replaces `dst` by a copy of `src` (a whole data directory or one part of it). */
export async function copyDir(src: string, dst: string): Promise<void> {
  await rm(dst, { recursive: true, force: true });
  await cp(src, dst, { recursive: true });
}
