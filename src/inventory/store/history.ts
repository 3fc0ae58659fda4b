/**
 * The history tables (product_instance_history, subscription_history, service_instance_history,
 * resource_instance_history): one row per version of an entity, with its before and after
 * state. A version is written in one statement with its outbox event and audit row
 * (decision 0007), which is why this file, alone in inventory/, names audit_log and
 * outbox_event (eslint.config.js lists it as shared).
 */
import { eventPayload, type OutboxEvent } from '../../events/index.ts';
import { queryOne, type Tx } from '../../platform/db.ts';
import { newId } from '../../platform/ids.ts';
import type { EntityKind, HistoryEntry } from '../types.ts';
import { isoRequired, selectAll, type Statement } from './rows.ts';

const AUDIT_COLUMNS = ['audit_id', 'tenant_id', 'actor_api_key_id', 'actor_role', 'action', 'target_type', 'target_id',
  'subject_account_id', 'correlation_id', 'details', 'recorded_at'];
const OUTBOX_COLUMNS = ['tenant_id', 'account_id', 'event_id', 'event_type', 'event_version', 'aggregate_type', 'aggregate_id',
  'aggregate_version', 'payload', 'occurred_at'];

/**
 * The rows of one JSON array parameter inserted into `table`, in the array's order (audit rows
 * and outbox events keep the order given). Called while a statement's constant text is built:
 * the result is the same text every time (decision 0018).
 */
function insertFromJson(table: string, columns: readonly string[], param: string): string {
  return `insert into ${table} (${columns.join(', ')})
       select ${columns.map((c) => `r.${c}`).join(', ')}
         from jsonb_populate_recordset(null::${table}, ${param}::jsonb) with ordinality as r
        order by r.ordinality`;
}

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
  await tx.query(versionStatement(kind, side.releaseGuardId !== null, side.audit !== null, null), versionParams(tenantId, h, e, side));
}

/**
 * The optimistic update of a version's row (store's `…Update` statements: only while the row is
 * still at the version it was read at) and insertHistoryWithEvent's records, in one statement:
 * the records are written only when the update changed the row. Returns false when it did not
 * (another transaction got there first): nothing was written, and the caller must fail.
 */
export async function updateWithHistoryAndEvent(tx: Tx, tenantId: string, kind: EntityKind, update: Statement, h: HistoryInsert, e: OutboxEvent, side: VersionSideEffects): Promise<boolean> {
  const result = await tx.query(versionStatement(kind, side.releaseGuardId !== null, side.audit !== null, update), [...update.params, ...versionParams(tenantId, h, e, side)]);
  return result.rowCount === 1;
}

function versionParams(tenantId: string, h: HistoryInsert, e: OutboxEvent, side: VersionSideEffects): unknown[] {
  const params: unknown[] = [tenantId, h.accountId, h.entityId, h.version, h.historyId, h.changeType, h.orderId, h.orderItemId,
    h.beforeState, h.afterState, h.recordedAt, h.effectiveAt, h.actorApiKeyId, h.correlationId,
    e.eventId, e.eventType, e.eventVersion, e.aggregateType, e.aggregateId, e.aggregateVersion, eventPayload(e), e.occurredAt];
  if (side.releaseGuardId !== null) params.push(side.releaseGuardId);
  if (side.audit !== null) params.push(newId(), side.audit.actorRole, side.audit.action, side.audit.targetType, side.audit.details);
  return params;
}

const versionStatements = new Map<string, string>();

/**
 * The statement of insertHistoryWithEvent (or, after `update`, of updateWithHistoryAndEvent) for
 * one entity kind, with only the parts the version needs: a guard release or an audit row that
 * is not written is not in the text, so PostgreSQL neither parses nor plans it. After the
 * update's own values, $1–$22 are the history row and the event; the guard id, then the audit
 * row's values, follow when present. With an update, every record is written from its `written`
 * row, so none is when the update changed nothing.
 */
