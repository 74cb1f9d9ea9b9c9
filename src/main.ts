/**
 * The daemon: load config, open the store, start the HTTP and gRPC servers, log one
 * "ready" line with the bound addresses, and on SIGTERM/SIGINT shut down gracefully:
 * health NOT_SERVING, no new calls, in-flight appends finished, subscriptions ended, the
 * store closed (synced), exit 0.
 *
 * Start order: the HTTP listener comes first, so /healthz answers and /readyz says 503
 * while a large store recovers; gRPC listens once the store is open.
 */
import { resolve } from 'node:path';
import { GrpcServer } from './api/grpc';
import { HttpServer, Router, addOpsRoutes, registerApiRoutes, type ApiRoutes } from './api/http';
import { operationOpenApiPaths } from './api/http/operation-openapi';
import { registerOperationRoutes, type OperationRoutes } from './api/http/operation-routes';
import { Guard, guardOptions, isLoopback, listenerPolicy, loadTls } from './auth';
import type { LoadedConfig } from './config';
import { Logger, SpineMetrics } from './observability';
import { createOperationService, type OperationService } from './ops';
import { packageVersion } from './paths';
import { Store, type StoreOptions } from './store';

/** Store options from the configuration. */
export function storeOptions(config: LoadedConfig['config']): StoreOptions {
  return {
    dataDir: config.dataDir,
    segmentBytes: config.segmentBytes,
    durability: config.durability,
    defaultOrganizationId: config.defaults.organizationId,
    defaultEnvironment: config.defaults.environment,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    maxBatchEvents: config.limits.maxBatchEvents,
  };
}

export class Daemon {
  private shuttingDown = false;
  private stopped: Promise<void> | undefined;
  /** Operations (DESIGN §6): stopped before the servers and the store on shutdown. */
  private operations: { service: OperationService; routes: OperationRoutes } | undefined;

  private constructor(
    readonly store: Store,
    readonly grpc: GrpcServer,
    readonly http: HttpServer,
    private readonly loaded: LoadedConfig,
    private readonly logger: Logger,
    private readonly api: ApiRoutes,
    readonly guard: Guard,
  ) {}

  get grpcAddress(): string {
    return this.grpc.address as string;
  }

  get httpAddress(): string {
    return this.http.address as string;
  }

  /** Starts everything; resolves once both servers listen and the store is open. */
  static async start(loaded: LoadedConfig, logger: Logger): Promise<Daemon> {
    const { config } = loaded;
    let store: Store | undefined;
    let daemon: Daemon | undefined;
    const metrics = new SpineMetrics({
      headSeq: () => store?.head().seq,
      indexLagEvents: () => store?.indexLag(),
      ready: () => daemon !== undefined && !daemon.shuttingDown,
    });
    logger.info('starting', { version: packageVersion(), pid: process.pid, node: process.version, dataDir: resolve(config.dataDir), durability: config.durability, configFile: loaded.configFile });

    // Refused before anything listens: an unauthenticated daemon beyond loopback (DESIGN §7).
    const exposed = listenerPolicy(config);
    if (exposed !== undefined) logger.warn(exposed, { host: config.host });
    const guard = new Guard(guardOptions(config.auth, logger, metrics));
    // Read once for both servers, so they are both TLS or both plain.
    const tls = loadTls(config.tls);
    if (guard.mode === 'keys' && tls === undefined && !isLoopback(config.host)) {
      logger.warn('API keys cross the network in plain text: the daemon listens beyond loopback without TLS; set tls.certFile and tls.keyFile, or terminate TLS in front of it', { host: config.host });
    }
    logger.info('authentication', { mode: guard.mode, keys: guard.keyCount, tls: tls !== undefined, mutualTls: tls?.clientCa !== undefined, ...(tls === undefined ? {} : { certificateValidTo: tls.validTo }) });
    const router = addOpsRoutes(new Router(), { storeOpen: () => daemon !== undefined, shuttingDown: () => daemon?.shuttingDown ?? false }, metrics, guard);
    const api = registerApiRoutes(router, { store: () => daemon?.store, config, logger, metrics, guard, openApiPaths: operationOpenApiPaths() });
    let operations: OperationService | undefined;
    const operationRoutes = registerOperationRoutes(router, { service: () => (daemon === undefined ? undefined : operations), config, logger, guard });
    const http = new HttpServer({ router, logger, metrics, tls });
    await http.listen(config.host, config.httpPort);

    try {
      let lastProgressLog = 0;
      store = await Store.open({
        ...storeOptions(config),
        onCommit: (c) => metrics.onCommit(c),
        onNotice: (message, details) => logger.warn(message, details),
        onRecoveryProgress: (scanned, total) => {
          metrics.recoveryProgress.set(total === 0 ? 1 : scanned / total);
          const now = Date.now();
          if (now - lastProgressLog >= 2_000 || scanned === total) {
            lastProgressLog = now;
            logger.info('recovery progress', { scannedBytes: scanned, totalBytes: total, percent: total === 0 ? 100 : Math.floor((100 * scanned) / total) });
          }
        },
      });
      metrics.recoveryProgress.set(1);
      operations = createOperationService(store, config, (message, details) => logger.warn(message, details));
      const grpc = new GrpcServer({
        store,
        settings: {
          envelope: storeOptions(config),
          maxMessageBytes: config.limits.maxMessageBytes,
          maxInFlightPerStream: config.limits.maxInFlightPerStream,
          queueLimit: config.subscriptions.queueLimit,
          heartbeatMs: config.subscriptions.heartbeatMs,
        },
        maxConcurrentStreams: config.limits.maxConcurrentStreams,
        logger,
        metrics,
        guard,
        operations: () => operations,
        tls,
      });
      await grpc.listen(config.host, config.grpcPort);
      grpc.serving();
      daemon = new Daemon(store, grpc, http, loaded, logger, api, guard);
      daemon.operations = { service: operations, routes: operationRoutes };
      logger.info('ready', {
        grpc: grpc.address,
        http: http.address,
        pid: process.pid,
        version: packageVersion(),
        dataDir: resolve(config.dataDir),
        durability: config.durability,
        headSeq: store.head().seq,
        tls: tls !== undefined,
      });
      return daemon;
    } catch (err) {
      await store?.close().catch(() => undefined);
      await http.close(0);
      throw err;
    }
  }

