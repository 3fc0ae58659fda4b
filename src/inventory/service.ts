/**
 * Installed-base commands. Each public method is one use case in one transaction, in the
 * order of seed 000 §16: load → check expected version → check state → acquire the
 * operation guard → mutate → persist with optimistic lock → history row → outbox event
 * (→ release the guard when the operation ends) → audit.
 */
import { Temporal } from 'temporal-polyfill';
import { recordAudit } from '../platform/audit.ts';
import { findCatalogVersion, findOfferingVersion, findProductSpecificationVersion, instanceNameAfterChange, type ProductSpecificationBody } from '../catalog/index.ts';
import { findAccountInTx } from '../customers/index.ts';
import { appendToOutbox, buildEvent, type OutboxEvent } from '../events/index.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, isUniqueViolation, type Pool, type Tx } from '../platform/db.ts';
import {
  BusinessRuleError,
  ConcurrentModificationError,
  DuplicateRelationshipError,
  IllegalTransitionError,
  InvalidRelationshipError,
  NotFoundError,
  OperationInProgressError,
  ValidationError,
} from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import { validateConfiguration } from '../pricing/index.ts';
import {
  PRODUCT_INSTANCE_FINAL_STATES,
  PRODUCT_INSTANCE_TRANSITIONS,
  SUBSCRIPTION_TRANSITIONS,
  changedKeys,
  changedPriceKeys,
  checkNewRelationship,
  mergeConfiguration,
  containedChildren,
  productInstanceTransition,
  serviceStateFor,
  subscriptionTransition,
  type ProductInstanceCommand,
  type RelationshipType,
  type SubscriptionCommand,
} from './model.ts';
import * as store from './store.ts';
import type {
  Cause,
  CommandContext,
  EntityKind,
  Guard,
  JsonObject,
  ProductInstance,
  Relationship,
  ResourceInstance,
  ServiceInstance,
  Subscription,
} from './types.ts';

/** The operation a command belongs to, as named on guards and in changeSummary. */
const OPERATION_OF: Record<string, string> = {
  activation: 'ADD',
  modification: 'MODIFY',
  disconnect: 'DISCONNECT',
  suspension: 'SUSPEND',
  resumption: 'RESUME',
  move: 'MOVE',
  replacement: 'REPLACE',
};
const operationOf = (command: ProductInstanceCommand) => OPERATION_OF[command.split(':')[0]];

/** One transaction's working set: who, when, and where to write. */
interface Unit {
  tx: Tx;
  ctx: CommandContext;
  now: string;
}

export interface TransitionInput extends Cause {
  expectedVersion: number;
  operationType?: string;
  correlationId?: string | null;
}

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

export interface ModificationChange {
  /** Characteristics to change; a null value removes the characteristic. */
  configuration?: JsonObject;
  /** The new price snapshot, replacing the old one. */
  price?: JsonObject;
  name?: string;
  productOfferingVersion?: number;
  catalogSnapshot?: JsonObject;
}

/** A resource reserved for a service by fulfillment (a reserve task's outcome). */
export interface FulfilledResource {
  resourceType: string;
  resourceId?: string | null;
  externalResourceId?: string | null;
  attributes?: JsonObject;
}

/**
 * A service realised by fulfillment: what a configure task returned (its technical
 * parameters and external id) with the resources its reserve tasks returned.
 */
export interface FulfilledService {
  serviceSpecificationId: string;
  serviceSpecificationVersion: number;
  name?: string | null;
  externalServiceId?: string | null;
  technicalParameters?: JsonObject;
  resources: FulfilledResource[];
}

export class InventoryService {
  constructor(private readonly deps: { pool: Pool; clock: Clock } | { tx: Tx; now: string }) {}

  /**
   * The same commands inside a transaction the caller owns: orders and fulfillment change
   * the installed base through these commands (seed 000 §18), together with their own rows,
   * so that an order item and its assets change in one transaction or not at all.
   */
  static within(tx: Tx, now: string): InventoryService {
    return new InventoryService({ tx, now });
  }

  private run<T>(ctx: CommandContext, work: (u: Unit) => Promise<T>): Promise<T> {
    if ('tx' in this.deps) return work({ tx: this.deps.tx, ctx, now: this.deps.now });
    const { pool, clock } = this.deps;
    return inTenantTransaction(pool, ctx.tenantId, (tx) => work({ tx, ctx, now: clock.now().toISOString() }));
  }

  // =================================================================== product instance commands

