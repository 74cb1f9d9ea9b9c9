/**
 * Tampering (DESIGN §1.1): an edit that also fixes up the frame checksum passes every
 * storage-level check, so only the hash chain can notice. verify must name the edited seq.
 */
import t from 'tap';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { eventHash, payloadHash } from '../../src/event';
import type { StoredEvent } from '../../src/event/types';
import { openAt, scratchDir } from '../helpers/events';
import { allFrames, readSegment, resealFrame, writeSegment, type FrameInfo } from '../helpers/segments';

const SEGMENT_BYTES = 8192;
const TOTAL = 60;

/** A store of TOTAL events over a few segments; event k (1-based) has amount 10000 + k. */
async function fixture(dataDir: string): Promise<StoredEvent[]> {
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  for (let b = 0; b < TOTAL / 10; b++) {
    await store.append(
      Array.from({ length: 10 }, (_, i) => {
        const k = b * 10 + i + 1;
        return { event_type: 'finance.invoice.approved', entity_id: `inv-${k % 7}`, actor_id: `auditor-${k % 5}`, payload: { amount: 10000 + k, currency: 'EUR' } };
      }),
    );
  }
  const events: StoredEvent[] = [];
  for await (const ev of store.read()) events.push(ev);
  await store.close();
  return events;
}

/** Replaces `from` by `to` (same length) inside the body of the frame holding `seq`, and reseals the frame. */
async function editFrame(dataDir: string, seq: number, edits: [Buffer, Buffer][]): Promise<FrameInfo> {
  const frame = (await allFrames(dataDir)).find((f) => f.seq === seq);
  if (frame === undefined) throw new Error(`no frame for seq ${seq}`);
  const buf = await readSegment(dataDir, frame.file);
  const body = buf.subarray(frame.offset + 8, frame.offset + frame.length);
  for (const [from, to] of edits) {
    if (from.length !== to.length) throw new Error('edits keep the length');
    const at = body.indexOf(from);
    if (at < 0 || body.indexOf(from, at + 1) >= 0) throw new Error(`${from.toString('hex')} is not found exactly once in seq ${seq}`);
    to.copy(body, at);
  }
  await resealFrame(buf, frame.offset);
  await writeSegment(dataDir, frame.file, buf);
  return frame;
}

/** msgpack str8 as the record writer emits it. */
function str8(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([0xd9, b.length]), b]);
}

/** msgpack bin8 of a 32-byte digest. */
function digest(hex: string): Buffer {
  return Buffer.concat([Buffer.from([0xc4, 32]), Buffer.from(hex, 'hex')]);
}

for (const index of ['intact', 'rebuilt'] as const) {
  t.test(`verify names the seq of an edited payload (index ${index})`, async (t) => {
    const dataDir = join(scratchDir(), 'data');
    const events = await fixture(dataDir);
    const target = events[22] as StoredEvent; // seq 23, inside a sealed segment
    t.equal(target.payloadJson, '{"amount":10023,"currency":"EUR"}', 'the payload as stored');
    await editFrame(dataDir, target.seq, [[Buffer.from('"amount":10023'), Buffer.from('"amount":90023')]]);
    if (index === 'rebuilt') await rm(join(dataDir, 'index'), { recursive: true });

    // The frame checks out and the links still hold (previous_hash is untouched), so the store opens.
    const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
    t.teardown(() => store.close());
    t.equal((await store.getBySeq(target.seq))?.payloadJson, '{"amount":90023,"currency":"EUR"}', 'the edit reads back: the frame checksum passes');
    const v = await store.verify();
    t.equal(v.ok, false, 'verify fails');
    t.equal(v.first_bad_seq, target.seq, `and names seq ${target.seq}`);
    t.equal(v.checked, target.seq - 1, 'after checking every event before it');
    t.match(v.reason, /payload_hash/, 'the reason is the payload digest');
    t.ok((await store.verify({ to_seq: target.seq - 1 })).ok, 'the range before it verifies');
    t.ok((await store.verify({ from_seq: target.seq + 1 })).ok, 'the range after it verifies (its links are intact)');
    t.equal((await store.verify({ from_seq: target.seq, to_seq: target.seq })).first_bad_seq, target.seq, 'a range of just that seq fails');
  });
}

t.test('verify names the seq of an edited field that only event_hash covers', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const events = await fixture(dataDir);
  const cases: [StoredEvent, string, string][] = [
    [events[40] as StoredEvent, 'auditor-1', 'auditor-9'], // actor_id
    [events[10] as StoredEvent, 'inv-4', 'inv-9'], // entity_id
  ];
  for (const [target, from, to] of cases) {
    t.equal(target.actor_id === from || target.entity_id === from, true, `seq ${target.seq} holds ${from}`);
    await editFrame(dataDir, target.seq, [[str8(from), str8(to)]]);
  }
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  t.teardown(() => store.close());
  const first = await store.verify();
  t.equal(first.first_bad_seq, 11, 'verify names the first edited seq (entity_id of seq 11)');
  t.match(first.reason, /event_hash/, 'the reason is the event hash');
  const second = await store.verify({ from_seq: 12 });
  t.equal(second.first_bad_seq, 41, 'and from the next seq on, the actor_id edit of seq 41');
  t.match(second.reason, /event_hash/, 'the reason is the event hash');
});

t.test('a forger who recomputes the hashes of one event breaks the link to the next', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const events = await fixture(dataDir);
  const target = events[29] as StoredEvent; // seq 30
  const forgedPayload = target.payloadJson.replace('10030', '99999');
  const forged: StoredEvent = { ...target, payloadJson: forgedPayload, payload_hash: payloadHash(forgedPayload) };
  forged.event_hash = eventHash(forged);
  await editFrame(dataDir, target.seq, [
    [Buffer.from(target.payloadJson), Buffer.from(forgedPayload)],
    [digest(target.payload_hash), digest(forged.payload_hash)],
    [digest(target.event_hash), digest(forged.event_hash)],
  ]);

  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  const v = await store.verify();
  t.equal(v.first_bad_seq, target.seq + 1, `verify names seq ${target.seq + 1}, whose previous_hash no longer matches`);
  t.match(v.reason, /previous_hash/, 'the reason is the broken link');
  t.equal(v.checked, target.seq, 'the forged event itself is self-consistent');
  await store.close();

  // Recovery checks the links too: without an index to resume from, the open is refused.
  await rm(join(dataDir, 'index'), { recursive: true });
  await t.rejects(openAt(dataDir, { segmentBytes: SEGMENT_BYTES }), { code: 'LOG_CORRUPT', message: new RegExp(`seq ${target.seq + 1}\\b`) }, 'a rebuild stops at the broken link, naming its seq');
});
