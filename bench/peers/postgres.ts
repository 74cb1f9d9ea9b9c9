/**
 * PostgreSQL 15 peer: a cluster made by `initdb` in a temporary directory and run by the
 * bench as its own `postgres` process (as a non-root user: PostgreSQL refuses root), on
 * 127.0.0.1 and a free port, with synchronous_commit=on and fsync=on (the defaults, set
 * explicitly). One table with the spine's fields, a bigserial seq, and the two indexes
 * the W3 queries need: (entity_type, entity_id, seq) and (timestamp, seq).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import { dirBytes, freePort, removeTempDir, spawnTracked, stopChild, tail, tempDir, waitFor } from '../lib/children';
import { flatten, w3Event, type BenchEvent } from '../lib/events';
import { fillConcurrently } from '../lib/measure';
import type { BatchAppender, RunningSystem, SingleEmitter, System, SystemInfo } from './system';

const BIN = '/usr/lib/postgresql/15/bin';
const COLUMNS = ['event_type', 'domain', 'entity_type', 'action', 'entity_id', 'entity_name', 'actor_id', 'actor_type', 'organization_id', 'environment', 'severity', 'payload'] as const;

const SCHEMA = `
CREATE TABLE events (
  seq             bigserial PRIMARY KEY,
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  event_type      text NOT NULL,
  domain          text NOT NULL,
  entity_type     text NOT NULL,
  action          text NOT NULL,
  entity_id       text NOT NULL,
  entity_name     text,
  actor_id        text NOT NULL,
  actor_type      text NOT NULL,
  organization_id text NOT NULL,
  environment     text NOT NULL,
  "timestamp"     timestamptz NOT NULL DEFAULT now(),
  severity        text NOT NULL,
  payload         jsonb NOT NULL
);
CREATE INDEX events_entity ON events (entity_type, entity_id, seq);
CREATE INDEX events_time ON events ("timestamp", seq);
`;

function insertSql(rows: number): string {
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(',')})`);
  return `INSERT INTO events (${COLUMNS.join(',')}) VALUES ${values.join(',')}`;
}

function params(events: BenchEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const ev of events) {
    const f = flatten(ev);
    for (const c of COLUMNS) out.push(c === 'payload' ? JSON.stringify(f.payload) : f[c]);
  }
  return out;
}

/** The user PostgreSQL runs as: `postgres` from the Debian package, else one made here. */
function pgUser(): { name: string; uid: number; gid: number } {
  for (const name of ['postgres', 'esbench']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { name, uid, gid };
    } catch {
      // try the next
    }
  }
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'esbench'], { stdio: 'pipe' });
  return pgUser();
}

class RunningPostgres implements RunningSystem {
  private proc!: ChildProcess;
  private admin!: Client;
  private readonly clients = new Set<Client | Pool>();

  constructor(
    readonly info: SystemInfo,
    private readonly dir: string,
    private readonly port: number,
    private readonly user: { uid: number; gid: number },
  ) {}

  private connection(): { host: string; port: number; user: string; database: string } {
    return { host: '127.0.0.1', port: this.port, user: 'bench', database: 'postgres' };
  }

