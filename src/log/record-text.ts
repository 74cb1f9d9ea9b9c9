/**
 * The text forms of a record's binary fields, written byte by byte into a scratch buffer
 * and read back as one Latin-1 string: hex digests, the 8-4-4-4-12 id and the RFC 3339
 * timestamp (as Date#toISOString writes it). Reading a page of events spends most of its
 * decoding here: Buffer#toString('hex') on a fresh Buffer view and `new Date().toISOString()`
 * cost several times more per field.
 */

/** Node's own Latin-1 reader without Buffer#toString's argument juggling (hot path). */
interface Latin1Readable {
  latin1Slice(start: number, end: number): string;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');
let scratch = Buffer.allocUnsafe(128);

function room(bytes: number): Buffer {
  if (scratch.length < bytes) scratch = Buffer.allocUnsafe(bytes);
  return scratch;
}

function text(out: Buffer, length: number): string {
  return (out as unknown as Latin1Readable).latin1Slice(0, length);
}

/** Lowercase hex of the bytes. */
export function hex(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = room(2 * n);
  for (let i = 0, at = 0; i < n; i++, at += 2) {
    const b = bytes[i] as number;
    out[at] = HEX[b >> 4] as number;
    out[at + 1] = HEX[b & 15] as number;
  }
  return text(out, 2 * n);
}

/** The 8-4-4-4-12 text of a UUID's 16 bytes. */
export function uuidText(bytes: Uint8Array): string {
  const out = room(36);
  for (let i = 0, at = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out[at++] = 0x2d; // '-'
    const b = bytes[i] as number;
    out[at++] = HEX[b >> 4] as number;
    out[at++] = HEX[b & 15] as number;
  }
  return text(out, 36);
}

/** From 1970 to the end of 9999 the text has its fixed 24-character form. */
const MAX_FIXED_MS = 253402300800000;
const DAY_MS = 86_400_000;

function digits(out: Buffer, at: number, n: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) {
    out[at + i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
}

// Events of one group share their millisecond: remember the last conversion.
let lastMs = -1;
let lastIso = '';

/** Date#toISOString of `ms` (YYYY-MM-DDTHH:mm:ss.sssZ). */
export function isoTime(ms: number): string {
  if (ms === lastMs) return lastIso;
  lastMs = ms;
  if (!(Number.isSafeInteger(ms) && ms >= 0 && ms < MAX_FIXED_MS)) return (lastIso = new Date(ms).toISOString());
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-compatible low-level date algorithms").
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  const out = room(24);
  digits(out, 0, year, 4);
  out[4] = 0x2d;
  digits(out, 5, month, 2);
  out[7] = 0x2d;
  digits(out, 8, day, 2);
  out[10] = 0x54; // 'T'
  digits(out, 11, hours, 2);
  out[13] = 0x3a;
  digits(out, 14, minutes, 2);
  out[16] = 0x3a;
  digits(out, 17, seconds, 2);
  out[19] = 0x2e;
  digits(out, 20, millis, 3);
  out[23] = 0x5a; // 'Z'
  return (lastIso = text(out, 24));
}