  /** Graceful shutdown (idempotent): see the file comment for the order. */
  shutdown(reason: string): Promise<void> {
    this.stopped ??= this.doShutdown(reason);
    return this.stopped;
  }

  private async doShutdown(reason: string): Promise<void> {
    this.shuttingDown = true;
    this.api.close(); // REST answers 503, open SSE streams end (clients resume with Last-Event-ID)
    this.operations?.routes.close();
    await this.operations?.service.operations.close(); // running operations record `error` and stop
    const started = Date.now();
    this.logger.info('shutting down', { reason, headSeq: this.store.head().seq });
    await this.grpc.shutdown(this.loaded.config.shutdown.timeoutMs);
    await this.store.close();
    await this.http.close(1_000);
    this.logger.info('stopped', { headSeq: this.store.head().seq, ms: Date.now() - started });
  }
}

/** `event-spine serve`: runs the daemon until SIGTERM or SIGINT; resolves with the exit code. */
export async function serve(loaded: LoadedConfig): Promise<number> {
  const logger = new Logger(loaded.config.log.level);
  let signalled: string | undefined;
  let onSignal: ((signal: string) => void) | undefined;
  const handler = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      logger.warn('already shutting down', { signal });
      return;
    }
    signalled = signal;
    onSignal?.(signal);
  };
  // A bug must not die silently: one structured line, then the exit Node would make anyway.
  // Acknowledged events are already durable; an unacknowledged append is simply not stored.
  const fatal = (kind: string) => (err: unknown): void => {
    logger.error(`fatal: ${kind}`, { err });
    process.exit(1);
  };
  const onUncaught = fatal('uncaught exception');
  const onUnhandled = fatal('unhandled promise rejection');
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  let reloadKeys: (() => void) | undefined;
  const onHangup = (): void => reloadKeys?.();
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  process.on('SIGHUP', onHangup);
  try {
    const daemon = await Daemon.start(loaded, logger);
    // SIGHUP rereads the keys file (the guard logs what changed and how many streams of
    // revoked keys it ended); a file that does not load leaves the old keys in force.
    reloadKeys = () => {
      try {
        daemon.guard.reload();
      } catch (err) {
        logger.error('keys file not reloaded; the previous keys stay in force', { err });
      }
    };
    const signal = signalled ?? (await new Promise<string>((resolve) => (onSignal = resolve)));
    await daemon.shutdown(signal);
    return 0;
  } finally {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
    process.off('SIGHUP', onHangup);
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
  }
}
