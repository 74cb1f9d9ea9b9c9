/**
 * The SDK across daemon failures, with a real daemon in a child process:
 * - SIGTERM under load: every emit that resolved is stored (and the rest land after a restart);
 * - SIGKILL and a restart on the same port: a subscriber sees every event exactly once, in
 *   order, with no gap, and emits and append() batches in flight are retried without
 *   duplicates, each batch stored whole at consecutive seqs;
 * - SIGKILL and a restart on a new port: the same, with the clients moved by setAddress().
 */
import t, { type Test } from 'tap';
import type { EventSpineClient, SpineEvent } from '../../src/client';
import { employeeEvent, openClient, within } from '../helpers/client';
import { startDaemon } from '../helpers/daemon';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(ms: number, what: string, cond: () => boolean, failures: unknown[] = []): Promise<void> {
  await within(ms, what, (async () => {
    while (!cond()) {
      if (failures.length > 0) throw new Error(`${what}: an emit failed: ${String(failures[0])}`);
      await sleep(10);
    }
  })());
}

function portOf(address: string): string {
  return address.slice(address.lastIndexOf(':') + 1);
}

/**
 * Producers emitting one event at a time each until stopped, every fourth one appending
 * batches of 5 instead; every acknowledgement recorded, and each batch's seqs.
 */
function produce(spine: EventSpineClient, producers: number, tag: string) {
  const acked = new Map<string, number>();
  const batches: number[][] = [];
  const failures: unknown[] = [];
  const counts = { deduplicated: 0 };
  let stopped = false;
  const done = Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      for (let n = 0; !stopped; n++) {
        try {
          const events = Array.from({ length: p % 4 === 3 ? 5 : 1 }, (_, k) => employeeEvent(n, { entity_id: `${tag}-${p}`, payload: { p, n, k } }));
          const results = events.length === 1 ? [await spine.emit(events[0] as (typeof events)[number])] : await spine.append(events);
          if (events.length > 1) batches.push(results.map((r) => r.seq));
          for (const r of results) {
            acked.set(r.id, r.seq);
            if (r.deduplicated) counts.deduplicated++;
          }
        } catch (err) {
          failures.push(err);
          return;
        }
      }
    }),
  );
  return {
    acked,
    batches,
    failures,
    counts,
    stop: async () => {
      stopped = true;
      await within(20_000, 'producers to finish', done);
    },
  };
}

/** Every stored event (read streams the whole log), checked: each id once, seqs dense, chain ok. */
async function checkStore(t: Test, spine: EventSpineClient, acked: Map<string, number>): Promise<SpineEvent[]> {
  const events: SpineEvent[] = [];
  for await (const ev of spine.read({})) events.push(ev);
  const byId = new Map<string, number>();
  for (const ev of events) byId.set(ev.id, (byId.get(ev.id) ?? 0) + 1);
  t.equal([...byId.values()].filter((c) => c > 1).length, 0, `no id stored twice (${events.length} events)`);
  t.ok(events.every((ev, i) => ev.seq === i + 1), 'seqs dense from 1');
  const missing = [...acked].filter(([id, seq]) => events[seq - 1]?.id !== id);
  t.same(missing, [], `every acknowledged emit (${acked.size}) is stored at the seq it was acknowledged with`);
  t.equal(events.length, acked.size, 'and nothing else was stored');
  const v = await spine.verify({ check_index: true });
  t.match(v, { ok: true, checked: events.length }, 'the chain verifies');
  return events;
}

