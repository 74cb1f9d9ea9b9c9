import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/store';

async function main(): Promise<void> {
  const base = mkdtempSync('/tmp/fdprobe-');
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  try {
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(2 * 1024 * 1024, 1));
    const store = await Store.open({ dataDir: join(mnt, 'data'), segmentBytes: 1024 * 1024, durability: 'fsync', defaultOrganizationId: 'd', defaultEnvironment: 'prod', maxPayloadBytes: 65536, maxBatchEvents: 10000, onNotice: (m, d) => console.log('NOTICE', m, JSON.stringify(d)) });
    let n = 0;
    for (;;) {
      const p = store.append(Array.from({ length: 50 }, () => ({ event_type: 'a.b.c', entity_id: 'e' + (n % 10), actor_id: 'u', payload: { n: n++, t: 'x'.repeat(300) } })));
      const r = await Promise.race([p.then(() => 'ok', (e) => `${e.code} ${e.message}`), new Promise((res) => setTimeout(() => res('HANG'), 5000))]);
      if (r !== 'ok') { console.log('after', n, 'events:', r); break; }
    }
    console.log('head', store.head().seq);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const size = [1, 2, 5][i % 3] as number;
      const p2 = store.append(Array.from({ length: size }, () => ({ event_type: 'a.b.c', entity_id: 'e' + (n % 10), actor_id: 'u', payload: { n: n++, t: 'x'.repeat(i % 50) } })));
      const r = await Promise.race([p2.then(() => 'ok', (e) => `${e.code}`), new Promise<string>((res) => setTimeout(() => res('HANG'), 3000))]);
      outcomes.set(r as string, (outcomes.get(r as string) ?? 0) + 1);
      if (r === 'HANG') { console.log('HANG at', i, 'head', store.head().seq); break; }
    }
    console.log('outcomes', [...outcomes]);
    console.log(execFileSync('df', ['-k', mnt]).toString());
    console.log('get', (await store.getBySeq(5).catch((e) => e.message))?.seq);
    console.log('query', (await store.query({ entity_type: 'b', entity_id: 'e3' }, { limit: 5 }).then((p) => p.items.length, (e) => e.message)));
    console.log('verify', await store.verify({ checkIndex: true }).catch((e) => e.message));
    rmSync(join(mnt, 'filler'));
    for (let i = 0; i < 5; i++) {
      const r = await Promise.race([store.append([{ event_type: 'a.b.c', entity_id: 'after', actor_id: 'u' }]).then((x) => `ok ${x[0]?.seq}`, (e) => `${e.code} ${e.message}`), new Promise((res) => setTimeout(() => res('HANG'), 8000))]);
      console.log('after free', i, r);
      await new Promise((res) => setTimeout(res, 500));
    }
    console.log('verify', await store.verify({ checkIndex: true }).catch((e) => e.message));
    await store.close();
  } finally {
    execFileSync('umount', ['-l', mnt]);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
