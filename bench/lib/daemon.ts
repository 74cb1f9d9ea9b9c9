/**
 * The event-spine daemon as the bench runs it: `event-spine serve` in a child process on
 * 127.0.0.1, ports picked by the daemon (port 0), fsync durability; ready once it prints
 * its `ready` line. Also stops it (SIGTERM, graceful) or kills it (SIGKILL).
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../src/paths';
import { exited, spawnTracked, stopChild, tail } from './children';

export interface Daemon {
  proc: ChildProcess;
  grpc: string;
  http: string;
  dataDir: string;
  /** From spawn to the ready line (includes Node's own start-up). */
  readyMs: number;
  /** Warnings the daemon logged (recovery notices: torn tail cut, index caught up). */
  notices: Record<string, unknown>[];
}

export interface DaemonOptions {
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir', DIR]. */
  nodeFlags?: string[];
  durability?: 'fsync' | 'write';
  timeoutMs?: number;
  /** Told the pid of every daemon started (e.g. to label its CPU profile). */
  onStart?: (pid: number) => void;
}

export async function startDaemon(dataDir: string, options: DaemonOptions = {}): Promise<Daemon> {
  const bin = join(packageRoot(), 'bin', 'event-spine.js');
  const args = [...(options.nodeFlags ?? []), bin, 'serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--durability', options.durability ?? 'fsync'];
  const t0 = performance.now();
  const proc = spawnTracked(process.execPath, args);
  if (proc.pid !== undefined) options.onStart?.(proc.pid);
  const lastLines = tail(proc, 30);
  const notices: Record<string, unknown>[] = [];
  const timeoutMs = options.timeoutMs ?? 600_000;
  const ready = await new Promise<{ grpc: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`event-spine daemon not ready within ${timeoutMs} ms:\n${lastLines()}`)), timeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`event-spine daemon exited (${code ?? signal}) before it was ready:\n${lastLines()}`));
    });
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.level === 'warn' || msg.level === 'error') notices.push(msg);
      if (msg.msg === 'ready' && typeof msg.grpc === 'string' && typeof msg.http === 'string') {
        clearTimeout(timer);
        resolve({ grpc: msg.grpc, http: msg.http });
      }
    });
  });
  proc.removeAllListeners('exit');
  return { proc, grpc: ready.grpc, http: ready.http, dataDir, readyMs: performance.now() - t0, notices };
}

/** Graceful stop (SIGTERM: in-flight appends finished, store closed); resolves with the exit code. */
export function stopDaemon(d: Daemon): Promise<number | string | null> {
  return stopChild(d.proc, 'SIGTERM', 60_000);
}

/** A crash: SIGKILL, nothing flushed or closed. */
export async function killDaemon(d: Daemon): Promise<void> {
  const done = exited(d.proc);
  if (d.proc.pid !== undefined) process.kill(d.proc.pid, 'SIGKILL');
  await done;
}
