/**
 * The command line, `event-spine <command>` (DESIGN §8):
 *
 *   serve   [flags]                 the daemon
 *   verify  --data-dir DIR          offline check of frames, chain and index; exit 0 only if intact
 *   export  --data-dir DIR          every stored event as JSON Lines on standard output
 *   reindex --data-dir DIR          drop the index and rebuild it from the log (offline)
 *   verify | export --http URL      the same job run as an operation in a live daemon
 *                                   [--api-key-file FILE] [--ca-file FILE] [--cert-file FILE --key-file FILE]
 *   keys new | hash                 an API key and its keys file entry (src/auth/keys-command.ts)
 *
 * verify, export and reindex show their progress on standard error: a bar on a terminal,
 * plain lines otherwise (src/ops/progress-reporter.ts).
 *   config  [flags] [--defaults | --schema]   the effective configuration (or the generated files)
 *
 * Exit codes: 0 success; 1 a failure (a store that does not verify, an I/O error);
 * 2 a usage or configuration error, with one line on standard error.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultsJson, flagsHelp, jsonSchema, loadConfig, type LoadedConfig } from './config';
import { SpineError, isSpineError } from './errors';
import { Logger } from './observability';
import { exportLine } from './ops/jobs';
import type { Store } from './store';

// The daemon and the store load lazily (about half a second): a configuration error or
// --help answers at once.
const loadMain = (): Promise<typeof import('./main')> => import('./main');

const USAGE = `usage: event-spine <command> [flags]

commands:
  serve                     run the daemon (gRPC and HTTP)
  verify --data-dir DIR     check a store offline (frames, hash chain, index);
                            exit 0 only if intact, else print the first bad seq and exit 1
  export --data-dir DIR     write every stored event as JSON Lines to standard output
  reindex --data-dir DIR    drop the index and rebuild it from the log (the daemon
                            must be stopped); shows the bytes of log scanned
  verify --http URL         run verify (or export) as an operation in the live daemon
  export --http URL         at URL (e.g. 127.0.0.1:8080) and follow its progress; export
                            then writes the daemon's export file to standard output.
                            With auth.mode "keys": --api-key-file FILE (a file holding
                            the key, never the key itself); https:// with a private CA:
                            --ca-file FILE; mutual TLS: --cert-file FILE --key-file FILE
  keys new --id ID --scopes append,read [--organizations ORGS] [--actor-id ACTOR] …
                            a new API key: its secret (first line, shown once) and its
                            keys file entry (the hash); keys hash: the entry of a secret
                            read from standard input (event-spine keys --help)
  config [--defaults | --schema]
                            print the effective configuration as JSON, with where each
                            value came from; --defaults prints config/default.json,
                            --schema config/schema.json
  help                      this text

flags (serve, verify, export, config):
${flagsHelp()}
Settings come from config/default.json, then the --config file (or EVENT_SPINE_CONFIG),
then environment variables EVENT_SPINE_<SETTING> (e.g. EVENT_SPINE_GRPC_PORT,
EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES), then flags. The README lists every setting.

exit codes: 0 success, 1 failure (store not intact, I/O error), 2 usage or configuration error
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const loaded = loadConfig({ argv: rest });
        return await (await loadMain()).serve(loaded);
      }
      case 'verify':
        if (wantsDaemon(rest)) return await remoteJob('verify', rest);
        return await verify(loadForStore(rest, 'verify'));
      case 'export':
        if (wantsDaemon(rest)) return await remoteJob('export', rest);
        return await exportEvents(loadForStore(rest, 'export'));
      case 'reindex':
        if (wantsDaemon(rest)) throw new SpineError('CONFIG_INVALID', 'reindex runs offline only, as it needs the store to itself: stop the daemon, then run event-spine reindex --data-dir DIR');
        return await reindexStore(loadForStore(rest, 'reindex'));
      case 'config':
        return printConfig(rest);
      case 'keys':
        return await keys(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`event-spine: unknown command ${JSON.stringify(command)}; commands are serve, verify, export, reindex, config, keys, help\n`);
        return 2;
    }
  } catch (err) {
    return fail(err);
  }
}

/** One line on standard error; 2 for configuration errors, 1 for anything else. */
function fail(err: unknown): number {
  if (isSpineError(err)) {
    process.stderr.write(`event-spine: ${err.code === 'CONFIG_INVALID' ? '' : `${err.code}: `}${err.message}\n`);
    return err.code === 'CONFIG_INVALID' ? 2 : 1;
  }
  process.stderr.write(`event-spine: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

/** The configuration of an offline command, which needs an existing store. */
function loadForStore(argv: string[], command: string): LoadedConfig {
  const loaded = loadConfig({ argv });
  if (!existsSync(loaded.config.dataDir)) {
    throw new SpineError('CONFIG_INVALID', `${command}: there is no store at ${resolve(loaded.config.dataDir)} (give one with --data-dir DIR)`, { field: 'dataDir' });
  }
  return loaded;
}

/** Opens a store for an offline command; its notices go to standard error. */
async function openOffline(loaded: LoadedConfig): Promise<Store> {
  const logger = new Logger('info', (line) => process.stderr.write(line));
  const { storeOptions } = await loadMain();
  const { Store } = await import('./store');
  try {
    return await Store.open({ ...storeOptions(loaded.config), onNotice: (message, details) => logger.warn(message, details) });
  } catch (err) {
    if (isSpineError(err) && err.code === 'IO_ERROR' && /lock/i.test(err.message)) {
      throw new SpineError('IO_ERROR', `${err.message} (is a daemon running on ${resolve(loaded.config.dataDir)}?)`, { cause: err });
    }
    throw err;
  }
}

async function verify(loaded: LoadedConfig): Promise<number> {
  const dir = resolve(loaded.config.dataDir);
  let store: Store;
  try {
    store = await openOffline(loaded);
  } catch (err) {
    if (isSpineError(err) && err.code === 'LOG_CORRUPT') {
      process.stdout.write(`FAILED ${dir}: LOG_CORRUPT: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  try {
    const { ProgressReporter, verifyWithProgress } = await import('./ops');
    const progress = new ProgressReporter('verify', 'events');
    const result = await verifyWithProgress(store, (done, total) => progress.update(done, total), { checkIndex: true });
    progress.finish();
    if (result.ok) {
      const head = store.head();
      process.stdout.write(`ok ${dir}: ${result.checked} events verified (seq ${result.from_seq}..${result.to_seq}), head ${head.event_hash}\n`);
      return 0;
    }
    process.stdout.write(`FAILED ${dir}: first bad seq ${result.first_bad_seq ?? '?'}: ${result.reason ?? 'unknown reason'}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

async function exportEvents(loaded: LoadedConfig): Promise<number> {
  const store = await openOffline(loaded);
  let broken = false;
  const onError = (): void => {
    broken = true; // e.g. `| head`: the reader went away
  };
  process.stdout.on('error', onError);
  const { ProgressReporter } = await import('./ops');
  const progress = new ProgressReporter('export', 'events');
  const total = store.head().seq;
  progress.update(0, total);
  try {
    let chunk = '';
    for await (const ev of store.read({})) {
      chunk += exportLine(ev);
      if (chunk.length < 64 * 1024) continue;
      if (!(await writeOut(chunk)) || broken) return 0;
      chunk = '';
      progress.update(ev.seq, total);
    }
    if (chunk.length > 0 && !broken) await writeOut(chunk);
    progress.update(total, total);
    return 0;
  } finally {
    progress.finish();
    process.stdout.off('error', onError);
    await store.close();
  }
}

function writeOut(text: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) return resolve(true);
    const done = (ok: boolean) => () => {
      process.stdout.off('drain', onDrain);
      process.stdout.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    process.stdout.once('drain', onDrain);
    process.stdout.once('close', onClose);
  });
}

/** Whether a verify or export names a live daemon (`--http URL`) rather than a store. */
function wantsDaemon(argv: string[]): boolean {
  return argv.some((a) => a === '--http' || a.startsWith('--http='));
}

/** verify / export --http URL: the job runs as an operation in the daemon (src/ops/commands.ts). */
async function remoteJob(kind: 'verify' | 'export', argv: string[]): Promise<number> {
  const { remoteDaemon, remoteJobCommand, takeHttpFlag, takeRemoteFlags } = await import('./ops');
  const { address, rest: others } = takeHttpFlag(argv);
  const { flags, rest } = takeRemoteFlags(others);
  if (rest.length > 0) throw new SpineError('CONFIG_INVALID', `${kind} --http: ${rest.join(' ')} applies to the offline command only (with --data-dir)`);
  return remoteJobCommand(kind, remoteDaemon(address as string, flags));
}

/** keys new | hash: API keys and their entries (src/auth/keys-command.ts). */
async function keys(argv: string[]): Promise<number> {
  const { keysCommand } = await import('./auth');
  return keysCommand(argv, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readInput: async () => {
      let text = '';
      for await (const chunk of process.stdin.setEncoding('utf8')) text += chunk as string;
      return text;
    },
  });
}

/** reindex --data-dir DIR: drops the index and rebuilds it, with progress (src/ops/commands.ts). */
async function reindexStore(loaded: LoadedConfig): Promise<number> {
  const { storeOptions } = await loadMain();
  const { reindexCommand } = await import('./ops');
  const logger = new Logger('info', (line) => process.stderr.write(line));
  return reindexCommand({ ...storeOptions(loaded.config), onNotice: (message, details) => logger.warn(message, details) });
}

function printConfig(argv: string[]): number {
  if (argv.includes('--defaults')) {
    process.stdout.write(defaultsJson());
    return 0;
  }
  if (argv.includes('--schema')) {
    process.stdout.write(jsonSchema());
    return 0;
  }
  const loaded = loadConfig({ argv });
  process.stdout.write(JSON.stringify({ config: loaded.config, sources: loaded.sources, configFile: loaded.configFile }, null, 2) + '\n');
  return 0;
}
