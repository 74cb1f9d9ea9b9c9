/**
 * A full verify with progress: the chain, frames, payload digests and the index, checked
 * in slices of the log so that progress can be reported between them (each slice starts
 * from the event_hash of the event before it, so the whole chain is still checked).
 */
import type { Store, VerifyResult } from '../../store';

export type ProgressCallback = (done: number, total: number) => void | Promise<void>;

/** Events per slice: about 50 progress reports, between 1 000 and 20 000 events each. */
export function sliceSize(total: number): number {
  return Math.min(20_000, Math.max(1_000, Math.ceil(total / 50)));
}

/**
 * Verifies seq 1 to `toSeq` (the head at the start by default); reports after every slice;
 * stops at the first bad seq.
 */
export async function verifyWithProgress(store: Store, onProgress: ProgressCallback, options: { checkIndex?: boolean; toSeq?: number; organizations?: readonly string[] } = {}): Promise<VerifyResult> {
  const head = Math.min(options.toSeq ?? Number.POSITIVE_INFINITY, store.head().seq);
  const checkIndex = options.checkIndex ?? true;
  const slice = sliceSize(head);
  let checked = 0;
  await onProgress(0, head);
  for (let from = 1; from <= head; from += slice) {
    const to = Math.min(head, from + slice - 1);
    const r = await store.verify({ from_seq: from, to_seq: to, checkIndex, ...(options.organizations === undefined ? {} : { organizations: options.organizations }) });
    checked += r.checked;
    if (!r.ok) return { ...r, from_seq: 1, to_seq: head, checked };
    await onProgress(to, head); // progress is the chain position (checked may count only some organizations)
  }
  return { ok: true, from_seq: 1, to_seq: head, checked };
}
