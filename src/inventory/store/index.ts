/**
 * The installed base's SQL, one file per table; commands and queries use it as `store.*`.
 * Every statement runs inside a tenant transaction (RLS applies); account_id is still part of
 * every key lookup so that a lookup stays on one account's shard.
 */
export * from './product-instance.ts';
export * from './subscription.ts';
export * from './service-instance.ts';
export * from './resource-instance.ts';
export * from './relationship.ts';
export * from './guard.ts';
export * from './history.ts';
export * from './installed-base.ts';
export type { Statement } from './rows.ts';
