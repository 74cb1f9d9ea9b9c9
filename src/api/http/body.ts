/** Reading request bodies within limits.maxHttpBodyBytes. */
import type { IncomingMessage } from 'node:http';
import { SpineError } from '../../errors';

/** The whole body, refused with REQUEST_TOO_LARGE (413) past `maxBytes`. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(declared, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume(); // drain the rest without keeping it
      throw tooLarge(size, maxBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** The body parsed as JSON; INVALID_REQUEST (400) when it is not. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBody(req, maxBytes);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SpineError('INVALID_REQUEST', `the request body is not JSON (${(err as Error).message})`, { cause: err });
  }
}

function tooLarge(bytes: number, maxBytes: number): SpineError {
  return new SpineError('REQUEST_TOO_LARGE', `the request body is ${bytes} bytes or more, over the limit of ${maxBytes} bytes (limits.maxHttpBodyBytes)`);
}
