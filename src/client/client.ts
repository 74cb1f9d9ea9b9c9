/**
 * EventSpineClient: the typed TypeScript client of the gRPC API (DESIGN §3).
 *
 *   const spine = new EventSpineClient({ address: '127.0.0.1:50051', defaults: { organization_id: 'acme', environment: 'prod' } });
 *   await spine.emit({ event_type: 'hcm.employee.created', entity_type: 'employee', entity_id: id,
 *                      action: 'created', actor_id: user.id, payload: { name, department } });
 *   for await (const ev of spine.subscribe({ event_type: 'hcm.' }, { fromSeq: 1 })) { … }
 *   await spine.close();
 */
import * as grpc from '@grpc/grpc-js';
import { AppendPipeline, type AppendStreamCall } from './append-pipeline';
import { EventSpineError, clientClosed, fromGrpcError, isTransient } from './errors';
import { eventSpineServiceClient } from './proto';
import { resumableStream, type StreamHandle, type SubscriptionItem, type WireStreamItem } from './resumable-stream';
import { DEFAULT_RETRY, backoffMs, sleep, type RetryPolicy } from './retry';
import type {
  AggregateGroupBy,
  AggregateResult,
  AppendResult,
  CallOptions,
  ClientOptions,
  ClientTlsOptions,
  EmitEvent,
  EventDefaults,
  Filter,
  GetKey,
  Head,
  QueryOptions,
  QueryPage,
  SpineEvent,
  SubscribeOptions,
  VerifyRange,
  VerifyResult,
} from './types';
import { decodeAggregate, decodeEvent, decodeHead, decodeVerify, encodeEvent, encodeFilter, type WireEvent } from './wire';

type UnaryCallback = (err: grpc.ServiceError | null, res?: unknown) => void;
type UnaryMethod = (req: unknown, md: grpc.Metadata, options: grpc.CallOptions, cb: UnaryCallback) => grpc.ClientUnaryCall;

/** The generated client, as far as this class uses it. */
interface RawClient extends grpc.Client {
  Append: UnaryMethod;
  Get: UnaryMethod;
  Query: UnaryMethod;
  Aggregate: UnaryMethod;
  Verify: UnaryMethod;
  Head: UnaryMethod;
  AppendStream: (md: grpc.Metadata, options?: grpc.CallOptions) => AppendStreamCall;
  Read: (req: unknown, md: grpc.Metadata, options?: grpc.CallOptions) => grpc.ClientReadableStream<WireStreamItem>;
  Subscribe: (req: unknown, md: grpc.Metadata, options?: grpc.CallOptions) => grpc.ClientReadableStream<WireStreamItem>;
}

const DEFAULT_BATCH = { maxEvents: 500, maxDelayMs: 2, maxBytes: 1024 * 1024, maxInFlight: 32 };
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
/**
 * The HTTP/2 receive window of the client's connections and streams (grpc-js keeps
 * HTTP/2's 64 KiB unless told): a Query page of 100 events is ~60 KiB and a catch-up
 * streams far more, and with 64 KiB the daemon waits for a window update from this
 * process after every 64 KiB. 4 MiB raised the catch-up rate of Subscribe from 60k to
 * 100k events/s. Memory stays bounded: at most this much waits per stream unread.
 */
const FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;
/** Four of the server's default heartbeat intervals (subscriptions.heartbeatMs, 15 s). */
const DEFAULT_SUBSCRIBE_IDLE_MS = 60_000;

/** The channel credentials of the options: theirs, TLS, or plain text. */
function channelCredentials(options: ClientOptions): grpc.ChannelCredentials {
  if (options.credentials !== undefined && options.tls !== undefined) throw new TypeError('EventSpineClient: give options.tls or options.credentials, not both');
  if (options.credentials !== undefined) return options.credentials;
  if (options.tls === undefined) return grpc.credentials.createInsecure();
  const { ca, cert, key } = options.tls;
  if ((cert === undefined) !== (key === undefined)) throw new TypeError('EventSpineClient: options.tls.cert and options.tls.key go together (mutual TLS)');
  const pem = (v: Buffer | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));
  return grpc.credentials.createSsl(pem(ca), pem(key), pem(cert));
}

