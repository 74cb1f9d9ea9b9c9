/**
 * The spine endpoints (DESIGN §5.1): append, query, get one, head, verify, aggregate.
 * Events go out with every field of DESIGN §1 and the payload as its stored canonical text.
 */
import type { IncomingMessage } from 'node:http';
import type { Caller } from '../../auth';
import type { Config } from '../../config';
import { SpineError } from '../../errors';
import { parseUuid, validateBatch, validateEvent, type EnvelopeOptions, type StoredEvent, type ValidEvent } from '../../event';
import { readJson } from './body';
import type { ApiContext } from './context';
import { eventJson, pageJson } from './event-json';
import { FILTER_PARAMS, PAGE_PARAMS, QueryParams } from './query-params';
import { sendJson, sendText } from './respond';
import type { CallContext } from './gate';

const JSON_TYPE = 'application/json; charset=utf-8';

/** The envelope defaults and limits, as the store applies them (the same configuration). */
export function envelopeOptions(config: Config): EnvelopeOptions {
  return {
    defaultOrganizationId: config.defaults.organizationId,
    defaultEnvironment: config.defaults.environment,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    maxBatchEvents: config.limits.maxBatchEvents,
  };
}

/** 415 unless the body is declared as JSON (`application/json`, charset UTF-8 if named). */
export function requireJsonBody(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  const [type = '', ...params] = (header ?? '').split(';').map((p) => p.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (type !== 'application/json' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    throw new SpineError(
      'UNSUPPORTED_MEDIA_TYPE',
      `the request body must be sent as Content-Type: application/json (UTF-8), not ${header === undefined ? 'without a Content-Type' : JSON.stringify(header)}`,
      { field: 'content-type' },
    );
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * One event, or `{"events":[…]}`: validated as a whole (nothing of a refused request is
 * stored), then checked against what the caller may append (PERMISSION_DENIED naming
 * `events[i].field`, or `field` for a single event, as validation names them). What the
 * caller's key implies (its actor, its one organization) is filled in before validation.
 */
export function validateBody(body: unknown, options: EnvelopeOptions, caller: Caller): ValidEvent[] {
  if (!isPlainObject(body)) {
    const what = Array.isArray(body) ? 'an array' : body === null ? 'null' : `a ${typeof body}`;
    throw new SpineError('INVALID_REQUEST', `the body must be one event (a JSON object) or {"events":[…]}, not ${what}`);
  }
  if (!Object.prototype.hasOwnProperty.call(body, 'events')) {
    const events = [validateEvent(caller.bindInputs([body])[0], options)];
    caller.checkAppend(events, () => '');
    return events;
  }
  const extra = Object.keys(body).find((k) => k !== 'events');
  if (extra !== undefined) {
    throw new SpineError('INVALID_REQUEST', `a batch is {"events":[…]} with no other member; found ${JSON.stringify(extra)}`, { field: extra });
  }
  const events = validateBatch(Array.isArray(body.events) ? caller.bindInputs(body.events) : body.events, options);
  caller.checkAppend(events);
  return events;
}

export function eventRoutes(ctx: ApiContext, envelope: EnvelopeOptions) {
  return {
    async append({ req, res, caller }: CallContext): Promise<void> {
      const started = performance.now();
      requireJsonBody(req);
      const store = ctx.store();
      const events = validateBody(await readJson(req, ctx.settings.maxBodyBytes), envelope, caller);
      const results = await store.appendValid(events);
      ctx.metrics.appendAcknowledged(events.length, (performance.now() - started) / 1000);
      const first = results[0];
      const location: Record<string, string> = results.length === 1 && first !== undefined ? { location: `/api/events/${first.id}` } : {};
      sendJson(res, 201, { results }, location);
    },

    /** Narrowed to the caller's organizations; naming another one is PERMISSION_DENIED. */
    async list({ res, url, caller }: CallContext): Promise<void> {
      const params = new QueryParams(url, [...FILTER_PARAMS, ...PAGE_PARAMS]);
      const page = await ctx.store().query(caller.restrict(params.filter()), params.page('asc'));
      sendText(res, 200, JSON_TYPE, pageJson(page.items.map(eventJson), page.next_cursor));
    },

    /** An event of an organization the caller does not see is NOT_FOUND, exactly as a missing one. */
    async get({ res, url, params, caller }: CallContext): Promise<void> {
      new QueryParams(url, []);
      const ref = params.id ?? '';
      const store = ctx.store();
      let ev: StoredEvent | undefined;
      if (/^\d{1,20}$/.test(ref)) {
        ev = await store.getBySeq(Number(ref));
      } else {
        const id = parseUuid(ref);
        if (id === undefined) throw new SpineError('INVALID_ID', `${JSON.stringify(ref)} is neither an event id (a UUID) nor a seq (a positive integer)`, { field: 'id' });
        ev = await store.get(id);
      }
      if (ev === undefined || !caller.sees(ev.organization_id)) throw new SpineError('NOT_FOUND', `no event ${/^\d+$/.test(ref) ? 'with seq' : 'with id'} ${ref}`, { field: 'id' });
      sendText(res, 200, JSON_TYPE, eventJson(ev));
    },

    /** The head of the whole log, whoever asks: it says how far the chain goes, not what is in it. */
    head({ res, url }: CallContext): void {
      new QueryParams(url, []);
      const h = ctx.store().head();
      sendJson(res, 200, { seq: h.seq, event_hash: h.event_hash, timestamp: h.timestamp ?? null });
    },

    /** The whole chain is checked; `checked` counts only the caller's organizations' events. */
    async verify({ res, url, caller }: CallContext): Promise<void> {
      const params = new QueryParams(url, ['from_seq', 'to_seq', 'check_index']);
      const from = params.integer('from_seq', 1);
      const to = params.integer('to_seq', 1);
      if (from !== undefined && to !== undefined && from > to) {
        throw new SpineError('INVALID_QUERY', `from_seq (${from}) is after to_seq (${to})`, { field: 'from_seq' });
      }
      const checkIndex = params.oneOf('check_index', ['true', 'false'] as const) === 'true';
      const organizations = caller.organizations;
      const result = await ctx.store().verify({
        ...(from === undefined ? {} : { from_seq: from }),
        ...(to === undefined ? {} : { to_seq: to }),
        checkIndex,
        ...(organizations === undefined ? {} : { organizations }),
      });
      sendJson(res, 200, result);
    },

    async aggregate({ res, url, caller }: CallContext): Promise<void> {
      const params = new QueryParams(url, [...FILTER_PARAMS, 'group_by']);
      const groupBy = params.text('group_by');
      if (groupBy === undefined) throw new SpineError('INVALID_QUERY', 'group_by: required (event_type, entity_type, domain, actor_id, severity, organization_id, hour or day)', { field: 'group_by' });
      sendJson(res, 200, await ctx.store().aggregate(caller.restrict(params.filter()), groupBy));
    },
  };
}
