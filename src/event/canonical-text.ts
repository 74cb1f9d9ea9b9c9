/**
 * Recognising a payload that arrives as JSON text already in RFC 8785 canonical form, in
 * one scan of the text and without building any object: the fast path of an append over
 * gRPC, whose payload is JSON text and whose typed client sends it canonical.
 *
 * The scan is conservative. It accepts only text that `canonicalPayload(JSON.parse(text))`
 * would return unchanged, and it leaves to that slow path everything it does not settle
 * alone: whitespace, unsorted or repeated member names, member names with escapes,
 * numbers not in ECMAScript's shortest form, escapes other than JSON.stringify's, and
 * every error (bad JSON, unsafe numbers, unpaired surrogates, nesting too deep), so that
 * errors keep exactly one source and one wording.
 */
import { MAX_PAYLOAD_DEPTH } from './canonical';

const SAFE = Number.MAX_SAFE_INTEGER;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether `text` is a JSON object in RFC 8785 canonical form that the payload rules accept
 * as it is (then it is its own canonical text). False means "not decided here", not
 * "invalid": the caller parses and canonicalises instead.
 */
export function isCanonicalPayloadText(text: string): boolean {
  return text.charCodeAt(0) === 0x7b && scanValue(text, 0, 0) === text.length;
}

/** The index just past the value starting at `i`, or -1 (not settled by the fast path). */
function scanValue(s: string, i: number, depth: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return scanString(s, i + 1, true);
  if (c === 0x7b) return depth < MAX_PAYLOAD_DEPTH ? scanObject(s, i + 1, depth + 1) : -1;
  if (c === 0x5b) return depth < MAX_PAYLOAD_DEPTH ? scanArray(s, i + 1, depth + 1) : -1;
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return scanNumber(s, i);
  if (c === 0x74) return s.startsWith('true', i) ? i + 4 : -1;
  if (c === 0x66) return s.startsWith('false', i) ? i + 5 : -1;
  if (c === 0x6e) return s.startsWith('null', i) ? i + 4 : -1;
  return -1;
}

/** Members must come in strictly increasing order of their names' UTF-16 code units. */
function scanObject(s: string, i: number, depth: number): number {
  if (s.charCodeAt(i) === 0x7d) return i + 1;
  let prevStart = -1;
  let prevEnd = -1;
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return -1;
    const start = i + 1;
    const close = scanString(s, start, false);
    if (close < 0) return -1;
    const end = close - 1;
    if (prevStart >= 0 && !namesAscend(s, prevStart, prevEnd, start, end)) return -1;
    prevStart = start;
    prevEnd = end;
    if (s.charCodeAt(close) !== 0x3a) return -1;
    i = scanValue(s, close + 1, depth);
    if (i < 0) return -1;
    const next = s.charCodeAt(i);
    if (next === 0x7d) return i + 1;
    if (next !== 0x2c) return -1;
    i += 1;
  }
}

function scanArray(s: string, i: number, depth: number): number {
  if (s.charCodeAt(i) === 0x5d) return i + 1;
  for (;;) {
    i = scanValue(s, i, depth);
    if (i < 0) return -1;
    const next = s.charCodeAt(i);
    if (next === 0x5d) return i + 1;
    if (next !== 0x2c) return -1;
    i += 1;
  }
}

/** Whether the name in [a, aEnd) sorts strictly before the one in [b, bEnd) (no escapes in either). */
function namesAscend(s: string, a: number, aEnd: number, b: number, bEnd: number): boolean {
  const aLength = aEnd - a;
  const bLength = bEnd - b;
  const n = aLength < bLength ? aLength : bLength;
  for (let k = 0; k < n; k++) {
    const x = s.charCodeAt(a + k);
    const y = s.charCodeAt(b + k);
    if (x !== y) return x < y;
  }
  return aLength < bLength;
}

/**
 * The index just past the closing quote of the string whose text starts at `i`. Raw
 * characters are what RFC 8785 writes raw (everything from U+0020 but `"` and `\`, with
 * surrogates only in pairs); escapes must be the ones it writes (`\"`, `\\`, `\b`, `\f`,
 * `\n`, `\r`, `\t`, and `\u00xx` in lowercase for the other control characters), and
 * member names take none, so that they compare as written.
 */
function scanString(s: string, i: number, escapesAllowed: boolean): number {
  const n = s.length;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      if (!escapesAllowed) return -1;
      const e = s.charCodeAt(i + 1);
      if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 1;
        continue;
      }
      if (e !== 0x75 || !isShortEscape(s, i + 2)) return -1;
      i += 5;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return -1;
      i += 1;
    }
  }
  return -1;
}

/** `00xx` at `i`, lowercase hex, for a control character without a short escape of its own. */
function isShortEscape(s: string, i: number): boolean {
  if (s.charCodeAt(i) !== 0x30 || s.charCodeAt(i + 1) !== 0x30) return false;
  const hi = s.charCodeAt(i + 2);
  const lo = s.charCodeAt(i + 3);
  if (hi !== 0x30 && hi !== 0x31) return false;
  const loValue = lo >= 0x30 && lo <= 0x39 ? lo - 0x30 : lo >= 0x61 && lo <= 0x66 ? lo - 0x61 + 10 : -1;
  if (loValue < 0) return false;
  const code = (hi - 0x30) * 16 + loValue;
  // \b \f \n \r \t have short forms, which RFC 8785 uses instead.
  return code !== 0x08 && code !== 0x0c && code !== 0x0a && code !== 0x0d && code !== 0x09;
}

/**
 * A number as ECMAScript writes it (RFC 8785 §3.2.2.3) and within ±(2^53 − 1). Integers
 * of up to 15 digits are settled by their digits; anything else by a round trip.
 */
function scanNumber(s: string, i: number): number {
  const start = i;
  if (s.charCodeAt(i) === 0x2d) i += 1;
  const digitsStart = i;
  while (i < s.length && isDigit(s.charCodeAt(i))) i += 1;
  const digits = i - digitsStart;
  if (digits === 0) return -1;
  const c = s.charCodeAt(i);
  if (c !== 0x2e && c !== 0x65 && c !== 0x45) {
    if (s.charCodeAt(digitsStart) === 0x30) {
      // "0" alone; "-0" is written "0", and leading zeros are not JSON.
      return digits === 1 && digitsStart === start ? i : -1;
    }
    if (digits <= 15) return i;
  }
  // A fraction or exponent, or a long integer: the text must be what String() gives back.
  if (c === 0x2e) {
    i += 1;
    while (i < s.length && isDigit(s.charCodeAt(i))) i += 1;
  }
  const e = s.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    i += 1;
    const sign = s.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i += 1;
    while (i < s.length && isDigit(s.charCodeAt(i))) i += 1;
  }
  const token = s.slice(start, i);
  const value = Number(token);
  return value >= -SAFE && value <= SAFE && String(value) === token ? i : -1;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
