/**
 * ADD: sells an offering as a new product instance (or a bundle, whose members are the
 * products). At submission the instance is created PENDING_ACTIVATION; when its tasks are done
 * it gets the services and resources they set up and is ACTIVE; when they fail it is ERROR,
 * the error recorded; withdrawn, it is CANCELLED; a re-run starts its activation again.
 */
import { catalogSnapshotOf, instanceNameOf } from '../../catalog/index.ts';
import { productInstanceInTx } from '../../inventory/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import type { FieldError } from '../../platform/errors.ts';
import { currentProduct, priceSnapshotOf, servicesFromTasks, type OrderActionModule } from './action.ts';

export const add: OrderActionModule = {
  target: null,
  steps: { kind: 'build', last: 'activate' },

  validate(item) {
    const errors: FieldError[] = [];
    if (!item.offeringId) errors.push({ field: '/offeringId', message: 'an ADD item names the offering to add' });
    if (item.productInstanceId) errors.push({ field: '/productInstanceId', message: 'an ADD item creates its product instance; it has no target' });
    return errors;
  },

  basketLine: (item) => ({ action: 'ADD', offeringId: item.offeringId!, offeringVersion: item.offeringVersion ?? null }),

  async begin(item, s, inventory) {
    const input = item.input;
    const { offering: sold, specification: spec, configuration } = item.basket!;
    const offering = sold!;
    const parent = input.parentItemNumber ? s.items[input.parentItemNumber - 1] : null;
    const parentInstanceId = parent ? parent.createdInstanceId ?? null : input.parentProductInstanceId ?? null;
    // An add-on joins its parent's subscription unless told otherwise; members of a bundle share one.
    const parentSubscription = parent
      ? parent.subscriptionId ?? null
      : parentInstanceId ? (await productInstanceInTx(s.tx, parentInstanceId))?.subscriptionId ?? null : null;
    const joins = input.subscriptionId ?? parentSubscription;
    if (offering.body.bundle || !spec) {
      // A bundle is commercial: its members are the products. The first member's subscription becomes the bundle's.
      item.subscriptionId = joins;
      return;
    }
    const { productInstance, subscription } = await inventory.createProductInstance(s.ctx, {
      accountId: s.account.accountId,
      orderId: s.orderId,
      orderItemId: item.itemId,
      productOfferingId: offering.id,
      productOfferingVersion: offering.version,
      productSpecificationId: spec.id,
      productSpecificationVersion: spec.version,
      name: instanceNameOf(offering.body, spec.body, configuration!),
      catalogSnapshot: catalogSnapshotOf(offering, spec),
      configuration: configuration as JsonObject,
      price: priceSnapshotOf(item, s),
      place: (input.place ?? null) as JsonObject | null,
      subscriptionId: joins,
      subscription: joins ? null : { termMonths: input.subscription?.termMonths ?? null, billingCycle: input.subscription?.billingCycle ?? 'monthly', autoRenew: input.subscription?.autoRenew ?? false },
      relationships: parentInstanceId ? [{ type: 'ADDON_OF', targetProductInstanceId: parentInstanceId }] : [],
    });
    await inventory.startActivation(s.ctx, productInstance.productInstanceId, { orderId: s.orderId, orderItemId: item.itemId, expectedVersion: productInstance.version });
    item.createdInstanceId = productInstance.productInstanceId;
    item.subscriptionId = subscription?.subscriptionId ?? joins;
    if (parent && parent.subscriptionId === null) parent.subscriptionId = subscription?.subscriptionId ?? null;
  },

  recorded: (item) => ({ offeringId: item.input.offeringId!, offeringVersion: item.basket!.offering!.version, details: { configuration: item.basket!.configuration } }),

  async apply({ tx, ctx, inventory, cause }, target, tasks) {
    for (const fulfilled of await servicesFromTasks(tx, tasks)) {
      const service = await inventory.attachServiceInstance(ctx, target.productInstanceId, { ...cause, ...fulfilled });
      for (const resource of fulfilled.resources) await inventory.attachResourceInstance(ctx, service.serviceInstanceId, { ...cause, ...resource });
    }
    await inventory.completeActivation(ctx, target.productInstanceId, { ...cause, expectedVersion: (await currentProduct(tx, target.productInstanceId)).version });
    return target.productInstanceId;
  },

  async fail({ ctx, inventory, cause }, product, problem) {
    if (product.status === 'PENDING_ACTIVATION') await inventory.failActivation(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, error: problem });
  },

  async withdraw({ ctx, inventory, cause }, product) {
    if (product.status === 'PENDING_ACTIVATION' || product.status === 'ERROR') await inventory.cancelActivation(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  },

  async retake({ ctx, inventory, cause }, product) {
    await inventory.startActivation(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  },
};
