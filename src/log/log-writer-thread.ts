/**
 * The thread of log-writer.ts: writes a group's frames at their place in a segment and,
 * under fsync durability, fdatasyncs them, both in one go and synchronously. It answers
 * each job with its id, or with the error's message and code.
 */
import { fdatasyncSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { WriteJob, WriteReply } from './log-writer';

const port = parentPort;
if (port === null) throw new TypeError('log-writer-thread.ts runs as a worker thread');

port.on('message', ({ id, fd, bytes, position, sync }: WriteJob) => {
  let reply: WriteReply;
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
    if (sync) fdatasyncSync(fd);
    reply = { id };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply = { id, error: { message: e.message, code: e.code } };
  }
  port.postMessage(reply);
});
