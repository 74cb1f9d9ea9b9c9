/**
 * The LevelDB key layout of the index, format version 1 — all of it is in this file.
 * The index is a projection of the log: it can be dropped and rebuilt from the segments.
 * u64 = 8-byte big-endian unsigned, so byte order is numeric order.
 *
 *   'F'                                  → format version (u32)
 *   'H'                                  → head: msgpack [seq, event_hash, timestamp, segment, next offset,
 *                                          largest UUIDv7 id ms] (the last item is absent in heads
 *                                          written before it existed; open finds it from the 'I' keys)
 *   'I' id(16 bytes)                     → seq u64 | offset u32 | frame length u32     (by id)
 *   'L' seq u64                          → offset u32  (only where seq is its segment's first or seq % 64 == 0)
 *   'T' ms u64                           → seq u64     (the first seq stamped with that millisecond)
 *   'P' tag value 0x00 firstSeq u64      → postings: n × (seq − firstSeq u32 | offset u32 | frame length u32)
 *
 * Postings are written as one chunk per value per index write, so a value seen 500 times in
 * one group commit costs one key, not 500. Chunks of one value never overlap in seq and sort
 * by their first seq, so a range of seqs is one ordered scan: O(log n + k). Values hold no
 * 0x00 (text fields refuse control characters), which keeps each value's range separate.
 *
 * Timestamps never decrease in seq order, so a time range is a seq range ('T' keys), and any
 * filter combines with it for free. The Merkle tree of DESIGN §1.1 can later live beside
 * these keys under a letter of its own.
 */

export const INDEX_FORMAT_VERSION = 1;
/** Every this many seqs (and at each segment's start) the index records a frame offset. */
export const LOCATION_STRIDE = 64;

/** Posting list tags: each is one filter the index answers directly. */
export const Tag = {
  entity: 'e', // entity_type '/' entity_id
  entityType: 'k',
  eventType: 't',
  typePrefix: 'p', // domain '.' entity_type
  domain: 'd',
  organization: 'o',
  actor: 'a',
  severity: 's',
  environment: 'v',
} as const;
export type TagLetter = (typeof Tag)[keyof typeof Tag];

export const FORMAT_KEY = Buffer.from('F');
export const HEAD_KEY = Buffer.from('H');
export const POSTING_ENTRY_BYTES = 12;

export const ID_LETTER = 0x49; // 'I'
export const LOCATION_LETTER = 0x4c; // 'L'
export const TIME_LETTER = 0x54; // 'T'
export const POSTING_LETTER = 0x50; // 'P'

/** Writes a u64 without BigInt (seqs and milliseconds stay below 2^53). */
export function writeU64(buf: Buffer, at: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / 0x100000000), at);
  buf.writeUInt32BE(n >>> 0, at + 4);
}

export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 0x100000000 + buf.readUInt32BE(at + 4);
}

/** 'I' and the 16 bytes of a UUID, written into a 17-byte buffer. */
export function writeIdKey(key: Buffer, uuid: string): Buffer {
  key[0] = ID_LETTER;
  let at = 1;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    key[at++] = (hexValue(uuid.charCodeAt(i)) << 4) | hexValue(uuid.charCodeAt(i + 1));
    i++;
  }
  return key;
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

export function idKey(uuid: string): Buffer {
  return writeIdKey(Buffer.allocUnsafe(17), uuid);
}

/** A letter and a u64, written into a 9-byte buffer. */
export function u64KeyInto(key: Buffer, letter: number, n: number): Buffer {
  key[0] = letter;
  writeU64(key, 1, n);
  return key;
}

export const timeKey = (ms: number): Buffer => u64KeyInto(Buffer.allocUnsafe(9), TIME_LETTER, ms);

/** The byte prefix of one posting list: 'P' tag value 0x00 (tagAndValue: the tag's letter, then the value). */
export function postingPrefix(tagAndValue: string): Buffer {
  const key = Buffer.allocUnsafe(3 + 3 * tagAndValue.length);
  return key.subarray(0, writePostingPrefix(key, tagAndValue.charCodeAt(0), tagAndValue.slice(1)));
}

/**
 * postingPrefix of a tag (its letter's code) and a value, written at the start of `key`,
 * which has room for 3 + 3 × (value.length + entityId.length + 1) bytes; an entity's value
 * is given as its type and `entityId` (entityValue). Returns the prefix's length.
 */
export function writePostingPrefix(key: Buffer, tag: number, value: string, entityId?: string): number {
  const utf8 = key as unknown as { utf8Write(s: string, at: number): number };
  key[0] = POSTING_LETTER;
  key[1] = tag;
  let end = 2 + utf8.utf8Write(value, 2);
  if (entityId !== undefined) {
    key[end++] = 0x2f; // '/'
    end += utf8.utf8Write(entityId, end);
  }
  key[end] = 0;
  return end + 1;
}

export function postingKey(prefix: Buffer, firstSeq: number): Buffer {
  const key = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(key, 0);
  writeU64(key, prefix.length, firstSeq);
  return key;
}

export function postingKeySeq(key: Buffer): number {
  return readU64(key, key.length - 8);
}

export function entityValue(entityType: string, entityId: string): string {
  return `${entityType}/${entityId}`;
}
