/** The OpenAPI path items of the operations routes (merged into GET /api/openapi.json). */
import { AUTO_SETUP_STEPS } from '../../ops';

type Obj = Record<string, unknown>;

const errorRef = { $ref: '#/components/schemas/Error' };
const error = (description: string): Obj => ({ description, content: { 'application/json': { schema: errorRef } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' }, description: 'The operation id (a UUIDv7).' };
const preflight = { options: { summary: 'CORS preflight (and the Allow header)', responses: { '204': { description: 'The methods in Allow.' } } } };

const SCALAR = { oneOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }, { type: 'boolean' }] };

const AUTO_SETUP_REQUEST: Obj = {
  type: 'object',
  required: ['tables'],
  additionalProperties: false,
  properties: {
    tables: {
      type: 'array',
      minItems: 1,
      description: 'At most operations.autoSetupMaxTables tables and operations.autoSetupMaxColumns columns in all.',
      items: {
        type: 'object',
        required: ['name', 'columns'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 256 },
          schema: { type: 'string', minLength: 1, maxLength: 256 },
          statistics: {
            type: 'object',
            additionalProperties: false,
            properties: { row_count: { type: 'integer', minimum: 0 }, last_updated: { type: 'string', format: 'date-time' } },
          },
          columns: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'type'],
              additionalProperties: false,
              properties: {
                name: { type: 'string', minLength: 1, maxLength: 256 },
                type: { type: 'string', minLength: 1, maxLength: 128, description: 'A database type: integer, bigint, numeric(10,2), text, varchar(64), uuid, boolean, date, timestamp, timestamptz, json, …' },
                nullable: { type: 'boolean' },
                primary_key: { type: 'boolean' },
                unique: { type: 'boolean' },
                statistics: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    null_count: { type: 'integer', minimum: 0 },
                    distinct_count: { type: 'integer', minimum: 0 },
                    min: { oneOf: [{ type: 'string' }, { type: 'number' }] },
                    max: { oneOf: [{ type: 'string' }, { type: 'number' }] },
                    sample_values: { type: 'array', maxItems: 100, uniqueItems: true, items: SCALAR },
                  },
                },
              },
            },
          },
        },
      },
    },
    options: {
      type: 'object',
      additionalProperties: false,
      properties: {
        freshness_max_age_hours: { type: 'number', exclusiveMinimum: 0, maximum: 87600, default: 24 },
        accepted_values_max_distinct: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
      },
    },
    actor_id: { type: 'string', default: 'anonymous' },
    actor_type: { type: 'string', enum: ['human', 'system', 'pipeline'], default: 'human' },
    organization_id: { type: 'string', description: 'Default: defaults.organizationId.' },
  },
};

const OPERATION: Obj = {
  type: 'object',
  required: ['id', 'kind', 'status', 'started_at', 'actor_id', 'actor_type', 'organization_id', 'last_step', 'last_seq'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    kind: { type: 'string', enum: ['batch_auto_setup', 'verify', 'reindex', 'export'] },
    status: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
    started_at: { type: 'string', format: 'date-time' },
    ended_at: { type: 'string', format: 'date-time' },
    actor_id: { type: 'string' },
    actor_type: { type: 'string' },
    organization_id: { type: 'string' },
    last_step: { type: 'string' },
    last_seq: { type: 'integer' },
    summary: { type: 'object', description: "The `done` step's summary." },
    error: { type: 'string', description: "The `error` step's message." },
  },
};

const STEPS_DESCRIPTION =
  'Server-Sent Events, one message per step: `id: <seq>`, `event: <step>`, `data: {"operation_id":…, …the step\'s data}`; ends after `done` or `error`. ' +
  `Batch auto-setup steps: ${AUTO_SETUP_STEPS.join(', ')}. Daemon jobs: started, progress, done, error. ` +
  'Resume with Last-Event-ID (or ?lastEventId=) at GET /api/operations/{id}/events. README "Operations" gives each step\'s data.';

export function operationOpenApiPaths(): Obj {
  const sse = { description: STEPS_DESCRIPTION, content: { 'text/event-stream': { schema: { type: 'string' } } } };
  return {
    '/api/quality-intelligence/batch-auto-setup': {
      post: {
        summary: 'Batch auto-setup: recommend, create and run data-quality checks for tables, streaming the steps',
        operationId: 'batchAutoSetup',
        requestBody: { required: true, content: { 'application/json': { schema: AUTO_SETUP_REQUEST } } },
        responses: {
          '200': { ...sse, headers: { Location: { schema: { type: 'string' }, description: 'The operation: GET it for the status.' }, 'Operation-Id': { schema: { type: 'string' } } } },
          '400': error('The request is invalid (INVALID_REQUEST naming the field); nothing started.'),
          '415': error('The body is not application/json.'),
          '429': error('Too many operations running (operations.maxRunning).'),
          '503': error('Starting or shutting down.'),
        },
      },
      ...preflight,
    },
    '/api/operations': {
      post: {
        summary: "Start one of the daemon's own jobs (verify, export) as an operation",
        operationId: 'startOperation',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { type: 'string', enum: ['verify', 'export'] }, actor_id: { type: 'string' }, actor_type: { type: 'string', enum: ['human', 'system', 'pipeline'] }, organization_id: { type: 'string' } } },
            },
          },
        },
        responses: {
          '202': { description: 'Started.', headers: { Location: { schema: { type: 'string' } } }, content: { 'application/json': { schema: OPERATION } } },
          '400': error('An unknown kind, or reindex (offline only).'),
          '429': error('Too many operations running.'),
        },
      },
      ...preflight,
    },
    '/api/operations/{id}': {
      get: {
        summary: 'An operation: status (derived from its steps), times, actor and summary',
        operationId: 'getOperation',
        parameters: [idParam],
        responses: { '200': { description: 'The operation.', content: { 'application/json': { schema: OPERATION } } }, '404': error('No such operation (or one of an organization the key does not see).') },
      },
      ...preflight,
    },
    '/api/operations/{id}/events': {
      get: {
        summary: "An operation's steps as Server-Sent Events, replayed then live, resumable",
        operationId: 'operationEvents',
        parameters: [
          idParam,
          { name: 'lastEventId', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'Resume after this seq (the header wins).' },
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^\\d+$' } },
        ],
        responses: { '200': sse, '204': { description: 'Everything was sent already: the client stops reconnecting.' }, '404': error('No such operation (or one of an organization the key does not see).') },
      },
      ...preflight,
    },
    '/api/operations/{id}/export': {
      get: {
        summary: 'The JSON Lines file of a finished export operation',
        operationId: 'operationExport',
        parameters: [idParam],
        responses: { '200': { description: 'One event per line, every field.', content: { 'application/x-ndjson': { schema: { type: 'string' } } } }, '404': error('Not an export, not finished, or no such operation.'), '403': error('An export holds every organization: the key needs the admin scope and no organization limit (PERMISSION_DENIED, whatever the id).') },
      },
      ...preflight,
    },
  };
}
