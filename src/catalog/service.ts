/**
 * Catalog commands and reads (seed 001 ProductService: CreateProduct, GetProduct,
 * ListProducts). Specifications and offerings share one lifecycle, one version per row:
 *
 *   create (v1 draft) → publish (active; the active version it supersedes is retired)
 *   new version (next number, draft; one draft per id) → edit the draft → publish …
 *   retire (every version retired: nothing of it is sold any more; every version still reads)
 *
 * "Current" is the newest published version; only an active version is sold. Older versions
 * stay readable by id and version forever, because product instances and quotes point at them.
 * Each public method is one use case in one transaction; every change bumps the tenant's catalog
 * cache revision after it commits (see cache.ts), so the next read sees it.
 */
import type { TSchema } from '@sinclair/typebox';
import { recordAudit } from '../platform/audit.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, isUniqueViolation, type Pool, type Tx } from '../platform/db.ts';
import {
  BusinessRuleError,
  DraftExistsError,
  DuplicateCodeError,
  IllegalTransitionError,
  NotFoundError,
  ValidationError,
  type FieldError,
} from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import type { CommandContext, JsonObject } from '../platform/context.ts';
import { transition } from '../platform/state-machine.ts';
import { PublishedDocuments, type CatalogCache, type DocumentEntry } from './cache.ts';
import {
  ProductOfferingBody,
  ProductSpecificationBody,
  ResourceSpecificationBody,
  ServiceSpecificationBody,
  VERSION_TRANSITIONS,
  type LifecycleStatus,
  type VersionCommand,
  type Versioned,
} from './model.ts';
import * as store from './store.ts';
import { TABLES, type CatalogKind, type CodeCursor, type VersionHead, type VersionRow } from './store.ts';
import {
  canonicalValidity,
  checkChargeCharacteristics,
  checkCharacteristics,
  checkDistinctRefs,
  checkOfferingDocument,
  checkOfferingRef,
  checkSpecRef,
  groupReferenced,
  normalizeDocument,
} from './validation.ts';

export { CATALOG_KINDS, type CatalogKind, type VersionHead } from './store.ts';

export const BODY_SCHEMAS: Record<CatalogKind, TSchema> = {
  product_offering: ProductOfferingBody,
  product_specification: ProductSpecificationBody,
  service_specification: ServiceSpecificationBody,
  resource_specification: ResourceSpecificationBody,
};

export interface BodyOf {
  product_offering: ProductOfferingBody;
  product_specification: ProductSpecificationBody;
  service_specification: ServiceSpecificationBody;
  resource_specification: ResourceSpecificationBody;
}

/** A version as served: the stored document plus its lifecycle. */
export interface CatalogVersion<B = unknown> extends Versioned<B> {
  code: string;
  /** Offerings only: can be sold now (this version is active and its body says sellable). */
  sellable?: boolean;
  /** On the current view of an id (GET by id, lists): the number of its draft, or null. */
  draftVersion?: number | null;
}

export type OfferingVersion = CatalogVersion<ProductOfferingBody> & { sellable: boolean };
export type ProductSpecificationVersion = CatalogVersion<ProductSpecificationBody>;

export interface OfferingListQuery {
  category?: string;
  segment?: string;
  status?: LifecycleStatus;
  sellable?: boolean;
  limit: number;
  after: CodeCursor | null;
}

export interface CatalogPage<B> {
  items: CatalogVersion<B>[];
  nextCursor: string | null;
}

function view<B>(kind: CatalogKind, row: VersionRow): CatalogVersion<B> {
  const served: CatalogVersion<B> = {
    id: row.id,
    version: row.version,
    code: row.code,
    status: row.status,
    createdAt: row.createdAt,
    publishedAt: row.publishedAt,
    retiredAt: row.retiredAt,
    body: row.body as B,
  };
  if (kind === 'product_offering') served.sellable = row.status === 'active' && row.sellableFlag === true;
  if (row.draftVersion !== undefined) served.draftVersion = row.draftVersion;
  return served;
}

