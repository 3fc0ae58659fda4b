import type {
  ProductInstanceState,
  RelationshipType,
  ResourceInstanceState,
  ServiceInstanceState,
  SubscriptionState,
} from './model.ts';

/** Entities as the API shows them. Times are ISO-8601 UTC strings. */

import type { JsonObject } from '../platform/context.ts';

export type { Json, JsonObject } from '../platform/context.ts';

export interface ProductInstance {
  productInstanceId: string;
  accountId: string;
  customerId: string;
  subscriptionId: string | null;
  productOfferingId: string;
  /** Catalog versions are integers, as the catalog numbers them. */
  productOfferingVersion: number;
  productSpecificationId: string;
  productSpecificationVersion: number;
  name: string;
  status: ProductInstanceState;
  actionOriginOrderId: string | null;
  actionOriginOrderItemId: string | null;
  activationDate: string | null;
  terminationDate: string | null;
  effectiveFrom: string | null;
  effectiveTo: string | null;
  place: JsonObject | null;
  catalogSnapshot: JsonObject;
  configuration: JsonObject;
  price: JsonObject;
  pendingChange: JsonObject | null;
  lastError: JsonObject | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Subscription {
  subscriptionId: string;
  accountId: string;
  customerId: string;
  agreementId: string | null;
  billingAccountId: string | null;
  status: SubscriptionState;
  startDate: string | null;
  endDate: string | null;
  commitmentStartDate: string | null;
  commitmentEndDate: string | null;
  termMonths: number | null;
  billingCycle: string | null;
  autoRenew: boolean;
  renewalPolicy: JsonObject;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface ServiceInstance {
  serviceInstanceId: string;
  accountId: string;
  productInstanceId: string;
  serviceSpecificationId: string;
  serviceSpecificationVersion: number;
  name: string | null;
  status: ServiceInstanceState;
  externalServiceId: string | null;
  place: JsonObject | null;
  activationDate: string | null;
  terminationDate: string | null;
  technicalParameters: JsonObject;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface ResourceInstance {
  resourceInstanceId: string;
  accountId: string;
  serviceInstanceId: string;
  resourceType: string;
  resourceId: string | null;
  externalResourceId: string | null;
  status: ResourceInstanceState;
  allocationDate: string | null;
  releaseDate: string | null;
  attributes: JsonObject;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Relationship {
  relationshipId: string;
  accountId: string;
  sourceProductInstanceId: string;
  targetProductInstanceId: string;
  type: RelationshipType;
  validFrom: string;
  validTo: string | null;
  createdByOrderId: string | null;
  createdByOrderItemId: string | null;
  createdAt: string;
  endedAt: string | null;
}

export interface Guard {
  guardId: string;
  accountId: string;
  productInstanceId: string;
  orderId: string | null;
  orderItemId: string | null;
  operationType: string;
  status: 'ACTIVE' | 'PENDING_RELEASE' | 'RELEASED';
  acquiredAt: string;
  releasedAt: string | null;
}

export type EntityKind = 'product_instance' | 'subscription' | 'service_instance' | 'resource_instance';

export interface HistoryEntry {
  version: number;
  changeType: string;
  orderId: string | null;
  orderItemId: string | null;
  beforeState: JsonObject | null;
  afterState: JsonObject;
  recordedAt: string;
  effectiveAt: string;
  actorApiKeyId: string | null;
  correlationId: string | null;
}

export type { CommandContext } from '../platform/context.ts';

/** The order item that causes a change (seed 000 §5: order item is the cause, not the owner). */
export interface Cause {
  orderId?: string | null;
  orderItemId?: string | null;
  /** When the change holds in the business; defaults to now. */
  effectiveAt?: string | null;
}
