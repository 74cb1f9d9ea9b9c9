/**
 * The operations RPCs (DESIGN §6): BatchAutoSetup and WatchOperation stream an operation's
 * steps (the same messages as the HTTP SSE stream: `data` is the very same JSON text),
 * GetOperation answers its status. A cancelled call stops only the stream; the operation
 * runs to its end in the daemon and WatchOperation picks it up after any seq.
 *
 * BatchAutoSetup needs the append scope (it creates checks as events); GetOperation and
 * WatchOperation the read scope, and an operation of an organization the caller does not
 * see is NOT_FOUND, as if it did not exist.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Caller } from '../../auth';
import { SpineError } from '../../errors';
import { operationEventData, type OperationEvent, type OperationService, type OperationView, type Scalar, type WatchOptions } from '../../ops';
import { serverStream, unary, waitForDrain, type Malformed, type ServiceContext } from './calls';

// ---- messages (proto-loader's view: absent fields undefined) -------------------------------

export interface ScalarMsg {
  text?: string;
  number?: number;
  boolean?: boolean;
  value?: 'text' | 'number' | 'boolean';
}

export interface BatchAutoSetupRequestMsg {
  tables?: {
    name?: string;
    schema?: string;
    columns?: {
      name?: string;
      type?: string;
      nullable?: boolean;
      primary_key?: boolean;
      unique?: boolean;
      statistics?: { null_count?: number; distinct_count?: number; min?: ScalarMsg; max?: ScalarMsg; sample_values?: ScalarMsg[] };
    }[];
    statistics?: { row_count?: number; last_updated?: string };
  }[];
  options?: { freshness_max_age_hours?: number; accepted_values_max_distinct?: number };
  actor_id?: string;
  actor_type?: string;
  organization_id?: string;
}

export interface WatchOperationRequestMsg {
  operation_id?: string;
  after_seq?: number;
}

export interface GetOperationRequestMsg {
  operation_id?: string;
}

export interface OperationEventMsg {
  operation_id: string;
  kind: string;
  seq: number;
  step: string;
  timestamp: string;
  data: string;
}

export interface OperationMsg {
  id: string;
  kind: string;
  status: string;
  started_at: string;
  ended_at?: string;
  actor_id: string;
  actor_type: string;
  organization_id: string;
  last_step: string;
  last_seq: number;
  summary?: string;
  error?: string;
}

// ---- conversions ---------------------------------------------------------------------------

function scalar(s: ScalarMsg | undefined): Scalar | undefined {
  if (s === undefined) return undefined;
  if (s.value !== undefined) return s[s.value];
  return s.text ?? s.number ?? s.boolean;
}

/** The request as the HTTP body would say it, for the one request checker. */
export function autoSetupBody(req: BatchAutoSetupRequestMsg): Record<string, unknown> {
  const nonEmpty = <T>(a: T[] | undefined): T[] | undefined => (a === undefined || a.length === 0 ? undefined : a);
  return {
    tables: (req.tables ?? []).map((t) => ({
      name: t.name,
      schema: t.schema,
      columns: (t.columns ?? []).map((c) => ({
        name: c.name,
        type: c.type,
        nullable: c.nullable,
        primary_key: c.primary_key,
        unique: c.unique,
        statistics:
          c.statistics === undefined
            ? undefined
            : { null_count: c.statistics.null_count, distinct_count: c.statistics.distinct_count, min: scalar(c.statistics.min), max: scalar(c.statistics.max), sample_values: nonEmpty(c.statistics.sample_values)?.map(scalar) },
      })),
      statistics: t.statistics === undefined ? undefined : { row_count: t.statistics.row_count, last_updated: t.statistics.last_updated },
    })),
    options: req.options === undefined ? undefined : { freshness_max_age_hours: req.options.freshness_max_age_hours, accepted_values_max_distinct: req.options.accepted_values_max_distinct },
    actor_id: req.actor_id,
    actor_type: req.actor_type,
    organization_id: req.organization_id,
  };
}

export function toOperationEventMsg(ev: OperationEvent): OperationEventMsg {
  return { operation_id: ev.operation_id, kind: ev.kind, seq: ev.seq, step: ev.step, timestamp: ev.timestamp, data: operationEventData(ev) };
}

