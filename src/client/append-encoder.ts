/**
 * A hand-written protobuf encoder for AppendStreamRequest, the one message on the emit hot
 * path: it writes the bytes in one pass into one buffer, several times faster than the
 * generic protobufjs `fromObject` + `encode` that proto-loader uses. Its output decodes
 * to the same message (a property test checks it against protobufjs).
 *
 * Wire format (https://protobuf.dev/programming-guides/encoding/), from
 * proto/eventspine/v1/event_spine.proto:
 *
 *   AppendStreamRequest { uint64 request_id = 1;  repeated EventInput events = 2; }
 *   EventInput          { string id = 1; event_type = 2; domain = 3; entity_type = 4;
 *                         action = 5; entity_id = 6; entity_name = 7; actor_id = 8;
 *                         actor_type = 9; organization_id = 10; environment = 11;
 *                         severity = 12; payload = 13 }       (all strings)
 *
 * A string field is its tag byte ((field << 3) | 2, all below 128), the varint of its
 * UTF-8 length, then the bytes. A field that is undefined is left out.
 */
import type { WireEventInput } from './wire';

/** EventInput's fields by field number (index + 1). */
const EVENT_FIELDS = [
  'id',
  'event_type',
  'domain',
  'entity_type',
  'action',
  'entity_id',
  'entity_name',
  'actor_id',
  'actor_type',
  'organization_id',
  'environment',
  'severity',
  'payload',
] as const satisfies readonly (keyof WireEventInput)[];

const TAG_REQUEST_ID = (1 << 3) | 0;
const TAG_EVENTS = (2 << 3) | 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[offset++] = n;
  return offset;
}

/**
 * The UTF-8 length of a string, as Buffer.byteLength counts it (a lone surrogate becomes
 * U+FFFD, 3 bytes). A JS loop: cheaper than a call into C++ for the short strings here.
 */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 2 UTF-16 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** Writes `s` (of UTF-8 length `len`) at `offset`; ASCII byte by byte, the rest by Buffer. */
function writeUtf8(buf: Buffer, offset: number, s: string, len: number): number {
  if (len !== s.length) return offset + buf.write(s, offset, len, 'utf8');
  for (let i = 0; i < len; i++) buf[offset + i] = s.charCodeAt(i);
  return offset + len;
}

/** The serialized AppendStreamRequest. `requestId` must be a safe non-negative integer. */
export function encodeAppendStreamRequest(request: { request_id: number; events: readonly WireEventInput[] }): Buffer {
  const { request_id: requestId, events } = request;
  // Pass 1: the UTF-8 length of every string and the size of every event.
  const lengths: number[] = [];
  const eventSizes: number[] = [];
  let total = requestId === 0 ? 0 : 1 + varintSize(requestId);
  for (const ev of events) {
    let size = 0;
    for (const field of EVENT_FIELDS) {
      const v = ev[field];
      if (v === undefined) continue;
      const len = utf8Length(v);
      lengths.push(len);
      size += 1 + varintSize(len) + len;
    }
    eventSizes.push(size);
    total += 1 + varintSize(size) + size;
  }
  // Pass 2: write.
  const buf = Buffer.allocUnsafe(total);
  let offset = 0;
  if (requestId !== 0) {
    buf[offset++] = TAG_REQUEST_ID;
    offset = writeVarint(buf, offset, requestId);
  }
  let l = 0;
  for (const [i, ev] of events.entries()) {
    buf[offset++] = TAG_EVENTS;
    offset = writeVarint(buf, offset, eventSizes[i] as number);
    for (let f = 0; f < EVENT_FIELDS.length; f++) {
      const v = ev[EVENT_FIELDS[f] as keyof WireEventInput];
      if (v === undefined) continue;
      const len = lengths[l++] as number;
      buf[offset++] = ((f + 1) << 3) | 2;
      offset = writeVarint(buf, offset, len);
      offset = writeUtf8(buf, offset, v, len);
    }
  }
  return buf;
}
