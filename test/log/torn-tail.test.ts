/**
 * Recovery of a torn tail (DESIGN §2): a frame the last segment ends inside of, or garbage
 * after the last whole frame, is an append that was never acknowledged. It is cut off, the
 * store opens at the last whole frame and the chain continues from there. Damage that is
 * followed by a valid frame is not a torn tail and stops the open.
 */
import t, { type Test } from 'tap';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SegmentLog, segmentFileName, type LogHead, type ResumePoint } from '../../src/log';
import { SEGMENT_HEADER_BYTES, segmentHeader } from '../../src/log/frame';
import type { Store } from '../../src/store';
import { openAt, prng, randomBytes, scratchDir } from '../helpers/events';
import { sampleEvent } from '../helpers/store';
import { copyDir, parseSegment, readSegment, segmentFiles, segmentsDir, writeSegment, type FrameInfo } from '../helpers/segments';

const N = 20;

interface Fixture {
  dataDir: string;
  /** The index as it was with N−1 events: what a crash during the Nth append leaves. */
  savedIndex: string;
  segmentsBefore: string[];
  lastFile: string;
  lastSegment: Buffer;
  lastFrame: FrameInfo;
  hashOfNMinus1: string;
  /** Where an index holding N−1 events resumes the log. */
  resumeBehind: ResumePoint;
}

/**
 * N events; the Nth alone in the last group. `rollBeforeLast` puts the Nth event first in
 * a fresh segment (the other place a torn tail can be).
 */
async function fixture(base: string, rollBeforeLast: boolean): Promise<Fixture> {
  const dataDir = join(base, 'data');
  const savedIndex = join(base, 'saved-index');
  let store = await openAt(dataDir, { segmentBytes: 64 * 1024 });
  await store.append(Array.from({ length: N - 1 }, () => sampleEvent()));
  const head = store.head();
  const hashOfNMinus1 = head.event_hash;
  await store.close();
  const firstFrames = parseSegment(segmentFileName(1), await readSegment(dataDir, segmentFileName(1)));
  const frameNMinus1 = firstFrames[firstFrames.length - 1] as FrameInfo;
  const resumeBehind: ResumePoint = {
    head: { seq: N - 1, event_hash: hashOfNMinus1, timestamp: head.timestamp as string },
    segment: 1,
    offset: frameNMinus1.offset + frameNMinus1.length,
  };
  await copyDir(join(dataDir, 'index'), savedIndex);
  // Reopen with a segment size the next frame cannot fit under, to force a roll.
  const size = (await stat(join(segmentsDir(dataDir), segmentFileName(1)))).size;
  store = await openAt(dataDir, { segmentBytes: rollBeforeLast ? size + 100 : 64 * 1024 });
  // A compact last event (~170-byte frame): every byte of it is cut in turn, twice.
  const [last] = await store.append([{ event_type: 'hcm.employee.hired', entity_id: 'e-last', actor_id: 'u-1', payload: { n: 1 } }]);
  if (last?.seq !== N) throw new Error('fixture: the last event is not seq N');
  await store.close();
  const files = await segmentFiles(dataDir);
  const lastFile = files[files.length - 1] as string;
  const lastSegment = await readSegment(dataDir, lastFile);
  const frames = parseSegment(lastFile, lastSegment);
  const lastFrame = frames[frames.length - 1] as FrameInfo;
  return { dataDir, savedIndex, segmentsBefore: files, lastFile, lastSegment, lastFrame, hashOfNMinus1, resumeBehind };
}

/** Puts the fixture's files back, with the last segment replaced by `segment`. */
async function restore(fx: Fixture, segment: Buffer, index: 'behind' | 'deleted' | 'untouched'): Promise<void> {
  for (const file of await readdir(segmentsDir(fx.dataDir))) {
    if (!fx.segmentsBefore.includes(file)) await rm(join(segmentsDir(fx.dataDir), file));
  }
  await writeSegment(fx.dataDir, fx.lastFile, segment);
  if (index === 'behind') await copyDir(fx.savedIndex, join(fx.dataDir, 'index'));
  else if (index === 'deleted') await rm(join(fx.dataDir, 'index'), { recursive: true, force: true });
}

/** The store opened on a torn tail is at N−1, intact, and a new append continues the chain. */
async function checkRecovered(t: Test, fx: Fixture, store: Store, what: string): Promise<boolean> {
  const head = store.head();
  let ok = t.equal(head.seq, N - 1, `${what}: head is N−1`);
  ok &&= t.equal(head.event_hash, fx.hashOfNMinus1, `${what}: head hash is that of N−1`);
  ok &&= t.equal((await stat(join(segmentsDir(fx.dataDir), fx.lastFile))).size, fx.lastFrame.offset, `${what}: the file is cut at the frame start`);
  ok &&= t.ok((await store.verify({ checkIndex: true })).ok, `${what}: verify passes`);
  const [res] = await store.append([sampleEvent()]);
  ok &&= t.equal(res?.seq, N, `${what}: the next append takes seq N`);
  const ev = await store.getBySeq(N);
  ok &&= t.equal(ev?.previous_hash, fx.hashOfNMinus1, `${what}: and chains to N−1`);
  const v = await store.verify({ checkIndex: true });
  ok &&= t.ok(v.ok && v.checked === N, `${what}: verify passes after the new append`);
  return ok;
}

