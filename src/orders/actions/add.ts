/**
 * ADD: sells an offering as a new product instance (or a bundle, whose members are the
 * products). At submission the instance is created PENDING_ACTIVATION; when its tasks are done
 * it gets the services and resources they set up and is ACTIVE; when they fail it is ERROR,
 * the error recorded; withdrawn, it is CANCELLED; a re-run starts its activation again.
 */
import { catalogSnapshotOf, instanceNameOf } from '../../catalog/index.ts';
import type { PendingProductInput } from '../../inventory/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import type { FieldError } from '../../platform/errors.ts';
import { priceSnapshotOf, servicesFromTasks, type DraftItem, type OrderActionModule } from './action.ts';

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

  /**
   * Every ADD item's product instance, created PENDING_ACTIVATION with its activation started,
   * in one inventory command. Which subscription each joins is decided here, parents first: an
   * add-on joins its parent's unless told otherwise; the members of a bundle share one (the
   * first member's becomes the bundle's).
   */
  async beginAll(items, s, inventory) {
    const inputs: PendingProductInput[] = [];
    const entryOf = new Map<DraftItem, number>();
    // Where an item's subscription comes from: a known one (or none), or the one created with an input.
    type Source = { id: string | null } | { entry: number };
    const sourceOf = new Map<DraftItem, Source>();
    const existing = (id: string) => s.assets.products.find((p) => p.productInstanceId === id);
    for (const item of items) {
      const input = item.input;
      const { offering: sold, specification: spec, configuration } = item.basket!;
      const offering = sold!;
      const parent = input.parentItemNumber ? s.items[input.parentItemNumber - 1] : null;
      const parentEntry = parent ? entryOf.get(parent) : undefined;
      const parentInstanceId = parent ? null : input.parentProductInstanceId ?? null;
      // An add-on joins its parent's subscription unless told otherwise; members of a bundle share one.
      const parentSource: Source = parent
        ? sourceOf.get(parent) ?? { id: parent.subscriptionId ?? null }
        : { id: parentInstanceId ? existing(parentInstanceId)?.subscriptionId ?? null : null };
      const joins: Source = input.subscriptionId ? { id: input.subscriptionId } : parentSource;
      if (offering.body.bundle || !spec) {
        // A bundle is commercial: its members are the products. The first member's subscription becomes the bundle's.
        sourceOf.set(item, joins);
        continue;
      }
      const k = inputs.length;
      inputs.push({
        orderId: s.orderId,
        orderItemId: item.itemId,
        productOfferingId: offering.id,
        productOfferingVersion: offering.version,
        productSpecificationId: spec.id,
        productSpecificationVersion: spec.version,
        read: { offering, specification: spec },
        name: instanceNameOf(offering.body, spec.body, configuration!),
        catalogSnapshot: catalogSnapshotOf(offering, spec),
        configuration: configuration as JsonObject,
        price: priceSnapshotOf(item, s),
        place: (input.place ?? null) as JsonObject | null,
        subscription: 'entry' in joins ? { joinOf: joins.entry } : joins.id ? { join: joins.id }
          : { create: { termMonths: input.subscription?.termMonths ?? null, billingCycle: input.subscription?.billingCycle ?? 'monthly', autoRenew: input.subscription?.autoRenew ?? false, renewalPolicy: input.subscription?.renewalPolicy ?? {}, startDate: input.subscription?.startDate ?? null } },
        addOnOf: parentEntry !== undefined ? { of: parentEntry } : parentInstanceId ? { existing: parentInstanceId } : null,
      });
      entryOf.set(item, k);
      const creates = 'id' in joins && joins.id === null;
      sourceOf.set(item, creates ? { entry: k } : joins);
      // A parent (a bundle, or an ADD) left without a subscription takes the one this item created.
      const parentNow = parent ? sourceOf.get(parent) : undefined;
      if (parent && creates && parentNow && 'id' in parentNow && parentNow.id === null) sourceOf.set(parent, { entry: k });
    }
    const created = await inventory.createPendingProductsForOrder(s.ctx, s.account, inputs);
    const idOf = (source: Source | undefined): string | null | undefined => source === undefined ? undefined : 'entry' in source ? created[source.entry].subscriptionId : source.id;
    for (const item of items) {
      const k = entryOf.get(item);
      if (k !== undefined) item.createdInstanceId = created[k].productInstance.productInstanceId;
      const subscriptionId = idOf(sourceOf.get(item));
      if (subscriptionId !== undefined) item.subscriptionId = subscriptionId;
    }
  },

  recorded: (item) => ({ offeringId: item.input.offeringId!, offeringVersion: item.basket!.offering!.version, details: { configuration: item.basket!.configuration } }),

  async applyTo({ tx, ctx, inventory, cause }, productInstanceId, tasks) {
    // The services and resources attached and the activation completed in one command, under one read of the product.
    await inventory.completeActivationWithServices(ctx, productInstanceId, await servicesFromTasks(tx, ctx.tenantId, tasks), cause);
    return productInstanceId;
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
