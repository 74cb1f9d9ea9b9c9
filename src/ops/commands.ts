/**
 * The bodies of the command line's long jobs that are not plain store calls: `reindex`
 * (offline) and `verify` / `export` against a live daemon (`--http URL`), which start the
 * job as an operation in the daemon and follow its progress steps. Progress goes to
 * standard error (a bar on a terminal, lines otherwise); results to standard output.
 */
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { SpineError, isSpineError } from '../errors';
import type { JsonObject } from '../event';
import type { StoreOptions } from '../store';
import { reindex } from './jobs/reindex';
import { ProgressReporter, formatAmount, type ProgressOutput } from './progress-reporter';
import { downloadExport, followRemote, remoteDaemon, startRemoteJob, type RemoteDaemon, type RemoteStep } from './remote';

export interface CommandOutput {
  /** Results (standard output); resolves false when the reader went away. */
  out(chunk: string | Uint8Array): Promise<boolean>;
  /** Progress and messages (standard error). */
  err: ProgressOutput;
}

/** Standard output with backpressure, and standard error. */
export function processOutput(): CommandOutput {
  return {
    out: (chunk) =>
      new Promise((done) => {
        if (process.stdout.write(chunk)) return done(true);
        const finish = (ok: boolean) => (): void => {
          process.stdout.off('drain', onDrain);
          process.stdout.off('close', onClose);
          done(ok);
        };
        const onDrain = finish(true);
        const onClose = finish(false);
        process.stdout.once('drain', onDrain);
        process.stdout.once('close', onClose);
      }),
    err: process.stderr,
  };
}

/** `event-spine reindex --data-dir DIR`: drops the index and rebuilds it from the log. */
export async function reindexCommand(options: StoreOptions, io: CommandOutput = processOutput()): Promise<number> {
  const dir = resolve(options.dataDir);
  const progress = new ProgressReporter('reindex', 'bytes', io.err);
  try {
    const r = await reindex(options, (scanned, total) => progress.update(scanned, total));
    progress.finish();
    await io.out(`ok ${dir}: index rebuilt from ${r.events} events (${formatAmount(r.bytes, 'bytes')} of log) in ${r.ms} ms\n`);
    return 0;
  } catch (err) {
    progress.finish();
    if (isSpineError(err) && err.code === 'IO_ERROR' && /lock|failed to open/i.test(`${err.message} ${String((err.cause as Error | undefined)?.message)}`)) {
      throw new SpineError('IO_ERROR', `${err.message} (is a daemon running on ${dir}? reindex needs the store to itself: stop the daemon first)`, { cause: err });
    }
    throw err;
  }
}

/** Who the command line says starts an operation. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/**
 * `event-spine verify|export --http URL`: the job runs as an operation in the daemon; its
 * progress is shown here. Exit 0 when it succeeded (and, for verify, the store is intact).
 */
export async function remoteJobCommand(kind: 'verify' | 'export', address: string | RemoteDaemon, io: CommandOutput = processOutput()): Promise<number> {
  const daemon = typeof address === 'string' ? remoteDaemon(address) : address;
  const base = daemon.base;
  // With a key, the key speaks for the caller: its bound actor, if any, is the operation's
  // (naming cli:<user> beside a key bound to another actor would be refused).
  const actor: JsonObject = daemon.apiKey === undefined ? { actor_id: cliActor(), actor_type: 'human' } : {};
  const view = await startRemoteJob(daemon, { kind, ...actor });
  io.err.write(`${kind}: operation ${view.id} started in the daemon at ${base}\n`);
  const progress = new ProgressReporter(kind, 'events', io.err);
  let terminal: RemoteStep | undefined;
  for await (const step of followRemote(daemon, view.id)) {
    const d = step.data;
    if (step.step === 'started' && typeof d.total === 'number') progress.update(0, d.total);
    else if (step.step === 'progress' && typeof d.done === 'number' && typeof d.total === 'number') progress.update(d.done, d.total);
    else if (step.step === 'done' || step.step === 'error') terminal = step;
  }
  progress.finish();
  if (terminal === undefined || terminal.step === 'error') {
    const why = terminal === undefined ? 'the stream ended before the operation did' : String(terminal.data.message);
    io.err.write(`event-spine: ${kind} operation ${view.id} failed: ${why}\n`);
    return 1;
  }
  const summary = (terminal.data.summary ?? {}) as JsonObject;
  if (kind === 'verify') {
    if (summary.ok === true) {
      await io.out(`ok ${base}: ${String(summary.checked)} events verified (seq ${String(summary.from_seq)}..${String(summary.to_seq)}) by operation ${view.id}\n`);
      return 0;
    }
    await io.out(`FAILED ${base}: first bad seq ${String(summary.first_bad_seq ?? '?')}: ${String(summary.reason ?? 'unknown reason')} (operation ${view.id})\n`);
    return 1;
  }
  await downloadExport(daemon, view.id, io.out);
  io.err.write(`export: ${String(summary.events)} events, sha256 ${String(summary.sha256)} (recorded by operation ${view.id})\n`);
  return 0;
}

/**
 * Takes `--http URL` (or `--http=URL`) out of a command's arguments: the address of a live
 * daemon, or undefined for the offline command.
 */
export function takeHttpFlag(argv: string[]): { address: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let address: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--http') {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new SpineError('CONFIG_INVALID', '--http needs the address of a running daemon, e.g. --http 127.0.0.1:8080', { field: 'http' });
      address = v;
      i += 1;
    } else if (a.startsWith('--http=')) {
      address = a.slice('--http='.length);
    } else {
      rest.push(a);
    }
  }
  return { address, rest };
}
