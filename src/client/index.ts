/**
 * The typed TypeScript client of event-spine (`import { EventSpineClient } from
 * 'event-spine/client'`): `emit()` like the seed's `emit_event`, batched and pipelined on
 * one AppendStream and retried with the same id; `subscribe()` as an async iterator that
 * resumes after reconnects and daemon restarts; `append`, `get`, `query`, `read`,
 * `aggregate`, `verify`, `head`, `close`.
 */
export { EventSpineClient } from './client';
export { EventSpineError, type ClientErrorCode } from './errors';
export { protoPath } from './proto';
export type { SubscriptionItem } from './resumable-stream';
export type * from './types';
