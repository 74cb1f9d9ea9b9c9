/**
 * The posting lists one index write makes (index/keys.ts): for every tag and value, exactly
 * the seqs of the events that carry it, in seq order, with their frames' places, also when
 * a write mixes event types whose names share a domain or an entity type, and when a value's
 * postings span several writes.
 */
import t from 'tap';
import { join } from 'node:path';
import { EventIndex, Tag, entityValue, type IndexRecord } from '../../src/index';
import { scratchDir } from '../helpers/events';

const TYPES = ['hcm.employee.hired', 'hcm.employee.updated', 'hcm.payroll.approved', 'finance.employee.paid', 'finance.invoice.created'];

function record(seq: number): IndexRecord {
  // A fixed pseudo-random walk over the fields, so every write interleaves them.
  const r = (seq * 2654435761) >>> 0;
  const id = Buffer.alloc(16);
  id.writeUInt32BE(seq, 12);
  return {
    seq,
    id,
    event_type: TYPES[r % TYPES.length] as string,
    entity_id: `e-${(r >>> 8) % 7}`,
    actor_id: `actor-${(r >>> 12) % 5}`,
    organization_id: `org-${(r >>> 16) % 3}`,
    severity: ['low', 'high'][(r >>> 20) % 2] as string,
    environment: 'prod',
    timestampMs: 1_700_000_000_000 + seq,
    segment: 1,
    offset: 32 + seq * 10,
    length: 10,
  };
}

/** Every tag and value the records carry, with the seqs that carry it. */
function expected(records: IndexRecord[]): Map<string, number[]> {
  const want = new Map<string, number[]>();
  const add = (tagValue: string, seq: number): void => void (want.get(tagValue) ?? want.set(tagValue, []).get(tagValue))?.push(seq);
  for (const r of records) {
    const [domain, entityType] = r.event_type.split('.') as [string, string];
    add(Tag.entity + entityValue(entityType, r.entity_id), r.seq);
    add(Tag.entityType + entityType, r.seq);
    add(Tag.eventType + r.event_type, r.seq);
    add(Tag.typePrefix + `${domain}.${entityType}`, r.seq);
    add(Tag.domain + domain, r.seq);
    add(Tag.organization + r.organization_id, r.seq);
    add(Tag.actor + r.actor_id, r.seq);
    add(Tag.severity + r.severity, r.seq);
    add(Tag.environment + r.environment, r.seq);
  }
  return want;
}

t.test('posting lists of mixed writes: complete, in seq order, both directions', async (t) => {
  const index = await EventIndex.open(join(scratchDir(), 'index'));
  t.teardown(() => index.close());
  const records: IndexRecord[] = [];
  let seq = 0;
  // Writes of 1 to 60 events, as group commits make them.
  for (const size of [1, 60, 7, 33, 2, 45, 1, 51]) {
    const batch = Array.from({ length: size }, () => record(++seq));
    records.push(...batch);
    await index.write(batch, { seq, event_hash: '0'.repeat(64), timestamp: new Date(1_700_000_000_000 + seq).toISOString(), segment: 1, offset: 32 + (seq + 1) * 10 });
  }
  const want = expected(records);
  t.ok(want.size > 30, `${want.size} posting lists to check`);
  const problems: string[] = [];
  for (const [tagValue, seqs] of want) {
    const asc = await index.postingPage(tagValue, 1, seq, false, 1000);
    const got = asc.filter((_, i) => i % 3 === 0);
    if (JSON.stringify(got) !== JSON.stringify(seqs)) problems.push(`${tagValue} asc: ${JSON.stringify(got)} is not ${JSON.stringify(seqs)}`);
    for (let i = 0; i < asc.length; i += 3) {
      if (asc[i + 1] !== 32 + (asc[i] as number) * 10 || asc[i + 2] !== 10) problems.push(`${tagValue}: seq ${asc[i]} has the wrong frame place`);
    }
    const desc = (await index.postingPage(tagValue, 1, seq, true, 1000)).filter((_, i) => i % 3 === 0);
    if (JSON.stringify(desc) !== JSON.stringify([...seqs].reverse())) problems.push(`${tagValue} desc: ${JSON.stringify(desc)}`);
    // A window inside the range, and a page limit.
    const lo = Math.floor(seq / 3);
    const hi = Math.floor((2 * seq) / 3);
    const inside = seqs.filter((s) => s >= lo && s <= hi);
    const window = (await index.postingPage(tagValue, lo, hi, false, 1000)).filter((_, i) => i % 3 === 0);
    if (JSON.stringify(window) !== JSON.stringify(inside)) problems.push(`${tagValue} [${lo}, ${hi}]: ${JSON.stringify(window)}`);
    const firstTwo = (await index.postingPage(tagValue, lo, hi, true, 2)).filter((_, i) => i % 3 === 0);
    if (JSON.stringify(firstTwo) !== JSON.stringify(inside.reverse().slice(0, 2))) problems.push(`${tagValue} [${lo}, ${hi}] desc, 2: ${JSON.stringify(firstTwo)}`);
  }
  t.same(problems.slice(0, 5), [], 'every list holds exactly its seqs, in order, with their places');
  t.same(await index.postingPage(Tag.domain + 'nobody', 1, seq, false, 10), [], 'a value never seen has no postings');
});
