/**
 * The batch auto-setup operation (DESIGN §6): recommend checks per table, create each as
 * a `quality.check.created` entity event (once per table, column and kind), run them
 * against the supplied statistics (`quality.check.evaluated`), then `done` with a summary.
 * The steps, in order (event names exactly those of the Maysano seed):
 *
 *   recommend_phase_start {total_tables}
 *   per table: recommend_start {table, table_index}
 *              recommend_complete {table, table_index, total_checks, checks}
 *            | recommend_error {table, table_index, error, field}
 *   recommend_phase_done {total_tables, tables_succeeded, tables_failed, total_checks}
 *   create_phase_start {total_checks}
 *   per check: create_progress {check_id, table, column?, kind, status: created | already_present, processed, total_checks}
 *            | create_error {check_id, table, column?, kind, error, code, processed, total_checks}
 *   create_phase_done {total_checks, created, already_present, failed}
 *   run_start {total_checks}
 *   run_complete {total_checks, passed, failed, skipped, results}
 *   done {summary}  |  error {message, code}
 */
import { isSpineError, type ErrorCode } from '../../errors';
import type { EventInput, JsonObject, JsonValue, StoredEvent } from '../../event';
import { BufferedAppend } from '../buffered-append';
import { fitPayload } from '../fit-payload';
import type { OperationContext, Operations, StartedOperation } from '../operations';
import type { OperationActor } from '../types';
import { evaluateCheck, type CheckDefinition, type CheckResult } from './evaluate';
import { qualifiedName, type AutoSetupRequest } from './request';
import { CHECK_KINDS, recommendChecks, type CheckKind, type CheckSpec } from './rules';
import { interpretTable, type TableModel } from './table-model';

export const CHECK_CREATED = 'quality.check.created';
export const CHECK_EVALUATED = 'quality.check.evaluated';
/** Checks looked up and created per append. */
const CREATE_CHUNK = 100;

/** Errors that end the operation: the store cannot take events. Others fail one check. */
const FATAL: readonly ErrorCode[] = ['STORE_CLOSED', 'DISK_FULL', 'IO_ERROR', 'INDEX_BEHIND', 'LOG_CORRUPT', 'INTERNAL', 'NOT_READY'];

/**
 * Starts a batch auto-setup for a request checked by parseAutoSetupRequest. The actor's
 * organization (resolved by the caller) scopes the checks and the events.
 */
export function startBatchAutoSetup(ops: Operations, request: AutoSetupRequest, actor: OperationActor & { organization_id: string }): Promise<StartedOperation> {
  return ops.start('batch_auto_setup', actor, { step: 'recommend_phase_start', data: { total_tables: request.tables.length } }, (ctx) => runAutoSetup(ctx, request, actor.organization_id));
}

async function runAutoSetup(ctx: OperationContext, request: AutoSetupRequest, organizationId: string): Promise<JsonObject> {
  const recommended = await recommendPhase(ctx, request, organizationId);
  const checks = recommended.flatMap((r) => r.checks);
  const created = await createPhase(ctx, checks, organizationId);
  const results = await runPhase(ctx, created.runnable, new Map(recommended.map((r) => [r.table.name, r.table])), organizationId);
  return {
    tables: request.tables.length,
    tables_succeeded: recommended.length,
    tables_failed: request.tables.length - recommended.length,
    checks_recommended: checks.length,
    checks_created: created.created,
    checks_already_present: created.alreadyPresent,
    checks_create_failed: created.failed,
    checks_passed: results.filter((r) => r.status === 'passed').length,
    checks_failed: results.filter((r) => r.status === 'failed').length,
    checks_skipped: results.filter((r) => r.status === 'skipped').length,
  };
}

// ---- recommend -----------------------------------------------------------------------------

