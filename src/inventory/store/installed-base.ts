/**
 * The installed base of one account as JSON text, built by PostgreSQL in one statement: the
 * products (services nested in them, resources in the services, their relationships) and the
 * subscriptions, each a JSON array's elements. An account can own thousands of instances: read
 * as rows, pg parsed every column of every row (the jsonb snapshots parsed, to be serialised
 * again at once) and the body was built object by object, most of a read's cost (bench/README.md,
 * "installed-base reads"). Here Node receives one string per product and per subscription, joins
 * them and sends them on.
 *
 * The text is JSON.stringify's for the same values, in the same order, with the same nulls, with
 * one difference: the free-form objects stored as jsonb (configuration, price, place,
 * technicalParameters) come as PostgreSQL prints jsonb, with a space after each `:` and `,`
 * (and a number as jsonb keeps it: 1e21 as 1000000000000000000000). Rewriting that whitespace
 * costs more than the whole statement.
 */
import { queryRows, type Tx } from '../../platform/db.ts';
import type { ProductInstance, Relationship, Subscription } from '../types.ts';
import { relationshipFromRow } from './relationship.ts';

/** The two arrays' elements, comma-separated ('' when there are none). */
export interface InstalledBaseText {
  products: string;
  subscriptions: string;
}

// An instant as Date.toISOString() writes it (milliseconds, truncated like pg's date parser does).
// Statuses and relationship types are check-constrained words and ids are uuids: neither needs
// escaping. Free text goes through to_json.
const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const instant = (column: string) => `coalesce('"' || to_char(${column} at time zone 'UTC', ${ISO}) || '"', 'null')`;

/**
 * Now, from the current rows. Children are aggregated per parent (in created_at, id order, as
 * every list of the installed base) and joined to their parent by hash, once each. Products and
 * subscriptions come one row each (part 1, then 2): aggregating them into one value too cost
 * PostgreSQL a third more (growing and copying a string of megabytes) and pg more to receive.
 */
const NOW_SQL = `
with resources as (
  select service_instance_id,
         string_agg(concat('{"resourceInstanceId":"', resource_instance_id, '","resourceType":', to_json(resource_type),
             ',"resourceId":', coalesce(to_json(resource_id)::text, 'null'), ',"status":"', status, '","version":', version, '}'),
           ',' order by created_at, resource_instance_id) as body
    from resource_instance
   where account_id = $1
   group by service_instance_id
), services as (
  select s.product_instance_id,
         string_agg(concat('{"serviceInstanceId":"', s.service_instance_id, '","serviceSpecificationId":"', s.service_specification_id,
             '","name":', coalesce(to_json(s.name)::text, 'null'), ',"status":"', s.status, '","version":', s.version,
             ',"place":', coalesce(s.place::text, 'null'), ',"externalServiceId":', coalesce(to_json(s.external_service_id)::text, 'null'),
             ',"technicalParameters":', s.technical_parameters, ',"resourceInstances":[', r.body, ']}'),
           ',' order by s.created_at, s.service_instance_id) as body
    from service_instance s
    left join resources r on r.service_instance_id = s.service_instance_id
   where s.account_id = $1
   group by s.product_instance_id
), relationships as (
  select source_product_instance_id,
         string_agg(concat('{"relationshipId":"', relationship_id, '","type":"', relationship_type,
             '","targetProductInstanceId":"', target_product_instance_id, '"}'),
           ',' order by created_at, relationship_id) as body
    from product_instance_relationship
   where account_id = $1 and ended_at is null
   group by source_product_instance_id
)
select part, body from (
  select 1 as part, p.created_at, p.product_instance_id as id,
         concat('{"productInstanceId":"', p.product_instance_id, '","name":', to_json(p.name), ',"status":"', p.status,
           '","version":', p.version, ',"subscriptionId":', coalesce('"' || p.subscription_id || '"', 'null'),
           ',"productOfferingId":"', p.product_offering_id, '","productOfferingVersion":', p.product_offering_version,
           ',"configuration":', p.configuration_snapshot, ',"price":', p.price_snapshot, ',"place":', coalesce(p.place::text, 'null'),
           ',"activationDate":', ${instant('p.activation_date')}, ',"terminationDate":', ${instant('p.termination_date')},
           ',"relationships":[', rel.body, '],"serviceInstances":[', s.body, ']}') as body
    from product_instance p
    left join services s on s.product_instance_id = p.product_instance_id
    left join relationships rel on rel.source_product_instance_id = p.product_instance_id
   where p.account_id = $1
  union all
  select 2, created_at, subscription_id,
         concat('{"subscriptionId":"', subscription_id, '","status":"', status, '","version":', version,
           ',"startDate":', ${instant('start_date')}, ',"endDate":', ${instant('end_date')},
           ',"termMonths":', coalesce(term_months::text, 'null'), ',"autoRenew":', auto_renew::text, '}')
    from subscription
   where account_id = $1
) parts
order by part, created_at, id`;

