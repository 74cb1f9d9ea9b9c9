/**
 * Bit rot in a sealed segment (DESIGN §2): a bad frame anywhere but the tail is corruption,
 * reported with its segment, offset and seq and never skipped or cut. One bit is flipped
 * in every byte of one frame in turn:
 *  - recovery scanning the frame (no index to resume from) refuses to open, naming it;
 *  - a running store whose index is intact (no rescan) finds it on reads and in verify.
 */
import t from 'tap';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SegmentLog } from '../../src/log';
import { openAt, scratchDir } from '../helpers/events';
import { allFrames, readSegment, segmentFiles, segmentsDir, writeSegment, type FrameInfo } from '../helpers/segments';

const SEGMENT_BYTES = 4096;

type Failure = (Error & { code?: string }) | undefined;

/** Opens the bare log with a full scan (what Store.open does without an index). */
async function scanError(dataDir: string): Promise<Failure> {
  return SegmentLog.open({ dir: dataDir, segmentBytes: SEGMENT_BYTES, durability: 'fsync' }, undefined, { visit: async () => undefined }).then(
    async (log) => {
      await log.close();
      return undefined;
    },
    (e: unknown) => e as Failure,
  );
}

async function storeOpenError(dataDir: string): Promise<Failure> {
  return openAt(dataDir, { segmentBytes: SEGMENT_BYTES }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e as Failure,
  );
}

/** Flips bits at `at` in place: the same inode a running store has open. */
async function flipInPlace(path: string, at: number, mask: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] as number) ^ mask;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

