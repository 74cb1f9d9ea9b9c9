/**
 * The Caller: the one policy object both API surfaces ask (scopes, organizations, actors,
 * the reserved `ops` domain). End-to-end refusals are tested per surface in test/api; here
 * each rule on its own, with real validated events.
 */
import t from 'tap';
import { Caller, parseKeys, type ApiKey } from '../../src/auth';
import { validateBatch, type EnvelopeOptions } from '../../src/event';

const ENVELOPE: EnvelopeOptions = { defaultOrganizationId: 'default', defaultEnvironment: 'prod', maxPayloadBytes: 65536, maxBatchEvents: 100 };
const HASH = 'sha256:' + '0'.repeat(64);

function key(over: Record<string, unknown>): ApiKey {
  return parseKeys(JSON.stringify({ keys: [{ id: 'k', hash: HASH, scopes: ['append', 'read'], ...over }] }), 'keys.json')[0] as ApiKey;
}

function input(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { event_type: 'hcm.employee.updated', entity_id: 'e-1', actor_id: 'svc-acme', organization_id: 'acme', payload: {}, ...over };
}

function check(caller: Caller, inputs: Record<string, unknown>[]): void {
  caller.checkAppend(validateBatch(caller.bindInputs(inputs), ENVELOPE));
}

t.test('the anonymous caller of auth.mode none', async (t) => {
  const c = Caller.anonymous;
  t.equal(c.keyId, 'none');
  for (const scope of ['append', 'read', 'admin'] as const) t.ok(c.can(scope));
  t.ok(c.sees('anything'));
  t.same(c.restrict({ domain: 'hcm' }), { domain: 'hcm' }, 'filters are left as they are');
  t.doesNotThrow(() => check(c, [input()]));
  t.throws(() => check(c, [input({ event_type: 'ops.operation.started' })]), { code: 'PERMISSION_DENIED', field: 'events[0].event_type' }, 'the ops domain is the daemon’s alone');
});

t.test('scopes', async (t) => {
  const reader = new Caller(key({ scopes: ['read'] }));
  t.ok(reader.can('read'));
  t.notOk(reader.can('append'));
  t.throws(() => reader.require('admin', 'Verify'), { code: 'PERMISSION_DENIED' });
  t.throws(() => check(reader, [input()]), { code: 'PERMISSION_DENIED' }, 'appending needs the append scope');
  t.doesNotThrow(() => new Caller(key({ scopes: ['admin'] })).require('admin', 'Verify'));
});

t.test('organizations', async (t) => {
  const acme = new Caller(key({ organizations: ['acme'] }));
  t.ok(acme.sees('acme'));
  t.notOk(acme.sees('globex'));
  t.same(acme.restrict({ domain: 'hcm' }), { domain: 'hcm', organizations: ['acme'] }, 'queries are narrowed');
  t.same(acme.restrict({ organization_id: 'acme' }), { organization_id: 'acme', organizations: ['acme'] });
  t.throws(() => acme.restrict({ organization_id: 'globex' }), { code: 'PERMISSION_DENIED', field: 'organization_id' }, 'naming another organization is refused');
  t.throws(() => acme.requireAllOrganizations('/metrics'), { code: 'PERMISSION_DENIED' });

  t.doesNotThrow(() => check(acme, [input({ organization_id: undefined })]), 'a single organization is filled in');
  t.same(acme.bindInputs([input({ organization_id: undefined })])[0]?.organization_id, 'acme');
  t.throws(() => check(acme, [input(), input({ organization_id: 'globex' })]), { code: 'PERMISSION_DENIED', field: 'events[1].organization_id' });

  const two = new Caller(key({ organizations: ['acme', 'initech'] }));
  t.throws(() => check(two, [input({ organization_id: undefined })]), { code: 'PERMISSION_DENIED', field: 'events[0].organization_id' }, 'with two, nothing is guessed: the default organization is not theirs');
  t.doesNotThrow(() => check(two, [input({ organization_id: 'initech' })]));
});

t.test('actor binding', async (t) => {
  const bound = new Caller(key({ actor_id: 'svc-acme', actor_type: 'system' }));
  const filled = bound.bindInputs([input({ actor_id: undefined })])[0] as Record<string, unknown>;
  t.equal(filled.actor_id, 'svc-acme', 'the bound actor is filled in');
  t.equal(filled.actor_type, 'system');
  t.doesNotThrow(() => check(bound, [input({ actor_id: undefined })]));
  t.doesNotThrow(() => check(bound, [input({ actor_type: 'system' })]), 'naming the bound actor is fine');
  t.throws(() => check(bound, [input({ actor_id: 'someone-else' })]), { code: 'PERMISSION_DENIED', field: 'events[0].actor_id' }, 'a spoofed actor is refused');
  t.throws(() => check(bound, [input({ actor_type: 'human' })]), { code: 'PERMISSION_DENIED', field: 'events[0].actor_type' });
  const original = input({ actor_id: undefined });
  bound.bindInputs([original]);
  t.equal(original.actor_id, undefined, "the caller's inputs are not modified");
  t.same(bound.bindInputs([null, 'x'] as unknown[]), [null, 'x'], 'what is not an object is left for validation to refuse');
});
