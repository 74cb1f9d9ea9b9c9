/**
 * Frame layout, format version 1. A segment file is a 32-byte header followed by frames:
 *
 *   header:  magic "EVSPINE\0" (8) | format version u32 BE (4) | reserved (4, zero)
 *            | first seq u64 BE (8) | reserved (8, zero)
 *   frame:   body length u32 BE (4) | xxh32(body, seed 0) u32 BE (4) | body (msgpack, record.ts)
 *
 * A frame is valid when its length is within MAX_FRAME_BODY_BYTES, the whole body is present
 * and the checksum matches. The checksum guards against torn writes and bit rot; the hash
 * chain (event/hash.ts) guards against deliberate edits.
 */
import xxhashInit from 'xxhash-wasm';

export const SEGMENT_FORMAT_VERSION = 1;
export const SEGMENT_MAGIC = Buffer.from('EVSPINE\0', 'latin1');
export const SEGMENT_HEADER_BYTES = 32;
export const FRAME_HEADER_BYTES = 8;
/** No event can come near this; a larger declared length is damage, not data. */
export const MAX_FRAME_BODY_BYTES = 16 * 1024 * 1024;

type XxHash = Awaited<ReturnType<typeof xxhashInit>>;
let xxhash: XxHash | undefined;

/** The checksum module is WebAssembly and loads asynchronously: call once before framing. */
export async function loadChecksum(): Promise<void> {
  xxhash ??= await xxhashInit();
}

export function checksum(body: Uint8Array): number {
  if (xxhash === undefined) throw new TypeError('loadChecksum() must be awaited before framing');
  return xxhash.h32Raw(body, 0) >>> 0;
}

export function segmentHeader(firstSeq: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt32BE(SEGMENT_FORMAT_VERSION, 8);
  header.writeBigUInt64BE(BigInt(firstSeq), 16);
  return header;
}

/** Returns the first seq the header names, or a reason it is not a valid header. */
export function parseSegmentHeader(header: Buffer): { firstSeq: number } | { problem: string } {
  if (header.length < SEGMENT_HEADER_BYTES) return { problem: 'header is shorter than 32 bytes' };
  if (!header.subarray(0, 8).equals(SEGMENT_MAGIC)) return { problem: 'bad magic bytes' };
  const version = header.readUInt32BE(8);
  if (version !== SEGMENT_FORMAT_VERSION) return { problem: `unsupported segment format version ${version}` };
  return { firstSeq: Number(header.readBigUInt64BE(16)) };
}

export type FrameParse =
  | { kind: 'frame'; body: Buffer; frameBytes: number }
  /** Fewer bytes than the header or the declared body: the buffer ends inside this frame. */
  | { kind: 'incomplete'; needBytes: number }
  | { kind: 'bad'; problem: string };

/** Parses the frame that starts at `at` in `buf`. */
export function parseFrame(buf: Buffer, at: number): FrameParse {
  if (buf.length - at < FRAME_HEADER_BYTES) return { kind: 'incomplete', needBytes: FRAME_HEADER_BYTES };
  const length = buf.readUInt32BE(at);
  if (length === 0 || length > MAX_FRAME_BODY_BYTES) return { kind: 'bad', problem: `implausible frame length ${length}` };
  const frameBytes = FRAME_HEADER_BYTES + length;
  if (buf.length - at < frameBytes) return { kind: 'incomplete', needBytes: frameBytes };
  const body = buf.subarray(at + FRAME_HEADER_BYTES, at + frameBytes);
  if (checksum(body) !== buf.readUInt32BE(at + 4)) return { kind: 'bad', problem: 'frame checksum mismatch' };
  return { kind: 'frame', body, frameBytes };
}
