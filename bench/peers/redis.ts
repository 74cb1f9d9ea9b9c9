/**
 * Redis Streams peer: `redis-server` (Debian package) started by the bench on 127.0.0.1,
 * AOF on with `appendfsync always`, RDB snapshots off, data in a temporary directory.
 *
 * Events are XADDed to one stream (`spine`, field `e` = the event as JSON). W1/W2 use
 * plain XADD (Redis at its fastest). The W3 stores also keep a per-entity index for
 * entity history: a Lua script does XADD and RPUSHes the new entry id to
 * `ent:<entity_type>:<entity_id>`, atomically; the time range uses the stream ids, which
 * are the insertion time in milliseconds.
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { ioredis } from '../lib/ioredis';
import { dirBytes, freePort, removeTempDir, spawnTracked, stopChild, tail, tempDir, waitFor } from '../lib/children';
import { eventJson, flatten, w3Event, type BenchEvent } from '../lib/events';
import { fillConcurrently } from '../lib/measure';
import type { BatchAppender, RunningSystem, SingleEmitter, System, SystemInfo } from './system';

const STREAM = 'spine';
const XADD_INDEXED = `local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
redis.call('RPUSH', KEYS[2], id)
return id`;

type Indexed = Redis & { xaddIndexed(stream: string, entityKey: string, json: string): Promise<string> };

function connect(port: number): Indexed {
  // No ready check: ioredis would poll INFO once a second while the AOF loads, hiding the
  // real load time; the probe in boot() asks XLEN, which answers LOADING until then.
  const r = new (ioredis().Redis)({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: true, enableReadyCheck: false, retryStrategy: () => null }) as Indexed;
  r.defineCommand('xaddIndexed', { numberOfKeys: 2, lua: XADD_INDEXED });
  r.on('error', () => undefined); // reported through the commands that fail
  return r;
}

function entityKey(ev: BenchEvent): string {
  const f = flatten(ev);
  return `ent:${f.entity_type}:${f.entity_id}`;
}

class RunningRedis implements RunningSystem {
  private proc!: ChildProcess;
  private admin!: Indexed;
  readonly clients = new Set<Redis>();

  constructor(
    readonly info: SystemInfo,
    private readonly dir: string,
    private readonly port: number,
  ) {}

  async boot(): Promise<number> {
    const t0 = performance.now();
    this.proc = spawnTracked('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
      '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
      '--daemonize', 'no', '--logfile', '', '--aof-load-truncated', 'yes',
    ]);
    const lastLines = tail(this.proc);
    this.admin = connect(this.port);
    // XLEN answers only once the AOF is loaded (before that: LOADING).
    await waitFor(`redis-server on ${this.port}`, async () => {
      if (this.admin.status !== 'ready') {
        this.admin.disconnect();
        this.admin = connect(this.port);
        await this.admin.connect();
      }
      return this.admin.xlen(STREAM);
    }, 600_000, this.proc).catch((err: Error) => {
      throw new Error(`${err.message}\n${lastLines()}`);
    });
    return performance.now() - t0;
  }

  private client(): Indexed {
    const c = connect(this.port);
    this.clients.add(c);
    return c;
  }


  async batchAppender(): Promise<BatchAppender> {
    const c = this.client();
    await c.connect();
    return {
      send: async (events) => {
        const p = c.pipeline();
        for (const ev of events) p.xadd(STREAM, '*', 'e', eventJson(ev));
        const res = await p.exec();
        for (const [err] of res ?? []) if (err) throw err;
      },
      close: async () => {
        c.disconnect();
        this.clients.delete(c);
      },
    };
  }

  async singleEmitter(): Promise<SingleEmitter> {
    const c = this.client();
    await c.connect();
    return {
      emit: async (ev) => void (await c.xadd(STREAM, '*', 'e', eventJson(ev))),
      close: async () => {
        c.disconnect();
        this.clients.delete(c);
      },
    };
  }

  /** For the W3 stores: XADD + RPUSH of the entry id to the entity's list, in one Lua call. */
  async indexedWriters(n: number): Promise<Indexed[]> {
    const cs = Array.from({ length: n }, () => this.client());
    await Promise.all(cs.map((c) => c.connect()));
    return cs;
  }

  entityHistory: RunningSystem['entityHistory'] = async ({ entityType, entityId, limit }) => {
    const ids = await this.admin.lrange(`ent:${entityType}:${entityId}`, -limit, -1);
    const p = this.admin.pipeline();
    for (const id of ids) p.xrange(STREAM, id, id);
    let n = 0;
    for (const [err, rows] of (await p.exec()) ?? []) {
      if (err) throw err;
      for (const [, fields] of rows as [string, string[]][]) {
        JSON.parse(fields[1] as string);
        n++;
      }
    }
    return n;
  };
  entityHistoryNote = 'LRANGE of the entity list (kept by the Lua script at write time) + pipelined XRANGE id id: 2 round trips';

  timeRange: RunningSystem['timeRange'] = async ({ sinceMs, untilMs, limit }) => {
    const rows = (await this.admin.xrange(STREAM, String(sinceMs), String(untilMs - 1), 'COUNT', limit)) as [string, string[]][];
    for (const [, fields] of rows) JSON.parse(fields[1] as string);
    return rows.length;
  };
  timeRangeNote = 'XRANGE by stream id (= insertion time in ms), COUNT 100';

  async catchUp(expected: number): Promise<number> {
    let n = 0;
    let from = '-';
    while (n < expected) {
      const rows = (await this.admin.xrange(STREAM, from, '+', 'COUNT', 1000)) as [string, string[]][];
      if (rows.length === 0) break;
      for (const [, fields] of rows) JSON.parse(fields[1] as string);
      n += rows.length;
      from = `(${(rows[rows.length - 1] as [string, string[]])[0]}`;
    }
    return n;
  }
  catchUpNote = 'XRANGE pages of 1000 from the start (JSON parsed)';

  get fanoutTarget(): string {
    return `127.0.0.1:${this.port}`;
  }
  fanoutNote = 'XREAD BLOCK COUNT 1000 per subscriber (own connection)';

  async restart(kind: 'clean' | 'kill'): Promise<{ ready_ms: number; note?: string }> {
    const before = await this.admin.xlen(STREAM);
    this.disconnectAll();
    // SIGTERM: Redis fsyncs the AOF and exits; SIGKILL: a crash.
    await stopChild(this.proc, kind === 'clean' ? 'SIGTERM' : 'SIGKILL', 120_000);
    const ready = await this.boot();
    const after = await this.admin.xlen(STREAM);
    return { ready_ms: ready, note: `loads the whole AOF into memory (${after} entries${after === before ? '' : `, ${before} before`})` };
  }

  diskBytes(): number {
    return dirBytes(this.dir);
  }

  private disconnectAll(): void {
    for (const c of this.clients) c.disconnect();
    this.clients.clear();
    this.admin.disconnect();
  }

  async stop(): Promise<void> {
    this.disconnectAll();
    await stopChild(this.proc, 'SIGTERM', 60_000);
    removeTempDir(this.dir);
  }
}