async function openFdCount(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

t.test('a flipped bit in every byte of a frame in a sealed segment', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await store.append(Array.from({ length: 5 }, (_, j) => ({ event_type: 'hcm.employee.updated', entity_id: `e-${j}`, actor_id: 'u-1', payload: { i, j } })));
    ids.push(...res.map((r) => r.id));
  }
  await store.close();

  const files = await segmentFiles(dataDir);
  t.ok(files.length >= 4, `several segments (${files.length})`);
  const frames = await allFrames(dataDir);
  t.same(frames.map((f) => f.seq), Array.from({ length: 100 }, (_, i) => i + 1), 'the segments hold seqs 1..100 in order');
  // A frame in the middle of the second segment: sealed, neither first nor last in it.
  const second = files[1] as string;
  const secondPath = join(segmentsDir(dataDir), second);
  const inSecond = frames.filter((f) => f.file === second);
  const victim = inSecond[Math.floor(inSecond.length / 2)] as FrameInfo;
  t.ok(victim.seq > Number(second.slice(0, 20)) && victim.seq < (inSecond[inSecond.length - 1] as FrameInfo).seq, `victim seq ${victim.seq} is inside ${second}`);
  const pristine = await readSegment(dataDir, second);
  const flipped = (i: number): Buffer => {
    const damaged = Buffer.from(pristine);
    damaged[victim.offset + i] = (damaged[victim.offset + i] as number) ^ (1 << i % 8);
    return damaged;
  };

  await t.test('recovery scanning the frame refuses to open and names it', async (t) => {
    const index = join(dataDir, 'index');
    await rename(index, `${index}-saved`);
    t.teardown(async () => {
      await writeSegment(dataDir, second, pristine);
      await rm(index, { recursive: true, force: true });
      await rename(`${index}-saved`, index);
    });
    const problems: string[] = [];
    const fdsBefore = await openFdCount();
    for (let i = 0; i < victim.length && problems.length < 10; i++) {
      await writeSegment(dataDir, second, flipped(i));
      const err = await scanError(dataDir);
      const what = `bit ${i % 8} of byte ${i}`;
      if (err?.code !== 'LOG_CORRUPT') problems.push(`${what}: ${err?.code ?? 'opened'}`);
      else if (!err.message.includes(second) || !err.message.includes(`offset ${victim.offset}`) || !new RegExp(`seq ${victim.seq}\\b`).test(err.message)) {
        problems.push(`${what}: the message does not name ${second}, offset ${victim.offset} and seq ${victim.seq}: ${err.message}`);
      }
      if (!(await readSegment(dataDir, second)).equals(flipped(i))) problems.push(`${what}: the segment was changed`);
    }
    t.same(problems, [], `each of the ${victim.length} flips stops the open with LOG_CORRUPT naming ${second}, offset ${victim.offset} and seq ${victim.seq}, and nothing is cut`);
    // A refused open must not leave files open behind it (hundreds of them here otherwise).
    t.ok((await openFdCount()) - fdsBefore < 10, `no file handles leak from refused opens (${(await openFdCount()) - fdsBefore} more open)`);

    // Through the store itself, for a sample: the length word, the checksum, the body.
    for (const i of [0, 3, 5, 8, 9, victim.length >> 1, victim.length - 1]) {
      await writeSegment(dataDir, second, flipped(i));
      await rm(index, { recursive: true, force: true });
      const err = await storeOpenError(dataDir);
      t.equal(err?.code, 'LOG_CORRUPT', `byte ${i}: Store.open refuses`);
      t.match(err?.message, `${second} at offset ${victim.offset}, seq ${victim.seq}:`, `byte ${i}: naming the segment, offset and seq`);
    }
  });

  await t.test('a running store finds the flip on reads and in verify', async (t) => {
    const s = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
    t.teardown(() => s.close());
    const problems: string[] = [];
    for (let i = 0; i < victim.length && problems.length < 10; i++) {
      const mask = 1 << i % 8;
      await flipInPlace(secondPath, victim.offset + i, mask);
      const what = `bit ${i % 8} of byte ${i}`;
      const v = await s.verify();
      if (v.ok || v.first_bad_seq !== victim.seq || v.checked !== victim.seq - 1) problems.push(`${what}: verify ${JSON.stringify(v)}`);
      const before = await s.verify({ to_seq: victim.seq - 1 });
      if (!before.ok) problems.push(`${what}: the range before it fails: ${JSON.stringify(before)}`);
      const after = await s.verify({ from_seq: victim.seq + 1 }).catch((e: Error) => ({ ok: false, threw: e.message }));
      if (after.ok || !('first_bad_seq' in after) || after.first_bad_seq !== victim.seq + 1) problems.push(`${what}: a range starting after it: ${JSON.stringify(after)}`);
      const bySeq = await s.getBySeq(victim.seq).then(() => 'read', (e: { code?: string }) => e.code);
      if (bySeq !== 'LOG_CORRUPT') problems.push(`${what}: getBySeq gave ${bySeq}`);
      const byId = await s.get(ids[victim.seq - 1] as string).then(() => 'read', (e: { code?: string }) => e.code);
      if (byId !== 'LOG_CORRUPT') problems.push(`${what}: get gave ${byId}`);
      await flipInPlace(secondPath, victim.offset + i, mask);
    }
    t.same(problems, [], `each of the ${victim.length} flips: verify fails at seq ${victim.seq} after checking the seqs before it, and reading it fails with LOG_CORRUPT`);
    t.ok((await s.verify({ checkIndex: true })).ok, 'with the bit restored the store verifies again');
  });
});

t.test('a damaged segment header stops recovery', async (t) => {
  const dataDir = join(scratchDir(), 'data');
  const store = await openAt(dataDir, { segmentBytes: SEGMENT_BYTES });
  for (let i = 0; i < 12; i++) {
    await store.append(Array.from({ length: 5 }, (_, j) => ({ event_type: 'hcm.employee.updated', entity_id: `e-${j}`, actor_id: 'u-1', payload: { i, j } })));
  }
  await store.close();
  const files = await segmentFiles(dataDir);
  t.ok(files.length >= 3, `several segments (${files.length})`);
  const second = files[1] as string;
  const pristine = await readSegment(dataDir, second);
  // Magic (0–7), format version (8–11) and first seq (16–23); the rest is reserved.
  const checked = [...Array.from({ length: 12 }, (_, i) => i), ...Array.from({ length: 8 }, (_, i) => 16 + i)];
  const problems: string[] = [];
  for (const i of checked) {
    const damaged = Buffer.from(pristine);
    damaged[i] = (damaged[i] as number) ^ (1 << i % 8);
    await writeSegment(dataDir, second, damaged);
    const err = await scanError(dataDir);
    if (err?.code !== 'LOG_CORRUPT' || !err.message.includes(`${second} at offset 0`)) problems.push(`header byte ${i}: ${err?.message ?? 'opened'}`);
  }
  t.same(problems, [], 'a flip in the magic, version or first seq of a sealed segment stops the open, naming the segment');
});
