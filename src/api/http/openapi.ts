/**
 * The OpenAPI 3.1 document of the whole HTTP surface (https://spec.openapis.org/oas/v3.1.0),
 * served at GET /api/openapi.json. Schemas are in openapi-schemas.ts; the tests validate
 * every JSON response they receive against this document.
 *
 * Security (DESIGN §7) is written from the router's own declarations (withSecurity), so the
 * document says of each operation exactly what its gate enforces: the scope as a role of
 * the bearer scheme (OpenAPI 3.1 allows role names for non-OAuth schemes), `security: []`
 * for open ones, `access_token` on the SSE streams, and the 401, 403 and 429 answers.
 */
import { packageVersion } from '../../paths';
import { ACCESS_TOKEN } from './gate';
import { SCHEMAS } from './openapi-schemas';
import type { RouteInfo } from './router';

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
  NotFound: json(schemaRef('Error'), 'No such event or resource (NOT_FOUND); an event of an organization the key does not see is not found either.'),
  Immutable: json(schemaRef('Error'), 'Events are immutable: no update or delete (IMMUTABLE).', ALLOW_HEADER),
  Conflict: json(schemaRef('Error'), 'An event with this id exists with different content (ID_CONFLICT).'),
  TooLarge: json(schemaRef('Error'), 'The body (REQUEST_TOO_LARGE, limits.maxHttpBodyBytes), a payload (PAYLOAD_TOO_LARGE) or a batch (BATCH_TOO_LARGE) is over its limit.'),
  UnsupportedMediaType: json(schemaRef('Error'), 'The body is not sent as Content-Type: application/json (UNSUPPORTED_MEDIA_TYPE).'),
  NotReady: json(schemaRef('Error'), 'The daemon is starting (NOT_READY) or shutting down (STORE_CLOSED).'),
  Unauthenticated: json(schemaRef('Error'), 'No API key, a malformed Authorization value, or a key that is unknown or was removed (UNAUTHENTICATED).'),
  Forbidden: json(schemaRef('Error'), "The key lacks the scope, the organization or the actor for this call (PERMISSION_DENIED); the message names what, the field names the input."),
  RateLimited: json(schemaRef('Error'), "Over the key's rate (auth.rateLimitPerSecond or its rate_limit_per_second), or it already holds its maximum of open streams (RATE_LIMITED).", {
    'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Seconds to wait before retrying.' },
  }),
  Error: json(schemaRef('Error'), 'Any other error, as {"error":{"code","message"}}.'),
};

const SECURITY_SCHEMES: Record<string, Obj> = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key: "Authorization: Bearer <key>". Keys have scopes (append, read, admin; each operation names the one it needs as its role), may be limited to organizations (their reads see only those, naming another is 403, an event or operation of another is 404) and bound to an actor. Not needed with auth.mode "none" (loopback only).',
  },
  accessToken: {
    type: 'apiKey',
    in: 'query',
    name: ACCESS_TOKEN,
    description: 'The same key as a query parameter (RFC 6750 §2.3), for EventSource, which cannot set headers. Taken only by the two SSE streams; any other operation refuses it (400 INVALID_QUERY). Never together with the header.',
  },
};

const ACCESS_TOKEN_PARAM: Obj = {
  name: ACCESS_TOKEN,
  in: 'query',
  required: false,
  schema: { type: 'string' },
  description: 'The API key, for clients that cannot send the Authorization header (EventSource); not with the header. A URL with a key ends up in browser history and proxy logs: prefer the header where you can.',
};

const DENIALS = { '401': responseRef('Unauthenticated'), '403': responseRef('Forbidden'), '429': responseRef('RateLimited') };

/**
 * The document's operations with the access the router declares for them: `security`, the
 * refusals they can answer (400 for a misplaced access_token, 401, 403, 429) and the
 * access_token parameter where it is taken.
 */
