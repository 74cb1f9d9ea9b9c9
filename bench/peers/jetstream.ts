/**
 * NATS JetStream peer: `nats-server -js` (Debian package) started by the bench on
 * 127.0.0.1 and a free port, store directory in a temporary directory, one file-storage
 * stream `SPINE` on `spine.>`, one replica.
 *
 * Each event is published to `spine.<domain>.<entity_type>.<entity_id>`, so that the
 * stream's per-subject state can find an entity's messages (a consumer filtered on the
 * subject); the time range uses a consumer starting at a time (deliver_policy
 * by_start_time). Publishes carry no Nats-Msg-Id (no deduplication, JetStream's fastest).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { StorageType, connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { dirBytes, freePort, removeTempDir, spawnTracked, stopChild, tail, tempDir, waitFor } from '../lib/children';
import { eventJson, flatten, w3Event, type BenchEvent } from '../lib/events';
import { fillConcurrently } from '../lib/measure';
import type { BatchAppender, RunningSystem, SingleEmitter, System, SystemInfo } from './system';

const STREAM = 'SPINE';
const enc = new TextEncoder();

function subjectOf(ev: BenchEvent): string {
  const f = flatten(ev);
  return `spine.${f.domain}.${f.entity_type}.${f.entity_id}`;
}

class RunningJetStream implements RunningSystem {
  private proc!: ChildProcess;
  private admin!: NatsConnection;
  private jsm!: JetStreamManager;
  private js!: JetStreamClient;
  private readonly conns = new Set<NatsConnection>();

  constructor(
    readonly info: SystemInfo,
    private readonly dir: string,
    private readonly port: number,
  ) {}

  private connect(): Promise<NatsConnection> {
    return connect({ servers: `127.0.0.1:${this.port}`, reconnect: false, timeout: 5_000 });
  }

  async boot(create: boolean): Promise<number> {
    const t0 = performance.now();
    this.proc = spawnTracked('nats-server', ['-js', '-sd', this.dir, '-a', '127.0.0.1', '-p', String(this.port)]);
    const lastLines = tail(this.proc);
    // Ready: the stream answers (after a restart, once JetStream has recovered it).
    await waitFor(`nats-server on ${this.port}`, async () => {
      const nc = await this.connect();
      try {
        const jsm = await nc.jetstreamManager({ timeout: 5_000 });
        if (create) await jsm.streams.add({ name: STREAM, subjects: ['spine.>'], storage: StorageType.File, num_replicas: 1 });
        await jsm.streams.info(STREAM);
        this.admin = nc;
        this.jsm = jsm;
        this.js = nc.jetstream({ timeout: 30_000 });
      } catch (err) {
        await nc.close().catch(() => undefined);
        throw err;
      }
    }, 600_000, this.proc).catch((err: Error) => {
      throw new Error(`${err.message}\n${lastLines()}`);
    });
    return performance.now() - t0;
  }

  private async conn(): Promise<NatsConnection> {
    const nc = await this.connect();
    this.conns.add(nc);
    return nc;
  }


  async batchAppender(): Promise<BatchAppender> {
    const nc = await this.conn();
    const js = nc.jetstream({ timeout: 30_000 });
    return {
      send: async (events) => void (await Promise.all(events.map((ev) => js.publish(subjectOf(ev), enc.encode(eventJson(ev)))))),
      close: async () => {
        this.conns.delete(nc);
        await nc.close();
      },
    };
  }

  async singleEmitter(): Promise<SingleEmitter> {
    const nc = await this.conn();
    const js = nc.jetstream({ timeout: 30_000 });
    return {
      emit: async (ev) => void (await js.publish(subjectOf(ev), enc.encode(eventJson(ev)))),
      close: async () => {
        this.conns.delete(nc);
        await nc.close();
      },
    };
  }

  async fill(total: number, log: (msg: string) => void): Promise<{ fill_s: number; first_ms: number; last_ms: number }> {
    const ncs = await Promise.all(Array.from({ length: 4 }, () => this.conn()));
    const jss = ncs.map((nc) => nc.jetstream({ timeout: 60_000 }));
    const fill = await fillConcurrently(total, 1000, 4, (i) => w3Event(i, total), async (w, events) => {
      const js = jss[w] as JetStreamClient;
      await Promise.all(events.map((ev) => js.publish(subjectOf(ev), enc.encode(eventJson(ev)))));
    }, (d) => log(`jetstream fill ${d}/${total}`));
    for (const nc of ncs) {
      this.conns.delete(nc);
      await nc.close();
    }
    return fill;
  }

  /** A consumer made for one query, its first `limit` messages fetched, then deleted. */
  private async fetch(opts: { filterSubjects?: string; opt_start_time?: string }, limit: number, accept: (tsMs: number) => boolean): Promise<number> {
    const consumer = await this.js.consumers.get(STREAM, opts);
    let n = 0;
    try {
      const msgs = await consumer.fetch({ max_messages: limit, expires: 2_000 });
      for await (const m of msgs) {
        if (!accept(m.info.timestampNanos / 1e6)) {
          msgs.stop();
          break;
        }
        JSON.parse(m.string());
        // pending 0: nothing more matches now (do not wait for the fetch to expire).
        if (++n >= limit || m.info.pending === 0) {
          msgs.stop();
          break;
        }
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return n;
  }

  entityHistory: RunningSystem['entityHistory'] = ({ entityType, entityId, limit }) =>
    this.fetch({ filterSubjects: `spine.hcm.${entityType}.${entityId}` }, limit, () => true);
  entityHistoryNote =
    'an ordered consumer filtered on the entity subject (the bench puts the entity in the subject), fetch 100; it returns the entity’s first 100 (equal to its last 100 here): JetStream 2.9 has no “newest first”';

  timeRange: RunningSystem['timeRange'] = ({ sinceMs, untilMs, limit }) =>
    this.fetch({ opt_start_time: new Date(sinceMs).toISOString() }, limit, (ts) => ts < untilMs);
  timeRangeNote = 'an ordered consumer with deliver_policy by_start_time, fetch 100';

  async catchUp(expected: number): Promise<number> {
    // An ordered consumer starts at sequence 1 unless told otherwise.
    const consumer = await this.js.consumers.get(STREAM, {});
    let n = 0;
    try {
      const msgs = await consumer.consume({ max_messages: 1000 });
      for await (const m of msgs) {
        JSON.parse(m.string());
        if (++n >= expected) {
          msgs.stop();
          break;
        }
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return n;
  }
  catchUpNote = 'an ordered consumer from the start (JSON parsed)';

  get fanoutTarget(): string {
    return `127.0.0.1:${this.port}`;
  }
  fanoutNote = 'an ordered consumer (deliver new) per subscriber, own connection';

  async restart(kind: 'clean' | 'kill'): Promise<{ ready_ms: number; note?: string }> {
    const before = (await this.jsm.streams.info(STREAM)).state.messages;
    await this.closeAll();
    await stopChild(this.proc, kind === 'clean' ? 'SIGTERM' : 'SIGKILL', 120_000);
    const ready = await this.boot(false);
    const after = (await this.jsm.streams.info(STREAM)).state.messages;
    return { ready_ms: ready, note: `${after} messages after restart${after === before ? '' : ` (${before} before)`}` };
  }

  diskBytes(): number {
    return dirBytes(this.dir);
  }

  private async closeAll(): Promise<void> {
    for (const nc of this.conns) await nc.close().catch(() => undefined);
    this.conns.clear();
    await this.admin.close().catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.closeAll();
    await stopChild(this.proc, 'SIGTERM', 60_000);
    removeTempDir(this.dir);
  }
}

export class JetStreamSystem implements System {
  batchVariants(): string[] {
    return ['publish, 100 acks in flight'];
  }

  readonly name = 'jetstream' as const;

  unavailable(): string | undefined {
    try {
      execFileSync('nats-server', ['--version'], { stdio: 'pipe' });
      return undefined;
    } catch {
      return 'nats-server is not installed (bench/peers/install.sh)';
    }
  }

  version(): string {
    const out = execFileSync('nats-server', ['--version'], { encoding: 'utf8' });
    return `NATS server ${/v([\d.]+)/.exec(out)?.[1] ?? out.trim()}`;
  }

  info(): SystemInfo {
    const v = this.version();
    return {
      name: 'jetstream',
      label: `${v} JetStream (file)`,
      version: v,
      durability:
        'file storage, no per-acknowledgement fsync: the PubAck is sent once the message is written to the block file (OS page cache); in 2.9 the file store fsyncs on a background timer (2 minutes by default) and there is no sync-always option (sync_interval/always arrived in 2.10). Survives a crash of the server process, not power loss or a kernel crash',
      lacks:
        'no hash chain; no secondary index (entity history works here only because the bench encodes the entity in the subject, and a filtered consumer walks the stream blocks; no query by actor, type or org without more subjects); no time index (by_start_time); idempotency only within the 2-minute duplicate window and only with Nats-Msg-Id (not sent here); each query creates and deletes a consumer',
      method: {
        W1: 'one connection per producer, 100 publishes in flight, all PubAcks awaited',
        W2: 'one shared connection, publish per event, PubAck awaited',
        W3: 'ordered consumer per query: filtered on the entity subject / starting at a time; fetch 100',
        W4: 'ordered consumer from the start (catch-up)',
        W5: 'nats-server start → stream info answers, after SIGTERM and after SIGKILL',
      },
    };
  }

  async start(): Promise<RunningJetStream> {
    const r = new RunningJetStream(this.info(), tempDir('nats'), await freePort());
    await r.boot(true);
    return r;
  }

  async startFilled(total: number, log: (msg: string) => void): Promise<{ running: RunningJetStream; fill_s: number; first_ms: number; last_ms: number }> {
    const running = await this.start();
    return { running, ...(await running.fill(total, log)) };
  }
}

