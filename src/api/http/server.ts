/**
 * The HTTP listener (node:http, or node:https with the `tls` settings): one router, errors
 * as {"error":{"code","message"}}, requests counted by route and status. /healthz, /readyz
 * and /metrics are registered by ops-routes.ts; the REST API adds its routes to the same
 * router.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsMaterial } from '../../auth';
import { SpineError, isSpineError } from '../../errors';
import type { Logger, SpineMetrics } from '../../observability';
import { sendError } from './respond';
import type { Router } from './router';

export interface HttpServerOptions {
  router: Router;
  logger: Logger;
  metrics: SpineMetrics;
  /** Serve HTTPS only; with a client CA every client must present a certificate it signed. */
  tls?: TlsMaterial;
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class HttpServer {
  private readonly server: Server | TlsServer;
  private boundAddress: string | undefined;

  constructor(private readonly options: HttpServerOptions) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    const tls = options.tls;
    if (tls === undefined) {
      this.server = createServer(handler);
      return;
    }
    const mutual = tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true };
    this.server = createTlsServer({ cert: tls.cert, key: tls.key, ...mutual }, handler);
    // A refused client certificate or a plain-text client: the handshake fails before any request.
    this.server.on('tlsClientError', (err) => options.logger.debug('TLS handshake refused', { surface: 'http', reason: err.message }));
  }

  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new SpineError('IO_ERROR', `HTTP cannot listen on ${formatAddress(host, port)}: ${err.message}`, { cause: err, field: 'httpPort' }));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.boundAddress = formatAddress(host, (this.server.address() as AddressInfo).port);
        resolve(this.boundAddress);
      });
    });
  }

  get address(): string | undefined {
    return this.boundAddress;
  }

  /** Stops accepting; open requests get `timeoutMs` before their connections are cut. */
  close(timeoutMs = 5_000): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), timeoutMs);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const { router, logger, metrics } = this.options;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendError(res, new SpineError('INVALID_REQUEST', 'the request target is not a valid URL'));
      return;
    }
    const match = router.match(req.method ?? 'GET', url.pathname);
    const route = match.kind === 'route' ? match.pattern : 'unmatched';
    res.once('finish', () => metrics.httpRequests.inc({ route, status: String(res.statusCode) }));
    if (match.kind === 'not-found') {
      metrics.failed('NOT_FOUND');
      sendError(res, new SpineError('NOT_FOUND', `no route for ${url.pathname}`));
      return;
    }
    if (match.kind === 'method-not-allowed') {
      metrics.failed('METHOD_NOT_ALLOWED');
      sendError(res, new SpineError('METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${url.pathname}; allowed: ${match.allow.join(', ')}`), { allow: match.allow.join(', ') });
      return;
    }
    Promise.resolve()
      .then(() => match.handler({ req, res, url, params: match.params }))
      .catch((err: unknown) => {
        const e = isSpineError(err) ? err : new SpineError('INTERNAL', 'an unexpected failure inside the server (logged with its stack)', { cause: err });
        if (!isSpineError(err)) logger.error('unexpected error', { route, err });
        metrics.failed(e.code);
        sendError(res, e);
      });
  }
}
