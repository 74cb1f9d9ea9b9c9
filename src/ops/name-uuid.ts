/**
 * Name-based UUIDs: the same names always give the same id, so an entity derived from a
 * description (a quality check for a table, a column and a kind) is found again by id.
 * UUIDv8 built from SHA-256 as in RFC 9562 §5.8 and Appendix B.2
 * (https://www.rfc-editor.org/rfc/rfc9562): the first 16 bytes of the digest with the
 * version and variant bits set.
 */
import { createHash } from 'node:crypto';

/** A UUIDv8 from SHA-256 over a namespace and the names (JSON-encoded, so none is ambiguous). */
export function nameUuid(namespace: string, names: readonly string[]): string {
  const bytes = createHash('sha256').update(JSON.stringify([namespace, ...names]), 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
