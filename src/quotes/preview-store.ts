/**
 * What a price preview reads, in one statement (decision 0020): the account, its installed
 * base (the columns a basket uses), the offerings the lines name with their specifications'
 * rows (documents come from the catalog's cache), and the rules, terms and promo redemptions in
 * force. It names the tables of four parts, on purpose and read-only (eslint.config.js
 * `shared`): each part's own statement for the same rows is cited next to its part below, and
 * the mapping goes through that part's functions (offeringVersionsFromHeads, pricingInputsOf).
 */
import type { Account } from '../customers/index.ts';
import { documentsStillCached, offeringVersionsFromHeads, type DocumentEntry, type OfferingHeads, type VersionHead } from '../catalog/index.ts';
import { inTenantStatement, type Pool } from '../platform/db.ts';
import type { AccountTermBody, PriceRuleBody } from '../catalog/index.ts';
import type { PreloadedOffering } from './basket.ts';
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
  /**
   * The offerings as the basket takes them preloaded (catalog views, `addOnParents` not read):
   * the lines' in the order asked, then those of the extended instances. Null when a published
   * document is not in the process's cache: the preview goes through a transaction, which reads
   * and keeps it.
   */
  offerings: PreloadedOffering[] | null;
  rules: { id: string; body: PriceRuleBody; redemptions: number | null }[];
  terms: { id: string; body: AccountTermBody }[];
}

type Found = PreloadedOffering['found'];
type Heads = Omit<OfferingHeads, 'addOnParents'>;
/**
 * A line's offering as a preview found it: its rows (lifecycle columns), and the catalog views
 * the basket takes, built once from them and the published documents they use (null until every
 * document was in the cache).
 */
interface Kept {
  heads: Heads;
  views: { found: Found; documents: DocumentEntry[] } | null;
}

/** The views of a kept row: kept ones while their documents are still cached, else built again (null: a document is not cached). */
function viewsOf(kept: Kept): Found | null {
  if (kept.views && documentsStillCached(kept.views.documents)) return kept.views.found;
  const documents: DocumentEntry[] = [];
  const [version] = offeringVersionsFromHeads([kept.heads], documents) ?? [];
  kept.views = version ? { found: deepFreeze({ ...version, addOnParents: null }), documents } : null;
  return kept.views?.found ?? null;
}

const knownCatalogs = new Map<string, { revision: number; found: Map<string, Map<number | null, Kept>>; size: number }>();
const KNOWN_TENANTS_MAX = 1000;
const KNOWN_ROWS_MAX = 2000;

function remember(tenantId: string, revision: number, wanted: readonly { id: string; version: number | null }[], kept: readonly (Kept | null)[]): void {
  let known = knownCatalogs.get(tenantId);
  if (known && revision < known.revision) return; // read at an older snapshot than what is kept
  if (!known || revision > known.revision || known.size >= KNOWN_ROWS_MAX) {
    if (!known && knownCatalogs.size >= KNOWN_TENANTS_MAX) knownCatalogs.delete(knownCatalogs.keys().next().value!);
    known = { revision, found: new Map(), size: 0 };
    knownCatalogs.set(tenantId, known);
  }
  wanted.forEach((w, i) => {
    const k = kept[i];
    if (!k) return;
    let versions = known.found.get(w.id);
    if (!versions) known.found.set(w.id, (versions = new Map()));
    if (!versions.has(w.version)) known.size++;
    versions.set(w.version, k);
  });
}

/** Forgets what previews found (tests that change catalog rows behind the revision's back). */
export function forgetKnownCatalogs(): void {
  knownCatalogs.clear();
}

