/**
 * Observability: structured JSON logs on standard output and Prometheus metrics in the
 * text exposition format, with no dependency beyond Node.
 */
export { LOG_LEVELS, Logger, silentLogger, type LineSink, type LogFields, type LogLevel } from './logger';
export { Counter, Gauge, Histogram, METRICS_CONTENT_TYPE, Registry, formatNumber, type Labels } from './metrics';
export { SpineMetrics, type CommitSample, type MetricSources } from './spine-metrics';
