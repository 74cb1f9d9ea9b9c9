/**
 * The daemon's own long jobs as operations (POST /api/operations): `verify` and `export`
 * run inside the daemon against the live store, reporting as any operation does:
 *
 *   started {total, unit}   progress {done, total, unit, percent}   done {summary} | error {message, code}
 *
 * Both cover the events up to the head when they start (before their own `started` step).
 * `progress` is recorded at most about twice a second (and at the end). An export is
 * written to `<exportsDir>/<operation id>.jsonl`;
 * its `done` summary holds the file's SHA-256, so the digest of every export is itself in
 * the hash chain. `reindex` needs the store to itself and runs offline only.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SpineError, wrapIoError } from '../../errors';
import type { JsonObject } from '../../event';
import type { OperationContext, Operations, StartedOperation } from '../operations';
import type { OperationActor, OperationKind } from '../types';
import { exportWithProgress } from './export';
import { verifyWithProgress } from './verify';

/** Kinds that POST /api/operations starts. */
export const DAEMON_JOB_KINDS = ['verify', 'export'] as const;
export type DaemonJobKind = (typeof DAEMON_JOB_KINDS)[number];

export interface DaemonJobSettings {
  /** Where export files are written (`<dataDir>/exports`). */
  exportsDir: string;
}

const PROGRESS_INTERVAL_MS = 500;

/** The file an export operation writes. */
export function exportFile(settings: DaemonJobSettings, operationId: string): string {
  return join(settings.exportsDir, `${operationId}.jsonl`);
}

/** Checks a job kind; INVALID_REQUEST naming `kind` for anything that cannot run in the daemon. */
export function checkJobKind(kind: unknown): DaemonJobKind {
  if (kind === 'reindex') {
    throw new SpineError('INVALID_REQUEST', 'kind: reindex needs the store to itself, so it cannot run in a live daemon; stop the daemon, then run `event-spine reindex --data-dir DIR`', { field: 'kind' });
  }
  if (typeof kind !== 'string' || !(DAEMON_JOB_KINDS as readonly string[]).includes(kind)) {
    throw new SpineError('INVALID_REQUEST', `kind: must be one of ${DAEMON_JOB_KINDS.join(', ')} (batch_auto_setup has its own endpoint)`, { field: 'kind' });
  }
  return kind as DaemonJobKind;
}

/** Starts a verify or export operation; resolves once its `started` step is stored. */
export function startDaemonJob(
  ops: Operations,
  kind: DaemonJobKind,
  actor: OperationActor,
  settings: DaemonJobSettings,
  headSeq: number,
  organizations?: readonly string[],
): Promise<StartedOperation> {
  const first = { step: 'started', data: { total: headSeq, unit: 'events' } };
  // The job covers the events up to the head before its own first step.
  const run = kind === 'verify' ? (ctx: OperationContext) => runVerify(ctx, headSeq, organizations) : (ctx: OperationContext) => runExport(ctx, settings, headSeq);
  return ops.start(kind satisfies OperationKind, actor, first, run);
}

/** A progress callback that records `progress` steps, throttled, and stops on shutdown. */
function progressSteps(ctx: OperationContext): (done: number, total: number) => Promise<void> {
  let lastMs = Date.now();
  return async (done, total) => {
    ctx.checkpoint();
    const now = Date.now();
    if (done < total && now - lastMs < PROGRESS_INTERVAL_MS) return;
    if (done === 0 && total > 0) return; // `started` said as much
    lastMs = now;
    await ctx.step('progress', { done, total, unit: 'events', percent: total === 0 ? 100 : Math.floor((100 * done) / total) });
  };
}

/** `organizations`: the whole chain is verified, `checked` counts only their events. */
async function runVerify(ctx: OperationContext, toSeq: number, organizations: readonly string[] | undefined): Promise<JsonObject> {
  const r = await verifyWithProgress(ctx.store, progressSteps(ctx), { checkIndex: true, toSeq, ...(organizations === undefined ? {} : { organizations }) });
  const summary: JsonObject = { ok: r.ok, checked: r.checked, from_seq: r.from_seq, to_seq: r.to_seq };
  if (r.first_bad_seq !== undefined) summary.first_bad_seq = r.first_bad_seq;
  if (r.reason !== undefined) summary.reason = r.reason;
  return summary;
}

async function runExport(ctx: OperationContext, settings: DaemonJobSettings, toSeq: number): Promise<JsonObject> {
  const file = exportFile(settings, ctx.id);
  const partial = `${file}.partial`;
  try {
    await mkdir(settings.exportsDir, { recursive: true });
  } catch (err) {
    throw wrapIoError(err, `creating ${settings.exportsDir}`);
  }
  const out = createWriteStream(partial, { flags: 'wx' });
  const opened = new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
  const hash = createHash('sha256');
  try {
    await opened;
    const write = (chunk: string): Promise<boolean> =>
      new Promise((resolve, reject) => {
        hash.update(chunk, 'utf8');
        out.write(chunk, (err) => (err ? reject(wrapIoError(err, `writing ${partial}`)) : resolve(true)));
      });
    const r = await exportWithProgress(ctx.store, write, progressSteps(ctx), toSeq);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(wrapIoError(err, `closing ${partial}`)) : resolve())));
    await rename(partial, file);
    return { events: r.events, bytes: r.bytes, to_seq: r.to_seq, sha256: hash.digest('hex'), file: `exports/${ctx.id}.jsonl` };
  } catch (err) {
    out.destroy();
    await rm(partial, { force: true }).catch(() => undefined);
    throw isIo(err) ? wrapIoError(err, `exporting to ${file}`) : err;
  }
}

function isIo(err: unknown): boolean {
  return typeof (err as NodeJS.ErrnoException | undefined)?.code === 'string' && !(err instanceof SpineError);
}
