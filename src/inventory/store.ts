/**
 * The installed base's SQL. Every statement runs inside a tenant transaction (RLS applies);
 * account_id is still part of every key lookup so that a lookup stays on one account's shard.
 */
import { eventPayload, type OutboxEvent } from '../events/index.ts';
import { queryOne, queryRows, type Tx } from '../platform/db.ts';
import { newId } from '../platform/ids.ts';
import type {
  EntityKind,
  Guard,
  HistoryEntry,
  JsonObject,
  ProductInstance,
  Relationship,
  ResourceInstance,
  ServiceInstance,
  Subscription,
} from './types.ts';

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());
const isoRequired = (d: Date): string => d.toISOString();

// ------------------------------------------------------------------------- product instance

function productInstanceFromRow(r: any): ProductInstance {
  return {
    productInstanceId: r.product_instance_id,
    accountId: r.account_id,
    customerId: r.customer_id,
    subscriptionId: r.subscription_id,
    productOfferingId: r.product_offering_id,
    productOfferingVersion: r.product_offering_version,
    productSpecificationId: r.product_specification_id,
    productSpecificationVersion: r.product_specification_version,
    name: r.name,
    status: r.status,
    actionOriginOrderId: r.action_origin_order_id,
    actionOriginOrderItemId: r.action_origin_order_item_id,
    activationDate: iso(r.activation_date),
    terminationDate: iso(r.termination_date),
    effectiveFrom: iso(r.effective_from),
    effectiveTo: iso(r.effective_to),
    place: r.place,
    catalogSnapshot: r.catalog_snapshot,
    configuration: r.configuration_snapshot,
    price: r.price_snapshot,
    pendingChange: r.pending_change,
    lastError: r.last_error,
    version: r.version,
    createdAt: isoRequired(r.created_at),
    updatedAt: isoRequired(r.updated_at),
  };
}

export async function findProductInstance(tx: Tx, productInstanceId: string): Promise<ProductInstance | undefined> {
  const row = await queryOne(tx, 'select * from product_instance where product_instance_id = $1', [productInstanceId]);
  return row ? productInstanceFromRow(row) : undefined;
}

/**
 * The product instance and the guard of its active operation, if any, in one read: a command
 * needs both (seed 000 §16 steps 1 and 4).
 */
export async function findProductInstanceWithGuard(tx: Tx, productInstanceId: string): Promise<{ product: ProductInstance; activeGuard: Guard | null } | undefined> {
  const row = await queryOne<any>(
    tx,
    `select p.*,
            (select to_jsonb(g) from asset_operation_guard g
              where g.account_id = p.account_id and g.product_instance_id = p.product_instance_id
                and g.status in ('ACTIVE', 'PENDING_RELEASE')) as active_guard
       from product_instance p
      where p.product_instance_id = $1`,
    [productInstanceId],
  );
  if (!row) return undefined;
  const g = row.active_guard;
  return {
    product: productInstanceFromRow(row),
    activeGuard: g ? guardFromRow({ ...g, acquired_at: new Date(g.acquired_at), released_at: g.released_at ? new Date(g.released_at) : null }) : null,
  };
}

export async function listProductInstancesOfAccount(tx: Tx, accountId: string): Promise<ProductInstance[]> {
  const rows = await queryRows(tx, 'select * from product_instance where account_id = $1 order by created_at, product_instance_id', [accountId]);
  return rows.map(productInstanceFromRow);
}

export async function listProductInstancesOfSubscription(tx: Tx, accountId: string, subscriptionId: string): Promise<ProductInstance[]> {
  const rows = await queryRows(tx, 'select * from product_instance where account_id = $1 and subscription_id = $2 order by created_at, product_instance_id', [accountId, subscriptionId]);
  return rows.map(productInstanceFromRow);
}

