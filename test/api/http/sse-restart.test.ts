/**
 * SSE across a crash: an EventSource follows the log while a producer appends; the daemon
 * is SIGKILLed and restarted on the same data directory and HTTP port; EventSource
 * reconnects by itself with Last-Event-ID. The client must end up with every stored event
 * exactly once, in seq order: no gap, no duplicate.
 */
import t from 'tap';
import { startDaemon } from '../../helpers/daemon';
import { sleep } from '../../helpers/events';
import { httpApi, jsonEvent, type Json } from '../../helpers/http-api';
import { follow } from '../../helpers/sse';

const ENV = { EVENT_SPINE_HTTP_SSE_RETRY_MS: '150', EVENT_SPINE_SUBSCRIPTIONS_HEARTBEAT_MS: '200' };

t.test('resume across SIGKILL and restart: no gap, no duplicate', async (t) => {
  const began = Date.now();
  const lap = (what: string): void => t.comment(`${what} at ${Date.now() - began} ms`);
  const first = await startDaemon(t, { env: ENV });
  lap('first daemon ready');
  const port = first.httpAddress.split(':')[1] as string;
  const base = `http://${first.httpAddress}`;

  // A producer that keeps appending batches of 10, through the crash (failures ignored:
  // an append that was never acknowledged may or may not be stored).
  let producing = true;
  let acked = 0;
  const producer = (async () => {
    while (producing) {
      try {
        const r = await fetch(`${base}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events: Array.from({ length: 10 }, () => jsonEvent()) }) });
        if (r.status === 201) acked += 10;
        else await r.text();
      } catch {
        await sleep(20);
      }
      await sleep(5);
    }
  })();

  t.teardown(() => {
    producing = false; // also when an assertion below throws
  });
  const f = follow(t, `${base}/api/events/stream?from_seq=1`);
  await f.until(() => f.events.length >= 100, '100 events before the crash');
  await first.kill();
  const atKill = f.events.length;
  lap('killed');
  t.comment(`killed after ${atKill} events delivered, ${acked} acknowledged`);
  await sleep(300);

  const second = await startDaemon(t, { dataDir: first.dataDir, env: ENV, args: ['--http-port', port] });
  lap('second daemon ready');
  t.equal(second.httpAddress, first.httpAddress, 'the same HTTP address');
  await f.until(() => f.events.length >= atKill + 100, '100 more events after the restart', 20_000);
  lap('100 more delivered');
  producing = false;
  await producer;

  const api = await httpApi(t, second.httpAddress);
  const head = Number((await api.get('/api/head')).json.seq);
  await f.until(() => f.events.length >= head, `every event up to the head (${head})`);
  lap('all delivered');
  await sleep(200); // a duplicate would show up now
  const stored: Json[] = [];
  let cursor: string | null = null;
  do {
    const page: Json = (await api.get(`/api/events?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)).json;
    stored.push(...(page.items as Json[]));
    cursor = page.nextCursor as string | null;
  } while (cursor !== null);

  t.same(f.events.map((e) => e.seq), stored.map((e) => e.seq), 'every stored event once, in seq order');
  t.same(f.events.map((e) => e.event_hash), stored.map((e) => e.event_hash), 'the same events');
  t.ok(f.errors >= 1, `EventSource saw the connection drop (${f.errors} errors) and reconnected`);
  t.ok(f.markers.filter((m) => m.type === 'caught_up').length >= 2, 'caught up once per connection');
  t.equal((await api.get('/api/verify')).json.ok, true, 'the chain verifies after the crash');
  f.close();
});
