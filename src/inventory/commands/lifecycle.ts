/**
 * A product instance's way into service and its pauses (order actions ADD, SUSPEND, RESUME):
 * created PENDING_ACTIVATION, activated or failed or cancelled, suspended and resumed. Its
 * services follow each state; its subscription starts with its first activation.
 */
import { findAccountInTx } from '../../customers/index.ts';
import { BusinessRuleError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { productEvent, subscriptionEvent } from '../events.ts';
import type { RelationshipType } from '../model.ts';
import { audit, loadSubscription, transitionProduct, transitionSubscription, writeVersion, type CorrelatedCause, type TransitionInput, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { Cause, JsonObject, ProductInstance, Subscription } from '../types.ts';
import { checkPriceCurrency, checkProductReferences } from './catalog-references.ts';
import { addRelationship } from './relationships.ts';
import { attachFulfilledServicesTo, transitionWithServices, type FulfilledService, type KnownProduct } from './services-and-resources.ts';
import { addMonths, endSubscriptionIfEmpty } from './subscriptions.ts';
import { checkRenewalPolicy, scheduleSubscriptionDates } from './subscription-dates.ts';

/** What a product instance was sold as: catalog versions, name, configuration and price. */
export interface ProductSnapshotInput {
  productOfferingId: string;
  productOfferingVersion: number;
  productSpecificationId: string;
  productSpecificationVersion: number;
  name: string;
  catalogSnapshot: JsonObject;
  configuration: JsonObject;
  price: JsonObject;
}

export interface NewSubscriptionInput {
  termMonths?: number | null;
  billingCycle?: string | null;
  autoRenew?: boolean;
  agreementId?: string | null;
  billingAccountId?: string | null;
  renewalPolicy?: JsonObject;
  /**
   * When the subscription starts (seed 004): it stays PENDING until then, whatever its
   * products do, and becomes ACTIVE by the scheduler at that date. Without one it starts
   * when its first product is activated (and an end date follows from termMonths).
   */
  startDate?: string | null;
}

export interface RelationshipLink {
  type: RelationshipType;
  /** Exactly one of these: the other end is the new product instance. */
  sourceProductInstanceId?: string;
  targetProductInstanceId?: string;
}

export interface CreateProductInstanceInput extends Cause, ProductSnapshotInput {
  accountId: string;
  place?: JsonObject | null;
  subscriptionId?: string | null;
  subscription?: NewSubscriptionInput | null;
  relationships?: RelationshipLink[];
  correlationId?: string | null;
}

/**
 * A new product instance, PENDING_ACTIVATION, in a subscription it joins or one created with
 * it, with its relationships to instances the account already has.
 */
export async function createProductInstance(u: Unit, input: CreateProductInstanceInput): Promise<{ productInstance: ProductInstance; subscription: Subscription | null }> {
  if (input.subscriptionId && input.subscription) {
    throw ValidationError.field('/subscription', 'give either subscriptionId (join an existing subscription) or subscription (create one), not both');
  }
  const account = await findAccountInTx(u.tx, input.accountId);
  if (!account) throw NotFoundError.of('account', input.accountId);
  await checkProductReferences(u, input, '');
  checkPriceCurrency(account.currency, input.price, '/price');
  const effectiveAt = input.effectiveAt ?? u.now;

  let subscription: Subscription | null = null;
  if (input.subscriptionId) {
    subscription = (await store.findSubscription(u.tx, input.subscriptionId)) ?? null;
    if (!subscription || subscription.accountId !== account.accountId) throw NotFoundError.of('subscription', input.subscriptionId);
    if (subscription.status === 'TERMINATED' || subscription.status === 'EXPIRED') {
      throw new BusinessRuleError(`subscription ${subscription.subscriptionId} is ${subscription.status}; a product cannot join it`);
    }
  } else if (input.subscription) {
    checkRenewalPolicy(input.subscription.renewalPolicy, '/subscription/renewalPolicy');
    const startDate = input.subscription.startDate ? new Date(input.subscription.startDate).toISOString() : null;
    const endDate = startDate && input.subscription.termMonths ? addMonths(startDate, input.subscription.termMonths, account.timeZone) : null;
    subscription = {
      subscriptionId: newId(),
      accountId: account.accountId,
      customerId: account.customerId,
      agreementId: input.subscription.agreementId ?? null,
      billingAccountId: input.subscription.billingAccountId ?? null,
      status: 'PENDING',
      startDate,
      endDate,
      commitmentStartDate: startDate,
      commitmentEndDate: endDate,
      termMonths: input.subscription.termMonths ?? null,
      billingCycle: input.subscription.billingCycle ?? null,
      autoRenew: input.subscription.autoRenew ?? false,
      renewalPolicy: input.subscription.renewalPolicy ?? {},
      version: 1,
      createdAt: u.now,
      updatedAt: u.now,
    };
    const event = subscriptionEvent(u, 'SubscriptionCreated', null, subscription, input, { operation: 'ADD' });
    await writeVersion(u, 'subscription', null, subscription, { changeType: 'CREATED', cause: input, effectiveAt, event });
    await scheduleSubscriptionDates(u, subscription, account.timeZone);
  }

  const productInstance: ProductInstance = {
    productInstanceId: newId(),
    accountId: account.accountId,
    customerId: account.customerId,
    subscriptionId: subscription?.subscriptionId ?? null,
    productOfferingId: input.productOfferingId,
    productOfferingVersion: input.productOfferingVersion,
    productSpecificationId: input.productSpecificationId,
    productSpecificationVersion: input.productSpecificationVersion,
    name: input.name,
    status: 'PENDING_ACTIVATION',
    actionOriginOrderId: input.orderId ?? null,
    actionOriginOrderItemId: input.orderItemId ?? null,
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
    createdAt: u.now,
    updatedAt: u.now,
  };
  const event = productEvent(u, 'ProductInstanceCreated', null, productInstance, input, { operation: 'ADD' });
  await writeVersion(u, 'product_instance', null, productInstance, { changeType: 'CREATED', cause: input, effectiveAt, event });

  for (const link of input.relationships ?? []) {
    const hasSource = Boolean(link.sourceProductInstanceId);
    const hasTarget = Boolean(link.targetProductInstanceId);
    if (hasSource === hasTarget) {
      throw ValidationError.field('/relationships', 'each link names exactly one of sourceProductInstanceId or targetProductInstanceId; the new instance is the other end');
    }
    await addRelationship(u, {
      accountId: account.accountId,
      sourceProductInstanceId: link.sourceProductInstanceId ?? productInstance.productInstanceId,
      targetProductInstanceId: link.targetProductInstanceId ?? productInstance.productInstanceId,
      type: link.type,
      validFrom: effectiveAt,
      orderId: input.orderId ?? null,
      orderItemId: input.orderItemId ?? null,
    });
  }
  await audit(u, 'product-instance.create', 'product_instance', productInstance.productInstanceId, account.accountId);
  return { productInstance, subscription };
}

export function startActivation(u: Unit, id: string, input: TransitionInput): Promise<ProductInstance> {
  return transitionProduct(u, id, 'activation:start', input, (p) => {
    p.lastError = null;
  });
}

/**
 * ACTIVE from the effective time; its services go live, and a PENDING subscription starts its
 * term, unless it has a start date still ahead (then its scheduled activation starts it).
 */
export function completeActivation(u: Unit, id: string, input: TransitionInput): Promise<ProductInstance> {
  return activate(u, id, input);
}

/**
 * An order's ADD item is provisioned: what fulfillment set up is attached (attachFulfilledServicesTo)
 * and the activation completes (completeActivation), the same rows and records in the same order,
 * with the product and its guard read once — attaching writes neither, so the activation sees
 * what that read saw — and the product's services, when the attachment made all of them, not
 * read again. The version expected is the one read here.
 */
export async function completeActivationWithServices(u: Unit, id: string, services: readonly FulfilledService[], cause: CorrelatedCause): Promise<ProductInstance> {
  const read = await store.findProductInstanceForActivation(u.tx, id);
  if (!read) throw NotFoundError.of('product instance', id);
  const { subscriptionStatus, ...loaded } = read;
  const { servicesOfProduct } = await attachFulfilledServicesTo(u, loaded, services, cause);
  return activate(u, id, { ...cause, expectedVersion: loaded.product.version }, { loaded, services: servicesOfProduct, subscriptionStatus });
}

/**
 * completeActivation; with what the caller read in this transaction (`known`): the product and
 * its guard, its services, and its subscription's status — a subscription that is not PENDING
 * (the add-on of a product activated just before, in the same order) is not read again.
 */
async function activate(u: Unit, id: string, input: TransitionInput, known?: KnownProduct & { subscriptionStatus: string | null }): Promise<ProductInstance> {
  const effectiveAt = input.effectiveAt ?? u.now;
  const result = await transitionWithServices(u, id, 'activation:complete', input, (p) => {
    p.activationDate = effectiveAt;
    p.effectiveFrom = effectiveAt;
  }, {}, known);
  if (result.subscriptionId && (known === undefined || known.subscriptionStatus === null || known.subscriptionStatus === 'PENDING')) {
    const subscription = await loadSubscription(u, result.subscriptionId);
    if (subscription.status === 'PENDING' && !(subscription.startDate && subscription.startDate > effectiveAt)) {
      const account = await findAccountInTx(u.tx, subscription.accountId);
      const started = await transitionSubscription(u, subscription, 'activation:apply', subscription.version, input, (s) => {
        // A start date that was given holds (it is reached); else the term starts now.
        if (s.startDate) return;
        s.startDate = effectiveAt;
        s.commitmentStartDate = effectiveAt;
        if (s.termMonths) {
          s.endDate = addMonths(effectiveAt, s.termMonths, account!.timeZone);
          s.commitmentEndDate = s.endDate;
        }
      });
      await scheduleSubscriptionDates(u, started, account!.timeZone);
    }
  }
  return result;
}

export function failActivation(u: Unit, id: string, input: TransitionInput & { error: { code: string; message: string } }): Promise<ProductInstance> {
  return transitionProduct(u, id, 'activation:fail', input, (p) => {
    p.lastError = { code: input.error.code, message: input.error.message, at: u.now };
  }, { error: input.error });
}

/** CANCELLED before it ever went live: its services end, and a subscription left with no live product ends too. */
export async function cancelActivation(u: Unit, id: string, input: TransitionInput): Promise<ProductInstance> {
  const effectiveAt = input.effectiveAt ?? u.now;
  const result = await transitionWithServices(u, id, 'activation:cancel', input, (p) => {
    p.terminationDate = effectiveAt;
    p.effectiveTo = effectiveAt;
  });
  await endSubscriptionIfEmpty(u, result, input);
  return result;
}

export function suspend(u: Unit, id: string, input: TransitionInput & { reason?: string | null }): Promise<ProductInstance> {
  return transitionWithServices(u, id, 'suspension:apply', input, () => {}, input.reason ? { reason: input.reason } : {});
}

export function resume(u: Unit, id: string, input: TransitionInput): Promise<ProductInstance> {
  return transitionWithServices(u, id, 'resumption:apply', input, () => {});
}