export class RedisSystem implements System {
  batchVariants(): string[] {
    return ['pipelined XADD'];
  }

  readonly name = 'redis' as const;

  unavailable(): string | undefined {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'pipe' });
      return undefined;
    } catch {
      return 'redis-server is not installed (bench/peers/install.sh)';
    }
  }

  version(): string {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    return `Redis ${/v=([\d.]+)/.exec(out)?.[1] ?? out.trim()}`;
  }

  info(): SystemInfo {
    return {
      name: 'redis',
      label: `${this.version()} Streams`,
      version: this.version(),
      durability:
        'AOF with appendfsync always: the AOF is written and fsynced in the event loop before the replies of that iteration are sent (one fsync covers every client served in it), so a reply means on disk',
      lacks:
        'no hash chain (nothing detects an edited or deleted entry; XDEL/XTRIM/DEL are ordinary commands); no secondary index (the per-entity list here is the bench’s own Lua script); no idempotency key (a retried XADD * stores a second entry); the whole data set lives in RAM and restart replays the AOF',
      method: {
        W1: 'one connection per producer, pipeline of 100 XADD, awaited',
        W2: 'one shared connection, XADD per event, awaited',
        W3: 'entity list (LRANGE) + pipelined XRANGE; time range via XRANGE on stream ids',
        W4: 'XRANGE pages (catch-up)',
        W5: 'redis-server start → XLEN answers (AOF loaded), after SIGTERM and after SIGKILL',
      },
    };
  }

  async start(): Promise<RunningRedis> {
    const r = new RunningRedis(this.info(), tempDir('redis'), await freePort());
    await r.boot();
    return r;
  }

  async startFilled(total: number, log: (msg: string) => void): Promise<{ running: RunningRedis; fill_s: number; first_ms: number; last_ms: number }> {
    const running = await this.start();
    const writers = await running.indexedWriters(4);
    const fill = await fillConcurrently(
      total, 1000, 4, (i) => w3Event(i, total),
      async (w, events) => {
        const c = writers[w] as Indexed;
        const p = c.pipeline() as unknown as { xaddIndexed(s: string, k: string, j: string): void; exec(): Promise<[Error | null, unknown][] | null> };
        for (const ev of events) p.xaddIndexed(STREAM, entityKey(ev), eventJson(ev));
        for (const [err] of (await p.exec()) ?? []) if (err) throw err;
      },
      (d) => log(`redis fill ${d}/${total}`),
    );
    for (const c of writers) {
      c.disconnect();
      running.clients.delete(c);
    }
    return { running, ...fill };
  }
}
