/**
 * TLS of both surfaces (DESIGN §7) on the real daemon, with certificates the test makes
 * (openssl when present, else node:crypto; the test names say which): gRPC and HTTPS with
 * the right CA work, plain text and untrusted servers do not; with mutual TLS a client
 * certificate of the client CA is needed on both surfaces, and the command line reaches
 * the daemon over HTTPS with its CA, client certificate and API key files.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { loadTls } from '../../src/auth';
import { EventSpineClient, EventSpineError } from '../../src/client';
import { eventSpineServiceClient } from '../../src/client/proto';
import { certTool, makeCa, makeLeaf, type CertFiles, type CertTool } from '../helpers/certs';
import { employeeEvent, openClient } from '../helpers/client';
import { BIN, REPO_ROOT, daemonEnv, startDaemon } from '../helpers/daemon';
import { writeKeys } from '../helpers/keys';

const tool = certTool();

interface Pki {
  serverCa: CertFiles;
  server: CertFiles;
  clientCa: CertFiles;
  client: CertFiles;
  /** A client certificate of a CA the daemon does not trust. */
  rogue: CertFiles;
}

function makePki(dir: string, with_: CertTool): Pki {
  const serverCa = makeCa(dir, 'server-ca', with_);
  const clientCa = makeCa(dir, 'client-ca', with_);
  const otherCa = makeCa(dir, 'other-ca', with_);
  return {
    serverCa,
    server: makeLeaf(dir, serverCa, 'server', 'server', with_),
    clientCa,
    client: makeLeaf(dir, clientCa, 'client', 'client', with_),
    rogue: makeLeaf(dir, otherCa, 'rogue', 'client', with_),
  };
}

interface PemOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  headers?: Record<string, string>;
}

/** One HTTPS request (no connection reuse); rejects when the TLS handshake or the connection fails. */
function httpsGet(address: string, path: string, tls: PemOptions): Promise<{ status: number; body: string }> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host, port, path, agent: false, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/** A plain-text HTTP request. */
function httpGet(address: string, path: string): Promise<{ status: number }> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.once('error', reject);
    req.end();
  });
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** Head through the generated proto client (not the SDK) with the given channel credentials (and API key). */
function rawHead(address: string, credentials: grpc.ChannelCredentials, apiKey?: string): Promise<Record<string, unknown>> {
  const Ctor = eventSpineServiceClient();
  const raw = new Ctor(address, credentials) as unknown as grpc.Client & {
    Head(req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void): void;
  };
  const md = new grpc.Metadata();
  if (apiKey !== undefined) md.set('authorization', `Bearer ${apiKey}`);
  return new Promise<Record<string, unknown>>((resolve, reject) => raw.Head({}, md, (err, res) => (err === null ? resolve(res) : reject(err)))).finally(() => raw.close());
}

