/**
 * The Dockerfile, without a Docker engine: its runtime stage is parsed and checked (non-root
 * user, volume, ports, healthcheck, exec-form CMD), then the runtime stage's file layout is
 * assembled from its COPY lines in a temporary directory and the image's CMD is run there,
 * with the data directory replaced by a temporary one and ports 0: it must print its ready
 * line, answer the HEALTHCHECK command, and exit 0 on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { certTool, makeCa, makeLeaf } from '../helpers/certs';
import { writeKeys } from '../helpers/keys';

const ROOT = resolve(__dirname, '..', '..');

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Dockerfile → stages of instructions (comments dropped, `\` continuations joined). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continuation
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (m === null) continue;
    const keyword = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (keyword === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ image: f?.[1] ?? args, name: f?.[2], instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword, args });
    }
  }
  return stages;
}

function jsonArray(args: string): string[] | undefined {
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

function all(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1) as Stage;

t.test('multi-stage: a build stage compiles, the runtime stage has production dependencies only', { timeout: 60_000 }, async (t) => {
  t.ok(stages.length >= 2, 'more than one stage');
  const build = stages.find((s) => s.instructions.some((i) => i.keyword === 'RUN' && /\btsc\b/.test(i.args)));
  t.ok(build, 'a stage runs tsc');
  t.ok(build?.instructions.some((i) => i.keyword === 'RUN' && /npm ci(?!.*--omit=dev)/.test(i.args)), 'after npm ci with dev dependencies');
  const prodInstall = stages.flatMap((s) => s.instructions).find((i) => i.keyword === 'RUN' && /npm ci/.test(i.args) && /--omit=dev/.test(i.args));
  t.match(prodInstall?.args, /--ignore-scripts/, 'production dependencies installed without install scripts (prebuilt native modules)');
  t.equal(runtime.image, 'node:20-slim');
  t.notOk(runtime.instructions.some((i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b(?!.*--omit=dev)/.test(i.args)), 'no dev install in the runtime stage');
  t.notOk(runtime.instructions.some((i) => i.keyword === 'COPY' && /\bsrc\b(?!\/)/.test(i.args) && !/dist\/src/.test(i.args)), 'no TypeScript sources in the runtime stage');
});

t.test('runtime stage: non-root user, /data volume, both ports, a node healthcheck, exec-form CMD', { timeout: 60_000 }, async (t) => {
  const user = all(runtime, 'USER').at(-1);
  t.ok(user, 'USER is set');
  const name = (user ?? 'root').split(':')[0];
  t.not(name, 'root');
  t.not(name, '0');
  const volumes = all(runtime, 'VOLUME').flatMap((v) => jsonArray(v) ?? v.split(/\s+/));
  t.ok(volumes.includes('/data'), 'VOLUME /data');
  const ports = all(runtime, 'EXPOSE').flatMap((v) => v.split(/\s+/)).map((p) => p.replace(/\/tcp$/, ''));
  t.ok(ports.includes('50051') && ports.includes('8080'), `EXPOSE 50051 8080 (got ${ports.join(' ')})`);
  const health = all(runtime, 'HEALTHCHECK').at(-1) ?? '';
  t.match(health, /CMD\s+\[/, 'HEALTHCHECK in exec form');
  t.match(health, /"node"/);
  t.match(health, /\/healthz/);
  const cmd = jsonArray(all(runtime, 'CMD').at(-1) ?? '');
  t.ok(cmd, 'CMD in exec form (node gets SIGTERM itself)');
  t.same(cmd?.slice(0, 3), ['node', 'bin/event-spine.js', 'serve']);
  t.ok(cmd?.includes('--data-dir') && cmd[cmd.indexOf('--data-dir') + 1] === '/data', 'serves the volume');
  t.notOk(cmd?.some((a) => a === '0.0.0.0' || a === '::'), 'no unauthenticated listener on every interface by default (DESIGN §7)');
});

/** The ready line's addresses, from the daemon's JSON log lines. */
function waitForReady(proc: ChildProcess, ms: number): Promise<{ grpc: string; http: string }> {
  return new Promise((resolvePromise, reject) => {
    const lines: string[] = [];
    const timer = setTimeout(() => reject(new Error(`no ready line within ${ms} ms; output:\n${lines.join('\n')}`)), ms);
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      try {
        const msg = JSON.parse(line) as { msg?: string; grpc?: string; http?: string };
        if (msg.msg === 'ready' && msg.grpc !== undefined && msg.http !== undefined) {
          clearTimeout(timer);
          resolvePromise({ grpc: msg.grpc, http: msg.http });
        }
      } catch {
        // not a log line
      }
    });
    proc.stderr?.on('data', (d: Buffer) => lines.push(d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready; output:\n${lines.join('\n')}`));
    });
  });
}

interface Assembled {
  /** /app of the runtime stage. */
  app: string;
  /** The environment of the image (its ENV lines over this process's). */
  env: Record<string, string>;
  /** The image's CMD after `node`, with a temporary data directory and ports 0. */
  args: string[];
  dataDir: string;
}

/** The runtime stage's file layout, assembled from its COPY lines in a test directory. */
function assemble(t: Test): Assembled {
  t.ok(existsSync(join(ROOT, 'dist', 'src', 'cli.js')), 'built (npx tsc -p tsconfig.json)');
  // Assemble /app as the runtime stage's COPY lines would.
  const image = t.testdir();
  const app = join(image, 'app');
  mkdirSync(app);
  const workdir = all(runtime, 'WORKDIR').at(-1) ?? '/';
  t.equal(workdir, '/app');
  for (const copy of all(runtime, 'COPY')) {
    const parts = copy.split(/\s+/);
    const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
    const [src, dest] = parts.filter((p) => !p.startsWith('--')) as [string, string];
    // Files of other stages: node_modules is this checkout's (a superset of the production
    // dependencies), the build output is dist/ after tsc; both at /app in their stage.
    const local = join(ROOT, from === undefined ? src : src.replace(/^\/app\/?/, ''));
    t.ok(existsSync(local), `COPY source ${src} exists (${local})`);
    // Docker: a file copied to a path ending in "/" lands inside that folder; a folder's
    // contents are copied to the destination.
    const intoFolder = (dest.endsWith('/') || dest === '.') && !statSync(local).isDirectory();
    const target = intoFolder ? join(resolve(app, dest), basename(local)) : resolve(app, dest);
    mkdirSync(dirname(target), { recursive: true });
    if (src.endsWith('node_modules')) symlinkSync(local, target, 'dir');
    else cpSync(local, target, { recursive: true });
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('EVENT_SPINE_')) env[k] = v;
  for (const e of all(runtime, 'ENV')) {
    for (const m of e.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '');
  }
  const cmd = jsonArray(all(runtime, 'CMD').at(-1) ?? '') as string[];
  const dataDir = join(image, 'data');
  const args = cmd.slice(1).map((a, i, list) => (list[i - 1] === '--data-dir' ? dataDir : a));
  args.push('--grpc-port', '0', '--http-port', '0');
  return { app, env, args, dataDir };
}

/** The HEALTHCHECK command (after `node`). */
const healthArgs = (): string[] => (jsonArray((all(runtime, 'HEALTHCHECK').at(-1) ?? '').replace(/^.*?CMD\s+/, '')) as string[]).slice(1);

t.test("the image's CMD runs the built daemon from the runtime stage's files", { timeout: 60_000 }, async (t) => {
  const { app, env, args, dataDir } = assemble(t);
  const proc = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const ready = await waitForReady(proc, 20_000);
  t.match(ready.grpc, /^127\.0\.0\.1:\d+$/, 'gRPC on loopback by default');
  t.match(ready.http, /^127\.0\.0\.1:\d+$/);

  // The HEALTHCHECK command itself, pointed at the bound HTTP port.
  const health = jsonArray((all(runtime, 'HEALTHCHECK').at(-1) ?? '').replace(/^.*?CMD\s+/, '')) as string[];
  const port = ready.http.split(':').at(-1) as string;
  const probe = spawnSync(process.execPath, health.slice(1), { cwd: app, env: { ...env, EVENT_SPINE_HTTP_PORT: port }, timeout: 10_000 });
  t.equal(probe.status, 0, `healthcheck passes: ${probe.stderr?.toString() ?? ''}`);
  const down = spawnSync(process.execPath, health.slice(1), { cwd: app, env: { ...env, EVENT_SPINE_HTTP_PORT: '1' }, timeout: 10_000 });
  t.equal(down.status, 1, 'and fails when nothing answers');

  proc.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: graceful exit 0');
  t.ok(existsSync(join(dataDir, 'segments')) || existsSync(join(dataDir, 'index')), 'the store was created in the data directory');
});

/** The image's daemon run to its exit, or until ready; resolves with what happened. */
function runImage(a: Assembled, env: Record<string, string>): { proc: ChildProcess; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, a.args, { cwd: a.app, env: { ...a.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { proc, exited: new Promise<number | null>((r) => proc.once('exit', (code) => r(code))) };
}

t.test('EVENT_SPINE_HOST=0.0.0.0 without keys: the image refuses to serve (DESIGN §7)', { timeout: 60_000 }, async (t) => {
  const a = assemble(t);
  const { proc, exited } = runImage(a, { EVENT_SPINE_HOST: '0.0.0.0' });
  let stderr = '';
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  t.equal(await exited, 2, 'exit 2, before anything listens');
  t.match(stderr, /auth\.mode/);
});

t.test(`the documented run: keys and mutual TLS on 0.0.0.0, the HEALTHCHECK over TLS (certificates made with ${certTool()})`, { timeout: 60_000 }, async (t) => {
  const a = assemble(t);
  const dir = join(dirname(a.app), 'secrets'); // beside /app: t.testdir() again would empty the test's directory
  mkdirSync(dir);
  const tool = certTool();
  const ca = makeCa(dir, 'ca', tool);
  const server = makeLeaf(dir, ca, 'server', 'server+client', tool);
  const keys = writeKeys(t, { app: { scopes: ['append', 'read'] } }, dir);
  const env = {
    EVENT_SPINE_HOST: '0.0.0.0',
    EVENT_SPINE_AUTH_MODE: 'keys',
    EVENT_SPINE_AUTH_KEYS_FILE: keys.file,
    EVENT_SPINE_TLS_CERT_FILE: server.certFile,
    EVENT_SPINE_TLS_KEY_FILE: server.keyFile,
    EVENT_SPINE_TLS_CLIENT_CA_FILE: ca.certFile,
  };
  const { proc, exited } = runImage(a, env);
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const ready = await waitForReady(proc, 20_000);
  t.match(ready.http, /^0\.0\.0\.0:\d+$/);
  const port = ready.http.split(':').at(-1) as string;
  const probe = (over: Record<string, string | undefined>): number | null => {
    const probeEnv: Record<string, string> = { ...a.env, ...env, EVENT_SPINE_HTTP_PORT: port };
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete probeEnv[k];
      else probeEnv[k] = v;
    }
    return spawnSync(process.execPath, healthArgs(), { cwd: a.app, env: probeEnv, timeout: 10_000 }).status;
  };
  t.equal(probe({}), 0, 'the healthcheck passes: HTTPS, presenting the server certificate (signed by the client CA)');
  t.equal(probe({ EVENT_SPINE_TLS_CLIENT_CA_FILE: undefined }), 1, 'without a client certificate the daemon refuses it');
  t.equal(probe({ EVENT_SPINE_TLS_CERT_FILE: undefined, EVENT_SPINE_TLS_KEY_FILE: undefined, EVENT_SPINE_TLS_CLIENT_CA_FILE: undefined }), 1, 'plain HTTP gets no answer from the TLS port');
  proc.kill('SIGTERM');
  t.equal(await exited, 0);
});
