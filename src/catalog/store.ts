/**
 * SQL of the catalog: one function per statement. The four catalog tables share one shape
 * (one row per id and version, see migrations/0002_catalog.sql), so the statements take the
 * kind and fill in its table and id column from the fixed TABLES map below (and a condition of
 * the fixed REFERRERS map); nothing else is ever interpolated. product_offering has extra
 * columns copied from the body (category … is_bundle) and its own insert, update and list
 * statements.
 */
import { queryOne, queryRows, type Tx } from '../platform/db.ts';
import type { LifecycleStatus, ProductOfferingBody } from './model.ts';

export const CATALOG_KINDS = ['product_offering', 'product_specification', 'service_specification', 'resource_specification'] as const;
export type CatalogKind = (typeof CATALOG_KINDS)[number];

export const TABLES: Record<CatalogKind, { table: string; id: string; label: string }> = {
  product_offering: { table: 'product_offering', id: 'product_offering_id', label: 'product offering' },
  product_specification: { table: 'product_specification', id: 'product_specification_id', label: 'product specification' },
  service_specification: { table: 'service_specification', id: 'service_specification_id', label: 'service specification' },
  resource_specification: { table: 'resource_specification', id: 'resource_specification_id', label: 'resource specification' },
};

/** A stored version, as read from any of the four tables. */
export interface VersionRow {
  id: string;
  version: number;
  code: string;
  status: LifecycleStatus;
  body: any;
  createdAt: string;
  publishedAt: string | null;
  retiredAt: string | null;
  /** Offerings only: the body's `sellable` flag (not the lifecycle). */
  sellableFlag: boolean | null;
  /** Only when the query asked for it: the id's draft version, if it has one. */
  draftVersion?: number | null;
}

const fromRow = (kind: CatalogKind, r: any): VersionRow => ({
  id: r[TABLES[kind].id],
  version: r.version,
  code: r.code,
  status: r.status,
  body: r.body,
  createdAt: r.created_at.toISOString(),
  publishedAt: r.published_at ? r.published_at.toISOString() : null,
  retiredAt: r.retired_at ? r.retired_at.toISOString() : null,
  sellableFlag: kind === 'product_offering' ? r.sellable : null,
  ...(r.draft_version !== undefined ? { draftVersion: r.draft_version } : {}),
});

// ------------------------------------------------------------------ reads

export async function findVersion(tx: Tx, kind: CatalogKind, id: string, version: number): Promise<VersionRow | undefined> {
  const { table, id: idColumn } = TABLES[kind];
  const row = await queryOne(tx, `select * from ${table} where ${idColumn} = $1 and version = $2`, [id, version]);
  return row ? fromRow(kind, row) : undefined;
}

/**
 * The head of an id: its newest published version (active, or retired), or, when it was never
 * published, its newest version (its draft, or that draft retired); with the number of its
 * pending draft, if any.
 */
export async function findHead(tx: Tx, kind: CatalogKind, id: string): Promise<VersionRow | undefined> {
  const { table, id: idColumn } = TABLES[kind];
  const row = await queryOne(
    tx,
    `select v.*, (select d.version from ${table} d where d.${idColumn} = v.${idColumn} and d.status = 'draft') as draft_version
       from ${table} v
      where v.${idColumn} = $1
      order by (v.published_at is null), v.version desc
      limit 1`,
    [id],
  );
  return row ? fromRow(kind, row) : undefined;
}

/** The newest published version (active or retired); drafts are never "current". */
export async function findNewestPublished(tx: Tx, kind: CatalogKind, id: string): Promise<VersionRow | undefined> {
  const { table, id: idColumn } = TABLES[kind];
  const row = await queryOne(
    tx,
    `select * from ${table} where ${idColumn} = $1 and published_at is not null order by version desc limit 1`,
    [id],
  );
  return row ? fromRow(kind, row) : undefined;
}

/** A version's row without its document, unless it is a draft (whose document may still change). */
export interface VersionHead extends Omit<VersionRow, 'body'> {
  tenantId: string;
  /** Drafts only; a published version's document never changes and is read by findBodies. */
  draftBody: unknown;
}

