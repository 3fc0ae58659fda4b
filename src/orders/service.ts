/**
 * Orders (seed 000 §11–13): explicit actions against the installed base. Submission is one
 * transaction that validates everything first — targets in the account, expected versions,
 * states, catalog add-on rules, configurations — and then takes the operation guard of every
 * target: the whole order is accepted, or nothing is held.
 */
import { recordAudit } from '../access/audit.ts';
import type { ProductOfferingBody } from '../catalog/model.ts';
import { findOfferingVersion, findProductSpecificationVersion, offeringSellableAt, type OfferingVersion } from '../catalog/service.ts';
import { findAccountInTx, type Account } from '../customers/service.ts';
import { appendToOutbox, buildEvent } from '../events/outbox.ts';
import { assetVersionsInTx } from '../inventory/queries.ts';
import { holdAssetsForOrderInTx, type OrderTarget } from '../inventory/service.ts';
import { listOrderTasksInTx, planAndEnqueueInTx, type TaskView } from '../fulfillment/plan.ts';
import type { CommandContext } from '../inventory/types.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, type Pool, type Tx } from '../platform/db.ts';
import { IllegalTransitionError, NotFoundError, ValidationError, type FieldError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import { validateConfiguration } from '../pricing/configuration.ts';
import { priceItems } from '../pricing/engine.ts';
import { countPromoRedemptions, loadPricingRules } from '../pricing/rule-service.ts';
import type { PricingItem } from '../pricing/types.ts';
import { checkComposition, liveAddOnCounter, type QuoteLine } from '../quotes/model.ts';
import { convertQuoteInTx } from '../quotes/service.ts';
import { TARGET_COMMAND, actionAllowedOn, checkItemDependencies, type OrderAction } from './model.ts';
import * as store from './store.ts';
import type { OrderItemRecord, OrderRecord, StateChange } from './store.ts';

export interface OrderItemInput {
  action: OrderAction;
  /** MODIFY … RENEW: the product instance, and the version you read. */
  productInstanceId?: string;
  expectedVersion?: number;
  /** ADD */
  offeringId?: string;
  offeringVersion?: number;
  configuration?: Record<string, unknown>;
  quantity?: number;
  subscriptionId?: string;
  subscription?: { termMonths?: number; billingCycle?: string; autoRenew?: boolean };
  /** ADD: an add-on of another item of this order (1-based), or of an owned instance. */
  parentItemNumber?: number;
  parentProductInstanceId?: string;
  /** Items (1-based numbers) that must complete before this one starts. */
  dependsOn?: number[];
  place?: Record<string, unknown>;
  /** MODIFY: the configuration change (null removes a characteristic). */
  reason?: string;
  requestedTerminationDate?: string;
  /** REPLACE: the offering that replaces the target. */
  replacementOfferingId?: string;
  /** RENEW */
  termMonths?: number;
  newEndDate?: string;
}

export type Order = OrderRecord & { items: OrderItemRecord[] };

export class OrderService {
  constructor(private readonly deps: { pool: Pool; clock: Clock }) {}

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now().toISOString()));
  }

  async submitOrder(ctx: CommandContext, input: { accountId: string; items: OrderItemInput[]; supplementalOf?: string; externalReference?: string }): Promise<Order> {
    return this.run(ctx, (tx, now) => submitInTx(tx, ctx, now, { ...input, quoteId: null }));
  }

  /** Converts an accepted quote (with its stale check) and submits its order, in one transaction. */
  async submitOrderFromQuote(ctx: CommandContext, input: { quoteId: string; expectedQuoteVersion: number; externalReference?: string }): Promise<Order> {
    return this.run(ctx, async (tx, now) => {
      const { order: draft } = await convertQuoteInTx(tx, ctx, now, input.quoteId, input.expectedQuoteVersion);
      const numberOf = new Map(draft.items.map((i) => [i.lineId, i.lineNumber]));
      const items: OrderItemInput[] = draft.items.map((i) => ({
        action: i.action,
        productInstanceId: i.productInstanceId ?? undefined,
        expectedVersion: i.expectedVersion ?? undefined,
        offeringId: i.offeringId ?? undefined,
        offeringVersion: i.offeringVersion ?? undefined,
        configuration: i.configuration,
        quantity: i.quantity,
        parentItemNumber: i.parentLineId ? numberOf.get(i.parentLineId) : undefined,
        parentProductInstanceId: i.parentProductInstanceId ?? undefined,
      }));
      return submitInTx(tx, ctx, now, { accountId: draft.accountId, items, quoteId: input.quoteId, externalReference: input.externalReference });
    });
  }

  async getOrder(ctx: CommandContext, orderId: string): Promise<Order> {
    return this.run(ctx, async (tx) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      return order;
    });
  }

  async listOrders(ctx: CommandContext, accountId: string, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<Order[]> {
    return this.run(ctx, async (tx) => {
      if (!(await findAccountInTx(tx, accountId))) throw NotFoundError.of('account', accountId);
      const orders: Order[] = [];
      for (const id of await store.listOrderIds(tx, accountId, page.after, page.limit)) orders.push((await store.findOrder(tx, id))!);
      return orders;
    });
  }

  /** The order's fulfillment tasks: status, attempts, next run, last error. */
  async orderTasks(ctx: CommandContext, orderId: string): Promise<TaskView[]> {
    return this.run(ctx, async (tx) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      return listOrderTasksInTx(tx, order.accountId, orderId);
    });
  }

  async orderHistory(ctx: CommandContext, orderId: string): Promise<StateChange[]> {
    return this.run(ctx, async (tx) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      return store.listStateChanges(tx, order.accountId, orderId);
    });
  }
}

