/**
 * The registry of operations: starts them, runs them to the end in the daemon (a watcher
 * that goes away cancels nothing), derives their status from the log, and streams their
 * steps to watchers, replayed from any point and then live until the terminal step.
 *
 * Every step is appended to the store before anyone sees it, in the order the operation
 * took them, so the log is the one record: a watcher that reconnects after seq N gets
 * every later step exactly once, in order, whichever surface it uses.
 */
import { SpineError, isSpineError } from '../errors';
import { parseUuid, uuidv7, type EventInput, type JsonObject } from '../event';
import type { AppendResult, QueryFilter, Store } from '../store';
import { nameUuid } from './name-uuid';
import { toOperationEvent, deriveView } from './view';
import {
  DONE_STEP,
  ERROR_STEP,
  OPERATION_ENTITY,
  OPS_DOMAIN,
  isTerminalStep,
  type OperationActor,
  type OperationEvent,
  type OperationKind,
  type OperationView,
} from './types';

const STEP = /^[a-z][a-z0-9_]{0,62}$/;
/** Finished operations never change: their views are kept (up to this many). */
const FINISHED_CACHE = 1000;
/** Who writes the step that closes an operation interrupted by a stop of the daemon. */
export const DAEMON_ACTOR = 'event-spine';

export interface OperationsOptions {
  /** The store's payload limit (limits.maxPayloadBytes): steps are kept under it. */
  maxPayloadBytes: number;
  /** Operations running at once; past it, start() fails with RATE_LIMITED. */
  maxRunning?: number;
  /** Told about failures that cannot be recorded as a step (the store refused the `error` step). */
  onNotice?: (message: string, details: Record<string, unknown>) => void;
}

/** What an operation's code gets: its identity and the means to record steps. */
export interface OperationContext {
  readonly id: string;
  readonly kind: OperationKind;
  readonly actor: OperationActor;
  readonly store: Store;
  /** Aborted when the daemon shuts down: the operation should stop at its next step. */
  readonly signal: AbortSignal;
  readonly maxPayloadBytes: number;
  /** Records one step; resolves once it is stored. */
  step(step: string, data?: JsonObject): Promise<AppendResult>;
  /** The event of a step, to append in one batch with other events (see append). */
  stepEvent(step: string, data?: JsonObject): EventInput;
  /** Appends events (steps and entity events) atomically, in order. */
  append(events: EventInput[]): Promise<AppendResult[]>;
  /** Throws when the operation must stop (the daemon is shutting down). */
  checkpoint(): void;
}

/** The body of an operation: its steps between the first and the terminal one; resolves with the summary. */
export type OperationRun = (ctx: OperationContext) => Promise<JsonObject>;

export interface StartedOperation {
  id: string;
  /** The seq of the first step. */
  first_seq: number;
}

interface Running {
  kind: OperationKind;
  controller: AbortController;
  finished: Promise<void>;
}

export interface WatchOptions {
  /** Deliver the steps after this seq (an SSE Last-Event-ID); from the first step by default. */
  after_seq?: number;
  /** Stops the watch (the watcher went away); the operation goes on. */
  signal?: AbortSignal;
  /** The bound of the live queue (subscriptions.queueLimit). */
  queueLimit?: number;
}

