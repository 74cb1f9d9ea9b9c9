/**
 * A heartbeat's seq is a resume point: every matching event up to it has been sent on the
 * stream. Appends are acknowledged once durable and subscribers are fed once indexed, so
 * while the index catches up the head is ahead of what subscribers have been handed; a
 * heartbeat naming the head then would tell a client to skip events still on their way
 * (the typed client drops what it has "already seen" after a resume point).
 */
import t from 'tap';
import { spineClient, wireEvent, type Msg } from '../../helpers/grpc-client';
import { startGrpcServer } from '../../helpers/grpc-server';

t.test('no event arrives after a heartbeat that named its seq', async (t) => {
  const s = await startGrpcServer(t, { keys: { admin: { scopes: ['append', 'read'] } }, heartbeatMs: 10 });
  const c = spineClient(t, s.address);
  const { metadata } = { metadata: new (await import('@grpc/grpc-js')).Metadata() };
  metadata.set('authorization', s.keys.bearer('admin'));

  const items: Msg[] = [];
  const stream = c.stream('Subscribe', {}, { metadata });
  stream.on('data', (m: Msg) => items.push(m));
  stream.on('error', () => undefined);
  const until = async (pred: () => boolean): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(() => items.some((m) => m.item === 'caught_up'));

  // Large groups (a slower index write) with pauses around the heartbeat interval, so that
  // heartbeats fall while a group is durable but not yet indexed.
  let lastSeq = 0;
  for (let i = 0; i < 40; i++) {
    const res = await c.call<{ results: Msg[] }>('Append', { events: Array.from({ length: 300 }, (_, k) => wireEvent({ payload: JSON.stringify({ i, k }) })) }, { metadata });
    lastSeq = res.results[res.results.length - 1]?.seq as number;
    await new Promise((r) => setTimeout(r, (i % 4) * 4));
  }
  await until(() => items.some((m) => m.item === 'event' && (m.event as Msg).seq === lastSeq));
  stream.cancel();

  let resumePoint = 0;
  let expected = 1;
  const problems: string[] = [];
  let heartbeats = 0;
  for (const m of items) {
    if (m.item === 'heartbeat') {
      heartbeats++;
      resumePoint = Math.max(resumePoint, (m.heartbeat as Msg).seq as number);
    } else if (m.item === 'event') {
      const seq = (m.event as Msg).seq as number;
      if (seq <= resumePoint) problems.push(`event ${seq} after a heartbeat naming ${resumePoint}`);
      if (seq !== expected) problems.push(`event ${seq} where ${expected} was due`);
      expected = seq + 1;
    }
  }
  t.same(problems.slice(0, 5), [], 'every event after the heartbeats that cover it, none missing, none twice');
  t.equal(expected - 1, lastSeq, `all ${lastSeq} events delivered`);
  t.ok(heartbeats > 0, `heartbeats came between the groups (${heartbeats})`);
});
