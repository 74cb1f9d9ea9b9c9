/**
 * The JSON Canonicalization Scheme, RFC 8785 (https://www.rfc-editor.org/rfc/rfc8785):
 * object members sorted by the UTF-16 code units of their names, ECMAScript number
 * formatting (ECMA-262 Number::toString, which is what JSON.stringify uses; -0 is "0"),
 * strings escaped as JSON.stringify escapes them, no whitespace.
 *
 * `canonicalPayload` is the append hot path: one walk both validates a client payload
 * (refusing anything JSON cannot carry exactly) and writes its canonical text.
 */

import { SpineError, type ErrorCode } from '../errors';
import type { JsonValue } from './types';

/** Containers (objects and arrays) a payload may nest, counting the payload object itself. */
export const MAX_PAYLOAD_DEPTH = 64;

/**
 * A value that is not JSON, met during a walk. Carries the path back up the recursion
 * (innermost segment first) so the happy path never builds a path string.
 */
class Fault {
  readonly segments: (string | number)[] = [];
  constructor(
    readonly code: ErrorCode,
    readonly reason: string,
  ) {}
}

/**
 * The characters JSON escapes, and the surrogates (which may be unpaired), as the body of a
 * regular expression's character class: a string without them is its own JSON text between
 * quotes.
 */
export const NEEDS_CARE_CLASS = '"\\\\\\u0000-\\u001f\\ud800-\\udfff';
const NEEDS_CARE = new RegExp(`[${NEEDS_CARE_CLASS}]`);

/**
 * The JSON text of a string: `"` + s + `"` when nothing in it needs an escape (the common
 * case), else JSON.stringify's escaping, which is RFC 8785's (§3.2.2.2). Returns undefined
 * when the string holds an unpaired surrogate, which JCS cannot encode.
 *
 * The test is a regular expression, not a charCodeAt loop: the two cost the same here, but
 * once any code in the process subclasses String (ioredis does, `class VerbatimString
 * extends String`), V8 stops inlining charCodeAt and such a loop runs 3–4× slower.
 */
function quote(s: string): string | undefined {
  const at = s.search(NEEDS_CARE);
  return at < 0 ? '"' + s + '"' : slowQuote(s, at);
}

function slowQuote(s: string, from: number): string | undefined {
  // Only a string with a surrogate code unit at or after `from` can be ill-formed.
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff) {
        const next = s.charCodeAt(i + 1); // NaN past the end
        if (next >= 0xdc00 && next <= 0xdfff) {
          i++;
          continue;
        }
      }
      return undefined;
    }
  }
  return JSON.stringify(s);
}

/**
 * The RFC 8785 JSON text of a string, for callers that write canonical text by hand
 * (the event record). An unpaired surrogate is a programmer's error here: TypeError.
 */
export function quoteString(s: string): string {
  const q = quote(s);
  if (q === undefined) throw new TypeError(`quoteString: ${JSON.stringify(s)} holds an unpaired UTF-16 surrogate`);
  return q;
}

/** Largest magnitude an integer may have and still be carried exactly by JSON (2^53 − 1). */
const SAFE = Number.MAX_SAFE_INTEGER;

/**
 * One walk: validate and write. `strictNumbers` refuses integers beyond ±(2^53 − 1) (the
 * payload rule of DESIGN §1); plain JCS accepts them. Every magnitude above 2^53 − 1 is an
 * integer, so a range check is the whole test, and it also catches NaN and ±Infinity.
 */
function walk(v: unknown, depth: number, strictNumbers: boolean): string {
  switch (typeof v) {
    case 'string': {
      const q = quote(v);
      if (q === undefined) throw new Fault('INVALID_TEXT', 'holds an unpaired UTF-16 surrogate');
      return q;
    }
    case 'number':
      if (v >= -SAFE && v <= SAFE) return String(v); // String(-0) === '0'
      if (!Number.isFinite(v)) throw new Fault('UNSAFE_NUMBER', `is ${String(v)}, which JSON cannot carry`);
      if (strictNumbers) {
        throw new Fault('UNSAFE_NUMBER', `is an integer beyond ±(2^53−1) (${String(v)}), which JSON cannot carry exactly`);
      }
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (depth >= MAX_PAYLOAD_DEPTH) {
        throw new Fault('INVALID_PAYLOAD', `nests deeper than the limit of ${MAX_PAYLOAD_DEPTH} objects and arrays`);
      }
      if (Array.isArray(v)) return walkArray(v, depth + 1, strictNumbers);
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new Fault('INVALID_PAYLOAD', `is ${describe(v)}, not a JSON value`);
      }
      return walkObject(v as Record<string, unknown>, depth + 1, strictNumbers);
    }
    default:
      throw new Fault('INVALID_PAYLOAD', `is ${describe(v)}, not a JSON value`);
  }
}

