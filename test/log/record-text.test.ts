/**
 * The text forms of a record's binary fields (src/log/record-text.ts) are Node's own:
 * hex as Buffer#toString('hex'), ids in 8-4-4-4-12 form, timestamps as Date#toISOString,
 * for any bytes and any instant (properties, time-boxed); and a frame body's seq is read
 * without decoding it, for every width msgpack gives it.
 */
import fc from 'fast-check';
import t from 'tap';
import { hex, isoTime, uuidText } from '../../src/log/record-text';
import { decodeRaw, encodeFrames, peekSeq } from '../../src/log/record';
import { FRAME_HEADER_BYTES, loadChecksum } from '../../src/log/frame';
import type { StoredEvent } from '../../src/event/types';

const RUNS = { numRuns: 2000, interruptAfterTimeLimit: 5_000 };

t.test('hex and ids', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => hex(bytes) === Buffer.from(bytes).toString('hex')), RUNS);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const h = Buffer.from(bytes).toString('hex');
      return uuidText(bytes) === `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }),
    RUNS,
  );
  t.equal(hex(new Uint8Array(0)), '', 'no bytes, no digits');
  t.equal(hex(new Uint8Array(300).fill(0xab)), 'ab'.repeat(300), 'longer than the scratch buffer');
});

t.test('timestamps', async (t) => {
  const instants = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 1_795_338_693_246, 4_107_542_399_999, 253_402_300_799_999, 253_402_300_800_000, 8_640_000_000_000_000];
  for (const ms of instants) t.equal(isoTime(ms), new Date(ms).toISOString(), `${ms}`);
  fc.assert(fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => isoTime(ms) === new Date(ms).toISOString()), RUNS);
  fc.assert(fc.property(fc.integer({ min: -62_198_755_200_000, max: 8_640_000_000_000_000 }), (ms) => isoTime(ms) === new Date(ms).toISOString()), RUNS);
});

t.test('the seq of a frame body, without decoding it', async (t) => {
  await loadChecksum();
  const base: StoredEvent = {
    seq: 1,
    id: '0190f1a2-3b4c-7d5e-8f60-718293a4b5c6',
    event_type: 'hcm.employee.updated',
    domain: 'hcm',
    entity_type: 'employee',
    action: 'updated',
    entity_id: 'e',
    entity_name: undefined,
    actor_id: 'a',
    actor_type: 'human',
    organization_id: 'o',
    environment: 'prod',
    timestamp: '2026-11-22T09:30:00.123Z',
    severity: 'low',
    payloadJson: '{}',
    payload_hash: 'a'.repeat(64),
    previous_hash: 'b'.repeat(64),
    event_hash: 'c'.repeat(64),
  };
  for (const seq of [1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
    const body = encodeFrames([{ ...base, seq }]).frames.subarray(FRAME_HEADER_BYTES);
    t.equal(peekSeq(body), seq, `seq ${seq}`);
    t.equal(decodeRaw(body).seq, seq, `and decoding agrees`);
  }
  t.equal(peekSeq(Buffer.from([0x93, 1, 2, 3])), undefined, 'not a record: undefined');
  t.equal(peekSeq(Buffer.from([0x9f, 0xce, 0])), undefined, 'cut short: undefined');
});
