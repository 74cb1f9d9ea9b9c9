/**
 * The gate of every HTTP route (DESIGN §7). Routes are declared through it (open, or the
 * scope they need), and the Router takes nothing else, so no route can forget it. Per
 * request, in this order:
 *
 * 1. The key: `Authorization: Bearer <secret>`. The SSE streams also take `?access_token=`
 *    (RFC 6750 §2.3), because a browser's EventSource cannot set headers; every other
 *    route refuses that parameter (400 INVALID_QUERY), so keys stay out of ordinary URLs,
 *    and a request with both is refused too (RFC 6750 §3.1: one method per request). The
 *    parameter is taken out of the URL the handler sees.
 * 2. The Caller (401 UNAUTHENTICATED), one request charged to its rate (429 RATE_LIMITED,
 *    with Retry-After), the route's scope and, for process-wide data, every organization
 *    (403 PERMISSION_DENIED).
 * 3. The handler, with the Caller: it narrows reads to the caller's organizations, checks
 *    appends, and holds a stream slot per SSE stream (openStream), with the stop that ends
 *    the response when a keys reload removes or changes the key.
 *
 * Every refusal — here or in the handler — is logged and counted by the Guard with the
 * route pattern (`GET /api/events`), never the URL (it may hold a token) nor a secret.
 */
import { Guard, type Caller, type Scope, type StreamStop } from '../../auth';
import { SpineError } from '../../errors';
import { Logger, SpineMetrics } from '../../observability';
import type { GatedRoute, RouteAccess, RouteContext, RouteHandler } from './router';

/** The query parameter of a key on the SSE streams (RFC 6750 §2.3). */
export const ACCESS_TOKEN = 'access_token';

/** What a gated handler gets: the request, and who makes it. */
export interface CallContext extends RouteContext {
  /** The URL without `access_token`. */
  url: URL;
  caller: Caller;
  /** The route (`GET /api/events/:id`), for logs and errors; never the URL. */
  call: string;
  /**
   * Holds one of the caller's stream slots (429 RATE_LIMITED when it holds its maximum; 401
   * if a keys reload revoked the key since the request came in); returns the release, to
   * call once the stream ends, however it ends. `stop` ends the response should a keys
   * reload remove or change the key (Guard.reload).
   */
  openStream(stop: StreamStop): () => void;
}

export type CallHandler = (ctx: CallContext) => void | Promise<void>;

const OPEN: RouteAccess = { scope: undefined, tokenInQuery: false, allOrganizations: false };
/** A preflight's URL is the request's own, which may carry a stream's token: it reads no query. */
const PREFLIGHT: RouteAccess = { scope: undefined, tokenInQuery: true, allOrganizations: false };

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The Authorization value of a request and its URL without `access_token`. Refuses the
 * parameter where the route does not take it, more than once, and next to the header.
 */
function credentials(ctx: RouteContext, tokenInQuery: boolean): { authorization: string | undefined; url: URL } {
  const authorization = header(ctx.req.headers.authorization);
  const tokens = ctx.url.searchParams.getAll(ACCESS_TOKEN);
  if (tokens.length === 0) return { authorization, url: ctx.url };
  const refuse = (message: string): SpineError => new SpineError('INVALID_QUERY', `${ACCESS_TOKEN}: ${message}`, { field: ACCESS_TOKEN });
  if (!tokenInQuery) {
    throw refuse(`a key in the URL is taken only by the SSE streams (GET /api/events/stream, GET /api/operations/:id/events), which browsers open without headers; send the Authorization header ("Bearer <key>")`);
  }
  if (tokens.length > 1) throw refuse('given more than once');
  if (authorization !== undefined) throw refuse('the key is sent both in the Authorization header and in the URL; send it once (RFC 6750 §3.1), preferably in the header');
  const url = new URL(ctx.url);
  url.searchParams.delete(ACCESS_TOKEN);
  const token = tokens[0] as string;
  return { authorization: token === '' ? undefined : `Bearer ${token}`, url };
}

export class HttpGate {
  constructor(readonly guard: Guard) {}

  /**
   * The gate of `guard`; without one, a Guard of auth.mode "none" (every call is the
   * anonymous caller) that logs and counts with `logger` and `metrics`.
   */
  static of(guard: Guard | undefined, metrics?: SpineMetrics, logger?: Logger): HttpGate {
    if (guard !== undefined) return new HttpGate(guard);
    return new HttpGate(Guard.none(logger ?? new Logger(), metrics ?? new SpineMetrics()));
  }

  /** A route anyone may call without a key (it still refuses `access_token`). */
  open(handler: RouteHandler): GatedRoute {
    return this.route(OPEN, handler);
  }

  /** A CORS preflight: open, and it ignores the query (a stream's token may be in it). */
  preflight(handler: RouteHandler): GatedRoute {
    return this.route(PREFLIGHT, handler);
  }

  /**
   * A route for callers whose key has `scope`. `tokenInQuery`: the key may come as
   * `?access_token=` (SSE streams); `allOrganizations`: only for a key that sees every
   * organization.
   */
  requires(scope: Scope, handler: CallHandler, options: { tokenInQuery?: boolean; allOrganizations?: boolean } = {}): GatedRoute {
    return this.route({ scope, tokenInQuery: options.tokenInQuery ?? false, allOrganizations: options.allOrganizations ?? false }, handler);
  }

  private route(access: RouteAccess, handler: CallHandler | RouteHandler): GatedRoute {
    return { access, handler: (method, pattern) => this.gated(`${method} ${pattern}`, access, handler) };
  }

  private gated(call: string, access: RouteAccess, handler: CallHandler | RouteHandler): RouteHandler {
    const guard = this.guard;
    const scope = access.scope;
    if (scope === undefined) {
      const open = handler as RouteHandler;
      return (ctx) => open({ ...ctx, url: credentials(ctx, access.tokenInQuery).url });
    }
    const secured = handler as CallHandler;
    return async (ctx) => {
      let caller: Caller | undefined;
      try {
        const { authorization, url } = credentials(ctx, access.tokenInQuery);
        const who = guard.authenticate(authorization);
        caller = who;
        guard.admit(who);
        who.require(scope, call);
        if (access.allOrganizations) who.requireAllOrganizations(call);
        await secured({ ...ctx, url, caller: who, call, openStream: (stop) => guard.openStream(who, stop) });
      } catch (err) {
        guard.noteFailure(err, caller, { surface: 'http', call });
        throw err;
      }
    };
  }
}
