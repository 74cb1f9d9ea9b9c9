/**
 * The REST API on the daemon's HTTP router (DESIGN §5): the spine endpoints, the Maysano
 * views, the SSE stream, the OpenAPI document, CORS, and 405 IMMUTABLE for PUT, PATCH and
 * DELETE on every event resource. One entry point, registerApiRoutes; its close() is the
 * shutdown hook that ends open SSE streams.
 */
import type { Guard } from '../../auth';
import type { Config } from '../../config';
import { SpineError } from '../../errors';
import type { Logger, SpineMetrics } from '../../observability';
import type { Store } from '../../store';
import { apiSettings, type ApiContext } from './context';
import { CorsPolicy } from './cors';
import { envelopeOptions, eventRoutes } from './events-routes';
import { openApiDocument } from './openapi';
import { sendError, sendText } from './respond';
import type { RouteHandler, Router } from './router';
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
  const openApiText = JSON.stringify(openApiDocument(deps.openApiPaths));

  // Order matters where patterns overlap: /api/events/stream before /api/events/:id.
  const routes: [method: 'GET' | 'POST', pattern: string, handler: RouteHandler][] = [
    ['GET', '/api/events/stream', sse.handle],
    ['GET', '/api/events', events.list],
    ['POST', '/api/events', events.append],
    ['GET', '/api/events/:id', events.get],
    ['GET', '/api/head', events.head],
    ['GET', '/api/verify', events.verify],
    ['GET', '/api/aggregate', events.aggregate],
    ['GET', '/api/structural-events', views.structuralEvents],
    ['GET', '/api/products/:id/activities', views.productActivities],
    ['GET', '/api/objectives/:id/history', views.objectiveHistory],
    ['GET', '/api/openapi.json', ({ res }) => sendText(res, 200, 'application/json; charset=utf-8', openApiText)],
  ];

  const cors = new CorsPolicy(settings.corsOrigins);
  const methods = new Map<string, string[]>();
  for (const [method, pattern, handler] of routes) {
    router.add(method, pattern, cors.wrap(handler));
    methods.set(pattern, [...(methods.get(pattern) ?? []), method]);
  }
  for (const [pattern, allowed] of methods) router.add('OPTIONS', pattern, cors.preflight(allowed));
  for (const pattern of EVENT_RESOURCES) {
    const allow = [...(methods.get(pattern) ?? []), 'HEAD', 'OPTIONS'].join(', ');
    const refuse: RouteHandler = ({ req, res, url }) => {
      deps.metrics.failed('IMMUTABLE');
      const err = new SpineError('IMMUTABLE', `events are immutable: ${req.method ?? ''} ${url.pathname} is refused, there is no update or delete in any API (allowed: ${allow})`);
      sendError(res, err, { allow });
    };
    for (const method of ['PUT', 'PATCH', 'DELETE']) router.add(method, pattern, cors.wrap(refuse), { listed: false });
  }

  return {
    close(): void {
      closed = true;
      sse.closeAll();
    },
    openStreams: () => sse.size,
  };
}
