/**
 * Fuzzing both surfaces of a real daemon (issue 7), bounded in count and time: thousands
 * of random and malformed requests — garbage and mutated protobuf, broken gRPC framing,
 * broken and hostile JSON, invalid UTF-8, huge and odd headers, garbage HTTP request lines
 * — must be answered only with clean client errors (a gRPC status other than UNKNOWN,
 * INTERNAL or DATA_LOSS; an HTTP status below 500), the daemon must stay up, and the
 * store must be unchanged: same head, same count, the chain verifies.
 *
 * Writes cannot succeed by accident: mutated well-formed requests go out without a key, with
 * a wrong key or with a read-only key; the admin key only carries bodies that cannot decode
 * into a valid event. FUZZ_SEED replays a run.
 */
import http2 from 'node:http2';
import { connect } from 'node:net';
import * as protoLoader from '@grpc/proto-loader';
import t from 'tap';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { pick, prng, randomBytes } from '../helpers/events';
import { PROTO_DIR } from '../helpers/grpc-client';
import { writeKeys, type TestKeys } from '../helpers/keys';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const GRPC_REQUESTS = 2500;
const HTTP_REQUESTS = 2500;
const RAW_HTTP_REQUESTS = 300;
const TIME_BOX_MS = Number(process.env.FUZZ_TIME_BOX_MS ?? 60_000);
const CONCURRENCY = 8;
const SEEDED_EVENTS = 40;

const definition = protoLoader.loadSync(['eventspine/v1/event_spine.proto'], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, includeDirs: [PROTO_DIR] });
const service = definition['eventspine.v1.EventSpine'] as protoLoader.ServiceDefinition;

const READ_METHODS = new Set(['Get', 'Query', 'Read', 'Subscribe', 'Aggregate', 'Verify', 'Head', 'GetOperation', 'WatchOperation']);

/** Statuses that would mean the server broke, not that the request was bad. */
const SERVER_FAULTS = new Set([2, 13, 15]);

/**
 * grpc-js itself answers a malformed `grpc-timeout` header with INTERNAL ("Invalid
 * grpc-timeout value …") before any handler of ours runs (its own tests expect that); such
 * answers are counted apart, not as faults of the daemon.
 */
const GRPC_JS_TIMEOUT_ANSWER = /^Invalid grpc-timeout value /;

function event(n: number): Record<string, unknown> {
  return { event_type: 'hcm.employee.updated', entity_id: `emp-${n % 5}`, actor_id: 'fuzz-seed', organization_id: n % 2 === 0 ? 'acme' : 'globex', payload: { n } };
}

/** Well-formed requests of every RPC, to mutate. */
function sampleRequests(): Record<string, Record<string, unknown>> {
  const wire = { ...event(1), payload: JSON.stringify({ n: 1 }) };
  return {
    Append: { events: [wire, wire] },
    AppendStream: { request_id: 1, events: [wire] },
    Get: { id: '0190a0b4-7f7a-7cc0-8000-000000000001' },
    Query: { filter: { entity_type: 'employee', entity_id: 'emp-1', organization_id: 'acme' }, limit: 10, order: 'ORDER_DESC' },
    Read: { filter: { from_seq: 1, to_seq: 5 } },
    Subscribe: { filter: { event_type: 'hcm.' }, after_seq: 3 },
    Aggregate: { filter: { domain: 'hcm' }, group_by: 'event_type' },
    Verify: { from_seq: 1, to_seq: 10, check_index: true },
    Head: {},
    BatchAutoSetup: { tables: [{ name: 'orders', columns: [{ name: 'id', type: 'int', primary_key: true }] }] },
    WatchOperation: { operation_id: '0190a0b4-7f7a-7cc0-8000-000000000001', after_seq: 0 },
    GetOperation: { operation_id: '0190a0b4-7f7a-7cc0-8000-000000000001' },
  };
}

function grpcFrame(message: Buffer, compressed = 0, declaredLength = message.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed;
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, message]);
}

