/**
 * Crash safety (DESIGN §2, §8): a child process appends under concurrent load and reports
 * every acknowledgement; the parent kills it with SIGKILL at a random moment, reopens the
 * store and checks that every acknowledged event is there exactly once with its content,
 * that the chain verifies and that the index agrees with the log. Later children start
 * by re-sending the last counters of the one before (some acknowledged, some perhaps
 * stored unacknowledged) and every third one retries acknowledged batches: nothing may be
 * stored twice and every retry must get its original seq back.
 *
 * The child runs compiled: `npm test` (tsc first) builds dist/test/fixtures/crash-child.js.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { StoredEvent } from '../../src/event/types';
import { Store } from '../../src/store';
import { CRASH_ENTITIES, CRASH_SEGMENT_BYTES, crashCounter, crashEvent, crashId, type AckLine } from '../fixtures/crash-events';
import { prng, scratchDir, storeOptions } from '../helpers/events';

const CYCLES = 22;
const ROOT = resolve(__dirname, '..', '..');
const CHILD = join(ROOT, 'dist', 'test', 'fixtures', 'crash-child.js');

interface ChildRun {
  lines: AckLine[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  killDelayMs: number;
}

/**
 * Runs one child until it has acknowledged an event it newly stored (not only re-sent ones),
 * then kills it 20–150 ms later: every cycle appends, however slow the machine.
 */
function runChild(dataDir: string, firstCounter: number, retryFile: string | undefined, rand: () => number): Promise<ChildRun> {
  return new Promise((resolvePromise, reject) => {
    const args = [CHILD, dataDir, String(firstCounter), ...(retryFile === undefined ? [] : [retryFile])];
    // Without the test runner's --import hooks: the child is plain compiled JavaScript.
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    let stderr = '';
    const killDelayMs = 20 + Math.floor(rand() * 130);
    let killTimer: NodeJS.Timeout | undefined;
    const noAck = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let scanned = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (killTimer !== undefined) return;
      const whole = out.lastIndexOf('\n') + 1;
      const fresh = out.slice(scanned, whole).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AckLine);
      scanned = whole;
      if (fresh.some((line) => line.dedup.some((d) => d === 0))) {
        clearTimeout(noAck);
        killTimer = setTimeout(() => child.kill('SIGKILL'), killDelayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(noAck);
      if (killTimer !== undefined) clearTimeout(killTimer);
      // Only whole lines: a line cut by the kill was never fully reported.
      const whole = out.slice(0, out.lastIndexOf('\n') + 1);
      const lines = whole.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AckLine);
      resolvePromise({ lines, signal, code, stderr, killDelayMs });
    });
  });
}

function sameContent(ev: StoredEvent, k: number): boolean {
  const want = crashEvent(k);
  return (
    ev.id === want.id &&
    ev.event_type === want.event_type &&
    ev.entity_id === want.entity_id &&
    ev.actor_id === want.actor_id &&
    ev.severity === want.severity &&
    ev.payloadJson === JSON.stringify(want.payload)
  );
}

