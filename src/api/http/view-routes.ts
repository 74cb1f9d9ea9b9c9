/**
 * The Maysano view routes: newest first, `{items, nextCursor}` pages like /api/events.
 *
 * A view cursor is the seq of the last item served, bound to the view and its filters:
 * the next page is the same query capped below that seq, so pages neither overlap nor
 * skip an event, whatever is appended in between (new events land on the first page).
 * The structural view leaves some domains out, which the index cannot do: it reads on
 * past the left-out events, at most MAX_SKIPPED of them per request, and then answers a
 * short page with a cursor to go on from.
 *
 * Every view's filter is narrowed to the caller's organizations (Caller.restrict), and the
 * narrowed filter is what a cursor is bound to: a cursor cannot carry one caller's view to
 * another.
 */
import { SpineError } from '../../errors';
import type { StoredEvent } from '../../event';
import { MAX_QUERY_LIMIT, type QueryFilter, type Store } from '../../store';
import type { ApiContext } from './context';
import { pageJson } from './event-json';
import { QueryParams } from './query-params';
import { sendText } from './respond';
import type { CallContext } from './gate';
import { objectiveHistoryJson, productActivityJson, structuralEventJson } from './views';

const JSON_TYPE = 'application/json; charset=utf-8';
const DEFAULT_LIMIT = 100;
/** Left-out events read past in one request before a short page is answered. */
const MAX_SKIPPED = 50_000;
const PART = /^[a-z][a-z0-9_]{0,62}$/;

export interface ViewQuery {
  view: string;
  filter: QueryFilter;
  /** Domains left out. */
  exclude: ReadonlySet<string>;
  limit: number;
  cursor: string | undefined;
}

function fingerprint(q: ViewQuery): string {
  const f = q.filter as Record<string, unknown>;
  return [q.view, ...Object.keys(f).sort().map((k) => `${k}=${JSON.stringify(f[k])}`)].join('&');
}

function encodeCursor(seq: number, q: ViewQuery): string {
  return Buffer.from(JSON.stringify([1, 'view', seq, fingerprint(q)])).toString('base64url');
}

function decodeCursor(cursor: string, q: ViewQuery): number {
  try {
    const [v, kind, seq, fp] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (v === 1 && kind === 'view' && typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1 && fp === fingerprint(q)) return seq;
  } catch {
    // fall through
  }
  throw new SpineError('INVALID_CURSOR', 'cursor: not a cursor issued for this view with the same filters', { field: 'cursor' });
}

/** One page of a view, newest first: the events and the cursor of the next page. */
export async function viewPage(store: Store, q: ViewQuery): Promise<{ events: StoredEvent[]; nextCursor: string | undefined }> {
  const before = q.cursor === undefined ? undefined : decodeCursor(q.cursor, q);
  if (before === 1) return { events: [], nextCursor: undefined };
  const filter: QueryFilter = before === undefined ? q.filter : { ...q.filter, to_seq: before - 1 };
  const kept: StoredEvent[] = [];
  let storeCursor: string | undefined;
  let skipped = 0;
  for (;;) {
    const wanted = q.limit + 1 - kept.length; // one more than the page: is there a next page?
    const limit = Math.min(MAX_QUERY_LIMIT, q.exclude.size > 0 ? Math.max(wanted, 256) : wanted);
    const page = await store.query(filter, { order: 'desc', limit, ...(storeCursor === undefined ? {} : { cursor: storeCursor }) });
    for (const ev of page.items) {
      if (q.exclude.has(ev.domain)) {
        skipped += 1;
        continue;
      }
      kept.push(ev);
      if (kept.length > q.limit) {
        const events = kept.slice(0, q.limit);
        return { events, nextCursor: encodeCursor((events[events.length - 1] as StoredEvent).seq, q) };
      }
    }
    if (page.next_cursor === undefined) return { events: kept, nextCursor: undefined };
    storeCursor = page.next_cursor;
    const last = page.items[page.items.length - 1];
    if (skipped >= MAX_SKIPPED && last !== undefined) return { events: kept, nextCursor: encodeCursor(last.seq, q) };
  }
}

export function viewRoutes(ctx: ApiContext) {
  const excluded = new Set(ctx.settings.structuralExcludedDomains);
  const none = new Set<string>();

  const serve = async (res: CallContext['res'], q: ViewQuery, toJson: (ev: StoredEvent) => string): Promise<void> => {
    const page = await viewPage(ctx.store(), q);
    sendText(res, 200, JSON_TYPE, pageJson(page.events.map(toJson), page.nextCursor));
  };

  const paging = (params: QueryParams): { limit: number; cursor: string | undefined } => {
    const limit = params.integer('limit', 1) ?? DEFAULT_LIMIT;
    if (limit > MAX_QUERY_LIMIT) throw new SpineError('INVALID_QUERY', `limit: must be an integer from 1 to ${MAX_QUERY_LIMIT}`, { field: 'limit' });
    const cursor = params.has('cursor') ? params.text('cursor') : undefined;
    return { limit, cursor };
  };

  const timeRange = (params: QueryParams): QueryFilter => {
    const since = params.text('since');
    const until = params.text('until');
    return { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }) };
  };

  const entityView = (view: string, entityType: string, toJson: (ev: StoredEvent) => string) =>
    async ({ res, url, params: path, caller }: CallContext): Promise<void> => {
      const params = new QueryParams(url, ['since', 'until', 'limit', 'cursor']);
      const filter = caller.restrict<QueryFilter>({ entity_type: entityType, entity_id: path.id ?? '', ...timeRange(params) });
      await serve(res, { view, filter, exclude: none, ...paging(params) }, toJson);
    };

  return {
    /** GET /api/structural-events?entityType=&since=&until=&limit=&cursor= */
    async structuralEvents({ res, url, caller }: CallContext): Promise<void> {
      const params = new QueryParams(url, ['entityType', 'since', 'until', 'limit', 'cursor']);
      const entityType = params.text('entityType');
      if (entityType !== undefined && !PART.test(entityType)) {
        throw new SpineError('INVALID_QUERY', `entityType: must be an entity type such as product (^[a-z][a-z0-9_]{0,62}$), not ${JSON.stringify(entityType)}`, { field: 'entityType' });
      }
      const filter = caller.restrict<QueryFilter>({ ...(entityType === undefined ? {} : { entity_type: entityType }), ...timeRange(params) });
      await serve(res, { view: 'structural', filter, exclude: excluded, ...paging(params) }, structuralEventJson);
    },
    /** GET /api/products/:id/activities */
    productActivities: entityView('product', 'product', productActivityJson),
    /** GET /api/objectives/:id/history */
    objectiveHistory: entityView('objective', 'objective', objectiveHistoryJson),
  };
}
