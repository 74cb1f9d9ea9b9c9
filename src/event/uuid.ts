/**
 * UUIDs: server-made ids are UUIDv7 (RFC 9562 §5.7, https://www.rfc-editor.org/rfc/rfc9562),
 * monotonic within the process (§6.2, method 2: while the millisecond has not advanced,
 * the random bits after the timestamp are a counter that is incremented), so ids made by
 * one process sort in creation order.
 *
 * Layout (big-endian):
 *   bytes 0–5   unix_ts_ms (48 bits)
 *   byte  6     version 7 (high nibble) | counter bits 41–38
 *   byte  7     counter bits 37–30                    (rand_a = counter's top 12 bits)
 *   byte  8     variant 0b10 | counter bits 29–24
 *   bytes 9–11  counter bits 23–0                     (42-bit counter in all)
 *   bytes 12–15 fresh random bits for every id
 */

import { randomFillSync } from 'node:crypto';

/** The two lowercase hex digits of each byte value, as character codes. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const hex = i.toString(16).padStart(2, '0');
  HEX_CODES[2 * i] = hex.charCodeAt(0);
  HEX_CODES[2 * i + 1] = hex.charCodeAt(1);
}

/**
 * Where a new id's text is written, hyphens in place: one flat string is read off it, where
 * joining 20 pieces left ~20 intermediate strings per id (and a rope the hash then flattens).
 */
const text = Buffer.alloc(36, '-');

function putHex(at: number, byte: number): void {
  text[at] = HEX_CODES[2 * byte] as number;
  text[at + 1] = HEX_CODES[2 * byte + 1] as number;
}

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** Four random bytes from the pooled buffer, as an unsigned 32-bit integer. */
function random32(): number {
  if (poolOffset + 4 > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const r = pool.readUInt32BE(poolOffset);
  poolOffset += 4;
  return r;
}

const TWO_POW_30 = 0x40000000;
const TWO_POW_32 = 0x100000000;
const COUNTER_LIMIT = 2 ** 42;

let lastMs = -1;
let counter = 0;

/** A fresh counter for a new millisecond: 41 random bits, so ≥ 2^41 ids fit before it wraps. */
function seedCounter(): number {
  return (random32() & 0x1ff) * TWO_POW_32 + random32();
}

/** A new RFC 9562 UUIDv7, lowercase 8-4-4-4-12; later calls in this process sort after earlier ones. */
export function uuidv7(): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    counter = seedCounter();
  } else {
    // Same millisecond, or the clock stepped back: keep lastMs and count on from it.
    counter++;
    if (counter >= COUNTER_LIMIT) {
      lastMs++; // borrow the next millisecond rather than break the order
      counter = seedCounter();
    }
  }
  const ms = lastMs;
  const msHigh = Math.floor(ms / TWO_POW_32); // top 16 bits
  const msLow = ms >>> 0;
  const randA = Math.floor(counter / TWO_POW_30); // 12 bits
  const low30 = counter % TWO_POW_30;
  const tail = random32();
  putHex(0, (msHigh >>> 8) & 0xff);
  putHex(2, msHigh & 0xff);
  putHex(4, msLow >>> 24);
  putHex(6, (msLow >>> 16) & 0xff);
  putHex(9, (msLow >>> 8) & 0xff);
  putHex(11, msLow & 0xff);
  putHex(14, 0x70 | (randA >>> 8));
  putHex(16, randA & 0xff);
  putHex(19, 0x80 | (low30 >>> 24));
  putHex(21, (low30 >>> 16) & 0xff);
  putHex(24, (low30 >>> 8) & 0xff);
  putHex(26, low30 & 0xff);
  putHex(28, tail >>> 24);
  putHex(30, (tail >>> 16) & 0xff);
  putHex(32, (tail >>> 8) & 0xff);
  putHex(34, tail & 0xff);
  return (text as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(0, 36);
}

/** 0–15 for an ASCII hex digit (either case), else -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * The canonical lowercase 8-4-4-4-12 form of a UUID of any version (either case of hex
 * accepted), or undefined when `text` is not one. Braces, URNs and the 32-digit form are not
 * accepted.
 */
export function parseUuid(text: string): string | undefined {
  if (text.length !== 36) return undefined;
  let lowercase = true;
  for (let i = 0; i < 36; i++) {
    const c = text.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return undefined;
    } else if (hexValue(c) < 0) {
      return undefined;
    } else if (c >= 0x41 && c <= 0x46) {
      lowercase = false;
    }
  }
  return lowercase ? text : text.toLowerCase();
}

/** The 16 bytes of a UUID in 8-4-4-4-12 form; TypeError when `text` is not one. */
export function uuidToBytes(text: string): Buffer {
  const canonical = parseUuid(text);
  if (canonical === undefined) throw new TypeError(`uuidToBytes: ${JSON.stringify(text)} is not a UUID`);
  return Buffer.from(canonical.replace(/-/g, ''), 'hex');
}

/**
 * The unix_ts_ms of a UUIDv7 in canonical lowercase form (as parseUuid gives), or -1 for a
 * UUID of another version or variant.
 */
export function uuidv7Ms(canonical: string): number {
  if (canonical.charCodeAt(14) !== 0x37) return -1; // version nibble '7'
  const variant = hexValue(canonical.charCodeAt(19));
  if (variant < 8 || variant > 11) return -1; // 0b10xx
  let ms = 0; // 12 hex digits, 48 bits: exact in a double
  for (let i = 0; i < 13; i++) {
    if (i === 8) continue; // the dash
    const v = hexValue(canonical.charCodeAt(i));
    if (v < 0) return -1;
    ms = ms * 16 + v;
  }
  return ms;
}

/** uuidv7Ms for the 16 bytes of a UUID. */
export function uuidv7MsOfBytes(id: Uint8Array): number {
  if (id[6]! >> 4 !== 7 || (id[8]! & 0xc0) !== 0x80) return -1;
  return (id[0]! * 0x1000000 + id[1]! * 0x10000 + id[2]! * 0x100 + id[3]!) * 0x10000 + id[4]! * 0x100 + id[5]!;
}