  async boot(): Promise<number> {
    const t0 = performance.now();
    this.proc = spawnTracked(join(BIN, 'postgres'), [
      '-D', join(this.dir, 'data'), '-k', this.dir, '-p', String(this.port),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'synchronous_commit=on', '-c', 'fsync=on',
      '-c', 'max_connections=200', '-c', 'log_min_messages=warning',
    ], { uid: this.user.uid, gid: this.user.gid, cwd: this.dir });
    const lastLines = tail(this.proc);
    this.admin = await waitFor(`postgres on ${this.port}`, async () => {
      const c = new Client(this.connection());
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.query('SELECT 1');
        return c;
      } catch (err) {
        await c.end().catch(() => undefined);
        throw err;
      }
    }, 600_000, this.proc).catch((err: Error) => {
      throw new Error(`${err.message}\n${lastLines()}`);
    });
    return performance.now() - t0;
  }

  async init(): Promise<void> {
    execFileSync(join(BIN, 'initdb'), ['-D', join(this.dir, 'data'), '-U', 'bench', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
      uid: this.user.uid, gid: this.user.gid, cwd: this.dir, stdio: 'pipe',
    });
    await this.boot();
    await this.admin.query(SCHEMA);
  }

  private async client(): Promise<Client> {
    const c = new Client(this.connection());
    c.on('error', () => undefined);
    await c.connect();
    this.clients.add(c);
    return c;
  }


  async batchAppender(): Promise<BatchAppender> {
    const c = await this.client();
    return {
      send: async (events) => void (await c.query({ name: `ins${events.length}`, text: insertSql(events.length), values: params(events) })),
      close: async () => {
        this.clients.delete(c);
        await c.end();
      },
    };
  }

  /** A pool with a connection per producer (64 producers: 64 backends), each INSERT its own transaction. */
  async singleEmitter(producers: number): Promise<SingleEmitter> {
    const pool = new Pool({ ...this.connection(), max: producers });
    pool.on('error', () => undefined);
    this.clients.add(pool);
    const sql = insertSql(1);
    await Promise.all(Array.from({ length: producers }, async () => (await pool.connect()).release()));
    return {
      emit: async (ev) => void (await pool.query({ name: 'ins1', text: sql, values: params([ev]) })),
      close: async () => {
        this.clients.delete(pool);
        await pool.end();
      },
    };
  }

  /** For the W3 stores: 1000-row INSERTs on `n` connections. */
  async fill(total: number, log: (msg: string) => void): Promise<{ fill_s: number; first_ms: number; last_ms: number }> {
    const cs = await Promise.all(Array.from({ length: 4 }, () => this.client()));
    const fill = await fillConcurrently(total, 1000, 4, (i) => w3Event(i, total), async (w, events) => {
      await (cs[w] as Client).query({ name: `ins${events.length}`, text: insertSql(events.length), values: params(events) });
    }, (d) => log(`postgres fill ${d}/${total}`));
    for (const c of cs) {
      this.clients.delete(c);
      await c.end();
    }
    // Planner statistics, as autovacuum would have them on a live system.
    await this.admin.query('VACUUM ANALYZE events');
    return fill;
  }

  entityHistory: RunningSystem['entityHistory'] = async ({ entityType, entityId, limit }) =>
    (await this.admin.query({ name: 'entity', text: 'SELECT * FROM events WHERE entity_type = $1 AND entity_id = $2 ORDER BY seq DESC LIMIT $3', values: [entityType, entityId, limit] })).rows.length;
  entityHistoryNote = 'SELECT … WHERE entity_type=$1 AND entity_id=$2 ORDER BY seq DESC LIMIT 100 (index (entity_type, entity_id, seq))';

  timeRange: RunningSystem['timeRange'] = async ({ sinceMs, untilMs, limit }) =>
    (await this.admin.query({ name: 'range', text: 'SELECT * FROM events WHERE "timestamp" >= $1 AND "timestamp" < $2 ORDER BY "timestamp", seq LIMIT $3', values: [new Date(sinceMs), new Date(untilMs), limit] })).rows.length;
  timeRangeNote = 'SELECT … WHERE timestamp in [since, until) ORDER BY timestamp, seq LIMIT 100 (index (timestamp, seq))';

  async catchUp(expected: number): Promise<number> {
    let n = 0;
    let after = 0;
    while (n < expected) {
      const { rows } = await this.admin.query({ name: 'page', text: 'SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT 1000', values: [after] });
      if (rows.length === 0) break;
      n += rows.length;
      after = Number((rows[rows.length - 1] as { seq: string }).seq);
    }
    return n;
  }
  catchUpNote = 'keyset pages of 1000 (WHERE seq > $1 ORDER BY seq)';

  readonly fanoutTarget = undefined;
  fanoutNote = 'no push subscription of stored rows (LISTEN/NOTIFY is neither stored nor replayable; polling would be a different workload): not measured';

  async restart(kind: 'clean' | 'kill'): Promise<{ ready_ms: number; note?: string }> {
    await this.disconnectAll();
    // SIGINT: "fast" shutdown with a checkpoint; SIGKILL to the whole process group: a crash,
    // recovered by WAL replay from the last checkpoint.
    await stopChild(this.proc, kind === 'clean' ? 'SIGINT' : 'SIGKILL', 120_000);
    const ready = await this.boot();
    return { ready_ms: ready, ...(kind === 'kill' ? { note: 'WAL replay from the last checkpoint' } : {}) };
  }

  diskBytes(): number {
    return dirBytes(this.dir);
  }

  private async disconnectAll(): Promise<void> {
    for (const c of this.clients) await c.end().catch(() => undefined);
    this.clients.clear();
    await this.admin.end().catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.disconnectAll();
    await stopChild(this.proc, 'SIGINT', 60_000);
    removeTempDir(this.dir);
  }
}

export class PostgresSystem implements System {
  batchVariants(): string[] {
    return ['100-row INSERT'];
  }

  readonly name = 'postgres' as const;

  unavailable(): string | undefined {
    return existsSync(join(BIN, 'postgres')) && existsSync(join(BIN, 'initdb')) ? undefined : `PostgreSQL 15 is not installed (${BIN}; bench/peers/install.sh)`;
  }

  version(): string {
    const out = execFileSync(join(BIN, 'postgres'), ['--version'], { encoding: 'utf8' });
    return `PostgreSQL ${/([\d.]+)/.exec(out)?.[1] ?? out.trim()}`;
  }

  info(): SystemInfo {
    return {
      name: 'postgres',
      label: this.version(),
      version: this.version(),
      durability: 'synchronous_commit=on, fsync=on: COMMIT returns once its WAL is flushed to disk (concurrent commits share a WAL flush)',
      lacks:
        'no hash chain (UPDATE/DELETE/TRUNCATE are ordinary statements; nothing detects an edit); seq (bigserial) has gaps after rollbacks and is assigned before commit, so readers can see seq 11 before seq 10 exists; no idempotency key (no unique index on id here — adding one costs a further index); no push subscription (LISTEN/NOTIFY is neither stored nor replayable)',
      method: {
        W1: 'one connection per producer, 100-row INSERT (prepared), autocommit',
        W2: 'a pool with one connection per producer, single-row INSERT per event',
        W3: 'SELECT with the (entity_type, entity_id, seq) and (timestamp, seq) indexes',
        W4: 'keyset SELECT pages (catch-up)',
        W5: 'postgres start → SELECT 1 answers, after SIGINT (fast shutdown) and after SIGKILL (WAL replay)',
      },
    };
  }

  async start(): Promise<RunningPostgres> {
    const user = pgUser();
    const r = new RunningPostgres(this.info(), tempDir('pg', user), await freePort(), user);
    await r.init();
    return r;
  }

  async startFilled(total: number, log: (msg: string) => void): Promise<{ running: RunningPostgres; fill_s: number; first_ms: number; last_ms: number }> {
    const running = await this.start();
    return { running, ...(await running.fill(total, log)) };
  }
}
