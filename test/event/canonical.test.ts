import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { canonicalize, canonicalPayload, MAX_PAYLOAD_DEPTH } from '../../src/event/canonical';
import type { JsonValue } from '../../src/event/types';
import { PAYLOAD_JSON } from '../helpers/payloads';

/** An IEEE-754 double from its big-endian hex bit pattern. */
function double(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

/** A naive JCS for comparison: sort with the default sort, everything else JSON.stringify. */
function reference(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${reference(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

t.test('RFC 8785 §3.2.2: the sample object', async (t) => {
  // The input exactly as printed in the RFC (JSON text, so 333333333.33333329 and 4.50
  // reach the parser as written).
  const input = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`;
  const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
  const canonical = canonicalize(JSON.parse(input) as JsonValue);
  t.equal(canonical, expected);
  // §3.2.4: the UTF-8 bytes of the result, as the RFC prints them.
  const utf8Hex = `
    7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
    75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
    5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
    65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
    5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
    30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`.replace(/\s+/g, '');
  t.equal(Buffer.from(canonical, 'utf8').toString('hex'), utf8Hex);
  // As a payload it is refused: 1E30 parses to an integer beyond ±(2^53−1) (DESIGN §1).
  t.throws(() => canonicalPayload(JSON.parse(input)), { code: 'UNSAFE_NUMBER', field: 'payload.numbers[1]' });
});

t.test('RFC 8785 §3.2.3: member names sorted by UTF-16 code units', async (t) => {
  const input = String.raw`{
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  }`;
  const canonical = canonicalPayload(JSON.parse(input));
  // Read the order from the text: JSON.parse would put "1" (an array index) first again.
  const values = [...canonical.matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
  t.same(values, [
    'Carriage Return',
    'One',
    'Control',
    'Latin Small Letter O With Diaeresis',
    'Euro Sign',
    'Emoji: Grinning Face',
    'Hebrew Letter Dalet With Dagesh',
  ]);
  t.equal(
    canonical,
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
      '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

t.test('RFC 8785 Appendix B: number serialization', async (t) => {
  const table: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [bits, expected] of table) {
    t.equal(canonicalize(double(bits)), expected, `0x${bits}`);
    t.equal(canonicalize([double(bits)]), `[${expected}]`, `0x${bits} in an array`);
  }
  // The table's NaN and Infinity rows: serialization must fail.
  for (const bits of ['7fffffffffffffff', '7ff0000000000000']) {
    t.throws(() => canonicalize(double(bits)), TypeError, `0x${bits} is refused`);
  }
});

t.test('-0 is written as 0', async (t) => {
  t.equal(canonicalize(-0), '0');
  t.equal(canonicalPayload({ a: -0, b: [-0] }), '{"a":0,"b":[0]}');
});

t.test('strings are escaped as JSON.stringify escapes them', async (t) => {
  const s = 'tab\there "q" back\\slash \u0000\u001f\u007f\u2028 é 😀';
  t.equal(canonicalize(s), JSON.stringify(s));
  t.equal(canonicalize({ [s]: s }), `{${JSON.stringify(s)}:${JSON.stringify(s)}}`);
});

t.test('canonicalPayload: the top level', async (t) => {
  t.equal(canonicalPayload(undefined), '{}', 'undefined is the default {}');
  t.equal(canonicalPayload({}), '{}');
  t.equal(canonicalPayload(Object.create(null) as object), '{}', 'a null-prototype object is plain');
  for (const bad of [null, [], [1], 'text', 42, true]) {
    t.throws(() => canonicalPayload(bad), { code: 'INVALID_PAYLOAD', field: 'payload' }, JSON.stringify(bad));
  }
  t.throws(() => canonicalPayload(new Date()), { code: 'INVALID_PAYLOAD', field: 'payload' }, 'a Date');
  t.throws(() => canonicalPayload([], 'events[3].payload'), { code: 'INVALID_PAYLOAD', field: 'events[3].payload' });
});

t.test('canonicalPayload: values JSON cannot carry, named by path', async (t) => {
  class Money {
    amount = 1;
  }
  const bad: [string, unknown][] = [
    ['undefined', undefined],
    ['function', () => 1],
    ['symbol', Symbol('s')],
    ['bigint', 10n],
    ['Date', new Date(0)],
    ['Map', new Map()],
    ['Set', new Set()],
    ['class instance', new Money()],
    ['RegExp', /x/],
    ['Buffer', Buffer.from('x')],
  ];
  for (const [name, value] of bad) {
    t.throws(
      () => canonicalPayload({ items: [{}, {}, { amount: value }] }),
      { code: 'INVALID_PAYLOAD', field: 'payload.items[2].amount' },
      name,
    );
  }
  t.throws(() => canonicalPayload({ a: [1, , 3] }), { code: 'INVALID_PAYLOAD', field: 'payload.a[1]' }, 'a hole');
  t.throws(
    () => canonicalPayload({ 'odd key': { x: undefined } }, 'events[3].payload'),
    { code: 'INVALID_PAYLOAD', field: 'events[3].payload["odd key"].x' },
    'a member name that is not an identifier',
  );
  const err = t.throws(() => canonicalPayload({ items: [0, 1, { amount: undefined }] })) as Error;
  t.match(err.message, /payload\.items\[2\]\.amount/, 'the message names the path');
});

t.test('canonicalPayload: unsafe numbers', async (t) => {
  const unsafe = [NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e21, -1e300, Number.MAX_VALUE];
  for (const n of unsafe) {
    t.throws(() => canonicalPayload({ x: { y: n } }), { code: 'UNSAFE_NUMBER', field: 'payload.x.y' }, String(n));
    t.throws(() => canonicalPayload({ list: [0, n] }), { code: 'UNSAFE_NUMBER', field: 'payload.list[1]' }, String(n));
  }
  const safe = [2 ** 53 - 1, -(2 ** 53 - 1), 0.1, 1e-7, 5e-324, 123456789.125, -0.5];
  for (const n of safe) t.equal(canonicalPayload({ n }), `{"n":${JSON.stringify(n)}}`, String(n));
  t.equal(canonicalize(2 ** 53), '9007199254740992', 'plain JCS formats any finite double');
});

t.test('unpaired surrogates are refused, pairs are fine', async (t) => {
  t.equal(canonicalPayload({ e: '😀', '😀': 1 }), '{"e":"😀","😀":1}');
  for (const bad of ['\ud800', 'a\udbff', '\udc00b', '\udc00\ud800', 'x\ud83d']) {
    t.throws(() => canonicalPayload({ v: [bad] }), { code: 'INVALID_TEXT', field: 'payload.v[0]' }, JSON.stringify(bad));
    t.throws(() => canonicalPayload({ nested: { [bad]: 1 } }), { code: 'INVALID_TEXT' }, `key ${JSON.stringify(bad)}`);
    t.throws(() => canonicalize(bad), TypeError);
  }
  t.throws(
    () => canonicalPayload({ nested: { '\ud800': 1 } }),
    { code: 'INVALID_TEXT', field: 'payload.nested["\\ud800"]' },
    'the path escapes the lone surrogate',
  );
});

t.test('nesting depth limit', async (t) => {
  const nest = (levels: number): Record<string, unknown> => {
    let v: Record<string, unknown> = {};
    for (let i = 1; i < levels; i++) v = { a: v };
    return v;
  };
  t.equal(MAX_PAYLOAD_DEPTH, 64);
  t.doesNotThrow(() => canonicalPayload(nest(64)), '64 levels, counting the payload itself');
  const err = t.throws(() => canonicalPayload(nest(65)), { code: 'INVALID_PAYLOAD' }) as Error;
  t.match(err.message, /64/, 'the message names the limit');
  const arrays: unknown[] = [];
  let inner = arrays;
  for (let i = 0; i < 70; i++) {
    const next: unknown[] = [];
    inner.push(next);
    inner = next;
  }
  t.throws(() => canonicalPayload({ arrays }), { code: 'INVALID_PAYLOAD' }, 'arrays count too');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => canonicalPayload(cyclic), { code: 'INVALID_PAYLOAD' }, 'a cycle ends at the limit');
});

const ARBITRARY_JSON = fc.jsonValue({ stringUnit: 'binary', maxDepth: 5 });

t.test('property: canonical text is a fixed point and parses back to the value', async (t) => {
  fc.assert(
    fc.property(ARBITRARY_JSON, (x) => {
      const c = canonicalize(x as JsonValue);
      const back = JSON.parse(c) as JsonValue;
      // JSON text cannot keep -0; every other value comes back deep-equal.
      const expected = JSON.parse(JSON.stringify(x)) as JsonValue;
      return canonicalize(back) === c && isDeepStrictEqual(back, expected);
    }),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});

t.test('property: agrees with a naive implementation, whatever the key order', async (t) => {
  fc.assert(
    fc.property(PAYLOAD_JSON, fc.integer(), (x, seed) => {
      // Rebuild with the keys in a different insertion order.
      const shuffle = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(shuffle);
        if (v !== null && typeof v === 'object') {
          const keys = Object.keys(v).reverse();
          if (seed % 2 === 0) keys.reverse();
          const out: Record<string, unknown> = {};
          for (const k of keys) {
            const value = shuffle((v as Record<string, unknown>)[k]);
            Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
          }
          return out;
        }
        return v;
      };
      const c = canonicalPayload(x);
      return c === reference(x) && c === canonicalize(x as JsonValue) && canonicalPayload(shuffle(x)) === c;
    }),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});

t.test('property: strings of any well-formed text', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => canonicalize(s) === JSON.stringify(s)),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});
