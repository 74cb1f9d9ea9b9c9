/**
 * `event-spine keys new | hash` as an operator runs them (child processes): the secret
 * comes once, on the first line; the entry beside it carries its hash, never the secret,
 * and loads as the daemon loads its keys file; bad flags exit 2 naming the flag.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Guard, SECRET_PREFIX, hashSecret, keysCommand, parseKeys, readKeysFile } from '../../src/auth';
import { Logger, SpineMetrics } from '../../src/observability';
import { BIN, REPO_ROOT, daemonEnv } from '../helpers/daemon';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: daemonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (status) => resolve({ status, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

t.test('keys new: the secret once, then the entry with its hash', async (t) => {
  const r = await cli(['keys', 'new', '--id', 'billing-ingest', '--scopes', 'append,read', '--organizations', 'acme,globex', '--actor-id', 'billing-service', '--actor-type', 'system', '--rate-limit-per-second', '500', '--max-streams', '16']);
  t.equal(r.status, 0, r.stderr);
  const [secret, entryLine, ...more] = lines(r.stdout);
  t.same(more, [], 'two lines on standard output');
  t.match(secret, new RegExp(`^${SECRET_PREFIX}[A-Za-z0-9_-]{43}$`), 'esk_ and 256 random bits');
  const entry = JSON.parse(entryLine as string) as Record<string, unknown>;
  t.same(entry, {
    id: 'billing-ingest',
    hash: hashSecret(secret as string),
    scopes: ['append', 'read'],
    organizations: ['acme', 'globex'],
    actor_id: 'billing-service',
    actor_type: 'system',
    rate_limit_per_second: 500,
    max_streams: 16,
  });
  t.notMatch(entryLine, secret as string, 'the entry never holds the secret');
  t.notMatch(r.stderr, secret as string, 'nor does standard error');
  t.match(r.stderr, /shown this once/);

  const [key] = parseKeys(JSON.stringify({ keys: [entry] }), 'keys.json');
  t.equal(key?.id, 'billing-ingest');
  t.same([...(key?.scopes ?? [])], ['append', 'read']);
  t.same(key?.organizations, ['acme', 'globex']);
  t.equal(key?.maxStreams, 16);

  const again = await cli(['keys', 'new', '--id', 'billing-ingest', '--scopes', 'read']);
  t.not(lines(again.stdout)[0], secret, 'every run makes a new secret');
});

t.test('the entry, in a keys file, lets its secret in (and nothing else)', async (t) => {
  const a = await cli(['keys', 'new', '--id', 'reader', '--scopes', 'read']);
  const b = await cli(['keys', 'new', '--id', 'writer', '--scopes=append', '--organizations=acme']);
  const [secretA, entryA] = lines(a.stdout);
  const [secretB, entryB] = lines(b.stdout);
  const file = join(t.testdir(), 'keys.json');
  writeFileSync(file, JSON.stringify({ keys: [JSON.parse(entryA as string), JSON.parse(entryB as string)] }, null, 2));
  t.equal(readKeysFile(file).length, 2);
  const guard = new Guard({ mode: 'keys', keysFile: file, rateLimitPerSecond: 0, rateLimitBurst: 0, maxStreamsPerKey: 4, logger: new Logger('error', () => undefined), metrics: new SpineMetrics() });
  t.equal(guard.authenticate(`Bearer ${secretA as string}`).keyId, 'reader');
  t.equal(guard.authenticate(`Bearer ${secretB as string}`).keyId, 'writer');
  t.same(guard.authenticate(`Bearer ${secretB as string}`).organizations, ['acme']);
  t.throws(() => guard.authenticate(`Bearer ${(secretA as string).slice(0, -1)}x`), { code: 'UNAUTHENTICATED' });
});

t.test('keys hash: the entry of a secret read from standard input', async (t) => {
  const made = await cli(['keys', 'new', '--id', 'x', '--scopes', 'read']);
  const [secret, entry] = lines(made.stdout);
  const bare = await cli(['keys', 'hash'], `${secret as string}\n`);
  t.equal(bare.status, 0, bare.stderr);
  t.same(JSON.parse(bare.stdout), { hash: hashSecret(secret as string) }, 'the hash alone; the trailing newline is not part of the secret');
  t.equal((JSON.parse(bare.stdout) as { hash: string }).hash, (JSON.parse(entry as string) as { hash: string }).hash, 'the same hash keys new printed');
  t.notMatch(bare.stdout, secret as string);

  const full = await cli(['keys', 'hash', '--id', 'legacy', '--scopes', 'admin'], secret);
  t.equal(full.status, 0, full.stderr);
  t.same(JSON.parse(full.stdout), { id: 'legacy', hash: hashSecret(secret as string), scopes: ['admin'] });

  const other = 'a-secret-made-elsewhere-0123456789abcdef';
  t.same(JSON.parse((await cli(['keys', 'hash'], other)).stdout), { hash: hashSecret(other) });
});

/** keysCommand in this process, with standard input `input`; resolves with what it wrote or threw. */
async function keysInProcess(args: string[], input = ''): Promise<{ code?: number; out: string; error?: unknown }> {
  let out = '';
  const io = { out: (s: string) => void (out += s), err: () => undefined, readInput: () => Promise.resolve(input) };
  try {
    return { code: await keysCommand(args, io), out };
  } catch (error) {
    return { out, error };
  }
}

