/**
 * The services that realise a product instance and the resources allocated to them: attached
 * and released one at a time (each under the product's operation guard), created from what
 * fulfillment set up, and kept in line with their product's state.
 */
import { IllegalTransitionError, NotFoundError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { resourceEvent, serviceEvent } from '../events.ts';
import { PRODUCT_INSTANCE_FINAL_STATES, serviceStateFor, type ProductInstanceCommand } from '../model.ts';
import { eventPayload, type OutboxEvent } from '../../events/index.ts';
import { audit, checkExpectedVersion, correlationOf, loadProduct, loadProductWithGuard, transitionProduct, underGuard, writeVersion, type CorrelatedCause, type ProductWithGuard, type TransitionInput, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { JsonObject, ProductInstance, ResourceInstance, ServiceInstance } from '../types.ts';
import { checkServiceSpecification } from './catalog-references.ts';

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

interface NewService {
  serviceSpecificationId: string;
  serviceSpecificationVersion: number;
  name?: string | null;
  externalServiceId?: string | null;
  technicalParameters?: JsonObject;
}

// ----------------------------------------------------------------------- commands

export async function attachServiceInstance(u: Unit, productInstanceId: string, input: CorrelatedCause & NewService & { place?: JsonObject | null }): Promise<ServiceInstance> {
  const { product, activeGuard } = await loadProductWithGuard(u, productInstanceId);
  if (PRODUCT_INSTANCE_FINAL_STATES.includes(product.status) || product.status === 'PENDING_DISCONNECT') {
    throw new IllegalTransitionError('product instance', productInstanceId, product.status, 'service-attachment:apply', []);
  }
  await checkServiceSpecification(u, input.serviceSpecificationId, input.serviceSpecificationVersion, '');
  const service = await underGuard(u, product, input, 'ATTACH_SERVICE', async () => {
    const created = newServiceInstance(u, product, input, input.place ?? product.place, input.effectiveAt ?? u.now);
    await createService(u, created, 'ATTACHED', input);
    return created;
  }, activeGuard);
  await audit(u, 'service-instance.attach', 'service_instance', service.serviceInstanceId, product.accountId, { productInstanceId });
  return service;
}

/**
 * What fulfillment set up for a product (an ADD's services, each with its reserved resources),
 * attached as attachServiceInstance and attachResourceInstance attach them one at a time — the
 * same rows, versions, history rows, events and audit rows, in the same order — but on the
 * product and active guard the caller read once: attaching writes neither, so every attachment
 * sees what that read saw (a guard taken only for one attachment is released with it). Returns
 * the services attached, and every service of the product after it, in
 * listServiceInstancesOfProduct's order, when that is known without a read (null otherwise): the
 * activation that follows (completeActivationWithServices) goes on with them.
 */
export async function attachFulfilledServicesTo(
  u: Unit,
  loaded: ProductWithGuard,
  services: readonly FulfilledService[],
  cause: CorrelatedCause,
): Promise<{ attached: ServiceInstance[]; servicesOfProduct: ServiceInstance[] | null }> {
  const { product, activeGuard } = loaded;
  const productInstanceId = product.productInstanceId;
  if (PRODUCT_INSTANCE_FINAL_STATES.includes(product.status) || product.status === 'PENDING_DISCONNECT') {
    throw new IllegalTransitionError('product instance', productInstanceId, product.status, 'service-attachment:apply', []);
  }
  // The order item holds the product's guard (an order's fulfillment): no guard statement, and
  // every row and record of them in one statement.
  if (activeGuard && cause.orderItemId != null && activeGuard.orderItemId === cause.orderItemId) return insertFulfilledServices(u, product, services, cause);
  const attached: ServiceInstance[] = [];
  for (const fulfilled of services) {
    await checkServiceSpecification(u, fulfilled.serviceSpecificationId, fulfilled.serviceSpecificationVersion, '');
    const service = await underGuard(u, product, cause, 'ATTACH_SERVICE', async () => {
      const created = newServiceInstance(u, product, fulfilled, product.place, cause.effectiveAt ?? u.now);
      await createService(u, created, 'ATTACHED', cause);
      return created;
    }, activeGuard);
    await audit(u, 'service-instance.attach', 'service_instance', service.serviceInstanceId, product.accountId, { productInstanceId });
    for (const input of fulfilled.resources) {
      const resource = await underGuard(u, product, cause, 'ATTACH_RESOURCE', () => allocateResource(u, service, input, cause), activeGuard);
      await audit(u, 'resource-instance.attach', 'resource_instance', resource.resourceInstanceId, resource.accountId, { serviceInstanceId: service.serviceInstanceId });
    }
    attached.push(service);
  }
  return { attached, servicesOfProduct: null };
}

/**
 * attachFulfilledServicesTo under a guard the cause's order item holds: each service and resource
 * built by the code of the one-row commands (newServiceInstance, createService, allocateResource,
 * audit), their records in the same order, written by store.insertNewServicesWithRecords.
 */
async function insertFulfilledServices(u: Unit, product: ProductInstance, services: readonly FulfilledService[], cause: CorrelatedCause): Promise<{ attached: ServiceInstance[]; servicesOfProduct: ServiceInstance[] | null }> {
  for (const fulfilled of services) await checkServiceSpecification(u, fulfilled.serviceSpecificationId, fulfilled.serviceSpecificationVersion, '');
  const { ctx, now } = u;
  const tenantId = ctx.tenantId;
  const actorApiKeyId = ctx.actor?.apiKeyId ?? null;
  const effectiveAt = cause.effectiveAt ?? now;
  const rows: store.NewServiceRows = { services: [], resources: [], serviceHistory: [], resourceHistory: [], audits: [], events: [] };
  const event = (e: OutboxEvent) => rows.events.push({
    tenant_id: tenantId, account_id: e.accountId, event_id: e.eventId, event_type: e.eventType, event_version: e.eventVersion,
    aggregate_type: e.aggregateType, aggregate_id: e.aggregateId, aggregate_version: e.aggregateVersion, payload: eventPayload(e), occurred_at: e.occurredAt,
  });
  // As audit() writes it: the request's correlation id.
  const auditRow = (action: string, targetType: string, targetId: string, details: Record<string, unknown>) => rows.audits.push({
    audit_id: newId(), tenant_id: tenantId, actor_api_key_id: actorApiKeyId, actor_role: ctx.actor?.role ?? null, action, target_type: targetType,
    target_id: targetId, subject_account_id: product.accountId, correlation_id: ctx.correlationId, details, recorded_at: now,
  });
  // As writeVersion writes a first version's history row.
  const history = (into: Record<string, unknown>[], idColumn: string, entityId: string, after: ServiceInstance | ResourceInstance, changeType: string) => into.push({
    tenant_id: tenantId, account_id: after.accountId, [idColumn]: entityId, version: after.version, history_id: newId(), change_type: changeType,
    changed_by_order_id: cause.orderId ?? null, changed_by_order_item_id: cause.orderItemId ?? null, before_state: null, after_state: after,
    recorded_at: now, effective_at: effectiveAt, actor_api_key_id: actorApiKeyId, correlation_id: correlationOf(u, cause),
  });
  const attached: ServiceInstance[] = [];
  for (const fulfilled of services) {
    const service = newServiceInstance(u, product, fulfilled, product.place, effectiveAt);
    rows.services.push({
      tenant_id: tenantId, account_id: service.accountId, service_instance_id: service.serviceInstanceId, product_instance_id: service.productInstanceId,
      service_specification_id: service.serviceSpecificationId, service_specification_version: service.serviceSpecificationVersion, name: service.name,
      status: service.status, external_service_id: service.externalServiceId, place: service.place, activation_date: service.activationDate,
      termination_date: service.terminationDate, technical_parameters: service.technicalParameters, version: service.version,
      created_at: service.createdAt, updated_at: service.updatedAt,
    });
    history(rows.serviceHistory, 'service_instance_id', service.serviceInstanceId, service, 'ATTACHED');
    event(serviceEvent(u, 'ServiceInstanceCreated', null, service, cause, { operation: 'ATTACHED' }));
    auditRow('service-instance.attach', 'service_instance', service.serviceInstanceId, { productInstanceId: product.productInstanceId });
    for (const input of fulfilled.resources) {
      const resource = newResourceInstance(u, service, input, effectiveAt);
      rows.resources.push({
        tenant_id: tenantId, account_id: resource.accountId, resource_instance_id: resource.resourceInstanceId, service_instance_id: resource.serviceInstanceId,
        resource_type: resource.resourceType, resource_id: resource.resourceId, external_resource_id: resource.externalResourceId, status: resource.status,
        allocation_date: resource.allocationDate, release_date: resource.releaseDate, attributes: resource.attributes, version: resource.version,
        created_at: resource.createdAt, updated_at: resource.updatedAt,
      });
      history(rows.resourceHistory, 'resource_instance_id', resource.resourceInstanceId, resource, 'ALLOCATED');
      event(resourceEvent(u, 'ResourceInstanceAllocated', null, resource, service, cause));
      auditRow('resource-instance.attach', 'resource_instance', resource.resourceInstanceId, { serviceInstanceId: service.serviceInstanceId });
    }
    attached.push(service);
  }
  if (attached.length === 0) return { attached, servicesOfProduct: null };
  const earlier = await store.insertNewServicesWithRecords(u.tx, product, rows);
  // With no earlier service, the product's are the new ones, all created now: in the listing's
  // order (created_at, then the id, whose text sorts as the uuid does).
  const servicesOfProduct = earlier === 0 ? [...attached].sort((a, b) => (a.serviceInstanceId < b.serviceInstanceId ? -1 : a.serviceInstanceId > b.serviceInstanceId ? 1 : 0)) : null;
  return { attached, servicesOfProduct };
}

/** Terminates a service of a live product, and releases its resources. */
export async function releaseServiceInstance(u: Unit, serviceInstanceId: string, input: TransitionInput): Promise<ServiceInstance> {
  const service = await loadService(u, serviceInstanceId);
  checkExpectedVersion('service instance', serviceInstanceId, service.version, input.expectedVersion);
  if (service.status === 'TERMINATED') throw new IllegalTransitionError('service instance', serviceInstanceId, service.status, 'release:apply', []);
  const product = await loadProduct(u, service.productInstanceId);
  const effectiveAt = input.effectiveAt ?? u.now;
  const released = await underGuard(u, product, input, 'RELEASE_SERVICE', async () => {
    const terminated = await changeService(u, service, 'RELEASED', 'ServiceInstanceReleased', input, (s) => {
      s.status = 'TERMINATED';
      s.terminationDate = effectiveAt;
    });
    await releaseResourcesOf(u, terminated, input);
    return terminated;
  });
  await audit(u, 'service-instance.release', 'service_instance', serviceInstanceId, service.accountId);
  return released;
}

export async function attachResourceInstance(u: Unit, serviceInstanceId: string, input: CorrelatedCause & FulfilledResource): Promise<ResourceInstance> {
  const service = await loadService(u, serviceInstanceId);
  if (service.status === 'TERMINATED') throw new IllegalTransitionError('service instance', serviceInstanceId, service.status, 'resource-attachment:apply', ['(none: the service is terminated)']);
  const { product, activeGuard } = await loadProductWithGuard(u, service.productInstanceId);
  const resource = await underGuard(u, product, input, 'ATTACH_RESOURCE', () => allocateResource(u, service, input, input), activeGuard);
  await audit(u, 'resource-instance.attach', 'resource_instance', resource.resourceInstanceId, resource.accountId, { serviceInstanceId });
  return resource;
}

export async function releaseResourceInstance(u: Unit, resourceInstanceId: string, input: TransitionInput): Promise<ResourceInstance> {
  const resource = await store.findResourceInstance(u.tx, resourceInstanceId);
  if (!resource) throw NotFoundError.of('resource instance', resourceInstanceId);
  checkExpectedVersion('resource instance', resourceInstanceId, resource.version, input.expectedVersion);
  if (resource.status === 'RELEASED') throw new IllegalTransitionError('resource instance', resourceInstanceId, resource.status, 'release:apply', []);
  const service = (await store.findServiceInstance(u.tx, resource.serviceInstanceId))!;
  const product = await loadProduct(u, service.productInstanceId);
  const released = await underGuard(u, product, input, 'RELEASE_RESOURCE', () => releaseResource(u, resource, service, input));
  await audit(u, 'resource-instance.release', 'resource_instance', resourceInstanceId, resource.accountId);
  return released;
}

async function loadService(u: Unit, id: string): Promise<ServiceInstance> {
  const service = await store.findServiceInstance(u.tx, id);
  if (!service) throw NotFoundError.of('service instance', id);
  return service;
}

// ----------------------------------------------------------------------- for the other commands

/** What a command read of a product before its transition: the product and its guard, and its services when known (null: read them). */
export interface KnownProduct {
  loaded: ProductWithGuard;
  services: readonly ServiceInstance[] | null;
}

/** A transition of the product that its services follow: activation, cancellation, suspension, resumption, disconnect. */
export async function transitionWithServices(u: Unit, id: string, command: ProductInstanceCommand, input: TransitionInput, mutate: (next: ProductInstance) => void, summaryExtra: Record<string, unknown> = {}, known?: KnownProduct): Promise<ProductInstance> {
  const product = await transitionProduct(u, id, command, input, mutate, summaryExtra, known?.loaded);
  await followServices(u, product, input, known?.services ?? null);
  return product;
}

/**
 * Brings the product's services (and their resources) into line with its new state: the
 * services given (every one of the product's, in the listing's order), or those it reads.
 */
export async function followServices(u: Unit, product: ProductInstance, cause: CorrelatedCause, services: readonly ServiceInstance[] | null = null): Promise<void> {
  const effectiveAt = cause.effectiveAt ?? u.now;
  for (const service of services ?? await store.listServiceInstancesOfProduct(u.tx, product.accountId, product.productInstanceId)) {
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

/**
 * The services fulfillment realised for a product at `place` (MOVE, REPLACE): each becomes a
 * service instance with its technical parameters, and its reserved resources are allocated to it.
 */
export async function createFulfilledServices(
  u: Unit,
  product: ProductInstance,
  services: readonly FulfilledService[],
  place: JsonObject | null,
  changeType: string,
  cause: CorrelatedCause,
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

/** A new service instance of the product: it follows the product's state (PENDING until the product is live). */
function newServiceInstance(u: Unit, product: ProductInstance, input: NewService, place: JsonObject | null, effectiveAt: string): ServiceInstance {
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

/** Writes a new service instance's first version. */
export async function createService(u: Unit, service: ServiceInstance, changeType: string, cause: CorrelatedCause, extra: Record<string, unknown> = {}): Promise<void> {
  await writeVersion(u, 'service_instance', null, service, {
    changeType,
    cause,
    effectiveAt: cause.effectiveAt ?? u.now,
    event: serviceEvent(u, 'ServiceInstanceCreated', null, service, cause, { operation: changeType, ...extra }),
  });
}

/** A new version of a service instance (state changes of services are not a transition table: they follow the product). */
export async function changeService(u: Unit, current: ServiceInstance, changeType: string, eventType: string, cause: CorrelatedCause, mutate: (next: ServiceInstance) => void): Promise<ServiceInstance> {
  const next: ServiceInstance = structuredClone(current);
  mutate(next);
  next.version = current.version + 1;
  next.updatedAt = u.now;
  await writeVersion(u, 'service_instance', current, next, {
    changeType,
    cause,
    effectiveAt: cause.effectiveAt ?? u.now,
    event: serviceEvent(u, eventType, current, next, cause, { operation: changeType, previousStatus: current.status }),
  });
  return next;
}

/** Allocates a resource to a live service: a new resource instance, its history row and event. */
async function allocateResource(u: Unit, service: ServiceInstance, input: FulfilledResource, cause: CorrelatedCause): Promise<ResourceInstance> {
  const effectiveAt = cause.effectiveAt ?? u.now;
  const resource = newResourceInstance(u, service, input, effectiveAt);
  await writeVersion(u, 'resource_instance', null, resource, {
    changeType: 'ALLOCATED',
    cause,
    effectiveAt,
    event: resourceEvent(u, 'ResourceInstanceAllocated', null, resource, service, cause),
  });
  return resource;
}

/** A new resource instance allocated to the service. */
function newResourceInstance(u: Unit, service: ServiceInstance, input: FulfilledResource, effectiveAt: string): ResourceInstance {
  return {
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
}

/** Releases every resource of a service that is still allocated (the service has ended). */
export async function releaseResourcesOf(u: Unit, service: ServiceInstance, cause: CorrelatedCause): Promise<void> {
  for (const resource of await store.listResourceInstancesOfService(u.tx, service.accountId, service.serviceInstanceId)) {
    if (resource.status === 'RELEASED') continue;
    await releaseResource(u, resource, service, cause);
  }
}

async function releaseResource(u: Unit, current: ResourceInstance, service: ServiceInstance, cause: CorrelatedCause): Promise<ResourceInstance> {
  const next: ResourceInstance = { ...current, status: 'RELEASED', releaseDate: cause.effectiveAt ?? u.now, version: current.version + 1, updatedAt: u.now };
  await writeVersion(u, 'resource_instance', current, next, {
    changeType: 'RELEASED',
    cause,
    effectiveAt: cause.effectiveAt ?? u.now,
    event: resourceEvent(u, 'ResourceInstanceReleased', current, next, service, cause),
  });
  return next;
}