async function submitInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  input: { accountId: string; items: OrderItemInput[]; supplementalOf?: string; externalReference?: string; quoteId: string | null },
): Promise<Order> {
  const account = await findAccountInTx(tx, input.accountId);
  if (!account) throw NotFoundError.of('account', input.accountId);
  if (input.supplementalOf) {
    const original = await store.findOrder(tx, input.supplementalOf);
    if (!original || original.accountId !== account.accountId) throw NotFoundError.of('order', input.supplementalOf);
    if (['completed', 'failed', 'partial', 'cancelled'].includes(original.status)) {
      throw new IllegalTransitionError('order', original.orderId, original.status, 'amend (supplemental order)', []);
    }
  }
  const orderId = newId();
  const itemIds = input.items.map(() => newId());

  // ---------------------------------------------------------------- 1. shape of every item
  const errors: FieldError[] = [];
  const assets = await assetVersionsInTx(tx, account.accountId);
  const seenTargets = new Map<string, number>();
  input.items.forEach((item, i) => {
    const at = `/items/${i}`;
    if (item.action === 'ADD') {
      if (!item.offeringId) errors.push({ field: `${at}/offeringId`, message: 'an ADD item names the offering to add' });
      if (item.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: 'an ADD item creates its product instance; it has no target' });
    } else {
      if (!item.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: `a ${item.action} item names its target product instance` });
      if (item.expectedVersion === undefined) errors.push({ field: `${at}/expectedVersion`, message: 'the version of the target you read is required' });
      if (item.productInstanceId && !assets.products.some((p) => p.productInstanceId === item.productInstanceId)) {
        errors.push({ field: `${at}/productInstanceId`, message: `product instance ${item.productInstanceId} is not owned by account ${account.accountId}` });
      }
      if (item.productInstanceId) {
        const other = seenTargets.get(item.productInstanceId);
        if (other !== undefined) errors.push({ field: `${at}/productInstanceId`, message: `item ${other + 1} already changes product instance ${item.productInstanceId}; one action per target per order` });
        seenTargets.set(item.productInstanceId, i);
      }
    }
    if (item.action === 'MOVE' && !item.place) errors.push({ field: `${at}/place`, message: 'a MOVE item names the new place' });
    if (item.action === 'REPLACE' && !item.replacementOfferingId) errors.push({ field: `${at}/replacementOfferingId`, message: 'a REPLACE item names the replacing offering' });
    if (item.action === 'RENEW' && item.termMonths === undefined && item.newEndDate === undefined) {
      errors.push({ field: `${at}/termMonths`, message: 'a RENEW item gives termMonths or newEndDate' });
    }
    if (item.parentItemNumber !== undefined && (item.parentItemNumber < 1 || item.parentItemNumber > input.items.length || item.parentItemNumber === i + 1)) {
      errors.push({ field: `${at}/parentItemNumber`, message: `must be the number (1-${input.items.length}) of another item` });
    }
    if (item.parentProductInstanceId && !assets.products.some((p) => p.productInstanceId === item.parentProductInstanceId)) {
      errors.push({ field: `${at}/parentProductInstanceId`, message: `product instance ${item.parentProductInstanceId} is not owned by account ${account.accountId}` });
    }
  });
  if (errors.length) throw validation(errors);

  const dependencyProblem = checkItemDependencies(input.items.map((item, i) => ({
    itemNumber: i + 1,
    // An add-on waits for its parent item.
    dependsOn: [...(item.dependsOn ?? []), ...(item.parentItemNumber ? [item.parentItemNumber] : [])],
  })));
  if (dependencyProblem) throw validation([{ field: '/items', message: dependencyProblem }]);

  // ---------------------------------------------------------------- 2. states of the targets
  input.items.forEach((item, i) => {
    if (item.action === 'ADD') return;
    const target = assets.products.find((p) => p.productInstanceId === item.productInstanceId)!;
    const verdict = actionAllowedOn(item.action, target.status as never);
    if (!verdict.ok) {
      errors.push({ field: `/items/${i}/action`, message: `product instance ${target.productInstanceId} is ${target.status}: ${item.action} is not allowed; allowed: ${verdict.allowedActions.join(', ') || 'none'}` });
    }
  });
  if (errors.length) throw validation(errors);

  // ---------------------------------------------------------------- 3. catalog: sellable, add-on rules, configuration, price
  const offeringOfItem = new Map<number, OfferingVersion>();
  for (const [i, item] of input.items.entries()) {
    const offeringId = item.action === 'ADD' ? item.offeringId : item.action === 'REPLACE' ? item.replacementOfferingId : undefined;
    if (!offeringId) continue;
    const offering = await findOfferingVersion(tx, offeringId, item.action === 'ADD' ? item.offeringVersion : undefined);
    const field = item.action === 'ADD' ? `/items/${i}/offeringId` : `/items/${i}/replacementOfferingId`;
    if (!offering) errors.push({ field, message: `offering ${offeringId} does not exist` });
    else if (!offeringSellableAt(offering, now)) errors.push({ field, message: `offering ${offering.body.code} version ${offering.version} cannot be sold now (${offering.status}${offering.body.sellable ? '' : ', not sellable'})` });
    else offeringOfItem.set(i, offering);
  }
  if (errors.length) throw validation(errors);

  const lines: QuoteLine[] = input.items.map((item, i) => ({
    lineId: itemIds[i],
    lineNumber: i + 1,
    action: item.action === 'ADD' ? 'ADD' : 'MODIFY',
    offeringId: item.action === 'ADD' ? item.offeringId! : null,
    offeringVersion: offeringOfItem.get(i)?.version ?? null,
    productInstanceId: item.productInstanceId ?? null,
    parentLineId: item.parentItemNumber ? itemIds[item.parentItemNumber - 1] : null,
    parentProductInstanceId: item.parentProductInstanceId ?? null,
    bundleLineId: null,
    configuration: item.configuration ?? {},
    quantity: item.quantity ?? 1,
    usageEstimate: null,
    zone: null,
  }));
  const ownedOfferings = new Map<string, ProductOfferingBody>();
  for (const item of input.items) {
    if (!item.parentProductInstanceId) continue;
    const parent = assets.products.find((p) => p.productInstanceId === item.parentProductInstanceId)!;
    const offering = await findOfferingVersion(tx, parent.productOfferingId, Number(parent.productOfferingVersion) || undefined);
    if (offering) ownedOfferings.set(parent.productInstanceId, offering.body);
  }
  const addOnCount = liveAddOnCounter(assets.products, assets.relationships);
  const composition = checkComposition(
    lines.filter((l) => l.action === 'ADD'),
    (l) => offeringOfItem.get(l.lineNumber - 1)?.body,
    { offeringOfInstance: (id) => ownedOfferings.get(id), existingAddOns: addOnCount },
  );
  if (composition.length) throw validation(composition.map((p) => ({ field: `/items/${lines.findIndex((l) => l.lineId === p.lineId)}`, message: p.message })));

  const configurations = new Map<number, Record<string, unknown>>();
  const pricingItems: PricingItem[] = [];
  for (const [i, item] of input.items.entries()) {
    const offering = offeringOfItem.get(i);
    if (!offering || item.action !== 'ADD') continue;
    const spec = offering.body.productSpecification
      ? await findProductSpecificationVersion(tx, offering.body.productSpecification.id, offering.body.productSpecification.version)
      : null;
    try {
      configurations.set(i, validateConfiguration(spec?.body ?? null, item.configuration ?? {}));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      errors.push(...error.errors.map((e) => ({ field: `/items/${i}${e.field}`, message: e.message })));
      continue;
    }
    pricingItems.push({
      itemId: itemIds[i],
      offering: { id: offering.id, version: offering.version, body: offering.body },
      specification: spec?.body ?? null,
      configuration: configurations.get(i)!,
      quantity: item.quantity ?? 1,
      bundleItemId: item.parentItemNumber && offeringOfItem.get(item.parentItemNumber - 1)?.body.bundle ? itemIds[item.parentItemNumber - 1] : null,
    });
  }
  if (errors.length) throw validation(errors);
  const price = pricingItems.length
    ? await priceOrder(tx, account, pricingItems, now, assets.products.map((p) => p.activationDate).filter((d): d is string => d !== null).sort()[0] ?? null)
    : null;

  // ---------------------------------------------------------------- 4. take every target's guard, or none
  const targets: OrderTarget[] = input.items.flatMap((item, i) => item.action === 'ADD' ? [] : [{
    productInstanceId: item.productInstanceId!,
    expectedVersion: item.expectedVersion!,
    orderId,
    orderItemId: itemIds[i],
    operationType: item.action,
    command: item.action === 'RENEW' ? null : TARGET_COMMAND[item.action],
  }]);
  const { amended } = await holdAssetsForOrderInTx(tx, ctx, now, account.accountId, targets, { supplementalOf: input.supplementalOf ?? null });

  // ---------------------------------------------------------------- 5. write the order
  const order: OrderRecord = {
    orderId,
    accountId: account.accountId,
    status: 'acknowledged',
    quoteId: input.quoteId,
    supplementalOfOrderId: input.supplementalOf ?? null,
    externalReference: input.externalReference ?? null,
    version: 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  };
  await store.insertOrder(tx, ctx.tenantId, order);
  await store.insertStateChange(tx, ctx.tenantId, account.accountId, orderId, { itemId: null, fromStatus: null, toStatus: 'acknowledged', reason: input.quoteId ? `from quote ${input.quoteId}` : 'submitted', recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  const items: OrderItemRecord[] = input.items.map((item, i) => ({
    itemId: itemIds[i],
    itemNumber: i + 1,
    action: item.action,
    status: 'acknowledged',
    productInstanceId: item.productInstanceId ?? null,
    expectedVersion: item.expectedVersion ?? null,
    offeringId: item.action === 'ADD' ? item.offeringId! : null,
    offeringVersion: item.action === 'ADD' ? offeringOfItem.get(i)!.version : null,
    parentItemId: item.parentItemNumber ? itemIds[item.parentItemNumber - 1] : null,
    parentProductInstanceId: item.parentProductInstanceId ?? null,
    dependsOn: [...new Set([...(item.dependsOn ?? []), ...(item.parentItemNumber ? [item.parentItemNumber] : [])])].map((n) => itemIds[n - 1]),
    details: stripUndefined({
      configuration: item.action === 'ADD' ? configurations.get(i) : item.configuration,
      quantity: item.quantity,
      subscriptionId: item.subscriptionId,
      subscription: item.subscription,
      place: item.place,
      reason: item.reason,
      requestedTerminationDate: item.requestedTerminationDate,
      replacementOfferingId: item.replacementOfferingId,
      replacementOfferingVersion: item.action === 'REPLACE' ? offeringOfItem.get(i)?.version : undefined,
      termMonths: item.termMonths,
      newEndDate: item.newEndDate,
      amends: amended.find((a) => a.productInstanceId === item.productInstanceId),
      price: price ? { currency: price.currency, lines: price.lines.filter((l) => l.itemId === itemIds[i]) } : undefined,
    }),
    error: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
  }));
  for (const item of items) {
    await store.insertItem(tx, ctx.tenantId, account.accountId, orderId, item);
    await store.insertStateChange(tx, ctx.tenantId, account.accountId, orderId, { itemId: item.itemId, fromStatus: null, toStatus: 'acknowledged', reason: null, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  }
  // Decomposition: the items' fulfillment tasks are enqueued with the order, or not at all.
  await planAndEnqueueInTx(tx, ctx, now, order, items.map((item) => {
    const target = item.productInstanceId ? assets.products.find((p) => p.productInstanceId === item.productInstanceId) : undefined;
    const targetOffering = target ? { offeringId: target.productOfferingId, offeringVersion: Number(target.productOfferingVersion) || null } : { offeringId: null, offeringVersion: null };
    return {
      itemId: item.itemId,
      action: item.action,
      ...(item.action === 'ADD'
        ? { offeringId: item.offeringId, offeringVersion: item.offeringVersion }
        : item.action === 'REPLACE'
          ? { offeringId: (item.details.replacementOfferingId as string) ?? null, offeringVersion: (item.details.replacementOfferingVersion as number) ?? null, replacedOfferingId: targetOffering.offeringId, replacedOfferingVersion: targetOffering.offeringVersion }
          : targetOffering),
      dependsOnItemIds: item.dependsOn,
    };
  }));
  await appendToOutbox(tx, ctx.tenantId, buildEvent({
    eventType: 'ProductOrderAcknowledged',
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: input.quoteId,
    accountId: account.accountId,
    aggregateType: 'product_order',
    aggregateId: orderId,
    aggregateVersion: 1,
    body: { orderId, status: 'acknowledged', quoteId: input.quoteId, supplementalOfOrderId: order.supplementalOfOrderId, items: items.map((i) => ({ itemId: i.itemId, action: i.action, productInstanceId: i.productInstanceId })) },
  }));
  await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'order.submit', targetType: 'order', targetId: orderId, subjectAccountId: account.accountId, details: { items: items.length, quoteId: input.quoteId } });
  return { ...order, items };
}

async function priceOrder(tx: Tx, account: Account, items: PricingItem[], at: string, customerSince: string | null) {
  const rules = await loadPricingRules(tx, account.accountId, at);
  const promoRedemptions = await countPromoRedemptions(tx, rules.filter((r) => r.type === 'promo').map((r) => r.id));
  return priceItems(items, { accountId: account.accountId, currency: account.currency, at, customerSince, promoCodes: [], rules, promoRedemptions, rounding: 'HALF_UP' });
}

function validation(errors: FieldError[]): ValidationError {
  return new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
}

function stripUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
