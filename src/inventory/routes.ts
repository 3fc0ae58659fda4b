/** HTTP → installed-base commands and queries. Command routes keep seed 000 §20.2's shape. */
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { canonicalInstant, contextOf, DateTime, decodeCursor, IdParams, JsonObjectSchema, Page, PageQuery, Uuid } from '../http/http.ts';
import { OPERATION_TYPES, PRODUCT_INSTANCE_STATES, RELATIONSHIP_TYPES } from './model.ts';
import type { InventoryQueries } from './queries.ts';
import type { InventoryService } from './service.ts';
import type { EntityKind, JsonObject } from './types.ts';
import { keysetPage, isKeysetCursor } from '../http/http.ts';
import { PriceSnapshotSchema } from '../pricing/index.ts';


const CauseFields = {
  orderId: Type.Optional(Uuid),
  orderItemId: Type.Optional(Uuid),
  correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  effectiveAt: Type.Optional(DateTime),
};
/** Two-phase commands are always driven by an order item: it holds the guard between phases. */
const OrderedFields = {
  orderId: Uuid,
  orderItemId: Uuid,
  correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  effectiveAt: Type.Optional(DateTime),
};
const Versioned = { expectedVersion: Type.Integer({ minimum: 1, description: 'The version you last read; a stale one is refused with 409 concurrent-modification.' }) };
const OperationType = { operationType: Type.Optional(Type.Union(OPERATION_TYPES.map((t) => Type.Literal(t)), { description: 'The order action the guard is held for; default: the command\'s own.' })) };

const body = <P extends TProperties>(props: P) => Type.Object(props, { additionalProperties: false });

/** The date-time fields of command bodies. */
const INSTANT_FIELDS = ['effectiveAt', 'requestedTerminationDate', 'validFrom', 'validTo', 'newEndDate'] as const;

/**
 * Instants arrive in any RFC 3339 form (`Z`, `+07:00`, with or without fractions); commands
 * store them in entity snapshots and history and compare them as strings, so they get the one
 * canonical UTC form (`toISOString`) here, before any command sees them.
 */
function withCanonicalInstants<T>(input: T): T {
  if (!input || typeof input !== 'object') return input;
  const copy = { ...(input as Record<string, unknown>) };
  for (const field of INSTANT_FIELDS) {
    const value = copy[field];
    if (typeof value === 'string') copy[field] = canonicalInstant(value);
  }
  return copy as T;
}

/** A catalog version, as the catalog numbers them. */
const CatalogVersion = Type.Integer({ minimum: 1, maximum: 2147483647 });

const ProductSnapshot = {
  productOfferingId: Uuid,
  productOfferingVersion: CatalogVersion,
  productSpecificationId: Uuid,
  productSpecificationVersion: CatalogVersion,
  name: Type.String({ minLength: 1, maxLength: 300 }),
  catalogSnapshot: JsonObjectSchema,
  configuration: JsonObjectSchema,
  price: PriceSnapshotSchema,
};

const ModificationChange = Type.Object({
  configuration: Type.Optional(JsonObjectSchema),
  price: Type.Optional(PriceSnapshotSchema),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
  productOfferingVersion: Type.Optional(CatalogVersion),
  catalogSnapshot: Type.Optional(JsonObjectSchema),
}, { additionalProperties: false });

const ProductInstanceSchema = Type.Object({
  productInstanceId: Uuid,
  accountId: Uuid,
  status: Type.Union(PRODUCT_INSTANCE_STATES.map((s) => Type.Literal(s))),
  version: Type.Integer(),
  name: Type.String(),
  subscriptionId: Type.Union([Uuid, Type.Null()]),
}, { additionalProperties: true });

const SubscriptionSchema = Type.Object({
  subscriptionId: Uuid,
  accountId: Uuid,
  status: Type.String(),
  version: Type.Integer(),
  endDate: Type.Union([Type.String(), Type.Null()]),
}, { additionalProperties: true });

const AnyObject = Type.Object({}, { additionalProperties: true });

