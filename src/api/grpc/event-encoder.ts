/**
 * The protobuf bytes of the server's hot answers written straight from stored events and
 * append results, without building message objects for protobufjs (its fromObject and
 * encode cost ~50 µs an event, most of a Query's time in the server). The bytes are exactly
 * those protobufjs writes for the same messages — fields in field-number order, every field
 * set (empty strings and `false` too), entity_name only when present — which the tests
 * check against the .proto's own serializer.
 */
import type { StoredEvent } from '../../event';
import type { AppendResult } from '../../store';
import { ProtoWriter } from '../../wire';

function writeEvent(w: ProtoWriter, ev: StoredEvent): void {
  w.uint64Field(1, ev.seq);
  w.stringField(2, ev.id);
  w.stringField(3, ev.event_type);
  w.stringField(4, ev.domain);
  w.stringField(5, ev.entity_type);
  w.stringField(6, ev.action);
  w.stringField(7, ev.entity_id);
  if (ev.entity_name !== undefined) w.stringField(8, ev.entity_name);
  w.stringField(9, ev.actor_id);
  w.stringField(10, ev.actor_type);
  w.stringField(11, ev.organization_id);
  w.stringField(12, ev.environment);
  w.stringField(13, ev.timestamp);
  w.stringField(14, ev.severity);
  w.stringField(15, ev.payloadJson);
  w.stringField(16, ev.payload_hash);
  w.stringField(17, ev.previous_hash);
  w.stringField(18, ev.event_hash);
}

/** The serialized `QueryResponse{items, next_cursor}` of a query page. */
export function encodeQueryResponse(items: readonly StoredEvent[], nextCursor: string | undefined): Buffer {
  const w = new ProtoWriter(1024 + 768 * items.length);
  for (const ev of items) {
    const start = w.beginMessage(1);
    writeEvent(w, ev);
    w.endMessage(start);
  }
  if (nextCursor !== undefined) w.stringField(2, nextCursor);
  return w.bytes();
}

/**
 * The serialized `SubscribeResponse{event}` of a stored event, in a buffer of its own
 * (pre-encoded.ts keeps thousands of them, and the writer's buffer has room to spare).
 */
export function encodeSubscribeEvent(ev: StoredEvent): Buffer {
  const w = new ProtoWriter(1024 + ev.payloadJson.length);
  const start = w.beginMessage(1);
  writeEvent(w, ev);
  w.endMessage(start);
  return Buffer.from(w.bytes());
}

/** Bytes of one AppendResult: seq, id and timestamp (ASCII), event_hash, deduplicated. */
const RESULT_BYTES = 160;

function writeResults(w: ProtoWriter, field: number, results: readonly AppendResult[]): void {
  for (const r of results) {
    const start = w.beginMessage(field);
    w.uint64Field(1, r.seq);
    w.stringField(2, r.id);
    w.stringField(3, r.timestamp);
    w.stringField(4, r.event_hash);
    w.uint64Field(5, r.deduplicated ? 1 : 0);
    w.endMessage(start);
  }
}

/** The serialized `AppendResponse{results}` of an acknowledged Append. */
export function encodeAppendResponse(results: readonly AppendResult[]): Buffer {
  const w = new ProtoWriter(64 + RESULT_BYTES * results.length);
  writeResults(w, 1, results);
  return w.bytes();
}

/** The serialized `AppendStreamResponse{request_id, ok: AppendResponse{results}}`. */
export function encodeAppendStreamOk(requestId: number, results: readonly AppendResult[]): Buffer {
  const w = new ProtoWriter(64 + RESULT_BYTES * results.length);
  w.uint64Field(1, requestId);
  const ok = w.beginMessage(2);
  writeResults(w, 1, results);
  w.endMessage(ok);
  return w.bytes();
}
