import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { canonicalize } from '../../src/event/canonical';
import {
  eventHash,
  payloadHash,
  recordCanonical,
  RECORD_FIELDS,
  sha256Hex,
  verifyEventHashes,
  type HashedFields,
} from '../../src/event/hash';
import { ACTOR_TYPES, ENVIRONMENTS, GENESIS_HASH, SEVERITIES, type JsonObject, type StoredEvent } from '../../src/event/types';

/** The record of DESIGN §1.1 as a generic object: every field but event_hash and payload. */
function genericRecord(ev: HashedFields): JsonObject {
  const record: JsonObject = {};
  for (const [key, value] of Object.entries(ev)) {
    if (key === 'payloadJson' || key === 'event_hash' || value === undefined) continue;
    record[key] = value as string | number;
  }
  return record;
}

function sampleEvent(overrides: Partial<StoredEvent> = {}): StoredEvent {
  const payloadJson = '{"amount":12.5,"currency":"EUR"}';
  const ev: StoredEvent = {
    seq: 7,
    id: '01890a5d-ac96-774b-bcce-b302099a8057',
    event_type: 'finance.invoice.approved',
    domain: 'finance',
    entity_type: 'invoice',
    action: 'approved',
    entity_id: 'inv-2024-0042',
    entity_name: 'Invoice 42',
    actor_id: 'user-17',
    actor_type: 'human',
    organization_id: 'acme',
    environment: 'prod',
    timestamp: '2024-06-01T12:00:00.000Z',
    severity: 'medium',
    payloadJson,
    payload_hash: payloadHash(payloadJson),
    previous_hash: GENESIS_HASH,
    event_hash: '',
    ...overrides,
  };
  if (overrides.event_hash === undefined) ev.event_hash = eventHash(ev);
  return ev;
}

t.test('sha256Hex and payloadHash', async (t) => {
  t.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'FIPS 180-2 vector');
  t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const utf8Euro = createHash('sha256').update(Buffer.from([0xe2, 0x82, 0xac])).digest('hex');
  t.equal(sha256Hex('€'), utf8Euro, 'the text is hashed as UTF-8');
  t.equal(payloadHash('{}'), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
});

t.test('RECORD_FIELDS is in JCS order', async (t) => {
  t.same([...RECORD_FIELDS], [...RECORD_FIELDS].sort());
  t.equal(RECORD_FIELDS.length, 16);
});

t.test('recordCanonical: the fixed layout', async (t) => {
  const ev = sampleEvent();
  t.equal(
    recordCanonical(ev),
    '{"action":"approved","actor_id":"user-17","actor_type":"human","domain":"finance",' +
      '"entity_id":"inv-2024-0042","entity_name":"Invoice 42","entity_type":"invoice","environment":"prod",' +
      '"event_type":"finance.invoice.approved","id":"01890a5d-ac96-774b-bcce-b302099a8057",' +
      '"organization_id":"acme","payload_hash":"' + ev.payload_hash + '",' +
      '"previous_hash":"0000000000000000000000000000000000000000000000000000000000000000",' +
      '"seq":7,"severity":"medium","timestamp":"2024-06-01T12:00:00.000Z"}',
  );
  const { entity_name: _omitted, ...withoutName } = ev;
  t.notMatch(recordCanonical(withoutName), /entity_name/, 'an absent optional field is left out, not null');
  t.equal(recordCanonical(withoutName), canonicalize(genericRecord(withoutName)));
  t.equal(eventHash(ev), sha256Hex(recordCanonical(ev)));
  t.throws(() => recordCanonical({ ...ev, seq: 0 }), TypeError);
  t.throws(() => recordCanonical({ ...ev, seq: 1.5 }), TypeError);
});

const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const storedEvent: fc.Arbitrary<HashedFields> = fc.record(
  {
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    id: fc.uuid(),
    event_type: text,
    domain: text,
    entity_type: text,
    action: text,
    entity_id: text,
    entity_name: text,
    actor_id: text,
    actor_type: fc.constantFrom(...ACTOR_TYPES),
    organization_id: text,
    environment: fc.constantFrom(...ENVIRONMENTS),
    timestamp: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    severity: fc.constantFrom(...SEVERITIES),
    payload_hash: hex64,
    previous_hash: hex64,
  },
  { requiredKeys: ['seq', 'id', 'event_type', 'domain', 'entity_type', 'action', 'entity_id', 'actor_id', 'actor_type', 'organization_id', 'environment', 'timestamp', 'severity', 'payload_hash', 'previous_hash'] },
);

t.test('property: recordCanonical equals canonicalize of the generic record', async (t) => {
  fc.assert(
    fc.property(storedEvent, (ev) => recordCanonical(ev) === canonicalize(genericRecord(ev))),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});

t.test('verifyEventHashes', async (t) => {
  const ev = sampleEvent();
  t.equal(verifyEventHashes(ev), undefined, 'an intact event verifies');
  t.match(verifyEventHashes({ ...ev, payloadJson: '{"amount":13.5,"currency":"EUR"}' }), /payload_hash/);
  t.match(verifyEventHashes({ ...ev, actor_id: 'user-18' }), /event_hash/);
  t.match(verifyEventHashes({ ...ev, seq: 8 }), /event_hash/);
  t.match(verifyEventHashes({ ...ev, previous_hash: 'f'.repeat(64) }), /event_hash/);
  t.match(verifyEventHashes({ ...ev, event_hash: '0'.repeat(64) }), /event_hash/);
  t.match(verifyEventHashes({ ...ev, seq: -1 }), /cannot be canonicalised/);
  const { entity_name: _n, ...withoutName } = ev;
  t.match(verifyEventHashes(withoutName), /event_hash/, 'dropping an optional field breaks the hash');
});