t.test('SIGKILL at random moments under concurrent appends', { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHILD)) {
    t.fail(`${CHILD} is missing: compile first (npm test runs tsc before tap)`);
    return;
  }
  const base = scratchDir();
  const dataDir = join(base, 'data');
  const seed = Date.now() % 1_000_000;
  t.comment(`seed ${seed}`);
  const rand = prng(seed);

  /** counter → seq of every acknowledged event, over all cycles. */
  const acked = new Map<number, number>();
  /** The acknowledged batches that were new when sent: candidates for retries. */
  const ackedBatches: number[][] = [];
  /** counter → seq of every stored event as of the last check. */
  let stored = new Map<number, number>();
  let maxAcked = -1;
  let retriesChecked = 0;
  let dedupAfterCrash = 0;
  const started = Date.now();
  let childMs = 0;
  let checkMs = 0;

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // Re-send the last 40 counters of the previous child, whatever became of them.
    const firstCounter = Math.max(0, maxAcked + 1 - 40);
    let retryFile: string | undefined;
    if (cycle % 3 === 2 && ackedBatches.length > 0) {
      const picks = Array.from({ length: 30 }, () => ackedBatches[Math.floor(rand() * ackedBatches.length)] as number[]);
      retryFile = join(base, `retry-${cycle}.json`);
      await writeFile(retryFile, JSON.stringify(picks));
    }
    const childStarted = Date.now();
    const run = await runChild(dataDir, firstCounter, retryFile, rand);
    childMs += Date.now() - childStarted;
    const checkStarted = Date.now();
    const what = `cycle ${cycle} (killed ${run.killDelayMs} ms after its first new ack)`;
    if (!t.equal(run.signal, 'SIGKILL', `${what}: the child was killed, not ended (${run.stderr.trim().slice(0, 500)})`)) break;
    if (!t.ok(run.lines.some((l) => l.dedup.some((d) => d === 0)), `${what}: the child acknowledged events it newly stored`)) break;

    // What the acknowledgements themselves must say.
    const problems: string[] = [];
    const ackedThisCycle: number[] = [];
    for (const line of run.lines) {
      if (line.retry === 1) retriesChecked += 1;
      for (const [i, k] of line.ks.entries()) {
        const seq = line.seqs[i] as number;
        const dedup = line.dedup[i] === 1;
        const before = acked.get(k) ?? stored.get(k);
        if (before !== undefined && seq !== before) problems.push(`counter ${k}: acknowledged with seq ${seq}, stored before as ${before}`);
        if (stored.has(k) && !dedup) problems.push(`counter ${k}: stored before this cycle but acknowledged as new`);
        if (line.retry === 1 && !dedup) problems.push(`counter ${k}: a retried batch was stored again`);
        if (dedup && !stored.has(k)) {
          // Deduplicated against an event of this very cycle: a re-sent counter.
          if (!acked.has(k) && !ackedThisCycle.includes(k)) problems.push(`counter ${k}: deduplicated but never seen`);
        }
        if (dedup && stored.has(k) && !acked.has(k)) dedupAfterCrash += 1;
        acked.set(k, seq);
        ackedThisCycle.push(k);
        maxAcked = Math.max(maxAcked, k);
      }
      if (line.retry === 0 && line.dedup.every((d) => d === 0)) ackedBatches.push(line.ks);
    }

    // Reopen in this process and check the store against every acknowledgement so far.
    const store = await Store.open(storeOptions(dataDir, { segmentBytes: CRASH_SEGMENT_BYTES }));
    try {
      const all: StoredEvent[] = [];
      for await (const ev of store.read()) all.push(ev);
      const head = store.head();
      if (head.seq !== all.length) problems.push(`head ${head.seq} but a full read gives ${all.length} events`);
      const seen = new Map<number, number>();
      for (const [i, ev] of all.entries()) {
        if (ev.seq !== i + 1) problems.push(`the full read has seq ${ev.seq} at position ${i + 1}`);
        const k = crashCounter(ev.id);
        if (k === undefined) problems.push(`seq ${ev.seq}: an id the child never sent: ${ev.id}`);
        else {
          if (seen.has(k)) problems.push(`counter ${k} is stored twice: seqs ${seen.get(k)} and ${ev.seq}`);
          seen.set(k, ev.seq);
          if (!sameContent(ev, k)) problems.push(`seq ${ev.seq}: content differs from what counter ${k} sent`);
        }
      }
      for (const [k, seq] of acked) if (seen.get(k) !== seq) problems.push(`acknowledged counter ${k} (seq ${seq}) is ${seen.has(k) ? `at seq ${seen.get(k)}` : 'missing'}`);
      for (const [k, seq] of stored) if (seen.get(k) !== seq) problems.push(`counter ${k}, stored at seq ${seq} before, is now ${seen.get(k) ?? 'missing'}`);
      // Through the index: this cycle's acknowledgements by id, and a sample of older ones.
      const sample = [...new Set(ackedThisCycle)].concat([...acked.keys()].filter(() => rand() < 0.02));
      const got = await Promise.all(sample.map((k) => store.get(crashId(k))));
      for (const [i, k] of sample.entries()) if (got[i]?.seq !== acked.get(k)) problems.push(`get(${crashId(k)}) gives seq ${got[i]?.seq}, acknowledged ${acked.get(k)}`);
      // The index agrees with the log for a sample of entities.
      for (let j = 0; j < 4; j++) {
        const entity = `ent-${Math.floor(rand() * CRASH_ENTITIES)}`;
        for (const entityType of ['employee', 'department']) {
          const want = all.filter((e) => e.entity_type === entityType && e.entity_id === entity).map((e) => e.seq);
          const page = await store.query({ entity_type: entityType, entity_id: entity }, { limit: 10_000 });
          if (JSON.stringify(page.items.map((e) => e.seq)) !== JSON.stringify(want)) problems.push(`query ${entityType}/${entity}: ${page.items.length} events, the log has ${want.length}`);
        }
      }
      const v = await store.verify({ checkIndex: true });
      if (!v.ok || v.checked !== all.length) problems.push(`verify: ${JSON.stringify(v)}`);
      stored = seen;
      t.same(problems.slice(0, 10), [], `${what}: ${run.lines.length} acks; ${all.length} events stored, every acknowledged one once with its content, chain and index intact`);
    } finally {
      await store.close();
    }
    checkMs += Date.now() - checkStarted;
    if (problems.length > 0) break;
  }
  t.ok(retriesChecked > 0, `retried batches were acknowledged with their original seqs (${retriesChecked})`);
  t.comment(`${acked.size} events acknowledged over ${CYCLES} cycles in ${Date.now() - started} ms: ${childMs} ms in the children, ${checkMs} ms reopening and checking`);
  t.comment(`${dedupAfterCrash} events stored but unacknowledged when their child died were re-sent and deduplicated`);
});
