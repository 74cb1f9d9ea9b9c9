/**
 * The unary RPCs of eventspine.v1.EventSpine, each a thin mapping onto the store through
 * the Caller's rights: appends bound to its key's actor and organizations, reads narrowed
 * to its organizations (other tenants' events do not exist for it).
 */
import type { Caller } from '../../auth';
import { SpineError } from '../../errors';
import { parseUuid } from '../../event';
import type { AppendResult } from '../../store';
import { unary, type ServiceContext } from './calls';
import { toEventMsg, toQueryFilter, validateEvents } from './convert';
import { encodeAppendResponse, encodeQueryResponse } from './event-encoder';
import type {
  AggregateRequestMsg,
  AggregateResponseMsg,
  AppendRequestMsg,
  EventInputMsg,
  EventMsg,
  GetRequestMsg,
  HeadResponseMsg,
  QueryRequestMsg,
  VerifyRequestMsg,
  VerifyResponseMsg,
} from './messages';

/**
 * Validates and appends one request's events, counting it in flight and in the metrics.
 * What the caller's key implies (its actor, its one organization) is filled in first; a
 * batch with an event the key may not write (another actor or organization, the `ops`
 * domain) is refused whole, PERMISSION_DENIED naming `events[i].field`.
 */
export async function appendEvents(ctx: ServiceContext, caller: Caller, events: readonly EventInputMsg[] | undefined): Promise<AppendResult[]> {
  const started = performance.now();
  const valid = validateEvents(events === undefined ? undefined : caller.bindInputs(events), ctx.settings.envelope);
  caller.checkAppend(valid);
  const done = ctx.calls.beginAppend();
  try {
    const results = await ctx.store.appendValid(valid);
    ctx.metrics.appendAcknowledged(valid.length, (performance.now() - started) / 1000);
    return results;
  } finally {
    done();
  }
}

function orderOf(order: QueryRequestMsg['order']): 'asc' | 'desc' {
  if (order === undefined || order === 'ORDER_ASC' || order === 0) return 'asc';
  if (order === 'ORDER_DESC' || order === 1) return 'desc';
  throw new SpineError('INVALID_QUERY', `order: must be ORDER_ASC or ORDER_DESC, not ${String(order)}`, { field: 'order' });
}

export function unaryHandlers(ctx: ServiceContext) {
  const { store } = ctx;
  return {
    Append: unary<AppendRequestMsg, Buffer>(ctx, 'Append', 'append', async (req, caller) => encodeAppendResponse(await appendEvents(ctx, caller, req.events))),

    // An event of an organization the caller does not see is answered as a missing one.
    Get: unary<GetRequestMsg, EventMsg>(ctx, 'Get', 'read', async (req, caller) => {
      let found;
      let notFound: SpineError;
      if (req.key === 'seq' || (req.key === undefined && req.seq !== undefined)) {
        const seq = req.seq ?? 0;
        if (!Number.isSafeInteger(seq) || seq < 1) throw new SpineError('INVALID_QUERY', 'seq: must be an integer ≥ 1', { field: 'seq' });
        found = await store.getBySeq(seq);
        notFound = new SpineError('NOT_FOUND', `seq: no event with seq ${seq} (the head is ${store.head().seq})`, { field: 'seq' });
      } else {
        if (req.id === undefined || req.id === '') throw new SpineError('MISSING_FIELD', 'id or seq is required', { field: 'id' });
        const id = parseUuid(req.id);
        if (id === undefined) throw new SpineError('INVALID_ID', `id must be a UUID (8-4-4-4-12 hexadecimal digits), not ${JSON.stringify(req.id)}`, { field: 'id' });
        found = await store.get(id);
        notFound = new SpineError('NOT_FOUND', `id: no event with id ${id}`, { field: 'id' });
      }
      if (found === undefined || !caller.sees(found.organization_id)) throw notFound;
      return toEventMsg(found);
    }),

    // Answered with the QueryResponse's bytes, written straight from the events (event-encoder.ts).
    Query: unary<QueryRequestMsg, Buffer>(ctx, 'Query', 'read', async (req, caller) => {
      const page = await store.query(caller.restrict(toQueryFilter(req.filter)), {
        order: orderOf(req.order),
        ...(req.limit === undefined ? {} : { limit: req.limit }),
        ...(req.cursor === undefined ? {} : { cursor: req.cursor }),
      });
      return encodeQueryResponse(page.items, page.next_cursor);
    }),

    Aggregate: unary<AggregateRequestMsg, AggregateResponseMsg>(ctx, 'Aggregate', 'read', async (req, caller) => {
      const result = await store.aggregate(caller.restrict(toQueryFilter(req.filter)), req.group_by ?? '');
      return { group_by: result.group_by, total: result.total, groups: result.groups };
    }),

    // The whole chain is always checked; a key limited to some organizations is told how
    // many of its own events that covered.
    Verify: unary<VerifyRequestMsg, VerifyResponseMsg>(ctx, 'Verify', 'admin', async (req, caller) => {
      for (const field of ['from_seq', 'to_seq'] as const) {
        const v = req[field];
        if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new SpineError('INVALID_QUERY', `${field}: must be an integer ≥ 1`, { field });
      }
      const result = await store.verify({
        ...(req.from_seq === undefined ? {} : { from_seq: req.from_seq }),
        ...(req.to_seq === undefined ? {} : { to_seq: req.to_seq }),
        checkIndex: req.check_index === true,
        ...(caller.organizations === undefined ? {} : { organizations: caller.organizations }),
      });
      const response: VerifyResponseMsg = { ok: result.ok, from_seq: result.from_seq, to_seq: result.to_seq, checked: result.checked };
      if (result.first_bad_seq !== undefined) response.first_bad_seq = result.first_bad_seq;
      if (result.reason !== undefined) response.reason = result.reason;
      return response;
    }),

    // A position in the one chain every organization shares, not an event: the same for every reader.
    Head: unary<Record<string, never>, HeadResponseMsg>(ctx, 'Head', 'read', async () => {
      const head = store.head();
      const response: HeadResponseMsg = { seq: head.seq, event_hash: head.event_hash };
      if (head.timestamp !== undefined) response.timestamp = head.timestamp;
      return response;
    }),
  };
}