function versionStatement(kind: EntityKind, release: boolean, audit: boolean, update: Statement | null): string {
  const key = `${kind}:${release}:${audit}:${update?.text ?? ''}`;
  let text = versionStatements.get(key);
  if (text === undefined) {
    const { table, idColumn } = HISTORY_TABLE[kind];
    const offset = update?.params.length ?? 0;
    const $ = (n: number) => `$${n + offset}`;
    const $s = (...ns: number[]) => ns.map($).join(', ');
    // The values of a row: as they are, or only once the update has written its row.
    const row = (values: string) => (update ? `select ${values} from written` : `values (${values})`);
    const parts = update ? [`written as (
       ${update.text}
       returning 1
     )`] : [];
    parts.push(`history as (
       insert into ${table} (tenant_id, account_id, ${idColumn}, version, history_id, change_type, changed_by_order_id,
         changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       ${row($s(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14))}
     )`);
    let next = 23;
    if (release) {
      parts.push(`released_guard as (
       update asset_operation_guard set status = 'RELEASED', released_at = ${$(11)}
        where account_id = ${$(2)} and guard_id = ${$(next)} and status <> 'RELEASED'${update ? ' and exists (select 1 from written)' : ''}
     )`);
      next += 1;
    }
    if (audit) {
      parts.push(`audit as (
       insert into audit_log (audit_id, tenant_id, actor_api_key_id, actor_role, action, target_type, target_id,
         subject_account_id, correlation_id, details, recorded_at)
       ${row($s(next, 1, 13, next + 1, next + 2, next + 3, 3, 2, 14, next + 4, 11))}
     )`);
    }
    text = `with ${parts.join(', ')}
     insert into outbox_event (tenant_id, account_id, event_id, event_type, event_version, aggregate_type, aggregate_id,
       aggregate_version, payload, occurred_at)
     ${row($s(1, 2, 15, 16, 17, 18, 19, 20, 21, 22))}`;
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
export function listHistory(tx: Tx, kind: EntityKind, accountId: string, entityId: string, afterVersion: number, limit: number): Promise<HistoryEntry[]> {
  const { table, idColumn } = HISTORY_TABLE[kind];
  return selectAll(
    tx,
    historyFromRow,
    `select * from ${table} where account_id = $1 and ${idColumn} = $2 and version > $3 order by version limit $4`,
    [accountId, entityId, afterVersion, limit],
  );
}

/**
 * New rows of an order's ADD items and every record of them (decision 0007, for many versions
 * at once): subscriptions, product instances (at their last version), relationships and
 * guards, the history rows of every version, the audit rows and the outbox events, in one
 * statement. Each set travels as one JSON array of rows keyed by column name, so the text is
 * the same for any number of rows; events and audit rows are written in the order given.
 * Every row is as its one-row statement would write it (the caller builds them with the same
 * code); the foreign keys are checked at the end of the statement, when every row is there.
 */
export interface NewAssetRows {
  subscriptions: Record<string, unknown>[];
  products: Record<string, unknown>[];
  relationships: Record<string, unknown>[];
  guards: Record<string, unknown>[];
  subscriptionHistory: Record<string, unknown>[];
  productHistory: Record<string, unknown>[];
  audits: Record<string, unknown>[];
  events: Record<string, unknown>[];
}

export async function insertNewAssetsWithRecords(tx: Tx, rows: NewAssetRows): Promise<void> {
  await tx.query(
    `with new_subscriptions as (
       insert into subscription (tenant_id, account_id, subscription_id, customer_id, agreement_id, billing_account_id,
         status, start_date, end_date, commitment_start_date, commitment_end_date, term_months, billing_cycle,
         auto_renew, renewal_policy, version, created_at, updated_at)
       select r.tenant_id, r.account_id, r.subscription_id, r.customer_id, r.agreement_id, r.billing_account_id,
              r.status, r.start_date, r.end_date, r.commitment_start_date, r.commitment_end_date, r.term_months, r.billing_cycle,
              r.auto_renew, r.renewal_policy, r.version, r.created_at, r.updated_at
         from jsonb_populate_recordset(null::subscription, $1::jsonb) with ordinality as r
        order by r.ordinality
     ), new_products as (
       insert into product_instance (tenant_id, account_id, product_instance_id, customer_id, subscription_id,
         product_offering_id, product_offering_version, product_specification_id, product_specification_version,
         name, status, action_origin_order_id, action_origin_order_item_id, activation_date, termination_date,
         effective_from, effective_to, place, catalog_snapshot, configuration_snapshot, price_snapshot,
         pending_change, last_error, version, created_at, updated_at)
       select r.tenant_id, r.account_id, r.product_instance_id, r.customer_id, r.subscription_id,
              r.product_offering_id, r.product_offering_version, r.product_specification_id, r.product_specification_version,
              r.name, r.status, r.action_origin_order_id, r.action_origin_order_item_id, r.activation_date, r.termination_date,
              r.effective_from, r.effective_to, r.place, r.catalog_snapshot, r.configuration_snapshot, r.price_snapshot,
              r.pending_change, r.last_error, r.version, r.created_at, r.updated_at
         from jsonb_populate_recordset(null::product_instance, $2::jsonb) with ordinality as r
        order by r.ordinality
     ), new_relationships as (
       insert into product_instance_relationship (tenant_id, account_id, relationship_id, source_product_instance_id,
         target_product_instance_id, relationship_type, valid_from, valid_to, created_by_order_id, created_by_order_item_id,
         created_at, ended_at)
       select r.tenant_id, r.account_id, r.relationship_id, r.source_product_instance_id,
              r.target_product_instance_id, r.relationship_type, r.valid_from, r.valid_to, r.created_by_order_id, r.created_by_order_item_id,
              r.created_at, r.ended_at
         from jsonb_populate_recordset(null::product_instance_relationship, $3::jsonb) with ordinality as r
        order by r.ordinality
     ), new_guards as (
       insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id,
         operation_type, status, correlation_id, acquired_at)
       select r.tenant_id, r.account_id, r.guard_id, r.product_instance_id, r.order_id, r.order_item_id,
              r.operation_type, r.status, r.correlation_id, r.acquired_at
         from jsonb_populate_recordset(null::asset_operation_guard, $4::jsonb) with ordinality as r
        order by r.ordinality
     ), subscription_versions as (
       insert into subscription_history (tenant_id, account_id, subscription_id, version, history_id, change_type, changed_by_order_id,
         changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       select r.tenant_id, r.account_id, r.subscription_id, r.version, r.history_id, r.change_type, r.changed_by_order_id,
              r.changed_by_order_item_id, r.before_state, r.after_state, r.recorded_at, r.effective_at, r.actor_api_key_id, r.correlation_id
         from jsonb_populate_recordset(null::subscription_history, $5::jsonb) with ordinality as r
        order by r.ordinality
     ), product_versions as (
       insert into product_instance_history (tenant_id, account_id, product_instance_id, version, history_id, change_type, changed_by_order_id,
         changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       select r.tenant_id, r.account_id, r.product_instance_id, r.version, r.history_id, r.change_type, r.changed_by_order_id,
              r.changed_by_order_item_id, r.before_state, r.after_state, r.recorded_at, r.effective_at, r.actor_api_key_id, r.correlation_id
         from jsonb_populate_recordset(null::product_instance_history, $6::jsonb) with ordinality as r
        order by r.ordinality
     ), audits as (
       ${insertFromJson('audit_log', AUDIT_COLUMNS, '$7')}
     )
     ${insertFromJson('outbox_event', OUTBOX_COLUMNS, '$8')}`,
    [rows.subscriptions, rows.products, rows.relationships, rows.guards, rows.subscriptionHistory, rows.productHistory, rows.audits, rows.events].map((set) => JSON.stringify(set)),
  );
}

/**
 * New services of a product and the resources allocated to them, with every record of them
 * (decision 0007, for many versions at once): the rows, their first versions' history rows,
 * the audit rows and the outbox events, in one statement, as insertNewAssetsWithRecords does at
 * submission. Each set is one JSON array of rows keyed by column name; events and audit rows are
 * written in the order given. The caller builds every row as the one-row statements write it.
 */
export interface NewServiceRows {
  services: Record<string, unknown>[];
  resources: Record<string, unknown>[];
  serviceHistory: Record<string, unknown>[];
  resourceHistory: Record<string, unknown>[];
  audits: Record<string, unknown>[];
  events: Record<string, unknown>[];
}

/**
 * Returns how many services the product had before (read in the same statement, whose snapshot
 * does not see its own inserts): with none, the product's services are exactly the new ones.
 */
export async function insertNewServicesWithRecords(tx: Tx, product: { accountId: string; productInstanceId: string }, rows: NewServiceRows): Promise<number> {
  const result = await queryOne<{ earlier: number }>(
    tx,
    `with new_services as (
       insert into service_instance (tenant_id, account_id, service_instance_id, product_instance_id, service_specification_id,
         service_specification_version, name, status, external_service_id, place, activation_date, termination_date,
         technical_parameters, version, created_at, updated_at)
       select r.tenant_id, r.account_id, r.service_instance_id, r.product_instance_id, r.service_specification_id,
              r.service_specification_version, r.name, r.status, r.external_service_id, r.place, r.activation_date, r.termination_date,
              r.technical_parameters, r.version, r.created_at, r.updated_at
         from jsonb_populate_recordset(null::service_instance, $1::jsonb) with ordinality as r
        order by r.ordinality
     ), new_resources as (
       insert into resource_instance (tenant_id, account_id, resource_instance_id, service_instance_id, resource_type,
         resource_id, external_resource_id, status, allocation_date, release_date, attributes, version, created_at, updated_at)
       select r.tenant_id, r.account_id, r.resource_instance_id, r.service_instance_id, r.resource_type,
              r.resource_id, r.external_resource_id, r.status, r.allocation_date, r.release_date, r.attributes, r.version, r.created_at, r.updated_at
         from jsonb_populate_recordset(null::resource_instance, $2::jsonb) with ordinality as r
        order by r.ordinality
     ), service_versions as (
       insert into service_instance_history (tenant_id, account_id, service_instance_id, version, history_id, change_type, changed_by_order_id,
         changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       select r.tenant_id, r.account_id, r.service_instance_id, r.version, r.history_id, r.change_type, r.changed_by_order_id,
              r.changed_by_order_item_id, r.before_state, r.after_state, r.recorded_at, r.effective_at, r.actor_api_key_id, r.correlation_id
         from jsonb_populate_recordset(null::service_instance_history, $3::jsonb) with ordinality as r
        order by r.ordinality
     ), resource_versions as (
       insert into resource_instance_history (tenant_id, account_id, resource_instance_id, version, history_id, change_type, changed_by_order_id,
         changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       select r.tenant_id, r.account_id, r.resource_instance_id, r.version, r.history_id, r.change_type, r.changed_by_order_id,
              r.changed_by_order_item_id, r.before_state, r.after_state, r.recorded_at, r.effective_at, r.actor_api_key_id, r.correlation_id
         from jsonb_populate_recordset(null::resource_instance_history, $4::jsonb) with ordinality as r
        order by r.ordinality
     ), audits as (
       ${insertFromJson('audit_log', AUDIT_COLUMNS, '$5')}
     ), events as (
       ${insertFromJson('outbox_event', OUTBOX_COLUMNS, '$6')}
     )
     select count(*)::int as earlier from service_instance where account_id = $7 and product_instance_id = $8`,
    [...[rows.services, rows.resources, rows.serviceHistory, rows.resourceHistory, rows.audits, rows.events].map((set) => JSON.stringify(set)), product.accountId, product.productInstanceId],
  );
  return result!.earlier;
}