/**
 * The newest state of every entity of one history table recorded at or before $2 (transaction
 * time, decision 0003). The newest versions are found on the narrow key columns first, then
 * their rows fetched: sorting the whole rows to pick them (distinct on) costs twice as much.
 * `|| '{}'` hands on the state decompressed once (jsonb_concat returns its other operand as
 * read), and `materialized` keeps it so: every field taken from a still-compressed state would
 * decompress it again.
 */
const statesAsOf = (table: string, id: string) => `
  select h.after_state || '{}'::jsonb as s
    from (select ${id}, max(version) as version from ${table}
           where account_id = $1 and recorded_at <= $2 group by ${id}) newest
    join ${table} h on h.account_id = $1 and h.${id} = newest.${id} and h.version = newest.version`;

/**
 * A field of a state as `"name":value`, or null when the state has no such key: concat_ws
 * leaves nulls out, as JSON.stringify leaves out an undefined member, so a state recorded
 * before a field existed reads as it did.
 */
const field = (state: string, name: string) => `'"${name}":' || (${state}->'${name}')::text`;
const fields = (state: string, names: string[]) => names.map((n) => field(state, n)).join(', ');
/** Ordered as the current read orders (created_at, then id), on the states' ISO text, byte by byte. */
const byCreation = (state: string, id: string) => `${state}->>'createdAt' collate "C", ${state}->>'${id}' collate "C"`;

/** As recorded at $2, from the history tables; relationships from their validity columns. Parts as in NOW_SQL. */
const AS_OF_SQL = `
with product_states as materialized (${statesAsOf('product_instance_history', 'product_instance_id')}
), service_states as materialized (${statesAsOf('service_instance_history', 'service_instance_id')}
), resource_states as materialized (${statesAsOf('resource_instance_history', 'resource_instance_id')}
), subscription_states as materialized (${statesAsOf('subscription_history', 'subscription_id')}
), resources as (
  select (s->>'serviceInstanceId')::uuid as service_instance_id,
         string_agg('{' || concat_ws(',', ${fields('s', ['resourceInstanceId', 'resourceType', 'resourceId', 'status', 'version'])}) || '}',
           ',' order by ${byCreation('s', 'resourceInstanceId')}) as body
    from resource_states
   group by 1
), services as (
  select (s->>'productInstanceId')::uuid as product_instance_id,
         string_agg('{' || concat_ws(',', ${fields('s', ['serviceInstanceId', 'serviceSpecificationId', 'name', 'status', 'version', 'place', 'externalServiceId', 'technicalParameters'])},
             '"resourceInstances":[' || coalesce(r.body, '') || ']') || '}',
           ',' order by ${byCreation('s', 'serviceInstanceId')}) as body
    from service_states
    left join resources r on r.service_instance_id = (s->>'serviceInstanceId')::uuid
   group by 1
), relationships as (
  select source_product_instance_id,
         string_agg(concat('{"relationshipId":"', relationship_id, '","type":"', relationship_type,
             '","targetProductInstanceId":"', target_product_instance_id, '"}'),
           ',' order by created_at, relationship_id) as body
    from product_instance_relationship
   where account_id = $1 and created_at <= $2 and (ended_at is null or ended_at > $2)
   group by source_product_instance_id
)
select part, body from (
  select 1 as part, p.s->>'createdAt' as created_at, p.s->>'productInstanceId' as id,
         '{' || concat_ws(',', ${fields('p.s', ['productInstanceId', 'name', 'status', 'version', 'subscriptionId', 'productOfferingId',
           'productOfferingVersion', 'configuration', 'price', 'place', 'activationDate', 'terminationDate'])},
           '"relationships":[' || coalesce(rel.body, '') || ']', '"serviceInstances":[' || coalesce(sv.body, '') || ']') || '}' as body
    from product_states p
    left join services sv on sv.product_instance_id = (p.s->>'productInstanceId')::uuid
    left join relationships rel on rel.source_product_instance_id = (p.s->>'productInstanceId')::uuid
  union all
  select 2, s->>'createdAt', s->>'subscriptionId',
         '{' || concat_ws(',', ${fields('s', ['subscriptionId', 'status', 'version', 'startDate', 'endDate', 'termMonths', 'autoRenew'])}) || '}'
    from subscription_states
) parts
order by part, created_at collate "C", id collate "C"`;

