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

t.test('index lag is zero once appends are acknowledged', async (t) => {
  const { store } = await openStore(t);
  t.equal(store.indexLag(), 0);
  await Promise.all(Array.from({ length: 20 }, () => store.append([sampleEvent(), sampleEvent()])));
  t.equal(store.indexLag(), 0, 'every durable event is indexed by the time its append resolves');
  t.equal(store.head().seq, 40);
});
