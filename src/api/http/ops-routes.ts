/**
 * Operations routes: /healthz (the process is alive), /readyz (the store is open and the
 * daemon is not shutting down: 200, else 503) and /metrics (Prometheus text format).
 */
import { SpineError } from '../../errors';
import { METRICS_CONTENT_TYPE, type SpineMetrics } from '../../observability';
import { errorBody, sendJson, sendText } from './respond';
import type { Router } from './router';
import type { Guard } from '../../auth';

export interface Readiness {
  /** The store is open. */
  storeOpen(): boolean;
  /** A shutdown has begun. */
  shuttingDown(): boolean;
}

export function addOpsRoutes(router: Router, readiness: Readiness, metrics: SpineMetrics, guard?: Guard): Router {
  void guard; // TODO(issue 7): /metrics needs the admin scope
  return router
    .get('/healthz', ({ res }) => sendJson(res, 200, { status: 'ok' }))
    .get('/readyz', ({ res }) => {
      if (readiness.shuttingDown()) return sendJson(res, 503, errorBody(new SpineError('STORE_CLOSED', 'shutting down')));
      if (!readiness.storeOpen()) return sendJson(res, 503, errorBody(new SpineError('NOT_READY', 'the store is opening (recovery or index catch-up)')));
      sendJson(res, 200, { status: 'ready' });
    })
    .get('/metrics', ({ res }) => sendText(res, 200, METRICS_CONTENT_TYPE, metrics.render()));
}