export async function insertProductInstance(tx: Tx, tenantId: string, p: ProductInstance): Promise<void> {
  await tx.query(
    `insert into product_instance (tenant_id, account_id, product_instance_id, customer_id, subscription_id,
       product_offering_id, product_offering_version, product_specification_id, product_specification_version,
       name, status, action_origin_order_id, action_origin_order_item_id, activation_date, termination_date,
       effective_from, effective_to, place, catalog_snapshot, configuration_snapshot, price_snapshot,
       pending_change, last_error, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`,
    [tenantId, p.accountId, p.productInstanceId, p.customerId, p.subscriptionId, p.productOfferingId,
     p.productOfferingVersion, p.productSpecificationId, p.productSpecificationVersion, p.name, p.status,
     p.actionOriginOrderId, p.actionOriginOrderItemId, p.activationDate, p.terminationDate, p.effectiveFrom,
     p.effectiveTo, p.place, p.catalogSnapshot, p.configuration, p.price, p.pendingChange, p.lastError,
     p.version, p.createdAt, p.updatedAt],
  );
}

/**
 * The columns a command can change, each with how to read it from a ProductInstance. The
 * status, version and updated_at are written by every command; the others only when
 * changed.
 */
const PRODUCT_UPDATABLE: ReadonlyArray<readonly [column: string, value: (p: ProductInstance) => unknown]> = [
  ['subscription_id', (p) => p.subscriptionId],
  ['name', (p) => p.name],
  ['product_offering_id', (p) => p.productOfferingId],
  ['product_offering_version', (p) => p.productOfferingVersion],
  ['product_specification_id', (p) => p.productSpecificationId],
  ['product_specification_version', (p) => p.productSpecificationVersion],
  ['activation_date', (p) => p.activationDate],
  ['termination_date', (p) => p.terminationDate],
  ['effective_from', (p) => p.effectiveFrom],
  ['effective_to', (p) => p.effectiveTo],
  ['place', (p) => p.place],
  ['catalog_snapshot', (p) => p.catalogSnapshot],
  ['configuration_snapshot', (p) => p.configuration],
  ['price_snapshot', (p) => p.price],
  ['pending_change', (p) => p.pendingChange],
  ['last_error', (p) => p.lastError],
];

/**
 * The optimistic write (seed 000 §15.2): succeeds only if the row is still at
 * `expectedVersion`. Returns false when another transaction got there first; the caller
 * must fail, never reload and overwrite.
 *
 * Given the row as read at `expectedVersion` (`before`), only the columns whose value
 * differs from it are sent (with status, version and updated_at): every write bumps the
 * version, so a row still at that version still holds `before`, and a column left out keeps
 * exactly the value it would have been set to. Commands replace an object (a snapshot, the
 * place, the pending change, the last error) to change it, never edit it in place, so an
 * object that is still the same one is unchanged. Most commands change the status and the
 * pending change only, and the statement is then as small as that.
 */
export async function updateProductInstance(tx: Tx, p: ProductInstance, expectedVersion: number, before?: ProductInstance): Promise<boolean> {
  const params: unknown[] = [p.accountId, p.productInstanceId, expectedVersion, p.status, p.version, p.updatedAt];
  const sets = ['status = $4', 'version = $5', 'updated_at = $6'];
  for (const [column, value] of PRODUCT_UPDATABLE) {
    const next = value(p);
    if (before !== undefined && next === value(before)) continue;
    params.push(next);
    sets.push(`${column} = $${params.length}`);
  }
  const result = await tx.query(
    `update product_instance set ${sets.join(', ')}
      where account_id = $1 and product_instance_id = $2 and version = $3`,
    params,
  );
  return result.rowCount === 1;
}

// ------------------------------------------------------------------------- subscription

function subscriptionFromRow(r: any): Subscription {
  return {
    subscriptionId: r.subscription_id,
    accountId: r.account_id,
    customerId: r.customer_id,
    agreementId: r.agreement_id,
    billingAccountId: r.billing_account_id,
    status: r.status,
    startDate: iso(r.start_date),
    endDate: iso(r.end_date),
    commitmentStartDate: iso(r.commitment_start_date),
    commitmentEndDate: iso(r.commitment_end_date),
    termMonths: r.term_months,
    billingCycle: r.billing_cycle,
    autoRenew: r.auto_renew,
    renewalPolicy: r.renewal_policy,
    version: r.version,
    createdAt: isoRequired(r.created_at),
    updatedAt: isoRequired(r.updated_at),
  };
}

