/**
 * HTTP → catalog. The four catalog resources share one route shape:
 *
 *   POST {path}                                              create (version 1, draft)   admin
 *   GET  {path}                                              list (current versions)
 *   GET  {path}/{id}                                         current version
 *   GET  {path}/{id}/versions                                every version
 *   POST {path}/{id}/versions                                new draft version          admin
 *   GET  {path}/{id}/versions/{version}                      one version
 *   PUT  {path}/{id}/versions/{version}                      replace a draft            admin
 *   POST {path}/{id}/versions/{version}/publication:apply    publish a draft            admin
 *   POST {path}/{id}/retirement:apply                        retire every version       admin
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, decodeCursor, encodeCursor, getById, IdParams, Page, PageQuery, Uuid, UUID_PATTERN } from '../http/http.ts';
import { LIFECYCLE_STATUSES, ProductOfferingBody } from './model.ts';
import { BODY_SCHEMAS, type CatalogKind, type CatalogService } from './service.ts';
import type { CodeCursor } from './store.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Status = Type.Union(LIFECYCLE_STATUSES.map((s) => Type.Literal(s)));

function VersionSchema<T extends TSchema>(body: T, kind: CatalogKind) {
  return Type.Object({
    id: Uuid,
    version: Type.Integer({ minimum: 1 }),
    code: Type.String(),
    status: Status,
    sellable: Type.Optional(Type.Boolean({
      description: kind === 'product_offering' ? 'Can be sold now: this version is active and its body says sellable.' : 'Offerings only.',
    })),
    draftVersion: Type.Optional(Nullable(Type.Integer({ description: 'The pending draft of this id, if any (current views only).' }))),
    createdAt: Type.String(),
    publishedAt: Nullable(Type.String()),
    retiredAt: Nullable(Type.String()),
    body,
  });
}

const VersionParams = Type.Object({ id: Uuid, version: Type.Integer({ minimum: 1, maximum: 2147483647 }) });
/** Command routes take no body; a POST without one (curl -X POST) reads as `{}`. */
const EmptyBody = Type.Object({}, { additionalProperties: false });
const bodyOptional = async (request: FastifyRequest) => {
  if (request.body === undefined || request.body === null) request.body = {};
};

/** Cursors come back from clients: every part is checked before SQL sees it (no 500 on a forged one). */
const CODE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,79}$/;
const isCodeCursor = (v: any) => v && typeof v.code === 'string' && CODE_PATTERN.test(v.code) && typeof v.id === 'string' && UUID_PATTERN.test(v.id);
const isVersionCursor = (v: any) => Number.isInteger(v?.version) && v.version >= 0 && v.version <= 2147483647;

const RESOURCES: { kind: CatalogKind; path: string; tag: string; what: string }[] = [
  { kind: 'product_offering', path: '/product-offerings', tag: 'catalog: product offerings', what: 'product offering' },
  { kind: 'product_specification', path: '/product-specifications', tag: 'catalog: specifications', what: 'product specification' },
  { kind: 'service_specification', path: '/service-specifications', tag: 'catalog: specifications', what: 'service specification' },
  { kind: 'resource_specification', path: '/resource-specifications', tag: 'catalog: specifications', what: 'resource specification' },
];

