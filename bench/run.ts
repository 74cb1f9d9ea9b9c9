/**
 * `npm run bench`: event-spine side by side with Redis Streams, PostgreSQL 15 and NATS
 * JetStream, in one run on one machine, over one corpus of ~400-byte spine events
 * (bench/README.md explains every workload and every peer's real durability).
 *
 *   npm run bench -- [--quick] [--only W1,W3] [--skip-peers] [--peers redis,postgres]
 *                    [--huge] [--profile] [--no-readme]
 *
 * --quick       small sizes, a smoke run of a minute or two (results named …-quick)
 * --only        a subset of W1,W2,W3,W4,W5
 * --skip-peers  event-spine alone;  --peers  a subset of redis,postgres,jetstream
 * --huge        adds the 10M-event store to W3/W4/W5
 * --profile     runs every event-spine daemon under `node --cpu-prof` and prints where its time went
 * --no-readme   leaves bench/README.md as it is (a full run, every workload and peer,
 *               updates its results section; --readme makes any run do so)
 * --from FILE   runs nothing: re-reports a results JSON (tables, ratios, targets, chart, README)
 *
 * Peers are installed by bench/peers/install.sh (apt-get); one that is missing is reported
 * as skipped. Every server runs on 127.0.0.1, in a temporary directory, and is stopped by
 * process id at the end, also on failure or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths';
import { corpusEventBytes } from './corpus';
import { cleanupNow } from './lib/children';
import { failures } from './lib/measure';
import { SpineSystem } from './lib/spine-system';
import { summarise, summaryText, type ProfileSummary } from './lib/profile';
import { resultsMarkdown, conditionsMarkdown } from './lib/report';
import { bestW1, computeRatios, computeTargets, type Results, type SystemStatus } from './lib/results';
import { chartSvg } from './lib/svg';
import { JetStreamSystem } from './peers/jetstream';
import { PostgresSystem } from './peers/postgres';
import { RedisSystem } from './peers/redis';
import type { System, SystemName } from './peers/system';
import { runFanout } from './workloads/fanout';
import { runStores } from './workloads/stores';
import { runW1, runW2 } from './workloads/w1-w2';
import { HOST_PROBE, hostProbe } from './lib/host-probe';

const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5'] as const;
/** W1 and W2: unmeasured events sent first, as a share of the measured count (w1-w2.ts). */
const WARMUP_SHARE = 0.1;
/** W1 and W2: and for at least this long, as W3's untimed queries (with --quick, a sixth of it). */
const WARMUP_MS = 3_000;
type Workload = (typeof WORKLOADS)[number];

interface Flags {
  quick: boolean;
  only: Set<Workload>;
  skipPeers: boolean;
  peers: Set<string>;
  huge: boolean;
  profile: boolean;
  readme: boolean;
  from: string | undefined;
}

