/**
 * The offline commands as an operator runs them: `export` (JSON Lines, every field, the
 * payload verbatim, re-checkable by scripts/verify_chain.py) and `verify` (exit 0 only if
 * intact; a tampered byte names its seq; a store that cannot be opened names LOG_CORRUPT).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/event';
import { Store } from '../../src/store';
import { BIN, REPO_ROOT, daemonEnv } from '../helpers/daemon';
import { storeDefaults } from '../helpers/store';

const EVENTS = 30;

function cli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: daemonEnv(), encoding: 'utf8', timeout: 30_000, ...(input === undefined ? {} : { input }) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function hasPython(): boolean {
  return spawnSync('python3', ['--version']).status === 0;
}

/** A store of EVENTS events (returned as stored); event k's payload holds the text `marker-000k`. */
async function makeStore(dir: string): Promise<StoredEvent[]> {
  const store = await Store.open({ ...storeDefaults, dataDir: dir });
  try {
    for (let k = 1; k <= EVENTS; k += 10) {
      await store.append(
        Array.from({ length: 10 }, (_, i) => ({
          event_type: 'hcm.employee.updated',
          entity_id: `emp-${k + i}`,
          ...((k + i) % 2 === 0 ? { entity_name: `Zoë ${k + i}` } : {}),
          actor_id: 'hr-sync',
          actor_type: 'system',
          payload: { marker: `marker-${String(k + i).padStart(4, '0')}`, amount: 5250.5, ratio: 1e-7, big: 2 ** 53 - 1, tiny: 5e-324, text: 'line\nbreak "quoted" €', nested: { b: 1, a: [true, null] } },
        })),
      );
    }
    const stored: StoredEvent[] = [];
    for await (const ev of store.read({})) stored.push(ev);
    return stored;
  } finally {
    await store.close();
  }
}

t.test('export and verify', async (t) => {
  const dir = t.testdir();
  const storedEvents = await makeStore(dir);

  await t.test('export: one stored event per line, every field, the payload verbatim', async (t) => {
    const r = cli(['export', '--data-dir', dir]);
    t.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    t.equal(lines.length, EVENTS);
    for (const [i, line] of lines.entries()) {
      const ev = JSON.parse(line) as Record<string, unknown>;
      const stored = storedEvents[i];
      if (stored === undefined) throw new Error(`no seq ${i + 1}`);
      const keys = ['seq', 'id', 'event_type', 'domain', 'entity_type', 'action', 'entity_id', ...(stored.entity_name === undefined ? [] : ['entity_name']), 'actor_id', 'actor_type', 'organization_id', 'environment', 'timestamp', 'severity', 'payload_hash', 'previous_hash', 'event_hash', 'payload'];
      t.same(Object.keys(ev), keys, `seq ${i + 1}: every field of DESIGN §1, in the README's order`);
      t.ok(line.endsWith(`,"payload":${stored.payloadJson}}`), `seq ${i + 1}: the canonical payload text, verbatim`);
      t.equal(ev.event_hash, stored.event_hash);
    }
    if (!hasPython()) {
      t.pass('python3 is not installed: scripts/verify_chain.py not run');
      return;
    }
    const py = spawnSync('python3', [join(REPO_ROOT, 'scripts', 'verify_chain.py')], { input: r.stdout, encoding: 'utf8' });
    t.equal(py.status, 0, `scripts/verify_chain.py accepts the export: ${py.stdout}${py.stderr}`);
  });

  await t.test('verify: an intact store', async (t) => {
    const r = cli(['verify', '--data-dir', dir]);
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, new RegExp(`^ok .*: ${EVENTS} events verified \\(seq 1\\.\\.${EVENTS}\\), head [0-9a-f]{64}\\n$`));
  });

  await t.test('verify: one tampered byte names its seq', async (t) => {
    const segments = join(dir, 'segments');
    const [file] = readdirSync(segments).filter((f) => f.endsWith('.seg'));
    const path = join(segments, file as string);
    const bytes = readFileSync(path);
    const at = bytes.indexOf('marker-0007');
    t.ok(at > 0, 'found event 7 in the segment');
    bytes[at + 10] = '8'.charCodeAt(0); // marker-0007 → marker-0008
    writeFileSync(path, bytes);
    const r = cli(['verify', '--data-dir', dir]);
    t.equal(r.status, 1, 'exit code 1');
    t.match(r.stdout, /^FAILED .*: first bad seq 7: /, r.stdout.trim());

    // With the index gone, the open itself rescans the log and meets the bad frame.
    rmSync(join(dir, 'index'), { recursive: true, force: true });
    const r2 = cli(['verify', '--data-dir', dir]);
    t.equal(r2.status, 1, 'exit code 1');
    t.match(r2.stdout, /^FAILED .*: LOG_CORRUPT: .*/, r2.stdout.trim());
  });
});

t.test('usage', async (t) => {
  const help = cli(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /usage: event-spine <command>/);
  t.match(help.stdout, /verify --data-dir DIR/);
  t.match(help.stdout, /--grpc-port N/);
  const unknown = cli(['sevre']);
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /unknown command "sevre"/);
  const noStore = cli(['verify', '--data-dir', join(t.testdir(), 'nothing-here')]);
  t.equal(noStore.status, 2);
  t.match(noStore.stderr, /^event-spine: verify: there is no store at .*nothing-here/);
  const config = cli(['config', '--grpc-port', '1234']);
  t.equal(config.status, 0);
  t.match(JSON.parse(config.stdout), { config: { grpcPort: 1234 }, sources: { grpcPort: 'flag', httpPort: 'default.json' } });
});