export function registerCatalogRoutes(app: FastifyInstance, catalog: CatalogService): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const adminOnly = { adminOnly: true };

  for (const { kind, path, tag, what } of RESOURCES) {
    const tags = [tag];
    const body = BODY_SCHEMAS[kind];
    const Version = VersionSchema(body, kind);

    r.post(path, {
      config: adminOnly,
      schema: { tags, summary: `Create a ${what} (version 1, as a draft)`, body, response: { 201: Version } },
    }, async (request, reply) => reply.status(201).send(await catalog.create(contextOf(request), kind, request.body)));

    if (kind === 'product_offering') {
      r.get(path, {
        schema: {
          tags,
          summary: 'ListProducts: the current version of every offering',
          description: 'One item per offering: its newest published version (or its draft, if never published), with `draftVersion`. '
            + '`sellable=true` lists what can be sold now. Answers are cached per tenant and query; any catalog change is visible on the next read.',
          querystring: Type.Object({
            category: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
            segment: Type.Optional(ProductOfferingBody.properties.segment),
            status: Type.Optional(Status),
            sellable: Type.Optional(Type.Boolean()),
            ...PageQuery,
          }),
          response: { 200: Page(Version) },
        },
      }, async (request) => {
        const { category, segment, status, sellable } = request.query;
        const after = decodeCursor<CodeCursor>(request.query.cursor, isCodeCursor);
        return catalog.listOfferings(contextOf(request), { category, segment, status, sellable, limit: request.query.limit ?? 50, after });
      });
    } else {
      r.get(path, {
        schema: {
          tags,
          summary: `List ${what}s (the current version of each)`,
          querystring: Type.Object({ status: Type.Optional(Status), ...PageQuery }),
          response: { 200: Page(Version) },
        },
      }, async (request) => {
        const after = decodeCursor<CodeCursor>(request.query.cursor, isCodeCursor);
        return catalog.listSpecifications(contextOf(request), kind as Exclude<CatalogKind, 'product_offering'>, { status: request.query.status, limit: request.query.limit ?? 50, after });
      });
    }

    getById(r, `${path}/:id`, { tags, summary: `The current version of a ${what} (newest published; the draft if never published)`, response: Version },
      (ctx, id) => catalog.get(ctx, kind, id));

    r.get(`${path}/:id/versions`, {
      schema: { tags, summary: `Every version of a ${what}, oldest first`, params: IdParams, querystring: Type.Object(PageQuery), response: { 200: Page(Version) } },
    }, async (request) => {
      const limit = request.query.limit ?? 50;
      const after = decodeCursor<{ version: number }>(request.query.cursor, isVersionCursor);
      const rows = await catalog.listVersions(contextOf(request), kind, request.params.id, { afterVersion: after?.version ?? 0, limit: limit + 1 });
      const items = rows.slice(0, limit);
      return { items, nextCursor: rows.length > limit ? encodeCursor({ version: items[items.length - 1].version }) : null };
    });

    r.post(`${path}/:id/versions`, {
      config: adminOnly,
      schema: { tags, summary: `Create the next version of a ${what} as a draft (one draft at a time)`, params: IdParams, body, response: { 201: Version } },
    }, async (request, reply) => reply.status(201).send(await catalog.createVersion(contextOf(request), kind, request.params.id, request.body)));

    r.get(`${path}/:id/versions/:version`, {
      schema: { tags, summary: `One version of a ${what} (every version stays readable)`, params: VersionParams, response: { 200: Version } },
    }, async (request) => catalog.getVersion(contextOf(request), kind, request.params.id, request.params.version));

    r.put(`${path}/:id/versions/:version`, {
      config: adminOnly,
      schema: { tags, summary: `Replace the document of a draft ${what} version (published versions never change)`, params: VersionParams, body, response: { 200: Version } },
    }, async (request) => catalog.replaceDraft(contextOf(request), kind, request.params.id, request.params.version, request.body));

    r.post(`${path}/:id/versions/:version/publication::apply`, {
      config: adminOnly,
      preValidation: bodyOptional,
      schema: {
        tags,
        summary: `Publish a draft ${what} version`,
        description: 'Checks the document and every document it names (which must be published), retires the version it supersedes, and makes it the current version.',
        params: VersionParams,
        body: EmptyBody,
        response: { 200: Version },
      },
    }, async (request) => catalog.publish(contextOf(request), kind, request.params.id, request.params.version));

    r.post(`${path}/:id/retirement::apply`, {
      config: adminOnly,
      preValidation: bodyOptional,
      schema: {
        tags,
        summary: `Retire a ${what}: no version of it is sold any more; every version still reads`,
        params: IdParams,
        body: EmptyBody,
        response: { 200: Version },
      },
    }, async (request) => catalog.retire(contextOf(request), kind, request.params.id));
  }
}