function walkArray(a: readonly unknown[], depth: number, strictNumbers: boolean): string {
  const n = a.length;
  if (n === 0) return '[]';
  let out = '[';
  for (let i = 0; i < n; i++) {
    if (i > 0) out += ',';
    try {
      out += walk(a[i], depth, strictNumbers); // a hole reads as undefined and is refused
    } catch (err) {
      if (err instanceof Fault) err.segments.push(i);
      throw err;
    }
  }
  return out + ']';
}

/**
 * Sort member names by UTF-16 code units (RFC 8785 §3.2.3): the order of `<` on strings
 * and of the default Array sort. Insertion sort for the few keys of a typical object is
 * about twice as fast as Array.prototype.sort here.
 */
function sortKeys(keys: string[]): void {
  const n = keys.length;
  if (n > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
}

function walkObject(o: Record<string, unknown>, depth: number, strictNumbers: boolean): string {
  const keys = Object.keys(o);
  const n = keys.length;
  if (n === 0) return '{}';
  if (n > 1) sortKeys(keys);
  let out = '{';
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    const qk = quote(key);
    if (qk === undefined) {
      const fault = new Fault('INVALID_TEXT', 'has a member name holding an unpaired UTF-16 surrogate');
      fault.segments.push(key);
      throw fault;
    }
    if (i > 0) out += ',';
    out += qk;
    out += ':';
    try {
      out += walk(o[key], depth, strictNumbers);
    } catch (err) {
      if (err instanceof Fault) err.segments.push(key);
      throw err;
    }
  }
  return out + '}';
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'bigint') return 'a bigint';
  if (typeof v === 'object' && v !== null) {
    const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? `a ${name} instance` : 'a non-plain object';
  }
  return typeof v;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `payload.items[2].amount`; member names that are not identifiers in `["…"]`. */
function pathOf(root: string, segments: readonly (string | number)[]): string {
  let path = root;
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i] as string | number;
    if (typeof s === 'number') path += `[${s}]`;
    else if (IDENTIFIER.test(s)) path += `.${s}`;
    else path += `[${JSON.stringify(s)}]`; // a lone surrogate comes out escaped, never raw
  }
  return path;
}

/**
 * RFC 8785 canonical text of a JSON value. Integers beyond ±(2^53−1) are accepted (JCS
 * formats any IEEE-754 double); non-finite numbers, unpaired surrogates and values that are
 * not JSON are a programmer's error here: TypeError.
 */
export function canonicalize(value: JsonValue): string {
  try {
    return walk(value, 0, false);
  } catch (err) {
    if (err instanceof Fault) throw new TypeError(`canonicalize: ${pathOf('value', err.segments)} ${err.reason}`);
    throw err;
  }
}

/**
 * Validate a client payload and return its canonical text (RFC 8785), in one walk.
 *
 * - `undefined` is the default payload `{}`; anything else that is not a plain object
 *   (array, scalar, null, class instance) is INVALID_PAYLOAD.
 * - Inside: undefined, functions, symbols, bigints and non-plain objects (Date, Map, class
 *   instances) are INVALID_PAYLOAD; nesting beyond MAX_PAYLOAD_DEPTH is INVALID_PAYLOAD.
 * - Non-finite numbers and integers beyond ±(2^53−1) are UNSAFE_NUMBER.
 * - Unpaired surrogates in any string or member name are INVALID_TEXT.
 *
 * The SpineError's `field` (and its message) names the exact path, e.g.
 * `payload.items[2].amount`; `field` is the path's root (`events[3].payload` in a batch).
 */
export function canonicalPayload(payload: unknown, field = 'payload'): string {
  if (payload === undefined) return '{}';
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    const what = payload === null ? 'null' : Array.isArray(payload) ? 'an array' : `a ${typeof payload}`;
    throw new SpineError('INVALID_PAYLOAD', `${field} must be a JSON object, not ${what}`, { field });
  }
  try {
    return walk(payload, 0, true);
  } catch (err) {
    if (err instanceof Fault) {
      const path = pathOf(field, err.segments);
      throw new SpineError(err.code, `${path} ${err.reason}`, { field: path });
    }
    throw err;
  }
}