async function recommendPhase(ctx: OperationContext, request: AutoSetupRequest, organizationId: string): Promise<{ table: TableModel; checks: CheckSpec[] }[]> {
  const out: { table: TableModel; checks: CheckSpec[] }[] = [];
  const steps = new BufferedAppend(ctx.append);
  for (const [i, input] of request.tables.entries()) {
    ctx.checkpoint();
    const table = qualifiedName(input);
    const start = ctx.stepEvent('recommend_start', { table, table_index: i });
    const interpreted = interpretTable(input, i);
    if (!interpreted.ok) {
      await steps.add(start, ctx.stepEvent('recommend_error', { table, table_index: i, error: interpreted.message, field: interpreted.field }));
      continue;
    }
    const checks = recommendChecks(interpreted.table, request.options, organizationId);
    out.push({ table: interpreted.table, checks });
    const data: JsonObject = { table, table_index: i, total_checks: checks.length, checks: checks as unknown as JsonValue[] };
    await steps.add(start, ctx.stepEvent('recommend_complete', fitPayload(data, ctx.maxPayloadBytes, 'checks')));
  }
  const totalChecks = out.reduce((n, r) => n + r.checks.length, 0);
  await steps.add(ctx.stepEvent('recommend_phase_done', { total_tables: request.tables.length, tables_succeeded: out.length, tables_failed: request.tables.length - out.length, total_checks: totalChecks }));
  await steps.flush();
  return out;
}

// ---- create --------------------------------------------------------------------------------

interface CreateOutcome {
  runnable: CheckDefinition[];
  created: number;
  alreadyPresent: number;
  failed: number;
}

function checkRef(c: { check_id: string; table: string; column?: string; kind: CheckKind }): JsonObject {
  const ref: JsonObject = { check_id: c.check_id, table: c.table };
  if (c.column !== undefined) ref.column = c.column;
  ref.kind = c.kind;
  return ref;
}

function checkName(c: { table: string; column?: string; kind: CheckKind }): string {
  return `${c.column === undefined ? c.table : `${c.table}.${c.column}`} ${c.kind}`;
}

function isFatal(err: unknown): boolean {
  return !isSpineError(err) || FATAL.includes(err.code);
}

/** The definition stored by a quality.check.created event, or undefined if it is not one. */
export function storedDefinition(ev: StoredEvent): CheckDefinition | undefined {
  if (ev.event_type !== CHECK_CREATED) return undefined;
  const p = JSON.parse(ev.payloadJson) as JsonObject;
  if (typeof p.table !== 'string' || typeof p.kind !== 'string' || !(CHECK_KINDS as readonly string[]).includes(p.kind)) return undefined;
  const def: CheckDefinition = { check_id: ev.entity_id, table: p.table, kind: p.kind as CheckKind, params: typeof p.params === 'object' && p.params !== null && !Array.isArray(p.params) ? p.params : {} };
  if (typeof p.column === 'string') def.column = p.column;
  return def;
}

