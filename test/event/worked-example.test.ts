/**
 * README.md prints a worked example of the hash. Every value in it is recomputed here
 * from the file itself, so the document cannot drift from the code.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { canonicalPayload } from '../../src/event/canonical';
import { eventHash, payloadHash, recordCanonical, sha256Hex, type HashedFields } from '../../src/event/hash';
import { GENESIS_HASH } from '../../src/event/types';

const ROOT = resolve(__dirname, '../..');
const markdown = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Fenced blocks labelled with a name after the language: ```text payload-jcs-1 */
const blocks = new Map<string, string>();
for (const m of markdown.matchAll(/^```\w+ ([\w-]+)\n([\s\S]*?)\n```$/gm)) blocks.set(m[1] as string, m[2] as string);

function block(name: string): string {
  const text = blocks.get(name);
  if (text === undefined) throw new Error(`README.md has no block named ${name}`);
  return text;
}

interface ExportedEvent extends HashedFields {
  payload: unknown;
  event_hash: string;
}

t.test('the section is there', async (t) => {
  t.match(markdown, /^## The hash$/m);
  t.match(markdown, 'lowercase hex( SHA-256( UTF-8( JCS(payload) ) ) )');
  t.match(markdown, 'lowercase hex( SHA-256( UTF-8( JCS(record) ) ) )');
});

const previousHashes: string[] = [GENESIS_HASH];
for (const n of [1, 2]) {
  t.test(`event ${n}`, async (t) => {
    const ev = JSON.parse(block(`event-${n}`)) as ExportedEvent;
    t.equal(ev.seq, n);

    const payloadJson = canonicalPayload(ev.payload);
    t.equal(block(`payload-jcs-${n}`), payloadJson, 'JCS(payload) as printed');
    t.equal(block(`payload-hash-${n}`), payloadHash(payloadJson), 'payload_hash as printed');
    t.equal(ev.payload_hash, payloadHash(payloadJson), 'the event carries that payload_hash');

    t.equal(block(`record-jcs-${n}`), recordCanonical(ev), 'JCS(record) as printed');
    t.equal(block(`event-hash-${n}`), eventHash(ev), 'event_hash as printed');
    t.equal(ev.event_hash, eventHash(ev), 'the event carries that event_hash');

    t.equal(ev.previous_hash, previousHashes[n - 1], n === 1 ? 'seq 1 links to 64 zeros' : 'linked to the event before');
    previousHashes.push(ev.event_hash);
  });
}

t.test('the shell check', async (t) => {
  const lines = block('check-1').split('\n');
  const quoted = /^\$ printf '%s' '(.*)' \| sha256sum$/.exec(lines[0] ?? '');
  t.ok(quoted, 'a printf | sha256sum command');
  t.equal(quoted?.[1], block('payload-jcs-1'), 'it hashes the canonical payload');
  t.equal(lines[1], `${sha256Hex(block('payload-jcs-1'))}  -`, 'and prints its SHA-256');
});

t.test('the export and the checker output', async (t) => {
  const lines = block('export-jsonl').split('\n');
  t.equal(lines.length, 2);
  lines.forEach((line, i) => t.same(JSON.parse(line), JSON.parse(block(`event-${i + 1}`)), `line ${i + 1} is event ${i + 1}`));
  t.match(markdown, `A third event would carry \`"previous_hash":"${block('event-hash-2')}"\``);

  const file = join(t.testdir(), 'export.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  const run = spawnSync('python3', [join(ROOT, 'scripts/verify_chain.py'), file], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  const [command, output] = block('verifier-output').split('\n');
  t.equal(command, '$ python3 scripts/verify_chain.py export.jsonl');
  t.equal(output, run.stdout.trim(), 'the printed output is what the checker prints');
});
