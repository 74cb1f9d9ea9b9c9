/**
 * Export as JSON Lines: one stored event per line with every field of DESIGN §1, the payload
 * written verbatim (its canonical text, exactly what payload_hash digests), up to a seq
 * fixed at the start, with progress.
 */
import type { StoredEvent } from '../../event';
import type { Store } from '../../store';
import type { ProgressCallback } from './verify';

/**
 * One export line, byte for byte what `event-spine export` writes offline: every field of
 * DESIGN §1 in the README's order (the digests before the payload), the payload its stored
 * canonical text, verbatim. (test/cli/operations.test.ts keeps the two outputs identical.)
 */
export function exportLine(ev: StoredEvent): string {
  const s = JSON.stringify;
  return (
    `{"seq":${ev.seq},"id":${s(ev.id)},"event_type":${s(ev.event_type)},"domain":${s(ev.domain)},` +
    `"entity_type":${s(ev.entity_type)},"action":${s(ev.action)},"entity_id":${s(ev.entity_id)},` +
    (ev.entity_name === undefined ? '' : `"entity_name":${s(ev.entity_name)},`) +
    `"actor_id":${s(ev.actor_id)},"actor_type":${s(ev.actor_type)},"organization_id":${s(ev.organization_id)},` +
    `"environment":${s(ev.environment)},"timestamp":${s(ev.timestamp)},"severity":${s(ev.severity)},` +
    `"payload_hash":${s(ev.payload_hash)},"previous_hash":${s(ev.previous_hash)},"event_hash":${s(ev.event_hash)},` +
    `"payload":${ev.payloadJson}}\n`
  );
}

export interface ExportResult {
  events: number;
  bytes: number;
  to_seq: number;
  /** False when `write` said the reader went away (e.g. `| head`). */
  complete: boolean;
}

/**
 * Writes every event up to `upTo` (the head at the start by default) through `write` in
 * chunks of about 64 KiB; `write` resolves false to stop early. Reports progress per
 * chunk, in events.
 */
export async function exportWithProgress(store: Store, write: (chunk: string) => Promise<boolean>, onProgress: ProgressCallback, upTo?: number): Promise<ExportResult> {
  const toSeq = Math.min(upTo ?? Number.POSITIVE_INFINITY, store.head().seq);
  const result: ExportResult = { events: 0, bytes: 0, to_seq: toSeq, complete: true };
  await onProgress(0, toSeq);
  if (toSeq === 0) return result;
  let chunk = '';
  const flush = async (): Promise<boolean> => {
    result.bytes += Buffer.byteLength(chunk, 'utf8');
    const ok = await write(chunk);
    chunk = '';
    await onProgress(result.events, toSeq);
    return ok;
  };
  for await (const ev of store.read({ to_seq: toSeq })) {
    chunk += exportLine(ev);
    result.events += 1;
    if (chunk.length >= 64 * 1024 && !(await flush())) return { ...result, complete: false };
  }
  if (chunk.length > 0 && !(await flush())) return { ...result, complete: false };
  return result;
}
