/**
 * The one configuration schema: every setting's default, type, documentation and rule.
 * config/default.json, config/schema.json, the README's settings table and the loader's
 * checks are all derived from this tree (a test keeps the committed files in step).
 */
import { boolean, integer, oneOf, text, type Setting } from './setting';

const MiB = 1024 * 1024;

export const SCHEMA = {
  dataDir: text({
    default: './data',
    doc: 'Directory of the store (segments and index). Relative paths are relative to the working directory.',
    flag: '--data-dir',
  }),
  host: text({
    default: '127.0.0.1',
    doc: 'Address both servers bind to (gRPC and HTTP). 0.0.0.0 or :: listens on every interface.',
    flag: '--host',
  }),
  grpcPort: integer({ default: 50051, min: 0, max: 65535, doc: 'gRPC port; 0 picks a free port (the bound address is logged once ready).', flag: '--grpc-port' }),
  httpPort: integer({ default: 8080, min: 0, max: 65535, doc: 'HTTP port (/healthz, /readyz, /metrics, the REST API); 0 picks a free port.', flag: '--http-port' }),
  durability: oneOf(['fsync', 'write'] as const, {
    default: 'fsync',
    doc: 'When an append is acknowledged: "fsync" once its bytes are on disk (survives power loss); "write" once they are in the OS page cache (survives a crash of the daemon, not of the machine).',
    flag: '--durability',
  }),
  segmentBytes: integer({ default: 128 * MiB, min: 1 * MiB, max: 4096 * MiB, unit: 'bytes', doc: 'Size at which a log segment is sealed and a new one started.' }),
  defaults: {
    organizationId: text({ default: 'default', maxLength: 256, doc: 'organization_id of events that do not name one.' }),
    environment: oneOf(['dev', 'test', 'stage', 'prod'] as const, { default: 'prod', doc: 'environment of events that do not name one.' }),
  },
  limits: {
    maxPayloadBytes: integer({ default: 65536, min: 2, max: 8 * MiB, unit: 'bytes', doc: "Largest payload of one event, as canonical JSON (UTF-8 bytes)." }),
    maxBatchEvents: integer({ default: 10_000, min: 1, max: 100_000, doc: 'Most events in one Append request (or one AppendStream request, or one HTTP POST).' }),
    maxMessageBytes: integer({
      default: 16 * MiB,
      min: 64 * 1024,
      max: 512 * MiB,
      unit: 'bytes',
      doc: 'Largest gRPC request message. Larger ones are refused with RESOURCE_EXHAUSTED (error-code REQUEST_TOO_LARGE).',
    }),
    maxHttpBodyBytes: integer({ default: 16 * MiB, min: 1024, max: 512 * MiB, unit: 'bytes', doc: 'Largest HTTP request body; larger ones are refused with 413.' }),
    maxInFlightPerStream: integer({
      default: 256,
      min: 1,
      max: 65536,
      doc: 'Requests of one AppendStream being appended at once; past it the server stops reading the stream (HTTP/2 flow control holds the client back) until some are answered.',
    }),
    maxConcurrentStreams: integer({ default: 1000, min: 1, max: 1_000_000, doc: 'Concurrent gRPC calls on one client connection.' }),
  },
  subscriptions: {
    queueLimit: integer({
      default: 10_000,
      min: 1,
      max: 10_000_000,
      unit: 'events',
      doc: "Live events buffered for one subscriber; past it the subscriber gets fell_behind and is served from the log until it catches up (it is never dropped).",
    }),
    heartbeatMs: integer({ default: 15_000, min: 10, max: 3_600_000, unit: 'milliseconds', doc: 'Interval of heartbeat messages on an idle Subscribe stream (gRPC) or SSE stream (HTTP, a comment line).' }),
  },
  http: {
    corsOrigins: text({
      default: '',
      minLength: 0,
      maxLength: 8192,
      doc: 'Origins allowed to call /api/* from a browser (CORS): a comma-separated list such as "https://app.example.com,http://localhost:3000", or "*" for any origin; empty allows none.',
    }),
    structuralExcludedDomains: text({
      default: 'ops',
      minLength: 0,
      maxLength: 4096,
      doc: 'Domains left out of GET /api/structural-events, comma-separated (the operations domain by default); empty leaves none out.',
    }),
    sseRetryMs: integer({ default: 2000, min: 100, max: 600_000, unit: 'milliseconds', doc: 'The reconnection delay an SSE stream asks its clients for (its retry: field).' }),
    sseHistoryBytes: integer({
      default: 16 * MiB,
      min: 64 * 1024,
      max: 1024 * MiB,
      unit: 'bytes',
      doc: 'Recent events kept in memory for the SSE streams of one filter (shared by them): a client that fell behind by less is fed from memory, one that fell further behind catches up from the log.',
    }),
  },
  auth: {
    mode: oneOf(['none', 'keys'] as const, {
      default: 'none',
      doc: 'How callers are authenticated. "none": every call is allowed, and the daemon refuses to start unless both servers are bound to loopback (see auth.allowUnauthenticatedNetwork). "keys": every gRPC and HTTP call must present an API key from auth.keysFile, except the probes (/healthz, /readyz, gRPC health), server reflection and /api/openapi.json.',
      flag: '--auth-mode',
    }),
    keysFile: text({
      default: '',
      minLength: 0,
      doc: 'The API keys file (JSON, keys stored as SHA-256 hashes; `event-spine keys new` makes an entry). Required when auth.mode is "keys"; read at start and on SIGHUP.',
      flag: '--keys-file',
    }),
    allowUnauthenticatedNetwork: boolean({
      default: false,
      doc: 'Lets auth.mode "none" listen beyond loopback, for a trusted private network only (e.g. a container network behind an authenticating proxy). Logged as a warning at every start.',
    }),
    rateLimitPerSecond: integer({ default: 0, min: 0, max: 10_000_000, unit: 'requests per second', doc: 'Calls one API key may make per second (a token bucket; each gRPC call, HTTP request or AppendStream message counts one). 0: no limit. A key may set its own (rate_limit_per_second).' }),
    rateLimitBurst: integer({ default: 0, min: 0, max: 10_000_000, unit: 'requests', doc: 'Calls one key may make at once above its rate before it is limited (the bucket size); 0 means one second of its rate.' }),
    maxStreamsPerKey: integer({ default: 256, min: 1, max: 1_000_000, doc: 'Long-lived streams (Subscribe, Read, AppendStream, WatchOperation, SSE) one API key may hold open at once; past it new ones answer RATE_LIMITED. A key may set its own (max_streams).' }),
  },
  tls: {
    certFile: text({ default: '', minLength: 0, doc: 'PEM certificate chain of the servers. With tls.keyFile, both gRPC and HTTP serve TLS only (never plain and TLS side by side); empty: both plain.', flag: '--tls-cert' }),
    keyFile: text({ default: '', minLength: 0, doc: 'PEM private key of tls.certFile.', flag: '--tls-key' }),
    clientCaFile: text({ default: '', minLength: 0, doc: 'PEM CA certificates for mutual TLS: when set, every client must present a certificate signed by one of them, on both servers.', flag: '--tls-client-ca' }),
  },
  operations: {
    maxRunning: integer({ default: 32, min: 1, max: 10_000, doc: 'Operations (batch auto-setups, verify and export jobs) running at once; past it, starting another answers RATE_LIMITED (429).' }),
    autoSetupMaxTables: integer({ default: 1000, min: 1, max: 100_000, doc: 'Tables in one batch auto-setup request; more are refused with INVALID_REQUEST (400) before anything starts.' }),
    autoSetupMaxColumns: integer({ default: 20_000, min: 1, max: 1_000_000, doc: 'Columns in one batch auto-setup request, all tables together; more are refused with INVALID_REQUEST (400) before anything starts.' }),
  },
  shutdown: {
    timeoutMs: integer({
      default: 10_000,
      min: 0,
      max: 3_600_000,
      unit: 'milliseconds',
      doc: 'On SIGTERM/SIGINT, how long calls other than appends (reads, queries) may take to finish before they are cut off. In-flight appends are always finished.',
    }),
  },
  log: {
    level: oneOf(['debug', 'info', 'warn', 'error'] as const, { default: 'info', doc: 'Least severe level of log line written to standard output.', flag: '--log-level' }),
  },
} as const;

