import t from 'tap';
import { openStore, sampleEvent } from '../helpers/store';

t.test('an idle subscription ends when its signal aborts, without waiting for an event', async (t) => {
  const { store } = await openStore(t);
  await store.append([sampleEvent()]);
  const detach = new AbortController();
  const sub = store.subscribe({ entity_type: 'nobody_appends_this' }, { from_seq: 1, signal: detach.signal });
  const first = await sub.next();
  t.same(first.value, { type: 'caught_up', seq: 1 }, 'caught up, now idle');
  const pending = sub.next();
  setTimeout(() => detach.abort(), 20);
  const ended = await pending;
  t.equal(ended.done, true, 'the pending next() finished');
  // The store keeps no listener for it: appends after the abort reach nobody and close() does not wait.
  await store.append([sampleEvent()]);
  t.equal((await sub.next()).done, true);
});

t.test('acknowledged means durable; reads wait for the index to cover the head', async (t) => {
  const { store } = await openStore(t);
  t.equal(store.indexLag(), 0);
  const acks = await Promise.all(Array.from({ length: 20 }, () => store.append([sampleEvent(), sampleEvent()])));
  t.equal(store.head().seq, 40, 'the head moves with each acknowledgement');
  const last = acks.flat().find((r) => r.seq === 40);
  t.equal((await store.get(last?.id ?? ''))?.seq, 40, 'a read started after the acknowledgement sees the event');
  t.equal((await store.query({}, { order: 'desc', limit: 1 })).items[0]?.seq, 40);
  t.equal(store.indexLag(), 0, 'and by then the index has caught up');
});
