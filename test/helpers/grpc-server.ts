/**
 * A real GrpcServer in the test's process, on 127.0.0.1 port 0, over a real Store in
 * t.testdir(), with operations, and a Guard of API keys written by writeKeys: for tests
 * that look at what the daemon keeps inside (the Guard's stream counts, the metrics, every
 * log line). Everything is shut down on teardown.
 *
 *   const s = await startGrpcServer(t, { keys: { admin: { scopes: ['read'] } } });
 *   const c = spineClient(t, s.address);   // with metadata authorization: s.keys.bearer('admin')
 */
import type { Test } from 'tap';
import { GrpcServer } from '../../src/api/grpc';
import { Guard } from '../../src/auth';
import { Logger, SpineMetrics } from '../../src/observability';
import { createOperationService, type OperationService } from '../../src/ops';
import { Store } from '../../src/store';
import { writeKeys, type KeySpec, type TestKeys } from './keys';
import { storeDefaults } from './store';

export interface GrpcServerHandle {
  address: string;
  server: GrpcServer;
  store: Store;
  guard: Guard;
  operations: OperationService;
  metrics: SpineMetrics;
  keys: TestKeys;
  /** Every log line written so far (JSON text, as the daemon would print it). */
  logLines: string[];
  /** Shuts the server down now (teardown does nothing more then). */
  shutdown(): Promise<void>;
}

export interface GrpcServerOptions {
  keys: Record<string, KeySpec>;
  maxStreamsPerKey?: number;
  heartbeatMs?: number;
  /** subscriptions.queueLimit (1000 unless given). */
  queueLimit?: number;
}

export async function startGrpcServer(t: Test, options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const dataDir = t.testdir();
  const keys = writeKeys(t, options.keys, dataDir);
  const logLines: string[] = [];
  const logger = new Logger('debug', (line) => logLines.push(line));
  const metrics = new SpineMetrics();
  const guard = new Guard({ mode: 'keys', keysFile: keys.file, rateLimitPerSecond: 0, rateLimitBurst: 0, maxStreamsPerKey: options.maxStreamsPerKey ?? 64, logger, metrics });
  const store = await Store.open({ ...storeDefaults, dataDir });
  const operations = createOperationService(store, { dataDir, defaults: { organizationId: storeDefaults.defaultOrganizationId }, limits: { maxPayloadBytes: storeDefaults.maxPayloadBytes } }, (message, details) => logger.warn(message, details));
  const server = new GrpcServer({
    store,
    settings: { envelope: storeDefaults, maxMessageBytes: 4 * 1024 * 1024, maxInFlightPerStream: 16, queueLimit: options.queueLimit ?? 1000, heartbeatMs: options.heartbeatMs ?? 5_000 },
    maxConcurrentStreams: 1000,
    logger,
    metrics,
    guard,
    operations: () => operations,
  });
  const address = await server.listen('127.0.0.1', 0);
  server.serving();
  let stopped: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopped ??= (async () => {
      await operations.operations.close();
      await server.shutdown(2_000);
      await store.close();
    })());
  t.teardown(shutdown);
  return { address, server, store, guard, operations, metrics, keys, logLines, shutdown };
}
