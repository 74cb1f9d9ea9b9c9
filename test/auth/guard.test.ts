/**
 * The Guard with real keys files, a real Logger (lines captured) and real SpineMetrics:
 * who gets in, the per-key rate and stream limits, reloads, and what a refusal leaves
 * behind (a counted metric and a log line naming the key id, never a secret).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Caller, Guard, hashSecret, newSecret, type GuardOptions } from '../../src/auth';
import { SpineError } from '../../src/errors';
import { Logger, SpineMetrics } from '../../src/observability';

interface Fixture {
  guard: Guard;
  metrics: SpineMetrics;
  /** Log lines written so far. */
  lines: string[];
  secret: Record<string, string>;
  file: string;
}

/** A keys file of `entries` (each gets a fresh secret) and a Guard reading it. */
function setup(t: Test, entries: Record<string, Record<string, unknown>>, options: Partial<GuardOptions> = {}): Fixture {
  const secret: Record<string, string> = {};
  const file = join(t.testdir(), 'keys.json');
  writeKeysFile(file, entries, secret);
  const lines: string[] = [];
  const metrics = new SpineMetrics();
  const guard = new Guard({ mode: 'keys', keysFile: file, rateLimitPerSecond: 0, rateLimitBurst: 0, maxStreamsPerKey: 8, logger: new Logger('debug', (line) => lines.push(line)), metrics, ...options });
  return { guard, metrics, lines, secret, file };
}

function writeKeysFile(file: string, entries: Record<string, Record<string, unknown>>, secret: Record<string, string>): void {
  const keys = Object.entries(entries).map(([id, spec]) => {
    secret[id] ??= newSecret();
    return { id, hash: hashSecret(secret[id] as string), scopes: ['read'], ...spec };
  });
  writeFileSync(file, JSON.stringify({ keys }));
}

/** The error `fn` throws (or undefined). */
function thrown(fn: () => unknown): SpineError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as SpineError;
  }
}

t.test('authenticate: missing, malformed, wrong and valid bearer values', async (t) => {
  const { guard, secret } = setup(t, { reader: {}, writer: { scopes: ['append'] } });
  t.equal(guard.mode, 'keys');
  t.equal(guard.keyCount, 2);
  for (const [what, value] of [
    ['no header', undefined],
    ['an empty header', ''],
    ['another scheme', `Basic ${Buffer.from(`u:${secret.reader as string}`).toString('base64')}`],
    ['the secret without a scheme', secret.reader],
    ['Bearer alone', 'Bearer'],
    ['Bearer and spaces', 'Bearer   '],
    ['two tokens', `Bearer ${secret.reader as string} ${secret.writer as string}`],
    ['a wrong secret', `Bearer ${newSecret()}`],
    ['the hash instead of the secret', `Bearer ${hashSecret(secret.reader as string)}`],
    ['the secret cut short', `Bearer ${(secret.reader as string).slice(0, -1)}`],
  ] as const) {
    t.match(thrown(() => guard.authenticate(value)), { code: 'UNAUTHENTICATED' }, what);
  }
  const reader = guard.authenticate(`Bearer ${secret.reader as string}`);
  t.ok(reader instanceof Caller);
  t.equal(reader.keyId, 'reader');
  t.ok(reader.can('read'));
  t.notOk(reader.can('append'));
  t.equal(guard.authenticate(`bearer ${secret.writer as string}  `).keyId, 'writer', 'the scheme in any case (RFC 7235), trailing blanks ignored');
});

t.test('auth.mode none: everyone is the anonymous caller, never limited', async (t) => {
  const guard = new Guard({ mode: 'none', rateLimitPerSecond: 1, rateLimitBurst: 1, maxStreamsPerKey: 1, logger: new Logger('error', () => undefined), metrics: new SpineMetrics() });
  t.equal(guard.authenticate(undefined), Caller.anonymous);
  t.equal(guard.authenticate('Bearer anything'), Caller.anonymous, 'credentials are ignored');
  for (let i = 0; i < 100; i++) guard.admit(Caller.anonymous);
  const releases = Array.from({ length: 10 }, () => guard.openStream(Caller.anonymous));
  t.equal(releases.length, 10, 'no stream limit');
  t.match(guard.reload(), { keys: 0, removed: [], changed: [], streamsEnded: 0 });
  t.throws(() => new Guard({ mode: 'keys', rateLimitPerSecond: 0, rateLimitBurst: 0, maxStreamsPerKey: 1, logger: new Logger(), metrics: new SpineMetrics() }), { code: 'CONFIG_INVALID', field: 'auth.keysFile' }, 'keys mode needs a keys file');
});

