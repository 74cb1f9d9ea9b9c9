/**
 * Cost per event of each stage of the append hot path, single-threaded, ~400-byte events:
 * validation (incl. payload canonicalisation and payload_hash), event_hash, frame encoding
 * (msgpack + xxh32), index batch (build + LevelDB write), and record decoding (reads).
 *
 *   node dist/bench/hot-path.js
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventHash, uuidv7, validateBatch } from '../src/event';
import { GENESIS_HASH, type StoredEvent } from '../src/event/types';
import { EventIndex } from '../src/index';
import { loadChecksum } from '../src/log/frame';
import { decodeRecord, encodeFrames } from '../src/log/record';
import { corpusEvent } from './corpus';
import { conditions, round } from './stats';

const BATCH = 100;
const ROUNDS = 400;

function perEvent(label: string, rounds: number, fn: (round: number) => void): void {
  for (let r = 0; r < 20; r++) fn(r);
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) fn(r);
  const us = ((performance.now() - t0) * 1000) / (rounds * BATCH);
  console.log(JSON.stringify({ stage: label, us_per_event: round(us, 3) }));
}

async function main(): Promise<void> {
  await loadChecksum();
  console.log(JSON.stringify(conditions({ batch: BATCH })));
  const options = { defaultOrganizationId: 'default', defaultEnvironment: 'prod' as const, maxPayloadBytes: 65536, maxBatchEvents: 10000 };
  const inputs = Array.from({ length: ROUNDS + 20 }, (_, r) => Array.from({ length: BATCH }, (_, k) => corpusEvent(r * BATCH + k, true)));
  perEvent('validate', ROUNDS, (r) => validateBatch(inputs[r], options));
  const valid = validateBatch(inputs[0], options);
  const ts = new Date().toISOString();
  let sealed: StoredEvent[] = [];
  perEvent('seal (event_hash)', ROUNDS, () => {
    let prev = GENESIS_HASH;
    sealed = valid.map((v, i) => {
      const ev: StoredEvent = { ...v, id: v.id ?? uuidv7(), entity_name: v.entity_name, seq: i + 1, timestamp: ts, previous_hash: prev, event_hash: '' };
      ev.event_hash = eventHash(ev);
      prev = ev.event_hash;
      return ev;
    });
  });
  let frames: Buffer = Buffer.alloc(0);
  let lengths: number[] = [];
  perEvent('encode frames', ROUNDS, () => ({ frames, frameLengths: lengths } = encodeFrames(sealed)));
  const bodies: Buffer[] = [];
  for (let at = 0, i = 0; i < lengths.length; at += lengths[i] as number, i++) bodies.push(frames.subarray(at + 8, at + (lengths[i] as number)));
  perEvent("decode record", ROUNDS / 4, () => bodies.forEach((b) => decodeRecord(b)));

  const dir = mkdtempSync(join(tmpdir(), 'es-hot-'));
  const index = await EventIndex.open(dir);
  let seq = 0;
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    const entries = sealed.map((ev, i) => ({ event: { ...ev, seq: ++seq, id: uuidv7(), entity_id: `e-${seq % 5000}` }, loc: { segment: 1, offset: 32 + i * 500, length: 500 } }));
    await index.write(entries.map((e) => ({ seq: e.event.seq, id: Buffer.from(e.event.id.replace(/-/g, ""), "hex"), event_type: e.event.event_type, entity_id: e.event.entity_id, actor_id: e.event.actor_id, organization_id: e.event.organization_id, severity: e.event.severity, environment: e.event.environment, timestampMs: Date.parse(e.event.timestamp), segment: 1, offset: e.loc.offset, length: e.loc.length })), { seq, event_hash: "", timestamp: ts, segment: 1, offset: 0 });
  }
  console.log(JSON.stringify({ stage: 'index write (build + LevelDB)', us_per_event: round(((performance.now() - t0) * 1000) / (ROUNDS * BATCH), 3) }));
  await index.close();
  rmSync(dir, { recursive: true, force: true });
}

void main();
