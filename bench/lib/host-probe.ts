/**
 * How fast the host is right now: the single-thread CPU time of a fixed slice of the append
 * path (validate, seal with event_hash, encode frames) over 100 corpus events, the median
 * of several rounds. The cores here are shared with other machines' work and their speed
 * moves by a factor of two within hours, so figures of two runs compare only where their
 * probes do. Lower is faster.
 */
import { execFileSync } from 'node:child_process';
import { eventHash, validateBatch } from '../../src/event';
import { GENESIS_HASH, type StoredEvent } from '../../src/event/types';
import { loadChecksum } from '../../src/log/frame';
import { encodeFrames } from '../../src/log/record';
import { corpusEvent } from '../corpus';

/** What the conditions say the probe is. */
export const HOST_PROBE =
  'host_probe_us_*: single-thread CPU µs per event of validate + event_hash + frame encoding of 100 corpus events (bench/lib/host-probe.ts), median of 25 rounds, at the start and the end of the run; lower is a faster host, and figures of two runs compare only where their probes do';

const EVENTS = 100;
const ROUNDS = 25;
const REPEATS = 40;

/** The probe, run in a process of its own: in the bench's busy process it read twice as slow. */
export function hostProbe(): number | undefined {
  try {
    return Number(execFileSync(process.execPath, [__filename], { encoding: 'utf8', timeout: 60_000 }).trim());
  } catch {
    return undefined;
  }
}

async function probeUsPerEvent(): Promise<number> {
  await loadChecksum();
  const options = { defaultOrganizationId: 'default', defaultEnvironment: 'prod' as const, maxPayloadBytes: 65536, maxBatchEvents: 10000 };
  const inputs = Array.from({ length: EVENTS }, (_, k) => corpusEvent(k, true));
  const timestamp = new Date(0).toISOString();
  const once = (): void => {
    let previous_hash = GENESIS_HASH;
    const sealed = validateBatch(inputs, options).map((v, i): StoredEvent => {
      // The store's own object shape (store.ts sealGroup).
      const ev: StoredEvent = {
        seq: i + 1,
        id: v.id as string,
        event_type: v.event_type,
        domain: v.domain,
        entity_type: v.entity_type,
        action: v.action,
        entity_id: v.entity_id,
        entity_name: v.entity_name,
        actor_id: v.actor_id,
        actor_type: v.actor_type,
        organization_id: v.organization_id,
        environment: v.environment,
        timestamp,
        severity: v.severity,
        payloadJson: v.payloadJson,
        payload_hash: v.payload_hash,
        previous_hash,
        event_hash: '',
      };
      ev.event_hash = eventHash(ev);
      previous_hash = ev.event_hash;
      return ev;
    });
    encodeFrames(sealed);
  };
  for (let i = 0; i < REPEATS; i++) once(); // warm-up: optimised code
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < REPEATS; i++) once();
    const t = process.cpuUsage(t0);
    rounds.push((t.user + t.system) / (REPEATS * EVENTS));
  }
  rounds.sort((a, b) => a - b);
  return Math.round((rounds[ROUNDS >> 1] as number) * 100) / 100;
}

if (require.main === module) void probeUsPerEvent().then((us) => process.stdout.write(`${us}\n`));
