/**
 * The new product instances of an order's ADD items, at its submission: for each, what
 * createProductInstance and then startActivation do one by one — the instance PENDING_ACTIVATION
 * (version 1, CREATED) in a subscription it joins or one created with it, its ADDON_OF link to
 * its base, its audit row, then its activation started (version 2, ACTIVATION_STARTED) under a
 * guard held by its order item — with every row, version, history row, audit row and outbox
 * event exactly as those commands write them, but all of them in one statement
 * (store.insertNewAssetsWithRecords). What the commands read again (the account, the catalog
 * versions, the subscription or the instance just written) the caller gives or this command
 * already has.
 */
import { addMonths } from './subscriptions.ts';
import { scheduleSubscriptionDates } from './subscription-dates.ts';
import type { OfferingVersion, ProductSpecificationVersion } from '../../catalog/index.ts';
import { eventPayload, type OutboxEvent } from '../../events/index.ts';
import { BusinessRuleError, InvalidRelationshipError, NotFoundError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { productEvent, relationshipEvent, subscriptionEvent } from '../events.ts';
import { PRODUCT_INSTANCE_TRANSITIONS } from '../model.ts';
import { correlationOf, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { EntityKind, Guard, JsonObject, ProductInstance, Relationship, Subscription } from '../types.ts';
import { checkPriceCurrency, checkProductReferences } from './catalog-references.ts';
import type { NewSubscriptionInput, ProductSnapshotInput } from './lifecycle.ts';

export interface PendingProductInput extends ProductSnapshotInput {
  orderId: string;
  orderItemId: string;
  /** The catalog versions the snapshot names, as the caller read them in this transaction. */
  read: { offering: OfferingVersion; specification: ProductSpecificationVersion | null };
  place: JsonObject | null;
  /** The subscription it joins (an existing one, or that of an earlier input of this call), or the one created with it. */
  subscription: { join: string } | { joinOf: number } | { create: NewSubscriptionInput };
  /** The product instance it is an add-on of (ADDON_OF): an existing one, or that of an earlier input. */
  addOnOf: { existing: string } | { of: number } | null;
}

export interface PendingProduct {
  productInstance: ProductInstance;
  /** The subscription it is in. */
  subscriptionId: string | null;
  /** The subscription created with it, if any. */
  subscription: Subscription | null;
}

/**
 * Creates the instances, in input order (an input names only earlier ones). Checks as
 * createProductInstance does — the catalog references, the price's currency, a joined
 * subscription's account and state, an add-on base in the account — and throws before writing
 * anything.
 *
 * The relationship rules hold without a lock on the account's relationships or a read of them
 * (addRelationship takes both, to serialise changes that could each add half of a cycle): every
 * link here starts at an instance this transaction creates, which no other transaction can see
 * or link to, and ends at an existing instance or an earlier input's. A new instance's only
 * incoming links come from later new instances, so no cycle can pass through it; ADDON_OF has
 * no one-parent rule, and a link from a new instance duplicates none.
 */
export async function createPendingProductsForOrder(
  u: Unit,
  account: { accountId: string; customerId: string; currency: string; timeZone: string },
  inputs: readonly PendingProductInput[],
): Promise<PendingProduct[]> {
  const { tx, ctx, now } = u;
  // Checks first, reads only for what is outside this call.
  for (const [k, input] of inputs.entries()) {
    const { offering, specification } = input.read;
    const same = offering.id === input.productOfferingId && offering.version === input.productOfferingVersion
      && specification !== null && specification.id === input.productSpecificationId && specification.version === input.productSpecificationVersion
      && offering.body.productSpecification?.id === specification.id && offering.body.productSpecification?.version === specification.version;
    // What the caller read proves the references; anything else is checked as createProductInstance does.
    if (!same) await checkProductReferences(u, input, '');
    checkPriceCurrency(account.currency, input.price, '/price');
    const earlier = (n: number) => Number.isInteger(n) && n >= 0 && n < k;
    if ('joinOf' in input.subscription && !earlier(input.subscription.joinOf)) throw new Error(`input ${k} joins the subscription of input ${input.subscription.joinOf}, which is not an earlier one`);
    if (input.addOnOf && 'of' in input.addOnOf && !earlier(input.addOnOf.of)) throw new Error(`input ${k} is an add-on of input ${input.addOnOf.of}, which is not an earlier one`);
  }
  const joined = new Map<string, Subscription>();
  for (const input of inputs) {
    if (!('join' in input.subscription) || joined.has(input.subscription.join)) continue;
    const subscription = await store.findSubscription(tx, input.subscription.join);
    if (!subscription || subscription.accountId !== account.accountId) throw NotFoundError.of('subscription', input.subscription.join);
    if (subscription.status === 'TERMINATED' || subscription.status === 'EXPIRED') {
      throw new BusinessRuleError(`subscription ${subscription.subscriptionId} is ${subscription.status}; a product cannot join it`);
    }
    joined.set(subscription.subscriptionId, subscription);
  }
  const bases = new Set<string>();
  for (const input of inputs) {
    if (!input.addOnOf || !('existing' in input.addOnOf) || bases.has(input.addOnOf.existing)) continue;
    const base = await store.findProductInstance(tx, input.addOnOf.existing);
    if (!base) throw NotFoundError.of('product instance', input.addOnOf.existing);
    if (base.accountId !== account.accountId) {
      throw new InvalidRelationshipError(`product instance ${base.productInstanceId} belongs to another account; relationships stay within one account`, { rule: 'cross-account' });
    }
    bases.add(base.productInstanceId);
  }

  const rows: store.NewAssetRows = { subscriptions: [], products: [], relationships: [], guards: [], subscriptionHistory: [], productHistory: [], audits: [], events: [] };
  const tenantId = ctx.tenantId;
  const actorApiKeyId = ctx.actor?.apiKeyId ?? null;
  const event = (e: OutboxEvent) => rows.events.push({
    tenant_id: tenantId, account_id: e.accountId, event_id: e.eventId, event_type: e.eventType, event_version: e.eventVersion,
    aggregate_type: e.aggregateType, aggregate_id: e.aggregateId, aggregate_version: e.aggregateVersion, payload: eventPayload(e), occurred_at: e.occurredAt,
  });
  const auditRow = (action: string, targetType: string, targetId: string, details: Record<string, unknown>, correlationId: string | null) => rows.audits.push({
    audit_id: newId(), tenant_id: tenantId, actor_api_key_id: actorApiKeyId, actor_role: ctx.actor?.role ?? null, action, target_type: targetType,
    target_id: targetId, subject_account_id: account.accountId, correlation_id: correlationId, details, recorded_at: now,
  });
  const history = (kind: EntityKind, entityId: string, before: object | null, after: { version: number }, changeType: string, cause: { orderId: string; orderItemId: string }, effectiveAt: string) =>
    (kind === 'subscription' ? rows.subscriptionHistory : rows.productHistory).push({
      tenant_id: tenantId, account_id: account.accountId, [kind === 'subscription' ? 'subscription_id' : 'product_instance_id']: entityId,
      version: after.version, history_id: newId(), change_type: changeType, changed_by_order_id: cause.orderId, changed_by_order_item_id: cause.orderItemId,
      before_state: before, after_state: after, recorded_at: now, effective_at: effectiveAt, actor_api_key_id: actorApiKeyId,
      correlation_id: correlationOf(u, cause),
    });

  const created: PendingProduct[] = [];
  const start = PRODUCT_INSTANCE_TRANSITIONS['activation:start'];
  for (const input of inputs) {
    const cause = { orderId: input.orderId, orderItemId: input.orderItemId };
    const effectiveAt = now;
    // createProductInstance: the subscription, the instance, its link, its audit row.
    let subscription: Subscription | null = null;
    let subscriptionId: string | null;
    if ('create' in input.subscription) {
      const wanted = input.subscription.create;
      const startDate = wanted.startDate ? new Date(wanted.startDate).toISOString() : null;
      const endDate = startDate && wanted.termMonths ? addMonths(startDate, wanted.termMonths, account.timeZone) : null;
      subscription = {
        subscriptionId: newId(),
        accountId: account.accountId,
        customerId: account.customerId,
        agreementId: wanted.agreementId ?? null,
        billingAccountId: wanted.billingAccountId ?? null,
        status: 'PENDING',
        startDate,
        endDate,
        commitmentStartDate: startDate,
        commitmentEndDate: endDate,
        termMonths: wanted.termMonths ?? null,
        billingCycle: wanted.billingCycle ?? null,
        autoRenew: wanted.autoRenew ?? false,
        renewalPolicy: wanted.renewalPolicy ?? {},
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      subscriptionId = subscription.subscriptionId;
      rows.subscriptions.push(subscriptionRow(tenantId, subscription));
      history('subscription', subscription.subscriptionId, null, subscription, 'CREATED', cause, effectiveAt);
      event(subscriptionEvent(u, 'SubscriptionCreated', null, subscription, cause, { operation: 'ADD' }));
    } else {
      subscriptionId = 'join' in input.subscription ? input.subscription.join : created[input.subscription.joinOf].subscriptionId;
    }
    const v1: ProductInstance = {
      productInstanceId: newId(),
      accountId: account.accountId,
      customerId: account.customerId,
      subscriptionId,
      productOfferingId: input.productOfferingId,
      productOfferingVersion: input.productOfferingVersion,
      productSpecificationId: input.productSpecificationId,
      productSpecificationVersion: input.productSpecificationVersion,
      name: input.name,
      status: 'PENDING_ACTIVATION',
      actionOriginOrderId: input.orderId,
      actionOriginOrderItemId: input.orderItemId,
      activationDate: null,
      terminationDate: null,
      effectiveFrom: effectiveAt,
      effectiveTo: null,
      place: input.place ?? null,
      catalogSnapshot: input.catalogSnapshot,
      configuration: input.configuration,
      price: input.price,
      pendingChange: null,
      lastError: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    history('product_instance', v1.productInstanceId, null, v1, 'CREATED', cause, effectiveAt);
    event(productEvent(u, 'ProductInstanceCreated', null, v1, cause, { operation: 'ADD' }));
    if (input.addOnOf) {
      const target = 'existing' in input.addOnOf ? input.addOnOf.existing : created[input.addOnOf.of].productInstance.productInstanceId;
      const relationship: Relationship = {
        relationshipId: newId(),
        accountId: account.accountId,
        sourceProductInstanceId: v1.productInstanceId,
        targetProductInstanceId: target,
        type: 'ADDON_OF',
        validFrom: effectiveAt,
        validTo: null,
        createdByOrderId: input.orderId,
        createdByOrderItemId: input.orderItemId,
        createdAt: now,
        endedAt: null,
      };
      rows.relationships.push({
        tenant_id: tenantId, account_id: relationship.accountId, relationship_id: relationship.relationshipId,
        source_product_instance_id: relationship.sourceProductInstanceId, target_product_instance_id: relationship.targetProductInstanceId,
        relationship_type: relationship.type, valid_from: relationship.validFrom, valid_to: null, created_by_order_id: relationship.createdByOrderId,
        created_by_order_item_id: relationship.createdByOrderItemId, created_at: relationship.createdAt, ended_at: null,
      });
      event(relationshipEvent(u, 'ProductInstanceRelationshipCreated', relationship, input.orderItemId, { validFrom: effectiveAt }));
    }
    auditRow('product-instance.create', 'product_instance', v1.productInstanceId, {}, ctx.correlationId);

    // startActivation: the guard of its order item, version 2 with its history, event and audit row.
    const guard: Guard = {
      guardId: newId(), accountId: account.accountId, productInstanceId: v1.productInstanceId, orderId: input.orderId, orderItemId: input.orderItemId,
      operationType: 'ADD', status: 'ACTIVE', acquiredAt: now, releasedAt: null,
    };
    rows.guards.push({
      tenant_id: tenantId, account_id: guard.accountId, guard_id: guard.guardId, product_instance_id: guard.productInstanceId, order_id: guard.orderId,
      order_item_id: guard.orderItemId, operation_type: guard.operationType, status: 'ACTIVE', correlation_id: ctx.correlationId, acquired_at: now,
    });
    const v2: ProductInstance = { ...v1, lastError: null, status: start.to, version: 2, updatedAt: now };
    history('product_instance', v2.productInstanceId, v1, v2, start.changeType, cause, effectiveAt);
    event(productEvent(u, start.event, v1, v2, cause, { operation: 'ADD', command: 'activation:start', previousStatus: v1.status }));
    auditRow('product-instance.activation.start', 'product_instance', v2.productInstanceId, {}, correlationOf(u, cause));
    rows.products.push(productRow(tenantId, v2));
    created.push({ productInstance: v2, subscriptionId, subscription });
  }
  if (created.length) await store.insertNewAssetsWithRecords(tx, rows);
  // A subscription sold with a start date starts at that date, by the scheduler (none without one: no statement).
  for (const c of created) if (c.subscription?.startDate) await scheduleSubscriptionDates(u, c.subscription, account.timeZone);
  return created;
}

function subscriptionRow(tenantId: string, s: Subscription): Record<string, unknown> {
  return {
    tenant_id: tenantId, account_id: s.accountId, subscription_id: s.subscriptionId, customer_id: s.customerId, agreement_id: s.agreementId,
    billing_account_id: s.billingAccountId, status: s.status, start_date: s.startDate, end_date: s.endDate, commitment_start_date: s.commitmentStartDate,
    commitment_end_date: s.commitmentEndDate, term_months: s.termMonths, billing_cycle: s.billingCycle, auto_renew: s.autoRenew,
    renewal_policy: s.renewalPolicy, version: s.version, created_at: s.createdAt, updated_at: s.updatedAt,
  };
}

function productRow(tenantId: string, p: ProductInstance): Record<string, unknown> {
  return {
    tenant_id: tenantId, account_id: p.accountId, product_instance_id: p.productInstanceId, customer_id: p.customerId, subscription_id: p.subscriptionId,
    product_offering_id: p.productOfferingId, product_offering_version: p.productOfferingVersion, product_specification_id: p.productSpecificationId,
    product_specification_version: p.productSpecificationVersion, name: p.name, status: p.status, action_origin_order_id: p.actionOriginOrderId,
    action_origin_order_item_id: p.actionOriginOrderItemId, activation_date: p.activationDate, termination_date: p.terminationDate,
    effective_from: p.effectiveFrom, effective_to: p.effectiveTo, place: p.place, catalog_snapshot: p.catalogSnapshot,
    configuration_snapshot: p.configuration, price_snapshot: p.price, pending_change: p.pendingChange, last_error: p.lastError,
    version: p.version, created_at: p.createdAt, updated_at: p.updatedAt,
  };
}
