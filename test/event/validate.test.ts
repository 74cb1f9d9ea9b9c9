import t from 'tap';
import { payloadHash } from '../../src/event/hash';
import type { ValidEvent } from '../../src/event/types';
import { validateBatch, validateEvent, type EnvelopeOptions } from '../../src/event/validate';

const options: EnvelopeOptions = {
  defaultOrganizationId: 'org-default',
  defaultEnvironment: 'dev',
  maxPayloadBytes: 1024,
  maxBatchEvents: 3,
};

const minimal = { event_type: 'hcm.employee.created', entity_id: 'e-1', actor_id: 'u-1' };

function ev(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...minimal, ...overrides };
}

t.test('a minimal event gets every default', async (t) => {
  const v = validateEvent(minimal, options);
  const expected: ValidEvent = {
    id: undefined,
    event_type: 'hcm.employee.created',
    domain: 'hcm',
    entity_type: 'employee',
    action: 'created',
    entity_id: 'e-1',
    entity_name: undefined,
    actor_id: 'u-1',
    actor_type: 'human',
    organization_id: 'org-default',
    environment: 'dev',
    severity: 'low',
    payloadJson: '{}',
    payload_hash: payloadHash('{}'),
  };
  t.strictSame(v, expected);
});

t.test('a full event keeps what it was given', async (t) => {
  const v = validateEvent(
    {
      id: 'F47AC10B-58CC-4372-A567-0E02B2C3D479',
      event_type: 'finance.invoice.approved',
      domain: 'finance',
      entity_type: 'invoice',
      action: 'approved',
      entity_id: 'inv-42',
      entity_name: 'Invoice № 42 — Müller 😀',
      actor_id: 'pipeline-7',
      actor_type: 'pipeline',
      organization_id: 'acme',
      environment: 'prod',
      severity: 'critical',
      payload: { b: 1, a: [true, null, 'x'] },
    },
    options,
  );
  t.equal(v.id, 'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'id stored in lowercase canonical form');
  t.equal(v.entity_name, 'Invoice № 42 — Müller 😀');
  t.equal(v.actor_type, 'pipeline');
  t.equal(v.organization_id, 'acme');
  t.equal(v.environment, 'prod');
  t.equal(v.severity, 'critical');
  t.equal(v.payloadJson, '{"a":[true,null,"x"],"b":1}');
  t.equal(v.payload_hash, payloadHash(v.payloadJson));
});

t.test('null for an optional field means absent', async (t) => {
  const v = validateEvent(
    ev({
      id: null,
      domain: null,
      entity_type: null,
      action: null,
      entity_name: null,
      actor_type: null,
      organization_id: null,
      environment: null,
      severity: null,
      payload: null,
    }),
    options,
  );
  t.equal(v.id, undefined);
  t.equal(v.entity_name, undefined);
  t.equal(v.actor_type, 'human');
  t.equal(v.organization_id, 'org-default');
  t.equal(v.environment, 'dev');
  t.equal(v.severity, 'low');
  t.equal(v.payloadJson, '{}');
  t.doesNotThrow(() => validateEvent(ev({ id: undefined, payload: undefined }), options), 'so does undefined');
});

t.test('INVALID_REQUEST: not a plain object', async (t) => {
  for (const bad of [null, undefined, 'x', 1, [], [minimal], new Date()]) {
    t.throws(() => validateEvent(bad, options), { code: 'INVALID_REQUEST' }, String(bad));
  }
  t.throws(() => validateEvent('x', options, 'events[2].'), { code: 'INVALID_REQUEST', field: 'events[2]' });
});

t.test('UNKNOWN_FIELD', async (t) => {
  t.throws(() => validateEvent(ev({ colour: 'red' }), options), { code: 'UNKNOWN_FIELD', field: 'colour' });
  t.throws(() => validateEvent(ev({ Event_Type: 'x' }), options), { code: 'UNKNOWN_FIELD', field: 'Event_Type' });
  t.throws(() => validateEvent(JSON.parse('{"__proto__":{},"event_type":"a.b.c","entity_id":"e","actor_id":"u"}'), options), {
    code: 'UNKNOWN_FIELD',
    field: '__proto__',
  });
  for (const serverField of ['seq', 'timestamp', 'payload_hash', 'previous_hash', 'event_hash']) {
    const err = t.throws(() => validateEvent(ev({ [serverField]: 'x' }), options), {
      code: 'UNKNOWN_FIELD',
      field: serverField,
    }) as Error;
    t.match(err.message, /set by the server/, `${serverField}: the message says why`);
  }
  t.throws(() => validateEvent(ev({ extra: undefined, more: 1 }), options), { code: 'UNKNOWN_FIELD', field: 'extra' });
});

t.test('MISSING_FIELD', async (t) => {
  for (const field of ['event_type', 'entity_id', 'actor_id']) {
    const without = ev();
    delete without[field];
    t.throws(() => validateEvent(without, options), { code: 'MISSING_FIELD', field }, `${field} absent`);
    t.throws(() => validateEvent(ev({ [field]: '' }), options), { code: 'MISSING_FIELD', field }, `${field} empty`);
    t.throws(() => validateEvent(ev({ [field]: null }), options), { code: 'MISSING_FIELD', field }, `${field} null`);
  }
});

t.test('INVALID_FIELD_TYPE', async (t) => {
  const stringFields = [
    'id',
    'event_type',
    'domain',
    'entity_type',
    'action',
    'entity_id',
    'entity_name',
    'actor_id',
    'actor_type',
    'organization_id',
    'environment',
    'severity',
  ];
  for (const field of stringFields) {
    for (const bad of [42, true, {}, ['x']]) {
      t.throws(() => validateEvent(ev({ [field]: bad }), options), { code: 'INVALID_FIELD_TYPE', field }, `${field}: ${JSON.stringify(bad)}`);
    }
  }
});

t.test('INVALID_EVENT_TYPE', async (t) => {
  const bad = [
    'hcm.employee',
    'hcm.employee.created.extra',
    'hcm..created',
    '.employee.created',
    'hcm.employee.',
    'Hcm.employee.created',
    'hcm.Employee.created',
    '1hcm.employee.created',
    '_hcm.employee.created',
    'hcm.employee-x.created',
    'hcm.employee.created ',
    'hcm employee created',
    'hcm.employee.créé',
    `${'a'.repeat(64)}.employee.created`,
    `hcm.${'a'.repeat(64)}.created`,
    `hcm.employee.${'a'.repeat(64)}`,
    'hcm.employee.created\n',
  ];
  for (const eventType of bad) {
    t.throws(() => validateEvent(ev({ event_type: eventType }), options), { code: 'INVALID_EVENT_TYPE', field: 'event_type' }, JSON.stringify(eventType));
  }
  const good = ['a.b.c', 'hcm.employee_2.created_v2', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}`, 'x9.y_.z0'];
  for (const eventType of good) {
    const v = validateEvent(ev({ event_type: eventType }), options);
    t.equal(`${v.domain}.${v.entity_type}.${v.action}`, eventType, eventType);
  }
});

t.test('EVENT_TYPE_MISMATCH', async (t) => {
  t.doesNotThrow(() => validateEvent(ev({ domain: 'hcm', entity_type: 'employee', action: 'created' }), options));
  t.throws(() => validateEvent(ev({ domain: 'finance' }), options), { code: 'EVENT_TYPE_MISMATCH', field: 'domain' });
  t.throws(() => validateEvent(ev({ entity_type: 'payroll' }), options), { code: 'EVENT_TYPE_MISMATCH', field: 'entity_type' });
  t.throws(() => validateEvent(ev({ action: 'deleted' }), options), { code: 'EVENT_TYPE_MISMATCH', field: 'action' });
  t.throws(() => validateEvent(ev({ action: 'Created' }), options), { code: 'EVENT_TYPE_MISMATCH', field: 'action' });
  t.throws(() => validateEvent(ev({ domain: '' }), options), { code: 'EVENT_TYPE_MISMATCH', field: 'domain' });
});

t.test('INVALID_ID', async (t) => {
  for (const bad of ['', 'abc', 'f47ac10b58cc4372a5670e02b2c3d479', '{f47ac10b-58cc-4372-a567-0e02b2c3d479}']) {
    t.throws(() => validateEvent(ev({ id: bad }), options), { code: 'INVALID_ID', field: 'id' }, JSON.stringify(bad));
  }
});

t.test('INVALID_TEXT: length, control characters, lone surrogates', async (t) => {
  for (const field of ['entity_id', 'actor_id', 'organization_id']) {
    t.doesNotThrow(() => validateEvent(ev({ [field]: 'x'.repeat(256) }), options), `${field}: 256 chars`);
    t.doesNotThrow(() => validateEvent(ev({ [field]: '😀'.repeat(256) }), options), `${field}: 256 astral chars`);
    t.throws(() => validateEvent(ev({ [field]: 'x'.repeat(257) }), options), { code: 'INVALID_TEXT', field }, `${field}: 257`);
    t.throws(() => validateEvent(ev({ [field]: '😀'.repeat(257) }), options), { code: 'INVALID_TEXT', field }, `${field}: 257 astral`);
  }
  t.throws(() => validateEvent(ev({ organization_id: '' }), options), { code: 'INVALID_TEXT', field: 'organization_id' });
  t.doesNotThrow(() => validateEvent(ev({ entity_name: 'n'.repeat(1024) }), options), 'entity_name: 1024 chars');
  t.throws(() => validateEvent(ev({ entity_name: 'n'.repeat(1025) }), options), { code: 'INVALID_TEXT', field: 'entity_name' });
  for (const field of ['entity_id', 'entity_name', 'actor_id', 'organization_id']) {
    for (const bad of ['a\u0000b', 'tab\there', 'new\nline', 'del\u007f', 'c1\u0085', 'c1\u009f', 'lone\ud800', '\udc00x', 'swap\udc00\ud800']) {
      t.throws(() => validateEvent(ev({ [field]: bad }), options), { code: 'INVALID_TEXT', field }, `${field}: ${JSON.stringify(bad)}`);
    }
    t.doesNotThrow(() => validateEvent(ev({ [field]: 'ok \u00a0 é € 😀' }), options), `${field}: printable unicode`);
  }
});

t.test('INVALID_ENUM', async (t) => {
  const cases: [string, string[]][] = [
    ['actor_type', ['human', 'system', 'pipeline']],
    ['environment', ['dev', 'test', 'stage', 'prod']],
    ['severity', ['low', 'medium', 'high', 'critical']],
  ];
  for (const [field, allowed] of cases) {
    for (const value of allowed) t.equal(validateEvent(ev({ [field]: value }), options)[field as 'severity'], value);
    for (const bad of ['', 'Human', 'PROD', 'urgent', 'low ']) {
      const err = t.throws(() => validateEvent(ev({ [field]: bad }), options), { code: 'INVALID_ENUM', field }, `${field}: ${bad}`) as Error;
      t.match(err.message, allowed.join(', '), 'the message lists the allowed values');
    }
  }
});

t.test('payload rules', async (t) => {
  t.throws(() => validateEvent(ev({ payload: [1] }), options), { code: 'INVALID_PAYLOAD', field: 'payload' });
  t.throws(() => validateEvent(ev({ payload: 'text' }), options), { code: 'INVALID_PAYLOAD', field: 'payload' });
  t.throws(() => validateEvent(ev({ payload: { items: [0, 1, { amount: 2 ** 60 }] } }), options), {
    code: 'UNSAFE_NUMBER',
    field: 'payload.items[2].amount',
  });
  t.throws(() => validateEvent(ev({ payload: { note: 'x\udfff' } }), options), { code: 'INVALID_TEXT', field: 'payload.note' });
  t.equal(validateEvent(ev({ payload: { z: -0, a: 1.50 } }), options).payloadJson, '{"a":1.5,"z":0}');

  // The limit is on the UTF-8 bytes of the canonical text: {"s":"…"} is 8 bytes + the string.
  const limit = options.maxPayloadBytes;
  t.doesNotThrow(() => validateEvent(ev({ payload: { s: 'x'.repeat(limit - 8) } }), options), 'exactly at the limit');
  const err = t.throws(() => validateEvent(ev({ payload: { s: 'x'.repeat(limit - 7) } }), options), {
    code: 'PAYLOAD_TOO_LARGE',
    field: 'payload',
  }) as Error;
  t.match(err.message, String(limit), 'the message names the limit');
  t.throws(() => validateEvent(ev({ payload: { s: '€'.repeat(Math.ceil(limit / 3)) } }), options), {
    code: 'PAYLOAD_TOO_LARGE',
  }, 'multi-byte characters count as their UTF-8 bytes');
  t.doesNotThrow(() => validateEvent(ev({ payload: { s: '€'.repeat(Math.floor((limit - 8) / 3)) } }), options));
});

t.test('validateBatch', async (t) => {
  t.throws(() => validateBatch({ events: [] }, options), { code: 'INVALID_REQUEST', field: 'events' });
  t.throws(() => validateBatch(undefined, options), { code: 'INVALID_REQUEST', field: 'events' });
  t.throws(() => validateBatch([], options), { code: 'EMPTY_BATCH', field: 'events' });
  const err = t.throws(() => validateBatch([minimal, minimal, minimal, minimal], options), {
    code: 'BATCH_TOO_LARGE',
    field: 'events',
  }) as Error;
  t.match(err.message, '3', 'the message names the limit');

  const ok = validateBatch([minimal, ev({ severity: 'high' })], options);
  t.equal(ok.length, 2);
  t.equal(ok[1]?.severity, 'high');

  t.throws(() => validateBatch([minimal, ev({ severity: 'urgent' })], options), { code: 'INVALID_ENUM', field: 'events[1].severity' });
  t.throws(() => validateBatch([minimal, minimal, 'x'], options), { code: 'INVALID_REQUEST', field: 'events[2]' });
  t.throws(() => validateBatch([ev({ seq: 1 })], options), { code: 'UNKNOWN_FIELD', field: 'events[0].seq' });
  t.throws(() => validateBatch([minimal, ev({ payload: { a: { b: [NaN] } } })], options), {
    code: 'UNSAFE_NUMBER',
    field: 'events[1].payload.a.b[0]',
  });
  t.throws(() => validateBatch([minimal, ev({ event_type: undefined })], options), { code: 'MISSING_FIELD', field: 'events[1].event_type' });
  t.throws(() => validateBatch([ev({ payload: { s: 'x'.repeat(2000) } })], options), {
    code: 'PAYLOAD_TOO_LARGE',
    field: 'events[0].payload',
  });
});
