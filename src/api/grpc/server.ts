/**
 * The gRPC server: eventspine.v1.EventSpine over the store, grpc.health.v1.Health, and
 * server reflection (v1 and v1alpha, via @grpc/reflection) so grpcurl, grpcui and Postman
 * work unaided. One listener; a graceful shutdown.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { Guard, type TlsMaterial } from '../../auth';
import { SpineError } from '../../errors';
import { decodeAppendRequest, decodeAppendStreamRequest } from '../../wire';
import type { Logger, SpineMetrics } from '../../observability';
import type { OperationService } from '../../ops';
import type { Store } from '../../store';
import { appendStreamHandler } from './append-stream';
import { OpenCalls, malformed, type ServiceContext, type ServiceSettings } from './calls';
import { HealthService } from './health';
import { HEALTH_SERVICE, SPINE_SERVICE, loadPackageDefinition } from './proto';
import { operationHandlers } from './operations';
import { PRE_ENCODED_METHODS, PRE_ENCODED_ANSWERS, passPreEncoded } from './pre-encoded';
import { streamHandlers } from './streams';
import { unaryHandlers } from './unary';
import { writeWindow } from './write-window';

export interface GrpcServerOptions {
  store: Store;
  settings: ServiceSettings;
  /** Concurrent calls on one client connection. */
  maxConcurrentStreams: number;
  logger: Logger;
  metrics: SpineMetrics;
  /** Authentication and rights of every call (DESIGN §7); auth.mode "none" without it. */
  guard?: Guard;
  /** Operations (BatchAutoSetup, WatchOperation, GetOperation); without it they answer NOT_READY. */
  operations?: () => OperationService | undefined;
  /** Serve TLS only (with client certificates when it has a client CA); plain without it. */
  tls?: TlsMaterial;
}

/** Bytes of a Subscribe stream's messages that may wait on its HTTP/2 stream (write-window.ts). */
const STREAM_WINDOW_BYTES = 64 * 1024;

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Requests are decoded by our wrapper, not grpc-js: a message that does not decode is
 * INVALID_ARGUMENT (INVALID_REQUEST) rather than grpc-js's INTERNAL, and one larger than
 * limits.maxMessageBytes is RESOURCE_EXHAUSTED with error-code REQUEST_TOO_LARGE. grpc-js
 * itself only refuses messages beyond twice the limit (without the error-code), so that
 * no message of any size is buffered whole.
 */
function guardRequests(service: ServiceDefinition, maxMessageBytes: number): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(service)) {
    const typeName = (method.requestType as { type?: { name?: string } }).type?.name ?? 'request';
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): object => {
        if (bytes.length > maxMessageBytes) {
          return malformed(new SpineError('REQUEST_TOO_LARGE', `the ${typeName} message is ${bytes.length} bytes, over the limit of ${maxMessageBytes} bytes (limits.maxMessageBytes); send fewer events per request`));
        }
        try {
          return method.requestDeserialize(bytes) as object;
        } catch (err) {
          return malformed(new SpineError('INVALID_REQUEST', `the request is not a valid ${typeName} message (${(err as Error).message})`, { cause: err }));
        }
      },
    };
  }
  return out;
}

/** The service with the append requests read by wire/append-decoder.ts (the same objects, faster). */
function withAppendDecoders(service: ServiceDefinition): ServiceDefinition {
  const { Append, AppendStream } = service;
  if (Append === undefined || AppendStream === undefined) throw new TypeError(`${SPINE_SERVICE} lacks Append or AppendStream`);
  return {
    ...service,
    Append: { ...Append, requestDeserialize: decodeAppendRequest },
    AppendStream: { ...AppendStream, requestDeserialize: decodeAppendStreamRequest },
  };
}

export class GrpcServer {
  readonly health = new HealthService();
  private readonly calls = new OpenCalls();
  private readonly server: grpc.Server;
  private boundAddress: string | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: GrpcServerOptions) {
    const { settings } = options;
    const definition = loadPackageDefinition();
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': Math.max(2 * settings.maxMessageBytes, settings.maxMessageBytes + 1024 * 1024),
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams,
      // The fan-out streams: many small messages, several of them on their way at once.
      interceptors: [writeWindow(definition[SPINE_SERVICE] as ServiceDefinition, PRE_ENCODED_METHODS, STREAM_WINDOW_BYTES)],
    });
    const ctx: ServiceContext = { store: options.store, settings, logger: options.logger, metrics: options.metrics, calls: this.calls, guard: options.guard ?? Guard.none(options.logger, options.metrics) };
    const spine = passPreEncoded(guardRequests(withAppendDecoders(definition[SPINE_SERVICE] as ServiceDefinition), settings.maxMessageBytes), [...PRE_ENCODED_METHODS, ...PRE_ENCODED_ANSWERS]);
    const health = guardRequests(definition[HEALTH_SERVICE] as ServiceDefinition, settings.maxMessageBytes);
    this.server.addService(spine as grpc.ServiceDefinition, {
      ...unaryHandlers(ctx),
      ...streamHandlers(ctx),
      AppendStream: appendStreamHandler(ctx),
      ...operationHandlers(ctx, options.operations ?? (() => undefined)),
    });
    this.server.addService(health as grpc.ServiceDefinition, this.health.handlers(ctx));
    new ReflectionService(definition).addToServer(this.server);
  }

  /** Binds `host:port` (0: a free port) and starts serving; resolves with the bound address. */
  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const tls = this.options.tls;
      const credentials =
        tls === undefined
          ? grpc.ServerCredentials.createInsecure()
          : grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined);
      this.server.bindAsync(formatAddress(host, port), credentials, (err, bound) => {
        if (err !== null) {
          reject(new SpineError('IO_ERROR', `gRPC cannot listen on ${formatAddress(host, port)}: ${err.message}`, { cause: err, field: 'grpcPort' }));
          return;
        }
        this.boundAddress = formatAddress(host, bound);
        resolve(this.boundAddress);
      });
    });
  }

  get address(): string | undefined {
    return this.boundAddress;
  }

  /** Marks the services SERVING (the store is open). */
  serving(): void {
    this.health.setAll('SERVING');
  }

  /**
   * Graceful shutdown: health NOT_SERVING, no new calls (GOAWAY), subscriptions and health
   * watches ended, AppendStreams answer what they have read and end, unary appends
   * finish. Other calls get `timeoutMs`; then they are cut off (appends still finish first).
   */
  shutdown(timeoutMs: number): Promise<void> {
    this.stopping ??= this.doShutdown(timeoutMs);
    return this.stopping;
  }

  private async doShutdown(timeoutMs: number): Promise<void> {
    this.health.setAll('NOT_SERVING');
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.calls.stopStreams();
    this.health.endWatches();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const outcome = await Promise.race([drained.then(() => 'drained' as const), late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.options.logger.warn('calls still open at the shutdown timeout; cutting them off', { timeoutMs, appendsInFlight: this.calls.appendsInFlight });
      await this.calls.appendsSettled();
      this.server.forceShutdown();
    }
  }
}
