/**
 * Subscribe responses serialized once per event, not once per subscriber. The store hands
 * the same StoredEvent object to every live subscriber of every filter, so the bytes of its
 * `SubscribeResponse{event}` are kept beside it (in a WeakMap: they go when the event
 * does) and every stream writes those bytes as they are. For this the method's
 * `responseSerialize` passes a Buffer through unchanged and serializes anything else (the
 * caught_up / fell_behind / heartbeat markers) as grpc-js would.
 *
 * The bytes come from the very serializer grpc-js would have called on the same message,
 * so what a client receives does not change by a bit.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/proto-loader';
import type { StoredEvent } from '../../event';
import { toEventMsg } from './convert';
import type { SubscribeResponseMsg } from './messages';
import { SPINE_SERVICE, loadPackageDefinition } from './proto';

/** The server-streaming methods whose handlers may write pre-encoded messages. */
export const PRE_ENCODED_METHODS: readonly string[] = ['Subscribe'];

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

let serializeResponse: ((message: SubscribeResponseMsg) => Buffer) | undefined;

function subscribeSerializer(): (message: SubscribeResponseMsg) => Buffer {
  if (serializeResponse === undefined) {
    const method = (loadPackageDefinition()[SPINE_SERVICE] as ServiceDefinition).Subscribe as MethodDefinition<object, object> | undefined;
    if (method === undefined) throw new TypeError(`${SPINE_SERVICE} has no Subscribe method`);
    serializeResponse = (message) => method.responseSerialize(message);
  }
  return serializeResponse;
}

const encoded = new WeakMap<StoredEvent, Buffer>();

/**
 * The serialized `SubscribeResponse{event}` of a stored event, encoded on its first request
 * and shared by every later one for the same object (the live subscribers of one group).
 */
export function encodedSubscribeEvent(ev: StoredEvent): Buffer {
  let bytes = encoded.get(ev);
  if (bytes === undefined) {
    bytes = subscribeSerializer()({ event: toEventMsg(ev) });
    encoded.set(ev, bytes);
  }
  return bytes;
}

/** The same bytes, encoded for one stream alone (an event read from the log for it). */
export function encodeSubscribeEvent(ev: StoredEvent): Buffer {
  return subscribeSerializer()({ event: toEventMsg(ev) });
}
