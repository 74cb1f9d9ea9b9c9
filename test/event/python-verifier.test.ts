/**
 * scripts/verify_chain.py is the auditor's independent checker: an export made with this
 * package's hash code must verify with it, and a tampered one must not.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eventHash, type HashedFields } from '../../src/event/hash';
import { GENESIS_HASH, type StoredEvent } from '../../src/event/types';
import { uuidv7 } from '../../src/event/uuid';
import { validateEvent, type EnvelopeOptions } from '../../src/event/validate';

const SCRIPT = resolve(__dirname, '../../scripts/verify_chain.py');
const options: EnvelopeOptions = {
  defaultOrganizationId: 'acme',
  defaultEnvironment: 'prod',
  maxPayloadBytes: 1 << 20,
  maxBatchEvents: 100,
};

/** Stored events chained from seq 1, as the sequencer would make them. */
function chain(inputs: Record<string, unknown>[]): StoredEvent[] {
  const out: StoredEvent[] = [];
  let previous = GENESIS_HASH;
  const start = Date.parse('2025-01-01T00:00:00.000Z');
  inputs.forEach((input, i) => {
    const v = validateEvent(input, options);
    const ev: StoredEvent = {
      seq: i + 1,
      id: v.id ?? uuidv7(),
      event_type: v.event_type,
      domain: v.domain,
      entity_type: v.entity_type,
      action: v.action,
      entity_id: v.entity_id,
      ...(v.entity_name === undefined ? {} : { entity_name: v.entity_name }),
      actor_id: v.actor_id,
      actor_type: v.actor_type,
      organization_id: v.organization_id,
      environment: v.environment,
      timestamp: new Date(start + i * 1500).toISOString(),
      severity: v.severity,
      payloadJson: v.payloadJson,
      payload_hash: v.payload_hash,
      previous_hash: previous,
      event_hash: '',
    };
    ev.event_hash = eventHash(ev);
    previous = ev.event_hash;
    out.push(ev);
  });
  return out;
}

/** One export line: every stored field, payload as a JSON object. */
function exportLine(ev: StoredEvent): Record<string, unknown> {
  const { payloadJson, ...rest } = ev;
  return { ...rest, payload: JSON.parse(payloadJson) as unknown };
}

function writeExport(dir: string, lines: Record<string, unknown>[], name = 'export.jsonl'): string {
  const file = join(dir, name);
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return file;
}

