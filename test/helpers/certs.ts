/**
 * Certificates for TLS tests, made by the test: a CA, a server certificate for 127.0.0.1
 * and localhost, and client certificates, as PEM files in a test's directory. With the
 * `openssl` binary when there is one (as an operator would make them), else in-process
 * with node:crypto (ECDSA P-256, a minimal X.509 v3 encoder below). Tests name the tool
 * they used.
 *
 *   const tool = certTool();                         // 'openssl' | 'node:crypto'
 *   const ca = makeCa(dir, 'server-ca', tool);
 *   const server = makeLeaf(dir, ca, 'server', 'server', tool);   // server.certFile, server.keyFile
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CertTool = 'openssl' | 'node:crypto';

export interface CertFiles {
  name: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

/** openssl when it runs, else node:crypto. */
export function certTool(): CertTool {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? 'openssl' : 'node:crypto';
}

function files(dir: string, name: string): CertFiles {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { name, certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA certificate (valid for two days). */
export function makeCa(dir: string, name: string, tool: CertTool = certTool()): CertFiles {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  if (tool === 'openssl') {
    openssl(['req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${name}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  } else {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(certFile, certificatePem({ subject: name, issuer: name, publicKey, signer: privateKey, issuerPublicKey: publicKey, ca: true }));
  }
  return files(dir, name);
}

/**
 * A certificate signed by `ca`: for a server (127.0.0.1 and localhost), a client, or both
 * (a server that also presents its certificate as a client, e.g. to its own mutual TLS).
 */
export type CertUse = 'server' | 'client' | 'server+client';

export function makeLeaf(dir: string, ca: CertFiles, name: string, use: CertUse, tool: CertTool = certTool()): CertFiles {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  if (tool === 'openssl') {
    const csr = join(dir, `${name}.csr`);
    const ext = join(dir, `${name}.ext`);
    const eku = { server: 'serverAuth', client: 'clientAuth', 'server+client': 'serverAuth,clientAuth' }[use];
    writeFileSync(ext, ['basicConstraints=CA:FALSE', use === 'client' ? `subjectAltName=DNS:${name}` : 'subjectAltName=IP:127.0.0.1,DNS:localhost', `extendedKeyUsage=${eku}`].join('\n') + '\n');
    openssl(['req', '-new', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-out', certFile, '-extfile', ext]);
  } else {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const signer = createPrivateKey(ca.key);
    const issuerPublicKey = createPublicKey(signer);
    writeFileSync(certFile, certificatePem({ subject: name, issuer: ca.name, publicKey, signer, issuerPublicKey, ca: false, use }));
  }
  return files(dir, name);
}

// ---- a minimal DER encoder for X.509 v3 (RFC 5280) -----------------------------------------

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, body: Buffer): Buffer => tlv(0xa0 + n, body);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const TRUE = tlv(0x01, Buffer.from([0xff]));

function integer(b: Buffer): Buffer {
  let body = b;
  while (body.length > 1 && body[0] === 0 && ((body[1] as number) & 0x80) === 0) body = body.subarray(1);
  return tlv(0x02, ((body[0] as number) & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) chunk.unshift(0x80 | (x & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'; // YYMMDDHHMMSSZ
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

const name = (cn: string): Buffer => seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function extension(id: string, value: Buffer, critical = false): Buffer {
  return critical ? seq(oid(id), TRUE, octets(value)) : seq(oid(id), octets(value));
}

/** The key identifier of RFC 5280 §4.2.1.2 (1): SHA-1 of the subjectPublicKey bits. */
function keyId(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // For EC keys the BIT STRING is the last 66 bytes: 0x03 0x42 0x00 and the 65-byte point.
  return createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
}

interface CertificateSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signer: KeyObject;
  issuerPublicKey: KeyObject;
  ca: boolean;
  use?: CertUse;
}

function certificatePem(spec: CertificateSpec): string {
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const exts: Buffer[] = [
    extension('2.5.29.19', spec.ca ? seq(TRUE) : seq(), true), // basicConstraints
    extension('2.5.29.15', spec.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0x80]), 7), true), // keyUsage: keyCertSign+cRLSign | digitalSignature
    extension('2.5.29.14', octets(keyId(spec.publicKey))), // subjectKeyIdentifier
    extension('2.5.29.35', seq(tlv(0x80, keyId(spec.issuerPublicKey)))), // authorityKeyIdentifier
  ];
  if (spec.use !== undefined) {
    const server = spec.use !== 'client';
    const san = server ? [tlv(0x87, Buffer.from([127, 0, 0, 1])), tlv(0x82, Buffer.from('localhost'))] : [tlv(0x82, Buffer.from(spec.subject))];
    exts.push(extension('2.5.29.17', seq(...san))); // subjectAltName
    const eku = [...(server ? [oid('1.3.6.1.5.5.7.3.1')] : []), ...(spec.use !== 'server' ? [oid('1.3.6.1.5.5.7.3.2')] : [])];
    exts.push(extension('2.5.29.37', seq(...eku))); // extKeyUsage: serverAuth, clientAuth
  }
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ECDSA_SHA256,
    name(spec.issuer),
    seq(utcTime(new Date(now - 60_000)), utcTime(new Date(now + 2 * 86_400_000))),
    name(spec.subject),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...exts)),
  );
  const der = seq(tbs, ECDSA_SHA256, bits(sign('sha256', tbs, spec.signer)));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