function withSecurity(paths: Obj, routes: readonly RouteInfo[]): Obj {
  const out: Obj = {};
  for (const [path, item] of Object.entries(paths)) out[path] = { ...(item as Obj) };
  for (const route of routes) {
    const item = out[route.pattern.replace(/:([A-Za-z_]\w*)/g, '{$1}')] as Obj | undefined;
    const operation = item?.[route.method.toLowerCase()] as Obj | undefined;
    if (item === undefined || operation === undefined) continue;
    const responses = { ...(operation.responses as Obj) };
    const secured: Obj = { ...operation, responses };
    const { scope, tokenInQuery } = route.access;
    if (scope === undefined) {
      secured.security = [];
      if (route.method !== 'OPTIONS') responses['400'] ??= responseRef('BadRequest'); // access_token is refused
    } else {
      secured.security = [{ bearerAuth: [scope] }, ...(tokenInQuery ? [{ accessToken: [scope] }] : [])];
      responses['400'] ??= responseRef('BadRequest');
      for (const [status, response] of Object.entries(DENIALS)) {
        const own = responses[status] as Obj | undefined;
        if (own === undefined) responses[status] = response;
        // An operation's own 429 (operations.maxRunning) stays, and says the key's limits answer it too.
        else if (status === '429') responses[status] = { ...own, description: `${String(own.description)} Or over the key's rate or stream limit (RATE_LIMITED, with Retry-After).` };
      }
      if (tokenInQuery) secured.parameters = [...((operation.parameters as Obj[] | undefined) ?? []), ACCESS_TOKEN_PARAM];
    }
    item[route.method.toLowerCase()] = secured;
  }
  return out;
}

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
  'Comment lines (`: heartbeat <head seq>`) while idle, every subscriptions.heartbeatMs. `stream_error` (data: an Error) precedes an abnormal end (UNAUTHENTICATED when a keys reload removed or changed the stream\'s key).',
  'Reconnect with the Last-Event-ID header (or ?lastEventId=) to resume with no gap and no duplicate, also across a daemon restart.',
  'While the daemon starts or stops the response is 200 with only a retry hint, and ends (EventSource gives up for good on a 503).',
].join(' ');

function paths(): Obj {
  return {
    '/healthz': { get: { summary: 'Liveness: the process answers', operationId: 'healthz', responses: { '200': json(schemaRef('Health'), 'Alive.') } } },
    '/readyz': { get: { summary: 'Readiness: the store is open and no shutdown has begun', operationId: 'readyz', responses: { '200': json(schemaRef('Ready'), 'Ready.'), '503': responseRef('NotReady') } } },
    '/metrics': { get: { summary: 'Prometheus metrics (text exposition format 0.0.4); process-wide, so only for an admin key that sees every organization', operationId: 'metrics', responses: { '200': { description: 'Metrics.', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
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

/**
 * The document; `extraPaths` lets other route modules (e.g. long-running operations) add
 * theirs, and `routes` (Router.list()) gives each operation its security.
 */
export function openApiDocument(extraPaths: Record<string, unknown> = {}, routes: readonly RouteInfo[] = []): Obj {
  return {
    openapi: '3.1.0',
    info: {
      title: 'event-spine HTTP API',
      version: packageVersion(),
      description:
        'The HTTP adapter of event-spine: an immutable, hash-chained event store. Errors are {"error":{"code","message"}} with a stable code (README "Errors"). Events cannot be updated or deleted. ' +
        'With auth.mode "keys", every operation but the open ones (security: []) needs an API key as "Authorization: Bearer <key>" with the scope its security names (append, read or admin); the two SSE streams also take it as ?access_token= (README "Security").',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    paths: withSecurity({ ...paths(), ...extraPaths }, routes),
    security: [{ bearerAuth: [] }],
    components: { schemas: SCHEMAS, parameters: PARAMETERS, responses: RESPONSES, securitySchemes: SECURITY_SCHEMES },
  };
}
