/**
 * An unauthenticated daemon only on loopback (DESIGN §7): the real daemon refuses to start
 * on 0.0.0.0 or :: in auth.mode "none" (exit 2, naming auth.mode, before anything listens),
 * starts there with the explicit override (and says so at every start), and starts there
 * with keys. isLoopback and listenerPolicy on their own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isLoopback, listenerPolicy } from '../../src/auth';
import { certTool, makeCa, makeLeaf } from '../helpers/certs';
import { BIN, REPO_ROOT, daemonEnv, startDaemon } from '../helpers/daemon';
import { writeKeys } from '../helpers/keys';

t.test('isLoopback', async (t) => {
  for (const host of ['127.0.0.1', '127.0.0.53', '127.255.255.254', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.10', '172.17.0.2', '128.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '2001:db8::1', 'example.com', '127.0.0.1.example.com', 'localhost.example.com', '']) {
    t.notOk(isLoopback(host), host);
  }
});

t.test('listenerPolicy', async (t) => {
  const none = (host: string, allow = false) => ({ host, auth: { mode: 'none' as const, allowUnauthenticatedNetwork: allow } });
  t.equal(listenerPolicy(none('127.0.0.1')), undefined, 'loopback without keys: fine, nothing to warn about');
  t.throws(() => listenerPolicy(none('0.0.0.0')), { code: 'CONFIG_INVALID', field: 'auth.mode' });
  t.throws(() => listenerPolicy(none('::')), { code: 'CONFIG_INVALID', field: 'auth.mode' });
  t.throws(() => listenerPolicy(none('10.1.2.3')), { code: 'CONFIG_INVALID', field: 'auth.mode' });
  t.match(listenerPolicy(none('0.0.0.0', true)), /UNAUTHENTICATED daemon listening on 0\.0\.0\.0/, 'the override: a warning to log');
  t.equal(listenerPolicy({ host: '0.0.0.0', auth: { mode: 'keys', allowUnauthenticatedNetwork: false } }), undefined, 'keys: any address');
});

/** `event-spine serve` run to its exit (a refused start exits by itself). */
function serveToExit(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'event-spine-test-'));
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0', ...args], { cwd: REPO_ROOT, env: daemonEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (status) => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve({ status, stdout, stderr });
    });
  });
}

t.test('auth.mode none beyond loopback: the daemon refuses to start', async (t) => {
  for (const [what, args, env] of [
    ['--host 0.0.0.0', ['--host', '0.0.0.0'], {}],
    ['--host ::', ['--host', '::'], {}],
    ['EVENT_SPINE_HOST=0.0.0.0', [], { EVENT_SPINE_HOST: '0.0.0.0' }],
  ] as const) {
    const r = await serveToExit([...args], env);
    t.equal(r.status, 2, `${what}: exit 2 (a configuration error)`);
    t.match(r.stderr, /auth\.mode/, `${what}: the message names auth.mode`);
    t.match(r.stderr, /auth\.allowUnauthenticatedNetwork/, 'and the override');
    t.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, 'in one line');
    t.notMatch(r.stdout, /"msg":"ready"/, 'nothing was served');
  }
});

t.test('auth.allowUnauthenticatedNetwork true: starts on 0.0.0.0 and warns', async (t) => {
  const d = await startDaemon(t, { args: ['--host', '0.0.0.0'], env: { EVENT_SPINE_AUTH_ALLOW_UNAUTHENTICATED_NETWORK: 'true' } });
  t.match(d.ready.grpc, /^0\.0\.0\.0:\d+$/);
  t.match(d.ready.http, /^0\.0\.0\.0:\d+$/);
  const warning = d.logs.find((l) => l.level === 'warn' && /UNAUTHENTICATED daemon listening on 0\.0\.0\.0/.test(String(l.msg)));
  t.ok(warning, 'the warning is logged');
  t.ok(d.logs.indexOf(warning as Record<string, unknown>) < d.logs.indexOf(d.ready), 'before the daemon is ready');
  const port = String(d.ready.http).split(':').at(-1) as string;
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'it serves');
  t.equal(await d.stop(), 0);
});

t.test('auth.mode keys with a keys file: starts on 0.0.0.0; without TLS it warns that keys travel in plain text', async (t) => {
  const dir = t.testdir();
  const keys = writeKeys(t, { ops: { scopes: ['admin'] } }, dir);
  const plain = await startDaemon(t, { args: ['--host', '0.0.0.0', ...keys.args] });
  t.match(plain.ready.grpc, /^0\.0\.0\.0:\d+$/);
  t.match(plain.logs.find((l) => l.msg === 'authentication'), { mode: 'keys', keys: 1 });
  t.same(
    plain.logs.filter((l) => l.level === 'warn').map((l) => l.msg),
    [plain.logs.find((l) => /^API keys cross the network in plain text/.test(String(l.msg)))?.msg],
    'one warning: keys in plain text (none about an unauthenticated daemon)',
  );
  t.equal(await plain.stop(), 0);

  const tool = certTool();
  const ca = makeCa(dir, 'ca', tool);
  const server = makeLeaf(dir, ca, 'server', 'server', tool);
  const tls = await startDaemon(t, { args: ['--host', '0.0.0.0', ...keys.args, '--tls-cert', server.certFile, '--tls-key', server.keyFile] });
  t.equal(tls.ready.tls, true);
  t.same(tls.logs.filter((l) => l.level === 'warn'), [], `with TLS (certificates made with ${tool}): no warning`);
  t.equal(await tls.stop(), 0);
});

t.test('auth.mode keys without a keys file is refused', async (t) => {
  const r = await serveToExit(['--auth-mode', 'keys']);
  t.equal(r.status, 2);
  t.match(r.stderr, /auth\.keysFile/);
  const missing = await serveToExit(['--auth-mode', 'keys', '--keys-file', join(t.testdir(), 'nope.json')]);
  t.equal(missing.status, 2, 'a keys file that cannot be read');
  t.match(missing.stderr, /keys file .*nope\.json cannot be read/);
});