/** A VersionHead from columns named as in the tables, each prefixed with `p` (the specification's: `s_`). */
const headFromRow = (kind: CatalogKind, r: any, p = ''): VersionHead => ({
  id: r[p + 'id'],
  version: r[p + 'version'],
  code: r[p + 'code'],
  status: r[p + 'status'],
  createdAt: r[p + 'created_at'].toISOString(),
  publishedAt: r[p + 'published_at'] ? r[p + 'published_at'].toISOString() : null,
  retiredAt: r[p + 'retired_at'] ? r[p + 'retired_at'].toISOString() : null,
  sellableFlag: kind === 'product_offering' ? r[p + 'sellable'] : null,
  tenantId: r[p + 'tenant_id'],
  draftBody: r[p + 'draft_body'],
});

/**
 * For each wanted offering (a version, or with a null version its newest published one), in
 * one statement: the version's row and the row of the product specification version it pins,
 * without their documents (drafts excepted); and, for an offering that `requiresParent`, the
 * codes of the active offerings that list it in their addOns (as findAddOnParents). `n` is the
 * 1-based position in `wanted`; a wanted offering that does not exist has no row.
 */
export async function findOfferingHeadsWithSpecifications(
  tx: Tx,
  wanted: readonly { id: string; version: number | null }[],
): Promise<{ n: number; offering: VersionHead; specification: VersionHead | null; addOnParents: string[] }[]> {
  if (wanted.length === 0) return [];
  const rows = await queryRows<any>(
    tx,
    `with found as (
       select w.n, o.*, coalesce((o.body ->> 'requiresParent')::boolean, false) as requires_parent
         from unnest($1::uuid[], $2::int[]) with ordinality as w (id, version, n)
        cross join lateral (
              select * from product_offering v
               where v.product_offering_id = w.id
                 and (v.version = w.version or (w.version is null and v.published_at is not null))
               order by v.version desc
               limit 1) o
     ), parents as (
       select a.child, array_agg(p.code order by p.code) as codes
         from product_offering p
        cross join lateral (select r ->> 'offeringId' as child from jsonb_array_elements(p.body -> 'addOns') r) a
        where p.status = 'active'
          and a.child in (select f.product_offering_id::text from found f where f.requires_parent)
        group by a.child
     )
     select f.n, f.tenant_id, f.product_offering_id as id, f.version, f.code, f.status, f.created_at, f.published_at, f.retired_at, f.sellable,
            case when f.published_at is null then f.body end as draft_body,
            case when f.requires_parent then coalesce(parents.codes, '{}') else '{}' end as add_on_parents,
            s.tenant_id as s_tenant_id, s.product_specification_id as s_id, s.version as s_version, s.code as s_code, s.status as s_status,
            s.created_at as s_created_at, s.published_at as s_published_at, s.retired_at as s_retired_at,
            case when s.published_at is null then s.body end as s_draft_body
       from found f
       left join parents on parents.child = f.product_offering_id::text
       left join product_specification s
              on s.product_specification_id = (f.body -> 'productSpecification' ->> 'id')::uuid
             and s.version = (f.body -> 'productSpecification' ->> 'version')::int`,
    [wanted.map((w) => w.id), wanted.map((w) => w.version)],
  );
  return rows.map((r) => ({
    n: Number(r.n),
    offering: headFromRow('product_offering', r),
    specification: r.s_id ? headFromRow('product_specification', r, 's_') : null,
    addOnParents: r.add_on_parents,
  }));
}

/** The documents of these versions (keyed `${id}@${version}`). */
export async function findBodies(tx: Tx, kind: CatalogKind, versions: readonly { id: string; version: number }[]): Promise<Map<string, unknown>> {
  if (versions.length === 0) return new Map();
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows<{ id: string; version: number; body: unknown }>(
    tx,
    `select t.${idColumn} as id, t.version, t.body
       from unnest($1::uuid[], $2::int[]) as w (id, version)
       join ${table} t on t.${idColumn} = w.id and t.version = w.version`,
    [versions.map((v) => v.id), versions.map((v) => v.version)],
  );
  return new Map(rows.map((r) => [`${r.id}@${r.version}`, r.body]));
}