function mutate(rand: () => number, buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  const flips = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < flips && out.length > 0; i++) {
    const at = Math.floor(rand() * out.length);
    const how = rand();
    if (how < 0.5) out[at] = Math.floor(rand() * 256);
    else if (how < 0.75) out[at] = (out[at] as number) ^ (1 << Math.floor(rand() * 8));
    else return Buffer.concat([out.subarray(0, at), randomBytes(rand, 1 + Math.floor(rand() * 16)), out.subarray(at)]);
  }
  return out;
}

/** A header value of bytes 0x80–0xff: not UTF-8, yet allowed by HTTP's field syntax. */
function notUtf8(rand: () => number, n: number): string {
  return Buffer.from(Array.from({ length: n }, () => 0x80 + Math.floor(rand() * 0x80))).toString('latin1');
}

interface Keys {
  keys: TestKeys;
  /** Credentials for requests that might otherwise write: none, wrong, or read-only. */
  harmless(rand: () => number): string | undefined;
}

function authValue(k: Keys, rand: () => number, mayBeAdmin: boolean): string | undefined {
  if (mayBeAdmin && rand() < 0.3) return k.keys.bearer('admin');
  return k.harmless(rand);
}

async function runPool(total: number, deadline: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total && Date.now() < deadline) {
        const i = next++;
        await one(i);
        done += 1;
      }
    }),
  );
  return done;
}

interface GrpcOutcome {
  status?: number;
  message?: string;
  /** A stream still open (a subscription with a long deadline): closed by the fuzzer. */
  openStream?: true;
  /** A stream-level refusal by HTTP/2 itself (RST_STREAM, GOAWAY, a header too large). */
  protocolError?: string;
}

function grpcCall(session: http2.ClientHttp2Session, method: string, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<GrpcOutcome> {
  return new Promise((resolve) => {
    let status: number | undefined;
    let message: string | undefined;
    let settled = false;
    const finish = (o: GrpcOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request({ ':method': 'POST', ':path': `/eventspine.v1.EventSpine/${method}`, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m', ...headers });
    } catch (err) {
      finish({ protocolError: (err as Error).message });
      return;
    }
    const read = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (s !== undefined) status = Number(s);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', read);
    req.on('trailers', read);
    req.on('data', () => undefined);
    req.on('error', (err) => finish({ protocolError: err.message }));
    // A garbled grpc-timeout can still parse as a very long deadline (grpc-js reads its
    // first 8 digits): a valid Subscribe then stays open, as it should; close it.
    const timer = setTimeout(() => {
      finish({ openStream: true });
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, 3_000);
    req.on('close', () => {
      clearTimeout(timer);
      finish(status === undefined ? { protocolError: `stream closed (rst ${req.rstCode})` } : { status, ...(message === undefined ? {} : { message }) });
    });
    req.end(body);
  });
}

function httpStatusOk(status: number): boolean {
  return status >= 200 && status < 500;
}

/** Sends raw bytes as an HTTP/1.1 request; resolves with the status line's code, or 0 if the server closed without one. */
function rawHttp(address: string, bytes: Buffer): Promise<number> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = '';
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve(m === null ? 0 : Number(m[1]));
    });
  });
}

async function storeState(d: DaemonHandle, admin: string): Promise<{ head: unknown; total: number; verify: Record<string, unknown> }> {
  const get = async (path: string): Promise<Record<string, unknown>> => {
    const r = await fetch(`http://${d.httpAddress}${path}`, { headers: { authorization: admin } });
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as Record<string, unknown>;
  };
  const head = await get('/api/head');
  const aggregate = await get('/api/aggregate?group_by=organization_id');
  const verify = await get('/api/verify');
  return { head, total: aggregate.total as number, verify };
}

