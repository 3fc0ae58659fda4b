/**
 * The installed base's outbox events, one builder per aggregate. A version's event carries
 * the order item that caused it (causationId) and the versions it moves between; its
 * changeSummary says what changed, for consumers that do not diff states.
 */
import { buildEvent, type OutboxEvent } from '../events/index.ts';
import { changedKeys, changedPriceKeys } from './model.ts';
import type { CorrelatedCause, Unit } from './pipeline.ts';
import type { ProductInstance, Relationship, ResourceInstance, ServiceInstance, Subscription } from './types.ts';

interface Aggregate {
  type: 'product_instance' | 'subscription' | 'service_instance' | 'resource_instance' | 'relationship';
  id: string;
  version: number | null;
  accountId: string;
}

function eventOf(u: Unit, eventType: string, aggregate: Aggregate, cause: CorrelatedCause, body: Record<string, unknown>): OutboxEvent {
  return buildEvent({
    eventType,
    occurredAt: u.now,
    correlationId: cause.correlationId ?? u.ctx.correlationId,
    causationId: cause.orderItemId ?? null,
    accountId: aggregate.accountId,
    aggregateType: aggregate.type,
    aggregateId: aggregate.id,
    aggregateVersion: aggregate.version,
    body,
  });
}

/** What every version's event carries: the versions it moves between, and the state it leaves. */
function versionFields(before: { version: number } | null, after: { version: number; status: string }) {
  return { previousVersion: before?.version ?? null, newVersion: after.version, status: after.status };
}

export function productEvent(u: Unit, eventType: string, before: ProductInstance | null, after: ProductInstance, cause: CorrelatedCause, summary: Record<string, unknown>): OutboxEvent {
  return eventOf(u, eventType, { type: 'product_instance', id: after.productInstanceId, version: after.version, accountId: after.accountId }, cause, {
    customerId: after.customerId,
    productInstanceId: after.productInstanceId,
    subscriptionId: after.subscriptionId,
    orderId: cause.orderId ?? null,
    orderItemId: cause.orderItemId ?? null,
    ...versionFields(before, after),
    changeSummary: {
      ...summary,
      changedCharacteristics: changedKeys(before?.configuration, after.configuration),
      changedPrices: changedPriceKeys(before?.price, after.price),
    },
  });
}

export function subscriptionEvent(u: Unit, eventType: string, before: Subscription | null, after: Subscription, cause: CorrelatedCause, summary: Record<string, unknown>): OutboxEvent {
  return eventOf(u, eventType, { type: 'subscription', id: after.subscriptionId, version: after.version, accountId: after.accountId }, cause, {
    customerId: after.customerId,
    subscriptionId: after.subscriptionId,
    ...versionFields(before, after),
    endDate: after.endDate,
    changeSummary: summary,
  });
}

export function serviceEvent(u: Unit, eventType: string, before: ServiceInstance | null, after: ServiceInstance, cause: CorrelatedCause, summary: Record<string, unknown>): OutboxEvent {
  return eventOf(u, eventType, { type: 'service_instance', id: after.serviceInstanceId, version: after.version, accountId: after.accountId }, cause, {
    serviceInstanceId: after.serviceInstanceId,
    productInstanceId: after.productInstanceId,
    ...versionFields(before, after),
    changeSummary: summary,
  });
}

/** A resource's event names the product of its service, so that consumers of products see it. */
export function resourceEvent(u: Unit, eventType: string, before: ResourceInstance | null, after: ResourceInstance, service: ServiceInstance, cause: CorrelatedCause): OutboxEvent {
  return eventOf(u, eventType, { type: 'resource_instance', id: after.resourceInstanceId, version: after.version, accountId: after.accountId }, cause, {
    resourceInstanceId: after.resourceInstanceId,
    serviceInstanceId: after.serviceInstanceId,
    productInstanceId: service.productInstanceId,
    ...versionFields(before, after),
    changeSummary: { resourceType: after.resourceType, resourceId: after.resourceId },
  });
}

/**
 * A relationship has no versions (it is created, then ended), so its events carry no
 * aggregate version; they are recorded under the request's correlation id.
 */
export function relationshipEvent(u: Unit, eventType: 'ProductInstanceRelationshipCreated' | 'ProductInstanceRelationshipEnded', r: Relationship, orderItemId: string | null, validity: { validFrom: string } | { validTo: string }): OutboxEvent {
  return eventOf(u, eventType, { type: 'relationship', id: r.relationshipId, version: null, accountId: r.accountId }, { orderItemId }, {
    relationshipId: r.relationshipId,
    type: r.type,
    sourceProductInstanceId: r.sourceProductInstanceId,
    targetProductInstanceId: r.targetProductInstanceId,
    ...validity,
  });
}