  async createProductInstance(ctx: CommandContext, input: CreateProductInstanceInput): Promise<{ productInstance: ProductInstance; subscription: Subscription | null }> {
    if (input.subscriptionId && input.subscription) {
      throw ValidationError.field('/subscription', 'give either subscriptionId (join an existing subscription) or subscription (create one), not both');
    }
    return this.run(ctx, async (u) => {
      const account = await findAccountInTx(u.tx, input.accountId);
      if (!account) throw NotFoundError.of('account', input.accountId);
      await checkProductReferences(u, input, '');
      checkPriceCurrency(account.currency, input.price, '/price');
      const correlationId = input.correlationId ?? ctx.correlationId;
      const effectiveAt = input.effectiveAt ?? u.now;

      let subscription: Subscription | null = null;
      if (input.subscriptionId) {
        subscription = (await store.findSubscription(u.tx, input.subscriptionId)) ?? null;
        if (!subscription || subscription.accountId !== account.accountId) throw NotFoundError.of('subscription', input.subscriptionId);
        if (subscription.status === 'TERMINATED' || subscription.status === 'EXPIRED') {
          throw new BusinessRuleError(`subscription ${subscription.subscriptionId} is ${subscription.status}; a product cannot join it`);
        }
      } else if (input.subscription) {
        subscription = {
          subscriptionId: newId(),
          accountId: account.accountId,
          customerId: account.customerId,
          agreementId: input.subscription.agreementId ?? null,
          billingAccountId: input.subscription.billingAccountId ?? null,
          status: 'PENDING',
          startDate: null,
          endDate: null,
          commitmentStartDate: null,
          commitmentEndDate: null,
          termMonths: input.subscription.termMonths ?? null,
          billingCycle: input.subscription.billingCycle ?? null,
          autoRenew: input.subscription.autoRenew ?? false,
          renewalPolicy: input.subscription.renewalPolicy ?? {},
          version: 1,
          createdAt: u.now,
          updatedAt: u.now,
        };
        await store.insertSubscription(u.tx, ctx.tenantId, subscription);
        await recordVersion(u, 'subscription', subscription.accountId, subscription.subscriptionId, null, subscription, 'CREATED', input, correlationId, effectiveAt, subscriptionEvent(u, 'SubscriptionCreated', null, subscription, input, correlationId, { operation: 'ADD' }));
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
      await store.insertProductInstance(u.tx, ctx.tenantId, productInstance);
      await recordVersion(u, 'product_instance', productInstance.accountId, productInstance.productInstanceId, null, productInstance, 'CREATED', input, correlationId, effectiveAt, productEvent(u, 'ProductInstanceCreated', null, productInstance, input, correlationId, { operation: 'ADD' }));

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
    });
  }

  async startActivation(ctx: CommandContext, id: string, input: TransitionInput): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const result = await transitionProduct(u, id, 'activation:start', input, (p) => {
        p.lastError = null;
      });
      return result;
    });
  }

  async completeActivation(ctx: CommandContext, id: string, input: TransitionInput): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const effectiveAt = input.effectiveAt ?? u.now;
      const result = await transitionProduct(u, id, 'activation:complete', input, (p) => {
        p.activationDate = effectiveAt;
        p.effectiveFrom = effectiveAt;
      });
      await followServices(u, result, input);
      if (result.subscriptionId) {
        const subscription = await loadSubscription(u, result.subscriptionId);
        if (subscription.status === 'PENDING') {
          const account = await findAccountInTx(u.tx, subscription.accountId);
          await transitionSubscription(u, subscription, 'activation:apply', subscription.version, input, (s) => {
            s.startDate = effectiveAt;
            s.commitmentStartDate = effectiveAt;
            if (s.termMonths) {
              s.endDate = addMonths(effectiveAt, s.termMonths, account!.timeZone);
              s.commitmentEndDate = s.endDate;
            }
          });
        }
      }
      return result;
    });
  }

  async failActivation(ctx: CommandContext, id: string, input: TransitionInput & { error: { code: string; message: string } }): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const result = await transitionProduct(u, id, 'activation:fail', input, (p) => {
        p.lastError = { code: input.error.code, message: input.error.message, at: u.now };
      }, { error: input.error });
      return result;
    });
  }

  async cancelActivation(ctx: CommandContext, id: string, input: TransitionInput): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const effectiveAt = input.effectiveAt ?? u.now;
      const result = await transitionProduct(u, id, 'activation:cancel', input, (p) => {
        p.terminationDate = effectiveAt;
        p.effectiveTo = effectiveAt;
      });
      await followServices(u, result, input);
      await endSubscriptionIfEmpty(u, result, input);
      return result;
    });
  }

  /**
   * Puts the instance in PENDING_MODIFICATION with the requested change. A configuration change
   * is checked here, as the whole configuration it leaves, against the instance's specification
   * (400 naming `/requestedChange/configuration/<name>`), and kept normalized: whatever road it
   * comes by (an order, the internal route), an instance never holds a configuration its
   * specification refuses.
   */
  async startModification(ctx: CommandContext, id: string, input: TransitionInput & { requestedChange?: ModificationChange }): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const requested = await checkedChange(u, id, input.requestedChange, '/requestedChange');
      const result = await transitionProduct(u, id, 'modification:start', input, (p) => {
        p.pendingChange = (requested ?? {}) as JsonObject;
      });
      return result;
    });
  }

  /**
   * Applies the change (the one given here, else the one requested at start): same product
   * instance id, new version (seed 000 §11.2).
   */
  async completeModification(ctx: CommandContext, id: string, input: TransitionInput & { change?: ModificationChange }): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      // A change given here is checked like one given at start (`/change/configuration/<name>`).
      const given = await checkedChange(u, id, input.change, '/change');
      const result = await transitionProduct(u, id, 'modification:complete', input, (p) => {
        const change = (given ?? p.pendingChange ?? {}) as ModificationChange;
        if (change.configuration) p.configuration = mergeConfiguration(p.configuration, change.configuration);
        if (change.price) p.price = change.price;
        if (change.name) p.name = change.name;
        if (change.productOfferingVersion) p.productOfferingVersion = change.productOfferingVersion;
        if (change.catalogSnapshot) p.catalogSnapshot = change.catalogSnapshot;
        p.pendingChange = null;
        p.effectiveFrom = input.effectiveAt ?? u.now;
      });
      return result;
    });
  }

  async cancelModification(ctx: CommandContext, id: string, input: TransitionInput): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const result = await transitionProduct(u, id, 'modification:cancel', input, (p) => {
        p.pendingChange = null;
      });
      return result;
    });
  }

  /** Fulfillment could not apply the change: back to ACTIVE unchanged, the error recorded, the guard released. */
  async failModification(ctx: CommandContext, id: string, input: TransitionInput & { error: { code: string; message: string } }): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      return transitionProduct(u, id, 'modification:fail', input, (p) => {
        p.pendingChange = null;
        p.lastError = { code: input.error.code, message: input.error.message, at: u.now };
      }, { error: input.error });
    });
  }

  /**
   * Ends the operations an order item holds without changing the assets: the item failed or
   * was cancelled before its change was applied. Returns the released guards.
   */
  async releaseOrderItemHolds(ctx: CommandContext, accountId: string, orderItemId: string, reason: string): Promise<Guard[]> {
    return this.run(ctx, async (u) => {
      const released = await store.releaseGuardsOfOrderItem(u.tx, accountId, orderItemId, u.now);
      for (const guard of released) {
        await audit(u, 'product-instance.operation.release', 'product_instance', guard.productInstanceId, accountId, { orderId: guard.orderId, orderItemId, operationType: guard.operationType, reason });
      }
      return released;
    });
  }

  /**
   * Puts the instance into PENDING_DISCONNECT, and with it every child along containment
   * (PARENT_OF targets, ADDON_OF sources), recursively, held by the same order item.
   */
  async startDisconnect(ctx: CommandContext, id: string, input: TransitionInput & { reason?: string | null; requestedTerminationDate?: string | null }): Promise<{ productInstance: ProductInstance; cascaded: ProductInstance[] }> {
    return this.run(ctx, async (u) => {
      const pending = { reason: input.reason ?? null, requestedTerminationDate: input.requestedTerminationDate ?? null };
      const productInstance = await transitionProduct(u, id, 'disconnect:start', input, (p) => {
        p.pendingChange = pending;
      });
      const cascaded: ProductInstance[] = [];
      const relationships = await store.listCurrentRelationships(u.tx, productInstance.accountId);
      const visit = async (parentId: string) => {
        for (const childId of containedChildren(relationships.map(edgeOf), parentId)) {
          const child = await loadProduct(u, childId);
          if (PRODUCT_INSTANCE_FINAL_STATES.includes(child.status)) continue;
          if (cascaded.some((c) => c.productInstanceId === childId)) continue;
          const updated = await transitionProduct(
            u,
            childId,
            'disconnect:start',
            { ...input, expectedVersion: child.version, correlationId: input.correlationId },
            (p) => {
              p.pendingChange = { ...pending, cascadedFrom: parentId };
            },
            { cascadedFrom: parentId },
          );
          cascaded.push(updated);
          await visit(childId);
        }
      };
      await visit(id);
      return { productInstance, cascaded };
    });
  }

  /**
   * DISCONNECTED with termination date; services terminated, resources released; children
   * put into PENDING_DISCONNECT by the same order item are completed with it; a subscription
   * left with no live product is terminated.
   */
  async completeDisconnect(ctx: CommandContext, id: string, input: TransitionInput): Promise<{ productInstance: ProductInstance; cascaded: ProductInstance[] }> {
    return this.run(ctx, async (u) => {
      const productInstance = await loadProduct(u, id);
      const guard = await store.findActiveGuard(u.tx, productInstance.accountId, id);
      const done = await completeDisconnectOne(u, id, input);
      const cascaded: ProductInstance[] = [];
      if (guard && guard.orderItemId) {
        const relationships = await store.listCurrentRelationships(u.tx, done.accountId);
        const visit = async (parentId: string) => {
          for (const childId of containedChildren(relationships.map(edgeOf), parentId)) {
            const child = await loadProduct(u, childId);
            if (child.status !== 'PENDING_DISCONNECT') continue;
            const childGuard = await store.findActiveGuard(u.tx, child.accountId, childId);
            if (!childGuard || childGuard.orderItemId !== guard.orderItemId) continue;
            cascaded.push(await completeDisconnectOne(u, childId, { ...input, expectedVersion: child.version }, { cascadedFrom: parentId }));
            await visit(childId);
          }
        };
        await visit(id);
      }
      return { productInstance: done, cascaded };
    });
  }

  /**
   * A disconnect at a future date (seed 000 §11.3): until then the instance keeps its state,
   * held by the order item, and shows the scheduled date as its `terminationDate` with the
   * disconnect as its `pendingChange`. When every live product of its subscription is
   * scheduled to go, the subscription's `endDate` becomes the (latest) scheduled date, so that
   * billing can tell when service ends; `commitmentEndDate` keeps the end of the term.
   */
  async scheduleDisconnect(ctx: CommandContext, id: string, input: TransitionInput & { terminationDate: string; reason?: string | null }): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const loaded = await store.findProductInstanceWithGuard(u.tx, id);
      if (!loaded) throw NotFoundError.of('product instance', id);
      const current = loaded.product;
      checkExpectedVersion('product instance', id, current.version, input.expectedVersion);
      const verdict = productInstanceTransition(current.status, 'disconnect:start');
      if (!verdict.ok) throw new IllegalTransitionError('product instance', id, current.status, 'disconnect:schedule', verdict.allowed);
      if (!input.orderItemId) throw ValidationError.field('/orderItemId', 'a scheduled disconnect is owned by an order item; give orderId and orderItemId');
      await acquireGuard(u, current, input, 'DISCONNECT', loaded.activeGuard);
      const scheduled = await reviseProduct(u, current, 'DISCONNECT_SCHEDULED', 'ProductInstanceDisconnectScheduled', input, (p) => {
        p.terminationDate = input.terminationDate;
        p.effectiveTo = input.terminationDate;
        p.pendingChange = { operation: 'DISCONNECT', requestedTerminationDate: input.terminationDate, reason: input.reason ?? null };
      }, { scheduledTerminationDate: input.terminationDate });
      if (scheduled.subscriptionId) {
        const subscription = await loadSubscription(u, scheduled.subscriptionId);
        const live = (await store.listProductInstancesOfSubscription(u.tx, scheduled.accountId, scheduled.subscriptionId)).filter((p) => !PRODUCT_INSTANCE_FINAL_STATES.includes(p.status));
        const dates = live.map(scheduledTerminationOf);
        if (!SUBSCRIPTION_FINAL_STATES.includes(subscription.status) && dates.every((d): d is string => d !== null)) {
          const end = dates.sort().at(-1)!;
          if (subscription.endDate !== end) {
            await reviseSubscription(u, subscription, 'TERMINATION_SCHEDULED', 'SubscriptionTerminationScheduled', input, (s) => {
              s.endDate = end;
            }, { operation: 'DISCONNECT', scheduledEndDate: end });
          }
        }
      }
      return scheduled;
    });
  }

  /**
   * Takes a scheduled disconnect back (its order item was withdrawn or failed before the date):
   * no termination date any more, and the subscription ends at the end of its term again.
   * An instance with no disconnect scheduled is left as it is.
   */
  async unscheduleDisconnect(ctx: CommandContext, id: string, input: TransitionInput): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const current = await loadProduct(u, id);
      if (scheduledTerminationOf(current) === null || current.status === 'PENDING_DISCONNECT' || PRODUCT_INSTANCE_FINAL_STATES.includes(current.status)) return current;
      const loaded = await store.findProductInstanceWithGuard(u.tx, id);
      await acquireGuard(u, current, input, 'DISCONNECT', loaded?.activeGuard ?? null);
      const restored = await reviseProduct(u, current, 'DISCONNECT_UNSCHEDULED', 'ProductInstanceDisconnectUnscheduled', input, (p) => {
        p.terminationDate = null;
        p.effectiveTo = null;
        p.pendingChange = null;
      }, { cancelledTerminationDate: current.terminationDate });
      if (restored.subscriptionId) {
        const subscription = await loadSubscription(u, restored.subscriptionId);
        if (!SUBSCRIPTION_FINAL_STATES.includes(subscription.status) && subscription.endDate !== subscription.commitmentEndDate) {
          await reviseSubscription(u, subscription, 'TERMINATION_UNSCHEDULED', 'SubscriptionTerminationUnscheduled', input, (s) => {
            s.endDate = s.commitmentEndDate;
          }, { operation: 'DISCONNECT', cancelledEndDate: subscription.endDate });
        }
      }
      return restored;
    });
  }

  async suspend(ctx: CommandContext, id: string, input: TransitionInput & { reason?: string | null }): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const result = await transitionProduct(u, id, 'suspension:apply', input, () => {}, input.reason ? { reason: input.reason } : {});
      await followServices(u, result, input);
      return result;
    });
  }

  async resume(ctx: CommandContext, id: string, input: TransitionInput): Promise<ProductInstance> {
    return this.run(ctx, async (u) => {
      const result = await transitionProduct(u, id, 'resumption:apply', input, () => {});
      await followServices(u, result, input);
      return result;
    });
  }

  /**
   * Same product instance and subscription at a new place (seed 000 §11.4): each moved
   * service instance is terminated (its resources released) and a new one is created at the
   * new place. With `services` (what fulfillment configured and reserved at the new place),
   * every live service is moved out and the new ones are those services, with their technical
   * parameters and resources; without, each selected service is copied to the new place with
   * `technicalParameters` merged over its old ones and no resources.
   */
  async move(ctx: CommandContext, id: string, input: TransitionInput & { place: JsonObject; serviceInstanceIds?: string[]; technicalParameters?: JsonObject; services?: FulfilledService[] }): Promise<{ productInstance: ProductInstance; moved: { from: ServiceInstance; to: ServiceInstance }[] }> {
    return this.run(ctx, async (u) => {
      const before = await loadProduct(u, id);
      const services = (await store.listServiceInstancesOfProduct(u.tx, before.accountId, id)).filter((s) => s.status !== 'TERMINATED');
      if (input.services && input.serviceInstanceIds) throw ValidationError.field('/serviceInstanceIds', 'give the services realised at the new place or the services to move, not both');
      const selected = input.serviceInstanceIds ?? services.map((s) => s.serviceInstanceId);
      for (const serviceId of selected) {
        if (!services.some((s) => s.serviceInstanceId === serviceId)) {
          throw ValidationError.field('/serviceInstanceIds', `service instance ${serviceId} is not a live service of product instance ${id}`);
        }
      }
      const productInstance = await transitionProduct(u, id, 'move:apply', input, (p) => {
        p.place = input.place;
      }, { fromPlace: before.place, toPlace: input.place });
      const effectiveAt = input.effectiveAt ?? u.now;
      const movedOut: ServiceInstance[] = [];
      for (const serviceId of selected) {
        const old = services.find((s) => s.serviceInstanceId === serviceId)!;
        const terminated = await changeService(u, old, 'MOVED_OUT', 'ServiceInstanceTerminated', input, (s) => {
          s.status = 'TERMINATED';
          s.terminationDate = effectiveAt;
        });
        await releaseResourcesOf(u, terminated, input);
        movedOut.push(terminated);
      }
      const moved: { from: ServiceInstance; to: ServiceInstance }[] = [];
      if (input.services) {
        // The new service of a specification replaces the old one of the same specification.
        const fromOf = (f: FulfilledService) => movedOut.find((s) => s.serviceSpecificationId === f.serviceSpecificationId) ?? null;
        const created = await createFulfilledServices(u, productInstance, input.services, input.place, 'MOVED_IN', input, (f) => ({ movedFrom: fromOf(f)?.serviceInstanceId ?? null }));
        input.services.forEach((f, i) => {
          const from = fromOf(f);
          if (from) moved.push({ from, to: created[i] });
        });
        return { productInstance, moved };
      }
      for (const terminated of movedOut) {
        const replacement: ServiceInstance = {
          ...terminated,
          serviceInstanceId: newId(),
          status: 'ACTIVE',
          place: input.place,
          externalServiceId: null,
          activationDate: effectiveAt,
          terminationDate: null,
          technicalParameters: { ...terminated.technicalParameters, ...(input.technicalParameters ?? {}) },
          version: 1,
          createdAt: u.now,
          updatedAt: u.now,
        };
        await createService(u, replacement, 'MOVED_IN', input, { movedFrom: terminated.serviceInstanceId });
        moved.push({ from: terminated, to: replacement });
      }
      return { productInstance, moved };
    });
  }

  /**
   * A new product instance takes the old one's place (seed 000 §11.5): it joins the same
   * subscription, "new REPLACES old" is recorded, and the old one is DISCONNECTED with its
   * services terminated and resources released. Every current relationship of the old
   * instance moves to the new one — its parent's PARENT_OF, its own ADDON_OF, its children,
   * dependencies — except the REPLACES / MIGRATED_FROM records of earlier history. With
   * `services`, the new instance gets those services and resources (what fulfillment set up).
   */
  async replace(ctx: CommandContext, id: string, input: TransitionInput & { replacement: ProductSnapshotInput; place?: JsonObject | null; services?: FulfilledService[] }): Promise<{ replaced: ProductInstance; productInstance: ProductInstance }> {
    return this.run(ctx, async (u) => {
      const old = await loadProduct(u, id);
      await checkProductReferences(u, input.replacement, '/replacement');
      checkPriceCurrency((await findAccountInTx(u.tx, old.accountId))!.currency, input.replacement.price, '/replacement/price');
      const effectiveAt = input.effectiveAt ?? u.now;
      const correlationId = input.correlationId ?? ctx.correlationId;
      const newInstance: ProductInstance = {
        ...old,
        ...input.replacement,
        configuration: input.replacement.configuration,
        price: input.replacement.price,
        productInstanceId: newId(),
        status: 'ACTIVE',
        place: input.place ?? old.place,
        actionOriginOrderId: input.orderId ?? null,
        actionOriginOrderItemId: input.orderItemId ?? null,
        activationDate: effectiveAt,
        terminationDate: null,
        effectiveFrom: effectiveAt,
        effectiveTo: null,
        pendingChange: null,
        lastError: null,
        version: 1,
        createdAt: u.now,
        updatedAt: u.now,
      };
      // The state checks come first, so an illegal replace writes nothing.
      const replaced = await transitionProduct(u, id, 'replacement:apply', input, (p) => {
        p.terminationDate = effectiveAt;
        p.effectiveTo = effectiveAt;
      }, { replacedBy: newInstance.productInstanceId });
      await store.insertProductInstance(u.tx, ctx.tenantId, newInstance);
      await recordVersion(u, 'product_instance', newInstance.accountId, newInstance.productInstanceId, null, newInstance, 'CREATED', input, correlationId, effectiveAt, productEvent(u, 'ProductInstanceCreated', null, newInstance, input, correlationId, { operation: 'REPLACE', replaces: id }));
      await followServices(u, replaced, input);
      if (input.services) await createFulfilledServices(u, newInstance, input.services, newInstance.place, 'ATTACHED', input, () => ({ operation: 'REPLACE' }));

      await store.lockAccountRelationships(u.tx, old.accountId);
      const relationships = await store.listCurrentRelationships(u.tx, old.accountId);
      const history: RelationshipType[] = ['REPLACES', 'MIGRATED_FROM'];
      for (const r of relationships) {
        if (history.includes(r.type) || (r.sourceProductInstanceId !== id && r.targetProductInstanceId !== id)) continue;
        await endRelationshipNow(u, r, effectiveAt, input);
        await addRelationship(u, {
          accountId: r.accountId,
          sourceProductInstanceId: r.sourceProductInstanceId === id ? newInstance.productInstanceId : r.sourceProductInstanceId,
          targetProductInstanceId: r.targetProductInstanceId === id ? newInstance.productInstanceId : r.targetProductInstanceId,
          type: r.type,
          validFrom: effectiveAt,
          orderId: input.orderId ?? null,
          orderItemId: input.orderItemId ?? null,
          alreadyLocked: true,
        });
      }
      await addRelationship(u, {
        accountId: old.accountId,
        sourceProductInstanceId: newInstance.productInstanceId,
        targetProductInstanceId: id,
        type: 'REPLACES',
        validFrom: effectiveAt,
        orderId: input.orderId ?? null,
        orderItemId: input.orderItemId ?? null,
        alreadyLocked: true,
      });
      return { replaced, productInstance: newInstance };
    });
  }

  // =================================================================== subscription commands

  /**
   * Moves the end date (seed 000 §11.6, §21.4): a new subscription version; product
   * instances are not touched. The new end is `newEndDate`, or the current end plus
   * `termMonths` (default: the subscription's own term) in the account's time zone.
   */
  async renewSubscription(ctx: CommandContext, id: string, input: TransitionInput & { termMonths?: number | null; newEndDate?: string | null }): Promise<Subscription> {
    return this.run(ctx, async (u) => {
      const subscription = await loadSubscription(u, id);
      checkExpectedVersion('subscription', id, subscription.version, input.expectedVersion);
      const account = await findAccountInTx(u.tx, subscription.accountId);
      const newEnd = renewalEndDate(subscription, input, account!.timeZone);
      const result = await transitionSubscription(u, subscription, 'renewal:apply', input.expectedVersion, input, (s) => {
        s.commitmentStartDate = s.endDate ?? s.commitmentStartDate;
        s.endDate = newEnd;
        s.commitmentEndDate = newEnd;
        if (input.termMonths) s.termMonths = input.termMonths;
      });
      await audit(u, 'subscription.renew', 'subscription', id, result.accountId, { newEndDate: newEnd });
      return result;
    });
  }

  async changeSubscriptionState(ctx: CommandContext, id: string, command: Exclude<SubscriptionCommand, 'renewal:apply' | 'activation:apply'>, input: TransitionInput): Promise<Subscription> {
    return this.run(ctx, async (u) => {
      const subscription = await loadSubscription(u, id);
      checkExpectedVersion('subscription', id, subscription.version, input.expectedVersion);
      const effectiveAt = input.effectiveAt ?? u.now;
      const ends = command === 'termination:apply' || command === 'expiry:apply';
      if (ends && subscription.startDate && effectiveAt < subscription.startDate) {
        throw new BusinessRuleError(`subscription ${id} started at ${subscription.startDate}; it cannot end before that (effectiveAt ${effectiveAt})`);
      }
      const result = await transitionSubscription(u, subscription, command, input.expectedVersion, input, (s) => {
        if (ends) s.endDate = effectiveAt;
      });
      await audit(u, `subscription.${command.split(':')[0]}`, 'subscription', id, result.accountId);
      return result;
    });
  }

  // =================================================================== service and resource instances

  async attachServiceInstance(
    ctx: CommandContext,
    productInstanceId: string,
    input: Cause & { serviceSpecificationId: string; serviceSpecificationVersion: number; name?: string | null; externalServiceId?: string | null; place?: JsonObject | null; technicalParameters?: JsonObject; correlationId?: string | null },
  ): Promise<ServiceInstance> {
    return this.run(ctx, async (u) => {
      const product = await loadProduct(u, productInstanceId);
      if (PRODUCT_INSTANCE_FINAL_STATES.includes(product.status) || product.status === 'PENDING_DISCONNECT') {
        throw new IllegalTransitionError('product instance', productInstanceId, product.status, 'service-attachment:apply', []);
      }
      await checkServiceSpecification(u, input.serviceSpecificationId, input.serviceSpecificationVersion, '');
      const guard = await acquireGuard(u, product, input, 'ATTACH_SERVICE');
      const service = newServiceInstance(u, product, input, input.place ?? product.place, input.effectiveAt ?? u.now);
      await createService(u, service, 'ATTACHED', input);
      await finishGuard(u, guard);
      await audit(u, 'service-instance.attach', 'service_instance', service.serviceInstanceId, product.accountId, { productInstanceId });
      return service;
    });
  }

  async releaseServiceInstance(ctx: CommandContext, serviceInstanceId: string, input: TransitionInput): Promise<ServiceInstance> {
    return this.run(ctx, async (u) => {
      const service = await store.findServiceInstance(u.tx, serviceInstanceId);
      if (!service) throw NotFoundError.of('service instance', serviceInstanceId);
      checkExpectedVersion('service instance', serviceInstanceId, service.version, input.expectedVersion);
      if (service.status === 'TERMINATED') throw new IllegalTransitionError('service instance', serviceInstanceId, service.status, 'release:apply', []);
      const product = await loadProduct(u, service.productInstanceId);
      const guard = await acquireGuard(u, product, input, 'RELEASE_SERVICE');
      const effectiveAt = input.effectiveAt ?? u.now;
      const released = await changeService(u, service, 'RELEASED', 'ServiceInstanceReleased', input, (s) => {
        s.status = 'TERMINATED';
        s.terminationDate = effectiveAt;
      }, input.expectedVersion);
      await releaseResourcesOf(u, released, input);
      await finishGuard(u, guard);
      await audit(u, 'service-instance.release', 'service_instance', serviceInstanceId, service.accountId);
      return released;
    });
  }

  async attachResourceInstance(
    ctx: CommandContext,
    serviceInstanceId: string,
    input: Cause & { resourceType: string; resourceId?: string | null; externalResourceId?: string | null; attributes?: JsonObject; correlationId?: string | null },
  ): Promise<ResourceInstance> {
    return this.run(ctx, async (u) => {
      const service = await store.findServiceInstance(u.tx, serviceInstanceId);
      if (!service) throw NotFoundError.of('service instance', serviceInstanceId);
      if (service.status === 'TERMINATED') throw new IllegalTransitionError('service instance', serviceInstanceId, service.status, 'resource-attachment:apply', ['(none: the service is terminated)']);
      const product = await loadProduct(u, service.productInstanceId);
      const guard = await acquireGuard(u, product, input, 'ATTACH_RESOURCE');
      const resource = await allocateResource(u, service, input, input);
      await finishGuard(u, guard);
      await audit(u, 'resource-instance.attach', 'resource_instance', resource.resourceInstanceId, resource.accountId, { serviceInstanceId });
      return resource;
    });
  }

  async releaseResourceInstance(ctx: CommandContext, resourceInstanceId: string, input: TransitionInput): Promise<ResourceInstance> {
    return this.run(ctx, async (u) => {
      const resource = await store.findResourceInstance(u.tx, resourceInstanceId);
      if (!resource) throw NotFoundError.of('resource instance', resourceInstanceId);
      checkExpectedVersion('resource instance', resourceInstanceId, resource.version, input.expectedVersion);
      if (resource.status === 'RELEASED') throw new IllegalTransitionError('resource instance', resourceInstanceId, resource.status, 'release:apply', []);
      const service = (await store.findServiceInstance(u.tx, resource.serviceInstanceId))!;
      const product = await loadProduct(u, service.productInstanceId);
      const guard = await acquireGuard(u, product, input, 'RELEASE_RESOURCE');
      const released = await releaseResource(u, resource, service, input, input.expectedVersion);
      await finishGuard(u, guard);
      await audit(u, 'resource-instance.release', 'resource_instance', resourceInstanceId, resource.accountId);
      return released;
    });
  }

  // =================================================================== relationships

  async createRelationship(
    ctx: CommandContext,
    input: Cause & { sourceProductInstanceId: string; targetProductInstanceId: string; type: RelationshipType; validFrom?: string | null },
  ): Promise<Relationship> {
    return this.run(ctx, async (u) => {
      const source = await loadProduct(u, input.sourceProductInstanceId);
      const relationship = await addRelationship(u, {
        accountId: source.accountId,
        sourceProductInstanceId: input.sourceProductInstanceId,
        targetProductInstanceId: input.targetProductInstanceId,
        type: input.type,
        validFrom: input.validFrom ?? input.effectiveAt ?? u.now,
        orderId: input.orderId ?? null,
        orderItemId: input.orderItemId ?? null,
      });
      await audit(u, 'relationship.create', 'relationship', relationship.relationshipId, source.accountId, { type: input.type });
      return relationship;
    });
  }

  async endRelationship(ctx: CommandContext, relationshipId: string, input: Cause & { validTo?: string | null }): Promise<Relationship> {
    return this.run(ctx, async (u) => {
      const relationship = await store.findRelationship(u.tx, relationshipId);
      if (!relationship) throw NotFoundError.of('relationship', relationshipId);
      if (relationship.endedAt) throw new IllegalTransitionError('relationship', relationshipId, 'ENDED', 'end:apply', []);
      const validTo = input.validTo ?? input.effectiveAt ?? u.now;
      if (validTo < relationship.validFrom) throw ValidationError.field('/validTo', `must not be before validFrom ${relationship.validFrom}`);
      await store.lockAccountRelationships(u.tx, relationship.accountId);
      const ended = await endRelationshipNow(u, relationship, validTo, input);
      await audit(u, 'relationship.end', 'relationship', relationshipId, relationship.accountId);
      return ended;
    });
  }
}

