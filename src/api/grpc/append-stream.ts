/**
 * AppendStream, the high-volume append path: many requests in flight on one stream, each
 * answered with its `request_id` as soon as it is durable (answers may come out of order).
 * A refused request gets an Error response and the stream stays open.
 *
 * Bounded: once `maxInFlightPerStream` requests are being appended (or their answers are
 * not yet taken by the client), the server stops reading the stream; HTTP/2 flow control
 * then holds the client back. A request that does not decode cannot be answered (its
 * request_id is unknown): the stream ends with INVALID_ARGUMENT after the answers in flight.
 * On shutdown the stream stops reading, answers what it has read, and ends with
 * UNAVAILABLE (error-code STORE_CLOSED); the client resends the rest to the next daemon.
 * When a keys reload removes or changes the stream's key, it does the same and ends with
 * UNAUTHENTICATED: requests not answered were not appended.
 *
 * The stream opens with the gate (a key with the append scope, one call of its rate, one
 * of its stream slots, held until the stream ends however it ends); each request then
 * counts one more call of the rate: past it, that request is answered RATE_LIMITED (not
 * appended; send it again) and the stream stays open.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Caller } from '../../auth';
import { GrpcStatus, SpineError } from '../../errors';
import { abandonedStatus, checkDecoded, deadlineError, deadlinePassed, recordCall, type Malformed, type ServiceContext } from './calls';
import { admitMessage, enterCall, holdStream, noteRefusal } from './gate';
import type { AppendStreamRequestMsg, AppendStreamResponseMsg } from './messages';
import { asSpineError, errorMsg, serviceError } from './status';
import { encodeAppendStreamOk } from './event-encoder';
import { appendEvents } from './unary';

const METHOD = 'AppendStream';

export function appendStreamHandler(ctx: ServiceContext): grpc.handleBidiStreamingCall<AppendStreamRequestMsg | Malformed, AppendStreamResponseMsg | Buffer> {
  const max = ctx.settings.maxInFlightPerStream;
  return (call) => {
    let caller: Caller;
    let release: () => void;
    try {
      if (deadlinePassed(call)) throw deadlineError();
      caller = enterCall(ctx.guard, call.metadata, 'append', METHOD);
      // A keys reload that removes or changes the key ends the stream as a shutdown does:
      // the requests being appended are answered, then it ends UNAUTHENTICATED.
      release = holdStream(ctx.guard, caller, METHOD, (why) => stopReading(why));
    } catch (err) {
      const e = asSpineError(err, ctx.logger, METHOD);
      recordCall(ctx, METHOD, serviceError(e).code, e);
      call.emit('error', serviceError(e));
      return;
    }
    let inFlight = 0;
    let halfClosed = false;
    let finished = false;
    /** Why the stream ends early (a request that did not decode, or a shutdown). */
    let endWith: SpineError | undefined;

    const finish = (): void => {
      if (finished || inFlight > 0 || (!halfClosed && endWith === undefined)) return;
      finished = true;
      untrack();
      release();
      if (call.cancelled) return;
      if (endWith !== undefined) {
        recordCall(ctx, METHOD, serviceError(endWith).code, endWith);
        call.emit('error', serviceError(endWith));
      } else {
        recordCall(ctx, METHOD, GrpcStatus.OK);
        call.end();
      }
    };

    const stopReading = (why: SpineError): void => {
      endWith ??= why;
      call.pause();
      finish();
    };

    const untrack = ctx.calls.trackStream(() =>
      stopReading(new SpineError('STORE_CLOSED', 'the server is shutting down; requests without an answer were not appended: send them again once it is back')),
    );

    const answered = (): void => {
      inFlight -= 1;
      if (endWith === undefined && inFlight < max && call.isPaused()) call.resume();
      finish();
    };

    call.on('data', (raw: AppendStreamRequestMsg | Malformed) => {
      if (endWith !== undefined || finished) return;
      let request: AppendStreamRequestMsg;
      try {
        request = checkDecoded(raw);
      } catch (err) {
        stopReading(asSpineError(err, ctx.logger, METHOD));
        return;
      }
      const requestId = request.request_id ?? 0;
      inFlight += 1;
      if (inFlight >= max) call.pause();
      const refuse = (err: unknown): void => {
        const e = asSpineError(err, ctx.logger, METHOD);
        ctx.metrics.failed(e.code);
        respond({ request_id: requestId, error: errorMsg(e) });
      };
      // Each request is one more call of the key's rate; past it, it is answered, not appended.
      try {
        admitMessage(ctx.guard, caller, METHOD);
      } catch (err) {
        refuse(err);
        return;
      }
      appendEvents(ctx, caller, request.events).then(
        (results) => respond(encodeAppendStreamOk(requestId, results)),
        (err: unknown) => {
          noteRefusal(ctx.guard, err, caller, METHOD);
          refuse(err);
        },
      );
    });

    const respond = (message: AppendStreamResponseMsg | Buffer): void => {
      if (call.cancelled) return answered();
      // Counted in flight until grpc-js has handed the answer to HTTP/2 (a client that
      // does not read its answers is held back too).
      call.write(message, answered);
    };

    call.on('end', () => {
      halfClosed = true;
      finish();
    });

    call.once('cancelled', () => {
      if (!finished) {
        finished = true;
        untrack();
        release();
        recordCall(ctx, METHOD, abandonedStatus(call));
      }
    });
  };
}