t.test('fuzzing both surfaces', { timeout: 240_000 }, async (t) => {
  t.comment(`FUZZ_SEED=${SEED}`);
  const rand = prng(SEED);
  const keys = writeKeys(t, {
    admin: { scopes: ['append', 'read', 'admin'] },
    reader: { scopes: ['read'], organizations: ['acme'] },
  });
  const k: Keys = {
    keys,
    harmless: (r) => pick(r, [undefined, 'Bearer esk_wrong', keys.bearer('reader'), keys.bearer('reader'), 'Basic Zm9vOmJhcg==', `Bearer ${notUtf8(r, 12)}`]),
  };
  const d = await startDaemon(t, { args: keys.args });
  const admin = keys.bearer('admin');

  const seeded = await fetch(`http://${d.httpAddress}/api/events`, {
    method: 'POST',
    headers: { authorization: admin, 'content-type': 'application/json' },
    body: JSON.stringify({ events: Array.from({ length: SEEDED_EVENTS }, (_, i) => event(i)) }),
  });
  t.equal(seeded.status, 201, 'seeded');
  const before = await storeState(d, admin);
  t.equal(before.total, SEEDED_EVENTS);
  t.equal(before.verify.ok, true);

  const deadline = Date.now() + TIME_BOX_MS;

  // ---- gRPC ------------------------------------------------------------------------------
  const methods = Object.keys(service);
  const samples = sampleRequests();
  t.same(methods.filter((m) => samples[m] === undefined), [], 'every RPC has a sample to mutate');
  let session = http2.connect(`http://${d.grpcAddress}`);
  session.on('error', () => undefined);
  const grpcStatuses = new Map<string, number>();
  const grpcFaults: string[] = [];
  const grpcDone = await runPool(GRPC_REQUESTS, deadline, async (i) => {
    if (session.destroyed || session.closed) {
      session = http2.connect(`http://${d.grpcAddress}`);
      session.on('error', () => undefined);
    }
    const method = pick(rand, methods);
    const def = service[method] as protoLoader.MethodDefinition<object, object>;
    const valid = def.requestSerialize(samples[method] as object);
    const shape = rand();
    let body: Buffer;
    let mayBeAdmin = false;
    if (shape < 0.35) body = grpcFrame(mutate(rand, valid));
    else if (shape < 0.55) {
      body = grpcFrame(randomBytes(rand, Math.floor(rand() * 200)));
      mayBeAdmin = true;
    } else if (shape < 0.65) {
      body = grpcFrame(valid, 0, valid.length + 1 + Math.floor(rand() * 1000)); // declares more than it sends
      mayBeAdmin = true;
    } else if (shape < 0.72) {
      body = grpcFrame(valid, 1); // "compressed" without a grpc-encoding
      mayBeAdmin = true;
    } else if (shape < 0.8) {
      body = randomBytes(rand, Math.floor(rand() * 4)); // a frame header cut short
      mayBeAdmin = true;
    } else body = grpcFrame(valid); // well-formed, with hostile headers below
    const headers: http2.OutgoingHttpHeaders = {};
    // The admin key only on reads: an append, a stream of appends or an auto-setup it
    // carried might be a legitimate write.
    const auth = authValue(k, rand, mayBeAdmin && READ_METHODS.has(method));
    if (auth !== undefined) headers.authorization = auth;
    const h = rand();
    if (h < 0.1) headers.authorization = `Bearer ${'x'.repeat(8_000 + Math.floor(rand() * 100_000))}`;
    else if (h < 0.2) headers['x-fuzz'] = notUtf8(rand, 1 + Math.floor(rand() * 2000));
    else if (h < 0.25) headers['grpc-timeout'] = pick(rand, ['garbage', '99999999999H', '-1S', '']);
    else if (h < 0.3) headers['content-type'] = pick(rand, ['application/json', 'text/plain', 'application/grpc+garbage']);
    const outcome = await grpcCall(session, method, headers, body);
    const transportAnswer = outcome.status === 13 && GRPC_JS_TIMEOUT_ANSWER.test(outcome.message ?? '');
    const label = outcome.openStream === true ? 'open stream' : outcome.status === undefined ? 'protocol' : transportAnswer ? 'grpc-js timeout header' : String(outcome.status);
    grpcStatuses.set(label, (grpcStatuses.get(label) ?? 0) + 1);
    if (outcome.status !== undefined && !transportAnswer && SERVER_FAULTS.has(outcome.status) && grpcFaults.length < 10) grpcFaults.push(`#${i} ${method} → status ${outcome.status}: ${outcome.message ?? ''}`);
  });
  session.close();
  t.comment(`gRPC: ${grpcDone} requests; statuses ${JSON.stringify(Object.fromEntries(grpcStatuses))}`);
  t.same(grpcFaults, [], 'no gRPC request was answered UNKNOWN, INTERNAL or DATA_LOSS');
  t.ok(grpcDone >= 1000, `at least a thousand gRPC requests in the time box (${grpcDone})`);
  t.ok((grpcStatuses.get('3') ?? 0) + (grpcStatuses.get('16') ?? 0) > 0, 'the garbage was refused as such');

  // ---- HTTP ------------------------------------------------------------------------------
  const paths = ['/api/events', '/api/events/stream', '/api/events/%ID%', '/api/head', '/api/verify', '/api/aggregate', '/api/structural-events', '/api/products/%ID%/activities', '/api/objectives/%ID%/history', '/api/operations', '/api/operations/%ID%', '/api/operations/%ID%/events', '/api/operations/%ID%/export', '/api/quality-intelligence/batch-auto-setup', '/api/openapi.json', '/metrics', '/healthz', '/readyz', '/nope', '/api/%ff%fe', '/api/events/..%2f..%2fetc'];
  const ids = ['0190a0b4-7f7a-7cc0-8000-000000000001', 'not-a-uuid', '%ff', '%', 'x'.repeat(3000), '..', '%00', encodeURIComponent('💥')];
  const queries = ['', '?limit=5', '?limit=-1', '?limit=abc', '?cursor=%%%', '?cursor=eyJ4IjoxfQ', '?entity_id=x', '?organization_id=globex', '?since=yesterday', '?group_by=nope', '?x=1&x=2', '?access_token=esk_wrong', '?%ff=%fe', `?q=${'a'.repeat(5000)}`, '?from_seq=99999999999999999999'];
  const bodies = (r: () => number): { body: Buffer; parses: boolean } => {
    const which = r();
    if (which < 0.2) return { body: randomBytes(r, Math.floor(r() * 300)), parses: false };
    if (which < 0.3) return { body: Buffer.from('{"events": [' + '['.repeat(50_000)), parses: false };
    if (which < 0.35) return { body: Buffer.from('['.repeat(20_000) + ']'.repeat(20_000)), parses: true }; // deep but valid JSON
    if (which < 0.45) return { body: Buffer.concat([Buffer.from('{"event_type":"hcm.employee.updated","entity_id":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), parses: true };
    if (which < 0.55) return { body: Buffer.from('{"a":1,"a":2,'), parses: false };
    if (which < 0.65) return { body: Buffer.from(JSON.stringify({ events: [] })), parses: true };
    const valid = Buffer.from(JSON.stringify(pick(r, [{ events: [event(Math.floor(r() * 100))] }, event(7), { tables: [{ name: 't', columns: [] }] }, { kind: 'verify' }])));
    return { body: mutate(r, valid), parses: true };
  };
  const httpStatuses = new Map<number, number>();
  const httpFaults: string[] = [];
  const httpDone = await runPool(HTTP_REQUESTS, deadline, async (i) => {
    const method = pick(rand, ['GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);
    const path = pick(rand, paths).replace('%ID%', pick(rand, ids)) + pick(rand, queries);
    const headers: Record<string, string> = {};
    let body: Buffer | undefined;
    let mayBeAdmin = true;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      const b = bodies(rand);
      body = b.body;
      mayBeAdmin = !b.parses; // a body that might parse into something valid never carries the admin key
      headers['content-type'] = pick(rand, ['application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded']);
    }
    const auth = authValue(k, rand, mayBeAdmin);
    if (auth !== undefined) headers.authorization = auth;
    if (rand() < 0.1) headers['x-fuzz'] = notUtf8(rand, 1 + Math.floor(rand() * 4000));
    if (rand() < 0.05) headers['last-event-id'] = pick(rand, ['-1', 'abc', '99999999999999999999', notUtf8(rand, 8)]);
    if (rand() < 0.05) headers.origin = pick(rand, ['https://evil.example', 'null', notUtf8(rand, 10)]);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 1_000); // SSE streams that were let in stay open
    try {
      const r = await fetch(`http://${d.httpAddress}${path}`, { method, headers, ...(body === undefined ? {} : { body }), signal: controller.signal });
      httpStatuses.set(r.status, (httpStatuses.get(r.status) ?? 0) + 1);
      if (!httpStatusOk(r.status) && httpFaults.length < 10) httpFaults.push(`#${i} ${method} ${path.slice(0, 120)} → ${r.status} ${(await r.text()).slice(0, 200)}`);
      else if (r.status >= 400 && method !== 'HEAD') {
        const text = await r.text();
        let code: unknown;
        try {
          code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
        } catch {
          code = undefined;
        }
        if (typeof code !== 'string' && httpFaults.length < 10) httpFaults.push(`#${i} ${method} ${path.slice(0, 120)} → ${r.status} without an error code: ${text.slice(0, 200)}`);
      } else await r.body?.cancel();
    } catch (err) {
      if (!controller.signal.aborted && httpFaults.length < 10) httpFaults.push(`#${i} ${method} ${path.slice(0, 120)} → ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  });
  t.comment(`HTTP: ${httpDone} requests; statuses ${JSON.stringify(Object.fromEntries(httpStatuses))}`);
  t.same(httpFaults, [], 'every HTTP answer was a success or a client error with a code');
  t.ok(httpDone >= 1000, `at least a thousand HTTP requests in the time box (${httpDone})`);

  // ---- HTTP below the router: garbage request lines and headers ----------------------------
  const rawStatuses = new Map<number, number>();
  let rawFaults = 0;
  for (let i = 0; i < RAW_HTTP_REQUESTS && Date.now() < deadline + 30_000; i++) {
    const which = rand();
    let bytes: Buffer;
    if (which < 0.3) bytes = randomBytes(rand, 1 + Math.floor(rand() * 500));
    else if (which < 0.5) bytes = Buffer.from(`GET /api/events HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    else if (which < 0.65) bytes = Buffer.concat([Buffer.from('GET /api/'), randomBytes(rand, 20), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]);
    else if (which < 0.8) bytes = Buffer.from(`POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\nContent-Type: application/json\r\n\r\n{"events":[`);
    else bytes = Buffer.from(`POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n${'{'.repeat(10)}\r\n0\r\n\r\n`);
    const status = await rawHttp(d.httpAddress, bytes);
    rawStatuses.set(status, (rawStatuses.get(status) ?? 0) + 1);
    if (status >= 500) rawFaults += 1;
  }
  t.comment(`raw HTTP: statuses ${JSON.stringify(Object.fromEntries(rawStatuses))} (0: closed without an answer)`);
  t.equal(rawFaults, 0, 'no raw request got a 5xx');

  // ---- afterwards ------------------------------------------------------------------------
  t.equal(d.proc.exitCode, null, 'the daemon is still running');
  const health = await fetch(`http://${d.httpAddress}/readyz`);
  t.equal(health.status, 200, 'and ready');
  const after = await storeState(d, admin);
  t.same(after.head, before.head, 'the head is unchanged');
  t.equal(after.total, before.total, 'the count is unchanged');
  t.equal(after.verify.ok, true, 'the chain verifies');
  t.equal(after.verify.checked, before.verify.checked);
  t.equal(await d.stop(), 0, 'and it shuts down cleanly');
});