// ======================================================================= configuration changes

/**
 * Checks a configuration change of a product instance as the whole configuration it leaves,
 * against the instance's own specification version: the one check, used by the modification
 * commands and by order submission (which names its fields `/items/<n>/configuration/…`).
 * Returns the normalized configuration and the change that leads to it from the current one
 * (a removed characteristic as null). Field errors are `/configuration/<name>`.
 *
 * An instance whose specification version is not in the tenant's catalog (recorded through the
 * internal route before references were checked) has nothing to check against: its change is
 * taken as given.
 */
export async function checkConfigurationChange(tx: Tx, product: ProductInstance, delta: Record<string, unknown>): Promise<{ configuration: JsonObject; change: JsonObject; specification: ProductSpecificationBody | null }> {
  const merged = mergeConfiguration(product.configuration, delta);
  const version = versionNumber(product.productSpecificationVersion);
  const spec = version !== null ? await findProductSpecificationVersion(tx, product.productSpecificationId, version) : null;
  if (!spec) return { configuration: merged, change: delta as JsonObject, specification: null };
  const configuration = validateConfiguration(spec.body, merged) as JsonObject;
  const change: JsonObject = {};
  for (const key of new Set([...Object.keys(product.configuration), ...Object.keys(configuration)])) {
    if (!(key in configuration)) change[key] = null;
    else if (changedKeys({ [key]: product.configuration[key] }, { [key]: configuration[key] }).length) change[key] = configuration[key];
  }
  return { configuration, change, specification: spec.body };
}

