/**
 * What every system in the comparison offers the workloads: event-spine (its daemon over
 * gRPC) and each peer (a server started by the bench). A capability a system lacks is
 * `undefined`, and the report says so, rather than faking it with a scan.
 */
import type { BenchEvent } from '../lib/events';

export type SystemName = 'event-spine' | 'redis' | 'postgres' | 'jetstream';

export interface SystemInfo {
  name: SystemName;
  /** e.g. "Redis 7.0.15 Streams". */
  label: string;
  version: string;
  /** When an acknowledgement means the write is on disk, in plain words. */
  durability: string;
  /** What it does not do that event-spine does (hash chain, entity index, idempotency…). */
  lacks: string;
  /** How the bench uses it for each workload. */
  method: Record<string, string>;
}

/** One producer's connection for batched appends (W1). */
export interface BatchAppender {
  send(events: BenchEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** A client shared by single-event producers (W2). */
export interface SingleEmitter {
  emit(event: BenchEvent): Promise<void>;
  close(): Promise<void>;
}

/** A query answered (W3): the items it returned. */
export type Query = (arg: { entityType: string; entityId: string; sinceMs: number; untilMs: number; limit: number }) => Promise<number>;

export interface RunningSystem {
  info: SystemInfo;
  /** W1: a new connection for one producer; `variant` picks among a system's ways to append. */
  batchAppender(variant?: string): Promise<BatchAppender>;
  /** W2: one client for all producers (as one service process would have). */
  singleEmitter(producers: number): Promise<SingleEmitter>;
  /** W3: entity history, newest `limit` (undefined: the system cannot answer without a scan). */
  entityHistory: Query | undefined;
  entityHistoryNote: string;
  /** W3: first page of `limit` events with since ≤ time < until, oldest first. */
  timeRange: Query | undefined;
  timeRangeNote: string;
  /** W4: read every stored event from the start, as a new subscriber catching up; resolves with the count. */
  catchUp(expected: number): Promise<number>;
  catchUpNote: string;
  /** W4 live fan-out: where bench/lib/subscribers.ts connects (undefined: no push subscription). */
  fanoutTarget: string | undefined;
  fanoutNote: string;
  /** W5: stop (graceful, or SIGKILL for a crash) and start again on the same data; ms until it answers. */
  restart(kind: 'clean' | 'kill'): Promise<{ ready_ms: number; note?: string; detail?: string }>;
  /** Bytes on disk. */
  diskBytes(): number;
  stop(): Promise<void>;
}

export interface System {
  name: SystemName;
  /** undefined when it can run here, else why it is skipped. */
  unavailable(): string | undefined;
  version(): string;
  /** W1: the ways it can append a batch (the first is its default). */
  batchVariants(): string[];
  /** A fresh, empty instance. */
  start(): Promise<RunningSystem>;
  /**
   * A fresh instance holding `total` W3 events (bench/lib/events.ts w3Event) with whatever
   * indexes its W3 queries use; fill_s is the time it took.
   */
  startFilled(total: number, log: (msg: string) => void): Promise<{ running: RunningSystem; fill_s: number; first_ms: number; last_ms: number; extra?: Record<string, unknown> }>;
}