function verify(file: string, input?: string) {
  const args = input === undefined ? [SCRIPT, file] : [SCRIPT];
  const r = spawnSync('python3', args, { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const FIVE_EVENTS: Record<string, unknown>[] = [
  {
    event_type: 'hcm.employee.created',
    entity_id: 'emp-1',
    entity_name: 'Zoë Ångström',
    actor_id: 'user-1',
    payload: { name: 'Zoë Ångström', department: 'R&D', fte: 0.8, salary: { amount: 5250.5, currency: 'EUR' } },
  },
  {
    event_type: 'hcm.employee.updated',
    entity_id: 'emp-1',
    actor_id: 'sync-job',
    actor_type: 'system',
    severity: 'medium',
    payload: {
      changes: [{ field: 'fte', old: 0.8, new: 1 }, [[1, 2, [3, [4.25e-7]]], []]],
      note: 'quote " backslash \\ newline \n tab \t control \u0001 del \u007f',
    },
  },
  {
    id: 'F47AC10B-58CC-4372-A567-0E02B2C3D479',
    event_type: 'finance.invoice.approved',
    entity_id: 'inv-42',
    actor_id: 'user-2',
    environment: 'stage',
    payload: { '€': 1, '\r': 2, 'דּ': 3, '1': 4, '😀': 5, '\u0080': 6, ö: 7, amounts: [0.1, 0.2, 0.30000000000000004, 1e-7, 123456789.123, -0, 9007199254740991] },
  },
  {
    event_type: 'platform.permission.revoked',
    entity_id: 'perm-9',
    entity_name: '管理者権限',
    actor_id: 'user-3',
    severity: 'critical',
    payload: { reason: 'leaver', 'κλειδί': { nested: { deeper: [true, false, null] } }, ratio: 1 / 3 },
  },
  {
    event_type: 'ops.batch.done',
    entity_id: 'op-1',
    actor_id: 'pipeline-1',
    actor_type: 'pipeline',
    payload: {},
  },
];

t.test('an intact export verifies; a tampered payload is named by seq', async (t) => {
  const dir = t.testdir();
  const lines = chain(FIVE_EVENTS).map(exportLine);
  const file = writeExport(dir, lines);
  const ok = verify(file);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /OK: 5 events, seq 1\.\.5/);

  const fromStdin = verify('-', readFileSync(file, 'utf8'));
  t.equal(fromStdin.status, 0, 'reads standard input too');

  const tampered = structuredClone(lines);
  ((tampered[2] as { payload: { amounts: number[] } }).payload.amounts)[0] = 0.11;
  const bad = verify(writeExport(dir, tampered, 'tampered.jsonl'));
  t.equal(bad.status, 1);
  t.match(bad.stderr, /seq 3\b/, 'the first bad seq is named');
  t.match(bad.stderr, /payload_hash/, 'and why');
});

t.test('other breaks are found too', async (t) => {
  const dir = t.testdir();
  const lines = chain(FIVE_EVENTS).map(exportLine);

  const field = structuredClone(lines);
  (field[1] as { actor_id: string }).actor_id = 'someone-else';
  const r1 = verify(writeExport(dir, field, 'field.jsonl'));
  t.equal(r1.status, 1);
  t.match(r1.stderr, /seq 2\b.*event_hash/);

  const gap = lines.filter((_, i) => i !== 2);
  const r2 = verify(writeExport(dir, gap, 'gap.jsonl'));
  t.equal(r2.status, 1);
  t.match(r2.stderr, /seq 4\b.*dense/);

  // Rewriting an event with correct hashes of its own still breaks the link after it.
  const forged: Record<string, unknown> = { ...lines[3], severity: 'low' };
  forged.event_hash = eventHash(forged as unknown as HashedFields);
  const relinked = [...lines.slice(0, 3), forged, lines[4]!];
  const r3 = verify(writeExport(dir, relinked, 'relinked.jsonl'));
  t.equal(r3.status, 1);
  t.match(r3.stderr, /seq 5\b.*previous_hash/);

  const genesis = structuredClone(lines);
  (genesis[0] as { previous_hash: string }).previous_hash = '1'.repeat(64);
  const r4 = verify(writeExport(dir, genesis, 'genesis.jsonl'));
  t.equal(r4.status, 1);
  t.match(r4.stderr, /seq 1\b/);

  const garbage = verify(writeExport(dir, [], 'empty.jsonl'));
  t.equal(garbage.status, 1, 'an empty export is not a verified chain');
});

t.test('Python formats numbers and sorts keys exactly as this package does', async (t) => {
  // Random doubles from random bit patterns, every magnitude: the hard cases of RFC 8785.
  let state = 0x2545f491;
  const next32 = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const view = new DataView(new ArrayBuffer(8));
  const doubles: number[] = [];
  while (doubles.length < 3000) {
    view.setUint32(0, next32());
    view.setUint32(4, next32());
    const x = view.getFloat64(0);
    if (Number.isFinite(x) && !(Number.isInteger(x) && !Number.isSafeInteger(x))) doubles.push(x);
  }
  for (let e = -30; e <= 15; e++) doubles.push(10 ** e, 1.5 * 10 ** e, -(10 ** e) / 3);
  // Member names of random code points (BMP and astral, no surrogate halves), so that
  // UTF-16 order (U+FB33 before U+1F600) and code point order disagree often.
  const codePoint = (): number => {
    const limit = next32() % 2 === 0 ? 0x10000 : 0x110000;
    const cp = 0x20 + (next32() % (limit - 0x820));
    return cp >= 0xd800 ? cp + 0x800 : cp;
  };
  const keys: Record<string, number> = { 'ctl\u0001': -1, 'q"': -2, 'b\\': -3, '\u007f': -4 };
  for (let i = 0; i < 300; i++) keys[String.fromCodePoint(codePoint(), codePoint()) + String(i)] = i;
  const dir = t.testdir();
  const lines = chain([
    { event_type: 'test.numbers.sampled', entity_id: 'n', actor_id: 'a', payload: { doubles } },
    { event_type: 'test.keys.sampled', entity_id: 'k', actor_id: 'a', payload: keys },
  ]).map(exportLine);
  const r = verify(writeExport(dir, lines));
  t.equal(r.status, 0, r.stderr);
});
