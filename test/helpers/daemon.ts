/**
 * Runs the real daemon in a child process for a test: `event-spine serve` on free ports
 * (port 0) with its own data directory, resolved once it logs its "ready" line; stopped on
 * teardown. Needs the compiled daemon (dist/, built by `tsc` before the tests run).
 *
 *   const d = await startDaemon(t);               // d.grpcAddress, d.httpAddress
 *   const code = await d.stop();                  // SIGTERM, resolves with the exit code
 *   const again = await startDaemon(t, { dataDir: d.dataDir });   // restart on the same store
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Test } from 'tap';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const BIN = join(REPO_ROOT, 'bin', 'event-spine.js');
const READY_TIMEOUT_MS = 20_000;

export interface DaemonOptions {
  /** An existing data directory (to restart on a store); a fresh temporary one by default. */
  dataDir?: string;
  /** More `serve` flags, after --data-dir, --grpc-port 0 and --http-port 0 (later flags win). */
  args?: string[];
  /** Environment variables for the daemon (EVENT_SPINE_* of the test runner's are not inherited). */
  env?: Record<string, string>;
}

export interface DaemonHandle {
  /** `127.0.0.1:PORT` of the gRPC server. */
  grpcAddress: string;
  /** `127.0.0.1:PORT` of the HTTP server. */
  httpAddress: string;
  dataDir: string;
  proc: ChildProcess;
  /** The "ready" log record. */
  ready: Record<string, unknown>;
  /** Every log record written so far (JSON lines of standard output). */
  logs: Record<string, unknown>[];
  /** Standard error so far. */
  stderr(): string;
  /** Sends `signal` and resolves with the exit code (128 + the signal number if killed by one). */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0));
}

/** The environment of the runner without its EVENT_SPINE_* settings, plus `env`. */
export function daemonEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EVENT_SPINE_')) out[k] = v;
  return { ...out, ...env };
}

export async function startDaemon(t: Test, options: DaemonOptions = {}): Promise<DaemonHandle> {
  const fresh = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'event-spine-test-'));
  const proc = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--grpc-port', '0', '--http-port', '0', ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: daemonEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let stdoutRest = '';
  const exited = new Promise<number>((resolveExit) => proc.once('exit', (code, signal) => resolveExit(exitCode(code, signal))));
  let running = true;
  void exited.then(() => (running = false));

  t.teardown(async () => {
    if (running) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (fresh) rmSync(dataDir, { recursive: true, force: true });
  });

  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the daemon did not log "ready" within ${READY_TIMEOUT_MS} ms\nstderr: ${stderr}\nstdout: ${JSON.stringify(logs.slice(-5))}`));
    }, READY_TIMEOUT_MS);
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (stdoutRest + chunk).split('\n');
      stdoutRest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          record = { level: 'raw', msg: line };
        }
        logs.push(record);
        if (record.msg === 'ready') {
          clearTimeout(timer);
          resolveReady(record);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the daemon exited with code ${code} before it was ready\nstderr: ${stderr}\nstdout: ${JSON.stringify(logs.slice(-5))}`));
    });
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number> => {
    if (running) proc.kill(signal);
    return exited;
  };
  const kill = async (): Promise<void> => {
    if (running) proc.kill('SIGKILL');
    await exited;
  };

  return {
    grpcAddress: String(ready.grpc),
    httpAddress: String(ready.http),
    dataDir,
    proc,
    ready,
    logs,
    stderr: () => stderr,
    stop,
    kill,
  };
}