/** A key as `Bearer` can carry it (RFC 6750 b64token, printable ASCII in practice). */
function checkApiKey(apiKey: string | undefined): string | undefined {
  if (apiKey === undefined) return undefined;
  if (typeof apiKey !== 'string' || !/^[\x21-\x7e]+$/.test(apiKey)) throw new TypeError('EventSpineClient: options.apiKey must be a non-empty string of printable ASCII without spaces');
  return apiKey;
}

function tlsChannelOptions(tls: ClientTlsOptions | undefined): grpc.ChannelOptions {
  return tls?.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName };
}

/** `defaults` with every option the caller set (an option set to undefined keeps its default). */
function withDefaults<T extends object>(defaults: T, given: Partial<T> | undefined): T {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

export class EventSpineClient {
  private raw: RawClient;
  private currentAddress: string;
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly apiKey: string | undefined;
  private readonly defaults: EventDefaults;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number | undefined;
  private readonly pipeline: AppendPipeline;
  private readonly streams = new Set<StreamHandle>();
  private readonly unaryInFlight = new Set<Promise<unknown>>();
  private readonly closeController = new AbortController();
  private closing: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    if (typeof options?.address !== 'string' || options.address === '') throw new TypeError('EventSpineClient: options.address (host:port) is required');
    this.currentAddress = options.address;
    this.credentials = channelCredentials(options);
    this.apiKey = checkApiKey(options.apiKey);
    this.defaults = { ...options.defaults };
    this.retry = withDefaults(DEFAULT_RETRY, options.retry);
    if (!(this.retry.attempts >= 1)) throw new TypeError('EventSpineClient: retry.attempts must be ≥ 1');
    this.timeoutMs = options.timeoutMs;
    this.channelOptions = {
      // Align the channel's own reconnect backoff with ours, so that a restarted daemon is
      // found by the next retry rather than after grpc-js's default 1 s…120 s backoff.
      'grpc.initial_reconnect_backoff_ms': Math.max(10, this.retry.baseDelayMs),
      'grpc.max_reconnect_backoff_ms': Math.max(10, this.retry.maxDelayMs),
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
      ...tlsChannelOptions(options.tls),
      ...options.channelOptions,
    };
    this.raw = this.makeRaw(this.currentAddress);
    const batch = withDefaults(DEFAULT_BATCH, options.batch);
    if (!(batch.maxEvents >= 1)) throw new TypeError('EventSpineClient: batch.maxEvents must be ≥ 1');
    this.pipeline = new AppendPipeline(() => this.raw.AppendStream(this.metadata()), { ...batch, retry: this.retry });
  }

  /** The daemon address calls go to. */
  get address(): string {
    return this.currentAddress;
  }

  /**
   * Points the client at another address (e.g. a daemon restarted on a new port). Emits in
   * flight are sent again there with the same ids; subscriptions and reads resume there
   * from their last seq + 1.
   */
  setAddress(address: string): void {
    this.assertOpen('setAddress');
    if (address === this.currentAddress) return;
    const old = this.raw;
    this.currentAddress = address;
    this.raw = this.makeRaw(address);
    this.pipeline.reset();
    for (const h of this.streams) {
      h.moved = true;
      h.call?.cancel();
    }
    old.close();
  }

  // ---- appends -------------------------------------------------------------------------------

  /**
   * Records one event, like the seed's `emit_event(...)`. Batched with concurrent emits on
   * one stream; resolves once the event is durable and indexed. A connection failure or a
   * daemon restart is retried with the same id (never stored twice); a refusal of the event
   * itself rejects with an EventSpineError naming the code and field.
   */
  emit(event: EmitEvent, options?: CallOptions): Promise<AppendResult> {
    if (this.closing !== undefined) return Promise.reject(clientClosed('emit'));
    let wire;
    try {
      wire = encodeEvent(event, this.defaults);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.pipeline.emit(wire, options?.timeoutMs);
  }

  /**
   * Appends events atomically: all are stored or none. They go as one request of the
   * client's AppendStream, not as a unary call (which costs grpc-js, on both sides, about
   * what a hundred streamed events do); retried with the same ids, so a retry is safe.
   */
  async append(events: EmitEvent[], options?: CallOptions): Promise<AppendResult[]> {
    if (this.closing !== undefined) throw clientClosed('append');
    const wire = events.map((e) => encodeEvent(e, this.defaults));
    return this.pipeline.append(wire, options?.timeoutMs ?? this.timeoutMs);
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** One event by id or seq; undefined when there is none. */
  async get(key: GetKey, options?: CallOptions): Promise<SpineEvent | undefined> {
    try {
      return decodeEvent((await this.unary('Get', key, options)) as WireEvent);
    } catch (err) {
      if (err instanceof EventSpineError && err.grpcStatus === grpc.status.NOT_FOUND) return undefined;
      throw err;
    }
  }

  /** A page of matching events; pass `next_cursor` back as `cursor` for the next one. */
  async query(filter: Filter = {}, options: QueryOptions = {}): Promise<QueryPage> {
    const req: Record<string, unknown> = { filter: encodeFilter(filter), order: options.order === 'desc' ? 'ORDER_DESC' : 'ORDER_ASC' };
    if (options.limit !== undefined) req.limit = options.limit;
    if (options.cursor !== undefined) req.cursor = options.cursor;
    const res = (await this.unary('Query', req, options)) as { items?: WireEvent[]; next_cursor?: string };
    const page: QueryPage = { items: (res.items ?? []).map(decodeEvent) };
    if (res.next_cursor !== undefined && res.next_cursor !== '') page.next_cursor = res.next_cursor;
    return page;
  }

  /**
   * Every matching event in seq order, streamed without paging. A broken stream is resumed
   * after the last event delivered (the range's end is then the head at that moment).
   */
  async *read(filter: Filter = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<SpineEvent> {
    this.assertOpen('read');
    const base = encodeFilter(filter);
    const signal = this.callerSignal(options.signal);
    try {
      for await (const item of resumableStream({
        open: (next) => this.raw.Read({ filter: next === undefined ? base : { ...base, from_seq: Math.max(next, filter.from_seq ?? 1) } }, this.metadata()),
        wrapped: false,
        fromSeq: filter.from_seq,
        toSeq: undefined,
        endsWhenStreamEnds: true,
        retry: this.retry,
        // Read has no heartbeats, and a sparse filter may scan long between matches.
        idleTimeoutMs: 0,
        signal: signal.signal,
        track: (h) => this.track(h),
      })) {
        if (item.type === 'event') yield item.event;
      }
    } finally {
      signal.dispose();
    }
  }

  /**
   * Catches up from `fromSeq` (default: only events after the head as of this call), then
   * follows live. Survives reconnects and daemon restarts: it resumes from the last seq
   * seen + 1, so every event arrives exactly once, in order, with no gap. Ends when
   * `filter.to_seq` is passed, when `signal` aborts, when the loop breaks, or on close().
   */
  subscribe(filter?: Filter, options?: SubscribeOptions & { markers?: false }): AsyncGenerator<SpineEvent>;
  subscribe(filter: Filter | undefined, options: SubscribeOptions & { markers: true }): AsyncGenerator<SubscriptionItem>;
  subscribe(filter: Filter = {}, options: SubscribeOptions = {}): AsyncGenerator<SpineEvent | SubscriptionItem> {
    this.assertOpen('subscribe');
    // Without fromSeq the start is the head when this call is made (asked now, not at the
    // first next(), which may come much later), and it stays fixed across reconnects.
    const start = options.fromSeq !== undefined ? Promise.resolve(options.fromSeq) : this.head().then((h) => h.seq + 1);
    start.catch(() => undefined); // reported by the iteration; never an unhandled rejection
    return options.markers === true ? this.subscription(filter, options, start) : this.subscriptionEvents(filter, options, start);
  }

  private async *subscriptionEvents(filter: Filter, options: SubscribeOptions, start: Promise<number>): AsyncGenerator<SpineEvent> {
    for await (const item of this.subscription(filter, options, start)) if (item.type === 'event') yield item.event;
  }

  private async *subscription(filter: Filter, options: SubscribeOptions, start: Promise<number>): AsyncGenerator<SubscriptionItem> {
    const fromSeq = await start;
    const base = encodeFilter(filter);
    const signal = this.callerSignal(options.signal);
    try {
      yield* resumableStream({
        open: (next) => this.raw.Subscribe({ filter: base, from_seq: next ?? fromSeq }, this.metadata()),
        wrapped: true,
        fromSeq,
        toSeq: filter.to_seq,
        endsWhenStreamEnds: false,
        retry: this.retry,
        idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_SUBSCRIBE_IDLE_MS,
        signal: signal.signal,
        track: (h) => this.track(h),
      });
    } finally {
      signal.dispose();
    }
  }

  /** Counts of matching events grouped by a field or a time bucket. */
  async aggregate(filter: Filter, groupBy: AggregateGroupBy, options?: CallOptions): Promise<AggregateResult> {
    return decodeAggregate((await this.unary('Aggregate', { filter: encodeFilter(filter), group_by: groupBy }, options)) as Parameters<typeof decodeAggregate>[0]);
  }

  /** Re-checks checksums, hashes and the chain over a range (default: everything). */
  async verify(range: VerifyRange = {}, options?: CallOptions): Promise<VerifyResult> {
    return decodeVerify((await this.unary('Verify', range, options)) as Parameters<typeof decodeVerify>[0]);
  }

  /** The last acknowledged event's seq, hash and timestamp (seq 0 for an empty store). */
  async head(options?: CallOptions): Promise<Head> {
    return decodeHead((await this.unary('Head', {}, options)) as Parameters<typeof decodeHead>[0]);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /**
   * Waits for every emit and append already made to finish (with their retries), ends
   * subscriptions and reads (their loops return) and cuts short the retries of other
   * calls, then closes the channel. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closeController.abort();
      this.closing = (async () => {
        await this.pipeline.drain();
        await Promise.allSettled([...this.unaryInFlight]);
        this.pipeline.shutdown();
        this.raw.close();
      })();
    }
    return this.closing;
  }

  // ---- plumbing ------------------------------------------------------------------------------

  private makeRaw(address: string): RawClient {
    const Ctor = eventSpineServiceClient();
    return new Ctor(address, this.credentials, this.channelOptions) as unknown as RawClient;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.apiKey !== undefined) md.set('authorization', `Bearer ${this.apiKey}`);
    return md;
  }

  private assertOpen(what: string): void {
    if (this.closing !== undefined) throw clientClosed(what);
  }

  private track(handle: StreamHandle): () => void {
    this.streams.add(handle);
    return () => this.streams.delete(handle);
  }

  /** An abort signal for one iteration: the caller's, or the client closing. */
  private callerSignal(caller: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
    const ctl = new AbortController();
    const abort = (): void => ctl.abort();
    const sources = [this.closeController.signal, ...(caller === undefined ? [] : [caller])];
    for (const s of sources) {
      if (s.aborted) ctl.abort();
      else s.addEventListener('abort', abort, { once: true });
    }
    return { signal: ctl.signal, dispose: () => sources.forEach((s) => s.removeEventListener('abort', abort)) };
  }

  /**
   * One unary call with the deadline (per call, else the client's default) covering its
   * retries. Only transient failures are retried; every RPC here is a read, safe to repeat
   * (appends go by the pipeline).
   */
  private unary(method: 'Get' | 'Query' | 'Aggregate' | 'Verify' | 'Head', req: unknown, options: CallOptions | undefined): Promise<unknown> {
    if (this.closing !== undefined) return Promise.reject(clientClosed(method));
    const timeoutMs = options?.timeoutMs ?? this.timeoutMs;
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const attempt = (): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const callOptions: grpc.CallOptions = deadline === undefined ? {} : { deadline };
        this.raw[method](req, this.metadata(), callOptions, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res)));
      });
    const run = async (): Promise<unknown> => {
      for (let failures = 1; ; failures++) {
        try {
          return await attempt();
        } catch (err) {
          const e = err instanceof EventSpineError ? err : fromGrpcError(err);
          if (!isTransient(e) || failures >= this.retry.attempts) throw e;
          const wait = backoffMs(this.retry, failures);
          if (deadline !== undefined && Date.now() + wait >= deadline) throw e;
          // Closing cuts the retries of reads short (appends go by the pipeline, which keeps them).
          const cut = this.closeController.signal;
          await sleep(wait, cut);
          if (cut.aborted) throw clientClosed(method);
        }
      }
    };
    const p = run();
    this.unaryInFlight.add(p);
    const untrack = (): void => {
      this.unaryInFlight.delete(p);
    };
    p.then(untrack, untrack);
    return p;
  }
}
