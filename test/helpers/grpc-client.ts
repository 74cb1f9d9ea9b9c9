/**
 * A gRPC client built from proto/ alone with @grpc/proto-loader (not the SDK, not the
 * server's code), as a service in any language would build one.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Test } from 'tap';
import { REPO_ROOT } from './daemon';

export const PROTO_DIR = join(REPO_ROOT, 'proto');

const definition = protoLoader.loadSync(['eventspine/v1/event_spine.proto', 'grpc/health/v1/health.proto'], {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  eventspine: { v1: { EventSpine: grpc.ServiceClientConstructor } };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

export type Msg = Record<string, unknown>;

export interface CallOptions {
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

export interface SpineClient {
  raw: grpc.Client;
  health: grpc.Client;
  /** A unary call by method name ('Append', 'Get', …), promisified. */
  call<T = Msg>(method: string, request: Msg, options?: CallOptions): Promise<T>;
  /** Health.Check. */
  check(service?: string): Promise<Msg>;
  /** A server-streaming call. */
  stream(method: string, request: Msg, options?: CallOptions): grpc.ClientReadableStream<Msg>;
  appendStream(options?: CallOptions): grpc.ClientDuplexStream<Msg, Msg>;
  close(): void;
}

function callOptions(options: CallOptions | undefined): grpc.CallOptions {
  return options?.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
}

export function spineClient(t: Test | undefined, address: string, channelOptions: grpc.ChannelOptions = {}): SpineClient {
  const creds = grpc.credentials.createInsecure();
  const raw = new loaded.eventspine.v1.EventSpine(address, creds, { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...channelOptions });
  const health = new loaded.grpc.health.v1.Health(address, creds);
  const anyRaw = raw as unknown as Record<string, (...args: unknown[]) => unknown>;
  const client: SpineClient = {
    raw,
    health,
    call<T>(method: string, request: Msg, options?: CallOptions): Promise<T> {
      return new Promise((resolve, reject) => {
        const fn = anyRaw[method];
        if (fn === undefined) throw new Error(`no method ${method}`);
        fn.call(raw, request, options?.metadata ?? new grpc.Metadata(), callOptions(options), (err: grpc.ServiceError | null, value: T) => (err === null ? resolve(value) : reject(err)));
      });
    },
    check(service = ''): Promise<Msg> {
      return new Promise((resolve, reject) => {
        (health as unknown as Record<string, (...args: unknown[]) => unknown>).Check?.call(health, { service }, (err: grpc.ServiceError | null, value: Msg) => (err === null ? resolve(value) : reject(err)));
      });
    },
    stream(method: string, request: Msg, options?: CallOptions): grpc.ClientReadableStream<Msg> {
      const fn = anyRaw[method];
      if (fn === undefined) throw new Error(`no method ${method}`);
      return fn.call(raw, request, options?.metadata ?? new grpc.Metadata(), callOptions(options)) as grpc.ClientReadableStream<Msg>;
    },
    appendStream(options?: CallOptions): grpc.ClientDuplexStream<Msg, Msg> {
      return (anyRaw.AppendStream as (...args: unknown[]) => grpc.ClientDuplexStream<Msg, Msg>).call(raw, options?.metadata ?? new grpc.Metadata(), callOptions(options));
    },
    close(): void {
      raw.close();
      health.close();
    },
  };
  t?.teardown(() => client.close());
  return client;
}

/** The status, `error-code` and `error-field` of a failed call. */
export function errorInfo(err: unknown): { status: number; code: string | undefined; field: string | undefined; details: string } {
  const e = err as grpc.ServiceError;
  const first = (key: string): string | undefined => {
    const v = e.metadata?.get(key)[0];
    return v === undefined ? undefined : String(v);
  };
  return { status: e.code, code: first('error-code'), field: first('error-field'), details: e.details };
}

/** Collects a server stream until it ends; resolves with the messages and the final status. */
export function collect(stream: grpc.ClientReadableStream<Msg>): Promise<{ messages: Msg[]; status: grpc.StatusObject; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const messages: Msg[] = [];
    let error: grpc.ServiceError | undefined;
    stream.on('data', (m: Msg) => messages.push(m));
    stream.on('error', (e: grpc.ServiceError) => (error = e));
    stream.on('status', (status: grpc.StatusObject) => {
      // 'status' can come before the last 'data' events are emitted; let them drain.
      setImmediate(() => resolve({ messages, status, ...(error === undefined ? {} : { error }) }));
    });
  });
}

let counter = 0;
/** A valid event as the wire carries it (payload: JSON text). */
export function wireEvent(over: Msg = {}): Msg {
  counter += 1;
  return {
    event_type: 'hcm.employee.updated',
    entity_id: `emp-${counter % 7}`,
    entity_name: `Employee ${counter % 7}`,
    actor_id: `user-${counter % 3}`,
    payload: JSON.stringify({ field: 'department', old_value: 'd-1', new_value: 'd-2', n: counter }),
    ...over,
  };
}
