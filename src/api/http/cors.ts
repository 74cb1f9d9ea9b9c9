/**
 * CORS (https://fetch.spec.whatwg.org/#http-cors-protocol) for the origins of
 * http.corsOrigins: none by default, a list of exact origins, or "*". No credentials
 * (cookies) are involved: callers authenticate with headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatedRoute, RouteContext, RouteHandler } from './router';

/** Request headers a browser may send (preflight answer); `authorization` carries the API key. */
const ALLOWED_HEADERS = 'content-type, last-event-id, authorization, cache-control, x-requested-with';
/** Response headers a browser script may read. */
const EXPOSED_HEADERS = 'location, allow';
const MAX_AGE_SECONDS = '600';

export class CorsPolicy {
  constructor(private readonly origins: readonly string[] | '*') {}

  /** The Access-Control-Allow-Origin value for this request, or undefined (not allowed). */
  private allowed(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    if (this.origins === '*') return '*';
    return this.origins.includes(origin) ? origin : undefined;
  }

  /** Sets the CORS response headers of an allowed origin (before the handler writes). */
  apply(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.origins !== '*' && this.origins.length > 0) res.setHeader('vary', 'Origin');
    const allow = this.allowed(req);
    if (allow === undefined) return false;
    res.setHeader('access-control-allow-origin', allow);
    res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
    return true;
  }

  /** The route with the CORS headers set first, outside its gate: a browser can read a 401 too. */
  wrap(route: GatedRoute): GatedRoute {
    return {
      access: route.access,
      handler: (method, pattern) => {
        const inner = route.handler(method, pattern);
        return (ctx: RouteContext) => {
          this.apply(ctx.req, ctx.res);
          return inner(ctx);
        };
      },
    };
  }

  /** OPTIONS: 204 with Allow; for an allowed origin's preflight, the Access-Control-Allow-* headers. */
  preflight(methods: readonly string[]): RouteHandler {
    const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
    return ({ req, res }: RouteContext) => {
      res.setHeader('allow', allow);
      if (this.apply(req, res) && req.headers['access-control-request-method'] !== undefined) {
        res.setHeader('access-control-allow-methods', allow);
        res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
        res.setHeader('access-control-max-age', MAX_AGE_SECONDS);
      }
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
    };
  }
}
