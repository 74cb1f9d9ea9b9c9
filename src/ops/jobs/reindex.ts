/**
 * Reindex (offline): the index is a projection of the log (DESIGN §2), so it can be dropped
 * and rebuilt. The store is opened first, which takes its lock: a running daemon (or
 * another command) on the same directory makes this fail before anything is deleted.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { wrapIoError } from '../../errors';
import { Store, type StoreOptions } from '../../store';

export interface ReindexResult {
  events: number;
  /** Bytes of log scanned to rebuild the index. */
  bytes: number;
  ms: number;
}

/** Deletes `<dataDir>/index` and reopens the store, which rebuilds it from the segments. */
export async function reindex(options: StoreOptions, onProgress: (scannedBytes: number, totalBytes: number) => void): Promise<ReindexResult> {
  const started = Date.now();
  const probe = await Store.open({ ...options, onRecoveryProgress: undefined });
  await probe.close();
  try {
    await rm(join(options.dataDir, 'index'), { recursive: true, force: true });
  } catch (err) {
    throw wrapIoError(err, `deleting ${join(options.dataDir, 'index')}`);
  }
  let bytes = 0;
  const store = await Store.open({
    ...options,
    // Catching the index up from the log is the rebuild itself: not news.
    onNotice: (message, details) => {
      if (!message.startsWith('index caught up')) options.onNotice?.(message, details);
    },
    onRecoveryProgress: (scanned, total) => {
      bytes = total;
      onProgress(scanned, total);
    },
  });
  try {
    return { events: store.head().seq, bytes, ms: Date.now() - started };
  } finally {
    await store.close();
  }
}