/**
 * Versions by (id, version) with their documents and whether each is published, in one
 * statement: for readers that need only documents (fulfillment's specification trees), which
 * keep the published ones in process (service.ts, publishedDocuments).
 */
export async function findVersionDocuments(tx: Tx, kind: CatalogKind, versions: readonly { id: string; version: number }[]): Promise<{ tenantId: string; id: string; version: number; published: boolean; body: unknown }[]> {
  if (versions.length === 0) return [];
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows<{ tenant_id: string; id: string; version: number; published: boolean; body: unknown }>(
    tx,
    `select t.tenant_id, t.${idColumn} as id, t.version, t.published_at is not null as published, t.body
       from unnest($1::uuid[], $2::int[]) as w (id, version)
       join ${table} t on t.${idColumn} = w.id and t.version = w.version`,
    [versions.map((v) => v.id), versions.map((v) => v.version)],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id, version: r.version, published: r.published, body: r.body }));
}

/** Every version of an id, oldest first, from `afterVersion` on. */
export async function listVersions(tx: Tx, kind: CatalogKind, id: string, afterVersion: number, limit: number): Promise<VersionRow[]> {
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows(
    tx,
    `select * from ${table} where ${idColumn} = $1 and version > $2 order by version limit $3`,
    [id, afterVersion, limit],
  );
  return rows.map((r) => fromRow(kind, r));
}

/**
 * Locks every version of an id (oldest first) for the command that is about to change it, so
 * that two commands on one id run one after the other.
 */
export async function lockVersions(tx: Tx, kind: CatalogKind, id: string): Promise<VersionRow[]> {
  const { table, id: idColumn } = TABLES[kind];
  // The tenant's catalog revision first (migration 0014): a write to a version row moves it
  // (a trigger), so every command that writes locks it; locking it before any version row keeps
  // one order of locks across the tenant's commands (no deadlock on it).
  await queryRows(tx, `insert into catalog_revision (tenant_id, revision) values (tenure_current_tenant(), 1)
    on conflict (tenant_id) do update set revision = catalog_revision.revision + 1`, []);
  const rows = await queryRows(tx, `select * from ${table} where ${idColumn} = $1 order by version for update`, [id]);
  return rows.map((r) => fromRow(kind, r));
}

/**
 * Every version of the given ids, locked FOR SHARE: a publication that references them holds
 * them until it commits, so a concurrent retirement of one of them (which updates the rows)
 * waits, and then sees the new reference and refuses.
 */
export async function lockReferenced(tx: Tx, kind: CatalogKind, ids: string[]): Promise<VersionRow[]> {
  if (ids.length === 0) return [];
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows(tx, `select * from ${table} where ${idColumn} = any($1::uuid[]) order by ${idColumn}, version for share`, [ids]);
  return rows.map((r) => fromRow(kind, r));
}

/** Every version of the given ids (no lock): for checks on a draft, which publication repeats. */
export async function findAllVersionsOf(tx: Tx, kind: CatalogKind, ids: string[]): Promise<VersionRow[]> {
  if (ids.length === 0) return [];
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows(tx, `select * from ${table} where ${idColumn} = any($1::uuid[]) order by ${idColumn}, version`, [ids]);
  return rows.map((r) => fromRow(kind, r));
}

/**
 * Which kind references each kind, and the condition on the referrer's body that finds the
 * references to an id ($2: the reference as jsonb, or for a specification of an offering the id as text).
 */
const REFERRERS: Record<CatalogKind, { kind: CatalogKind; names: string; reference: (id: string) => string }> = {
  product_offering: {
    kind: 'product_offering',
    names: `(body -> 'addOns' @> $2::jsonb or body -> 'bundle' -> 'members' @> $2::jsonb)`,
    reference: (id) => JSON.stringify([{ offeringId: id }]),
  },
  product_specification: { kind: 'product_offering', names: `body -> 'productSpecification' ->> 'id' = $2::text`, reference: (id) => id },
  service_specification: { kind: 'product_specification', names: `body -> 'serviceSpecifications' @> $2::jsonb`, reference: (id) => JSON.stringify([{ id }]) },
  resource_specification: { kind: 'service_specification', names: `body -> 'resourceSpecifications' @> $2::jsonb`, reference: (id) => JSON.stringify([{ id }]) },
};

