/**
 * The event envelope (DESIGN §1): types, validation, canonical form (RFC 8785) and the
 * hash (§1.1). Everything the store, the APIs and the client need from this folder.
 */

export * from './types';
export { canonicalize, canonicalPayload, MAX_PAYLOAD_DEPTH } from './canonical';
export { isCanonicalPayloadText } from './canonical-text';
export {
  eventHash,
  payloadHash,
  recordCanonical,
  RECORD_FIELDS,
  sha256Hex,
  verifyEventHashes,
  type HashedFields,
} from './hash';
export { parseUuid, uuidToBytes, uuidv7 } from './uuid';
export {
  CLIENT_FIELDS,
  MAX_ENTITY_NAME_CHARS,
  MAX_EVENT_TYPE_PART_CHARS,
  MAX_ID_CHARS,
  SERVER_FIELDS,
  validateBatch,
  validateEvent,
  validateWireEvent,
  type EnvelopeOptions,
} from './validate';
