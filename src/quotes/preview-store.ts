/**
 * What a price preview reads, in one statement (decision 0020): the account, its installed
 * base (the columns a basket uses), the offerings the lines name with their specifications'
 * rows (documents come from the catalog's cache), and the rules, terms and promo redemptions in
 * force. It names the tables of four parts, on purpose and read-only (eslint.config.js
 * `shared`): each part's own statement for the same rows is cited next to its part below, and
 * the mapping goes through that part's functions (offeringVersionsFromHeads, pricingInputsOf).
 */
import type { Account } from '../customers/index.ts';
import type { OfferingHeads, VersionHead } from '../catalog/index.ts';
import { inTenantStatement, type Pool } from '../platform/db.ts';
import type { AccountTermBody, PriceRuleBody } from '../catalog/index.ts';
import type { AssetVersion } from './model.ts';

/**
 * A timestamp as epoch milliseconds, truncated as pg's Date is (`isoOf` makes it the ISO string
 * the stores' mapping gives): to_char would cost PostgreSQL more than the rest of the row.
 */
const iso = (column: string) => `floor(extract(epoch from ${column}) * 1000)::bigint`;
const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** VersionHead's fields, from a version row `t` (catalog/store.ts headFromRow). */
const head = (t: string, sellable: string) => `json_build_object(
         'tenantId', ${t}.tenant_id, 'id', ${t}.id, 'version', ${t}.version, 'code', ${t}.code, 'status', ${t}.status,
         'createdAt', ${iso(`${t}.created_at`)}, 'publishedAt', ${iso(`${t}.published_at`)}, 'retiredAt', ${iso(`${t}.retired_at`)},
         'sellableFlag', ${sellable}, 'draftBody', case when ${t}.published_at is null then ${t}.body end)`;

/**
 * The statement, with the per-line catalog lookups (`lookup`: parameters $1 account, $2 offering
 * ids, $3 versions, $4 extended instance ids, $5 at) or without them ($1 account, $2 at): a
 * caller that knows the lines' rows at the tenant's catalog revision (knownCatalogs below) sends
 * the smaller one; both answer the revision the statement read.
 */
function previewSql(lookup: boolean): string {
  const at = lookup ? '$5' : '$2';
  return `
  with products as (
    -- inventory: assetVersionsInTx (store.listProductInstancesOfAccount), the columns a basket uses
    select p.product_instance_id, p.version, p.status, p.product_offering_id, p.product_offering_version, p.name,
           p.activation_date, p.configuration_snapshot, p.created_at
      from product_instance p
     where p.account_id = $1
${lookup ? `  ), wanted as (
    -- the lines' offerings (n: their position in $2), and those of the instances they extend
    select w.id, w.version, w.n
      from unnest($2::uuid[], $3::int[]) with ordinality as w (id, version, n)
    union all
    select p.product_offering_id, p.product_offering_version, null
      from products p
     where p.product_instance_id::text = any($4::text[])
` : ''}  ), revision as (
    -- catalog: the tenant's catalog revision (migration 0014), 0 before its first catalog write
    select coalesce((select r.revision from catalog_revision r where r.tenant_id = tenure_current_tenant()), 0) as revision
${lookup ? `  ), found as (
    -- catalog: store.findOfferingHeadsWithSpecifications, without the add-on parents (only an
    -- error message names them: the basket asks for them, and the preview reads them in a transaction)
    select w.id as wanted_id, w.version as wanted_version, w.n, o.product_offering_id as id, o.tenant_id, o.version, o.code, o.status,
           o.created_at, o.published_at, o.retired_at, o.sellable, o.body -> 'productSpecification' as specification_ref,
           case when o.published_at is null then o.body end as body
      from wanted w
     cross join lateral (
           select * from product_offering v
            where v.product_offering_id = w.id
              and (v.version = w.version or (w.version is null and v.published_at is not null))
            order by v.version desc
            limit 1) o
` : ''}  )
  select
    (select revision from revision) as catalog_revision,
    -- customers: findAccountInTx
    (select json_build_object('accountId', a.account_id, 'customerId', a.customer_id, 'name', a.name, 'currency', a.currency,
              'timeZone', a.time_zone, 'segment', a.segment, 'billingCycleDay', a.billing_cycle_day, 'createdAt', ${iso('a.created_at')}, 'updatedAt', ${iso('a.updated_at')})
       from account a where a.account_id = $1) as account,
    coalesce((select json_agg(json_build_object('productInstanceId', p.product_instance_id, 'version', p.version, 'status', p.status,
              'productOfferingId', p.product_offering_id, 'productOfferingVersion', p.product_offering_version, 'name', p.name,
              'activationDate', ${iso('p.activation_date')}, 'configuration', p.configuration_snapshot)
              order by p.created_at, p.product_instance_id)
       from products p), '[]') as products,
    -- inventory: store.listCurrentRelationships
    coalesce((select json_agg(json_build_object('type', r.relationship_type, 'sourceProductInstanceId', r.source_product_instance_id,
              'targetProductInstanceId', r.target_product_instance_id) order by r.created_at, r.relationship_id)
       from product_instance_relationship r where r.account_id = $1 and r.ended_at is null), '[]') as relationships,
${lookup ? `    coalesce((select json_agg(json_build_object('n', f.n, 'wantedId', f.wanted_id, 'wantedVersion', f.wanted_version,
              'offering', ${head('f', 'f.sellable')},
              'specification', case when s.id is null then null else ${head('s', 'null::boolean')} end))
       from found f
       left join lateral (
             select ps.product_specification_id as id, ps.* from product_specification ps
              where ps.product_specification_id = (f.specification_ref ->> 'id')::uuid
                and ps.version = (f.specification_ref ->> 'version')::int
              limit 1) s on true), '[]') as offerings,
` : ''}    -- pricing: rule-store.ts pricingInputsAt (rules in force, promo redemptions; the account's terms)
    coalesce((select json_agg(json_build_object('id', p.rule_id, 'body', p.body,
              'redemptions', case when p.type = 'promo' then (select count(*)::int from promo_redemption r where r.rule_id = p.rule_id) end)
              order by p.priority, p.rule_id)
       from price_rule p where p.retired_at is null or p.retired_at > ${at}), '[]') as rules,
    coalesce((select json_agg(json_build_object('id', t.term_id, 'body', t.body) order by t.created_at, t.term_id)
       from account_price_term t where t.account_id = $1 and (t.ended_at is null or t.ended_at > ${at})), '[]') as terms`;
}