/** The gRPC status a refused channel ends the call with. */
async function refusedStatus(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return 'answered';
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

/** `event-spine <args>` as a child process. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: daemonEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const noRetry = { attempts: 1 };

t.test(`TLS on both surfaces (certificates made with ${tool})`, async (t) => {
  const pki = makePki(t.testdir(), tool);
  const daemon = await startDaemon(t, { args: ['--tls-cert', pki.server.certFile, '--tls-key', pki.server.keyFile] });
  t.equal(daemon.ready.tls, true, 'the ready line says tls: true');
  t.match(daemon.logs.find((l) => l.msg === 'authentication'), { tls: true, mutualTls: false, certificateValidTo: /^\d{4}-/ });

  await t.test('gRPC: the typed client and the generated client with the CA append and read', async (t) => {
    const client = openClient(t, daemon.grpcAddress, { tls: { ca: pki.serverCa.cert } });
    const appended = await client.append([employeeEvent(1), employeeEvent(2)]);
    t.same(
      appended.map((r) => r.seq),
      [1, 2],
    );
    const emitted = await client.emit(employeeEvent(3));
    t.equal(emitted.seq, 3, 'emit goes over the AppendStream on the TLS channel');
    const page = await client.query({ entity_type: 'employee' });
    t.equal(page.items.length, 3);
    t.equal((await client.get({ seq: 2 }))?.id, appended[1]?.id);
    const head = await rawHead(daemon.grpcAddress, grpc.credentials.createSsl(pki.serverCa.cert));
    t.equal(head.seq, 3, 'the generated proto client over TLS');
  });

  await t.test('the typed client: tls.serverName checks the certificate for another name', async (t) => {
    const named = openClient(t, daemon.grpcAddress, { tls: { ca: pki.serverCa.cert, serverName: 'localhost' }, retry: noRetry });
    t.equal((await named.head()).seq, 3, 'the certificate names localhost');
    const wrong = openClient(t, daemon.grpcAddress, { tls: { ca: pki.serverCa.cert, serverName: 'spine.example' }, retry: noRetry });
    t.match(await wrong.head().catch((e: unknown) => e), { grpcStatus: grpc.status.UNAVAILABLE }, 'it does not name spine.example');
  });

  await t.test('HTTPS with the CA', async (t) => {
    const r = await httpsGet(daemon.httpAddress, '/api/head', { ca: pki.serverCa.cert });
    t.equal(r.status, 200);
    t.equal((JSON.parse(r.body) as { seq: number }).seq, 3);
    t.equal((await httpsGet(daemon.httpAddress, '/healthz', { ca: pki.serverCa.cert })).status, 200);
  });

  await t.test('plain text is refused on both ports', async (t) => {
    t.equal(await refusedStatus(rawHead(daemon.grpcAddress, grpc.credentials.createInsecure())), grpc.status.UNAVAILABLE, 'a plain-text gRPC client gets no answer');
    const plain = new EventSpineClient({ address: daemon.grpcAddress, retry: noRetry });
    t.teardown(() => plain.close());
    const err = await plain.head().catch((e: unknown) => e);
    t.ok(err instanceof EventSpineError, 'the typed client without tls fails');
    t.equal((err as EventSpineError).grpcStatus, grpc.status.UNAVAILABLE);
    await t.rejects(httpGet(daemon.httpAddress, '/healthz'), 'a plain-text HTTP request gets no answer');
  });

  await t.test('a client that does not trust the certificate is refused', async (t) => {
    t.equal(await refusedStatus(rawHead(daemon.grpcAddress, grpc.credentials.createSsl(pki.clientCa.cert))), grpc.status.UNAVAILABLE, 'gRPC with another CA');
    await t.rejects(httpsGet(daemon.httpAddress, '/healthz', { ca: pki.clientCa.cert }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'HTTPS with another CA');
    await t.rejects(httpsGet(daemon.httpAddress, '/healthz', {}), 'HTTPS trusting only the system CAs');
  });

  await t.test('the command line over https:// with --ca-file', async (t) => {
    const ok = await cli(['verify', '--http', `https://${daemon.httpAddress}`, '--ca-file', pki.serverCa.certFile]);
    t.equal(ok.status, 0, ok.stderr);
    t.match(ok.stdout, /^ok https:\/\/127\.0\.0\.1:\d+: 3 events verified/);
    const untrusted = await cli(['verify', '--http', `https://${daemon.httpAddress}`]);
    t.equal(untrusted.status, 1);
    t.match(untrusted.stderr, /cannot reach the daemon at https:\/\/127\.0\.0\.1:\d+/);
    const plain = await cli(['verify', '--http', daemon.httpAddress, '--ca-file', pki.serverCa.certFile]);
    t.equal(plain.status, 2, '--ca-file with an http:// address is a usage error');
    t.match(plain.stderr, /give --http as https:\/\/host:port/);
  });
});

t.test(`mutual TLS on both surfaces (certificates made with ${tool})`, async (t) => {
  const dir = t.testdir();
  const pki = makePki(dir, tool);
  const keys = writeKeys(t, { ops: { scopes: ['append', 'read', 'admin'] }, auditor: { scopes: ['admin', 'read'], actor_id: 'auditor-bot', actor_type: 'system' } }, dir);
  const daemon = await startDaemon(t, {
    args: ['--tls-cert', pki.server.certFile, '--tls-key', pki.server.keyFile, '--tls-client-ca', pki.clientCa.certFile, ...keys.args],
  });
  t.match(daemon.logs.find((l) => l.msg === 'authentication'), { mode: 'keys', keys: 2, tls: true, mutualTls: true });
  const ca = pki.serverCa.cert;
  const secret = keys.secret.ops as string;

  await t.test('a client certificate signed by the client CA works on gRPC and HTTPS', async (t) => {
    const client = openClient(t, daemon.grpcAddress, { tls: { ca, cert: pki.client.cert, key: pki.client.key }, apiKey: secret });
    const [r] = await client.append([employeeEvent(1)]);
    t.equal(r?.seq, 1);
    t.equal((await client.query({})).items.length, 1);
    t.equal((await rawHead(daemon.grpcAddress, grpc.credentials.createSsl(ca, pki.client.key, pki.client.cert), secret)).seq, 1, 'the generated client');
    const h = await httpsGet(daemon.httpAddress, '/healthz', { ca, cert: pki.client.cert, key: pki.client.key });
    t.equal(h.status, 200);
    const head = await httpsGet(daemon.httpAddress, '/api/head', { ca, cert: pki.client.cert, key: pki.client.key, headers: { authorization: `Bearer ${secret}` } });
    t.equal(head.status, 200, 'HTTPS with the certificate and the key');
    t.equal((JSON.parse(head.body) as { seq: number }).seq, 1);
  });

  await t.test('a client certificate does not stand in for the API key', async (t) => {
    const keyless = openClient(t, daemon.grpcAddress, { tls: { ca, cert: pki.client.cert, key: pki.client.key }, retry: noRetry });
    t.match(await keyless.head().catch((e: unknown) => e), { grpcStatus: grpc.status.UNAUTHENTICATED }, 'gRPC without apiKey');
    t.equal((await httpsGet(daemon.httpAddress, '/api/head', { ca, cert: pki.client.cert, key: pki.client.key })).status, 401, 'HTTPS without Authorization');
  });

  await t.test('without a client certificate: refused on both surfaces', async (t) => {
    t.equal(await refusedStatus(rawHead(daemon.grpcAddress, grpc.credentials.createSsl(ca), secret)), grpc.status.UNAVAILABLE, 'gRPC');
    await t.rejects(httpsGet(daemon.httpAddress, '/healthz', { ca }), 'HTTPS');
  });

  await t.test('with a certificate of another CA: refused on both surfaces', async (t) => {
    t.equal(await refusedStatus(rawHead(daemon.grpcAddress, grpc.credentials.createSsl(ca, pki.rogue.key, pki.rogue.cert), secret)), grpc.status.UNAVAILABLE, 'gRPC');
    await t.rejects(httpsGet(daemon.httpAddress, '/healthz', { ca, cert: pki.rogue.cert, key: pki.rogue.key }), 'HTTPS');
    const typed = new EventSpineClient({ address: daemon.grpcAddress, tls: { ca, cert: pki.rogue.cert, key: pki.rogue.key }, apiKey: secret, retry: noRetry });
    t.teardown(() => typed.close());
    t.equal(((await typed.head().catch((e: unknown) => e)) as EventSpineError).grpcStatus, grpc.status.UNAVAILABLE, 'the typed client too');
  });

  await t.test('the command line with --ca-file, --cert-file, --key-file and --api-key-file', async (t) => {
    const keyFile = join(dir, 'api-key');
    writeFileSync(keyFile, `${secret}\n`, { mode: 0o600 });
    const base = `https://${daemon.httpAddress}`;
    const ok = await cli(['verify', '--http', base, '--ca-file', pki.serverCa.certFile, '--cert-file', pki.client.certFile, '--key-file', pki.client.keyFile, '--api-key-file', keyFile]);
    t.equal(ok.status, 0, ok.stderr);
    t.match(ok.stdout, /^ok https:\/\/127\.0\.0\.1:\d+: 1 events verified/);
    t.notMatch(ok.stdout + ok.stderr, secret, 'the key is printed nowhere');
    const noKey = await cli(['verify', '--http', base, '--ca-file', pki.serverCa.certFile, '--cert-file', pki.client.certFile, '--key-file', pki.client.keyFile]);
    t.equal(noKey.status, 1, 'refused without the key file');
    t.match(noKey.stderr, /UNAUTHENTICATED/);
    const noCert = await cli(['verify', '--http', base, '--ca-file', pki.serverCa.certFile, '--api-key-file', keyFile]);
    t.equal(noCert.status, 1, 'refused without a client certificate');
    t.match(noCert.stderr, /cannot reach the daemon/);
    const auditorKey = join(dir, 'auditor-key');
    writeFileSync(auditorKey, keys.secret.auditor as string, { mode: 0o600 });
    const bound = await cli(['verify', '--http', base, '--ca-file', pki.serverCa.certFile, '--cert-file', pki.client.certFile, '--key-file', pki.client.keyFile, '--api-key-file', auditorKey]);
    t.equal(bound.status, 0, `a key bound to an actor: the operation is by that actor (${bound.stderr})`);
    const opId = /operation ([0-9a-f-]{36})/.exec(bound.stderr)?.[1] ?? '';
    const op = await httpsGet(daemon.httpAddress, `/api/operations/${opId}`, { ca, cert: pki.client.cert, key: pki.client.key, headers: { authorization: `Bearer ${secret}` } });
    t.match(JSON.parse(op.body), { id: opId, actor_id: 'auditor-bot' });
    const half = await cli(['verify', '--http', base, '--cert-file', pki.client.certFile]);
    t.equal(half.status, 2);
    t.match(half.stderr, /--cert-file and --key-file go together/);
  });
});

t.test('client options: TLS and keys are checked when the client is made', async (t) => {
  const address = '127.0.0.1:1';
  t.throws(() => new EventSpineClient({ address, tls: {}, credentials: grpc.credentials.createInsecure() }), TypeError, 'tls and credentials together');
  t.throws(() => new EventSpineClient({ address, tls: { cert: 'x' } }), { name: 'TypeError', message: /cert and options\.tls\.key go together/ });
  for (const apiKey of ['', 'has space', 'line\nbreak', 'é-not-ascii']) {
    t.throws(() => new EventSpineClient({ address, apiKey }), { name: 'TypeError', message: /apiKey/ }, JSON.stringify(apiKey));
  }
});

t.test('start-up refusals name the tls setting (CONFIG_INVALID, exit 2)', async (t) => {
  const dir = t.testdir();
  const pki = makePki(dir, tool);
  const other = makeLeaf(dir, pki.serverCa, 'other-server', 'server', tool);
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const base = { certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: '' };
  t.ok(loadTls(base), 'the good pair loads');
  t.throws(() => loadTls({ ...base, certFile: join(dir, 'missing.pem') }), { code: 'CONFIG_INVALID', field: 'tls.certFile' }, 'a file that cannot be read');
  t.throws(() => loadTls({ ...base, certFile: garbage }), { code: 'CONFIG_INVALID', field: 'tls.certFile' }, 'a file without a certificate');
  t.throws(() => loadTls({ ...base, keyFile: garbage }), { code: 'CONFIG_INVALID', field: 'tls.keyFile' }, 'a file without a key');
  t.throws(() => loadTls({ ...base, keyFile: other.keyFile }), { code: 'CONFIG_INVALID', field: 'tls.keyFile', message: /is not the private key/ }, 'the key of another certificate');
  t.throws(() => loadTls({ ...base, clientCaFile: garbage }), { code: 'CONFIG_INVALID', field: 'tls.clientCaFile' }, 'a client CA file without a certificate');
  t.equal(loadTls({ certFile: '', keyFile: '', clientCaFile: '' }), undefined, 'TLS off');

  const bad = await new Promise<{ status: number | null; stderr: string; stdout: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, 'serve', '--data-dir', join(dir, 'data'), '--grpc-port', '0', '--http-port', '0', '--tls-cert', pki.server.certFile, '--tls-key', other.keyFile], {
      cwd: REPO_ROOT,
      env: daemonEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.once('close', (status) => resolve({ status, stderr, stdout }));
  });
  t.equal(bad.status, 2, 'the daemon does not start');
  t.match(bad.stderr, /tls\.keyFile: .* is not the private key/);
  t.notMatch(bad.stdout, /"msg":"ready"/);
});

t.test('certificates made with node:crypto (the fallback without openssl) pass a mutual TLS handshake', async (t) => {
  const pki = makePki(t.testdir(), 'node:crypto');
  const server = createTlsServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.clientCa.cert, requestCert: true, rejectUnauthorized: true }, (socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca: pki.serverCa.cert, cert: pki.client.cert, key: pki.client.key });
  let text = '';
  await new Promise<void>((resolve, reject) => {
    socket.setEncoding('utf8').on('data', (c: string) => (text += c));
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  t.equal(text, 'hello', 'the server certificate checks against its CA (for 127.0.0.1) and the client certificate against the client CA');
});
