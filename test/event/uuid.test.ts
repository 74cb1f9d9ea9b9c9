import t from 'tap';
import { parseUuid, uuidToBytes, uuidv7 } from '../../src/event/uuid';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('uuidv7: format, version, variant, timestamp', async (t) => {
  const before = Date.now();
  const id = uuidv7();
  const after = Date.now();
  t.match(id, V7);
  const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  t.ok(ms >= before && ms <= after + 1, 'the first 48 bits are the unix time in ms');
  t.equal(parseUuid(id), id, 'its own form is canonical');
});

t.test('uuidv7: unique and sorted in creation order', async (t) => {
  const ids: string[] = [];
  for (let i = 0; i < 50_000; i++) ids.push(uuidv7());
  t.equal(new Set(ids).size, ids.length, 'no duplicate');
  let sorted = true;
  for (let i = 1; i < ids.length; i++) if (!((ids[i - 1] as string) < (ids[i] as string))) sorted = false;
  t.ok(sorted, 'each id sorts after the one before, also within one millisecond');
  t.ok(ids.every((id) => V7.test(id)), 'every id is a v7 UUID');
  const bytes = ids.slice(0, 2).map(uuidToBytes);
  t.ok(Buffer.compare(bytes[0] as Buffer, bytes[1] as Buffer) < 0, 'byte order agrees with text order');
});

t.test('parseUuid', async (t) => {
  t.equal(parseUuid('01890A5D-AC96-774B-BCCE-B302099A8057'), '01890a5d-ac96-774b-bcce-b302099a8057', 'upper case');
  t.equal(parseUuid('f47ac10b-58cc-4372-a567-0e02b2c3d479'), 'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'v4');
  t.equal(parseUuid('00000000-0000-0000-0000-000000000000'), '00000000-0000-0000-0000-000000000000', 'nil');
  t.equal(parseUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'v1');
  for (const bad of [
    '',
    'not-a-uuid',
    'f47ac10b58cc4372a5670e02b2c3d479',
    '{f47ac10b-58cc-4372-a567-0e02b2c3d479}',
    'urn:uuid:f47ac10b-58cc-4372-a567-0e02b2c3d479',
    'f47ac10b-58cc-4372-a567-0e02b2c3d47',
    'f47ac10b-58cc-4372-a567-0e02b2c3d4799',
    'g47ac10b-58cc-4372-a567-0e02b2c3d479',
    'f47ac10b_58cc-4372-a567-0e02b2c3d479',
    'f47ac10b-58cc-4372-a5670-e02b2c3d479',
    ' f47ac10b-58cc-4372-a567-0e02b2c3d47',
  ]) {
    t.equal(parseUuid(bad), undefined, JSON.stringify(bad));
  }
});

t.test('uuidToBytes', async (t) => {
  const bytes = uuidToBytes('01890A5D-AC96-774B-BCCE-B302099A8057');
  t.equal(bytes.length, 16);
  t.equal(bytes.toString('hex'), '01890a5dac96774bbcceb302099a8057');
  t.throws(() => uuidToBytes('nope'), TypeError);
});