/** The active versions that reference `id` (a retirement of `id` would strand them). */
export async function findActiveReferrers(tx: Tx, kind: CatalogKind, id: string): Promise<{ kind: CatalogKind; id: string; version: number; code: string }[]> {
  const referrer = REFERRERS[kind];
  const { table, id: idColumn } = TABLES[referrer.kind];
  // `<> $1`: an offering that lists itself does not hold itself up.
  const rows = await queryRows<{ id: string; version: number; code: string }>(
    tx,
    `select ${idColumn} as id, version, code from ${table}
      where status = 'active' and ${idColumn} <> $1 and ${referrer.names}`,
    [id, referrer.reference(id)],
  );
  return rows.map((r) => ({ kind: referrer.kind, id: r.id, version: r.version, code: r.code }));
}

/** For each offering id, the codes of the active offerings that list it in their addOns. */
export async function findAddOnParents(tx: Tx, ids: string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return result;
  const rows = await queryRows<{ child: string; code: string }>(
    tx,
    `select a.child, o.code from product_offering o
       cross join lateral (select r ->> 'offeringId' as child from jsonb_array_elements(o.body -> 'addOns') r) a
      where o.status = 'active' and a.child = any($1::text[])
      order by o.code`,
    [ids],
  );
  for (const row of rows) result.get(row.child)?.push(row.code);
  return result;
}

/** Which of these offering ids exist (in any version or state). */
export async function existingOfferingIds(tx: Tx, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await queryRows<{ id: string }>(
    tx,
    'select distinct product_offering_id as id from product_offering where product_offering_id = any($1::uuid[])',
    [ids],
  );
  return new Set(rows.map((r) => r.id));
}

export interface OfferingFilter {
  category?: string;
  segment?: string;
  status?: LifecycleStatus;
  sellable?: boolean;
}

export interface CodeCursor {
  code: string;
  id: string;
}

/**
 * ListProducts (seed 001): the head of every offering (see findHead), filtered on the columns
 * copied from the body, in code order, keyset-paged on (code, id). `sellable` means "can be
 * sold now": the head is active and its body says sellable.
 */
export async function listOfferingHeads(tx: Tx, filter: OfferingFilter, after: CodeCursor | null, limit: number): Promise<VersionRow[]> {
  const rows = await queryRows(
    tx,
    `with head as (
       select distinct on (product_offering_id) *
         from product_offering
        order by product_offering_id, (published_at is null), version desc
     )
     select head.*,
            (select d.version from product_offering d
              where d.product_offering_id = head.product_offering_id and d.status = 'draft') as draft_version
       from head
      where ($1::text is null or category = $1)
        and ($2::text is null or segment = $2)
        and ($3::text is null or status = $3)
        and ($4::boolean is null or (status = 'active' and sellable) = $4)
        and ($5::text is null or (code, product_offering_id) > ($5::text, $6::uuid))
      order by code, product_offering_id
      limit $7`,
    [filter.category ?? null, filter.segment ?? null, filter.status ?? null, filter.sellable ?? null, after?.code ?? null, after?.id ?? null, limit],
  );
  return rows.map((r) => fromRow('product_offering', r));
}

/** The specifications' list: the head of every id, optionally of one status, in code order. */
export async function listSpecificationHeads(tx: Tx, kind: Exclude<CatalogKind, 'product_offering'>, filter: { status?: LifecycleStatus }, after: CodeCursor | null, limit: number): Promise<VersionRow[]> {
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows(
    tx,
    `with head as (
       select distinct on (${idColumn}) *
         from ${table}
        order by ${idColumn}, (published_at is null), version desc
     )
     select head.*,
            (select d.version from ${table} d where d.${idColumn} = head.${idColumn} and d.status = 'draft') as draft_version
       from head
      where ($1::text is null or status = $1)
        and ($2::text is null or (code, ${idColumn}) > ($2::text, $3::uuid))
      order by code, ${idColumn}
      limit $4`,
    [filter.status ?? null, after?.code ?? null, after?.id ?? null, limit],
  );
  return rows.map((r) => fromRow(kind, r));
}