async function createPhase(ctx: OperationContext, checks: CheckSpec[], organizationId: string): Promise<CreateOutcome> {
  const outcome: CreateOutcome = { runnable: [], created: 0, alreadyPresent: 0, failed: 0 };
  const total = checks.length;
  await ctx.step('create_phase_start', { total_checks: total });
  const createdEvent = (c: CheckSpec): EventInput => {
    const payload: JsonObject = { ...checkRef(c), params: c.params, reason: c.reason, operation_id: ctx.id };
    delete payload.check_id;
    return { id: c.check_id, event_type: CHECK_CREATED, entity_id: c.check_id, entity_name: checkName(c), actor_id: ctx.actor.actor_id, actor_type: ctx.actor.actor_type ?? 'human', organization_id: organizationId, payload };
  };
  const progress = (c: CheckSpec, status: 'created' | 'already_present', processed: number): EventInput => ctx.stepEvent('create_progress', { ...checkRef(c), status, processed, total_checks: total });
  const failure = (c: CheckSpec, err: unknown, processed: number): EventInput => {
    const e = err as { message?: string; code?: string };
    return ctx.stepEvent('create_error', { ...checkRef(c), error: e.message ?? String(err), code: e.code ?? 'INTERNAL', processed, total_checks: total });
  };
  const present = (c: CheckSpec, ev: StoredEvent, processed: number): EventInput => {
    const def = storedDefinition(ev);
    if (def === undefined) {
      outcome.failed += 1;
      return failure(c, { message: `id ${c.check_id} is taken by a ${ev.event_type} event, not a check`, code: 'ID_CONFLICT' }, processed);
    }
    outcome.alreadyPresent += 1;
    outcome.runnable.push(def);
    return progress(c, 'already_present', processed);
  };

  for (let from = 0; from < total; from += CREATE_CHUNK) {
    ctx.checkpoint();
    const chunk = checks.slice(from, from + CREATE_CHUNK);
    const existing = await Promise.all(chunk.map((c) => ctx.store.get(c.check_id)));
    const mark = { ...outcome, runnable: outcome.runnable.length };
    const batch: EventInput[] = [];
    for (const [k, c] of chunk.entries()) {
      const ev = existing[k];
      if (ev !== undefined) {
        batch.push(present(c, ev, from + k + 1));
      } else {
        outcome.created += 1;
        outcome.runnable.push(c);
        batch.push(createdEvent(c), progress(c, 'created', from + k + 1));
      }
    }
    try {
      await ctx.append(batch);
      continue;
    } catch (err) {
      if (isFatal(err)) throw err;
    }
    // The batch was refused as a whole (a check created meanwhile, an event refused):
    // redo this chunk one check at a time, so only the checks at fault fail.
    Object.assign(outcome, { created: mark.created, alreadyPresent: mark.alreadyPresent, failed: mark.failed });
    outcome.runnable.length = mark.runnable;
    for (const [k, c] of chunk.entries()) {
      const processed = from + k + 1;
      const ev = existing[k] ?? (await ctx.store.get(c.check_id));
      if (ev !== undefined) {
        await ctx.append([present(c, ev, processed)]);
        continue;
      }
      try {
        await ctx.append([createdEvent(c)]);
        outcome.created += 1;
        outcome.runnable.push(c);
        await ctx.append([progress(c, 'created', processed)]);
      } catch (err) {
        if (isFatal(err)) throw err;
        const again = isSpineError(err) && err.code === 'ID_CONFLICT' ? await ctx.store.get(c.check_id) : undefined;
        if (again !== undefined) {
          await ctx.append([present(c, again, processed)]);
        } else {
          outcome.failed += 1;
          await ctx.append([failure(c, err, processed)]);
        }
      }
    }
  }
  await ctx.step('create_phase_done', { total_checks: total, created: outcome.created, already_present: outcome.alreadyPresent, failed: outcome.failed });
  return outcome;
}

// ---- run -----------------------------------------------------------------------------------

async function runPhase(ctx: OperationContext, checks: CheckDefinition[], tables: Map<string, TableModel>, organizationId: string): Promise<CheckResult[]> {
  ctx.checkpoint();
  await ctx.step('run_start', { total_checks: checks.length });
  const nowMs = Date.now();
  const results: CheckResult[] = [];
  const records = new BufferedAppend(ctx.append, 500, Number.POSITIVE_INFINITY);
  for (const def of checks) {
    const table = tables.get(def.table) as TableModel; // every check comes from a table of this request
    const result = evaluateCheck(def, table, nowMs);
    results.push(result);
    if (result.status === 'skipped') continue;
    const payload: JsonObject = { ...checkRef(def), status: result.status, observed: result.observed, expected: def.params, operation_id: ctx.id };
    delete payload.check_id;
    await records.add({
      event_type: CHECK_EVALUATED,
      entity_id: def.check_id,
      entity_name: checkName(def),
      actor_id: ctx.actor.actor_id,
      actor_type: ctx.actor.actor_type ?? 'human',
      organization_id: organizationId,
      severity: result.status === 'failed' ? 'medium' : 'low',
      payload,
    });
  }
  await records.flush();
  const count = (status: CheckResult['status']): number => results.filter((r) => r.status === status).length;
  const data: JsonObject = { total_checks: checks.length, passed: count('passed'), failed: count('failed'), skipped: count('skipped'), results: results as unknown as JsonValue[] };
  await ctx.step('run_complete', fitPayload(data, ctx.maxPayloadBytes, 'results'));
  return results;
}
