/**
 * ioredis, loaded when a Redis client is first made rather than when a module is: it
 * declares `class VerbatimString extends String`, after which V8 stops inlining charCodeAt
 * and every loop over a string's characters in the process runs 3–4× slower. A process
 * that never talks to Redis (a run with `--skip-peers`, the event-spine subscribers of W4)
 * keeps its clients clear of that.
 */
import type * as IORedis from 'ioredis';

export function ioredis(): typeof IORedis {
  return require('ioredis') as typeof IORedis;
}