t.test('SIGTERM under load: every acknowledged emit is stored; the rest land after a restart', { timeout: 90_000 }, async (t) => {
  const first = await startDaemon(t);
  const spine = openClient(t, first.grpcAddress);
  const load = produce(spine, 16, 'term');
  await until(15_000, '600 acknowledged emits', () => load.acked.size >= 600, load.failures);
  t.equal(await first.stop('SIGTERM'), 0, 'graceful exit 0 under load');
  const ackedBeforeExit = new Map(load.acked);
  // Emits cut off by the shutdown wait in the client; a daemon on the same store and port takes them.
  const second = await startDaemon(t, { dataDir: first.dataDir, args: ['--grpc-port', portOf(first.grpcAddress)] });
  t.equal(second.grpcAddress, first.grpcAddress, 'restarted on the same port');
  await until(30_000, 'emits to flow again', () => load.acked.size >= ackedBeforeExit.size + 200, load.failures);
  await load.stop();
  t.same(load.failures, [], 'no emit failed');
  const events = await checkStore(t, spine, load.acked);
  const stored = new Set(events.map((e) => e.id));
  t.ok([...ackedBeforeExit.keys()].every((id) => stored.has(id)), `all ${ackedBeforeExit.size} emits acknowledged before the exit are stored`);
});

/** A subscriber from seq 1, collecting every event until told the last seq. */
function subscriber(spine: EventSpineClient) {
  const seqs: number[] = [];
  const ids: string[] = [];
  const ctl = new AbortController();
  let failure: unknown;
  const done = (async () => {
    for await (const ev of spine.subscribe({}, { fromSeq: 1, signal: ctl.signal })) {
      seqs.push(ev.seq);
      ids.push(ev.id);
    }
  })().catch((err: unknown) => {
    failure = err;
  });
  return {
    seqs,
    ids,
    /** Waits until the subscriber has seen `lastSeq`, then ends it. */
    finish: async (lastSeq: number) => {
      await until(20_000, `the subscriber to reach seq ${lastSeq}`, () => failure !== undefined || (seqs.at(-1) ?? 0) >= lastSeq);
      ctl.abort();
      await within(5000, 'the subscription to end', done);
      if (failure !== undefined) throw failure;
    },
  };
}

for (const samePort of [true, false]) {
  const how = samePort ? 'on the same port' : 'on a new port (clients moved with setAddress)';
  t.test(`SIGKILL and restart ${how}: subscribe resumes with no gap and no duplicate; emit retries never duplicate`, { timeout: 90_000 }, async (t) => {
    const first = await startDaemon(t);
    const spine = openClient(t, first.grpcAddress);
    const watcher = openClient(t, first.grpcAddress);
    const sub = subscriber(watcher);
    const load = produce(spine, 16, samePort ? 'kill' : 'move');
    await until(15_000, '400 acknowledged emits', () => load.acked.size >= 400, load.failures);
    await until(15_000, 'the subscriber to be live', () => sub.seqs.length >= 200);
    await first.kill(); // SIGKILL with emits in flight: some stored, not acknowledged
    const ackedAtKill = load.acked.size;
    await sleep(200); // the clients notice and back off
    const second = await startDaemon(t, { dataDir: first.dataDir, args: samePort ? ['--grpc-port', portOf(first.grpcAddress)] : [] });
    if (!samePort) {
      t.not(second.grpcAddress, first.grpcAddress);
      spine.setAddress(second.grpcAddress);
      watcher.setAddress(second.grpcAddress);
    }
    await until(30_000, 'emits to flow again', () => load.acked.size >= ackedAtKill + 200, load.failures);
    await load.stop();
    t.same(load.failures, [], 'no emit or append failed');
    t.ok(load.batches.length > 0 && load.batches.every((seqs) => seqs.every((seq, i) => i === 0 || seq === (seqs[i - 1] as number) + 1)), `each of the ${load.batches.length} append() batches was stored whole, at consecutive seqs`);
    t.comment(`${load.counts.deduplicated} retried emits had been stored before the kill and were answered as deduplicated`);
    const lastSeq = (await spine.head()).seq;
    await sub.finish(lastSeq);
    t.same(sub.seqs, Array.from({ length: lastSeq }, (_, i) => i + 1), `the subscriber saw seqs 1…${lastSeq} exactly once, in order`);
    t.equal(new Set(sub.ids).size, sub.ids.length, 'no event twice');
    const events = await checkStore(t, spine, load.acked);
    t.ok(ackedAtKill < load.acked.size, `emits resumed after the restart (${ackedAtKill} before the kill, ${load.acked.size} in all)`);
    t.same(sub.ids, events.map((e) => e.id), 'the subscriber saw exactly the stored events');
  });
}
