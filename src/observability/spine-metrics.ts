/**
 * The metrics event-spine exposes on /metrics. Names follow Prometheus conventions: a
 * `eventspine_` prefix, base units (seconds, bytes) in the name, `_total` on counters.
 */
import { Registry, type Counter, type Gauge, type Histogram } from './metrics';

/** One group commit as the store reports it (StoreOptions.onCommit). */
export interface CommitSample {
  requests: number;
  events: number;
  bytes: number;
  writeMs: number;
  indexMs: number;
}

/** Reads of live state, made when /metrics is scraped. */
export interface MetricSources {
  headSeq?: () => number | undefined;
  indexLagEvents?: () => number | undefined;
  ready?: () => boolean;
}

const SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class SpineMetrics {
  readonly registry = new Registry();
  readonly appendRequests: Counter;
  readonly appendEvents: Counter;
  readonly bytesWritten: Counter;
  readonly batchEvents: Histogram;
  readonly commitEvents: Histogram;
  readonly logWriteSeconds: Histogram;
  readonly indexWriteSeconds: Histogram;
  readonly appendSeconds: Histogram;
  readonly subscribers: Gauge;
  readonly recoveryProgress: Gauge;
  readonly errors: Counter;
  readonly grpcCalls: Counter;
  readonly grpcSeconds: Histogram;
  readonly httpRequests: Counter;
  readonly authDenials: Counter;

  constructor(sources: MetricSources = {}) {
    const r = this.registry;
    this.appendRequests = r.counter('eventspine_append_requests_total', 'Append requests acknowledged (unary Append, each AppendStream request, HTTP POST).');
    this.appendEvents = r.counter('eventspine_append_events_total', 'Events newly stored (deduplicated retries not counted).');
    this.bytesWritten = r.counter('eventspine_log_bytes_written_total', 'Bytes written to the log segments.');
    this.batchEvents = r.histogram('eventspine_append_batch_events', 'Events per acknowledged append request.', SIZE_BUCKETS);
    this.commitEvents = r.histogram('eventspine_commit_group_events', 'Events per group commit (one log write and one fsync).', SIZE_BUCKETS);
    this.logWriteSeconds = r.histogram('eventspine_log_write_seconds', 'Time to write one group commit to the log and make it durable (its fsync under durability=fsync).', LATENCY_BUCKETS);
    this.indexWriteSeconds = r.histogram('eventspine_index_write_seconds', 'Time of the index write that covered a group commit (groups that wait while the index is behind are indexed together).', LATENCY_BUCKETS);
    this.appendSeconds = r.histogram('eventspine_append_seconds', 'Time from receiving an append request to its acknowledgement.', LATENCY_BUCKETS);
    this.subscribers = r.gauge('eventspine_subscribers', 'Open subscriptions (gRPC Subscribe streams).');
    r.gauge('eventspine_head_seq', 'seq of the last acknowledged event.', [], sources.headSeq);
    r.gauge('eventspine_index_lag_events', 'Events durable in the log but not yet in the index.', [], sources.indexLagEvents);
    this.recoveryProgress = r.gauge('eventspine_recovery_progress_ratio', 'Share of the log scanned by the start-up recovery / index catch-up (1 when done).');
    r.gauge('eventspine_ready', '1 when the store is open and the daemon is not shutting down.', [], () => (sources.ready?.() === true ? 1 : 0));
    this.errors = r.counter('eventspine_errors_total', 'Requests refused or failed, by error code (README "Errors").', ['code']);
    this.grpcCalls = r.counter('eventspine_grpc_calls_total', 'gRPC calls finished, by method and status.', ['method', 'status']);
    this.grpcSeconds = r.histogram('eventspine_grpc_call_seconds', 'Duration of unary gRPC calls, by method.', LATENCY_BUCKETS, ['method']);
    this.httpRequests = r.counter('eventspine_http_requests_total', 'HTTP requests, by route and status.', ['route', 'status']);
    this.authDenials = r.counter('eventspine_auth_denials_total', 'Calls refused for want of a valid key, a scope, an organization or an actor, or over a key\'s limits: by surface, error code and key id ("none" without a valid key).', ['surface', 'code', 'key']);
    const started = Date.now() / 1000;
    r.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', [], () => started);
    r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [], () => process.memoryUsage.rss());
    r.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', [], () => process.memoryUsage().heapUsed);
  }

  /** StoreOptions.onCommit. */
  onCommit(c: CommitSample): void {
    this.appendEvents.inc(undefined, c.events);
    this.bytesWritten.inc(undefined, c.bytes);
    this.commitEvents.observe(c.events);
    this.logWriteSeconds.observe(c.writeMs / 1000);
    this.indexWriteSeconds.observe(c.indexMs / 1000);
  }

  /** An append request was acknowledged (by any API surface). */
  appendAcknowledged(events: number, seconds: number): void {
    this.appendRequests.inc();
    this.batchEvents.observe(events);
    this.appendSeconds.observe(seconds);
  }

  /** A request was refused or failed with a stable error code. */
  failed(code: string): void {
    this.errors.inc({ code });
  }

  render(): string {
    return this.registry.render();
  }
}