export const PREVIEW_INPUTS_SQL = previewSql(true);
/** Without the lines' catalog rows: for a caller that knows them at the revision it answers. */
export const PREVIEW_KNOWN_SQL = previewSql(false);

export interface PreviewInputs {
  account: Account | null;
  products: AssetVersion[];
  relationships: { type: string; sourceProductInstanceId: string; targetProductInstanceId: string }[];
  /** Each found offering: `n` its 1-based position in `offerings` asked for, null for one of an extended instance. */
  offerings: (Omit<OfferingHeads, 'addOnParents'> & { n: number | null; wantedId: string; wantedVersion: number | null })[];
  rules: { id: string; body: PriceRuleBody; redemptions: number | null }[];
  terms: { id: string; body: AccountTermBody }[];
}

type FoundOffering = PreviewInputs['offerings'][number];

/**
 * The offering rows (with their specifications' rows) that previews found, per tenant, at one
 * catalog revision: while the revision the statement reads is that one, the rows it would look
 * up are these (every write to a version row moves the revision in its own transaction,
 * migration 0014), so the statement skips the per-line lookups and their JSON. When the revision
 * moved, the statement looks them up again, in the same snapshot as the revision it answers.
 * Kept by (id, asked version or current); frozen, so no preview changes another's rows.
 */
const knownCatalogs = new Map<string, { revision: number; found: Map<string, Omit<FoundOffering, 'n'>> }>();
const KNOWN_TENANTS_MAX = 1000;
const KNOWN_ROWS_MAX = 2000;
const wantedKey = (id: string, version: number | null) => `${id}@${version ?? 'current'}`;

function remember(tenantId: string, revision: number, offerings: readonly FoundOffering[]): void {
  let known = knownCatalogs.get(tenantId);
  if (known && revision < known.revision) return; // read at an older snapshot than what is kept
  if (!known || revision > known.revision || known.found.size >= KNOWN_ROWS_MAX) {
    if (!known && knownCatalogs.size >= KNOWN_TENANTS_MAX) knownCatalogs.delete(knownCatalogs.keys().next().value!);
    known = { revision, found: new Map() };
    knownCatalogs.set(tenantId, known);
  }
  for (const { n, ...o } of offerings) if (n !== null) known.found.set(wantedKey(o.wantedId, o.wantedVersion), deepFreeze(o));
}

/** Forgets what previews found (tests that change catalog rows behind the revision's back). */
export function forgetKnownCatalogs(): void {
  knownCatalogs.clear();
}

/**
 * The inputs of a preview of `accountId` at `at`, read under the tenant's role in one round
 * trip (inTenantStatement): `offerings` are the lines' (a version, or null: the current one),
 * `extendedInstanceIds` the instances of the account the lines are add-ons of.
 */
export async function readPreviewInputs(
  pool: Pool,
  tenantId: string,
  input: { accountId: string; offerings: readonly { id: string; version: number | null }[]; extendedInstanceIds: readonly string[]; at: string },
): Promise<PreviewInputs> {
  const known = knownCatalogs.get(tenantId);
  const keys = input.offerings.map((o) => wantedKey(o.id, o.version));
  // The smaller statement only when every line's rows are known (an extended instance's
  // offering comes from the installed base the statement reads, so it is always looked up).
  let row: any;
  if (known && input.extendedInstanceIds.length === 0 && keys.every((k) => known.found.has(k))) {
    [row] = await inTenantStatement<any>(pool, tenantId, PREVIEW_KNOWN_SQL, [input.accountId, input.at]);
    // The catalog moved since: the rows are looked up again (a second round trip, after a change only).
    if (Number(row.catalog_revision) !== known.revision) row = null;
  }
  let offerings: FoundOffering[];
  if (row) {
    offerings = keys.map((k, i) => ({ ...known!.found.get(k)!, n: i + 1 }));
  } else {
    [row] = await inTenantStatement<any>(pool, tenantId, PREVIEW_INPUTS_SQL, [
      input.accountId,
      input.offerings.map((o) => o.id),
      input.offerings.map((o) => o.version),
      input.extendedInstanceIds,
      input.at,
    ]);
    const headOf = (h: any): VersionHead => ({ ...h, createdAt: isoOf(h.createdAt), publishedAt: isoOf(h.publishedAt), retiredAt: isoOf(h.retiredAt) });
    offerings = row.offerings.map((o: any) => ({ ...o, offering: headOf(o.offering), specification: o.specification ? headOf(o.specification) : null }));
    remember(tenantId, Number(row.catalog_revision), offerings);
  }
  const account = row.account;
  return {
    account: account && { ...account, createdAt: isoOf(account.createdAt), updatedAt: isoOf(account.updatedAt) },
    products: row.products.map((p: any) => ({ ...p, activationDate: isoOf(p.activationDate) })),
    relationships: row.relationships,
    offerings,
    rules: row.rules,
    terms: row.terms,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
