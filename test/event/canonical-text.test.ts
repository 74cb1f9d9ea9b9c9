import t from 'tap';
import fc from 'fast-check';
import { canonicalPayload, MAX_PAYLOAD_DEPTH } from '../../src/event/canonical';
import { isCanonicalPayloadText } from '../../src/event/canonical-text';
import { validateEvent, validateWireEvent, type EnvelopeOptions } from '../../src/event/validate';
import { PAYLOAD_JSON } from '../helpers/payloads';

/** What the slow path makes of a text: its canonical form, or the error code. */
function slowPath(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  try {
    return canonicalPayload(value);
  } catch (err) {
    return `refused: ${(err as { code?: string }).code}`;
  }
}

t.test('canonical payloads are recognised as they are', async (t) => {
  for (const text of [
    '{}',
    '{"a":1}',
    '{"a":[],"b":{},"c":[1,"x",true,false,null,{"d":-1}]}',
    '{"amount":12.5,"tags":["audit","hr"]}',
    '{"big":9007199254740991,"m":-7,"n":0,"small":-9007199254740991}',
    '{"f":0.1,"g":1e-7}',
    '{"s":"tab\\tquote\\"backslash\\\\nl\\nunit\\u001f"}',
    '{"":"empty name","é":"ü","€":"😀"}',
    '{"A":1,"B":2,"a":3,"b":4}',
    '{"a":1,"aa":2,"ab":3}',
  ]) {
    t.ok(isCanonicalPayloadText(text), text);
    t.equal(slowPath(text), text, `${text} is its own canonical form`);
  }
});

t.test('everything else is left to the slow path, which decides it', async (t) => {
  const cases: [string, string][] = [
    ['', 'empty text'],
    ['[]', 'not an object'],
    ['"x"', 'not an object'],
    ['null', 'null'],
    ['{ "a":1}', 'whitespace'],
    ['{"a":1}\n', 'trailing whitespace'],
    ['{"a":1}x', 'trailing garbage'],
    ['{"b":1,"a":2}', 'members out of order'],
    ['{"a":1,"a":2}', 'a repeated member'],
    ['{"a\\u0062":1}', 'an escape in a member name'],
    ['{"a":-0}', '-0 is written 0'],
    ['{"a":01}', 'a leading zero'],
    ['{"a":1.0}', 'not the shortest form'],
    ['{"a":1e3}', 'an exponent ECMAScript does not write'],
    ['{"a":1E+30}', 'upper-case exponent'],
    ['{"a":9007199254740992}', 'an integer beyond 2^53 - 1'],
    ['{"a":1e+21}', 'beyond 2^53 - 1'],
    ['{"a":"\\u0041"}', 'an escape RFC 8785 does not write'],
    ['{"a":"\\u001F"}', 'upper-case hex'],
    ['{"a":"\\u000a"}', 'the long form of \\n'],
    ['{"a":"\\/"}', 'an escaped solidus'],
    ['{"a":"\ud800"}', 'an unpaired high surrogate'],
    ['{"a":"\udc00x"}', 'an unpaired low surrogate'],
    ['{"a":"\\ud83d\\ude00"}', 'an escaped pair'],
    ['{"a":"x\u0001"}', 'a raw control character'],
    ['{"a":tru}', 'a broken literal'],
    ['{"a":1,}', 'a trailing comma'],
    ['{"a"}', 'a member without a value'],
    ['{"a":"unterminated}', 'an unterminated string'],
  ];
  for (const [text, why] of cases) {
    t.notOk(isCanonicalPayloadText(text), why);
  }
});

t.test('nesting: up to the payload limit, counting the payload object', async (t) => {
  const nest = (levels: number): string => '{"a":'.repeat(levels - 1) + '{}' + '}'.repeat(levels - 1);
  t.ok(isCanonicalPayloadText(nest(MAX_PAYLOAD_DEPTH)));
  t.notOk(isCanonicalPayloadText(nest(MAX_PAYLOAD_DEPTH + 1)));
  t.equal(slowPath(nest(MAX_PAYLOAD_DEPTH + 1)), 'refused: INVALID_PAYLOAD', 'the slow path names the limit');
  const arrays = '{"a":' + '['.repeat(MAX_PAYLOAD_DEPTH) + ']'.repeat(MAX_PAYLOAD_DEPTH) + '}';
  t.notOk(isCanonicalPayloadText(arrays), 'arrays count too');
});


/** Whether every member name in a value is written without escapes. */
function namesPlain(v: unknown): boolean {
  if (Array.isArray(v)) return v.every(namesPlain);
  if (v === null || typeof v !== 'object') return true;
  return Object.entries(v).every(([k, x]) => JSON.stringify(k) === `"${k}"` && namesPlain(x));
}

