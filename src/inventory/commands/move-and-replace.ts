/**
 * The two changes that keep what the customer has but not where or what it is built on
 * (order actions MOVE and REPLACE, seed 000 §11.4–11.5): the same instance at a new place,
 * or a new instance in the old one's place.
 */
import { findAccountInTx } from '../../customers/index.ts';
import { ValidationError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { productEvent } from '../events.ts';
import type { RelationshipType } from '../model.ts';
import { loadProduct, transitionProduct, writeVersion, type TransitionInput, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { JsonObject, ProductInstance, ServiceInstance } from '../types.ts';
import { checkPriceCurrency, checkProductReferences } from './catalog-references.ts';
import type { ProductSnapshotInput } from './lifecycle.ts';
import { addRelationship, endRelationshipNow } from './relationships.ts';
import { changeService, createFulfilledServices, createService, followServices, releaseResourcesOf, type FulfilledService } from './services-and-resources.ts';

/**
 * Same product instance and subscription at a new place (seed 000 §11.4): each moved
 * service instance is terminated (its resources released) and a new one is created at the
 * new place. With `services` (what fulfillment configured and reserved at the new place),
 * every live service is moved out and the new ones are those services, with their technical
 * parameters and resources; without, each selected service is copied to the new place with
 * `technicalParameters` merged over its old ones and no resources.
 */
export async function move(u: Unit, id: string, input: TransitionInput & { place: JsonObject; serviceInstanceIds?: string[]; technicalParameters?: JsonObject; services?: FulfilledService[] }): Promise<{ productInstance: ProductInstance; moved: { from: ServiceInstance; to: ServiceInstance }[] }> {
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
}

/**
 * A new product instance takes the old one's place (seed 000 §11.5): it joins the same
 * subscription, "new REPLACES old" is recorded, and the old one is DISCONNECTED with its
 * services terminated and resources released. Every current relationship of the old
 * instance moves to the new one — its parent's PARENT_OF, its own ADDON_OF, its children,
 * dependencies — except the REPLACES / MIGRATED_FROM records of earlier history. With
 * `services`, the new instance gets those services and resources (what fulfillment set up).
 */
export async function replace(u: Unit, id: string, input: TransitionInput & { replacement: ProductSnapshotInput; place?: JsonObject | null; services?: FulfilledService[] }): Promise<{ replaced: ProductInstance; productInstance: ProductInstance }> {
  const old = await loadProduct(u, id);
  await checkProductReferences(u, input.replacement, '/replacement');
  checkPriceCurrency((await findAccountInTx(u.tx, old.accountId))!.currency, input.replacement.price, '/replacement/price');
  const effectiveAt = input.effectiveAt ?? u.now;
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
  const created = productEvent(u, 'ProductInstanceCreated', null, newInstance, input, { operation: 'REPLACE', replaces: id });
  await writeVersion(u, 'product_instance', null, newInstance, { changeType: 'CREATED', cause: input, effectiveAt, event: created });
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
}