t.test('rate limit: a token bucket per key, RATE_LIMITED with retryAfterMs past it', async (t) => {
  const { guard, secret } = setup(t, { a: {}, b: {} }, { rateLimitPerSecond: 1, rateLimitBurst: 3 });
  const a = guard.authenticate(`Bearer ${secret.a as string}`);
  const b = guard.authenticate(`Bearer ${secret.b as string}`);
  for (let i = 0; i < 3; i++) guard.admit(a);
  const err = thrown(() => guard.admit(a));
  t.match(err, { code: 'RATE_LIMITED', message: /key a is over its rate limit of 1 calls per second/ }, 'the burst of 3 is spent');
  t.ok((err?.retryAfterMs ?? 0) > 0 && (err?.retryAfterMs ?? Infinity) <= 1000, `retryAfterMs ${String(err?.retryAfterMs)}: at most the time of one token at 1/s`);
  guard.admit(b);
  t.pass('another key has its own bucket');
});

t.test('per-key overrides of the rate and of the streams', async (t) => {
  const { guard, secret } = setup(t, { own: { rate_limit_per_second: 2, max_streams: 1 }, plain: {}, free: {} }, { rateLimitPerSecond: 5, rateLimitBurst: 10, maxStreamsPerKey: 3 });
  const own = guard.authenticate(`Bearer ${secret.own as string}`);
  const plain = guard.authenticate(`Bearer ${secret.plain as string}`);
  let ownCalls = 0;
  while (thrown(() => guard.admit(own)) === undefined && ownCalls < 100) ownCalls++;
  t.equal(ownCalls, 2, "a key's own rate: its bucket holds one second of it");
  let plainCalls = 0;
  while (thrown(() => guard.admit(plain)) === undefined && plainCalls < 100) plainCalls++;
  t.equal(plainCalls, 10, 'the others: auth.rateLimitBurst');

  guard.openStream(own);
  t.match(thrown(() => guard.openStream(own)), { code: 'RATE_LIMITED' }, 'max_streams 1');
  for (let i = 0; i < 3; i++) guard.openStream(plain);
  t.match(thrown(() => guard.openStream(plain)), { code: 'RATE_LIMITED' }, 'auth.maxStreamsPerKey 3');

  const unlimited = setup(t, { k: {} }, { rateLimitPerSecond: 0 });
  const k = unlimited.guard.authenticate(`Bearer ${unlimited.secret.k as string}`);
  for (let i = 0; i < 1000; i++) unlimited.guard.admit(k);
  t.pass('rate 0: no limit');
});

t.test('streams: counted per key, released once each', async (t) => {
  const { guard, secret } = setup(t, { s: {}, other: {} }, { maxStreamsPerKey: 2 });
  const s = guard.authenticate(`Bearer ${secret.s as string}`);
  const first = guard.openStream(s);
  const second = guard.openStream(s);
  t.equal(guard.openStreams('s'), 2);
  const err = thrown(() => guard.openStream(s));
  t.match(err, { code: 'RATE_LIMITED', message: /already holds 2 open streams/ });
  t.ok((err?.retryAfterMs ?? 0) > 0, 'with a retry delay');
  guard.openStream(guard.authenticate(`Bearer ${secret.other as string}`));
  t.equal(guard.openStreams('other'), 1, "another key's streams are its own");
  first();
  first();
  t.equal(guard.openStreams('s'), 1, 'a second release of the same stream changes nothing');
  const third = guard.openStream(s);
  t.equal(guard.openStreams('s'), 2, 'a released place is free again');
  second();
  third();
  t.equal(guard.openStreams('s'), 0);
});

t.test('reload: new keys work at once, removed ones stop; a bad file keeps the old keys', async (t) => {
  const { guard, secret, file } = setup(t, { old: {} });
  t.equal(guard.authenticate(`Bearer ${secret.old as string}`).keyId, 'old');
  writeKeysFile(file, { fresh: { scopes: ['admin'] } }, secret);
  t.match(guard.reload(), { keys: 1, removed: ['old'], changed: [], streamsEnded: 0 });
  t.equal(guard.authenticate(`Bearer ${secret.fresh as string}`).keyId, 'fresh');
  t.match(thrown(() => guard.authenticate(`Bearer ${secret.old as string}`)), { code: 'UNAUTHENTICATED' }, 'the removed key is refused');

  writeFileSync(file, JSON.stringify({ keys: [{ id: 'broken', hash: 'sha256:nope', scopes: ['read'] }] }));
  t.throws(() => guard.reload(), { code: 'CONFIG_INVALID', field: 'keys[0].hash' });
  t.equal(guard.authenticate(`Bearer ${secret.fresh as string}`).keyId, 'fresh', 'the keys in force stay');
  t.equal(guard.keyCount, 1);
});

