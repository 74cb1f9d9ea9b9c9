/**
 * The long commands' progress as an operator sees it without a terminal (plain lines on
 * standard error), offline and against a live daemon (`--http`), where the job runs as an
 * operation; and the progress bar as a terminal gets it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ProgressReporter } from '../../src/ops';
import { Store } from '../../src/store';
import { BIN, REPO_ROOT, daemonEnv, startDaemon } from '../helpers/daemon';
import { sampleEvent, storeDefaults } from '../helpers/store';

const EVENTS = 3000;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: daemonEnv(), encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking the event loop (the daemon of the test answers meanwhile). */
function cliAsync(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: daemonEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

t.test('progress of verify, export and reindex', async (t) => {
  const dir = t.testdir();
  const store = await Store.open({ ...storeDefaults, dataDir: dir });
  await store.append(Array.from({ length: EVENTS }, () => sampleEvent()));
  await store.close();

  await t.test('verify: a line at each tenth, then the result', async (t) => {
    const r = cli(['verify', '--data-dir', dir]);
    t.equal(r.status, 0, r.stderr);
    t.same(lines(r.stderr), ['verify: 0/3000 events (0%)', 'verify: 1000/3000 events (33%)', 'verify: 2000/3000 events (66%)', 'verify: 3000/3000 events (100%)']);
    t.match(r.stdout, /^ok .*: 3000 events verified \(seq 1\.\.3000\), head [0-9a-f]{64}\n$/);
  });

  let offlineExport = '';
  await t.test('export: progress on standard error, the events on standard output', async (t) => {
    const r = cli(['export', '--data-dir', dir]);
    t.equal(r.status, 0, r.stderr);
    offlineExport = r.stdout;
    t.equal(lines(r.stdout).length, EVENTS);
    const progress = lines(r.stderr);
    t.equal(progress[0], 'export: 0/3000 events (0%)');
    t.equal(progress.at(-1), 'export: 3000/3000 events (100%)');
    t.ok(progress.length >= 3, `${progress.length} lines`);
    t.ok(progress.every((l) => /^export: \d+\/3000 events \(\d+%\)$/.test(l)));
  });

  await t.test('reindex: the index is dropped and rebuilt, with the bytes of log scanned', async (t) => {
    const r = cli(['reindex', '--data-dir', dir]);
    t.equal(r.status, 0, r.stderr);
    const progress = lines(r.stderr);
    t.ok(progress.length >= 1);
    t.ok(progress.every((l) => /^reindex: [\d.]+ (B|KiB|MiB)\/[\d.]+ (B|KiB|MiB) \(\d+%\)$/.test(l)), progress.join(' | '));
    t.match(progress.at(-1), /\(100%\)$/);
    t.match(r.stdout, /^ok .*: index rebuilt from 3000 events \([\d.]+ (KiB|MiB) of log\) in \d+ ms\n$/);
    t.ok(existsSync(join(dir, 'index')));
    t.equal(cli(['verify', '--data-dir', dir]).status, 0, 'the rebuilt index verifies');
  });

  await t.test('against a live daemon: the job runs as an operation there', async (t) => {
    const daemon = await startDaemon(t, { dataDir: dir });
    const v = await cliAsync(['verify', '--http', daemon.httpAddress]);
    t.equal(v.status, 0, v.stderr);
    const vErr = lines(v.stderr);
    const started = /^verify: operation ([0-9a-f-]{36}) started in the daemon at http:\/\/127\.0\.0\.1:\d+$/.exec(vErr[0] ?? '');
    t.ok(started, vErr[0] ?? 'no line');
    t.equal(vErr[1], 'verify: 0/3000 events (0%)', 'progress lines from the progress steps');
    t.equal(vErr.at(-1), 'verify: 3000/3000 events (100%)');
    t.ok(vErr.slice(1).every((l) => /^verify: \d+\/3000 events \(\d+%\)$/.test(l)));
    t.match(v.stdout, new RegExp(`^ok http://127\\.0\\.0\\.1:\\d+: 3000 events verified \\(seq 1\\.\\.3000\\) by operation ${started?.[1] ?? ''}\\n$`));
    const op = (await (await fetch(`http://${daemon.httpAddress}/api/operations/${started?.[1] ?? ''}`)).json()) as Record<string, unknown>;
    t.match(op, { kind: 'verify', status: 'succeeded', actor_id: /^cli/, summary: { ok: true, checked: 3000 } });

    const e = await cliAsync(['export', '--http', daemon.httpAddress]);
    t.equal(e.status, 0, e.stderr);
    t.match(e.stderr, /^export: operation [0-9a-f-]{36} started in the daemon/);
    t.match(e.stderr, /export: \d+\/\d+ events \(100%\)\nexport: \d+ events, sha256 [0-9a-f]{64} \(recorded by operation/);
    const remote = lines(e.stdout);
    t.equal(remote.length, op.last_seq, 'the events up to the head when it started: the 3000 and the verify operation\'s steps');
    t.ok(e.stdout.startsWith(offlineExport), 'byte for byte the offline export, then the later events');

    const reindex = await cliAsync(['reindex', '--http', daemon.httpAddress]);
    t.equal(reindex.status, 2);
    t.match(reindex.stderr, /reindex runs offline only/);
    const busy = await cliAsync(['reindex', '--data-dir', dir]);
    t.equal(busy.status, 1, 'the store is in use');
    t.match(busy.stderr, /stop the daemon first/);
    t.equal((await fetch(`http://${daemon.httpAddress}/api/head`)).status, 200, 'the daemon goes on, its index untouched');
    const gone = await cliAsync(['verify', '--http', '127.0.0.1:1']);
    t.equal(gone.status, 1);
    t.match(gone.stderr, /cannot reach the daemon at http:\/\/127\.0\.0\.1:1/);
  });
});

t.test('on a terminal: one bar redrawn in place', async (t) => {
  let text = '';
  const out = { isTTY: true, write: (s: string) => (text += s) };
  const p = new ProgressReporter('verify', 'events', out);
  p.update(0, 200);
  p.update(200, 200);
  p.finish('done');
  t.match(text, /^\r\x1b\[2Kverify \[·{24}\]   0%  0\/200 events\r\x1b\[2Kverify \[#{24}\] 100%  200\/200 events\ndone\n$/);
  let plain = '';
  const q = new ProgressReporter('reindex', 'bytes', { write: (s: string) => (plain += s) });
  for (const n of [0, 10, 500, 1024 * 1024, 3 * 1024 * 1024]) q.update(n, 3 * 1024 * 1024);
  t.equal(plain, 'reindex: 0 B/3.0 MiB (0%)\nreindex: 1.0 MiB/3.0 MiB (33%)\nreindex: 3.0 MiB/3.0 MiB (100%)\n');
});
