/**
 * Keeping a progress step under the store's payload limit (limits.maxPayloadBytes): a step
 * that lists many items (the checks of a wide table, the results of a large run) keeps as
 * many as fit and says how many it left out; each item is also an event of its own.
 */
import type { JsonObject, JsonValue } from '../event';

/** UTF-8 bytes of the payload's JSON text (JCS only reorders keys: the same length). */
export function payloadBytes(data: JsonObject): number {
  return Buffer.byteLength(JSON.stringify(data), 'utf8');
}

/**
 * `data` itself when it fits in `maxBytes`; else a copy whose array `listKey` keeps its
 * first items that fit, with `<listKey>_omitted` counting the rest.
 */
export function fitPayload(data: JsonObject, maxBytes: number, listKey: string): JsonObject {
  if (payloadBytes(data) <= maxBytes) return data;
  const list = data[listKey];
  if (!Array.isArray(list)) return data;
  const keep = (k: number): JsonObject => ({ ...data, [listKey]: list.slice(0, k) as JsonValue[], [`${listKey}_omitted`]: list.length - k });
  let lo = 0;
  let hi = list.length - 1;
  // The largest k whose payload fits (0 when none does).
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (payloadBytes(keep(mid)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  return keep(lo);
}