/** The kept offerings of these lines at the tenant's kept revision, when every one is kept. */
function keptFor(tenantId: string, wanted: readonly { id: string; version: number | null }[]): { revision: number; kept: Kept[] } | null {
  const known = knownCatalogs.get(tenantId);
  if (!known) return null;
  const kept: Kept[] = [];
  for (const w of wanted) {
    const k = known.found.get(w.id)?.get(w.version);
    if (!k) return null;
    kept.push(k);
  }
  return { revision: known.revision, kept };
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
  // The smaller statement only when every line's offering is kept (an extended instance's
  // offering comes from the installed base the statement reads, so it is always looked up).
  const known = input.extendedInstanceIds.length === 0 ? keptFor(tenantId, input.offerings) : null;
  let row: any;
  if (known) {
    [row] = await inTenantStatement<any>(pool, tenantId, PREVIEW_KNOWN_SQL, [input.accountId, input.at]);
    // The catalog moved since: the rows are looked up again (a second round trip, after a change only).
    if (Number(row.catalog_revision) !== known.revision) row = null;
  }
  let offerings: PreloadedOffering[] | null;
  if (row) {
    const found = known!.kept.map(viewsOf);
    offerings = found.includes(null) ? null : input.offerings.map((w, i) => ({ id: w.id, version: w.version, found: found[i]! }));
  } else {
    [row] = await inTenantStatement<any>(pool, tenantId, PREVIEW_INPUTS_SQL, [
      input.accountId,
      input.offerings.map((o) => o.id),
      input.offerings.map((o) => o.version),
      input.extendedInstanceIds,
      input.at,
    ]);
    offerings = offeringsOf(tenantId, Number(row.catalog_revision), input, row);
  }
  const account = row.account;
  const products: AssetVersion[] = row.products.map((p: any) => ({ ...p, activationDate: isoOf(p.activationDate) }));
  if (offerings && input.extendedInstanceIds.length > 0) {
    const extended = extendedOfferings(input.extendedInstanceIds, products, row.offerings);
    offerings = extended && offerings.concat(extended);
  }
  return {
    account: account && { ...account, createdAt: isoOf(account.createdAt), updatedAt: isoOf(account.updatedAt) },
    products,
    relationships: row.relationships,
    offerings,
    rules: row.rules,
    terms: row.terms,
  };
}

const headOf = (h: any): VersionHead => ({ ...h, createdAt: isoOf(h.createdAt), publishedAt: isoOf(h.publishedAt), retiredAt: isoOf(h.retiredAt) });
const keptOf = (found: any): Kept => ({ heads: deepFreeze({ offering: headOf(found.offering), specification: found.specification ? headOf(found.specification) : null }), views: null });

/** The lines' offerings from the full statement's rows (kept for the next previews); null when a document is not cached. */
function offeringsOf(tenantId: string, revision: number, input: { offerings: readonly { id: string; version: number | null }[] }, row: any): PreloadedOffering[] | null {
  const kept: (Kept | null)[] = input.offerings.map(() => null);
  for (const found of row.offerings) if (found.n !== null) kept[found.n - 1] = keptOf(found);
  remember(tenantId, revision, input.offerings, kept);
  const found = kept.map((k) => (k ? viewsOf(k) : null));
  if (kept.some((k, i) => k && !found[i])) return null;
  return input.offerings.map((w, i) => ({ id: w.id, version: w.version, found: found[i] ?? null }));
}

/** The offerings of the instances the lines extend, at the versions they were sold under; null when a document is not cached. */
function extendedOfferings(ids: readonly string[], products: readonly AssetVersion[], rows: readonly any[]): PreloadedOffering[] | null {
  const result: PreloadedOffering[] = [];
  for (const id of ids) {
    const asset = products.find((p) => p.productInstanceId === id);
    if (!asset) continue;
    const row = rows.find((r) => r.n === null && r.wantedId === asset.productOfferingId && r.wantedVersion === asset.productOfferingVersion);
    const found = row ? viewsOf(keptOf(row)) : null;
    if (row && !found) return null;
    result.push({ id: asset.productOfferingId, version: asset.productOfferingVersion, found });
  }
  return result;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
