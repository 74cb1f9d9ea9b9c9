/**
 * A full disk (DESIGN §2): appends are refused with DISK_FULL (never left hanging), reads
 * keep working, nothing stored is damaged, and appends resume by themselves once space is
 * freed, without a restart.
 *
 * The disk is a real 8 MiB tmpfs mounted for the test (we run as root), holding a 2 MiB
 * filler file that is deleted to give space back. Where mounting is not permitted the test
 * says so and takes space away with a file-size limit on the store's process instead
 * (prlimit: writes fail with EFBIG), lifted while the store stays open.
 *
 * The store runs in a child process (test/fixtures/full-disk-child.ts, compiled by tsc)
 * so that both ways apply to it alone; it reports each phase as a JSON line.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const CHILD = join(ROOT, 'dist', 'test', 'fixtures', 'full-disk-child.js');

type Phase = Record<string, unknown> & { phase: string };

interface Mode {
  name: string;
  /** The command that runs the child (with the limit applied, for the fallback). */
  command: (dataDir: string) => [string, string[]];
  free: (pid: number) => Promise<void>;
  /** Codes a refusal may carry in this mode. */
  refusalCodes: string[];
}

function tryMount(dir: string): string | undefined {
  if (process.env.EVENT_SPINE_TEST_NO_MOUNT === '1') return 'EVENT_SPINE_TEST_NO_MOUNT=1';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return ((err as { stderr?: Buffer }).stderr?.toString() ?? String(err)).trim();
  }
}

function runChild(mode: Mode, dataDir: string, onPhase: (p: Phase, child: ReturnType<typeof spawn>) => void): Promise<{ phases: Phase[]; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const [cmd, args] = mode.command(dataDir);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    const phases: Phase[] = [];
    let out = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const phase = JSON.parse(out.slice(0, nl)) as Phase;
        out = out.slice(nl + 1);
        phases.push(phase);
        onPhase(phase, child);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ phases, code, signal, stderr }));
  });
}

t.test('a full disk', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHILD)) {
    t.fail(`${CHILD} is missing: compile first (npm test runs tsc before tap)`);
    return;
  }
  // A directory of our own: the mount must be gone before it is removed.
  const mnt = await mkdtemp(join(tmpdir(), 'event-spine-full-disk-'));
  const mountProblem = tryMount(mnt);
  t.teardown(async () => {
    if (mountProblem === undefined) execFileSync('umount', ['-l', mnt]);
    await rm(mnt, { recursive: true, force: true });
  });
  let mode: Mode;
  if (mountProblem === undefined) {
    const filler = join(mnt, 'filler');
    await writeFile(filler, Buffer.alloc(2 * 1024 * 1024, 0x5a));
    t.comment('a real 8 MiB tmpfs with a 2 MiB filler file');
    mode = {
      name: 'tmpfs',
      command: (dataDir) => [process.execPath, [CHILD, dataDir]],
      free: () => rm(filler),
      refusalCodes: ['DISK_FULL'],
    };
  } else {
    t.comment(`cannot mount a tmpfs here (${mountProblem}): running the same checks with an injected write failure instead (a 512 KiB file-size limit on the store's process, lifted while it runs)`);
    mode = {
      name: 'file-size limit',
      command: (dataDir) => ['prlimit', [`--fsize=${512 * 1024}:unlimited`, process.execPath, CHILD, dataDir]],
      free: async (pid) => void execFileSync('prlimit', ['--pid', String(pid), '--fsize=unlimited:unlimited']),
      refusalCodes: ['DISK_FULL', 'IO_ERROR'],
    };
  }

  let freeing: Promise<void> | undefined;
  let freeError: unknown;
  const { phases, code, signal, stderr } = await runChild(mode, join(mnt, 'data'), (phase, child) => {
    if (phase.phase === 'reads') {
      freeing = mode
        .free(child.pid as number)
        .catch((err: unknown) => void (freeError = err))
        .then(() => void child.stdin?.write('freed\n'));
    }
  });
  await freeing;
  t.equal(freeError, undefined, 'space was given back');
  t.equal(code, 0, `the child ran to its end ${signal ?? ''} ${stderr.trim().slice(0, 300)}`);
  const byName = new Map(phases.map((p) => [p.phase, p]));

  const full = byName.get('full') as Phase;
  t.ok(full, 'the disk filled up');
  const first = full.firstRefusal as { code: string; message: string } | undefined;
  t.ok(first !== undefined && mode.refusalCodes.includes(first.code), `appends are refused with ${mode.refusalCodes.join(' or ')} (${first?.code}: ${first?.message})`);
  t.equal(full.hangs, 0, 'no append was left hanging: each was acknowledged or refused');
  t.same(Object.keys(full.refusals as object).filter((c) => !mode.refusalCodes.includes(c)), [], `appends at the edge are refused with ${mode.refusalCodes.join(' or ')} only (${JSON.stringify(full.refusals)})`);
  t.equal(full.head, full.acked, `the head is the ${String(full.acked)} acknowledged events`);
  t.ok((full.acked as number) > 1000, 'a good number of events went in first');

  const reads = byName.get('reads') as Phase | undefined;
  t.ok(reads, 'reads were checked while the disk was full');
  if (reads !== undefined) {
    t.same(reads.problems, [], 'get, read, query and verify all work while the disk is full');
    t.equal(reads.readCount, reads.acked, 'a full read returns every acknowledged event');
    t.equal(reads.gets, reads.acked, 'every acknowledged event is found by id with its content');
    t.equal(reads.entityCount, reads.wantEntity, 'an entity query returns all of its events');
    t.match(reads.verify, { ok: true }, 'verify (frames, chain and index) passes: nothing stored is damaged');
    t.same((reads.notices as string[]).filter((n) => n.includes('index write failed')), [], 'the index never ran out of space');
  }

  const resumed = byName.get('resumed') as Phase | undefined;
  t.ok(resumed, 'space was freed');
  if (resumed !== undefined) {
    t.ok(typeof resumed.resumedAfterMs === 'number', `appends resumed by themselves, without a reopen (after ${String(resumed.resumedAfterMs)} ms; refused before: ${JSON.stringify(resumed.codesBefore)})`);
    t.equal(resumed.more, 20, 'and keep working');
    t.same(resumed.problems, [], 'reads work after the disk was full');
    t.equal(resumed.readCount, resumed.acked, 'every acknowledged event, old and new, is there');
    t.equal(resumed.gets, resumed.acked, 'and found by id');
    t.match(resumed.verify, { ok: true }, 'the chain verifies across the full-disk episode');
  }
  const reopened = byName.get('reopened') as Phase | undefined;
  t.ok(reopened !== undefined && (reopened.problems as string[]).length === 0 && reopened.gets === reopened.acked, 'after a reopen everything is still there');
  t.match(reopened?.verify, { ok: true }, 'and verifies');
});