/** A requested modification with its configuration checked and normalized; fields prefixed with `at`. */
async function checkedChange(u: Unit, id: string, change: ModificationChange | undefined, at: string): Promise<ModificationChange | undefined> {
  if (!change || (!change.price && change.productOfferingVersion === undefined && !change.configuration)) return change;
  const product = await loadProduct(u, id);
  if (change.price) checkPriceCurrency((await findAccountInTx(u.tx, product.accountId))!.currency, change.price, `${at}/price`);
  // The version the instance moves to is a version of its own offering, in the catalog.
  const offeringVersion = versionNumber(change.productOfferingVersion ?? product.productOfferingVersion);
  const offering = offeringVersion !== null ? await findOfferingVersion(u.tx, product.productOfferingId, offeringVersion) : null;
  if (change.productOfferingVersion !== undefined && !offering) {
    throw ValidationError.field(`${at}/productOfferingVersion`, `product offering ${product.productOfferingId} version ${change.productOfferingVersion} does not exist`);
  }
  if (!change.configuration) return change;
  try {
    const checked = await checkConfigurationChange(u.tx, product, change.configuration);
    if (change.name) return { ...change, configuration: checked.change };
    // A name made from the configuration follows it, whoever changes it (an order names it
    // the same way at submission); a fixed or chosen name stays.
    const name = offering ? instanceNameAfterChange(offering.body, checked.specification, product, checked.configuration) : product.name;
    return { ...change, configuration: checked.change, ...(name !== product.name ? { name } : {}) };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const errors = error.errors.map((e) => ({ field: `${at}${e.field}`, message: e.message }));
    throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
  }
}

