/**
 * One event-spine workload of the bench against a daemon running under `node --cpu-prof`,
 * then where the daemon's time went (main thread and index worker), by area and function.
 * For a missed target: find what to fix in the engine or the servers.
 *
 *   node dist/bench/profile-spine.js SCENARIO [--size 100000] [--seconds 20] [--subscribers 100]
 *
 * SCENARIO: w1 (AppendStream, 4 producers × 100-event requests), w2 (emit(), 64 producers),
 * w3-entity, w3-range (queries on a filled store), catchup (Subscribe from seq 1),
 * fanout (w1 with live subscribers). Run the bench itself under `node --cpu-prof` to see the
 * client's side too. The raw profiles stay in the printed directory.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cleanupNow, spawnTracked, stopChild } from './lib/children';
import { W3_ENTITY_TYPE, w1Event, w3Entity } from './lib/events';
import { closedLoop, rng } from './lib/measure';
import { summarise, summaryText } from './lib/profile';
import { SpineSystem, type RunningSpine } from './lib/spine-system';
import type { BatchAppender } from './peers/system';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function appendFor(running: RunningSpine, ms: number): Promise<string> {
  const appenders: BatchAppender[] = [];
  for (let p = 0; p < 4; p++) appenders.push(await running.batchAppender('AppendStream'));
  const r = await closedLoop({ producers: 4, total: 1e9, batch: 100, deadlineMs: ms, send: (p, first, n) => (appenders[p] as BatchAppender).send(Array.from({ length: n }, (_, k) => w1Event(first + k))) });
  for (const a of appenders) await a.close();
  return `${r.events_per_s} events/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms`;
}

async function main(): Promise<void> {
  const scenario = process.argv[2] ?? '';
  const size = arg('--size', 100_000);
  const ms = arg('--seconds', 20) * 1000;
  const dir = mkdtempSync(join(tmpdir(), 'es-bench-prof-'));
  const spine = new SpineSystem({ nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir] });
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  let running: RunningSpine;
  let outcome = '';
  if (scenario.startsWith('w3') || scenario === 'catchup') {
    const filled = await spine.startFilled(size, () => undefined);
    running = filled.running;
    log(`filled ${size} events in ${filled.fill_s} s`);
    if (scenario === 'catchup') {
      const t0 = performance.now();
      const n = await running.catchUp(size);
      outcome = `${Math.round(n / ((performance.now() - t0) / 1000))} events/s caught up`;
    } else {
      const r = rng(1);
      const times: number[] = [];
      const stopAt = performance.now() + ms;
      while (performance.now() < stopAt) {
        const t0 = performance.now();
        if (scenario === 'w3-entity') await (running.entityHistory as NonNullable<RunningSpine['entityHistory']>)({ entityType: W3_ENTITY_TYPE, entityId: w3Entity(Math.floor(r() * size), size), sinceMs: 0, untilMs: 0, limit: 100 });
        else {
          const since = filled.first_ms + r() * 0.9 * (filled.last_ms - filled.first_ms);
          await (running.timeRange as NonNullable<RunningSpine['timeRange']>)({ entityType: '', entityId: '', sinceMs: since, untilMs: since + 3_600_000, limit: 100 });
        }
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      outcome = `${times.length} queries, p50 ${times[Math.floor(times.length / 2)]?.toFixed(2)} ms, p99 ${times[Math.floor(times.length * 0.99)]?.toFixed(2)} ms`;
    }
  } else {
    running = await spine.start();
    if (scenario === 'w1') outcome = await appendFor(running, ms);
    else if (scenario === 'w2') {
      const emitter = await running.singleEmitter();
      const r = await closedLoop({ producers: 64, total: 1e9, batch: 1, deadlineMs: ms, send: (_, first) => emitter.emit(w1Event(first)) });
      await emitter.close();
      outcome = `${r.events_per_s} events/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms`;
    } else if (scenario === 'fanout') {
      const count = arg('--subscribers', 100);
      const child: ChildProcess = spawnTracked(process.execPath, [join(__dirname, 'lib', 'subscribers.js'), JSON.stringify({ system: 'event-spine', target: running.fanoutTarget, count })], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
      await lines.next();
      outcome = `${count} subscribers: ${await appendFor(running, ms)}`;
      child.stdin?.write(JSON.stringify({ expected: 0, deadlineMs: 0 }) + '\n');
      await stopChild(child, 'SIGTERM', 5_000);
    } else {
      throw new Error('scenario: w1 | w2 | w3-entity | w3-range | catchup | fanout');
    }
  }
  await running.stop();
  process.stdout.write(`${scenario}: ${outcome}\n\n`);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) process.stdout.write(`${summaryText(summarise(join(dir, f), 25))}\n\n`);
  process.stdout.write(`profiles: ${dir}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanupNow();
    setTimeout(() => process.exit(), 1_000).unref();
  });