/** Opens the bare log (no index, no store) the way Store.open does, and closes it again. */
async function openLog(fx: Fixture, resumeBehind: boolean): Promise<{ head: LogHead | undefined; truncatedAt: number | undefined; handed: string }> {
  const resume: ResumePoint | undefined = resumeBehind ? fx.resumeBehind : undefined;
  let truncatedAt: number | undefined;
  const runs: string[] = [];
  const log = await SegmentLog.open({ dir: fx.dataDir, segmentBytes: 64 * 1024, durability: 'fsync' }, resume, {
    visit: async (run) => void runs.push(`${run.segment}:${run.offset}+${run.length}`),
    truncated: (_file, offset) => void (truncatedAt = offset),
  });
  const head = log.head;
  await log.close();
  return { head, truncatedAt, handed: runs.join(' ') };
}

for (const rollBeforeLast of [false, true]) {
  const where = rollBeforeLast ? 'first frame of a fresh segment' : 'last frame of a segment with others';

  // Every byte offset, on the bare log: what recovery does with the cut.
  t.test(`the log recovers from a cut at every byte of the ${where}`, async (t) => {
    const fx = await fixture(scratchDir(), rollBeforeLast);
    t.equal(fx.lastFrame.seq, N, 'the fixture ends with seq N');
    if (rollBeforeLast) t.equal(fx.lastFrame.offset, 32, 'the last frame opens its segment');
    const { offset, length } = fx.lastFrame;
    // A full scan hands the index the N−1 whole frames, all in segment 1, as one run.
    const allButLast = `1:${SEGMENT_HEADER_BYTES}+${fx.resumeBehind.offset - SEGMENT_HEADER_BYTES}`;
    // One assertion per property over all cuts (hundreds of cuts, thousands of checks).
    const problems: string[] = [];
    const expect = (what: string, actual: unknown, expected: unknown): void => {
      if (actual !== expected) problems.push(`${what}: ${String(actual)}, expected ${String(expected)}`);
    };
    for (let cut = offset; cut < offset + length && problems.length < 10; cut++) {
      // Each cut once, alternately resuming after N−1 (an index one behind) and scanning all.
      for (const behind of [(cut - offset) % 2 === 0]) {
        await restore(fx, fx.lastSegment.subarray(0, cut), 'untouched');
        const what = `cut at ${cut} (${behind ? 'resuming after N−1' : 'full scan'})`;
        const opened = await openLog(fx, behind);
        expect(`${what}: head seq`, opened.head?.seq, N - 1);
        expect(`${what}: head hash`, opened.head?.event_hash, fx.hashOfNMinus1);
        expect(`${what}: reported cut at`, opened.truncatedAt, cut === offset ? undefined : offset);
        expect(`${what}: frames handed to the index`, opened.handed, behind ? '' : allButLast);
        expect(`${what}: file size`, (await stat(join(segmentsDir(fx.dataDir), fx.lastFile))).size, offset);
        // A second open finds a clean log: the cut was complete (checked on every 4th cut).
        if ((cut - offset) % 4 === 0) {
          const again = await openLog(fx, false);
          expect(`${what}: head after a second open`, again.head?.seq, N - 1);
          expect(`${what}: cut on the second open`, again.truncatedAt, undefined);
        }
      }
    }
    t.same(problems, [], `all ${length} cuts: head N−1 with its hash, the torn frame cut at its start and reported, nothing left to cut on a second open`);
  });

  // A sample of offsets through the whole store: the chain continues and verifies.
  t.test(`the store reopens and continues the chain after a cut in the ${where}`, async (t) => {
    const fx = await fixture(scratchDir(), rollBeforeLast);
    const { offset, length } = fx.lastFrame;
    // The frame boundary, inside the length and checksum words, the body's first, middle and last bytes.
    const cuts = [offset, offset + 1, offset + 3, offset + 4, offset + 7, offset + 8, offset + 9, offset + (length >> 1), offset + length - 1];
    for (const [i, cut] of cuts.entries()) {
      const index = i % 2 === 0 ? 'behind' : 'deleted';
      await restore(fx, fx.lastSegment.subarray(0, cut), index);
      const notices: string[] = [];
      const store = await openAt(fx.dataDir, { onNotice: (m) => notices.push(m) });
      try {
        t.equal(notices.some((m) => m.includes('torn tail')), cut !== offset, `cut at ${cut}: a torn tail is reported when there was one`);
        await checkRecovered(t, fx, store, `cut at ${cut} (${index} index)`);
      } finally {
        await store.close();
      }
    }
  });
}

