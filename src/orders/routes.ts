/** HTTP → orders. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, DateTime, decodeCursor, IdParams, isKeysetCursor, keysetPage, JsonObjectSchema, Page, PageQuery, Uuid } from '../http/http.ts';
import { ORDER_ACTIONS } from './actions/index.ts';
import type { InFlightOrders } from './in-flight.ts';
import type { OrderService } from './service.ts';

const ItemInput = Type.Object({
  action: Type.Union(ORDER_ACTIONS.map((a) => Type.Literal(a))),
  productInstanceId: Type.Optional(Uuid),
  expectedVersion: Type.Optional(Type.Integer({ minimum: 1 })),
  offeringId: Type.Optional(Uuid),
  offeringVersion: Type.Optional(Type.Integer({ minimum: 1 })),
  configuration: Type.Optional(JsonObjectSchema),
  zone: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'ADD, REPLACE: the availability zone it is sold in; an offering that lists zones is refused outside them' })),
  quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  subscriptionId: Type.Optional(Uuid),
  subscription: Type.Optional(Type.Object({
    termMonths: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    billingCycle: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    autoRenew: Type.Optional(Type.Boolean()),
    renewalPolicy: Type.Optional(Type.Object({
      type: Type.Optional(Type.Union([Type.Literal('same-term'), Type.Literal('evergreen')], { description: 'same-term (default): an auto-renewal adds the term; evergreen: one billing period, for ever.' })),
      noticeDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 366, description: 'Days before the end at which the auto-renewal is made (default 0).' })),
    }, { additionalProperties: false })),
    startDate: Type.Optional(DateTime),
  }, { additionalProperties: false, description: 'ADD: the subscription created with the item. With `startDate` it starts (PENDING → ACTIVE) at that date, by the scheduler; without, with the product\'s activation.' })),
  parentItemNumber: Type.Optional(Type.Integer({ minimum: 1 })),
  parentProductInstanceId: Type.Optional(Uuid),
  dependsOn: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 100 })),
  place: Type.Optional(JsonObjectSchema),
  reason: Type.Optional(Type.String({ maxLength: 500 })),
  requestedTerminationDate: Type.Optional(DateTime),
  replacementOfferingId: Type.Optional(Uuid),
  termMonths: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
  newEndDate: Type.Optional(DateTime),
}, { additionalProperties: false });

const AnyObject = Type.Object({}, { additionalProperties: true });

export function registerOrderRoutes(app: FastifyInstance, deps: { orders: OrderService; inFlightOrders: InFlightOrders }): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['orders'];
  const { orders, inFlightOrders } = deps;

  r.post('/accounts/:accountId/orders', {
    schema: {
      tags,
      summary: 'Submit an order: every item validated, then every target\'s operation guard taken — all or nothing',
      description: 'A target held by another order in flight is 409 operation-in-progress naming that order, unless this order is a supplemental order of it (`supplementalOf`): then the items of that order holding this order\'s targets, and those in `cancelItems`, are withdrawn first (409 point-of-no-return when started work cannot be undone). DISCONNECT and SUSPEND of a base product add items for its add-ons (RESUME too, for suspended ones).',
      params: Type.Object({ accountId: Uuid }),
      body: Type.Object({
        items: Type.Array(ItemInput, { maxItems: 200 }),
        supplementalOf: Type.Optional(Uuid),
        cancelItems: Type.Optional(Type.Array(Uuid, { maxItems: 200, description: 'A supplemental order: items of the amended order to cancel' })),
        externalReference: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      }, { additionalProperties: false }),
      response: { 201: AnyObject },
    },
  }, async (request, reply) => reply.status(201).send(await orders.submitOrder(contextOf(request), {
    accountId: request.params.accountId,
    ...request.body,
    items: request.body.items.map((i) => ({
      ...i,
      configuration: i.configuration as Record<string, unknown> | undefined,
      place: i.place as Record<string, unknown> | undefined,
      requestedTerminationDate: i.requestedTerminationDate ? new Date(i.requestedTerminationDate).toISOString() : undefined,
      newEndDate: i.newEndDate ? new Date(i.newEndDate).toISOString() : undefined,
    })),
  })));

  r.post('/quotes/:id/order', {
    schema: {
      tags,
      summary: 'Submit the order of an accepted quote (converts it, with the stale check, in the same transaction)',
      params: IdParams,
      body: Type.Object({ expectedQuoteVersion: Type.Integer({ minimum: 1 }), externalReference: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false }),
      response: { 201: AnyObject },
    },
  }, async (request, reply) => reply.status(201).send(await orders.submitOrderFromQuote(contextOf(request), { quoteId: request.params.id, ...request.body })));

  r.get('/accounts/:accountId/orders', {
    schema: { tags, summary: 'Orders of an account', params: Type.Object({ accountId: Uuid }), querystring: Type.Object(PageQuery), response: { 200: Page(AnyObject) } },
  }, async (request) => {
    const limit = request.query.limit ?? 50;
    const after = decodeCursor<{ createdAt: string; id: string }>(request.query.cursor, isKeysetCursor);
    const rows = await orders.listOrders(contextOf(request), request.params.accountId, { after, limit: limit + 1 });
    return keysetPage(rows, limit, (o) => ({ createdAt: o.createdAt, id: o.orderId }));
  });

  r.get('/orders/:id', { schema: { tags, summary: 'One order with its items', params: IdParams, response: { 200: AnyObject } } },
    async (request) => orders.getOrder(contextOf(request), request.params.id));

  r.get('/orders/:id/tasks', { schema: { tags, summary: 'The order\'s fulfillment tasks with their dependencies, attempts, next run and last error', params: IdParams, response: { 200: AnyObject } } },
    async (request) => ({ items: await orders.orderTasks(contextOf(request), request.params.id), nextCursor: null }));

  const Reason = Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });
  r.post('/orders/:id/hold', {
    schema: { tags, summary: 'Hold an order: tasks not yet started wait until the hold is released (TMF622 held)', params: IdParams, body: Reason, response: { 200: AnyObject } },
  }, async (request) => orders.setHeld(contextOf(request), request.params.id, true, request.body.reason ?? null));
  r.post('/orders/:id/release-hold', {
    schema: { tags, summary: 'Release the hold of an order: its tasks run again', params: IdParams, body: Reason, response: { 200: AnyObject } },
  }, async (request) => orders.setHeld(contextOf(request), request.params.id, false, request.body.reason ?? null));

  r.get('/orders/:id/history', { schema: { tags, summary: 'Every state change of the order and its items', params: IdParams, response: { 200: AnyObject } } },
    async (request) => ({ items: await orders.orderHistory(contextOf(request), request.params.id), nextCursor: null }));

  // Re-run and cancel change the order's tasks too: the API document lists them with fulfillment's operations.
  const fulfillmentTags = ['fulfillment'];
  r.post('/orders/:id/rerun', {
    config: { adminOnly: true },
    schema: {
      tags: fulfillmentTags,
      summary: 'Re-run the failed work of an order (seed 003 B2): failed items take their assets again, their failed tasks run again with fresh attempts',
      description: 'Admin only, audited. Re-running an order with nothing failed changes nothing and returns the same view.',
      params: IdParams,
      response: { 200: AnyObject },
    },
  }, async (request) => inFlightOrders.rerunOrder(contextOf(request), request.params.id));

  r.post('/orders/:id/cancel', {
    schema: {
      tags: fulfillmentTags,
      summary: 'Cancel an order in flight: tasks not started are cancelled, done work that can be undone is compensated',
      description: 'Refused with 409 point-of-no-return, changing nothing, when a started task is past its point of no return. The order is pendingCancellation while compensations run, then cancelled (or partial when some items had completed).',
      params: IdParams,
      body: Reason,
      response: { 200: AnyObject },
    },
  }, async (request) => inFlightOrders.cancelOrder(contextOf(request), request.params.id, request.body.reason ?? 'cancelled by request'));
}