t.test('property: the canonical text of any payload is recognised, unless a member name needs an escape', async (t) => {
  fc.assert(
    fc.property(PAYLOAD_JSON, (x) => {
      const text = canonicalPayload(x);
      return isCanonicalPayloadText(text) === namesPlain(x);
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 runs');
});

t.test('property: whatever is recognised is exactly what the slow path would store', async (t) => {
  // Texts near canonical ones: JSON.stringify's (insertion order, whitespace) and single
  // edits of canonical text (a character inserted, removed or replaced).
  const near = fc.oneof(
    PAYLOAD_JSON.map((x) => canonicalPayload(x)),
    fc.tuple(PAYLOAD_JSON, fc.constantFrom(0, 1, '\t')).map(([x, space]) => JSON.stringify(x, null, space)),
    fc
      .tuple(PAYLOAD_JSON, fc.nat(), fc.constantFrom('insert', 'remove', 'replace'), fc.constantFrom(...'{}[]":,.-+eE0159\\u"x '.split(''), '\u0000', '\ud800', '\udc00'))
      .map(([x, at, edit, c]) => {
        const text = canonicalPayload(x);
        const i = at % (text.length + 1);
        if (edit === 'insert') return text.slice(0, i) + c + text.slice(i);
        if (edit === 'remove') return text.slice(0, i) + text.slice(i + 1);
        return text.slice(0, i) + c + text.slice(i + 1);
      }),
  );
  let recognised = 0;
  fc.assert(
    fc.property(near, (text) => {
      if (!isCanonicalPayloadText(text)) return true;
      recognised++;
      return slowPath(text) === text;
    }),
    { numRuns: 3000 },
  );
  t.ok(recognised > 300, `${recognised} of 3000 texts were recognised (the property is not vacuous)`);
});

const OPTIONS: EnvelopeOptions = { defaultOrganizationId: 'org', defaultEnvironment: 'prod', maxPayloadBytes: 64, maxBatchEvents: 10 };
const FIELDS = { event_type: 'hcm.employee.updated', entity_id: 'e-1', actor_id: 'u-1' };

t.test('validateWireEvent: the same event from canonical and from other text', async (t) => {
  const canonical = validateWireEvent({ ...FIELDS, payload: '{"a":1,"b":[true]}' }, OPTIONS);
  const spaced = validateWireEvent({ ...FIELDS, payload: '{ "b": [true], "a": 1.0 }' }, OPTIONS);
  const parsed = validateEvent({ ...FIELDS, payload: { b: [true], a: 1 } }, OPTIONS);
  t.same(canonical, parsed);
  t.same(spaced, parsed);
  t.equal(canonical.payloadJson, '{"a":1,"b":[true]}');
  t.same(validateWireEvent({ ...FIELDS }, OPTIONS), validateEvent({ ...FIELDS }, OPTIONS), 'no text: the payload {}');
});

t.test('validateWireEvent: every rule still holds on the fast path', async (t) => {
  const big = `{"a":"${'x'.repeat(100)}"}`;
  t.ok(isCanonicalPayloadText(big));
  t.throws(() => validateWireEvent({ ...FIELDS, payload: big }, OPTIONS, 'events[2].'), { code: 'PAYLOAD_TOO_LARGE', field: 'events[2].payload' }, 'the size limit');
  t.throws(() => validateWireEvent({ ...FIELDS, actor_id: '', payload: '{}' }, OPTIONS), { code: 'MISSING_FIELD', field: 'actor_id' }, 'other fields');
  t.throws(() => validateWireEvent({ ...FIELDS, payload: '{"a":' }, OPTIONS), { code: 'INVALID_PAYLOAD', field: 'payload' }, 'not JSON');
  t.throws(() => validateWireEvent({ ...FIELDS, event_type: 'Bad', payload: '{"a":' }, OPTIONS), { code: 'INVALID_EVENT_TYPE' }, 'the other fields are named first');
  t.throws(() => validateWireEvent({ ...FIELDS, payload: 'null' }, OPTIONS), { code: 'INVALID_PAYLOAD' }, 'null');
  t.throws(() => validateWireEvent({ ...FIELDS, payload: '[1]' }, OPTIONS), { code: 'INVALID_PAYLOAD' }, 'an array');
  t.throws(() => validateWireEvent({ ...FIELDS, payload: '{"a":9007199254740993}' }, OPTIONS), { code: 'UNSAFE_NUMBER', field: 'payload.a' }, 'an unsafe number');
});
