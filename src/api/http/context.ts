/**
 * What the REST routes share: the store (or why there is none right now), the settings
 * they read from the configuration, metrics and the logger.
 */
import type { Config } from '../../config';
import { SpineError } from '../../errors';
import type { Logger, SpineMetrics } from '../../observability';
import type { Store } from '../../store';

export interface ApiSettings {
  /** limits.maxHttpBodyBytes */
  maxBodyBytes: number;
  /** subscriptions.heartbeatMs: a comment line on an idle SSE stream. */
  heartbeatMs: number;
  /** subscriptions.queueLimit: live events buffered for one SSE stream. */
  queueLimit: number;
  /** http.sseRetryMs */
  sseRetryMs: number;
  /** http.sseHistoryBytes: recent bursts each SSE fan-out hub keeps for paused streams. */
  sseHistoryBytes: number;
  /** http.corsOrigins: exact origins, or '*' for any. */
  corsOrigins: readonly string[] | '*';
  /** http.structuralExcludedDomains */
  structuralExcludedDomains: readonly string[];
}

export interface ApiContext {
  /** The open store; throws NOT_READY while it opens and STORE_CLOSED once shutdown began. */
  store(): Store;
  /** Whether the store is open and no shutdown has begun. */
  ready(): boolean;
  settings: ApiSettings;
  logger: Logger;
  metrics: SpineMetrics;
}

const PART = /^[a-z][a-z0-9_]{0,62}$/;

function invalid(field: string, message: string): SpineError {
  return new SpineError('CONFIG_INVALID', `${field}: ${message}`, { field });
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** http.corsOrigins: "*", or origins such as https://app.example.com (scheme, host, port; no path). */
export function parseCorsOrigins(text: string): readonly string[] | '*' {
  const origins = list(text);
  if (origins.length === 1 && origins[0] === '*') return '*';
  for (const origin of origins) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.origin !== origin) {
      throw invalid('http.corsOrigins', `${JSON.stringify(origin)} is not an origin such as https://app.example.com or http://localhost:3000 (scheme, host and port only, no trailing slash; "*" alone allows any)`);
    }
  }
  return origins;
}

export function apiSettings(config: Config): ApiSettings {
  const excluded = list(config.http.structuralExcludedDomains);
  for (const d of excluded) if (!PART.test(d)) throw invalid('http.structuralExcludedDomains', `${JSON.stringify(d)} is not a domain (^[a-z][a-z0-9_]{0,62}$)`);
  return {
    maxBodyBytes: config.limits.maxHttpBodyBytes,
    heartbeatMs: config.subscriptions.heartbeatMs,
    queueLimit: config.subscriptions.queueLimit,
    sseRetryMs: config.http.sseRetryMs,
    sseHistoryBytes: config.http.sseHistoryBytes,
    corsOrigins: parseCorsOrigins(config.http.corsOrigins),
    structuralExcludedDomains: excluded,
  };
}
