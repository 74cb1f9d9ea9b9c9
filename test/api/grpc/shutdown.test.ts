/**
 * SIGTERM under load: 4 producers on AppendStream, a subscriber and a health watcher; the
 * daemon exits 0, every acknowledged event is there after a restart, the chain verifies.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon';
import { collect, errorInfo, spineClient, wireEvent, type Msg } from '../../helpers/grpc-client';

const PRODUCERS = 4;
const WINDOW = 8;
const EVENTS_PER_REQUEST = 20;

interface Producer {
  acked: string[];
  status: Promise<{ code: number; errorCode: string | undefined }>;
}

function produce(c: ReturnType<typeof spineClient>): Producer {
  const acked: string[] = [];
  const stream = c.appendStream();
  const pending = new Map<number, string[]>();
  let next = 1;
  let open = true;
  const send = (): void => {
    while (open && pending.size < WINDOW) {
      const events = Array.from({ length: EVENTS_PER_REQUEST }, () => wireEvent({ id: randomUUID() }));
      pending.set(next, events.map((e) => e.id as string));
      stream.write({ request_id: next, events });
      next += 1;
    }
  };
  stream.on('data', (m: Msg) => {
    const ids = pending.get(m.request_id as number);
    pending.delete(m.request_id as number);
    if (m.outcome === 'ok' && ids !== undefined) acked.push(...ids);
    send();
  });
  const status = new Promise<{ code: number; errorCode: string | undefined }>((resolve) => {
    stream.on('error', (err) => {
      open = false;
      resolve({ code: errorInfo(err).status, errorCode: errorInfo(err).code });
    });
    stream.on('end', () => {
      open = false;
      resolve({ code: 0, errorCode: undefined });
    });
  });
  send();
  return { acked, status };
}

t.test('SIGTERM under load loses no acknowledged event', async (t) => {
  const daemon = await startDaemon(t, { env: { EVENT_SPINE_SUBSCRIPTIONS_HEARTBEAT_MS: '100' } });
  const c = spineClient(t, daemon.grpcAddress);

  const sub = collect(c.stream('Subscribe', { from_seq: 1 }));
  const watch = collect((c.health as unknown as { Watch(req: Msg): grpc.ClientReadableStream<Msg> }).Watch({ service: 'eventspine.v1.EventSpine' }));
  const producers = Array.from({ length: PRODUCERS }, () => produce(c));

  // Let them run, then SIGTERM mid-way.
  const started = Date.now();
  while (producers.reduce((n, p) => n + p.acked.length, 0) < 2_000 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
  const code = await daemon.stop('SIGTERM');
  t.equal(code, 0, 'exit code 0');

  const acked = producers.flatMap((p) => p.acked);
  t.ok(acked.length >= 2_000, `${acked.length} events acknowledged before the shutdown`);
  for (const p of producers) {
    const s = await p.status;
    t.ok(s.code === grpc.status.UNAVAILABLE || s.code === grpc.status.OK, `producer stream ended with ${s.code} ${s.errorCode ?? ''}`);
  }
  const subEnd = await sub;
  t.equal(subEnd.status.code, grpc.status.UNAVAILABLE, 'the subscription ended: UNAVAILABLE');
  t.equal(subEnd.status.metadata.get('error-code')[0], 'STORE_CLOSED');
  t.ok(
    subEnd.messages.some((m) => m.item === 'caught_up'),
    'the subscriber had been live',
  );
  const watchEnd = await watch;
  t.same(
    watchEnd.messages.map((m) => m.status),
    ['SERVING', 'NOT_SERVING'],
    'health watch: SERVING, then NOT_SERVING at the shutdown',
  );
  t.ok(
    daemon.logs.some((l) => l.msg === 'stopped'),
    'logged "stopped"',
  );

  const again = await startDaemon(t, { dataDir: daemon.dataDir });
  const c2 = spineClient(t, again.grpcAddress);
  const head = ((await c2.call<Msg>('Head', {})).seq as number) ?? 0;
  t.ok(head >= acked.length, `head ${head} ≥ ${acked.length} acknowledged`);
  const stored = new Set((await collect(c2.stream('Read', {}))).messages.map((e) => e.id as string));
  const missing = acked.filter((id) => !stored.has(id));
  t.same(missing, [], 'every acknowledged event is there');
  t.same(await c2.call('Verify', { check_index: true }), { ok: true, from_seq: 1, to_seq: head, checked: head }, 'the chain verifies');
  t.equal(await again.stop(), 0);
});
