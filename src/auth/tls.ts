/**
 * TLS of both listeners (DESIGN §7): the PEM files named by the `tls` settings, read and
 * checked once at start, before anything listens. A file that cannot be read, holds no
 * certificate or key, or a key that is not the certificate's stops the start with
 * CONFIG_INVALID naming the setting, rather than failing every handshake later. The gRPC
 * and the HTTP server are given the same material, so they are both TLS or both plain.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SpineError } from '../errors';

/** The `tls` settings (a slice of Config). */
export interface TlsSettings {
  certFile: string;
  keyFile: string;
  clientCaFile: string;
}

/** What the servers are given: PEM bytes, checked. */
export interface TlsMaterial {
  /** The certificate chain, the server's own certificate first. */
  cert: Buffer;
  key: Buffer;
  /** CA certificates that sign client certificates (mutual TLS); undefined: none asked for. */
  clientCa: Buffer | undefined;
  /** The server certificate's end of validity (RFC 3339), for the start-up log. */
  validTo: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function invalid(setting: string, file: string, message: string, cause?: unknown): SpineError {
  return new SpineError('CONFIG_INVALID', `${setting}: ${file} ${message}`, { field: setting, cause });
}

function readPem(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw invalid(setting, file, `cannot be read: ${(err as Error).message}`, err);
  }
}

/** Every certificate of a PEM file, parsed; at least one. */
function certificates(setting: string, file: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw invalid(setting, file, 'holds no PEM certificate (a "-----BEGIN CERTIFICATE-----" block)');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw invalid(setting, file, `certificate ${i + 1} does not parse: ${(err as Error).message}`, err);
    }
  });
}

function privateKey(file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw invalid('tls.keyFile', file, `is not an unencrypted PEM private key: ${(err as Error).message}`, err);
  }
}

/** The checked TLS material of the settings; undefined when TLS is off (tls.certFile empty). */
export function loadTls(settings: TlsSettings): TlsMaterial | undefined {
  if (settings.certFile === '' && settings.keyFile === '') {
    if (settings.clientCaFile !== '') throw new SpineError('CONFIG_INVALID', 'tls.clientCaFile (mutual TLS) needs tls.certFile and tls.keyFile', { field: 'tls.clientCaFile' });
    return undefined;
  }
  if (settings.certFile === '' || settings.keyFile === '') {
    const missing = settings.certFile === '' ? 'tls.certFile' : 'tls.keyFile';
    throw new SpineError('CONFIG_INVALID', `tls.certFile and tls.keyFile go together: ${missing} is empty`, { field: missing });
  }
  const cert = readPem('tls.certFile', settings.certFile);
  const [leaf] = certificates('tls.certFile', settings.certFile, cert) as [X509Certificate];
  const key = readPem('tls.keyFile', settings.keyFile);
  if (!leaf.checkPrivateKey(privateKey(settings.keyFile, key))) {
    throw invalid('tls.keyFile', settings.keyFile, `is not the private key of the first certificate of tls.certFile (${settings.certFile}, ${leaf.subject.replace(/\n/g, ', ')})`);
  }
  let clientCa: Buffer | undefined;
  if (settings.clientCaFile !== '') {
    clientCa = readPem('tls.clientCaFile', settings.clientCaFile);
    certificates('tls.clientCaFile', settings.clientCaFile, clientCa);
  }
  return { cert, key, clientCa, validTo: new Date(leaf.validTo).toISOString() };
}
