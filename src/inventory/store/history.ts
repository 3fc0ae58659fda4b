/**
 * The history tables (product_instance_history, subscription_history, service_instance_history,
 * resource_instance_history): one row per version of an entity, with its before and after
 * state. A version is written in one statement with its outbox event and audit row
 * (decision 0007), which is why this file, alone in inventory/, names audit_log and
 * outbox_event (eslint.config.js lists it as shared).
 */
import { eventPayload, type OutboxEvent } from '../../events/index.ts';
import type { Tx } from '../../platform/db.ts';
import { newId } from '../../platform/ids.ts';
import type { EntityKind, HistoryEntry } from '../types.ts';
import { isoRequired, selectAll } from './rows.ts';

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
export function listHistory(tx: Tx, kind: EntityKind, accountId: string, entityId: string, afterVersion: number, limit: number): Promise<HistoryEntry[]> {
  const { table, idColumn } = HISTORY_TABLE[kind];
  return selectAll(
    tx,
    historyFromRow,
    `select * from ${table} where account_id = $1 and ${idColumn} = $2 and version > $3 order by version limit $4`,
    [accountId, entityId, afterVersion, limit],
  );
}