const HistoryEntrySchema = Type.Object({
  version: Type.Integer(),
  changeType: Type.String(),
  orderId: Type.Union([Uuid, Type.Null()]),
  orderItemId: Type.Union([Uuid, Type.Null()]),
  beforeState: Type.Union([AnyObject, Type.Null()]),
  afterState: AnyObject,
  recordedAt: Type.String({ description: 'Transaction time: when Tenure recorded the change.' }),
  effectiveAt: Type.String({ description: 'Effective time: when the change holds in the business.' }),
  actorApiKeyId: Type.Union([Uuid, Type.Null()]),
  correlationId: Type.Union([Type.String(), Type.Null()]),
});

const HistoryQuery = Type.Object({ ...PageQuery });

export function registerInventoryRoutes(app: FastifyInstance, deps: { inventory: InventoryService; queries: InventoryQueries }): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { inventory, queries } = deps;
  const tags = ['installed base'];
  const commandTags = ['asset commands (internal)'];

  // ------------------------------------------------------------------ reads

  r.get('/accounts/:accountId/installed-base', {
    schema: {
      tags,
      summary: 'What the account owns (seed 000 §20.1), now or as of a past instant',
      description: 'With `asOf`, the installed base is rebuilt from the history tables as it was recorded at that instant (transaction time). '
        + 'Every read checks PostgreSQL: a body the server keeps in memory is sent only while the account has recorded no change since it was built (TENURE_INSTALLED_BASE_CACHE_MB).',
      params: Type.Object({ accountId: Uuid }),
      querystring: Type.Object({ asOf: Type.Optional(DateTime) }),
      response: { 200: AnyObject },
    },
  }, async (request, reply) => {
    const body = await queries.installedBaseBytes(contextOf(request), request.params.accountId, request.query.asOf ? canonicalInstant(request.query.asOf) : null);
    // The body is JSON already (PostgreSQL built it, or the cache kept it: decision 0021): sent
    // as bytes, it skips the serialiser, and a Buffer goes to the socket without another pass.
    return reply.type('application/json; charset=utf-8').send(body);
  });

  r.get('/accounts/:accountId/product-instances', {
    schema: {
      tags,
      summary: 'Product instances of an account',
      params: Type.Object({ accountId: Uuid }),
      querystring: Type.Object({ status: Type.Optional(Type.Union(PRODUCT_INSTANCE_STATES.map((s) => Type.Literal(s)))), ...PageQuery }),
      response: { 200: Page(ProductInstanceSchema) },
    },
  }, async (request) => {
    const limit = request.query.limit ?? 50;
    const after = decodeCursor<{ createdAt: string; id: string }>(request.query.cursor, isKeysetCursor);
    const rows = await queries.listProductInstances(contextOf(request), request.params.accountId, { status: request.query.status }, { after, limit: limit + 1 });
    return keysetPage(rows, limit, (p) => ({ createdAt: p.createdAt, id: p.productInstanceId }));
  });

  const productParams = Type.Object({ accountId: Uuid, id: Uuid });
  r.get('/accounts/:accountId/product-instances/:id', {
    schema: { tags, summary: 'One product instance with its relationships and active operation', params: productParams, response: { 200: ProductInstanceSchema } },
  }, async (request) => queries.productInstance(contextOf(request), request.params.id, request.params.accountId));

  r.get('/product-instances/:id', {
    schema: { tags, summary: 'One product instance (by id alone)', params: IdParams, response: { 200: ProductInstanceSchema } },
  }, async (request) => queries.productInstance(contextOf(request), request.params.id));

  const historyRoute = (path: string, kind: EntityKind, summary: string, withAccount: boolean) =>
    r.get(path, {
      schema: {
        tags,
        summary,
        params: withAccount ? productParams : IdParams,
        querystring: HistoryQuery,
        response: { 200: Page(HistoryEntrySchema) },
      },
    }, async (request) => {
      const params = request.params as { id: string; accountId?: string };
      const limit = request.query.limit ?? 50;
      const after = decodeCursor<{ version: number }>(request.query.cursor, (v) => Number.isSafeInteger(v?.version) && v.version >= 0);
      const rows = await queries.history(contextOf(request), kind, params.id, { afterVersion: after?.version ?? 0, limit: limit + 1 }, params.accountId);
      const items = rows.slice(0, limit);
      return { items, nextCursor: rows.length > limit ? Buffer.from(JSON.stringify({ version: items[items.length - 1].version })).toString('base64url') : null };
    });
  historyRoute('/accounts/:accountId/product-instances/:id/history', 'product_instance', 'Every version of a product instance, oldest first', true);
  historyRoute('/product-instances/:id/history', 'product_instance', 'Every version of a product instance (by id alone)', false);
  historyRoute('/subscriptions/:id/history', 'subscription', 'Every version of a subscription', false);
  historyRoute('/service-instances/:id/history', 'service_instance', 'Every version of a service instance', false);
  historyRoute('/resource-instances/:id/history', 'resource_instance', 'Every version of a resource instance', false);

  r.get('/subscriptions/:id', { schema: { tags, summary: 'One subscription', params: IdParams, response: { 200: SubscriptionSchema } } },
    async (request) => queries.subscription(contextOf(request), request.params.id));
  r.get('/service-instances/:id', { schema: { tags, summary: 'One service instance with its resources', params: IdParams, response: { 200: AnyObject } } },
    async (request) => queries.serviceInstance(contextOf(request), request.params.id));
  r.get('/resource-instances/:id', { schema: { tags, summary: 'One resource instance', params: IdParams, response: { 200: AnyObject } } },
    async (request) => queries.resourceInstance(contextOf(request), request.params.id));

  // ------------------------------------------------------------------ commands

  r.post('/internal/assets/product-instances', {
    schema: {
      tags: commandTags,
      summary: 'Create a product instance (PENDING_ACTIVATION), optionally with a new subscription',
      body: body({
        accountId: Uuid,
        ...ProductSnapshot,
        place: Type.Optional(Type.Union([JsonObjectSchema, Type.Null()])),
        subscriptionId: Type.Optional(Uuid),
        subscription: Type.Optional(body({
          termMonths: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
          billingCycle: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
          autoRenew: Type.Optional(Type.Boolean()),
          agreementId: Type.Optional(Uuid),
          billingAccountId: Type.Optional(Uuid),
          renewalPolicy: Type.Optional(JsonObjectSchema),
        })),
        relationships: Type.Optional(Type.Array(body({
          type: Type.Union(RELATIONSHIP_TYPES.map((t) => Type.Literal(t))),
          sourceProductInstanceId: Type.Optional(Uuid),
          targetProductInstanceId: Type.Optional(Uuid),
        }), { maxItems: 50 })),
        ...CauseFields,
      }),
      response: { 201: Type.Object({ productInstance: ProductInstanceSchema, subscription: Type.Union([SubscriptionSchema, Type.Null()]) }) },
    },
  }, async (request, reply) => {
    const b = withCanonicalInstants(request.body);
    const result = await inventory.createProductInstance(contextOf(request), {
      ...b,
      catalogSnapshot: b.catalogSnapshot as JsonObject,
      configuration: b.configuration as JsonObject,
      price: b.price as JsonObject,
      place: (b.place ?? null) as JsonObject | null,
      subscription: b.subscription ? { ...b.subscription, renewalPolicy: b.subscription.renewalPolicy as JsonObject | undefined } : null,
    });
    return reply.status(201).send(result);
  });

  const productCommand = <B extends TObject>(path: string, summary: string, bodySchema: B, handler: (ctx: ReturnType<typeof contextOf>, id: string, b: Static<B>) => Promise<unknown>, status = 200) =>
    r.post(`/internal/assets/product-instances/:id/${path.replace(':', '::')}`, {
      schema: { tags: commandTags, summary, params: IdParams, body: bodySchema, response: { [status]: AnyObject } },
    }, async (request, reply) => reply.status(status).send((await handler(contextOf(request), request.params.id, withCanonicalInstants(request.body as Static<B>))) as object));

  const Ordered = body({ ...Versioned, ...OrderedFields, ...OperationType });
  productCommand('activation:start', 'Start activation: the order item takes the operation guard', Ordered, (c, id, b) => inventory.startActivation(c, id, b));
  productCommand('activation:complete', 'Complete activation: ACTIVE; services activate; a PENDING subscription starts', Ordered, (c, id, b) => inventory.completeActivation(c, id, b));
  productCommand('activation:fail', 'Fail activation: ERROR with the error recorded', body({ ...Versioned, ...OrderedFields, ...OperationType, error: body({ code: Type.String({ minLength: 1, maxLength: 80 }), message: Type.String({ minLength: 1, maxLength: 2000 }) }) }),
    (c, id, b) => inventory.failActivation(c, id, b));
  productCommand('activation:cancel', 'Cancel an activation that is pending or failed: CANCELLED', Ordered, (c, id, b) => inventory.cancelActivation(c, id, b));
  productCommand('modification:start', 'Start a modification (seed 000 §20.2): PENDING_MODIFICATION, guard held', body({ ...Versioned, ...OrderedFields, ...OperationType, requestedChange: Type.Optional(ModificationChange) }),
    (c, id, b) => inventory.startModification(c, id, b as any));
  productCommand('modification:complete', 'Complete a modification: same id, new version, change applied', body({ ...Versioned, ...OrderedFields, ...OperationType, change: Type.Optional(ModificationChange) }),
    (c, id, b) => inventory.completeModification(c, id, b as any));
  productCommand('modification:cancel', 'Cancel a modification: back to ACTIVE, unchanged', Ordered, (c, id, b) => inventory.cancelModification(c, id, b));
  productCommand('modification:fail', 'Fail a modification: back to ACTIVE, unchanged, with the error recorded', body({ ...Versioned, ...OrderedFields, ...OperationType, error: body({ code: Type.String({ minLength: 1, maxLength: 80 }), message: Type.String({ minLength: 1, maxLength: 2000 }) }) }),
    (c, id, b) => inventory.failModification(c, id, b));
  productCommand('disconnect:start', 'Start a disconnect; ADDON_OF / PARENT_OF children follow in the same transaction', body({ ...Versioned, ...OrderedFields, ...OperationType, reason: Type.Optional(Type.String({ maxLength: 500 })), requestedTerminationDate: Type.Optional(DateTime) }),
    (c, id, b) => inventory.startDisconnect(c, id, b));
  productCommand('disconnect:complete', 'Complete a disconnect: DISCONNECTED, services terminated, resources released', Ordered, (c, id, b) => inventory.completeDisconnect(c, id, b));
  productCommand('suspension:apply', 'Suspend: SUSPENDED, services suspended', body({ ...Versioned, ...CauseFields, ...OperationType, reason: Type.Optional(Type.String({ maxLength: 500 })) }),
    (c, id, b) => inventory.suspend(c, id, b));
  productCommand('resumption:apply', 'Resume: ACTIVE again', body({ ...Versioned, ...CauseFields, ...OperationType }), (c, id, b) => inventory.resume(c, id, b));
  productCommand('move:apply', 'Move to a new place: same product and subscription, new service instances', body({ ...Versioned, ...CauseFields, ...OperationType, place: JsonObjectSchema, serviceInstanceIds: Type.Optional(Type.Array(Uuid, { maxItems: 100 })), technicalParameters: Type.Optional(JsonObjectSchema) }),
    (c, id, b) => inventory.move(c, id, { ...b, place: b.place as JsonObject, technicalParameters: b.technicalParameters as JsonObject | undefined }));
  productCommand('replacement:apply', 'Replace with a new product instance: new REPLACES old, old DISCONNECTED', body({ ...Versioned, ...CauseFields, ...OperationType, replacement: body(ProductSnapshot), place: Type.Optional(JsonObjectSchema) }),
    (c, id, b) => inventory.replace(c, id, { ...b, replacement: b.replacement as any, place: (b.place ?? null) as JsonObject | null }), 201);
  productCommand('service-attachment:apply', 'Attach a service instance to the product instance', body({
    ...CauseFields,
    serviceSpecificationId: Uuid,
    serviceSpecificationVersion: CatalogVersion,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    externalServiceId: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    place: Type.Optional(JsonObjectSchema),
    technicalParameters: Type.Optional(JsonObjectSchema),
  }), (c, id, b) => inventory.attachServiceInstance(c, id, { ...b, place: b.place as JsonObject | undefined, technicalParameters: b.technicalParameters as JsonObject | undefined }), 201);

  const entityCommand = <B extends TObject>(path: string, summary: string, bodySchema: B, handler: (ctx: ReturnType<typeof contextOf>, id: string, b: Static<B>) => Promise<unknown>, status = 200) =>
    r.post(path, { schema: { tags: commandTags, summary, params: IdParams, body: bodySchema, response: { [status]: AnyObject } } },
      async (request, reply) => reply.status(status).send((await handler(contextOf(request), request.params.id, withCanonicalInstants(request.body as Static<B>))) as object));

  entityCommand('/internal/assets/service-instances/:id/release::apply', 'Release (terminate) a service instance and its resources', body({ ...Versioned, ...CauseFields }),
    (c, id, b) => inventory.releaseServiceInstance(c, id, b));
  entityCommand('/internal/assets/service-instances/:id/resource-attachment::apply', 'Attach a resource instance to a service instance', body({
    ...CauseFields,
    resourceType: Type.String({ minLength: 1, maxLength: 80 }),
    resourceId: Type.Optional(Type.String({ minLength: 1, maxLength: 160 })),
    externalResourceId: Type.Optional(Type.String({ minLength: 1, maxLength: 160 })),
    attributes: Type.Optional(JsonObjectSchema),
  }), (c, id, b) => inventory.attachResourceInstance(c, id, { ...b, attributes: b.attributes as JsonObject | undefined }), 201);
  entityCommand('/internal/assets/resource-instances/:id/release::apply', 'Release a resource instance', body({ ...Versioned, ...CauseFields }),
    (c, id, b) => inventory.releaseResourceInstance(c, id, b));

  entityCommand('/internal/assets/subscriptions/:id/renewal::apply', 'Renew: the end date moves, new subscription version, products untouched', body({
    ...Versioned, ...CauseFields,
    termMonths: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    newEndDate: Type.Optional(DateTime),
  }), (c, id, b) => inventory.renewSubscription(c, id, b));
  for (const [verb, command] of [['suspension', 'suspension:apply'], ['resumption', 'resumption:apply'], ['termination', 'termination:apply']] as const) {
    entityCommand(`/internal/assets/subscriptions/:id/${verb}::apply`, `Subscription ${verb}`, body({ ...Versioned, ...CauseFields }),
      (c, id, b) => inventory.changeSubscriptionState(c, id, command, b));
  }

  r.post('/internal/assets/relationships', {
    schema: {
      tags: commandTags,
      summary: 'Relate two product instances of one account: "source TYPE target"',
      body: body({
        sourceProductInstanceId: Uuid,
        targetProductInstanceId: Uuid,
        type: Type.Union(RELATIONSHIP_TYPES.map((t) => Type.Literal(t))),
        validFrom: Type.Optional(DateTime),
        ...CauseFields,
      }),
      response: { 201: AnyObject },
    },
  }, async (request, reply) => reply.status(201).send(await inventory.createRelationship(contextOf(request), withCanonicalInstants(request.body))));

  entityCommand('/internal/assets/relationships/:id/end::apply', 'End a relationship (kept in history)', body({ ...CauseFields, validTo: Type.Optional(DateTime) }),
    (c, id, b) => inventory.endRelationship(c, id, b));
}
