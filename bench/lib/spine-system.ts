/**
 * event-spine as a system of the comparison: its daemon (`event-spine serve`, a child
 * process, fsync durability) spoken to over gRPC by the typed client, exactly as a service
 * would. W1 can go either over the AppendStream RPC (one stream per producer, one
 * 100-event request in flight) or through the client's `append` (each call one atomic
 * request on the client's own AppendStream); W2 uses `emit()`.
 * W3 stores are filled in-process (Store.append, 1000-event batches) for speed, then
 * served by the daemon; the in-process query and open figures are measured on the way.
 */
import * as grpc from '@grpc/grpc-js';
import { EventSpineClient, type EmitEvent } from '../../src/client';
import { eventSpineServiceClient } from '../../src/client/proto';
import { encodeEvent, type WireEventInput } from '../../src/client/wire';
import { packageVersion } from '../../src/paths';
import { Store, type StoreOptions } from '../../src/store';
import type { BatchAppender, RunningSystem, SingleEmitter, System, SystemInfo } from '../peers/system';
import { dirBytes, removeTempDir, tempDir } from './children';
import { killDaemon, startDaemon, stopDaemon, type Daemon, type DaemonOptions } from './daemon';
import { w3Event, type BenchEvent } from './events';
import { fillConcurrently } from './measure';

export const SPINE_INFO: Omit<SystemInfo, 'version'> = {
  name: 'event-spine',
  label: 'event-spine (daemon, gRPC)',
  durability:
    'fsync: an append is acknowledged once its group commit is written and fsynced (fdatasync); concurrent appends share one write and one fsync; the index follows, and every read waits until it covers what was acknowledged before the read began',
  lacks: '— (the reference: hash chain over every event, index by id/entity/type/org/actor/time, idempotent ids, subscriptions with catch-up)',
  method: {
    W1: 'AppendStream (one stream per producer, one 100-event request in flight) or EventSpineClient.append (a client per producer; each call one atomic request on its AppendStream); the faster is reported',
    W2: 'EventSpineClient.emit() shared by the producers (the client gathers concurrent emits into AppendStream requests)',
    W3: 'Query RPC via the client (daemon); in-process Store.query also shown',
    W4: 'Subscribe RPC via the client (catch-up from seq 1; live fan-out)',
    W5: 'daemon start → ready line, after SIGTERM and after SIGKILL during appends; in-process Store.open also shown',
  },
};

export function storeOptions(dataDir: string): StoreOptions {
  return {
    dataDir,
    segmentBytes: 128 * 1024 * 1024,
    durability: 'fsync',
    defaultOrganizationId: 'default',
    defaultEnvironment: 'prod',
    maxPayloadBytes: 65536,
    maxBatchEvents: 10_000,
  };
}

const NO_DEFAULTS = {};

/** One AppendStream on its own channel: a request of many events, awaited. */
export class StreamAppender implements BatchAppender {
  private readonly client: grpc.Client & { AppendStream: (md: grpc.Metadata) => grpc.ClientDuplexStream<unknown, { request_id?: number; ok?: { results?: { seq?: number }[] }; error?: { code?: string; message?: string } }> };
  private readonly stream: ReturnType<StreamAppender['client']['AppendStream']>;
  private readonly waiting = new Map<number, { resolve: (maxSeq: number) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(address: string) {
    const Ctor = eventSpineServiceClient();
    // A channel of its own: producers are separate connections, as separate services would be.
    this.client = new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 64 << 20 }) as unknown as StreamAppender['client'];
    this.stream = this.client.AppendStream(new grpc.Metadata());
    this.stream.on('data', (res) => {
      const w = this.waiting.get(Number(res.request_id));
      if (w === undefined) return;
      this.waiting.delete(Number(res.request_id));
      if (res.error !== undefined || res.ok === undefined) w.reject(new Error(`AppendStream refused: ${res.error?.code}: ${res.error?.message}`));
      else w.resolve(Math.max(0, ...(res.ok.results ?? []).map((r: { seq?: number }) => Number(r.seq ?? 0))));
    });
    this.stream.on('error', (err: Error) => this.fail(err));
    this.stream.on('end', () => this.fail(new Error('AppendStream ended')));
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Resolves with the highest seq assigned. */
  sendWire(events: WireEventInput[]): Promise<number> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const request_id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(request_id, { resolve, reject });
      this.stream.write({ request_id, events });
    });
  }

  async send(events: BenchEvent[]): Promise<void> {
    await this.sendWire(events.map((e) => encodeEvent(e as unknown as EmitEvent, NO_DEFAULTS)));
  }

  async close(): Promise<void> {
    this.stream.end();
    await new Promise<void>((r) => {
      if (this.failed !== undefined) return r();
      this.stream.once('end', () => r());
      this.stream.once('error', () => r());
      setTimeout(r, 2000).unref();
    });
    this.client.close();
  }

  /** For crash tests: drop the stream without waiting. */
  abandon(): void {
    this.fail(new Error('abandoned'));
    this.stream.cancel();
    this.client.close();
  }
}

