/**
 * The OpenAPI 3.1 document of the whole HTTP surface (https://spec.openapis.org/oas/v3.1.0),
 * served at GET /api/openapi.json. Schemas are in openapi-schemas.ts; the tests validate
 * every JSON response they receive against this document.
 */
import { packageVersion } from '../../paths';
import { SCHEMAS } from './openapi-schemas';

type Obj = Record<string, unknown>;

const schemaRef = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
const paramRef = (name: string): Obj => ({ $ref: `#/components/parameters/${name}` });
const responseRef = (name: string): Obj => ({ $ref: `#/components/responses/${name}` });
const json = (schema: Obj, description: string, headers?: Obj): Obj => ({
  description,
  content: { 'application/json': { schema } },
  ...(headers === undefined ? {} : { headers }),
});

function queryParam(name: string, schema: Obj, description: string): Obj {
  return { name, in: 'query', required: false, schema, description };
}

const PART = { type: 'string', pattern: '^[a-z][a-z0-9_]{0,62}$' };
const INSTANT = { type: 'string', format: 'date-time' };

const PARAMETERS: Record<string, Obj> = {
  entity_type: queryParam('entity_type', PART, 'Events of this entity type.'),
  entity_id: queryParam('entity_id', { type: 'string' }, 'Events of this entity (needs entity_type).'),
  event_type: queryParam('event_type', { type: 'string' }, 'Exact (`hcm.employee.created`) or a prefix ending in a dot (`hcm.` or `hcm.employee.`).'),
  domain: queryParam('domain', PART, 'Events of this domain.'),
  organization_id: queryParam('organization_id', { type: 'string' }, 'Events of this organization.'),
  actor_id: queryParam('actor_id', { type: 'string' }, 'Events by this actor.'),
  severity: queryParam('severity', { type: 'string', enum: ['low', 'medium', 'high', 'critical'] }, 'Events of this severity.'),
  environment: queryParam('environment', { type: 'string', enum: ['dev', 'test', 'stage', 'prod'] }, 'Events of this environment.'),
  since: queryParam('since', INSTANT, 'Events stamped at or after this instant (RFC 3339).'),
  until: queryParam('until', INSTANT, 'Events stamped before this instant (RFC 3339).'),
  from_seq: queryParam('from_seq', { type: 'integer', minimum: 1 }, 'Lowest seq (inclusive).'),
  to_seq: queryParam('to_seq', { type: 'integer', minimum: 1 }, 'Highest seq (inclusive).'),
  order: queryParam('order', { type: 'string', enum: ['asc', 'desc'], default: 'asc' }, 'By seq.'),
  limit: queryParam('limit', { type: 'integer', minimum: 1, maximum: 10_000, default: 100 }, 'Most items in the page.'),
  cursor: queryParam('cursor', { type: 'string' }, 'nextCursor of the previous page (same filters and order).'),
  entityType: queryParam('entityType', PART, 'Structural events of this entity type (product, objective, kpi, sla_profile, …).'),
  id: { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
};

const MATCH_FILTERS = ['entity_type', 'entity_id', 'event_type', 'domain', 'organization_id', 'actor_id', 'severity', 'environment', 'since', 'until'].map(paramRef);
const FILTERS = [...MATCH_FILTERS, paramRef('from_seq'), paramRef('to_seq')];
const PAGE = ['order', 'limit', 'cursor'].map(paramRef);
const VIEW_PAGE = ['since', 'until', 'limit', 'cursor'].map(paramRef);

const ALLOW_HEADER = { Allow: { schema: { type: 'string' }, description: 'The methods the resource has.' } };

const RESPONSES: Record<string, Obj> = {
  BadRequest: json(schemaRef('Error'), 'Invalid input: a bad field, parameter, cursor or date (code names the rule, message the field).'),
  NotFound: json(schemaRef('Error'), 'No such event or resource (NOT_FOUND).'),
  Immutable: json(schemaRef('Error'), 'Events are immutable: no update or delete (IMMUTABLE).', ALLOW_HEADER),
  Conflict: json(schemaRef('Error'), 'An event with this id exists with different content (ID_CONFLICT).'),
  TooLarge: json(schemaRef('Error'), 'The body (REQUEST_TOO_LARGE, limits.maxHttpBodyBytes), a payload (PAYLOAD_TOO_LARGE) or a batch (BATCH_TOO_LARGE) is over its limit.'),
  UnsupportedMediaType: json(schemaRef('Error'), 'The body is not sent as Content-Type: application/json (UNSUPPORTED_MEDIA_TYPE).'),
  NotReady: json(schemaRef('Error'), 'The daemon is starting (NOT_READY) or shutting down (STORE_CLOSED).'),
  Error: json(schemaRef('Error'), 'Any other error, as {"error":{"code","message"}}.'),
};

/** The errors every read can answer. */
const READ_ERRORS = { '400': responseRef('BadRequest'), '503': responseRef('NotReady'), default: responseRef('Error') };

function immutable(resource: string): Obj {
  const op = (method: string): Obj => ({ summary: `Refused: events are immutable (${method} ${resource})`, responses: { '405': responseRef('Immutable') } });
  return { put: op('PUT'), patch: op('PATCH'), delete: op('DELETE') };
}

const OPTIONS = {
  options: {
    summary: 'CORS preflight (and the Allow header)',
    responses: { '204': { description: 'The methods in Allow; for an allowed Origin, the Access-Control-Allow-* headers (http.corsOrigins).', headers: ALLOW_HEADER } },
  },
};

const SSE_DESCRIPTION = [
  'Server-Sent Events. The first message is `retry: <http.sseRetryMs>`. Each message has `id: <seq>` (a position to resume after) and an `event:` name:',
  '`event` (data: the Event), `caught_up` (data: {"seq":N}: every match up to N was sent, now live) or `fell_behind` (data: {"seq":N}: the client fell further behind than the live fan-out keeps (http.sseHistoryBytes) and is served from the log from N+1; nothing is lost).',
  'Comment lines (`: heartbeat <head seq>`) while idle, every subscriptions.heartbeatMs. `stream_error` (data: an Error) precedes an abnormal end.',
  'Reconnect with the Last-Event-ID header (or ?lastEventId=) to resume with no gap and no duplicate, also across a daemon restart.',
  'While the daemon starts or stops the response is 200 with only a retry hint, and ends (EventSource gives up for good on a 503).',
].join(' ');

function paths(): Obj {
  return {
    '/healthz': { get: { summary: 'Liveness: the process answers', operationId: 'healthz', responses: { '200': json(schemaRef('Health'), 'Alive.') } } },
    '/readyz': { get: { summary: 'Readiness: the store is open and no shutdown has begun', operationId: 'readyz', responses: { '200': json(schemaRef('Ready'), 'Ready.'), '503': responseRef('NotReady') } } },
    '/metrics': { get: { summary: 'Prometheus metrics (text exposition format 0.0.4)', operationId: 'metrics', responses: { '200': { description: 'Metrics.', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/api/openapi.json': { get: { summary: 'This document', operationId: 'openapi', responses: { '200': json({ type: 'object' }, 'The OpenAPI 3.1 document.') } }, ...OPTIONS },
    '/api/events': {
      get: { summary: 'Query events', operationId: 'queryEvents', parameters: [...FILTERS, ...PAGE], responses: { '200': json(schemaRef('EventPage'), 'A page of events.'), ...READ_ERRORS } },
      post: {
        summary: 'Append one event or a batch (atomic)',
        operationId: 'appendEvents',
        requestBody: { required: true, content: { 'application/json': { schema: schemaRef('AppendRequest') } } },
        responses: {
          '201': json(schemaRef('AppendResponse'), 'Stored (or deduplicated): one result per event.', { Location: { schema: { type: 'string' }, description: 'For a single event: its URL.' } }),
          '400': responseRef('BadRequest'),
          '409': responseRef('Conflict'),
          '413': responseRef('TooLarge'),
          '415': responseRef('UnsupportedMediaType'),
          '503': responseRef('NotReady'),
          '507': json(schemaRef('Error'), 'The disk is full (DISK_FULL): appends resume once space is freed.'),
          default: responseRef('Error'),
        },
      },
      ...immutable('/api/events'),
      ...OPTIONS,
    },
    '/api/events/stream': {
      get: {
        summary: 'Live tail as Server-Sent Events, resumable',
        operationId: 'streamEvents',
        description: SSE_DESCRIPTION,
        parameters: [
          ...MATCH_FILTERS,
          queryParam('from_seq', { type: 'integer', minimum: 1 }, 'Start the catch-up at this seq (without Last-Event-ID); by default the stream starts at the head.'),
          queryParam('to_seq', { type: 'integer', minimum: 1 }, 'End the stream once everything up to this seq was sent; a reconnection past it answers 204.'),
          queryParam('lastEventId', { type: 'integer', minimum: 0 }, 'Resume after this seq, for clients that cannot set headers (the header wins).'),
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^\\d+$' }, description: 'Resume after this seq (sent by EventSource on reconnection).' },
        ],
        responses: {
          '200': { description: SSE_DESCRIPTION, content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '204': { description: 'Nothing left to send (past to_seq): the client stops reconnecting.' },
          '400': responseRef('BadRequest'),
          default: responseRef('Error'),
        },
      },
      ...immutable('/api/events/stream'),
      ...OPTIONS,
    },
    '/api/events/{id}': {
      get: {
        summary: 'One event by id (UUID) or by seq (a positive integer)',
        operationId: 'getEvent',
        parameters: [{ ...PARAMETERS.id, description: 'A UUID, or a seq.' }],
        responses: { '200': json(schemaRef('Event'), 'The event.'), '404': responseRef('NotFound'), ...READ_ERRORS },
      },
      ...immutable('/api/events/{id}'),
      ...OPTIONS,
    },
    '/api/head': { get: { summary: 'The last event: seq, event_hash, timestamp', operationId: 'head', responses: { '200': json(schemaRef('Head'), 'The head.'), ...READ_ERRORS } }, ...OPTIONS },
    '/api/verify': {
      get: {
        summary: 'Re-check frames, payload digests, event hashes and the chain over a seq range',
        operationId: 'verify',
        parameters: [
          queryParam('from_seq', { type: 'integer', minimum: 1 }, 'First seq (default 1).'),
          queryParam('to_seq', { type: 'integer', minimum: 1 }, 'Last seq (default the head).'),
          queryParam('check_index', { type: 'string', enum: ['true', 'false'], default: 'false' }, 'Also check that the index finds each event by id.'),
        ],
        responses: { '200': json(schemaRef('VerifyResult'), 'The outcome; ok false names the first bad seq and why.'), ...READ_ERRORS },
      },
      ...OPTIONS,
    },
    '/api/aggregate': {
      get: {
        summary: 'Counts of matching events grouped by a field or a time bucket',
        operationId: 'aggregate',
        parameters: [{ name: 'group_by', in: 'query', required: true, schema: { type: 'string', enum: ['event_type', 'entity_type', 'domain', 'actor_id', 'severity', 'organization_id', 'hour', 'day'] } }, ...FILTERS],
        responses: { '200': json(schemaRef('AggregateResult'), 'The counts.'), ...READ_ERRORS },
      },
      ...OPTIONS,
    },
    '/api/structural-events': {
      get: {
        summary: 'Maysano structural events (every domain but the excluded ones, http.structuralExcludedDomains), newest first',
        operationId: 'structuralEvents',
        parameters: [paramRef('entityType'), ...VIEW_PAGE],
        responses: { '200': json(schemaRef('StructuralEventPage'), 'A page, newest first.'), ...READ_ERRORS },
      },
      ...immutable('/api/structural-events'),
      ...OPTIONS,
    },
    '/api/products/{id}/activities': {
      get: {
        summary: 'Maysano product activities (entity_type product), newest first',
        operationId: 'productActivities',
        parameters: [{ ...PARAMETERS.id, description: 'The product id (entity_id).' }, ...VIEW_PAGE],
        responses: { '200': json(schemaRef('ProductActivityPage'), 'A page, newest first.'), ...READ_ERRORS },
      },
      ...immutable('/api/products/{id}/activities'),
      ...OPTIONS,
    },
    '/api/objectives/{id}/history': {
      get: {
        summary: 'Maysano objective history (entity_type objective), newest first',
        operationId: 'objectiveHistory',
        parameters: [{ ...PARAMETERS.id, description: 'The objective id (entity_id).' }, ...VIEW_PAGE],
        responses: { '200': json(schemaRef('ObjectiveHistoryPage'), 'A page, newest first.'), ...READ_ERRORS },
      },
      ...immutable('/api/objectives/{id}/history'),
      ...OPTIONS,
    },
  };
}

/** The document; `extraPaths` lets other route modules (e.g. long-running operations) add theirs. */
export function openApiDocument(extraPaths: Record<string, unknown> = {}): Obj {
  return {
    openapi: '3.1.0',
    info: {
      title: 'event-spine HTTP API',
      version: packageVersion(),
      description:
        'The HTTP adapter of event-spine: an immutable, hash-chained event store. Errors are {"error":{"code","message"}} with a stable code (README "Errors"). Events cannot be updated or deleted.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    paths: { ...paths(), ...extraPaths },
    components: { schemas: SCHEMAS, parameters: PARAMETERS, responses: RESPONSES },
  };
}
