/**
 * The gate of every eventspine.v1.EventSpine call (DESIGN §7): the API key of its
 * `authorization: Bearer <secret>` metadata, one call charged to the key's rate, the scope
 * its method needs, and for long-lived streams a slot of the key's open streams, which
 * a keys reload that removes or changes the key takes back by ending the stream. The
 * wrappers of calls.ts and the AppendStream handler pass through here before any handler
 * runs, so no RPC can forget it. grpc.health.v1 and server reflection stay open.
 *
 * A refusal is logged and counted by the Guard (key id, never the secret) where it happens.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Caller, Guard, Scope, StreamStop } from '../../auth';

const AUTHORIZATION = 'authorization';

/** The call's `authorization` value (the first, if it was sent more than once). */
function authorizationOf(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get(AUTHORIZATION)[0];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The Caller of a call that may go on: authenticated (UNAUTHENTICATED otherwise), within
 * its key's rate (RATE_LIMITED) and with `scope` (PERMISSION_DENIED).
 */
export function enterCall(guard: Guard, metadata: grpc.Metadata, scope: Scope, method: string): Caller {
  let caller: Caller | undefined;
  try {
    caller = guard.authenticate(authorizationOf(metadata));
    guard.admit(caller);
    caller.require(scope, method);
    return caller;
  } catch (err) {
    guard.noteFailure(err, caller, { surface: 'grpc', call: method });
    throw err;
  }
}

/** One more message of a stream charged to the caller's rate (AppendStream requests). */
export function admitMessage(guard: Guard, caller: Caller, method: string): void {
  try {
    guard.admit(caller);
  } catch (err) {
    guard.noteFailure(err, caller, { surface: 'grpc', call: method });
    throw err;
  }
}

/**
 * A slot of the caller's open streams (RATE_LIMITED past its maximum; UNAUTHENTICATED if
 * a keys reload revoked the key meanwhile); returns the release, which the stream calls
 * once however it ends (calling it again does nothing). `stop` ends the stream with its
 * UNAUTHENTICATED error when a reload removes or changes the key.
 */
export function holdStream(guard: Guard, caller: Caller, method: string, stop: StreamStop): () => void {
  try {
    return guard.openStream(caller, stop);
  } catch (err) {
    guard.noteFailure(err, caller, { surface: 'grpc', call: method });
    throw err;
  }
}

/** Logs and counts a handler's refusal (PERMISSION_DENIED for an organization, an actor, …). */
export function noteRefusal(guard: Guard, err: unknown, caller: Caller | undefined, method: string): void {
  guard.noteFailure(err, caller, { surface: 'grpc', call: method });
}