// ======================================================================= the command pipeline

async function loadProduct(u: Unit, id: string): Promise<ProductInstance> {
  const product = await store.findProductInstance(u.tx, id);
  if (!product) throw NotFoundError.of('product instance', id);
  return product;
}

async function loadSubscription(u: Unit, id: string): Promise<Subscription> {
  const subscription = await store.findSubscription(u.tx, id);
  if (!subscription) throw NotFoundError.of('subscription', id);
  return subscription;
}

function checkExpectedVersion(kind: string, id: string, current: number, expected: number): void {
  if (current !== expected) throw new ConcurrentModificationError(kind, id, expected, current);
}

/**
 * Takes the asset's operation guard for this order item, or reuses the one it already
 * holds. Another holder means `operation-in-progress`: the guard is never taken over.
 */
async function acquireGuard(u: Unit, product: ProductInstance, cause: Cause, operationType: string, seenHolder?: Guard | null): Promise<Guard & { reused: boolean }> {
  const orderItemId = cause.orderItemId ?? null;
  // When the caller already read the active guard with the product (same snapshot), decide
  // from it: reuse it, or refuse; a guard that was held when we read is a valid refusal.
  if (seenHolder) {
    if (orderItemId !== null && seenHolder.orderItemId === orderItemId) return { ...seenHolder, reused: true };
    throw new OperationInProgressError(product.productInstanceId, seenHolder);
  }
  // Two tries: the holder seen by the first may have been released before we looked.
  for (let attempt = 0; attempt < 2; attempt++) {
    const inserted = await store.tryInsertGuard(u.tx, u.ctx.tenantId, {
      guardId: newId(),
      accountId: product.accountId,
      productInstanceId: product.productInstanceId,
      orderId: cause.orderId ?? null,
      orderItemId,
      operationType,
      status: 'ACTIVE',
      acquiredAt: u.now,
      releasedAt: null,
    }, u.ctx.correlationId);
    if (inserted) return { ...inserted, reused: false };
    const holder = await store.findActiveGuard(u.tx, product.accountId, product.productInstanceId);
    if (!holder) continue;
    if (orderItemId !== null && holder.orderItemId === orderItemId) return { ...holder, reused: true };
    throw new OperationInProgressError(product.productInstanceId, holder);
  }
  throw new ConcurrentModificationError('product instance', product.productInstanceId, product.version, null);
}

async function finishGuard(u: Unit, guard: Guard & { reused: boolean }): Promise<void> {
  // A guard taken only for this one command is released with it; a guard the order item
  // already held stays with the order, which releases it when its operation ends.
  if (!guard.reused) await store.releaseGuard(u.tx, guard.accountId, guard.guardId, u.now);
}