/**
 * How many changes the account's installed base has ever recorded: its history rows (every
 * version of a product, service, resource or subscription writes one, rule 3, and none is ever
 * deleted or rewritten) plus its relationships created and ended (they have no history table:
 * a relationship is inserted, and ended once by setting ended_at; it is never deleted). The
 * number only grows, and grows with every change that can alter the installed base now or as of
 * any instant: two reads that see the same number see the same installed base (decision 0021).
 *
 * The history counts are index-only scans of the (account_id, tenant_id, recorded_at) indexes
 * (migration 0015: Row-Level Security's tenant check is an index condition there); the
 * relationships, a few per account, are read from the table for ended_at.
 */
const CHANGES_SQL = `
select (select count(*) from product_instance_history where account_id = $1)
     + (select count(*) from service_instance_history where account_id = $1)
     + (select count(*) from resource_instance_history where account_id = $1)
     + (select count(*) from subscription_history where account_id = $1)
     + (select count(*) + count(ended_at) from product_instance_relationship where account_id = $1) as changes`;

/** The account's change count (CHANGES_SQL): the installed base is the same as long as it is. */
export async function installedBaseChanges(tx: Tx, accountId: string): Promise<number> {
  const [row] = await queryRows<{ changes: number }>(tx, CHANGES_SQL, [accountId]);
  return Number(row!.changes);
}

/** What the account owns now, as JSON text. */
export async function installedBaseTextNow(tx: Tx, accountId: string): Promise<InstalledBaseText> {
  return textOfParts(await queryRows<{ part: number; body: string }>(tx, NOW_SQL, [accountId]));
}

/** What the account owned as recorded at `asOf` (transaction time), rebuilt from history, as JSON text. */
export async function installedBaseTextAsOf(tx: Tx, accountId: string, asOf: string): Promise<InstalledBaseText> {
  return textOfParts(await queryRows<{ part: number; body: string }>(tx, AS_OF_SQL, [accountId, asOf]));
}

/** Rows of products (part 1) then subscriptions (part 2), each in its order, joined. */
function textOfParts(rows: { part: number; body: string }[]): InstalledBaseText {
  const products: string[] = [];
  const subscriptions: string[] = [];
  for (const row of rows) (row.part === 1 ? products : subscriptions).push(row.body);
  return { products: products.join(','), subscriptions: subscriptions.join(',') };
}

/**
 * What an order's submission reads of the account's installed base (assetVersionsInTx), in one
 * statement: each product instance's identity, version, state, offering, subscription, name,
 * activation date and configuration, each subscription's version and state, and the current
 * relationships, each set in its listing's order (listProductInstancesOfAccount,
 * listSubscriptionsOfAccount, listCurrentRelationships) as JSON; timestamps are mapped as those
 * listings' row mappers map them.
 */
export async function findAssetVersions(tx: Tx, accountId: string): Promise<AssetVersions> {
  const [row] = await queryRows<any>(
    tx,
    `select
       (select coalesce(jsonb_agg(jsonb_build_object(
                 'productInstanceId', p.product_instance_id, 'version', p.version, 'status', p.status,
                 'productOfferingId', p.product_offering_id, 'productOfferingVersion', p.product_offering_version,
                 'subscriptionId', p.subscription_id, 'name', p.name, 'activationDate', p.activation_date,
                 'configuration', p.configuration_snapshot) order by p.created_at, p.product_instance_id), '[]'::jsonb)
          from product_instance p where p.account_id = $1) as products,
       (select coalesce(jsonb_agg(jsonb_build_object('subscriptionId', s.subscription_id, 'version', s.version, 'status', s.status)
                 order by s.created_at, s.subscription_id), '[]'::jsonb)
          from subscription s where s.account_id = $1) as subscriptions,
       (select coalesce(jsonb_agg(to_jsonb(r) order by r.created_at, r.relationship_id), '[]'::jsonb)
          from product_instance_relationship r where r.account_id = $1 and r.ended_at is null) as relationships`,
    [accountId],
  );
  const isoOf = (text: string | null) => (text === null ? null : new Date(text).toISOString());
  return {
    products: (row.products as any[]).map((p) => ({ ...p, activationDate: isoOf(p.activationDate) })),
    subscriptions: row.subscriptions,
    relationships: (row.relationships as any[]).map((r) => relationshipFromRow({
      ...r, valid_from: new Date(r.valid_from), valid_to: r.valid_to === null ? null : new Date(r.valid_to),
      created_at: new Date(r.created_at), ended_at: r.ended_at === null ? null : new Date(r.ended_at),
    })),
  };
}

/** An account's assets as a submission reads them (findAssetVersions). */
export interface AssetVersions {
  products: {
    productInstanceId: string;
    version: number;
    status: ProductInstance['status'];
    productOfferingId: string;
    productOfferingVersion: number;
    subscriptionId: string | null;
    name: string;
    activationDate: string | null;
    configuration: ProductInstance['configuration'];
  }[];
  subscriptions: { subscriptionId: string; version: number; status: Subscription['status'] }[];
  relationships: Relationship[];
}
