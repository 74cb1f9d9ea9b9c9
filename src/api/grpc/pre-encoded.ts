/**
 * Subscribe responses serialized once per event, not once per subscriber. The store hands
 * the same StoredEvent object to every live subscriber of every filter, so the bytes of its
 * `SubscribeResponse{event}` are encoded once and kept for a while (see the ring below),
 * and every stream writes those bytes as they are. For this the method's
 * `responseSerialize` passes a Buffer through unchanged and serializes anything else (the
 * caught_up / fell_behind / heartbeat markers) as grpc-js would.
 *
 * The bytes are written by event-encoder.ts, byte for byte what the .proto's serializer
 * writes for the same message (tested), so what a client receives does not change by a bit.
 */
import type { ServiceDefinition } from '@grpc/proto-loader';
import type { StoredEvent } from '../../event';
import { encodeSubscribeEvent } from './event-encoder';

/** The server-streaming methods whose handlers may write pre-encoded messages. */
export const PRE_ENCODED_METHODS: readonly string[] = ['Subscribe'];
/**
 * The other methods whose handlers may answer with the bytes of their response
 * (event-encoder.ts): a query page, append results.
 */
export const PRE_ENCODED_ANSWERS: readonly string[] = ['Query', 'Append', 'AppendStream'];

/**
 * The service with each of `methods` given a serializer that sends a Buffer as it is: the
 * handler then writes either a message object or the bytes of one.
 */
export function passPreEncoded(service: ServiceDefinition, methods: readonly string[] = PRE_ENCODED_METHODS): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = { ...service };
  for (const name of methods) {
    const method = service[name];
    if (method === undefined) throw new TypeError(`passPreEncoded: the service has no method ${name}`);
    const serialize = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (value: object): Buffer => (Buffer.isBuffer(value) ? value : serialize(value)) };
  }
  return out;
}

/**
 * The recently encoded events, by seq (a ring). The store hands the same acknowledged event
 * to every live subscriber, and subscribers that fell behind read the same stretch of the
 * log: all of them find its bytes here. An entry counts only for the event of the same seq
 * and event_hash (the hash covers every field of the message, the payload through
 * payload_hash), so servers of other stores in the process never share a wrong one. A reader
 * far behind does not evict newer events that the live subscribers are about to need.
 */
const RING_SIZE = 8192;
const ring: ({ seq: number; hash: string; bytes: Buffer } | undefined)[] = new Array<undefined>(RING_SIZE).fill(undefined);

/** The serialized `SubscribeResponse{event}` of a stored event, encoded once for every subscriber. */
export function encodedSubscribeEvent(ev: StoredEvent): Buffer {
  const slot = ev.seq % RING_SIZE;
  const entry = ring[slot];
  if (entry !== undefined && entry.seq === ev.seq && entry.hash === ev.event_hash) return entry.bytes;
  const bytes = encodeSubscribeEvent(ev);
  if (entry === undefined || entry.seq < ev.seq) ring[slot] = { seq: ev.seq, hash: ev.event_hash, bytes };
  return bytes;
}
