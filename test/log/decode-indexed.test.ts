/**
 * decodeIndexed, the index worker's reader of frame bodies, agrees with decodeRaw on every
 * field it reads, for bodies our frame writer made and for bodies msgpackr's own encoder
 * made (other widths of the same msgpack types); and refuses what decodeRaw refuses,
 * naming the field (properties, time-boxed).
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import t from 'tap';
import { decodeIndexed, decodeRaw, encodeFrames, type RawRecord } from '../../src/log/record';
import { FRAME_HEADER_BYTES, loadChecksum } from '../../src/log/frame';
import { ACTOR_TYPES, ENVIRONMENTS, SEVERITIES, type StoredEvent } from '../../src/event/types';

const RUNS = { numRuns: 1000, interruptAfterTimeLimit: 5_000 };

const text = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', minLength: 1, maxLength });
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

const storedEvent: fc.Arbitrary<StoredEvent> = fc.record({
  seq: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  id: fc.uuid(),
  event_type: text(40),
  domain: fc.constant(''),
  entity_type: fc.constant(''),
  action: fc.constant(''),
  entity_id: text(300),
  entity_name: fc.option(text(100), { nil: undefined }),
  actor_id: text(70),
  actor_type: fc.constantFrom(...ACTOR_TYPES),
  organization_id: text(40),
  environment: fc.constantFrom(...ENVIRONMENTS),
  timestamp: fc.integer({ min: 0, max: 253_402_300_799_999 }).map((ms) => new Date(ms).toISOString()),
  severity: fc.constantFrom(...SEVERITIES),
  payloadJson: fc.oneof({ arbitrary: fc.json(), weight: 20 }, { arbitrary: fc.string({ minLength: 70_000, maxLength: 70_001 }).map((s) => JSON.stringify(s)), weight: 1 }),
  payload_hash: digest,
  previous_hash: digest,
  event_hash: digest,
});

function agrees(body: Buffer, raw: RawRecord): boolean {
  const got = decodeIndexed(body, 3, 77, 8 + body.length);
  return (
    got.segment === 3 &&
    got.offset === 77 &&
    got.length === 8 + body.length &&
    got.seq === raw.seq &&
    Buffer.from(got.id).equals(raw.id) &&
    got.event_type === raw.event_type &&
    got.entity_id === raw.entity_id &&
    got.actor_id === raw.actor_id &&
    got.organization_id === raw.organization_id &&
    got.environment === raw.environment &&
    got.timestampMs === raw.timestampMs &&
    got.severity === raw.severity &&
    body.subarray(got.eventHashAt, got.eventHashAt + 32).equals(raw.event_hash)
  );
}

t.test('bodies the frame writer made', async () => {
  await loadChecksum();
  fc.assert(
    fc.property(storedEvent, (ev) => {
      const body = encodeFrames([ev]).frames.subarray(FRAME_HEADER_BYTES);
      return agrees(body, decodeRaw(body));
    }),
    RUNS,
  );
});

/** The fields of a record as decodeRaw returns them, in the layout of record.ts. */
function fieldsOf(raw: RawRecord): unknown[] {
  const { seq, id, event_type, entity_id, entity_name, actor_id, organization_id, timestampMs, payloadJson } = raw;
  const codes = [ACTOR_TYPES.indexOf(raw.actor_type), ENVIRONMENTS.indexOf(raw.environment), SEVERITIES.indexOf(raw.severity)];
  return [seq, Buffer.from(id), event_type, entity_id, entity_name, actor_id, codes[0], organization_id, codes[1], timestampMs, codes[2], payloadJson, ...[raw.payload_hash, raw.previous_hash, raw.event_hash].map((h) => Buffer.from(h))];
}

t.test('bodies msgpackr made', async (t) => {
  await loadChecksum();
  let forms = 0;
  fc.assert(
    fc.property(storedEvent, (ev) => {
      const mine = encodeFrames([ev]).frames.subarray(FRAME_HEADER_BYTES);
      const theirs = pack(fieldsOf(decodeRaw(mine)));
      if (!theirs.equals(mine)) forms++;
      return agrees(theirs, decodeRaw(theirs));
    }),
    RUNS,
  );
  t.ok(forms > 0, `msgpackr chose other forms than the frame writer in ${forms} bodies`);
});

t.test('refused as decodeRaw refuses them, with the field named', async (t) => {
  await loadChecksum();
  const ev = fc.sample(storedEvent, { numRuns: 1, seed: 7 })[0] as StoredEvent;
  const body = Buffer.from(encodeFrames([{ ...ev, payloadJson: '{"a":1}' }]).frames.subarray(FRAME_HEADER_BYTES));
  for (let cut = 0; cut < body.length; cut++) {
    const short = body.subarray(0, cut);
    t.throws(() => decodeRaw(short), `decodeRaw refuses the body cut at ${cut}`);
    t.throws(() => decodeIndexed(short, 1, 32, 8 + short.length), { name: 'TypeError', message: cut === 0 ? /15-field array/ : /record field \w+ / }, `cut at ${cut}`);
  }
  const raw = decodeRaw(body);
  const wrong: [number, unknown, RegExp][] = [
    [0, 'one', /field seq is not an integer/],
    [1, Buffer.alloc(15), /field id is not 16 bytes/],
    [2, 7, /field event_type is not a string/],
    [6, 99, /field actor_type has an unknown code 99/],
    [9, 1.5, /field timestamp is not an integer/],
    [11, null, /field payload is not a string/],
    [14, Buffer.alloc(31), /field event_hash is not 32 bytes/],
  ];
  for (const [field, value, message] of wrong) {
    const fields = fieldsOf(raw);
    fields[field] = value;
    const bad = pack(fields);
    t.throws(() => decodeRaw(bad), `decodeRaw refuses field ${field} = ${String(value)}`);
    t.throws(() => decodeIndexed(bad, 1, 32, 8 + bad.length), { name: 'TypeError', message }, `field ${field} = ${String(value)}`);
  }
  t.throws(() => decodeIndexed(pack([1, 2, 3]), 1, 32, 12), { message: /15-field array/ });
});
