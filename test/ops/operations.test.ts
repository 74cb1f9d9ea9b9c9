/** Operations in-process against a real store: steps, status, replay, resume, shutdown, jobs. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Store } from '../../src/store';
import {
  CHECK_CREATED,
  CHECK_EVALUATED,
  Operations,
  exportFile,
  fitPayload,
  parseAutoSetupRequest,
  reindex,
  startBatchAutoSetup,
  startDaemonJob,
  type OperationEvent,
} from '../../src/ops';
import { ORG, expectedSteps, normalize, threeTables } from '../helpers/auto-setup';
import { openStore, sampleEvent, storeDefaults } from '../helpers/store';

const actor = { actor_id: 'analyst-7', organization_id: ORG };

async function autoSetup(ops: Operations, body: Record<string, unknown>): Promise<string> {
  const { id } = await startBatchAutoSetup(ops, parseAutoSetupRequest(body), actor);
  await ops.settled(id);
  return id;
}

function steps(events: OperationEvent[]): [string, Record<string, unknown>][] {
  return events.map((e) => [e.step, normalize(e.step, e.data)]);
}

async function count(store: Store, eventType: string): Promise<number> {
  let n = 0;
  for await (const _ of store.read({ event_type: eventType })) n += 1;
  return n;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

t.test('batch auto-setup: the exact steps, checks created once, then found already present', async (t) => {
  const { store } = await openStore(t);
  const ops = new Operations(store, { maxPayloadBytes: storeDefaults.maxPayloadBytes });
  const lastUpdated = new Date(Date.now() - 2 * 3_600_000).toISOString();

  const first = await autoSetup(ops, threeTables(lastUpdated));
  const events = await ops.events(first);
  t.same(steps(events), expectedSteps(lastUpdated), 'every step with its data');
  t.ok(events.every((e, i) => i === 0 || e.seq > (events[i - 1] as OperationEvent).seq), 'in seq order');
  t.ok(events.every((e) => e.operation_id === first && e.kind === 'batch_auto_setup'));
  t.equal(await count(store, CHECK_CREATED), 12, '12 checks created');
  t.equal(await count(store, CHECK_EVALUATED), 12, '12 evaluations recorded');

  const view = await ops.get(first);
  t.match(view, { id: first, kind: 'batch_auto_setup', status: 'succeeded', actor_id: 'analyst-7', organization_id: ORG, last_step: 'done', summary: { checks_created: 12, tables_failed: 1 } });
  t.ok(view?.ended_at !== undefined && view.started_at <= (view.ended_at ?? ''));

  const second = await autoSetup(ops, threeTables(lastUpdated));
  t.same(steps(await ops.events(second)), expectedSteps(lastUpdated, true), 'the same request again: every check already present');
  t.equal(await count(store, CHECK_CREATED), 12, 'no duplicate check');
  t.equal(await count(store, CHECK_EVALUATED), 24, 'but they ran again');

  const [check] = (await store.query({ event_type: CHECK_CREATED }, { limit: 1 })).items;
  t.match(check, { entity_type: 'check', domain: 'quality', action: 'created', actor_id: 'analyst-7', entity_name: 'sales.orders row_count' });
  t.match(JSON.parse(check?.payloadJson ?? '{}'), { table: 'sales.orders', kind: 'row_count', params: { min_rows: 1 }, operation_id: first });
});

t.test('checks run with the parameters they were created with', async (t) => {
  const { store } = await openStore(t);
  const ops = new Operations(store, { maxPayloadBytes: storeDefaults.maxPayloadBytes });
  await autoSetup(ops, threeTables());
  const later = threeTables() as { tables: { columns: { name: string; statistics?: Record<string, unknown> }[] }[] };
  const amount = later.tables[0]?.columns[2];
  if (amount?.statistics !== undefined) amount.statistics.max = 2000;
  const id = await autoSetup(ops, later);
  const events = await ops.events(id);
  const recommend = events.find((e) => e.step === 'recommend_complete');
  t.match(recommend?.data, { checks: [{}, {}, {}, {}, {}, {}, {}, { kind: 'range', params: { min: 0.5, max: 2000 } }] }, 'the new profile recommends wider bounds');
  const runComplete = events.find((e) => e.step === 'run_complete');
  t.match(runComplete?.data, { passed: 11, failed: 1 });
  const failed = (runComplete?.data.results as { status: string }[]).find((r) => r.status === 'failed');
  t.match(failed, { table: 'sales.orders', column: 'amount', kind: 'range', observed: { min: 0.5, max: 2000 } }, 'judged by the stored bounds [0.5, 950.25]');
  const evaluated = (await store.query({ event_type: CHECK_EVALUATED, severity: 'medium' })).items;
  t.equal(evaluated.length, 1, 'a failed check is recorded with severity medium');
  t.match(JSON.parse(evaluated[0]?.payloadJson ?? '{}'), { status: 'failed', observed: { max: 2000 }, expected: { min: 0.5, max: 950.25 }, operation_id: id });
});

t.test('watch: replay from the start, from any seq, and live; each step once, in order', async (t) => {
  const { store } = await openStore(t);
  const ops = new Operations(store, { maxPayloadBytes: storeDefaults.maxPayloadBytes });
  const { id } = await startBatchAutoSetup(ops, parseAutoSetupRequest(threeTables()), actor);
  const live = await collect(ops.watch(id)); // joins while it runs, ends at `done`
  await ops.settled(id);
  const all = await ops.events(id);
  t.same(live, all, 'a watcher that joined at once got everything');
  t.equal(all.at(-1)?.step, 'done');
  const cut = all[9] as OperationEvent;
  t.same(await collect(ops.watch(id, { after_seq: cut.seq })), all.slice(10), 'resumed after the 10th step');
  t.same(await collect(ops.watch(id, { after_seq: (all.at(-1) as OperationEvent).seq })), [], 'nothing after the last step: ends at once');
  await t.rejects(collect(ops.watch('0190a0a0-0000-7000-8000-000000000000')), { code: 'NOT_FOUND' });
  await t.rejects(collect(ops.watch(id, { after_seq: -1 })), { code: 'INVALID_REQUEST' });

  // A watcher that goes away stops only itself.
  const controller = new AbortController();
  const started = await startBatchAutoSetup(ops, parseAutoSetupRequest(threeTables()), actor);
  const seen: OperationEvent[] = [];
  for await (const ev of ops.watch(started.id, { signal: controller.signal })) {
    seen.push(ev);
    if (seen.length === 3) controller.abort();
  }
  t.equal(seen.length, 3);
  await ops.settled(started.id);
  t.equal((await ops.get(started.id))?.status, 'succeeded', 'the operation ran to its end');
});

t.test('an operation cut short by a stop of the daemon is closed as failed when next read', async (t) => {
  const { store, reopen } = await openStore(t);
  const ops = new Operations(store, { maxPayloadBytes: storeDefaults.maxPayloadBytes });
  const { id } = await ops.start('verify', actor, { step: 'started', data: { total: 0, unit: 'events' } }, () => new Promise(() => undefined));
  t.equal((await ops.get(id))?.status, 'running');
  const reopened = await reopen();
  const after = new Operations(reopened, { maxPayloadBytes: storeDefaults.maxPayloadBytes });
  const [view, again] = await Promise.all([after.get(id), after.get(id)]);
  t.match(view, { status: 'failed', error: 'interrupted: the daemon stopped before the operation finished', last_step: 'error' });
  t.same(again, view);
  const events = await after.events(id);
  t.same(events.map((e) => e.step), ['started', 'error'], 'the error step is written once');
  t.match(events[1], { data: { code: 'STORE_CLOSED' } });
  t.same((await collect(after.watch(id))).map((e) => e.step), ['started', 'error'], 'a watcher is not left waiting');
});

t.test('close(): running operations stop at their next step and record error', async (t) => {
  const { store } = await openStore(t);
  const ops = new Operations(store, { maxPayloadBytes: storeDefaults.maxPayloadBytes, maxRunning: 1 });
  const { id } = await ops.start('verify', actor, { step: 'started', data: {} }, async (ctx) => {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    ctx.checkpoint();
    return {};
  });
  await t.rejects(ops.start('verify', actor, { step: 'started', data: {} }, async () => ({})), { code: 'RATE_LIMITED' }, 'maxRunning');
  await ops.close();
  t.match(await ops.get(id), { status: 'failed', error: 'the daemon shut down before the operation finished' });
  await t.rejects(ops.start('verify', actor, { step: 'started', data: {} }, async () => ({})), { code: 'STORE_CLOSED' });
});

t.test('steps stay under the payload limit: long lists keep what fits and count the rest', async (t) => {
  const data = { table: 't', checks: Array.from({ length: 100 }, (_, i) => ({ i, pad: 'x'.repeat(50) })) };
  const fitted = fitPayload(data, 1000, 'checks');
  t.ok(Buffer.byteLength(JSON.stringify(fitted)) <= 1000);
  t.equal((fitted.checks as unknown[]).length + (fitted.checks_omitted as number), 100);
  t.equal(fitPayload(data, 1_000_000, 'checks'), data, 'unchanged when it fits');

  const { store } = await openStore(t, { maxPayloadBytes: 4096 });
  const ops = new Operations(store, { maxPayloadBytes: 4096 });
  const wide = { tables: [{ name: 'wide', statistics: { row_count: 10 }, columns: Array.from({ length: 60 }, (_, i) => ({ name: `column_${i}`, type: 'int', nullable: false })) }] };
  const id = await autoSetup(ops, wide);
  const events = await ops.events(id);
  const complete = events.find((e) => e.step === 'recommend_complete');
  t.equal(complete?.data.total_checks, 61);
  t.ok((complete?.data.checks_omitted as number) > 0, 'some checks left out of the step');
  t.match(events.at(-1), { step: 'done', data: { summary: { checks_created: 61, checks_passed: 1, checks_skipped: 60 } } }, 'all created nonetheless');
  t.equal(await count(store, CHECK_CREATED), 61);
});

t.test('daemon jobs: verify and export as operations; reindex offline', async (t) => {
  const { store, dir, reopen } = await openStore(t);
  await store.append(Array.from({ length: 1200 }, () => sampleEvent()));
  const ops = new Operations(store, { maxPayloadBytes: storeDefaults.maxPayloadBytes });
  const settings = { exportsDir: join(dir, 'exports') };

  const v = await startDaemonJob(ops, 'verify', actor, settings, store.head().seq);
  await ops.settled(v.id);
  const verifySteps = await ops.events(v.id);
  t.match(verifySteps[0], { step: 'started', data: { total: 1200, unit: 'events' } });
  t.match(verifySteps.at(-2), { step: 'progress', data: { done: 1200, total: 1200, percent: 100 } });
  t.match(verifySteps.at(-1), { step: 'done', data: { summary: { ok: true, checked: 1200, from_seq: 1, to_seq: 1200 } } });

  const e = await startDaemonJob(ops, 'export', actor, settings, store.head().seq);
  await ops.settled(e.id);
  const done = (await ops.events(e.id)).at(-1);
  const file = exportFile(settings, e.id);
  const text = readFileSync(file, 'utf8');
  const lines = text.trimEnd().split('\n');
  t.equal(lines.length, 1200 + verifySteps.length, 'every event up to the head before it started (the verify steps too)');
  t.match(done, { step: 'done', data: { summary: { events: lines.length, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), file: `exports/${e.id}.jsonl` } } });
  t.match(JSON.parse(lines[0] as string), { seq: 1, event_type: 'hcm.employee.updated' });

  const headBefore = store.head();
  await reopen().then((s) => s.close());
  const progress: [number, number][] = [];
  const r = await reindex({ ...storeDefaults, dataDir: dir }, (scanned, total) => progress.push([scanned, total]));
  t.equal(r.events, headBefore.seq);
  t.ok(progress.length > 0 && progress.at(-1)?.[0] === progress.at(-1)?.[1], 'progress ends at 100%');
  const again = await reopen();
  t.match(await again.verify({ checkIndex: true }), { ok: true, checked: headBefore.seq }, 'the rebuilt index finds every event');
});
