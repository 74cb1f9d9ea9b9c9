/**
 * Every process and temporary directory the bench creates is registered here, so that
 * they are killed (by process group id) and removed on every way out: a normal end, an
 * exception, SIGINT/SIGTERM/SIGHUP. Servers are started as the leaders of their own
 * process group (`detached`), so a kill also reaches their workers (PostgreSQL backends).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let installed = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Synchronous last-resort cleanup: SIGKILL every child's group, remove every temp dir. */
export function cleanupNow(): void {
  for (const c of children) killGroup(c, 'SIGKILL');
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping every server it started\n`);
      cleanupNow();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: uncaught ${err.stack ?? String(err)}\n`);
    cleanupNow();
    process.exit(1);
  });
}

/** Linux's clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS_PER_S = 100;

/**
 * CPU time (user + system, ms) used so far by every live process the tracked children
 * started: the servers under test with all their threads and workers (PostgreSQL backends
 * too, which leave the process group). Taken before and after a measured loop, it gives
 * the server's CPU per event, which set against the clients' CPU per event compares
 * systems and builds even while the shared host's speed moves (Linux /proc only; 0
 * elsewhere).
 */
export function serverCpuMs(): number {
  const roots = new Set<number>();
  for (const c of children) if (c.pid !== undefined) roots.add(c.pid);
  const procs = new Map<number, { ppid: number; ticks: number }>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(pid), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited meanwhile
    }
  }
  const started = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = procs.get(p)?.ppid ?? 0, hops++) if (roots.has(p)) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, p] of procs) if (started(pid)) ticks += p.ticks;
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** Spawns a tracked child as the leader of a new process group. */
export function spawnTracked(cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  installHandlers();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // Do not let a full pipe stall the child: whoever wants the output attaches a reader
  // first; otherwise it is drained and dropped.
  setImmediate(() => {
    if (child.stdout !== null && child.stdout.listenerCount('data') === 0 && child.stdout.listenerCount('readable') === 0) child.stdout.resume();
    if (child.stderr !== null && child.stderr.listenerCount('data') === 0 && child.stderr.listenerCount('readable') === 0) child.stderr.resume();
  });
  return child;
}

/** Resolves with the exit code (or signal name) once the child has exited. */
export function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}

/**
 * Sends `signal` to the child's process group and waits for it to exit; after
 * `graceMs` it is SIGKILLed. Resolves with the exit code or signal.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<number | string | null> {
  const done = exited(child);
  killGroup(child, signal);
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([done, forced]);
  clearTimeout(timer);
  return done;
}

/** A tracked temporary directory (optionally owned by another user, for PostgreSQL). */
export function tempDir(prefix: string, owner?: { uid: number; gid: number }): string {
  installHandlers();
  const dir = mkdtempSync(join(tmpdir(), `es-bench-${prefix}-`));
  if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Retries `probe` until it resolves or `timeoutMs` passes (then rethrows its last error). */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs: number, child?: ChildProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what}: the process exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }
    try {
      return await probe();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Collects the last lines a child wrote (for error messages). */
export function tail(child: ChildProcess, lines = 20): () => string {
  const kept: string[] = [];
  const take = (chunk: Buffer): void => {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') kept.push(l);
    while (kept.length > lines) kept.shift();
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return () => kept.join('\n');
}

/** Bytes of every file under `dir` (0 if it is gone or unreadable). */
export function dirBytes(dir: string): number {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) {
      try {
        total += statSync(p).size;
      } catch {
        // vanished meanwhile
      }
    }
  }
  return total;
}