function parseFlags(argv: string[]): Flags {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = new Set(['--quick', '--only', '--skip-peers', '--peers', '--huge', '--profile', '--no-readme', '--readme', '--from']);
  for (const [i, a] of argv.entries()) {
    if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown flag ${a}; flags: ${[...known].join(' ')}`);
    if (!a.startsWith('--') && !['--only', '--peers', '--from'].includes(argv[i - 1] ?? '')) throw new Error(`unexpected argument ${a}`);
  }
  const only = (value('--only') ?? WORKLOADS.join(',')).split(',').map((s) => s.trim().toUpperCase());
  for (const w of only) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--only: unknown workload ${w} (W1…W5)`);
  const peers = (value('--peers') ?? 'redis,postgres,jetstream').split(',').map((s) => s.trim());
  for (const p of peers) if (!['redis', 'postgres', 'jetstream'].includes(p)) throw new Error(`--peers: unknown peer ${p} (redis, postgres, jetstream)`);
  const quick = argv.includes('--quick');
  return {
    quick,
    only: new Set(only as Workload[]),
    skipPeers: argv.includes('--skip-peers'),
    peers: new Set(peers),
    huge: argv.includes('--huge'),
    profile: argv.includes('--profile'),
    // Only a full run (every workload, every peer) replaces the README's results.
    readme: argv.includes('--readme') || (!quick && only.length === WORKLOADS.length && !argv.includes('--skip-peers') && !argv.includes('--peers') && !argv.includes('--no-readme')),
    from: value('--from'),
  };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function conditions(flags: Flags, sizes: number[], systems: SystemStatus[]): Record<string, unknown> {
  const cpu = cpus();
  const commit = sh('git', ['-C', packageRoot(), 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', packageRoot(), 'status', '--porcelain']) !== '';
  return {
    date: new Date().toISOString(),
    machine: `${cpu[0]?.model ?? 'unknown CPU'} × ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${process.platform} ${sh('uname', ['-r'])}`,
    filesystem: sh('sh', ['-c', `df -T ${tmpdir()} | tail -1 | awk '{print $2" on "$1}'`]),
    node: process.version,
    git: `${commit}${dirty ? ' (uncommitted changes)' : ''}`,
    load_average_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    shared_machine: 'the 2 cores are shared by the bench process (clients), the server under test, and other work on the host: see the load average',
    event_bytes: corpusEventBytes(),
    corpus: 'bench/corpus.ts: ~400-byte spine events (JSON), 4 event types, payload of 7 fields',
    durability: Object.fromEntries(systems.filter((s) => s.status === 'ran').map((s) => [s.name, s.durability])),
    w1_w2_warmup: `at least ${WARMUP_SHARE * 100}% of each measured count and for at least ${WARMUP_MS / 1000} s (${WARMUP_MS / 6000} s with --quick), sent first on the same connections and not measured (every system alike)`,
    w3_warmup: `untimed queries for ${WARMUP_MS / 1000} s (${WARMUP_MS / 6000} s with --quick) before the timed ones, every system alike`,
    w3_sizes: sizes,
    flags: { quick: flags.quick, only: [...flags.only], skip_peers: flags.skipPeers, huge: flags.huge, profile: flags.profile },
  };
}

function updateReadme(r: Results, jsonName: string): void {
  const file = join(packageRoot(), 'bench', 'README.md');
  const begin = '<!-- results:begin -->';
  const end = '<!-- results:end -->';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return;
  }
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  const body = [
    `Latest run: \`bench/results/${jsonName}\` (chart: \`bench/results/${jsonName.replace(/\.json$/, '.svg')}\`).`,
    '',
    `![throughput](results/${jsonName.replace(/\.json$/, '.svg')})`,
    '',
    '#### Conditions',
    '',
    conditionsMarkdown(r),
    '',
    resultsMarkdown(r),
  ].join('\n');
  writeFileSync(file, `${text.slice(0, a + begin.length)}\n${body}\n${text.slice(b)}`);
}

/** --from FILE: the report of an earlier run, recomputed (ratios, targets, chart, README). */
function rereport(file: string, flags: Flags): void {
  const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  results.errors ??= [];
  results.ratios = computeRatios(results);
  results.targets = computeTargets(results);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  if (results.w1 !== undefined || results.w2 !== undefined) writeFileSync(file.replace(/\.json$/, '.svg'), chartSvg(results));
  const name = file.split('/').pop() as string;
  if (flags.readme && !results.quick) updateReadme(results, name);
  process.stdout.write(`\n## Conditions\n\n${conditionsMarkdown(results)}\n\n${resultsMarkdown(results)}\n`);
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.from !== undefined) return rereport(flags.from, flags);
  const started = Date.now();
  let phase = 'start';
  const log = (msg: string): void => {
    if (/^W\d/.test(msg)) phase = msg;
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
  };

  const profileDir = flags.profile ? mkdtempSync(join(tmpdir(), 'es-bench-prof-')) : undefined;
  const daemonPhase = new Map<number, string>();
  const spine = new SpineSystem(profileDir === undefined ? {} : { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir], onStart: (pid) => daemonPhase.set(pid, phase) });
  const candidates: System[] = flags.skipPeers ? [] : [new RedisSystem(), new PostgresSystem(), new JetStreamSystem()].filter((p) => flags.peers.has(p.name));
  const statuses: SystemStatus[] = [{ status: 'ran', ...spine.info() }];
  const systems: System[] = [spine];
  if (candidates.some((p) => p.unavailable() !== undefined)) {
    log('installing the missing peers: bench/peers/install.sh');
    try {
      process.stderr.write(execFileSync(join(packageRoot(), 'bench', 'peers', 'install.sh'), { encoding: 'utf8', timeout: 900_000 }));
    } catch (err) {
      log(`install.sh failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const peer of candidates) {
    const why = peer.unavailable();
    if (why === undefined) {
      systems.push(peer);
      statuses.push({ ...(peer as unknown as { info(): SystemStatus }).info(), status: 'ran' });
    } else {
      statuses.push({ name: peer.name, status: 'skipped', reason: why });
      log(`${peer.name}: skipped (${why})`);
    }
  }

  const q = flags.quick;
  const sizes = q ? [10_000, 50_000] : flags.huge ? [100_000, 1_000_000, 10_000_000] : [100_000, 1_000_000];
  const results: Results = { schema: 1, run: '', quick: q, conditions: conditions(flags, sizes, statuses), systems: statuses, ratios: [], targets: [], errors: failures };
  results.conditions.host_probe_us_at_start = hostProbe();
  log(`event-spine bench${q ? ' (quick)' : ''}: ${systems.map((s) => s.name).join(', ')}; workloads ${[...flags.only].join(',')}`);

  const warmupMs = q ? WARMUP_MS / 6 : WARMUP_MS;
  if (flags.only.has('W1')) {
    const total = q ? 20_000 : 200_000;
    results.w1 = await runW1(systems, { total, warmup: WARMUP_SHARE * total, warmupMs, producers: 4, batch: 100, deadlineMs: q ? 30_000 : 120_000 }, log);
  }
  if (flags.only.has('W2')) {
    results.w2 = await runW2(
      systems,
      {
        producerCounts: q ? [4, 64] : [4, 16, 64],
        totalFor: (p) => (q ? (p >= 16 ? 10_000 : 2_000) : p >= 64 ? 100_000 : p >= 16 ? 50_000 : 20_000),
        warmupShare: WARMUP_SHARE,
        warmupMs,
        deadlineMs: q ? 15_000 : 60_000,
      },
      log,
    );
  }
  if (flags.only.has('W3') || flags.only.has('W4') || flags.only.has('W5')) {
    const s = await runStores(
      systems,
      { sizes, entityQueries: q ? 100 : 500, rangeQueries: q ? 50 : 200, warmupMs, w3: flags.only.has('W3'), w4: flags.only.has('W4'), w5: flags.only.has('W5'), w5Repeats: q ? [2, 1] : [3, 3] },
      log,
    );
    if (flags.only.has('W3')) results.w3 = s.w3;
    if (flags.only.has('W5')) results.w5 = s.w5;
    if (flags.only.has('W4')) results.w4 = { catchup: s.catchup, fanout: [] };
  }
  if (flags.only.has('W4')) {
    // The append path of the fan-out: each system's fastest W1 way when W1 ran, else its default.
    const variantFor = (name: SystemName): string | undefined => (results.w1 === undefined ? undefined : bestW1(results.w1, name)?.variant);
    const fanout = await runFanout(systems, { subscriberCounts: [0, 10, 100], warmupMs: q ? 1_000 : 3_000, appendMs: q ? 3_000 : 5_000, drainMs: q ? 15_000 : 45_000, variantFor }, log);
    results.w4 = { catchup: results.w4?.catchup ?? [], fanout };
  }

  results.conditions.load_average_at_end = loadavg().map((x) => Math.round(x * 100) / 100);
  results.conditions.host_probe_us_at_end = hostProbe();
  results.conditions.host_probe = HOST_PROBE;
  results.conditions.duration_s = Math.round((Date.now() - started) / 1000);
  results.ratios = computeRatios(results);
  results.targets = computeTargets(results);

  const profiles: ProfileSummary[] = [];
  if (profileDir !== undefined) {
    // The daemons have exited (graceful stops write their profiles; SIGKILLed ones write none).
    for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
      const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(f)?.[1]);
      profiles.push({ ...summarise(join(profileDir, f), 25), file: `${f} — daemon pid ${pid} — ${daemonPhase.get(pid) ?? 'unknown phase'}` });
    }
  }

  const stamp = new Date(started).toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const name = `${stamp}${q ? '-quick' : ''}${flags.only.size < WORKLOADS.length ? `-${[...flags.only].join('')}` : ''}.json`;
  results.run = name.replace(/\.json$/, '');
  const dir = join(packageRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), JSON.stringify(results, null, 2) + '\n');
  // The chart shows W1 and W2; a run without them has nothing to draw.
  const charted = results.w1 !== undefined || results.w2 !== undefined;
  if (charted) writeFileSync(join(dir, name.replace(/\.json$/, '.svg')), chartSvg(results));
  if (flags.readme) updateReadme(results, name);

  process.stdout.write(`\n## Conditions\n\n${conditionsMarkdown(results)}\n\n${resultsMarkdown(results)}\n\n`);
  for (const p of profiles) process.stdout.write(`${summaryText(p)}\n\n`);
  // The raw profiles are kept (Chrome DevTools opens them); they are not results to commit.
  if (profileDir !== undefined) process.stdout.write(`CPU profiles of the daemons (main thread and index worker): ${profileDir}\n`);
  process.stdout.write(`results: bench/results/${name}${charted ? ` and ${name.replace(/\.json$/, '.svg')}` : ''}${flags.readme ? '; bench/README.md updated' : ''}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanupNow();
    // Lingering client sockets must not keep a finished run alive.
    setTimeout(() => process.exit(), 2_000).unref();
  });