t.test('reload: the streams of removed and changed keys are stopped, once each; the others run on', async (t) => {
  const entries: Record<string, Record<string, unknown>> = {
    gone: {},
    rescoped: { scopes: ['read', 'append'] },
    moved: { organizations: ['acme'] },
    rebound: { scopes: ['append'], actor_id: 'svc-a', actor_type: 'system' },
    throttled: { rate_limit_per_second: 10 },
    narrowed: { max_streams: 4 },
    same: { scopes: ['read', 'append'], organizations: ['acme', 'globex'], actor_id: 'svc-s' },
    sync: {},
  };
  const { guard, secret, file, lines } = setup(t, entries);
  const callers = Object.fromEntries(Object.keys(entries).map((id) => [id, guard.authenticate(`Bearer ${secret[id] as string}`)]));
  const stopped: Record<string, SpineError[]> = {};
  const releases: Record<string, () => void> = {};
  for (const id of Object.keys(entries).filter((id) => id !== 'sync')) {
    releases[id] = guard.openStream(callers[id] as Caller, (why) => (stopped[id] ??= []).push(why));
  }
  // A stream that ends at once when stopped (an AppendStream with nothing in flight) releases inside the reload.
  releases.sync = guard.openStream(callers.sync as Caller, () => releases.sync?.());
  t.equal(guard.openStreams('sync'), 1);
  // A stream that gives no stop cannot be ended; it runs until it ends on its own.
  const unstoppable = guard.openStream(callers.gone as Caller);

  writeKeysFile(
    file,
    {
      rescoped: { scopes: ['read'] },
      moved: { organizations: ['globex'] },
      rebound: { scopes: ['append'], actor_id: 'svc-b', actor_type: 'system' },
      throttled: { rate_limit_per_second: 20 },
      narrowed: { max_streams: 2 },
      // The same rights in another order: unchanged.
      same: { organizations: ['globex', 'acme'], actor_id: 'svc-s', scopes: ['append', 'read'] },
      fresh: {},
    },
    secret,
  );
  const outcome = guard.reload();
  t.same(outcome.removed.sort(), ['gone', 'sync']);
  t.same(outcome.changed.sort(), ['moved', 'narrowed', 'rebound', 'rescoped', 'throttled']);
  t.equal(outcome.keys, 7);
  t.equal(outcome.streamsEnded, 7, 'one stream of each removed or changed key that has a stop');

  t.same(Object.keys(stopped).sort(), ['gone', 'moved', 'narrowed', 'rebound', 'rescoped', 'throttled'], "the unchanged key's stream is not stopped");
  for (const [id, whys] of Object.entries(stopped)) {
    t.equal(whys.length, 1, `${id}: stopped once`);
    t.match(whys[0], { code: 'UNAUTHENTICATED', message: id === 'gone' ? /key gone was revoked/ : new RegExp(`key ${id} was changed`) }, `${id}: why`);
  }
  t.equal(guard.openStreams('sync'), 0, 'the streams that ended inside the reload released their slots');

  // Slots stay counted until each stream has ended and released, exactly once.
  t.equal(guard.openStreams('gone'), 2, 'the stopped stream and the one without a stop still hold their slots');
  releases.gone?.();
  releases.gone?.();
  t.equal(guard.openStreams('gone'), 1, 'released once, however often called');
  unstoppable();
  t.equal(guard.openStreams('gone'), 0);
  t.equal(guard.openStreams('rescoped'), 1);

  const again = guard.reload();
  t.equal(again.streamsEnded, 0, 'a stream told to stop is not told again while it winds down');
  t.same(again.changed, [], 'nothing changed since');
  t.equal(Object.values(stopped).flat().length, 6);

  for (const id of Object.keys(stopped)) releases[id]?.();
  for (const id of Object.keys(stopped)) t.equal(guard.openStreams(id), 0, `${id}: every slot given back`);
  t.equal(guard.openStreams('same'), 1, "the unchanged key's stream runs on");

  // A caller authenticated before the reload may not open a stream with the rights it had.
  t.match(thrown(() => guard.openStream(callers.gone as Caller)), { code: 'UNAUTHENTICATED', message: /revoked/ });
  t.match(thrown(() => guard.openStream(callers.rescoped as Caller)), { code: 'UNAUTHENTICATED', message: /changed/ });
  t.doesNotThrow(() => guard.openStream(callers.same as Caller)(), 'an unchanged key keeps working, also through an earlier Caller');
  const rescoped = guard.authenticate(`Bearer ${secret.rescoped as string}`);
  t.notOk(rescoped.can('append'), 'authenticated again, the changed key has its new rights');
  t.doesNotThrow(() => guard.openStream(rescoped)());

  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === 'keys reloaded');
  t.equal(logged.length, 2, 'one line per reload');
  t.match(logged[0], { level: 'info', keys: 7, streamsEnded: 7, removed: ['gone', 'sync'] });
  const text = lines.join('');
  for (const id of Object.keys(secret)) {
    t.notMatch(text, secret[id] as string, `no secret of ${id} in the log`);
    t.notMatch(text, hashSecret(secret[id] as string).slice(7), `nor its hash`);
  }
});

