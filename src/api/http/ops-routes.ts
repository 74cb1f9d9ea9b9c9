/**
 * Operations routes: /healthz (the process is alive), /readyz (the store is open and the
 * daemon is not shutting down: 200, else 503), both open to probes without a key, and
 * /metrics (Prometheus text format), which is process-wide: an admin key that sees every
 * organization.
 */
import type { Guard } from '../../auth';
import { SpineError } from '../../errors';
import { METRICS_CONTENT_TYPE, type SpineMetrics } from '../../observability';
import { HttpGate } from './gate';
import { errorBody, sendJson, sendText } from './respond';
import type { Router } from './router';

export interface Readiness {
  /** The store is open. */
  storeOpen(): boolean;
  /** A shutdown has begun. */
  shuttingDown(): boolean;
}

export function addOpsRoutes(router: Router, readiness: Readiness, metrics: SpineMetrics, guard?: Guard): Router {
  const gate = HttpGate.of(guard, metrics);
  return router
    .get('/healthz', gate.open(({ res }) => sendJson(res, 200, { status: 'ok' })))
    .get(
      '/readyz',
      gate.open(({ res }) => {
        if (readiness.shuttingDown()) return sendJson(res, 503, errorBody(new SpineError('STORE_CLOSED', 'shutting down')));
        if (!readiness.storeOpen()) return sendJson(res, 503, errorBody(new SpineError('NOT_READY', 'the store is opening (recovery or index catch-up)')));
        sendJson(res, 200, { status: 'ready' });
      }),
    )
    .get('/metrics', gate.requires('admin', ({ res }) => sendText(res, 200, METRICS_CONTENT_TYPE, metrics.render()), { allOrganizations: true }));
}
