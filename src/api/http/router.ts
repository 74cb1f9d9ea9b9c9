/**
 * A small router for the HTTP adapter: routes are a method and a path pattern with
 * `:name` segments (`/api/events/:id`). HEAD is served by the GET route. A path that no
 * route has is 404; a path with routes for other methods is 405 with an Allow header.
 *
 * A route is added only as a GatedRoute (gate.ts): it declares who may call it, and its
 * handler runs behind the gate that checks exactly that. A route cannot be added without
 * saying what it needs, and routes() lists every declaration (the tests' matrix).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Scope } from '../../auth';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Readonly<Record<string, string>>;
}

export type RouteHandler = (ctx: RouteContext) => void | Promise<void>;

/** Who may call a route (DESIGN §7). */
export interface RouteAccess {
  /** The scope the caller's key needs; undefined: open, no key asked for (health, the document, preflights, 405s). */
  readonly scope: Scope | undefined;
  /** The key may come as `?access_token=` (RFC 6750 §2.3): SSE streams only, which browsers open without headers. */
  readonly tokenInQuery: boolean;
  /** Only for a key that sees every organization (process-wide data such as /metrics). */
  readonly allOrganizations: boolean;
}

/** A route's access and its handler behind the gate that enforces that access (gate.ts makes them). */
export interface GatedRoute {
  readonly access: RouteAccess;
  /** The handler of `method pattern`, gate included; the call is named by its route, never its URL. */
  handler(method: string, pattern: string): RouteHandler;
}

/** One registered route, as routes() lists it. */
export interface RouteInfo {
  method: string;
  pattern: string;
  access: RouteAccess;
  listed: boolean;
}

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  keys: string[];
  handler: RouteHandler;
  access: RouteAccess;
  /** Whether the route's method is named in the Allow header of other methods' 405s. */
  listed: boolean;
}

export type RouteMatch =
  | { kind: 'route'; pattern: string; handler: RouteHandler; params: Record<string, string> }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string[] };

function compile(pattern: string): { regex: RegExp; keys: string[] } {
  if (!pattern.startsWith('/')) throw new TypeError(`route pattern ${JSON.stringify(pattern)} must start with /`);
  const keys: string[] = [];
  const source = pattern
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        keys.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${source}$`), keys };
}

export class Router {
  private readonly routes: Route[] = [];

  /**
   * `listed: false` keeps the method out of the Allow header of other methods' 405s: for
   * routes that only refuse (PUT/PATCH/DELETE on immutable events answer 405 themselves).
   */
  add(method: string, pattern: string, route: GatedRoute, options: { listed?: boolean } = {}): this {
    const m = method.toUpperCase();
    if (this.routes.some((r) => r.method === m && r.pattern === pattern)) throw new TypeError(`route ${m} ${pattern} is defined twice`);
    this.routes.push({ method: m, pattern, handler: route.handler(m, pattern), access: route.access, listed: options.listed ?? true, ...compile(pattern) });
    return this;
  }

  get(pattern: string, route: GatedRoute): this {
    return this.add('GET', pattern, route);
  }

  post(pattern: string, route: GatedRoute): this {
    return this.add('POST', pattern, route);
  }

  /** Every route with its declared access, in the order added. */
  list(): RouteInfo[] {
    return this.routes.map((r) => ({ method: r.method, pattern: r.pattern, access: r.access, listed: r.listed }));
  }

  match(method: string, path: string): RouteMatch {
    const wanted = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
    const allow = new Set<string>();
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (m === null) continue;
      if (route.method !== wanted) {
        if (!route.listed) continue;
        allow.add(route.method);
        if (route.method === 'GET') allow.add('HEAD');
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, key] of route.keys.entries()) {
        try {
          params[key] = decodeURIComponent(m[i + 1] as string);
        } catch {
          params[key] = m[i + 1] as string;
        }
      }
      return { kind: 'route', pattern: route.pattern, handler: route.handler, params };
    }
    return allow.size > 0 ? { kind: 'method-not-allowed', allow: [...allow].sort() } : { kind: 'not-found' };
  }
}