t.test('reload: a stop that throws is logged; the other streams are still stopped', async (t) => {
  const { guard, secret, file, lines } = setup(t, { a: {}, b: {} });
  const a = guard.authenticate(`Bearer ${secret.a as string}`);
  const b = guard.authenticate(`Bearer ${secret.b as string}`);
  guard.openStream(a, () => {
    throw new Error('a broken stop');
  });
  let bStopped = 0;
  guard.openStream(b, () => bStopped++);
  writeFileSync(file, JSON.stringify({ keys: [] }));
  t.match(guard.reload(), { keys: 0, streamsEnded: 2 });
  t.equal(bStopped, 1);
  t.ok(lines.some((l) => /"level":"error".*did not stop cleanly.*"key":"a"/.test(l)));
});

t.test('noteFailure: counted in eventspine_auth_denials_total and logged by key id, never with a secret', async (t) => {
  const { guard, metrics, lines, secret } = setup(t, { limited: { rate_limit_per_second: 1 } });
  const site = { surface: 'grpc' as const, call: 'Append' };
  const wrong = newSecret();

  const unauthenticated = thrown(() => guard.authenticate(`Bearer ${wrong}`));
  guard.noteFailure(unauthenticated, undefined, site);
  t.equal(metrics.authDenials.get({ surface: 'grpc', code: 'UNAUTHENTICATED', key: 'none' }), 1);

  const limited = guard.authenticate(`Bearer ${secret.limited as string}`);
  guard.admit(limited);
  for (let i = 0; i < 5; i++) guard.noteFailure(thrown(() => guard.admit(limited)), limited, { surface: 'http', call: 'GET /api/events' });
  t.equal(metrics.authDenials.get({ surface: 'http', code: 'RATE_LIMITED', key: 'limited' }), 5, 'every refusal counted');
  guard.noteFailure(new SpineError('PERMISSION_DENIED', 'appending events needs the "append" scope'), limited, site);
  t.equal(metrics.authDenials.get({ surface: 'grpc', code: 'PERMISSION_DENIED', key: 'limited' }), 1);

  guard.noteFailure(new SpineError('INVALID_EVENT_TYPE', 'not a denial'), limited, site);
  guard.noteFailure(new Error('not a SpineError'), limited, site);
  t.match(metrics.render(), /eventspine_auth_denials_total\{surface="grpc",code="UNAUTHENTICATED",key="none"\} 1\n/);
  t.notMatch(metrics.render(), /INVALID_EVENT_TYPE",key=/, 'other errors are not the guard’s');

  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(records.every((r) => r.level === 'warn' && r.msg === 'call refused'));
  t.match(records[0], { surface: 'grpc', call: 'Append', key: 'none', code: 'UNAUTHENTICATED' });
  const rateLines = records.filter((r) => r.code === 'RATE_LIMITED');
  t.ok(rateLines.length >= 1 && rateLines.length < 5, `a caller retrying in a loop is logged at most once a second (${rateLines.length} of 5)`);
  t.match(records.at(-1), { key: 'limited', code: 'PERMISSION_DENIED' });
  const text = lines.join('');
  t.notMatch(text, wrong, 'the presented secret is never logged');
  t.notMatch(text, secret.limited as string, "nor a key's secret");
  t.notMatch(text, hashSecret(secret.limited as string).slice(7), 'nor its hash');
});
