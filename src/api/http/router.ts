/**
 * A small router for the HTTP adapter: routes are a method and a path pattern with
 * `:name` segments (`/api/events/:id`). HEAD is served by the GET route. A path that no
 * route has is 404; a path with routes for other methods is 405 with an Allow header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Readonly<Record<string, string>>;
}

export type RouteHandler = (ctx: RouteContext) => void | Promise<void>;

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  keys: string[];
  handler: RouteHandler;
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
  add(method: string, pattern: string, handler: RouteHandler, options: { listed?: boolean } = {}): this {
    const m = method.toUpperCase();
    if (this.routes.some((r) => r.method === m && r.pattern === pattern)) throw new TypeError(`route ${m} ${pattern} is defined twice`);
    this.routes.push({ method: m, pattern, handler, listed: options.listed ?? true, ...compile(pattern) });
    return this;
  }

  get(pattern: string, handler: RouteHandler): this {
    return this.add('GET', pattern, handler);
  }

  post(pattern: string, handler: RouteHandler): this {
    return this.add('POST', pattern, handler);
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