class ClientAppender implements BatchAppender {
  private readonly client: EventSpineClient;
  constructor(address: string) {
    this.client = new EventSpineClient({ address, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  }
  async send(events: BenchEvent[]): Promise<void> {
    await this.client.append(events as unknown as EmitEvent[]);
  }
  close(): Promise<void> {
    return this.client.close();
  }
}

export class RunningSpine implements RunningSystem {
  private client: EventSpineClient;

  constructor(
    readonly info: SystemInfo,
    private daemon: Daemon,
    private readonly daemonOptions: DaemonOptions,
  ) {
    this.client = new EventSpineClient({ address: daemon.grpc });
  }

  get address(): string {
    return this.daemon.grpc;
  }

  get dataDir(): string {
    return this.daemon.dataDir;
  }

  get readyMs(): number {
    return this.daemon.readyMs;
  }


  async batchAppender(variant = 'AppendStream'): Promise<BatchAppender> {
    if (variant === 'AppendStream') {
      const a = new StreamAppender(this.daemon.grpc);
      await a.sendWire([encodeEvent({ event_type: 'bench.warmup.started', entity_id: 'warmup', actor_id: 'bench' }, NO_DEFAULTS)]);
      return a;
    }
    const a = new ClientAppender(this.daemon.grpc);
    await a.send([{ event_type: 'bench.warmup.started', entity_id: 'warmup', actor_id: 'bench', payload: {} }]);
    return a;
  }

  async singleEmitter(): Promise<SingleEmitter> {
    const client = new EventSpineClient({ address: this.daemon.grpc });
    await client.emit({ event_type: 'bench.warmup.started', entity_id: 'warmup', actor_id: 'bench' });
    return {
      emit: async (ev) => void (await client.emit(ev as unknown as EmitEvent)),
      close: () => client.close(),
    };
  }

  entityHistory: RunningSystem['entityHistory'] = async ({ entityType, entityId, limit }) =>
    (await this.client.query({ entity_type: entityType, entity_id: entityId }, { order: 'desc', limit })).items.length;
  entityHistoryNote = 'Query RPC, entity index (entity_type, entity_id) → seq, newest first';

  timeRange: RunningSystem['timeRange'] = async ({ sinceMs, untilMs, limit }) =>
    (await this.client.query({ since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString() }, { order: 'asc', limit })).items.length;
  timeRangeNote = 'Query RPC, time index';

  async catchUp(expected: number): Promise<number> {
    let n = 0;
    for await (const ev of this.client.subscribe({}, { fromSeq: 1 })) {
      void ev;
      if (++n >= expected) break;
    }
    return n;
  }
  catchUpNote = 'Subscribe RPC from seq 1 via the client (events decoded, payload parsed)';

  get fanoutTarget(): string {
    return this.daemon.grpc;
  }
  fanoutNote = 'Subscribe RPC per subscriber (own connection), every event';

  async restart(kind: 'clean' | 'kill'): Promise<{ ready_ms: number; note?: string; detail?: string }> {
    await this.client.close();
    let acked = 0;
    if (kind === 'clean') {
      const code = await stopDaemon(this.daemon);
      if (code !== 0) throw new Error(`event-spine daemon exited with ${String(code)} on SIGTERM`);
    } else {
      // Kill it in the middle of appends: 4 streams keep 100-event requests in flight.
      const appenders = Array.from({ length: 4 }, () => new StreamAppender(this.daemon.grpc));
      let stop = false;
      const loops = appenders.map(async (a, p) => {
        for (let r = 0; !stop; r++) {
          const events = Array.from({ length: 100 }, (_, k) => encodeEvent(w3Event(10_000_000 + p * 1_000_000 + r * 100 + k, 100_000) as unknown as EmitEvent, NO_DEFAULTS));
          try {
            acked = Math.max(acked, await a.sendWire(events));
          } catch {
            return;
          }
        }
      });
      await new Promise((r) => setTimeout(r, 1500));
      await killDaemon(this.daemon);
      stop = true;
      for (const a of appenders) a.abandon();
      await Promise.all(loops);
    }
    this.daemon = await startDaemon(this.daemon.dataDir, this.daemonOptions);
    this.client = new EventSpineClient({ address: this.daemon.grpc });
    const head = await this.client.head();
    if (head.seq < acked) throw new Error(`after SIGKILL the head is ${head.seq} but seq ${acked} had been acknowledged`);
    const notes = this.daemon.notices.map((n) => `${String(n.msg)}${n.events !== undefined ? ` (${String(n.events)} events)` : ''}${n.bytesCut !== undefined ? ` (${String(n.bytesCut)} bytes)` : ''}`);
    if (kind === 'clean') return { ready_ms: this.daemon.readyMs };
    return {
      ready_ms: this.daemon.readyMs,
      note: 'SIGKILL during 4 streams of appends; every acknowledged seq was there after the restart',
      detail: `last acknowledged seq ${acked}, head after restart ${head.seq}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`,
    };
  }

  /** A client of this daemon (the caller closes it). */
  newClient(): EventSpineClient {
    return new EventSpineClient({ address: this.daemon.grpc });
  }

  diskBytes(): number {
    return dirBytes(this.daemon.dataDir);
  }

  async stop(): Promise<void> {
    await this.client.close().catch(() => undefined);
    await stopDaemon(this.daemon);
    removeTempDir(this.daemon.dataDir);
  }
}

export class SpineSystem implements System {
  batchVariants(): string[] {
    return ['AppendStream', 'EventSpineClient.append'];
  }

  readonly name = 'event-spine' as const;
  constructor(private readonly daemonOptions: DaemonOptions = {}) {}

  unavailable(): string | undefined {
    return undefined;
  }

  version(): string {
    return `event-spine ${packageVersion()}`;
  }

  info(): SystemInfo {
    return { ...SPINE_INFO, version: this.version() };
  }

  async start(): Promise<RunningSpine> {
    const dir = tempDir('spine');
    return new RunningSpine(this.info(), await startDaemon(dir, this.daemonOptions), this.daemonOptions);
  }

  /**
   * Fills a store in-process, lets `inProcess` measure on it (open time, queries), then
   * serves it with the daemon.
   */
  async startFilled(
    total: number,
    log: (msg: string) => void,
    inProcess?: (dataDir: string) => Promise<Record<string, unknown>>,
  ): Promise<{ running: RunningSpine; fill_s: number; first_ms: number; last_ms: number; extra?: Record<string, unknown> }> {
    const dir = tempDir('spine');
    const store = await Store.open(storeOptions(dir));
    let fill;
    try {
      fill = await fillConcurrently(total, 1000, 4, (i) => w3Event(i, total), async (_, events) => void (await store.append(events)), (d) => log(`event-spine fill ${d}/${total}`));
    } finally {
      await store.close();
    }
    const extra = inProcess === undefined ? undefined : await inProcess(dir);
    const running = new RunningSpine(this.info(), await startDaemon(dir, this.daemonOptions), this.daemonOptions);
    return { running, ...fill, ...(extra === undefined ? {} : { extra }) };
  }
}
