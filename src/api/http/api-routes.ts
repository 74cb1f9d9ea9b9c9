/**
 * The REST API on the daemon's HTTP router (DESIGN §5): the spine endpoints, the Maysano
 * views, the SSE stream, the OpenAPI document, CORS, and 405 IMMUTABLE for PUT, PATCH and
 * DELETE on every event resource. Every route declares what it needs (gate.ts, DESIGN §7):
 * append, read or admin; the document, preflights and the 405s are open. One entry point,
 * registerApiRoutes; its close() is the shutdown hook that ends open SSE streams.
 */
import type { Guard } from '../../auth';
import type { Config } from '../../config';
import { SpineError } from '../../errors';
import type { Logger, SpineMetrics } from '../../observability';
import type { Store } from '../../store';
import { apiSettings, type ApiContext } from './context';
import { CorsPolicy } from './cors';
import { envelopeOptions, eventRoutes } from './events-routes';
import { HttpGate } from './gate';
import { openApiDocument } from './openapi';
import { sendError, sendText } from './respond';
import type { GatedRoute, RouteHandler, Router } from './router';
import { SseStreams } from './sse';
import { viewRoutes } from './view-routes';

export interface ApiDeps {
  /** The store once the daemon is ready; undefined while it starts (answers 503 NOT_READY). */
  store(): Store | undefined;
  config: Config;
  logger: Logger;
  metrics: SpineMetrics;
  /** Authentication and rights of every call (DESIGN §7); auth.mode "none" without it. */
  guard?: Guard;
  /** More OpenAPI path items, for routes registered elsewhere. */
  openApiPaths?: Record<string, unknown>;
}

export interface ApiRoutes {
  /** Shutdown hook: API calls answer 503 STORE_CLOSED from now on; open SSE streams end. */
  close(): void;
  /** Open SSE streams. */
  openStreams(): number;
}

/** Resources holding events: PUT, PATCH and DELETE on them answer 405 IMMUTABLE. */
const EVENT_RESOURCES = ['/api/events', '/api/events/stream', '/api/events/:id', '/api/structural-events', '/api/products/:id/activities', '/api/objectives/:id/history'];

export function registerApiRoutes(router: Router, deps: ApiDeps): ApiRoutes {
  const settings = apiSettings(deps.config);
  let closed = false;
  const ctx: ApiContext = {
    store(): Store {
      if (closed) throw new SpineError('STORE_CLOSED', 'the daemon is shutting down');
      const store = deps.store();
      if (store === undefined) throw new SpineError('NOT_READY', 'the daemon is starting: the store is opening (recovery or index catch-up)');
      return store;
    },
    ready: () => !closed && deps.store() !== undefined,
    settings,
    logger: deps.logger,
    metrics: deps.metrics,
  };
  const events = eventRoutes(ctx, envelopeOptions(deps.config));
  const views = viewRoutes(ctx);
  const sse = new SseStreams(ctx);
  // Made at the first request, once every module has added its routes: the document's
  // security is the router's own declarations.
  let openApiText: string | undefined;
  const gate = HttpGate.of(deps.guard, deps.metrics, deps.logger);

  // Each route with what it needs (DESIGN §7). Order matters where patterns overlap:
  // /api/events/stream before /api/events/:id.
  const routes: [method: 'GET' | 'POST', pattern: string, route: GatedRoute][] = [
    ['GET', '/api/events/stream', gate.requires('read', sse.handle, { tokenInQuery: true })],
    ['GET', '/api/events', gate.requires('read', events.list)],
    ['POST', '/api/events', gate.requires('append', events.append)],
    ['GET', '/api/events/:id', gate.requires('read', events.get)],
    ['GET', '/api/head', gate.requires('read', events.head)],
    ['GET', '/api/verify', gate.requires('admin', events.verify)],
    ['GET', '/api/aggregate', gate.requires('read', events.aggregate)],
    ['GET', '/api/structural-events', gate.requires('read', views.structuralEvents)],
    ['GET', '/api/products/:id/activities', gate.requires('read', views.productActivities)],
    ['GET', '/api/objectives/:id/history', gate.requires('read', views.objectiveHistory)],
    ['GET', '/api/openapi.json', gate.open(({ res }) => sendText(res, 200, 'application/json; charset=utf-8', (openApiText ??= JSON.stringify(openApiDocument(deps.openApiPaths, router.list())))))],
  ];

  const cors = new CorsPolicy(settings.corsOrigins);
  const methods = new Map<string, string[]>();
  for (const [method, pattern, route] of routes) {
    router.add(method, pattern, cors.wrap(route));
    methods.set(pattern, [...(methods.get(pattern) ?? []), method]);
  }
  for (const [pattern, allowed] of methods) router.add('OPTIONS', pattern, gate.preflight(cors.preflight(allowed)));
  for (const pattern of EVENT_RESOURCES) {
    const allow = [...(methods.get(pattern) ?? []), 'HEAD', 'OPTIONS'].join(', ');
    // Open, like the router's own 404 and 405: the refusal reveals nothing and changes nothing.
    const refuse: RouteHandler = ({ req, res, url }) => {
      deps.metrics.failed('IMMUTABLE');
      const err = new SpineError('IMMUTABLE', `events are immutable: ${req.method ?? ''} ${url.pathname} is refused, there is no update or delete in any API (allowed: ${allow})`);
      sendError(res, err, { allow });
    };
    for (const method of ['PUT', 'PATCH', 'DELETE']) router.add(method, pattern, cors.wrap(gate.open(refuse)), { listed: false });
  }

  return {
    close(): void {
      closed = true;
      sse.closeAll();
    },
    openStreams: () => sse.size,
  };
}