/** The generic product-instance transition, every step of seed 000 §16 in order. */
async function transitionProduct(
  u: Unit,
  id: string,
  command: ProductInstanceCommand,
  input: TransitionInput,
  mutate: (next: ProductInstance) => void,
  summaryExtra: Record<string, unknown> = {},
): Promise<ProductInstance> {
  const transition = PRODUCT_INSTANCE_TRANSITIONS[command];
  // 1. load (with the active guard, read for step 4)
  const loaded = await store.findProductInstanceWithGuard(u.tx, id);
  if (!loaded) throw NotFoundError.of('product instance', id);
  const current = loaded.product;
  // 2. expected version
  checkExpectedVersion('product instance', id, current.version, input.expectedVersion);
  // 3. state
  const verdict = productInstanceTransition(current.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('product instance', id, current.status, command, verdict.allowed);
  // An operation that spans two commands is owned by an order item: without one, nothing
  // could ever end it and release the guard.
  if (transition.guard === 'hold' && !input.orderItemId) {
    throw ValidationError.field('/orderItemId', `${command} starts an operation that an order item must own; give orderId and orderItemId`);
  }
  // 4. guard
  const guard = await acquireGuard(u, current, input, input.operationType ?? operationOf(command), loaded.activeGuard);
  // 5. mutate
  // A shallow copy: mutate functions replace fields and never edit nested values in place, so
  // `current` stays the exact before-state, and an untouched snapshot is the same object.
  const next: ProductInstance = { ...current };
  mutate(next);
  next.status = verdict.to;
  next.version = current.version + 1;
  next.updatedAt = u.now;
  // 6. optimistic persist
  const written = await store.updateProductInstance(u.tx, next, current.version, current);
  if (!written) throw new ConcurrentModificationError('product instance', id, input.expectedVersion, null);
  // 7. history, 8. outbox — and, when the operation ends here, release its guard (whether
  // just taken or held since the start) in the same statement.
  const correlationId = input.correlationId ?? u.ctx.correlationId;
  const effectiveAt = input.effectiveAt ?? u.now;
  const event = productEvent(u, transition.event, current, next, input, correlationId, {
    operation: input.operationType ?? operationOf(command),
    command,
    previousStatus: current.status,
    ...summaryExtra,
  });
  await recordVersion(u, 'product_instance', next.accountId, id, current, next, transition.changeType, input, correlationId, effectiveAt, event, {
    releaseGuardId: transition.guard === 'release' ? guard.guardId : null,
    // Who did it: every product-instance transition, cascaded ones included, is audited.
    audit: { action: `product-instance.${command.replace(':', '.')}`, details: summaryExtra },
  });
  return next;
}

/** The date a disconnect is scheduled for on this instance, or null. */
function scheduledTerminationOf(product: ProductInstance): string | null {
  const pending = product.pendingChange as { operation?: string; requestedTerminationDate?: string | null } | null;
  return pending?.operation === 'DISCONNECT' && pending.requestedTerminationDate ? pending.requestedTerminationDate : null;
}

const SUBSCRIPTION_FINAL_STATES: readonly string[] = ['TERMINATED', 'EXPIRED'];

/**
 * A new version of a product instance that keeps its state (a scheduled change, not a state
 * transition): optimistic persist, history row, outbox event. The caller holds the guard.
 */
async function reviseProduct(u: Unit, current: ProductInstance, changeType: string, eventType: string, cause: TransitionInput, mutate: (next: ProductInstance) => void, summaryExtra: Record<string, unknown>): Promise<ProductInstance> {
  const next: ProductInstance = { ...current };
  mutate(next);
  next.version = current.version + 1;
  next.updatedAt = u.now;
  if (!(await store.updateProductInstance(u.tx, next, current.version, current))) {
    throw new ConcurrentModificationError('product instance', current.productInstanceId, current.version, null);
  }
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  await recordVersion(u, 'product_instance', next.accountId, next.productInstanceId, current, next, changeType, cause, correlationId, u.now, productEvent(u, eventType, current, next, cause, correlationId, {
    operation: 'DISCONNECT',
    previousStatus: current.status,
    ...summaryExtra,
  }), { audit: { action: `product-instance.${changeType.toLowerCase().replace(/_/g, '-')}`, details: summaryExtra } });
  return next;
}

/** A new version of a subscription that keeps its state (a scheduled end, or its withdrawal). */
async function reviseSubscription(u: Unit, current: Subscription, changeType: string, eventType: string, cause: Cause & { correlationId?: string | null }, mutate: (next: Subscription) => void, summary: Record<string, unknown>): Promise<Subscription> {
  const next: Subscription = structuredClone(current);
  mutate(next);
  next.version = current.version + 1;
  next.updatedAt = u.now;
  if (!(await store.updateSubscription(u.tx, next, current.version))) {
    throw new ConcurrentModificationError('subscription', current.subscriptionId, current.version, null);
  }
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  await recordVersion(u, 'subscription', next.accountId, next.subscriptionId, current, next, changeType, cause, correlationId, u.now, subscriptionEvent(u, eventType, current, next, cause, correlationId, {
    ...summary,
    changedFields: changedKeys(current as unknown as JsonObject, next as unknown as JsonObject).filter((k) => k !== 'version' && k !== 'updatedAt'),
  }));
  return next;
}

async function completeDisconnectOne(u: Unit, id: string, input: TransitionInput, summaryExtra: Record<string, unknown> = {}): Promise<ProductInstance> {
  const effectiveAt = input.effectiveAt ?? u.now;
  const done = await transitionProduct(u, id, 'disconnect:complete', input, (p) => {
    const requested = (p.pendingChange as { requestedTerminationDate?: string | null } | null)?.requestedTerminationDate;
    p.terminationDate = input.effectiveAt ?? requested ?? effectiveAt;
    p.effectiveTo = p.terminationDate;
    p.pendingChange = null;
  }, summaryExtra);
  await followServices(u, done, input);
  await endSubscriptionIfEmpty(u, done, input);
  return done;
}

/** Brings the product's services (and their resources) into line with its new state. */
async function followServices(u: Unit, product: ProductInstance, cause: TransitionInput): Promise<void> {
  const effectiveAt = cause.effectiveAt ?? u.now;
  for (const service of await store.listServiceInstancesOfProduct(u.tx, product.accountId, product.productInstanceId)) {
    const target = serviceStateFor(product.status, service.status);
    if (target === service.status) continue;
    const eventType = { ACTIVE: 'ServiceInstanceActivated', SUSPENDED: 'ServiceInstanceSuspended', TERMINATED: 'ServiceInstanceTerminated', PENDING: 'ServiceInstancePending' }[target];
    const changed = await changeService(u, service, target, eventType, cause, (s) => {
      s.status = target;
      if (target === 'ACTIVE' && !s.activationDate) s.activationDate = effectiveAt;
      if (target === 'TERMINATED') s.terminationDate = effectiveAt;
    });
    if (target === 'TERMINATED') await releaseResourcesOf(u, changed, cause);
  }
}

/** A subscription whose products have all ended is terminated with them. */
async function endSubscriptionIfEmpty(u: Unit, product: ProductInstance, cause: TransitionInput): Promise<void> {
  if (!product.subscriptionId) return;
  const subscription = await loadSubscription(u, product.subscriptionId);
  if (!(SUBSCRIPTION_TRANSITIONS['termination:apply'].from as readonly string[]).includes(subscription.status)) return;
  const products = await store.listProductInstancesOfSubscription(u.tx, product.accountId, product.subscriptionId);
  if (products.some((p) => !PRODUCT_INSTANCE_FINAL_STATES.includes(p.status))) return;
  const effectiveAt = cause.effectiveAt ?? u.now;
  await transitionSubscription(u, subscription, 'termination:apply', subscription.version, cause, (s) => {
    // A product ended with an effective time before the subscription started ends it at its start.
    s.endDate = s.startDate && effectiveAt < s.startDate ? s.startDate : effectiveAt;
  });
}

async function transitionSubscription(
  u: Unit,
  current: Subscription,
  command: SubscriptionCommand,
  expectedVersion: number,
  cause: Cause & { correlationId?: string | null },
  mutate: (next: Subscription) => void,
): Promise<Subscription> {
  const transition = SUBSCRIPTION_TRANSITIONS[command];
  checkExpectedVersion('subscription', current.subscriptionId, current.version, expectedVersion);
  const verdict = subscriptionTransition(current.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('subscription', current.subscriptionId, current.status, command, verdict.allowed);
  const next: Subscription = structuredClone(current);
  mutate(next);
  next.status = verdict.to;
  next.version = current.version + 1;
  next.updatedAt = u.now;
  if (!(await store.updateSubscription(u.tx, next, current.version))) {
    throw new ConcurrentModificationError('subscription', current.subscriptionId, expectedVersion, null);
  }
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  await recordVersion(u, 'subscription', next.accountId, next.subscriptionId, current, next, transition.changeType, cause, correlationId, cause.effectiveAt ?? u.now, subscriptionEvent(u, transition.event, current, next, cause, correlationId, {
    operation: command.split(':')[0].toUpperCase(),
    previousStatus: current.status,
    changedFields: changedKeys(current as unknown as JsonObject, next as unknown as JsonObject).filter((k) => k !== 'version' && k !== 'updatedAt'),
  }));
  return next;
}

async function createService(u: Unit, service: ServiceInstance, changeType: string, cause: Cause & { correlationId?: string | null }, extra: Record<string, unknown> = {}): Promise<void> {
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  await store.insertServiceInstance(u.tx, u.ctx.tenantId, service);
  await recordVersion(u, 'service_instance', service.accountId, service.serviceInstanceId, null, service, changeType, cause, correlationId, cause.effectiveAt ?? u.now, serviceEvent(u, 'ServiceInstanceCreated', null, service, cause, correlationId, { operation: changeType, ...extra }));
}

/** A new service instance of the product: it follows the product's state (PENDING until the product is live). */
function newServiceInstance(
  u: Unit,
  product: ProductInstance,
  input: { serviceSpecificationId: string; serviceSpecificationVersion: number; name?: string | null; externalServiceId?: string | null; technicalParameters?: JsonObject },
  place: JsonObject | null,
  effectiveAt: string,
): ServiceInstance {
  const status = product.status === 'ACTIVE' ? 'ACTIVE' : product.status === 'SUSPENDED' ? 'SUSPENDED' : 'PENDING';
  return {
    serviceInstanceId: newId(),
    accountId: product.accountId,
    productInstanceId: product.productInstanceId,
    serviceSpecificationId: input.serviceSpecificationId,
    serviceSpecificationVersion: input.serviceSpecificationVersion,
    name: input.name ?? null,
    status,
    externalServiceId: input.externalServiceId ?? null,
    place,
    activationDate: status === 'PENDING' ? null : effectiveAt,
    terminationDate: null,
    technicalParameters: input.technicalParameters ?? {},
    version: 1,
    createdAt: u.now,
    updatedAt: u.now,
  };
}

/** Allocates a resource to a live service: a new resource instance, its history row and event. */
async function allocateResource(u: Unit, service: ServiceInstance, input: FulfilledResource, cause: Cause & { correlationId?: string | null }): Promise<ResourceInstance> {
  const effectiveAt = cause.effectiveAt ?? u.now;
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  const resource: ResourceInstance = {
    resourceInstanceId: newId(),
    accountId: service.accountId,
    serviceInstanceId: service.serviceInstanceId,
    resourceType: input.resourceType,
    resourceId: input.resourceId ?? null,
    externalResourceId: input.externalResourceId ?? null,
    status: 'ALLOCATED',
    allocationDate: effectiveAt,
    releaseDate: null,
    attributes: input.attributes ?? {},
    version: 1,
    createdAt: u.now,
    updatedAt: u.now,
  };
  await store.insertResourceInstance(u.tx, u.ctx.tenantId, resource);
  await recordVersion(u, 'resource_instance', resource.accountId, resource.resourceInstanceId, null, resource, 'ALLOCATED', cause, correlationId, effectiveAt, resourceEvent(u, 'ResourceInstanceAllocated', null, resource, service, cause, correlationId));
  return resource;
}

/**
 * The services fulfillment realised for a product at `place` (MOVE, REPLACE): each becomes a
 * service instance with its technical parameters, and its reserved resources are allocated to it.
 */
async function createFulfilledServices(
  u: Unit,
  product: ProductInstance,
  services: readonly FulfilledService[],
  place: JsonObject | null,
  changeType: string,
  cause: Cause & { correlationId?: string | null },
  extraOf: (service: FulfilledService) => Record<string, unknown> = () => ({}),
): Promise<ServiceInstance[]> {
  const created: ServiceInstance[] = [];
  for (const fulfilled of services) {
    await checkServiceSpecification(u, fulfilled.serviceSpecificationId, fulfilled.serviceSpecificationVersion, '/services');
    const service = newServiceInstance(u, product, fulfilled, place, cause.effectiveAt ?? u.now);
    await createService(u, service, changeType, cause, extraOf(fulfilled));
    for (const resource of fulfilled.resources) await allocateResource(u, service, resource, cause);
    created.push(service);
  }
  return created;
}

// ------------------------------------------------------------------ references into the catalog

/**
 * A price snapshot is in the account's currency: billing charges the account in it. (Its shape,
 * `{currency, lines}`, is the route schema's check, src/pricing/snapshot.ts.)
 */
function checkPriceCurrency(accountCurrency: string, price: JsonObject, field: string): void {
  if (price.currency !== undefined && price.currency !== accountCurrency) {
    throw ValidationError.field(`${field}/currency`, `the price is in ${String(price.currency)}, the account is billed in ${accountCurrency}`);
  }
}

/** A catalog version number: a positive integer the catalog's integer column can hold, or null. */
function versionNumber(version: number): number | null {
  return Number.isSafeInteger(version) && version >= 1 && version <= 2147483647 ? version : null;
}

/**
 * The offering and specification a product instance names must exist in the tenant's catalog,
 * in those versions, and the offering must be sold with that specification: an instance never
 * points at nothing. 400 naming the field otherwise.
 */
async function checkProductReferences(u: Unit, snapshot: Pick<ProductSnapshotInput, 'productOfferingId' | 'productOfferingVersion' | 'productSpecificationId' | 'productSpecificationVersion'>, prefix: string): Promise<void> {
  const offeringVersion = versionNumber(snapshot.productOfferingVersion);
  const offering = offeringVersion === null ? null : await findOfferingVersion(u.tx, snapshot.productOfferingId, offeringVersion);
  if (!offering) throw ValidationError.field(`${prefix}/productOfferingId`, `product offering ${snapshot.productOfferingId} version ${snapshot.productOfferingVersion} does not exist`);
  const specificationVersion = versionNumber(snapshot.productSpecificationVersion);
  const specification = specificationVersion === null ? null : await findProductSpecificationVersion(u.tx, snapshot.productSpecificationId, specificationVersion);
  if (!specification) throw ValidationError.field(`${prefix}/productSpecificationId`, `product specification ${snapshot.productSpecificationId} version ${snapshot.productSpecificationVersion} does not exist`);
  const sold = offering.body.productSpecification;
  if (!sold || sold.id !== specification.id || sold.version !== specification.version) {
    throw ValidationError.field(`${prefix}/productSpecificationId`, `offering ${offering.body.code} version ${offering.version} is sold with ${sold ? `product specification ${sold.id} version ${sold.version}` : 'no product specification'}, not ${specification.id} version ${specification.version}`);
  }
}

/** A service instance names a service specification version that exists in the tenant's catalog. */
async function checkServiceSpecification(u: Unit, id: string, version: number, prefix: string): Promise<void> {
  const number = versionNumber(version);
  const specification = number === null ? null : await findCatalogVersion(u.tx, 'service_specification', id, number);
  if (!specification) throw ValidationError.field(`${prefix}/serviceSpecificationId`, `service specification ${id} version ${version} does not exist`);
}

async function changeService(
  u: Unit,
  current: ServiceInstance,
  changeType: string,
  eventType: string,
  cause: Cause & { correlationId?: string | null },
  mutate: (next: ServiceInstance) => void,
  expectedVersion = current.version,
): Promise<ServiceInstance> {
  const next: ServiceInstance = structuredClone(current);
  mutate(next);
  next.version = current.version + 1;
  next.updatedAt = u.now;
  if (!(await store.updateServiceInstance(u.tx, next, expectedVersion))) {
    throw new ConcurrentModificationError('service instance', current.serviceInstanceId, expectedVersion, null);
  }
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  await recordVersion(u, 'service_instance', next.accountId, next.serviceInstanceId, current, next, changeType, cause, correlationId, cause.effectiveAt ?? u.now, serviceEvent(u, eventType, current, next, cause, correlationId, { operation: changeType, previousStatus: current.status }));
  return next;
}

async function releaseResourcesOf(u: Unit, service: ServiceInstance, cause: Cause & { correlationId?: string | null }): Promise<void> {
  for (const resource of await store.listResourceInstancesOfService(u.tx, service.accountId, service.serviceInstanceId)) {
    if (resource.status === 'RELEASED') continue;
    await releaseResource(u, resource, service, cause, resource.version);
  }
}

async function releaseResource(u: Unit, current: ResourceInstance, service: ServiceInstance, cause: Cause & { correlationId?: string | null }, expectedVersion: number): Promise<ResourceInstance> {
  const next: ResourceInstance = { ...current, status: 'RELEASED', releaseDate: cause.effectiveAt ?? u.now, version: current.version + 1, updatedAt: u.now };
  if (!(await store.updateResourceInstance(u.tx, next, expectedVersion))) {
    throw new ConcurrentModificationError('resource instance', current.resourceInstanceId, expectedVersion, null);
  }
  const correlationId = cause.correlationId ?? u.ctx.correlationId;
  await recordVersion(u, 'resource_instance', next.accountId, next.resourceInstanceId, current, next, 'RELEASED', cause, correlationId, cause.effectiveAt ?? u.now, resourceEvent(u, 'ResourceInstanceReleased', current, next, service, cause, correlationId));
  return next;
}

/** Adds a relationship after the rules of model.ts, serialised per account. */
async function addRelationship(
  u: Unit,
  r: { accountId: string; sourceProductInstanceId: string; targetProductInstanceId: string; type: RelationshipType; validFrom: string; orderId: string | null; orderItemId: string | null; alreadyLocked?: boolean },
): Promise<Relationship> {
  if (r.sourceProductInstanceId === r.targetProductInstanceId) {
    throw new InvalidRelationshipError(`a product instance cannot be related to itself (${r.type})`, { rule: 'self-link' });
  }
  for (const end of [r.sourceProductInstanceId, r.targetProductInstanceId]) {
    const product = await store.findProductInstance(u.tx, end);
    if (!product) throw NotFoundError.of('product instance', end);
    if (product.accountId !== r.accountId) {
      throw new InvalidRelationshipError(`product instance ${end} belongs to another account; relationships stay within one account`, { rule: 'cross-account' });
    }
  }
  if (!r.alreadyLocked) await store.lockAccountRelationships(u.tx, r.accountId);
  const current = await store.listCurrentRelationships(u.tx, r.accountId);
  const proposed = { source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type };
  if (current.some((c) => c.sourceProductInstanceId === proposed.source && c.targetProductInstanceId === proposed.target && c.type === proposed.type)) {
    throw new DuplicateRelationshipError(`${proposed.source} ${proposed.type} ${proposed.target} already exists`);
  }
  const problem = checkNewRelationship(current.map(edgeOf), proposed);
  if (problem?.kind === 'second-parent') {
    throw new InvalidRelationshipError(`product instance ${proposed.target} already has parent ${problem.existingParent}`, { rule: 'one-parent', existingParent: problem.existingParent });
  }
  if (problem?.kind === 'cycle') {
    throw new InvalidRelationshipError(`${proposed.source} ${proposed.type} ${proposed.target} would close a containment cycle: ${problem.path.join(' → ')}`, { rule: 'no-cycle', path: problem.path });
  }
  const relationship: Relationship = {
    relationshipId: newId(),
    accountId: r.accountId,
    sourceProductInstanceId: r.sourceProductInstanceId,
    targetProductInstanceId: r.targetProductInstanceId,
    type: r.type,
    validFrom: r.validFrom,
    validTo: null,
    createdByOrderId: r.orderId,
    createdByOrderItemId: r.orderItemId,
    createdAt: u.now,
    endedAt: null,
  };
  try {
    await store.insertRelationship(u.tx, u.ctx.tenantId, relationship);
  } catch (error) {
    if (isUniqueViolation(error)) throw new DuplicateRelationshipError(`${proposed.source} ${proposed.type} ${proposed.target} already exists`);
    throw error;
  }
  await appendToOutbox(u.tx, u.ctx.tenantId, buildEvent({
    eventType: 'ProductInstanceRelationshipCreated',
    occurredAt: u.now,
    correlationId: u.ctx.correlationId,
    causationId: r.orderItemId,
    accountId: r.accountId,
    aggregateType: 'relationship',
    aggregateId: relationship.relationshipId,
    aggregateVersion: null,
    body: { relationshipId: relationship.relationshipId, type: r.type, sourceProductInstanceId: r.sourceProductInstanceId, targetProductInstanceId: r.targetProductInstanceId, validFrom: r.validFrom },
  }));
  return relationship;
}

/** Ends a current relationship (kept, with validTo and endedAt) and writes its event. The caller holds the account's relationship lock. */
async function endRelationshipNow(u: Unit, relationship: Relationship, validTo: string, cause: Cause): Promise<Relationship> {
  const ended = await store.endRelationship(u.tx, relationship.accountId, relationship.relationshipId, { validTo, endedAt: u.now, orderItemId: cause.orderItemId ?? null });
  if (!ended) throw new ConcurrentModificationError('relationship', relationship.relationshipId, 1, null);
  await appendToOutbox(u.tx, u.ctx.tenantId, buildEvent({
    eventType: 'ProductInstanceRelationshipEnded',
    occurredAt: u.now,
    correlationId: u.ctx.correlationId,
    causationId: cause.orderItemId ?? null,
    accountId: relationship.accountId,
    aggregateType: 'relationship',
    aggregateId: relationship.relationshipId,
    aggregateVersion: null,
    body: { relationshipId: relationship.relationshipId, type: relationship.type, sourceProductInstanceId: relationship.sourceProductInstanceId, targetProductInstanceId: relationship.targetProductInstanceId, validTo },
  }));
  return { ...relationship, validTo, endedAt: u.now };
}

const edgeOf = (r: Relationship) => ({ source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type });

/** Writes a new version's history row and its outbox event: one statement, one round trip. */
async function recordVersion(
  u: Unit,
  kind: EntityKind,
  accountId: string,
  entityId: string,
  before: object | null,
  after: object & { version: number },
  changeType: string,
  cause: Cause,
  correlationId: string | null,
  effectiveAt: string,
  event: OutboxEvent,
  extra: { releaseGuardId?: string | null; audit?: { action: string; details: Record<string, unknown> } } = {},
): Promise<void> {
  await store.insertHistoryWithEvent(u.tx, u.ctx.tenantId, kind, {
    historyId: newId(),
    accountId,
    entityId,
    version: after.version,
    changeType,
    orderId: cause.orderId ?? null,
    orderItemId: cause.orderItemId ?? null,
    beforeState: before as JsonObject | null,
    afterState: after as unknown as JsonObject,
    recordedAt: u.now,
    effectiveAt,
    actorApiKeyId: u.ctx.actor?.apiKeyId ?? null,
    correlationId,
  }, event, {
    releaseGuardId: extra.releaseGuardId ?? null,
    audit: extra.audit ? { ...extra.audit, targetType: kind, actorRole: u.ctx.actor?.role ?? null } : null,
  });
}

function productEvent(u: Unit, eventType: string, before: ProductInstance | null, after: ProductInstance, cause: Cause, correlationId: string | null, summary: Record<string, unknown>) {
  return buildEvent({
    eventType,
    occurredAt: u.now,
    correlationId,
    causationId: cause.orderItemId ?? null,
    accountId: after.accountId,
    aggregateType: 'product_instance',
    aggregateId: after.productInstanceId,
    aggregateVersion: after.version,
    body: {
      customerId: after.customerId,
      productInstanceId: after.productInstanceId,
      subscriptionId: after.subscriptionId,
      orderId: cause.orderId ?? null,
      orderItemId: cause.orderItemId ?? null,
      previousVersion: before?.version ?? null,
      newVersion: after.version,
      status: after.status,
      changeSummary: {
        ...summary,
        changedCharacteristics: changedKeys(before?.configuration, after.configuration),
        changedPrices: changedPriceKeys(before?.price, after.price),
      },
    },
  });
}

function subscriptionEvent(u: Unit, eventType: string, before: Subscription | null, after: Subscription, cause: Cause, correlationId: string | null, summary: Record<string, unknown>) {
  return buildEvent({
    eventType,
    occurredAt: u.now,
    correlationId,
    causationId: cause.orderItemId ?? null,
    accountId: after.accountId,
    aggregateType: 'subscription',
    aggregateId: after.subscriptionId,
    aggregateVersion: after.version,
    body: {
      customerId: after.customerId,
      subscriptionId: after.subscriptionId,
      previousVersion: before?.version ?? null,
      newVersion: after.version,
      status: after.status,
      endDate: after.endDate,
      changeSummary: summary,
    },
  });
}

function serviceEvent(u: Unit, eventType: string, before: ServiceInstance | null, after: ServiceInstance, cause: Cause, correlationId: string | null, summary: Record<string, unknown>) {
  return buildEvent({
    eventType,
    occurredAt: u.now,
    correlationId,
    causationId: cause.orderItemId ?? null,
    accountId: after.accountId,
    aggregateType: 'service_instance',
    aggregateId: after.serviceInstanceId,
    aggregateVersion: after.version,
    body: {
      serviceInstanceId: after.serviceInstanceId,
      productInstanceId: after.productInstanceId,
      previousVersion: before?.version ?? null,
      newVersion: after.version,
      status: after.status,
      changeSummary: summary,
    },
  });
}

function resourceEvent(u: Unit, eventType: string, before: ResourceInstance | null, after: ResourceInstance, service: ServiceInstance, cause: Cause, correlationId: string | null) {
  return buildEvent({
    eventType,
    occurredAt: u.now,
    correlationId,
    causationId: cause.orderItemId ?? null,
    accountId: after.accountId,
    aggregateType: 'resource_instance',
    aggregateId: after.resourceInstanceId,
    aggregateVersion: after.version,
    body: {
      resourceInstanceId: after.resourceInstanceId,
      serviceInstanceId: after.serviceInstanceId,
      productInstanceId: service.productInstanceId,
      previousVersion: before?.version ?? null,
      newVersion: after.version,
      status: after.status,
      changeSummary: { resourceType: after.resourceType, resourceId: after.resourceId },
    },
  });
}

async function audit(u: Unit, action: string, targetType: string, targetId: string, accountId: string, details: Record<string, unknown> = {}): Promise<void> {
  await recordAudit(u.tx, u.ctx.tenantId, u.ctx.actor, u.ctx.correlationId, u.now, { action, targetType, targetId, subjectAccountId: accountId, details });
}


/** Adds calendar months in the account's time zone (a month is not a fixed duration). */
export function addMonths(instant: string, months: number, timeZone: string): string {
  const zoned = Temporal.Instant.from(new Date(instant).toISOString()).toZonedDateTimeISO(timeZone);
  return new Date(zoned.add({ months }).epochMilliseconds).toISOString();
}

/**
 * The end date a renewal moves a subscription to: `newEndDate`, or the current end plus
 * `termMonths` (default: the subscription's own term) in the account's time zone. It must be
 * after the current end. The one rule, used by the renewal command and by order submission
 * (which checks a RENEW item before it takes any guard). Fields: `/newEndDate`.
 */
export function renewalEndDate(subscription: Subscription, input: { termMonths?: number | null; newEndDate?: string | null }, timeZone: string): string {
  const months = input.termMonths ?? subscription.termMonths;
  let newEnd: string;
  if (input.newEndDate) newEnd = new Date(input.newEndDate).toISOString();
  else if (subscription.endDate && months) newEnd = addMonths(subscription.endDate, months, timeZone);
  else throw ValidationError.field('/newEndDate', 'the subscription has no end date or term; give newEndDate or termMonths');
  if (subscription.endDate && newEnd <= subscription.endDate) {
    throw ValidationError.field('/newEndDate', `must be after the current end date ${subscription.endDate}`);
  }
  return newEnd;
}

// ======================================================================= for the order part

export interface OrderTarget {
  productInstanceId: string;
  expectedVersion: number;
  orderId: string;
  orderItemId: string;
  operationType: string;
  /** The command whose state rule the target must satisfy now; null = only "not ended". */
  command: ProductInstanceCommand | null;
}

/**
 * Order submission, inside the order's transaction: checks every target (exists in the
 * account, expected version, state) and then takes every target's operation guard for its
 * order item. Any failure throws, and the caller's transaction rolls back every guard taken:
 * the order holds all its targets or none. Targets are handled in id order, so two orders
 * over the same assets cannot deadlock.
 */
export async function holdAssetsForOrderInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  accountId: string,
  targets: readonly OrderTarget[],
): Promise<Guard[]> {
  const u: Unit = { tx, ctx, now };
  const ordered = [...targets].sort((a, b) => a.productInstanceId.localeCompare(b.productInstanceId));
  const checked: { target: OrderTarget; product: ProductInstance; holder: Guard | null }[] = [];
  for (const target of ordered) {
    const loaded = await store.findProductInstanceWithGuard(tx, target.productInstanceId);
    if (!loaded || loaded.product.accountId !== accountId) throw NotFoundError.of('product instance', target.productInstanceId);
    const product = loaded.product;
    checkExpectedVersion('product instance', product.productInstanceId, product.version, target.expectedVersion);
    if (target.command) {
      const verdict = productInstanceTransition(product.status, target.command);
      if (!verdict.ok) throw new IllegalTransitionError('product instance', product.productInstanceId, product.status, target.command, verdict.allowed);
    } else if (PRODUCT_INSTANCE_FINAL_STATES.includes(product.status)) {
      throw new IllegalTransitionError('product instance', product.productInstanceId, product.status, target.operationType, []);
    }
    checked.push({ target, product, holder: loaded.activeGuard });
  }
  const held: Guard[] = [];
  for (const { target, product, holder } of checked) {
    if (holder) throw new OperationInProgressError(product.productInstanceId, holder);
    held.push(await acquireGuard(u, product, { orderId: target.orderId, orderItemId: target.orderItemId }, target.operationType, null));
  }
  return held;
}