export async function findSubscription(tx: Tx, subscriptionId: string): Promise<Subscription | undefined> {
  const row = await queryOne(tx, 'select * from subscription where subscription_id = $1', [subscriptionId]);
  return row ? subscriptionFromRow(row) : undefined;
}

export async function listSubscriptionsOfAccount(tx: Tx, accountId: string): Promise<Subscription[]> {
  const rows = await queryRows(tx, 'select * from subscription where account_id = $1 order by created_at, subscription_id', [accountId]);
  return rows.map(subscriptionFromRow);
}

export async function insertSubscription(tx: Tx, tenantId: string, s: Subscription): Promise<void> {
  await tx.query(
    `insert into subscription (tenant_id, account_id, subscription_id, customer_id, agreement_id, billing_account_id,
       status, start_date, end_date, commitment_start_date, commitment_end_date, term_months, billing_cycle,
       auto_renew, renewal_policy, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [tenantId, s.accountId, s.subscriptionId, s.customerId, s.agreementId, s.billingAccountId, s.status, s.startDate,
     s.endDate, s.commitmentStartDate, s.commitmentEndDate, s.termMonths, s.billingCycle, s.autoRenew,
     s.renewalPolicy, s.version, s.createdAt, s.updatedAt],
  );
}

export async function updateSubscription(tx: Tx, s: Subscription, expectedVersion: number): Promise<boolean> {
  const result = await tx.query(
    `update subscription set status = $3, start_date = $4, end_date = $5, commitment_start_date = $6,
       commitment_end_date = $7, term_months = $8, billing_cycle = $9, auto_renew = $10, renewal_policy = $11,
       agreement_id = $12, version = $13, updated_at = $14
     where account_id = $1 and subscription_id = $2 and version = $15`,
    [s.accountId, s.subscriptionId, s.status, s.startDate, s.endDate, s.commitmentStartDate, s.commitmentEndDate,
     s.termMonths, s.billingCycle, s.autoRenew, s.renewalPolicy, s.agreementId, s.version, s.updatedAt, expectedVersion],
  );
  return result.rowCount === 1;
}

// ------------------------------------------------------------------------- service instance

function serviceInstanceFromRow(r: any): ServiceInstance {
  return {
    serviceInstanceId: r.service_instance_id,
    accountId: r.account_id,
    productInstanceId: r.product_instance_id,
    serviceSpecificationId: r.service_specification_id,
    serviceSpecificationVersion: r.service_specification_version,
    name: r.name,
    status: r.status,
    externalServiceId: r.external_service_id,
    place: r.place,
    activationDate: iso(r.activation_date),
    terminationDate: iso(r.termination_date),
    technicalParameters: r.technical_parameters,
    version: r.version,
    createdAt: isoRequired(r.created_at),
    updatedAt: isoRequired(r.updated_at),
  };
}

export async function findServiceInstance(tx: Tx, serviceInstanceId: string): Promise<ServiceInstance | undefined> {
  const row = await queryOne(tx, 'select * from service_instance where service_instance_id = $1', [serviceInstanceId]);
  return row ? serviceInstanceFromRow(row) : undefined;
}

export async function listServiceInstancesOfProduct(tx: Tx, accountId: string, productInstanceId: string): Promise<ServiceInstance[]> {
  const rows = await queryRows(tx, 'select * from service_instance where account_id = $1 and product_instance_id = $2 order by created_at, service_instance_id', [accountId, productInstanceId]);
  return rows.map(serviceInstanceFromRow);
}

export async function listServiceInstancesOfAccount(tx: Tx, accountId: string): Promise<ServiceInstance[]> {
  const rows = await queryRows(tx, 'select * from service_instance where account_id = $1 order by created_at, service_instance_id', [accountId]);
  return rows.map(serviceInstanceFromRow);
}

export async function insertServiceInstance(tx: Tx, tenantId: string, s: ServiceInstance): Promise<void> {
  await tx.query(
    `insert into service_instance (tenant_id, account_id, service_instance_id, product_instance_id, service_specification_id,
       service_specification_version, name, status, external_service_id, place, activation_date, termination_date,
       technical_parameters, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [tenantId, s.accountId, s.serviceInstanceId, s.productInstanceId, s.serviceSpecificationId, s.serviceSpecificationVersion,
     s.name, s.status, s.externalServiceId, s.place, s.activationDate, s.terminationDate, s.technicalParameters,
     s.version, s.createdAt, s.updatedAt],
  );
}

export async function updateServiceInstance(tx: Tx, s: ServiceInstance, expectedVersion: number): Promise<boolean> {
  const result = await tx.query(
    `update service_instance set status = $3, external_service_id = $4, place = $5, activation_date = $6,
       termination_date = $7, technical_parameters = $8, version = $9, updated_at = $10
     where account_id = $1 and service_instance_id = $2 and version = $11`,
    [s.accountId, s.serviceInstanceId, s.status, s.externalServiceId, s.place, s.activationDate, s.terminationDate,
     s.technicalParameters, s.version, s.updatedAt, expectedVersion],
  );
  return result.rowCount === 1;
}

// ------------------------------------------------------------------------- resource instance

function resourceInstanceFromRow(r: any): ResourceInstance {
  return {
    resourceInstanceId: r.resource_instance_id,
    accountId: r.account_id,
    serviceInstanceId: r.service_instance_id,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    externalResourceId: r.external_resource_id,
    status: r.status,
    allocationDate: iso(r.allocation_date),
    releaseDate: iso(r.release_date),
    attributes: r.attributes,
    version: r.version,
    createdAt: isoRequired(r.created_at),
    updatedAt: isoRequired(r.updated_at),
  };
}

export async function findResourceInstance(tx: Tx, resourceInstanceId: string): Promise<ResourceInstance | undefined> {
  const row = await queryOne(tx, 'select * from resource_instance where resource_instance_id = $1', [resourceInstanceId]);
  return row ? resourceInstanceFromRow(row) : undefined;
}

export async function listResourceInstancesOfService(tx: Tx, accountId: string, serviceInstanceId: string): Promise<ResourceInstance[]> {
  const rows = await queryRows(tx, 'select * from resource_instance where account_id = $1 and service_instance_id = $2 order by created_at, resource_instance_id', [accountId, serviceInstanceId]);
  return rows.map(resourceInstanceFromRow);
}

export async function listResourceInstancesOfAccount(tx: Tx, accountId: string): Promise<ResourceInstance[]> {
  const rows = await queryRows(tx, 'select * from resource_instance where account_id = $1 order by created_at, resource_instance_id', [accountId]);
  return rows.map(resourceInstanceFromRow);
}

export async function insertResourceInstance(tx: Tx, tenantId: string, r: ResourceInstance): Promise<void> {
  await tx.query(
    `insert into resource_instance (tenant_id, account_id, resource_instance_id, service_instance_id, resource_type,
       resource_id, external_resource_id, status, allocation_date, release_date, attributes, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [tenantId, r.accountId, r.resourceInstanceId, r.serviceInstanceId, r.resourceType, r.resourceId, r.externalResourceId,
     r.status, r.allocationDate, r.releaseDate, r.attributes, r.version, r.createdAt, r.updatedAt],
  );
}

export async function updateResourceInstance(tx: Tx, r: ResourceInstance, expectedVersion: number): Promise<boolean> {
  const result = await tx.query(
    `update resource_instance set status = $3, release_date = $4, attributes = $5, version = $6, updated_at = $7
     where account_id = $1 and resource_instance_id = $2 and version = $8`,
    [r.accountId, r.resourceInstanceId, r.status, r.releaseDate, r.attributes, r.version, r.updatedAt, expectedVersion],
  );
  return result.rowCount === 1;
}

// ------------------------------------------------------------------------- history

const HISTORY_TABLE: Record<EntityKind, { table: string; idColumn: string }> = {
  product_instance: { table: 'product_instance_history', idColumn: 'product_instance_id' },
  subscription: { table: 'subscription_history', idColumn: 'subscription_id' },
  service_instance: { table: 'service_instance_history', idColumn: 'service_instance_id' },
  resource_instance: { table: 'resource_instance_history', idColumn: 'resource_instance_id' },
};

export interface HistoryInsert extends HistoryEntry {
  historyId: string;
  accountId: string;
  entityId: string;
}

export interface VersionSideEffects {
  /** The guard of the operation this version ends; null releases nothing. */
  releaseGuardId: string | null;
  /** The audit-log entry of the command, when this version is what the command did. */
  audit: { action: string; targetType: string; actorRole: string | null; details: Record<string, unknown> } | null;
}

/**
 * A version's history row and its outbox event in one statement (one round trip): both are
 * written or neither is, like every write of the transaction around them. The same statement
 * releases the guard of the operation the version ends, and writes the command's audit-log
 * row (the audit log and the outbox are cross-cutting records of the change, written with it).
 */
export async function insertHistoryWithEvent(tx: Tx, tenantId: string, kind: EntityKind, h: HistoryInsert, e: OutboxEvent, side: VersionSideEffects): Promise<void> {
  const params: unknown[] = [tenantId, h.accountId, h.entityId, h.version, h.historyId, h.changeType, h.orderId, h.orderItemId,
    h.beforeState, h.afterState, h.recordedAt, h.effectiveAt, h.actorApiKeyId, h.correlationId,
    e.eventId, e.eventType, e.eventVersion, e.aggregateType, e.aggregateId, e.aggregateVersion, eventPayload(e), e.occurredAt];
  if (side.releaseGuardId !== null) params.push(side.releaseGuardId);
  if (side.audit !== null) params.push(newId(), side.audit.actorRole, side.audit.action, side.audit.targetType, side.audit.details);
  await tx.query(versionStatement(kind, side.releaseGuardId !== null, side.audit !== null), params);
}

const versionStatements = new Map<string, string>();

/**
 * The statement of insertHistoryWithEvent for one entity kind, with only the parts the
 * version needs: a guard release or an audit row that is not written is not in the text, so
 * PostgreSQL neither parses nor plans it. $1–$22 are the history row and the event; the
 * guard id, then the audit row's values, follow when present.
 */
function versionStatement(kind: EntityKind, release: boolean, audit: boolean): string {
  const key = `${kind}:${release}:${audit}`;
  let text = versionStatements.get(key);
  if (text === undefined) {
    const { table, idColumn } = HISTORY_TABLE[kind];
    const parts = [`history as (
       insert into ${table} (tenant_id, account_id, ${idColumn}, version, history_id, change_type, changed_by_order_id,
         changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     )`];
    let next = 23;
    if (release) {
      parts.push(`released_guard as (
       update asset_operation_guard set status = 'RELEASED', released_at = $11
        where account_id = $2 and guard_id = $${next} and status <> 'RELEASED'
     )`);
      next += 1;
    }
    if (audit) {
      const [id, role, action, targetType, details] = [next, next + 1, next + 2, next + 3, next + 4];
      parts.push(`audit as (
       insert into audit_log (audit_id, tenant_id, actor_api_key_id, actor_role, action, target_type, target_id,
         subject_account_id, correlation_id, details, recorded_at)
       values ($${id}, $1, $13, $${role}, $${action}, $${targetType}, $3, $2, $14, $${details}, $11)
     )`);
    }
    text = `with ${parts.join(', ')}
     insert into outbox_event (tenant_id, account_id, event_id, event_type, event_version, aggregate_type, aggregate_id,
       aggregate_version, payload, occurred_at)
     values ($1, $2, $15, $16, $17, $18, $19, $20, $21, $22)`;
    versionStatements.set(key, text);
  }
  return text;
}

function historyFromRow(r: any): HistoryEntry {
  return {
    version: r.version,
    changeType: r.change_type,
    orderId: r.changed_by_order_id,
    orderItemId: r.changed_by_order_item_id,
    beforeState: r.before_state,
    afterState: r.after_state,
    recordedAt: isoRequired(r.recorded_at),
    effectiveAt: isoRequired(r.effective_at),
    actorApiKeyId: r.actor_api_key_id,
    correlationId: r.correlation_id,
  };
}

/** One page of an entity's history, oldest first, after version `afterVersion`. */
export async function listHistory(tx: Tx, kind: EntityKind, accountId: string, entityId: string, afterVersion: number, limit: number): Promise<HistoryEntry[]> {
  const { table, idColumn } = HISTORY_TABLE[kind];
  const rows = await queryRows(
    tx,
    `select * from ${table} where account_id = $1 and ${idColumn} = $2 and version > $3 order by version limit $4`,
    [accountId, entityId, afterVersion, limit],
  );
  return rows.map(historyFromRow);
}

/**
 * The state of every entity of one kind in an account as recorded at `asOf` (transaction
 * time): the after_state of the newest version recorded at or before that instant.
 */
export async function statesAsOf(tx: Tx, kind: EntityKind, accountId: string, asOf: string): Promise<JsonObject[]> {
  const { table, idColumn } = HISTORY_TABLE[kind];
  const rows = await queryRows<{ after_state: JsonObject }>(
    tx,
    `select distinct on (${idColumn}) after_state
       from ${table}
      where account_id = $1 and recorded_at <= $2
      order by ${idColumn}, version desc`,
    [accountId, asOf],
  );
  return rows.map((r) => r.after_state);
}

// ------------------------------------------------------------------------- relationships

function relationshipFromRow(r: any): Relationship {
  return {
    relationshipId: r.relationship_id,
    accountId: r.account_id,
    sourceProductInstanceId: r.source_product_instance_id,
    targetProductInstanceId: r.target_product_instance_id,
    type: r.relationship_type,
    validFrom: isoRequired(r.valid_from),
    validTo: iso(r.valid_to),
    createdByOrderId: r.created_by_order_id,
    createdByOrderItemId: r.created_by_order_item_id,
    createdAt: isoRequired(r.created_at),
    endedAt: iso(r.ended_at),
  };
}

export async function listCurrentRelationships(tx: Tx, accountId: string): Promise<Relationship[]> {
  const rows = await queryRows(tx, 'select * from product_instance_relationship where account_id = $1 and ended_at is null order by created_at, relationship_id', [accountId]);
  return rows.map(relationshipFromRow);
}

/** Relationships as recorded at `asOf` (transaction time). */
export async function listRelationshipsAsOf(tx: Tx, accountId: string, asOf: string): Promise<Relationship[]> {
  const rows = await queryRows(
    tx,
    `select * from product_instance_relationship
      where account_id = $1 and created_at <= $2 and (ended_at is null or ended_at > $2)
      order by created_at, relationship_id`,
    [accountId, asOf],
  );
  return rows.map(relationshipFromRow);
}

export async function findRelationship(tx: Tx, relationshipId: string): Promise<Relationship | undefined> {
  const row = await queryOne(tx, 'select * from product_instance_relationship where relationship_id = $1', [relationshipId]);
  return row ? relationshipFromRow(row) : undefined;
}

export async function insertRelationship(tx: Tx, tenantId: string, r: Relationship): Promise<void> {
  await tx.query(
    `insert into product_instance_relationship (tenant_id, account_id, relationship_id, source_product_instance_id,
       target_product_instance_id, relationship_type, valid_from, valid_to, created_by_order_id, created_by_order_item_id,
       created_at, ended_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [tenantId, r.accountId, r.relationshipId, r.sourceProductInstanceId, r.targetProductInstanceId, r.type, r.validFrom,
     r.validTo, r.createdByOrderId, r.createdByOrderItemId, r.createdAt, r.endedAt],
  );
}

export async function endRelationship(tx: Tx, accountId: string, relationshipId: string, at: { validTo: string; endedAt: string; orderItemId: string | null }): Promise<boolean> {
  const result = await tx.query(
    `update product_instance_relationship set valid_to = $3, ended_at = $4, ended_by_order_item_id = $5
      where account_id = $1 and relationship_id = $2 and ended_at is null`,
    [accountId, relationshipId, at.validTo, at.endedAt, at.orderItemId],
  );
  return result.rowCount === 1;
}

/**
 * Serialises relationship changes of one account, so that two transactions cannot each add
 * half of a cycle. Held until the transaction ends.
 */
export async function lockAccountRelationships(tx: Tx, accountId: string): Promise<void> {
  await tx.query(`select pg_advisory_xact_lock(hashtextextended('relationships:' || $1, 0))`, [accountId]);
}

// ------------------------------------------------------------------------- operation guard

function guardFromRow(r: any): Guard {
  return {
    guardId: r.guard_id,
    accountId: r.account_id,
    productInstanceId: r.product_instance_id,
    orderId: r.order_id,
    orderItemId: r.order_item_id,
    operationType: r.operation_type,
    status: r.status,
    acquiredAt: isoRequired(r.acquired_at),
    releasedAt: iso(r.released_at),
  };
}

/**
 * Inserts an ACTIVE guard unless one is active for the asset. The partial unique index
 * decides: a concurrent inserter waits for the first one's transaction and then sees the
 * conflict. Returns the new guard (as written: nothing in the table changes a value on
 * insert), or undefined when another is active.
 */
export async function tryInsertGuard(tx: Tx, tenantId: string, g: Guard, correlationId: string | null): Promise<Guard | undefined> {
  const result = await tx.query(
    `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id,
       operation_type, status, correlation_id, acquired_at)
     values ($1, $2, $3, $4, $5, $6, $7, 'ACTIVE', $8, $9)
     on conflict (account_id, product_instance_id) where status in ('ACTIVE', 'PENDING_RELEASE') do nothing`,
    [tenantId, g.accountId, g.guardId, g.productInstanceId, g.orderId, g.orderItemId, g.operationType, correlationId, g.acquiredAt],
  );
  return result.rowCount === 1 ? { ...g, status: 'ACTIVE', acquiredAt: new Date(g.acquiredAt).toISOString(), releasedAt: null } : undefined;
}

export async function findActiveGuard(tx: Tx, accountId: string, productInstanceId: string): Promise<Guard | undefined> {
  const row = await queryOne(
    tx,
    `select * from asset_operation_guard
      where account_id = $1 and product_instance_id = $2 and status in ('ACTIVE', 'PENDING_RELEASE')`,
    [accountId, productInstanceId],
  );
  return row ? guardFromRow(row) : undefined;
}

export async function releaseGuard(tx: Tx, accountId: string, guardId: string, at: string): Promise<void> {
  await tx.query(
    `update asset_operation_guard set status = 'RELEASED', released_at = $3
      where account_id = $1 and guard_id = $2 and status <> 'RELEASED'`,
    [accountId, guardId, at],
  );
}

/** Releases every active guard an order item holds; returns them. */
export async function releaseGuardsOfOrderItem(tx: Tx, accountId: string, orderItemId: string, at: string): Promise<Guard[]> {
  const rows = await queryRows(
    tx,
    `update asset_operation_guard set status = 'RELEASED', released_at = $3
      where account_id = $1 and order_item_id = $2 and status in ('ACTIVE', 'PENDING_RELEASE')
      returning *`,
    [accountId, orderItemId, at],
  );
  return rows.map(guardFromRow);
}
