/** The store: the engine every API surface stands on. */
export { Store, DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT, type AppendResult, type CommitInfo, type Head, type QueryPage, type QueryResult, type StoreOptions, type VerifyResult } from './store';
export { FILTER_FIELDS, normalizeFilter, type QueryFilter } from './filter';
export type { SubscriptionItem, SubscribeOptions } from './subscription';
export { AGGREGATE_GROUPS, checkGroupBy, type AggregateGroupBy, type AggregateResult } from './aggregate';