t.test('garbage after the last frame is cut', async (t) => {
  const fx = await fixture(scratchDir(), false);
  const rand = prng(7);
  const end = fx.lastSegment.length;
  const cases: [string, Buffer][] = [
    ['100 random bytes', Buffer.concat([fx.lastSegment, randomBytes(rand, 100)])],
    ['a zeroed 4 KiB region', Buffer.concat([fx.lastSegment, Buffer.alloc(4096)])],
    ['a frame header claiming 16 MiB', Buffer.concat([fx.lastSegment, Buffer.from([0x01, 0, 0, 0, 1, 2, 3, 4])])],
    ['one stray byte', Buffer.concat([fx.lastSegment, Buffer.from([0x5a])])],
  ];
  for (const [what, segment] of cases) {
    for (const index of ['behind', 'deleted'] as const) {
      await restore(fx, segment, index);
      const store = await openAt(fx.dataDir);
      try {
        t.equal(store.head().seq, N, `${what} (${index} index): head is N`);
        t.equal((await stat(join(segmentsDir(fx.dataDir), fx.lastFile))).size, end, `${what}: cut back to the last frame`);
        const [res] = await store.append([sampleEvent()]);
        t.equal(res?.seq, N + 1, `${what}: appends continue at N+1`);
        t.ok((await store.verify({ checkIndex: true })).ok, `${what}: verify passes`);
      } finally {
        await store.close();
      }
    }
  }

  // A half-written frame followed by garbage: still the tail, cut at the frame start.
  const half = fx.lastFrame.offset + Math.floor(fx.lastFrame.length / 2);
  await restore(fx, Buffer.concat([fx.lastSegment.subarray(0, half), randomBytes(rand, 100)]), 'behind');
  const store = await openAt(fx.dataDir);
  try {
    t.ok(await checkRecovered(t, fx, store, 'half a frame, then garbage'));
  } finally {
    await store.close();
  }
});

t.test('damage followed by a valid frame is corruption, not a torn tail', async (t) => {
  const fx = await fixture(scratchDir(), false);
  const frames = parseSegment(fx.lastFile, fx.lastSegment);
  const victim = frames[frames.length - 2] as FrameInfo;
  const damaged = Buffer.from(fx.lastSegment);
  const at = victim.offset + 20;
  damaged[at] = (damaged[at] as number) ^ 0x10;
  await restore(fx, damaged, 'deleted');
  const err = await openAt(fx.dataDir).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e as Error & { code?: string },
  );
  t.equal(err?.code, 'LOG_CORRUPT', 'the open is refused');
  t.match(err?.message, `seq ${victim.seq}`, 'naming the damaged seq');
  t.match(err?.message, `offset ${victim.offset}`, 'and its offset');
  t.equal((await stat(join(segmentsDir(fx.dataDir), fx.lastFile))).size, fx.lastSegment.length, 'and nothing was cut');
});

t.test('a segment the crash left without a whole header', async (t) => {
  const fx = await fixture(scratchDir(), false);
  const next = segmentFileName(N + 1);
  const nextPath = join(segmentsDir(fx.dataDir), next);
  const header = segmentHeader(N + 1);
  // Every length of a half-created segment, on the bare log: the header is written again.
  for (let size = 0; size < header.length; size++) {
    await restore(fx, fx.lastSegment, 'untouched');
    await writeFile(nextPath, header.subarray(0, size));
    const opened = await openLog(fx, size % 2 === 0);
    t.equal(opened.head?.seq, N, `header cut at ${size}: head is N`);
    t.same(await readFile(nextPath), header, `header cut at ${size}: the header is whole again`);
    await rm(nextPath);
  }
  // A sample through the store: the next event goes into the repaired segment.
  for (const size of [0, 1, 12, 31]) {
    await restore(fx, fx.lastSegment, 'behind');
    await writeFile(nextPath, header.subarray(0, size));
    const store = await openAt(fx.dataDir);
    try {
      t.equal(store.head().seq, N, `header cut at ${size}: the store opens at N`);
      const [res] = await store.append([sampleEvent()]);
      t.equal(res?.seq, N + 1, `header cut at ${size}: appends continue`);
      const v = await store.verify({ checkIndex: true });
      t.ok(v.ok && v.checked === N + 1, `header cut at ${size}: verify passes`);
    } finally {
      await store.close();
    }
    t.same(parseSegment(next, await readSegment(fx.dataDir, next)).map((f) => f.seq), [N + 1], `header cut at ${size}: seq N+1 went into the repaired segment`);
    await rm(nextPath);
  }
});