/** A schema subtree: settings and groups of settings. */
export interface SchemaTree {
  readonly [key: string]: Setting<unknown> | SchemaTree;
}

/** The configuration type a schema tree describes. */
export type ConfigOf<S> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : ConfigOf<S[K]> };

/** The daemon's configuration, as validated and frozen by loadConfig. */
export type Config = ConfigOf<typeof SCHEMA>;

export interface SettingEntry {
  /** Dotted path, e.g. `limits.maxPayloadBytes`. */
  path: string;
  setting: Setting<unknown>;
  /** The environment variable that sets it, e.g. `EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES`. */
  env: string;
}

export function isSetting(node: Setting<unknown> | SchemaTree): node is Setting<unknown> {
  return (node as { kind?: unknown }).kind === 'setting';
}

/** `limits.maxPayloadBytes` → `EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES`. */
export function envName(path: string): string {
  return 'EVENT_SPINE_' + path.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Every setting of the schema with its path, depth first in schema order. */
export function settings(tree: SchemaTree = SCHEMA as unknown as SchemaTree, prefix = ''): SettingEntry[] {
  const out: SettingEntry[] = [];
  for (const [key, node] of Object.entries(tree)) {
    const path = prefix + key;
    if (isSetting(node)) out.push({ path, setting: node, env: envName(path) });
    else out.push(...settings(node, path + '.'));
  }
  return out;
}

/** The group paths of the schema (`limits`, `subscriptions`, …). */
export function groups(tree: SchemaTree = SCHEMA as unknown as SchemaTree, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, node] of Object.entries(tree)) {
    if (!isSetting(node)) out.push(prefix + key, ...groups(node, prefix + key + '.'));
  }
  return out;
}