t.test('refusals are CONFIG_INVALID naming the flag, and print nothing', async (t) => {
  const cases: [string[], RegExp, string?][] = [
    [['new', '--scopes', 'read'], /--id is required/],
    [['new', '--id', 'x'], /--scopes is required/],
    [['new', '--id', 'has space', '--scopes', 'read'], /--id must be 1 to 64 letters/],
    [['new', '--id', 'x', '--scopes', 'read,write'], /--scopes must be a non-empty list of append, read, admin/],
    [['new', '--id', 'x', '--scopes', ','], /--scopes must be a non-empty list/],
    [['new', '--id', 'x', '--scopes', 'read', '--organizations', ''], /--organizations must be a non-empty list/],
    [['new', '--id', 'x', '--scopes', 'read', '--actor-type', 'robot'], /--actor-type must be one of human, system, pipeline/],
    [['new', '--id', 'x', '--scopes', 'read', '--max-streams', '0'], /--max-streams must be an integer from 1/],
    [['new', '--id', 'x', '--scopes', 'read', '--rate-limit-per-second', 'fast'], /--rate-limit-per-second must be a whole number/],
    [['new', '--id', 'x', '--scope', 'read'], /unknown flag --scope; did you mean --scopes\?/],
    [['new', '--id', 'x', '--id', 'y', '--scopes', 'read'], /--id is given twice/],
    [['new', '--id'], /--id needs a value/],
    [['new', 'x'], /unexpected argument "x"/],
    [['rotate'], /unknown keys command "rotate"/],
    [[], /keys new or keys hash/],
    [['hash'], /standard input, and it was empty/, ''],
    [['hash'], /under 32/, 'short\n'],
    [['hash'], /one line of printable ASCII/, 'two words and enough characters to be long\n'],
    [['hash', '--id', 'x'], /--scopes is required/, 'a-secret-made-elsewhere-0123456789abcdef'],
  ];
  for (const [args, message, input] of cases) {
    const r = await keysInProcess(args, input);
    t.match(r.error, { code: 'CONFIG_INVALID', message }, `keys ${args.join(' ')}`);
    t.equal(r.out, '', 'nothing on standard output');
  }
});

t.test('the command line exits 2 with one line on standard error', async (t) => {
  for (const [args, message, input] of [
    [['keys', 'new', '--id', 'x', '--scopes', 'read,write'], /^event-spine: keys: --scopes must be/, undefined],
    [['keys', 'hash'], /^event-spine: keys: the secret is 5 characters, under 32/, 'short\n'],
  ] as const) {
    const r = await cli([...args], input);
    t.equal(r.status, 2, args.join(' '));
    t.equal(r.stdout, '');
    t.match(r.stderr, message);
    t.equal(lines(r.stderr).length, 1, 'one line');
  }
});

t.test('keys --help', async (t) => {
  const r = await cli(['keys', '--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /keys new --id ID --scopes SCOPES/);
  t.match((await cli(['--help'])).stdout, /keys new --id ID --scopes append,read/, 'listed in the main help');
});
