/**
 * The hash chain across group commits, restarts and segment rolls (DESIGN §1.1, §2): every
 * event's previous_hash is the event_hash of the one before it, seq 1 starts from 64 zeros,
 * and the segment files are named by the 20-digit seq of their first frame.
 */
import t from 'tap';
import { join } from 'node:path';
import { eventHash, payloadHash } from '../../src/event';
import { GENESIS_HASH, type StoredEvent } from '../../src/event/types';
import { segmentFileName } from '../../src/log';
import { openAt, prng, scratchDir } from '../helpers/events';
import { allFrames, segmentFiles } from '../helpers/segments';
import { sampleEvent } from '../helpers/store';

t.test('the chain continues across reopens and segment rolls', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const rand = prng(42);
  const acked = new Map<number, { id: string; event_hash: string }>();
  let expectedSeq = 1;
  for (let session = 0; session < 5; session++) {
    // The segment size changes between sessions too: sealed segments keep their size.
    const store = await openAt(dataDir, { segmentBytes: [4096, 8192, 2048, 16384, 4096][session] as number });
    t.equal(store.head().seq, expectedSeq - 1, `session ${session}: the head is where the last session left it`);
    // Many groups: concurrent requests of 1–30 events.
    for (let round = 0; round < 8; round++) {
      const requests = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Array.from({ length: 1 + Math.floor(rand() * 30) }, () => sampleEvent()));
      const results = await Promise.all(requests.map((r) => store.append(r)));
      for (const r of results.flat()) acked.set(r.seq, { id: r.id, event_hash: r.event_hash });
      expectedSeq += requests.flat().length;
    }
    t.equal(store.head().seq, expectedSeq - 1, `session ${session}: every event took the next seq`);
    await store.close();
  }

  const store = await openAt(dataDir);
  t.teardown(() => store.close());
  const head = store.head();
  t.equal(head.seq, acked.size, `${acked.size} events in all`);
  t.equal(head.event_hash, acked.get(head.seq)?.event_hash, 'the head hash is the last acknowledged one');
  const v = await store.verify({ checkIndex: true });
  t.same([v.ok, v.checked], [true, acked.size], 'verify checks every event and passes');

  const problems: string[] = [];
  let previous = GENESIS_HASH;
  let seq = 0;
  for await (const ev of store.read()) {
    seq += 1;
    if (ev.seq !== seq) problems.push(`seq ${seq} missing (found ${ev.seq})`);
    if (ev.previous_hash !== previous) problems.push(`seq ${ev.seq}: previous_hash is not the event_hash of seq ${ev.seq - 1}`);
    // Recompute both digests here, not through verify: the contract of §1.1.
    if (payloadHash(ev.payloadJson) !== ev.payload_hash) problems.push(`seq ${ev.seq}: payload_hash`);
    if (eventHash(ev) !== ev.event_hash) problems.push(`seq ${ev.seq}: event_hash`);
    const a = acked.get(ev.seq);
    if (a?.id !== ev.id || a.event_hash !== ev.event_hash) problems.push(`seq ${ev.seq}: not what was acknowledged`);
    previous = ev.event_hash;
  }
  t.same(problems.slice(0, 10), [], 'seqs are dense, each previous_hash is the prior event_hash (64 zeros for seq 1), the digests recompute');
  t.equal(seq, acked.size, 'a full read returns every event');

  const files = await segmentFiles(dataDir);
  t.ok(files.length >= 10, `the log rolled into many segments (${files.length})`);
  const frames = await allFrames(dataDir);
  const firstOf = new Map<string, number>();
  for (const f of frames) if (!firstOf.has(f.file)) firstOf.set(f.file, f.seq);
  t.same(files.map((f) => segmentFileName(firstOf.get(f) ?? -1)), files, 'each segment is named by the 20-digit seq of its first frame');
  t.ok(files.every((f) => /^\d{20}\.seg$/.test(f)), 'names are 20 digits and .seg');
  t.same(frames.map((f) => f.seq), Array.from({ length: acked.size }, (_, i) => i + 1), 'the frames hold every seq once, in order');
});

t.test('the first event chains to 64 zeros, the second to the first', async (t) => {
  const store = await openAt(join(scratchDir(), 'data'));
  t.teardown(() => store.close());
  const [a] = await store.append([sampleEvent()]);
  const [b] = await store.append([sampleEvent()]);
  const first = (await store.getBySeq(1)) as StoredEvent;
  const second = (await store.getBySeq(2)) as StoredEvent;
  t.equal(first.previous_hash, GENESIS_HASH, 'seq 1 has previous_hash 64 zeros');
  t.equal(second.previous_hash, a?.event_hash, 'seq 2 has previous_hash = event_hash of seq 1');
  t.equal(second.event_hash, b?.event_hash, 'the acknowledged hash is the stored one');
  t.ok(second.timestamp >= first.timestamp, 'timestamps do not decrease');
});