// ------------------------------------------------------------------ writes

/** The product_offering columns that copy body fields, so the list can filter on them. */
function offeringColumns(body: ProductOfferingBody) {
  return [body.category, body.segment, body.sellable, body.validFrom ?? null, body.validTo ?? null, body.bundle !== undefined];
}

export async function insertDraft(tx: Tx, kind: CatalogKind, row: { tenantId: string; id: string; version: number; code: string; body: unknown; createdAt: string }): Promise<VersionRow> {
  if (kind === 'product_offering') {
    const inserted = await queryOne(
      tx,
      `insert into product_offering (tenant_id, product_offering_id, version, code, status, body,
         category, segment, sellable, valid_from, valid_to, is_bundle, created_at)
       values ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11, $12) returning *`,
      [row.tenantId, row.id, row.version, row.code, row.body, ...offeringColumns(row.body as ProductOfferingBody), row.createdAt],
    );
    return fromRow(kind, inserted);
  }
  const { table, id: idColumn } = TABLES[kind];
  const inserted = await queryOne(
    tx,
    `insert into ${table} (tenant_id, ${idColumn}, version, code, status, body, created_at)
     values ($1, $2, $3, $4, 'draft', $5, $6) returning *`,
    [row.tenantId, row.id, row.version, row.code, row.body, row.createdAt],
  );
  return fromRow(kind, inserted);
}

/** Replaces a draft's document (the trigger refuses it for any other status). */
export async function replaceDraftBody(tx: Tx, kind: CatalogKind, id: string, version: number, body: unknown): Promise<VersionRow | undefined> {
  if (kind === 'product_offering') {
    const updated = await queryOne(
      tx,
      `update product_offering
          set body = $3, category = $4, segment = $5, sellable = $6, valid_from = $7, valid_to = $8, is_bundle = $9
        where product_offering_id = $1 and version = $2 and status = 'draft' returning *`,
      [id, version, body, ...offeringColumns(body as ProductOfferingBody)],
    );
    return updated ? fromRow(kind, updated) : undefined;
  }
  const { table, id: idColumn } = TABLES[kind];
  const updated = await queryOne(
    tx,
    `update ${table} set body = $3 where ${idColumn} = $1 and version = $2 and status = 'draft' returning *`,
    [id, version, body],
  );
  return updated ? fromRow(kind, updated) : undefined;
}

/**
 * Publishes a draft: first retires the version it supersedes (the partial unique index allows
 * one active version per id), then activates the draft.
 */
export async function publishDraft(tx: Tx, kind: CatalogKind, id: string, version: number, at: string): Promise<{ published: VersionRow | undefined; superseded: number[] }> {
  const { table, id: idColumn } = TABLES[kind];
  const superseded = await queryRows<{ version: number }>(
    tx,
    `update ${table} set status = 'retired', retired_at = $2 where ${idColumn} = $1 and status = 'active' returning version`,
    [id, at],
  );
  const published = await queryOne(
    tx,
    `update ${table} set status = 'active', published_at = $3
      where ${idColumn} = $1 and version = $2 and status = 'draft' returning *`,
    [id, version, at],
  );
  return { published: published ? fromRow(kind, published) : undefined, superseded: superseded.map((r) => r.version) };
}

/** Retires every version of an id that is not retired yet (its draft, if any, included). */
export async function retireAll(tx: Tx, kind: CatalogKind, id: string, at: string): Promise<number[]> {
  const { table, id: idColumn } = TABLES[kind];
  const rows = await queryRows<{ version: number }>(
    tx,
    `update ${table} set status = 'retired', retired_at = $2 where ${idColumn} = $1 and status <> 'retired' returning version`,
    [id, at],
  );
  return rows.map((r) => r.version);
}
