/**
 * Loading the configuration: sources in order, unknown names refused with the nearest
 * valid one, invalid values named with what is allowed, a frozen result; and, through the
 * real command, a bad start stops with one clear line on stderr and exit code 2.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { editDistance, loadConfig, nearest, type LoadOptions } from '../../src/config';
import { BIN, REPO_ROOT, daemonEnv } from '../helpers/daemon';

function load(options: LoadOptions = {}) {
  return loadConfig({ env: {}, argv: [], ...options });
}

function refused(t: Test, options: LoadOptions, message: RegExp, field?: string): void {
  t.throws(() => load(options), { code: 'CONFIG_INVALID', message, ...(field === undefined ? {} : { field }) }, String(message));
}

t.test('defaults, per DESIGN §8', async (t) => {
  const { config, sources } = load();
  t.match(config, {
    dataDir: './data',
    host: '127.0.0.1',
    grpcPort: 50051,
    httpPort: 8080,
    durability: 'fsync',
    defaults: { organizationId: 'default', environment: 'prod' },
    limits: { maxPayloadBytes: 65536, maxBatchEvents: 10000 },
  });
  t.equal(sources.grpcPort, 'default.json');
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.limits), 'frozen, deeply');
  t.throws(() => {
    (config as { grpcPort: number }).grpcPort = 1;
  }, TypeError);
});

t.test('file, then environment, then flags', async (t) => {
  const dir = t.testdir({ 'spine.json': JSON.stringify({ grpcPort: 6000, httpPort: 6001, limits: { maxBatchEvents: 7 }, log: { level: 'warn' } }) });
  const file = join(dir, 'spine.json');
  const fromFile = load({ argv: ['--config', file] });
  t.match(fromFile.config, { grpcPort: 6000, httpPort: 6001, limits: { maxBatchEvents: 7 }, log: { level: 'warn' } });
  t.equal(fromFile.sources.grpcPort, 'file');
  t.equal(fromFile.configFile, file);
  t.equal(load({ env: { EVENT_SPINE_CONFIG: file } }).config.grpcPort, 6000, 'EVENT_SPINE_CONFIG names the file');

  const env = { EVENT_SPINE_CONFIG: file, EVENT_SPINE_GRPC_PORT: '7000', EVENT_SPINE_LIMITS_MAX_BATCH_EVENTS: '8', EVENT_SPINE_DATA_DIR: '/srv/es' };
  const fromEnv = load({ env });
  t.match(fromEnv.config, { grpcPort: 7000, httpPort: 6001, dataDir: '/srv/es', limits: { maxBatchEvents: 8 } });
  t.equal(fromEnv.sources.grpcPort, 'env');

  const fromFlags = load({ env, argv: ['--grpc-port', '0', '--http-port=0', '--data-dir', '/tmp/x', '--host', '::1', '--durability', 'write'] });
  t.match(fromFlags.config, { grpcPort: 0, httpPort: 0, dataDir: '/tmp/x', host: '::1', durability: 'write', limits: { maxBatchEvents: 8 } });
  t.equal(fromFlags.sources.httpPort, 'flag');
  t.equal(load({ argv: ['--grpc-port', '1', '--grpc-port', '2'] }).config.grpcPort, 2, 'the last of a repeated flag wins');
});

t.test('unknown names are refused, naming the nearest valid one', async (t) => {
  const dir = t.testdir({
    typo: JSON.stringify({ limits: { maxPayloadByte: 10 } }),
    group: JSON.stringify({ limit: { maxBatchEvents: 1 } }),
    top: JSON.stringify({ grpcprot: 1 }),
  });
  refused(t, { argv: ['--config', join(dir, 'typo')] }, /unknown setting "limits\.maxPayloadByte"; did you mean "limits\.maxPayloadBytes"\?/, 'limits.maxPayloadByte');
  refused(t, { argv: ['--config', join(dir, 'group')] }, /unknown setting "limit"; did you mean "limits"\?/);
  refused(t, { argv: ['--config', join(dir, 'top')] }, /unknown setting "grpcprot"; did you mean "grpcPort"\?/);
  refused(t, { argv: ['--grpc-prot', '1'] }, /unknown flag --grpc-prot; did you mean --grpc-port\?/);
  refused(t, { argv: ['--datadir', 'x'] }, /unknown flag --datadir; did you mean --data-dir\?/);
  refused(t, { env: { EVENT_SPINE_GRPC_PROT: '1' } }, /unknown environment variable EVENT_SPINE_GRPC_PROT; did you mean EVENT_SPINE_GRPC_PORT\?/);
  refused(t, { argv: ['serve'] }, /unexpected argument "serve"/);
  refused(t, { argv: ['--grpc-port'] }, /flag --grpc-port needs a value/);
});

t.test('invalid values name the setting, the source and what is allowed', async (t) => {
  const dir = t.testdir({
    'port.json': JSON.stringify({ grpcPort: 'fast' }),
    'enum.json': JSON.stringify({ durability: 'sometimes' }),
    'nested.json': JSON.stringify({ limits: 5 }),
    'bad.json': '{ "grpcPort": 1, }',
    'array.json': '[1,2]',
  });
  refused(t, { argv: ['--config', join(dir, 'port.json')] }, /port\.json: grpcPort must be an integer from 0 to 65535, not "fast"/, 'grpcPort');
  refused(t, { argv: ['--config', join(dir, 'enum.json')] }, /durability must be one of "fsync", "write", not "sometimes"/, 'durability');
  refused(t, { argv: ['--config', join(dir, 'nested.json')] }, /"limits" must be an object of settings/);
  refused(t, { argv: ['--config', join(dir, 'bad.json')] }, /is not valid JSON/);
  refused(t, { argv: ['--config', join(dir, 'array.json')] }, /must hold a JSON object of settings/);
  refused(t, { argv: ['--config', join(dir, 'missing.json')] }, /missing\.json \(from --config .*\) does not exist/);
  refused(t, { env: { EVENT_SPINE_HTTP_PORT: '80a' } }, /environment EVENT_SPINE_HTTP_PORT: httpPort must be an integer from 0 to 65535, not "80a"/, 'httpPort');
  refused(t, { env: { EVENT_SPINE_HTTP_PORT: '70000' } }, /httpPort must be an integer from 0 to 65535/);
  refused(t, { env: { EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES: '1e3' } }, /limits\.maxPayloadBytes must be an integer/);
  refused(t, { argv: ['--grpc-port', '-1'] }, /flag --grpc-port needs a value|grpcPort must be/);
  refused(t, { argv: ['--log-level', 'loud'] }, /flag --log-level: log\.level must be one of "debug", "info", "warn", "error", not "loud"/);
  refused(t, { argv: ['--data-dir', ''] }, /dataDir must be a non-empty string/);
  refused(t, { argv: ['--grpc-port', '9000', '--http-port', '9000'] }, /both 9000/);
  refused(t, { env: { EVENT_SPINE_LIMITS_MAX_MESSAGE_BYTES: '65536', EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES: '70000' } }, /limits\.maxMessageBytes .* must be larger than limits\.maxPayloadBytes/);
});

t.test('edit distance', async (t) => {
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('GRPCPORT', 'grpcPort'), 0, 'case-insensitive');
  t.equal(nearest('hots', ['host', 'httpPort']), 'host');
});

t.test('a bad start stops with one clear line on stderr and exit code 2', async (t) => {
  const dir = t.testdir({ 'unknown.json': JSON.stringify({ grpcPrt: 1 }), 'broken.json': '{"grpcPort":' });
  const run = (args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string; stdout: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [BIN, 'serve', '--data-dir', join(dir, 'data'), ...args], { cwd: REPO_ROOT, env: daemonEnv(env), encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
        resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
      });
    });
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['unknown key in a config file', ['--config', join(dir, 'unknown.json')], {}, /^event-spine: config file .*unknown\.json: unknown setting "grpcPrt"; did you mean "grpcPort"\?\n$/],
    ['a config file that is not JSON', ['--config', join(dir, 'broken.json')], {}, /^event-spine: config file .*broken\.json is not valid JSON/],
    ['a config file that does not exist', [], { EVENT_SPINE_CONFIG: join(dir, 'nope.json') }, /^event-spine: config file .*nope\.json \(from EVENT_SPINE_CONFIG=.*\) does not exist\n$/],
    ['a bad flag', ['--grpc-port', 'abc'], {}, /^event-spine: flag --grpc-port: grpcPort must be an integer from 0 to 65535, not "abc"\n$/],
    ['an unknown flag', ['--http-prot', '1'], {}, /^event-spine: unknown flag --http-prot; did you mean --http-port\?\n$/],
    ['a bad environment value', [], { EVENT_SPINE_DURABILITY: 'maybe' }, /^event-spine: environment EVENT_SPINE_DURABILITY: durability must be one of "fsync", "write", not "maybe"\n$/],
    ['an unknown environment variable', [], { EVENT_SPINE_GRPC_PROT: '1' }, /^event-spine: unknown environment variable EVENT_SPINE_GRPC_PROT; did you mean EVENT_SPINE_GRPC_PORT\?\n$/],
  ];
  const results = await Promise.all(cases.map(([, args, env]) => run(args, env)));
  for (const [i, [name, , , message]] of cases.entries()) {
    const r = results[i] as Awaited<ReturnType<typeof run>>;
    t.equal(r.status, 2, `${name}: exit code 2`);
    t.match(r.stderr, message, `${name}: ${r.stderr.trim()}`);
    t.equal(r.stdout, '', `${name}: nothing started`);
  }
});
