/**
 * GET /api/events/stream with the real `eventsource` client: live delivery, resume with
 * Last-Event-ID after the client went away (header and query parameter), heartbeats, the
 * retry hint, to_seq, a slow client that is never dropped and never stalls appends, and
 * streams ended cleanly by a SIGTERM.
 */
import { get } from 'node:http';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon';
import { sleep } from '../../helpers/events';
import { httpApi, jsonEvent, type HttpApi, type Json } from '../../helpers/http-api';
import { follow, parseMessages, rawStream } from '../../helpers/sse';

const seqs = (events: Json[]): number[] => events.map((e) => Number(e.seq));
const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

async function appendMany(api: HttpApi, n: number, over: Json = {}): Promise<number[]> {
  const r = await api.post('/api/events', { events: Array.from({ length: n }, () => jsonEvent(over)) });
  if (r.status !== 201) throw new Error(`append: ${r.status} ${r.text}`);
  return (r.json.results as Json[]).map((x) => Number(x.seq));
}

t.test('SSE: live, resume, heartbeats, to_seq, shutdown', async (t) => {
  // A small live queue and fan-out history, so that the stalled clients below outrun both.
  const daemon = await startDaemon(t, {
    env: { EVENT_SPINE_SUBSCRIPTIONS_HEARTBEAT_MS: '150', EVENT_SPINE_HTTP_SSE_RETRY_MS: '300', EVENT_SPINE_SUBSCRIPTIONS_QUEUE_LIMIT: '50', EVENT_SPINE_HTTP_SSE_HISTORY_BYTES: String(1024 * 1024) },
  });
  const api = await httpApi(t, daemon.httpAddress);
  const stream = `${api.base}/api/events/stream`;

  t.test('live delivery with filters: id is the seq, data is the event', async (t) => {
    const f = follow(t, `${stream}?event_type=hcm.employee.`);
    await f.until(() => f.markers.some((m) => m.type === 'caught_up'), 'caught_up');
    const hcm = await appendMany(api, 5);
    await appendMany(api, 3, { event_type: 'crm.account.updated' });
    const more = await appendMany(api, 2);
    await f.until(() => f.events.length === 7, '7 events');
    t.same(seqs(f.events), [...hcm, ...more], 'the matching events, in order');
    t.same(f.ids, [...hcm, ...more].map(String), 'id: <seq>');
    const stored = await api.get(`/api/events/${hcm[0] ?? 0}`);
    t.same(f.events[0], stored.json, 'data is the event as GET /api/events/:id has it');
    f.close();
  });

  t.test('resume with Last-Event-ID after the client went away: no gap, no duplicate', async (t) => {
    const head = Number((await api.get('/api/head')).json.seq);
    const first = follow(t, `${stream}?from_seq=1`);
    await f0(first, head);
    first.close();
    const lastId = first.ids[first.ids.length - 1] as string;
    const missed = await appendMany(api, 25); // while no one listens

    const again = follow(t, `${stream}?from_seq=1`, { lastEventId: lastId });
    await again.until(() => again.events.length >= missed.length, 'the missed events');
    const live = await appendMany(api, 5);
    await again.until(() => again.events.length >= missed.length + live.length, 'the live ones');
    t.same(seqs(again.events), [...missed, ...live], 'from Last-Event-ID + 1, every event once (the header beats ?from_seq=1)');

    const byQuery = follow(t, `${stream}?lastEventId=${lastId}`);
    await byQuery.until(() => byQuery.events.length >= missed.length + live.length, 'query resume');
    t.same(seqs(byQuery.events), [...missed, ...live], '?lastEventId= for clients that cannot set headers');
    again.close();
    byQuery.close();

    async function f0(f: ReturnType<typeof follow>, n: number): Promise<void> {
      await f.until(() => f.events.length >= n, `${n} events`);
      t.same(seqs(f.events), range(1, n), 'the catch-up from seq 1');
    }
  });

  t.test('retry hint, heartbeat comments, caught_up marker on the wire', async (t) => {
    const raw = await rawStream(stream);
    t.equal(raw.status, 200);
    t.match(String(raw.headers.get('content-type')), /^text\/event-stream/);
    await sleep(500);
    raw.abort();
    await raw.ended;
    const text = raw.text();
    t.match(text, /^retry: 300\n\n/, 'retry: first');
    t.ok((text.match(/^: heartbeat \d+$/gm) ?? []).length >= 2, 'comment heartbeats while idle');
    const head = Number((await api.get('/api/head')).json.seq);
    t.same(parseMessages(text).find((m) => m.event === 'caught_up'), { id: String(head), event: 'caught_up', data: `{"seq":${head}}` });
  });

  t.test('to_seq ends the stream; a reconnection past it answers 204', async (t) => {
    const raw = await rawStream(`${stream}?from_seq=2&to_seq=4`);
    await raw.ended;
    const messages = parseMessages(raw.text()).filter((m) => m.event === 'event');
    t.same(messages.map((m) => m.id), ['2', '3', '4']);
    const done = await fetch(`${stream}?to_seq=4`, { headers: { 'last-event-id': '4' } });
    t.equal(done.status, 204, 'EventSource stops on 204');
  });

  t.test('a slow client is not dropped, does not stall appends, loses nothing', async (t) => {
    const startSeq = Number((await api.get('/api/head')).json.seq) + 1;
    const [host, port] = daemon.httpAddress.split(':');
    let body = '';
    const response = await new Promise<import('node:http').IncomingMessage>((resolve) => get({ host, port: Number(port), path: '/api/events/stream', headers: { accept: 'text/event-stream' } }, resolve));
    response.setEncoding('utf8');
    response.pause(); // stop reading: the socket buffers fill, then the server's writes wait for 'drain'
    // The server subscribes from the head: wait until it has, then append ~10 MB it cannot send.
    await sleep(200);
    const started = Date.now();
    const pad = 'x'.repeat(5000);
    const appended: number[] = [];
    for (let i = 0; i < 20; i++) appended.push(...(await appendMany(api, 100, { payload: { pad, i } })));
    const appendMs = Date.now() - started;
    t.ok(appendMs < 20_000, `2000 appends (10 MB) took ${appendMs} ms with a stalled reader`);
    t.equal(appended[0], startSeq);

    response.on('data', (c: string) => (body += c));
    response.resume();
    const last = appended[appended.length - 1] as number;
    const deadline = Date.now() + 20_000;
    while (!body.includes(`\nid: ${last}\nevent: event\n`) && Date.now() < deadline) await sleep(20);
    response.destroy();
    const messages = parseMessages(body);
    const delivered = messages.filter((m) => m.event === 'event').map((m) => Number(m.id));
    t.same(delivered, appended, 'every event once, in order, across the fall-back to the log');
    t.ok(messages.some((m) => m.event === 'fell_behind'), 'fell_behind told the client it was served from the log');
    t.comment(`markers: ${messages.filter((m) => m.event !== 'event').map((m) => `${m.event}@${m.id}`).join(' ')}`);
  });

  t.test('fan-out: many streams on one filter, joining mid-flight, one of them stalled', async (t) => {
    const [host, port] = daemon.httpAddress.split(':');
    const stalled = await new Promise<import('node:http').IncomingMessage>((resolve) => get({ host, port: Number(port), path: '/api/events/stream', headers: { accept: 'text/event-stream' } }, resolve));
    stalled.pause();
    const followers: { from: number; f: ReturnType<typeof follow> }[] = [];
    const pad = 'y'.repeat(8000); // ~8 MB in all: more than the stalled socket's buffers hold
    for (let round = 0; round < 12; round++) {
      const from = Number((await api.get('/api/head')).json.seq) + 1;
      followers.push({ from, f: follow(t, `${stream}?from_seq=${from}`) });
      // Batches under the live queue's limit (50): the fan-out path, not only log reads.
      await Promise.all([appendMany(api, 40, { payload: { pad, round } }), appendMany(api, 40, { payload: { pad, round } })]);
    }
    const head = Number((await api.get('/api/head')).json.seq);
    for (const { from, f } of followers) {
      await f.until(() => f.events.length >= head - from + 1, `events ${from}..${head}`);
      await sleep(50);
      t.same(seqs(f.events), range(from, head), `from_seq=${from}: every event once, in order`);
      f.close();
    }
    let body = '';
    stalled.setEncoding('utf8').on('data', (c: string) => (body += c));
    stalled.resume();
    const deadline = Date.now() + 20_000;
    while (!body.includes(`\nid: ${head}\nevent: event\n`) && Date.now() < deadline) await sleep(20);
    stalled.destroy();
    const delivered = parseMessages(body).filter((m) => m.event === 'event').map((m) => Number(m.id));
    t.same(delivered, range(delivered[0] ?? 0, head), 'the stalled stream lost nothing once it read again');
    t.ok(parseMessages(body).some((m) => m.event === 'fell_behind'), 'it was let go and caught up from the log');
    const metrics = (await api.get('/metrics')).text;
    t.match(metrics, /^eventspine_sse_paused_total [1-9]/m, 'the fan-out paused the stalled stream first');
    t.match(metrics, /^eventspine_sse_fell_behind_total [1-9]/m, 'then let it go to the log');
    t.match(metrics, /^eventspine_sse_streams \d+/m);
  });

  t.test('SIGTERM ends open streams cleanly', async (t) => {
    const raw = await rawStream(stream);
    const f = follow(t, stream);
    await f.until(() => f.markers.length > 0, 'caught_up');
    const code = await daemon.stop('SIGTERM');
    t.equal(code, 0, 'the daemon exits 0');
    await raw.ended;
    t.match(raw.text(), /: the daemon is shutting down; reconnect with Last-Event-ID\n\n$/, 'the stream ended with a last comment');
    f.close();
  });
});