export function encodeCodeCursor(cursor: CodeCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function codePage<B>(kind: CatalogKind, rows: VersionRow[], limit: number): CatalogPage<B> {
  const items = rows.slice(0, limit).map((r) => view<B>(kind, r));
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCodeCursor({ code: last.code, id: last.id }) : null };
}

function validationError(errors: FieldError[]): ValidationError {
  return new ValidationError(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
}

// =================================================================== reads for other parts

/**
 * For other parts (quotes, orders), inside their own tenant transaction: a version of an
 * offering, or its current version (the newest published one, active or retired) when
 * `version` is omitted. Null when there is none. Check `sellable` / offeringSellableAt before
 * selling it.
 */
export async function findOfferingVersion(tx: Tx, id: string, version?: number): Promise<OfferingVersion | null> {
  const row = version === undefined ? await store.findNewestPublished(tx, 'product_offering', id) : await store.findVersion(tx, 'product_offering', id, version);
  return row ? (view<ProductOfferingBody>('product_offering', row) as OfferingVersion) : null;
}

export async function findProductSpecificationVersion(tx: Tx, id: string, version: number): Promise<ProductSpecificationVersion | null> {
  const row = await store.findVersion(tx, 'product_specification', id, version);
  return row ? view<ProductSpecificationBody>('product_specification', row) : null;
}

/** Any catalog entity's version, for parts that need service or resource specifications. */
export async function findCatalogVersion<K extends CatalogKind>(tx: Tx, kind: K, id: string, version: number): Promise<CatalogVersion<BodyOf[K]> | null> {
  const row = await store.findVersion(tx, kind, id, version);
  return row ? view<BodyOf[K]>(kind, row) : null;
}

/** The process's published catalog documents (cache.ts): shared by every pool and tenant, keyed by tenant. */
export const publishedDocuments = new PublishedDocuments();

export interface OfferingWithSpecification {
  offering: OfferingVersion;
  /** The product specification version the offering pins (null: it pins none, or that version is not in the catalog). */
  specification: ProductSpecificationVersion | null;
  /** For an offering that `requiresParent`: the codes of the active offerings that allow it as an add-on (as findAddOnParents); else []. */
  addOnParents: string[];
}

/**
 * For the basket, inside its tenant transaction: many offerings at once — each a version, or
 * with a null version its current one (as findOfferingVersion) — with the product
 * specification each pins (as findProductSpecificationVersion) and, for an add-on, its possible
 * parents (as findAddOnParents); null where there is none.
 * One statement reads the versions' rows (status, which version is current); the documents of
 * published versions come from `publishedDocuments`, and those it lacks from one more
 * statement per kind.
 */
export async function findOfferingVersions(tx: Tx, wanted: readonly { id: string; version: number | null }[]): Promise<(OfferingWithSpecification | null)[]> {
  const rows = await store.findOfferingHeadsWithSpecifications(tx, wanted);
  const documents = await documentsOf(tx, rows.flatMap((r): [CatalogKind, VersionHead][] =>
    [['product_offering', r.offering], ...(r.specification ? [['product_specification', r.specification] as [CatalogKind, VersionHead]] : [])]));
  const versionRow = (head: VersionHead): VersionRow => {
    const { tenantId: _tenant, draftBody: _draft, ...row } = head;
    return { ...row, body: documents.get(head) };
  };
  const result: (OfferingWithSpecification | null)[] = wanted.map(() => null);
  for (const r of rows) {
    result[r.n - 1] = {
      offering: view<ProductOfferingBody>('product_offering', versionRow(r.offering)) as OfferingVersion,
      specification: r.specification ? view<ProductSpecificationBody>('product_specification', versionRow(r.specification)) : null,
      addOnParents: r.addOnParents,
    };
  }
  return result;
}

/**
 * What findOfferingVersions answers, from rows a caller's statement read in its shape
 * (store.findOfferingHeadsWithSpecifications: lifecycle columns, a draft's document; not the
 * add-on parents) with every published document from `publishedDocuments`; null when one is not
 * there (then the caller reads through findOfferingVersions, which loads and keeps it).
 * `documents`, when given, receives the cache entries of the published documents used: a caller
 * that keeps what this answers (rows that stay valid while its catalog revision stays) checks
 * them with documentsStillCached before it uses the answer again.
 */
export function offeringVersionsFromHeads(rows: readonly Omit<OfferingHeads, 'addOnParents'>[], documents?: DocumentEntry[]): Omit<OfferingWithSpecification, 'addOnParents'>[] | null {
  const result: Omit<OfferingWithSpecification, 'addOnParents'>[] = [];
  for (const r of rows) {
    const offering = versionFromHead<ProductOfferingBody>('product_offering', r.offering, documents);
    const specification = r.specification ? versionFromHead<ProductSpecificationBody>('product_specification', r.specification, documents) : null;
    if (!offering || specification === undefined) return null;
    result.push({ offering: offering as OfferingVersion, specification });
  }
  return result;
}

/**
 * True while every one of these published documents (offeringVersionsFromHeads' `documents`) is
 * still cached, so that an answer built from them is what offeringVersionsFromHeads would build
 * now from the same rows; false once one left the cache (then read the rows again).
 */
export function documentsStillCached(documents: readonly DocumentEntry[]): boolean {
  return publishedDocuments.use(documents);
}

/** What view() serves for a head, its document a draft's own or the cached published one; undefined when that is not cached. */
function versionFromHead<B>(kind: CatalogKind, head: VersionHead, documents?: DocumentEntry[]): CatalogVersion<B> | undefined {
  let body: unknown;
  if (head.publishedAt === null) {
    body = head.draftBody;
  } else {
    const entry = publishedDocuments.entry(kind, head.tenantId, head.id, head.version);
    if (entry) documents?.push(entry);
    body = entry?.body;
  }
  if (body === undefined) return undefined;
  return view<B>(kind, {
    id: head.id, version: head.version, code: head.code, status: head.status, body,
    createdAt: head.createdAt, publishedAt: head.publishedAt, retiredAt: head.retiredAt, sellableFlag: head.sellableFlag,
  });
}

/** An offering version's row with the specification version it pins, without published documents. */
export interface OfferingHeads {
  offering: VersionHead;
  specification: VersionHead | null;
  addOnParents: string[];
}

/**
 * The documents of these versions: a draft's came with its row; a published one's comes from
 * `publishedDocuments`, or else from one statement per kind, and is kept there.
 */
async function documentsOf(tx: Tx, heads: readonly [CatalogKind, VersionHead][]): Promise<Map<VersionHead, unknown>> {
  const found = new Map<VersionHead, unknown>();
  const missing = new Map<CatalogKind, VersionHead[]>();
  for (const [kind, head] of heads) {
    const body = head.publishedAt === null ? head.draftBody : publishedDocuments.get(kind, head.tenantId, head.id, head.version);
    if (body !== undefined) found.set(head, body);
    else missing.set(kind, [...(missing.get(kind) ?? []), head]);
  }
  for (const [kind, list] of missing) {
    const loaded = await store.findBodies(tx, kind, list);
    for (const head of list) {
      const body = loaded.get(`${head.id}@${head.version}`);
      found.set(head, body === undefined ? body : publishedDocuments.set(kind, head.tenantId, head.id, head.version, body));
    }
  }
  return found;
}

/**
 * The documents of these versions (drafts too), by `id@version`; a version that does not exist
 * has none. Published documents come from `publishedDocuments` under the transaction's tenant
 * (an entry exists only because a reader of that tenant saw its row), the others from one
 * statement, and the published ones among them are kept there. For readers that need only
 * documents, not a version's lifecycle: a published document never changes.
 */
export async function findCatalogDocuments<K extends CatalogKind>(tx: Tx, tenantId: string, kind: K, refs: readonly { id: string; version: number }[]): Promise<Map<string, BodyOf[K]>> {
  const found = new Map<string, BodyOf[K]>();
  const missing: { id: string; version: number }[] = [];
  for (const ref of refs) {
    const key = `${ref.id}@${ref.version}`;
    if (found.has(key) || missing.some((m) => m.id === ref.id && m.version === ref.version)) continue;
    const body = publishedDocuments.get(kind, tenantId, ref.id, ref.version);
    if (body !== undefined) found.set(key, body as BodyOf[K]);
    else missing.push(ref);
  }
  for (const row of await store.findVersionDocuments(tx, kind, missing)) {
    found.set(`${row.id}@${row.version}`, (row.published ? publishedDocuments.set(kind, row.tenantId, row.id, row.version, row.body) : row.body) as BodyOf[K]);
  }
  return found;
}

/** Which of these offering ids exist (any version, any state): for rules that target offerings. */
export async function findExistingOfferingIds(tx: Tx, ids: string[]): Promise<Set<string>> {
  return store.existingOfferingIds(tx, ids);
}

/** Can this offering version be sold at `at`: active, marked sellable, inside its validity window. */
export function offeringSellableAt(offering: OfferingVersion, at: string): boolean {
  const t = Date.parse(at);
  const { validFrom, validTo } = offering.body;
  return offering.sellable && (!validFrom || Date.parse(validFrom) <= t) && (!validTo || t < Date.parse(validTo));
}

/**
 * The name of a product instance of this offering with this (validated) configuration: the
 * offering's `nameTemplate` with each `{characteristic}` replaced by its value's label (or the
 * value), else the offering's name. A placeholder without a value is left out.
 */
export function instanceNameOf(offering: ProductOfferingBody, specification: ProductSpecificationBody | null, configuration: Record<string, unknown>): string {
  if (!offering.nameTemplate) return offering.name;
  const characteristics = new Map((specification?.characteristics ?? []).map((c) => [c.name, c]));
  const rendered = offering.nameTemplate.replace(/\{([A-Za-z][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
    const value = configuration[name];
    if (value === undefined || value === null) return '';
    const text = Array.isArray(value) ? value.map(String).join(', ') : String(value);
    return characteristics.get(name)?.valueLabels?.[text] ?? text;
  });
  return rendered.replace(/\s+/g, ' ').trim() || offering.name;
}

/**
 * The name an instance has after its configuration changes. A name made by the offering's
 * template (it reads as the template gives it for the old configuration) follows the new
 * configuration; a name someone chose, or an offering without a template, keeps the name.
 */
export function instanceNameAfterChange(
  offering: ProductOfferingBody,
  specification: ProductSpecificationBody | null,
  current: { name: string; configuration: Record<string, unknown> },
  configuration: Record<string, unknown>,
): string {
  if (!offering.nameTemplate || instanceNameOf(offering, specification, current.configuration) !== current.name) return current.name;
  return instanceNameOf(offering, specification, configuration);
}

/**
 * The active offerings whose add-on rules allow each of these offerings: where an offering
 * that `requiresParent` may be sold.
 */
export async function findAddOnParents(tx: Tx, offeringIds: string[]): Promise<Map<string, string[]>> {
  return store.findAddOnParents(tx, offeringIds);
}

/**
 * Why this offering cannot be sold to an account of this segment, or null. An offering for
 * `any` segment sells to every account, and so does every offering to an account whose
 * segment is not set; otherwise the segments must be the same (a residential offering is
 * not sold to a business account). Orders check it for ADD and REPLACE alike, quotes and price
 * previews for every ADD line.
 */
export function whyNotSellableToAccount(offering: Pick<OfferingVersion, 'body'>, account: { accountId: string; segment: string | null }): string | null {
  const segment = offering.body.segment;
  if (segment === 'any' || account.segment === null || segment === account.segment) return null;
  return `offering ${offering.body.code} is for ${segment} customers; account ${account.accountId} is ${account.segment}`;
}

/**
 * The catalog snapshot a product instance keeps (seed 000 §4): enough to rebuild what was sold
 * without the catalog, which may have moved on by then.
 */
export function catalogSnapshotOf(offering: OfferingVersion, specification: ProductSpecificationVersion | null): JsonObject {
  const snapshot = {
    productOfferingId: offering.id,
    productOfferingVersion: offering.version,
    code: offering.code,
    offeringName: offering.body.name,
    category: offering.body.category,
    segment: offering.body.segment,
    lifecycleStatus: offering.status,
    publishedAt: offering.publishedAt,
    productSpecification: specification
      ? { id: specification.id, version: specification.version, code: specification.code, name: specification.body.name, characteristics: specification.body.characteristics }
      : null,
    priceLists: offering.body.priceLists,
  };
  return JSON.parse(JSON.stringify(snapshot)) as JsonObject;
}

// =================================================================== document checks

/** Defaults, schema, and the rules a document obeys on its own. Throws a ValidationError. */
function prepareDocument<K extends CatalogKind>(kind: K, input: unknown, selfId: string): BodyOf[K] {
  const { document, errors } = normalizeDocument<BodyOf[K]>(BODY_SCHEMAS[kind], input);
  if (errors.length) throw validationError(errors);
  const body = (kind === 'product_offering' ? canonicalValidity(document as ProductOfferingBody) : document) as BodyOf[K];
  checkDocument(kind, body, selfId);
  return body;
}

function checkDocument(kind: CatalogKind, body: any, selfId: string): void {
  const errors: FieldError[] = [];
  if (kind === 'product_offering') {
    checkOfferingDocument(body as ProductOfferingBody, selfId, errors);
  } else {
    checkCharacteristics(body.characteristics, '/characteristics', errors);
    if (kind === 'product_specification') checkDistinctRefs(body.serviceSpecifications, '/serviceSpecifications', errors);
    if (kind === 'service_specification') checkDistinctRefs(body.resourceSpecifications, '/resourceSpecifications', errors);
  }
  if (errors.length) throw validationError(errors);
}

/**
 * The documents a document names must exist; when publishing they must be published (and not
 * retired), and they are locked FOR SHARE until the publication commits.
 */
async function checkReferences(tx: Tx, kind: CatalogKind, body: any, selfId: string, publishing: boolean): Promise<void> {
  const load = publishing ? store.lockReferenced : store.findAllVersionsOf;
  const errors: FieldError[] = [];
  switch (kind) {
    case 'product_offering': {
      const offering = body as ProductOfferingBody;
      const ref = offering.productSpecification;
      if (ref) {
        const specs = groupReferenced(await load(tx, 'product_specification', [ref.id]));
        checkSpecRef('/productSpecification', ref, specs, 'product specification', publishing, errors);
        const spec = specs.get(ref.id)?.versions.get(ref.version);
        if (spec) checkChargeCharacteristics(offering, spec.body.characteristics ?? [], errors);
      }
      const memberIds = offering.bundle?.members.map((m) => m.offeringId) ?? [];
      const ids = [...new Set([...offering.addOns.map((a) => a.offeringId), ...memberIds])].filter((id) => id !== selfId);
      const offerings = groupReferenced(await load(tx, 'product_offering', ids));
      offering.addOns.forEach((a, i) => {
        if (a.offeringId !== selfId) checkOfferingRef(`/addOns/${i}/offeringId`, a.offeringId, offerings, 'add-on', publishing, errors);
      });
      offering.bundle?.members.forEach((m, i) => {
        if (m.offeringId !== selfId) checkOfferingRef(`/bundle/members/${i}/offeringId`, m.offeringId, offerings, 'bundle member', publishing, errors);
      });
      break;
    }
    case 'product_specification': {
      const refs = (body as ProductSpecificationBody).serviceSpecifications;
      const found = groupReferenced(await load(tx, 'service_specification', refs.map((r) => r.id)));
      refs.forEach((r, i) => checkSpecRef(`/serviceSpecifications/${i}`, r, found, 'service specification', publishing, errors));
      break;
    }
    case 'service_specification': {
      const refs = (body as ServiceSpecificationBody).resourceSpecifications;
      const found = groupReferenced(await load(tx, 'resource_specification', refs.map((r) => r.id)));
      refs.forEach((r, i) => checkSpecRef(`/resourceSpecifications/${i}`, r, found, 'resource specification', publishing, errors));
      break;
    }
    case 'resource_specification':
      break;
  }
  if (errors.length) throw validationError(errors);
}

/** Locks every version of an id and returns `version`, once its state allows `command`. */
async function lockVersionFor(tx: Tx, kind: CatalogKind, id: string, version: number, command: VersionCommand): Promise<VersionRow> {
  const { label } = TABLES[kind];
  const versions = await store.lockVersions(tx, kind, id);
  if (versions.length === 0) throw NotFoundError.of(label, id);
  const target = versions.find((v) => v.version === version);
  if (!target) throw NotFoundError.of(`${label} version`, `${id} v${version}`);
  const verdict = transition(VERSION_TRANSITIONS, target.status, command);
  if (!verdict.ok) throw new IllegalTransitionError(`${label} version`, `${id} v${version}`, target.status, command, verdict.allowed);
  return target;
}

/** A deadlock between two publications that reference each other is retried, not a 500. */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === '40P01' || code === '40001';
}

// =================================================================== the service

export class CatalogService {
  constructor(private readonly deps: { pool: Pool; clock: Clock; cache: CatalogCache }) {}

  get cache(): CatalogCache {
    return this.deps.cache;
  }

  /** One catalog change: a tenant transaction, then the cache revision bump. */
  private async change<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const now = this.deps.clock.now(ctx.tenantId).toISOString();
      try {
        const result = await inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, now));
        await this.deps.cache.invalidate(ctx.tenantId);
        return result;
      } catch (error) {
        if (attempt >= 3 || !isRetryable(error)) throw error;
      }
    }
  }

  private read<T>(ctx: CommandContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, work);
  }

  private async audit(tx: Tx, ctx: CommandContext, now: string, kind: CatalogKind, action: string, id: string, details: Record<string, unknown>): Promise<void> {
    await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, {
      action: `${kind.replace(/_/g, '-')}.${action}`,
      targetType: kind,
      targetId: id,
      subjectAccountId: null,
      details,
    });
  }

  // ------------------------------------------------------------------ commands

  /** CreateProduct: version 1 of a new id, as a draft. `options.id` fixes the id (demo data, imports). */
  async create<K extends CatalogKind>(ctx: CommandContext, kind: K, input: unknown, options: { id?: string } = {}): Promise<CatalogVersion<BodyOf[K]>> {
    const id = options.id ?? newId();
    const body = prepareDocument(kind, input, id);
    const { label, table } = TABLES[kind];
    return this.change(ctx, async (tx, now) => {
      await checkReferences(tx, kind, body, id, false);
      let row: VersionRow;
      try {
        row = await store.insertDraft(tx, kind, { tenantId: ctx.tenantId, id, version: 1, code: body.code, body, createdAt: now });
      } catch (error) {
        if (isUniqueViolation(error, `${table}_tenant_id_code_version_key`) || isUniqueViolation(error, `${table}_code_stable`)) {
          throw new DuplicateCodeError(`a ${label} with code "${body.code}" exists already; create a new version of it instead`, { code: body.code });
        }
        if (isUniqueViolation(error, `${table}_pkey`)) throw new BusinessRuleError(`${label} ${id} exists already`);
        throw error;
      }
      await this.audit(tx, ctx, now, kind, 'create', id, { version: 1, code: body.code });
      return view<BodyOf[K]>(kind, { ...row, draftVersion: 1 });
    });
  }

  /** A new draft version of an existing id, with a full document (the code stays the id's). */
  async createVersion<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string, input: unknown): Promise<CatalogVersion<BodyOf[K]>> {
    const body = prepareDocument(kind, input, id);
    const { label, table } = TABLES[kind];
    return this.change(ctx, async (tx, now) => {
      const versions = await store.lockVersions(tx, kind, id);
      if (versions.length === 0) throw NotFoundError.of(label, id);
      const code = versions[0].code;
      if (body.code !== code) throw ValidationError.field('/code', `must stay "${code}": the code of ${label} ${id} never changes between versions`);
      if (versions.every((v) => v.status === 'retired')) throw new IllegalTransitionError(label, id, 'retired', 'versions:create', []);
      const draft = versions.find((v) => v.status === 'draft');
      if (draft) {
        throw new DraftExistsError(`${label} ${id} already has draft version ${draft.version}; edit it (PUT …/versions/${draft.version}) or publish it first`, { id, draftVersion: draft.version });
      }
      await checkReferences(tx, kind, body, id, false);
      const version = versions[versions.length - 1].version + 1;
      let row: VersionRow;
      try {
        row = await store.insertDraft(tx, kind, { tenantId: ctx.tenantId, id, version, code, body, createdAt: now });
      } catch (error) {
        // Both only when another transaction added a version since our lock was taken.
        if (isUniqueViolation(error, `${table}_pkey`) || isUniqueViolation(error, `${table}_one_draft`)) {
          throw new DraftExistsError(`another request just created a new version of ${label} ${id}; read it and retry`, { id });
        }
        throw error;
      }
      await this.audit(tx, ctx, now, kind, 'version.create', id, { version, code });
      return view<BodyOf[K]>(kind, { ...row, draftVersion: version });
    });
  }

  /** Replaces the document of a draft (a published version never changes). */
  async replaceDraft<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string, version: number, input: unknown): Promise<CatalogVersion<BodyOf[K]>> {
    const body = prepareDocument(kind, input, id);
    const { label } = TABLES[kind];
    return this.change(ctx, async (tx, now) => {
      const target = await lockVersionFor(tx, kind, id, version, 'draft:replace');
      if (body.code !== target.code) throw ValidationError.field('/code', `must stay "${target.code}": the code of ${label} ${id} never changes`);
      await checkReferences(tx, kind, body, id, false);
      const row = await store.replaceDraftBody(tx, kind, id, version, body);
      await this.audit(tx, ctx, now, kind, 'draft.replace', id, { version });
      return view<BodyOf[K]>(kind, { ...row!, draftVersion: version });
    });
  }

  /**
   * Publishes a draft: checks the document and every document it names (which must be
   * published), retires the version it supersedes and makes it the one that is sold.
   */
  async publish<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string, version: number): Promise<CatalogVersion<BodyOf[K]>> {
    return this.change(ctx, async (tx, now) => {
      const target = await lockVersionFor(tx, kind, id, version, 'publication:apply');
      checkDocument(kind, target.body, id);
      await checkReferences(tx, kind, target.body, id, true);
      const { published, superseded } = await store.publishDraft(tx, kind, id, version, now);
      await this.audit(tx, ctx, now, kind, 'publish', id, { version, code: target.code, supersededVersions: superseded });
      return view<BodyOf[K]>(kind, { ...published!, draftVersion: null });
    });
  }

  /**
   * Retires an id: every version (a pending draft too) becomes retired, so nothing of it is sold
   * any more; each version still reads. Refused while an active document still uses it.
   */
  async retire<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string): Promise<CatalogVersion<BodyOf[K]>> {
    const { label } = TABLES[kind];
    return this.change(ctx, async (tx, now) => {
      const versions = await store.lockVersions(tx, kind, id);
      if (versions.length === 0) throw NotFoundError.of(label, id);
      if (versions.every((v) => v.status === 'retired')) throw new IllegalTransitionError(label, id, 'retired', 'retirement:apply', []);
      const users = await store.findActiveReferrers(tx, kind, id);
      if (users.length > 0) {
        const names = users.map((u) => `${TABLES[u.kind].label} ${u.code} (${u.id} v${u.version})`).join(', ');
        throw new BusinessRuleError(`${label} ${id} is used by active ${names}; retire those, or publish versions of them without it, first`, { usedBy: users });
      }
      const retired = await store.retireAll(tx, kind, id, now);
      await this.audit(tx, ctx, now, kind, 'retire', id, { retiredVersions: retired });
      return view<BodyOf[K]>(kind, (await store.findHead(tx, kind, id))!);
    });
  }

  // ------------------------------------------------------------------ reads

  /** GetProduct: the current version (newest published; the draft if never published), with draftVersion. */
  async get<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string): Promise<CatalogVersion<BodyOf[K]>> {
    return this.read(ctx, async (tx) => {
      const row = await store.findHead(tx, kind, id);
      if (!row) throw NotFoundError.of(TABLES[kind].label, id);
      return view<BodyOf[K]>(kind, row);
    });
  }

  async getVersion<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string, version: number): Promise<CatalogVersion<BodyOf[K]>> {
    return this.read(ctx, async (tx) => {
      const row = await store.findVersion(tx, kind, id, version);
      if (!row) {
        const head = await store.findHead(tx, kind, id);
        throw head ? NotFoundError.of(`${TABLES[kind].label} version`, `${id} v${version}`) : NotFoundError.of(TABLES[kind].label, id);
      }
      return view<BodyOf[K]>(kind, row);
    });
  }

  /** Every version of an id, oldest first. */
  async listVersions<K extends CatalogKind>(ctx: CommandContext, kind: K, id: string, page: { afterVersion: number; limit: number }): Promise<CatalogVersion<BodyOf[K]>[]> {
    return this.read(ctx, async (tx) => {
      const rows = await store.listVersions(tx, kind, id, page.afterVersion, page.limit);
      if (rows.length === 0 && !(await store.findHead(tx, kind, id))) throw NotFoundError.of(TABLES[kind].label, id);
      return rows.map((r) => view<BodyOf[K]>(kind, r));
    });
  }

  async listSpecifications<K extends Exclude<CatalogKind, 'product_offering'>>(
    ctx: CommandContext,
    kind: K,
    query: { status?: LifecycleStatus; limit: number; after: CodeCursor | null },
  ): Promise<CatalogPage<BodyOf[K]>> {
    return this.read(ctx, async (tx) => {
      const rows = await store.listSpecificationHeads(tx, kind, { status: query.status }, query.after, query.limit + 1);
      return codePage<BodyOf[K]>(kind, rows, query.limit);
    });
  }

  /**
   * ListProducts: the current version of every offering, filtered, keyset-paged. Answers come
   * from the catalog cache unless `options.cache` is false (the benchmark compares the two).
   */
  async listOfferings(ctx: CommandContext, query: OfferingListQuery, options: { cache?: boolean } = {}): Promise<CatalogPage<ProductOfferingBody>> {
    const load = () =>
      this.read(ctx, async (tx) => {
        const rows = await store.listOfferingHeads(tx, query, query.after, query.limit + 1);
        return codePage<ProductOfferingBody>('product_offering', rows, query.limit);
      });
    if (options.cache === false) return load();
    // Every field of the query, in a fixed order: equal queries get equal keys.
    const key = JSON.stringify(['product_offering:list', query.category ?? null, query.segment ?? null, query.status ?? null,
      query.sellable ?? null, query.limit, query.after?.code ?? null, query.after?.id ?? null]);
    return this.deps.cache.read(ctx.tenantId, key, load);
  }
}