export function toOperationMsg(view: OperationView): OperationMsg {
  const msg: OperationMsg = {
    id: view.id,
    kind: view.kind,
    status: view.status,
    started_at: view.started_at,
    actor_id: view.actor_id,
    actor_type: view.actor_type,
    organization_id: view.organization_id,
    last_step: view.last_step,
    last_seq: view.last_seq,
  };
  if (view.ended_at !== undefined) msg.ended_at = view.ended_at;
  if (view.summary !== undefined) msg.summary = JSON.stringify(view.summary);
  if (view.error !== undefined) msg.error = view.error;
  return msg;
}

function operationId(id: string | undefined): string {
  if (id === undefined || id === '') throw new SpineError('INVALID_REQUEST', 'operation_id: is required', { field: 'operation_id' });
  return id;
}

// ---- handlers ------------------------------------------------------------------------------

type StepStream = grpc.ServerWritableStream<unknown, OperationEventMsg>;

/**
 * Writes the steps `watch` yields after `after` until the terminal step. Ends quietly when
 * the client cancels or `revoked` aborts (serverStream then ends the call UNAUTHENTICATED);
 * on shutdown fails UNAVAILABLE naming the seq to resume after.
 */
async function streamSteps(ctx: ServiceContext, watch: (options: WatchOptions) => AsyncIterable<OperationEvent>, after: number, call: StepStream, revoked: AbortSignal): Promise<void> {
  if (revoked.aborted) return; // revoked while the handler looked the operation up
  const abort = new AbortController();
  let shuttingDown = false;
  const untrack = ctx.calls.trackStream(() => {
    shuttingDown = true;
    abort.abort();
  });
  const onCancel = (): void => abort.abort();
  call.once('cancelled', onCancel);
  revoked.addEventListener('abort', onCancel, { once: true });
  let last = after;
  try {
    for await (const ev of watch({ after_seq: after, signal: abort.signal, queueLimit: ctx.settings.queueLimit })) {
      if (call.cancelled) return;
      if (abort.signal.aborted) break; // revoked or shutting down: not one more step
      last = ev.seq;
      if (!call.write(toOperationEventMsg(ev)) && !(await waitForDrain(call, abort.signal))) break;
    }
  } finally {
    untrack();
    call.off('cancelled', onCancel);
    revoked.removeEventListener('abort', onCancel);
  }
  if (shuttingDown && !call.cancelled) {
    throw new SpineError('STORE_CLOSED', `the server is shutting down; the operation goes on when it is back: WatchOperation with after_seq ${last}`);
  }
}

/** `service()` is the daemon's OperationService (undefined before the store is open). */
export function operationHandlers(ctx: ServiceContext, service: () => OperationService | undefined) {
  const svc = (): OperationService => {
    const s = service();
    if (s === undefined) throw new SpineError('NOT_READY', 'the daemon is starting');
    return s;
  };
  return {
    BatchAutoSetup: serverStream<BatchAutoSetupRequestMsg, OperationEventMsg>(ctx, 'BatchAutoSetup', 'append', async (req, caller, call, revoked) => {
      const s = svc();
      const started = await s.startAutoSetup(autoSetupBody(req), caller); // a bad request fails before any message
      // The caller started it, in an organization it may act in: its progress is the
      // answer to this call, also for a key with the append scope alone.
      await streamSteps(ctx, (options) => s.operations.watch(started.id, options), 0, call as grpc.ServerWritableStream<BatchAutoSetupRequestMsg | Malformed, OperationEventMsg> as StepStream, revoked);
    }),

    WatchOperation: serverStream<WatchOperationRequestMsg, OperationEventMsg>(ctx, 'WatchOperation', 'read', async (req, caller, call, revoked) => {
      const s = svc();
      const view = await s.get(operationId(req.operation_id), caller); // NOT_FOUND before any message
      await streamSteps(ctx, (options) => s.watch(view.id, caller, options), req.after_seq ?? 0, call as unknown as StepStream, revoked);
    }),

    GetOperation: unary<GetOperationRequestMsg, OperationMsg>(ctx, 'GetOperation', 'read', async (req, caller) => toOperationMsg(await svc().get(operationId(req.operation_id), caller))),
  };
}