export class Operations {
  private readonly running = new Map<string, Running>();
  private readonly finished = new Map<string, OperationView>();
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly options: OperationsOptions,
  ) {}

  /**
   * Starts an operation: records its first step (so it exists once this resolves), then
   * runs it in the background to its terminal step, `done` {summary} or `error` {message}.
   */
  async start(kind: OperationKind, actor: OperationActor, first: { step: string; data: JsonObject }, run: OperationRun): Promise<StartedOperation> {
    if (this.closing) throw new SpineError('STORE_CLOSED', 'the daemon is shutting down: no operation starts now');
    const maxRunning = this.options.maxRunning ?? 32;
    if (this.running.size >= maxRunning) {
      throw new SpineError('RATE_LIMITED', `${this.running.size} operations are running, the most at once (operations.maxRunning ${maxRunning}); try again when one has finished`);
    }
    const id = uuidv7();
    const controller = new AbortController();
    const entry: Running = { kind, controller, finished: Promise.resolve() };
    // Registered before the first step is stored: a reader must never take it for an orphan.
    this.running.set(id, entry);
    const ctx = this.context(id, kind, actor, controller.signal);
    let firstResult: AppendResult;
    try {
      firstResult = await ctx.step(first.step, first.data);
    } catch (err) {
      this.running.delete(id);
      throw err;
    }
    entry.finished = this.drive(ctx, run);
    return { id, first_seq: firstResult.seq };
  }

  private async drive(ctx: OperationContext, run: OperationRun): Promise<void> {
    try {
      const summary = await run(ctx);
      await ctx.step(DONE_STEP, { summary });
    } catch (err) {
      const data: JsonObject = { message: err instanceof Error ? err.message : String(err) };
      if (isSpineError(err)) data.code = err.code;
      else this.options.onNotice?.('operation failed unexpectedly', { operation_id: ctx.id, kind: ctx.kind, err });
      await ctx.step(ERROR_STEP, data).catch((err2: unknown) => {
        this.options.onNotice?.('could not record the failure of an operation; it is closed as interrupted when next read', { operation_id: ctx.id, kind: ctx.kind, err: err2, failure: data.message });
      });
    } finally {
      this.running.delete(ctx.id);
    }
  }

  private context(id: string, kind: OperationKind, actor: OperationActor, signal: AbortSignal): OperationContext {
    const store = this.store;
    const stepEvent = (step: string, data: JsonObject = {}): EventInput => {
      if (!STEP.test(step)) throw new TypeError(`operation step ${JSON.stringify(step)} must match ${STEP.source}`);
      const ev: EventInput = {
        event_type: `${OPS_DOMAIN}.${OPERATION_ENTITY}.${step}`,
        entity_id: id,
        entity_name: kind,
        actor_id: actor.actor_id,
        actor_type: actor.actor_type ?? 'human',
        severity: step === ERROR_STEP ? 'medium' : 'low',
        payload: data,
      };
      if (actor.organization_id !== undefined) ev.organization_id = actor.organization_id;
      return ev;
    };
    return {
      id,
      kind,
      actor,
      store,
      signal,
      maxPayloadBytes: this.options.maxPayloadBytes,
      stepEvent,
      step: async (step, data) => (await store.append([stepEvent(step, data)]))[0] as AppendResult,
      append: (events) => store.append(events),
      checkpoint: () => {
        if (signal.aborted) throw new SpineError('STORE_CLOSED', 'the daemon shut down before the operation finished');
      },
    };
  }

  /** Whether the operation runs in this process now. */
  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /**
   * The operation's state from its events, or undefined when there is no such operation.
   * One found running that this process does not run was cut short by a stop of the daemon:
   * it is closed here with an `error` step (written once, whoever asks first).
   */
  async get(id: string): Promise<OperationView | undefined> {
    const opId = parseUuid(id);
    if (opId === undefined) return undefined;
    const cached = this.finished.get(opId);
    if (cached !== undefined) return cached;
    // Asked before the read: a run that ends while the view is read has stored its terminal
    // step before it leaves `running`, so only one absent before the read is an orphan.
    const runsHere = this.running.has(opId);
    let view = await this.readView(opId);
    if (view?.status === 'running' && !runsHere) {
      await this.closeInterrupted(view);
      view = await this.readView(opId);
    }
    if (view !== undefined && view.status !== 'running') {
      if (this.finished.size >= FINISHED_CACHE) this.finished.delete(this.finished.keys().next().value as string);
      this.finished.set(opId, view);
    }
    return view;
  }

  private async readView(id: string): Promise<OperationView | undefined> {
    const filter = operationFilter(id);
    const [first] = (await this.store.query(filter, { limit: 1 })).items;
    if (first === undefined) return undefined;
    const [last] = (await this.store.query(filter, { order: 'desc', limit: 1 })).items;
    return last === undefined ? undefined : deriveView(first, last);
  }

  private async closeInterrupted(view: OperationView): Promise<void> {
    // A name-based id and fixed content: concurrent readers append the same event once.
    await this.store.append([
      {
        id: nameUuid('event-spine/operation-interrupted/v1', [view.id]),
        event_type: `${OPS_DOMAIN}.${OPERATION_ENTITY}.${ERROR_STEP}`,
        entity_id: view.id,
        entity_name: view.kind,
        actor_id: DAEMON_ACTOR,
        actor_type: 'system',
        organization_id: view.organization_id,
        severity: 'medium',
        payload: { message: 'interrupted: the daemon stopped before the operation finished', code: 'STORE_CLOSED' },
      },
    ]);
  }

  /**
   * The operation's steps after `after_seq`, replayed from the log, then live until the
   * terminal step. NOT_FOUND when there is no such operation. Ends without a terminal step
   * only when `signal` aborts; if the store closes first it fails with STORE_CLOSED, naming
   * the seq to resume after.
   */
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<OperationEvent> {
    const view = await this.get(id);
    if (view === undefined) throw new SpineError('NOT_FOUND', `no operation with id ${id}`, { field: 'id' });
    const after = options.after_seq ?? 0;
    if (!Number.isSafeInteger(after) || after < 0) throw new SpineError('INVALID_REQUEST', 'after_seq: must be an integer ≥ 0', { field: 'after_seq' });
    if (view.status !== 'running' && view.last_seq <= after) return;
    const detach = new AbortController();
    const subscription = this.store.subscribe(operationFilter(view.id), {
      from_seq: after + 1,
      signal: detach.signal,
      ...(options.queueLimit === undefined ? {} : { queueLimit: options.queueLimit }),
    });
    let delivered = after;
    const aborted = abortPromise(options.signal);
    try {
      for (;;) {
        const next = await Promise.race([subscription.next(), aborted.promise]);
        if (next === ABORTED) return;
        if (next.done === true) throw new SpineError('STORE_CLOSED', `the store closed while watching operation ${view.id}; watch again after seq ${delivered}`);
        const item = next.value;
        if (item.type === 'event') {
          if (item.event.seq <= delivered) continue;
          const ev = toOperationEvent(item.event);
          if (ev === undefined) continue;
          delivered = ev.seq;
          yield ev;
          if (isTerminalStep(ev.step)) return;
        } else if (item.type === 'caught_up') {
          // Everything stored so far has been seen: finished (or just closed as interrupted)?
          const now = await this.get(view.id);
          if (now !== undefined && now.status !== 'running' && now.last_seq <= Math.max(item.seq, delivered)) return;
        }
      }
    } finally {
      aborted.dispose();
      // Wake a subscription waiting for live events so it detaches now.
      detach.abort();
      void subscription.return(undefined).catch(() => undefined);
    }
  }

  /** Every step of the operation so far, in order (for tests and tools). */
  async events(id: string): Promise<OperationEvent[]> {
    const out: OperationEvent[] = [];
    for await (const ev of this.store.read(operationFilter(id))) {
      const op = toOperationEvent(ev);
      if (op !== undefined) out.push(op);
    }
    return out;
  }

  /** Resolves once the operation, if this process runs it, has recorded its terminal step. */
  async settled(id: string): Promise<void> {
    await this.running.get(id)?.finished;
  }

  /**
   * On shutdown, before the store closes: no new operations; running ones are asked to stop
   * and record `error`, and are waited for.
   */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.running.values()];
    for (const r of all) r.controller.abort();
    await Promise.all(all.map((r) => r.finished));
  }
}

/** The events of one operation. */
export function operationFilter(id: string): QueryFilter {
  return { entity_type: OPERATION_ENTITY, entity_id: id };
}

const ABORTED = Symbol('aborted');

function abortPromise(signal: AbortSignal | undefined): { promise: Promise<typeof ABORTED>; dispose: () => void } {
  if (signal === undefined) return { promise: new Promise(() => undefined), dispose: () => undefined };
  if (signal.aborted) return { promise: Promise.resolve(ABORTED), dispose: () => undefined };
  let onAbort: () => void = () => undefined;
  const promise = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
