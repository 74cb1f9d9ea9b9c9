/**
 * The index worker: owns the LevelDB index on a thread of its own, so that decoding frames
 * and building index batches (about half the CPU of an append) run on the second core
 * while the main thread validates, hashes and writes the log. It receives each durable
 * group as the raw frames the log wrote.
 */
import { parentPort } from 'node:worker_threads';
import { isSpineError } from '../errors';
import { EventIndex, type IndexHead, type IndexRecord } from '../index';
import { FRAME_HEADER_BYTES } from '../log/frame';
import { FrameReader } from '../log/frame-reader';
import { logDamage, segmentOfSeq, type SegmentFiles } from '../log/segment-files';
import { decodeIndexed } from '../log/record';
import { hex, isoTime } from '../log/record-text';
import type { IndexReply, IndexRequest, IndexResults } from './index-protocol';

let index: EventIndex | undefined;
const frameReader = new FrameReader();

function open(): EventIndex {
  if (index === undefined) throw new TypeError('index worker: not open');
  return index;
}

/** Decodes the frames of one batch into index records and the head after them. */
function recordsOf(segment: number, offset: number, frames: Uint8Array): { records: IndexRecord[]; head: Omit<IndexHead, 'maxIdMs'> } {
  const buf = Buffer.from(frames.buffer, frames.byteOffset, frames.byteLength);
  const records: IndexRecord[] = [];
  let lastHashAt = 0;
  for (let at = 0; at < buf.length; ) {
    const length = FRAME_HEADER_BYTES + buf.readUInt32BE(at);
    // The fields decoded are the index record itself: no second object per event.
    const record = decodeIndexed(buf.subarray(at + FRAME_HEADER_BYTES, at + length), segment, offset + at, length);
    records.push(record);
    lastHashAt = at + FRAME_HEADER_BYTES + record.eventHashAt;
    at += length;
  }
  const last = records[records.length - 1] as IndexRecord;
  return {
    records,
    head: { seq: last.seq, event_hash: hex(buf.subarray(lastHashAt, lastHashAt + 32)), timestamp: isoTime(last.timestampMs), segment, offset: last.offset + last.length },
  };
}

async function handle(req: IndexRequest): Promise<IndexResults[IndexRequest['op']]> {
  switch (req.op) {
    case 'open':
      index = await EventIndex.open(req.dir);
      return index.indexedHead ?? null;
    case 'write': {
      const frames = frameReader.readFrom(req.dir, req.segment, req.offset, req.length);
      if (frames.length < req.length) throw logDamage(req.segment, req.offset + frames.length, 0, `the segment ends ${req.length - frames.length} bytes short of a group just written`);
      const { records, head } = recordsOf(req.segment, req.offset, frames);
      await open().write(records, head);
      return open().indexedHead as IndexHead;
    }
    case 'lookupIds':
      return (await open().lookupIds(req.ids)).map((p) => (p === undefined ? null : [p.seq, p.offset, p.length]));
    case 'logStart':
      return logStart(req.seq, req.segment, req.bytes, req.files);
    case 'timeBounds': {
      const [since, until] = await open().firstSeqsAtOrAfter([req.sinceMs ?? undefined, req.untilMs ?? undefined]);
      const bounds: [number | null, number | null] = [since ?? null, until ?? null];
      const ask = req.start;
      if (ask === null || (req.sinceMs !== null && since === undefined)) return { bounds, start: null };
      const lo = Math.max(ask.fromSeq, since ?? 1);
      const hi = until === undefined ? ask.toSeq : Math.min(ask.toSeq, until - 1);
      const start = lo <= hi ? logStart(lo, segmentOfSeq(ask.files.segments, lo), ask.bytes, ask.files) : null;
      return { bounds, start: start === null ? null : { lo, ...start } };
    }
    case 'postingFrames': {
      const postings = await open().postingPage(req.tagValue, req.fromSeq, req.toSeq, req.descending, req.max);
      return { postings, frames: frameReader.read(req.files, postings) };
    }
    case 'reopen':
      await open().reopen();
      return null;
    case 'close':
      frameReader.close();
      await index?.close();
      index = undefined;
      return null;
  }
}

/** Where a sequential read of `seq` starts, with up to `bytes` of the frames from there. */
function logStart(seq: number, segment: number, bytes: number, files: SegmentFiles): IndexResults['logStart'] {
  const start = open().locate(seq, segment);
  if (start === undefined) return null;
  return { seq: start.seq, offset: start.offset, frames: frameReader.readFrom(files.dir, segment, start.offset, bytes) };
}

/** What a reply hands over rather than copies: the frames read for a posting page. */
function transferOf(result: unknown): ArrayBuffer[] {
  const r = result as { frames?: unknown; start?: { frames?: unknown } | null } | null;
  const frames = r?.frames ?? r?.start?.frames;
  return frames instanceof Uint8Array ? [frames.buffer as ArrayBuffer] : [];
}

const port = parentPort;
if (port === null) throw new TypeError('index-worker.ts runs as a worker thread');
// Requests are handled in arrival order; writes are serialised by the store already.
port.on('message', (msg: { id: number; req: IndexRequest }) => {
  handle(msg.req).then(
    (result) => port.postMessage({ id: msg.id, ok: true, result } satisfies IndexReply, transferOf(result)),
    (err: unknown) => {
      const error = { code: isSpineError(err) ? err.code : undefined, message: err instanceof Error ? err.message : String(err) };
      port.postMessage({ id: msg.id, ok: false, error } satisfies IndexReply);
    },
  );
});
