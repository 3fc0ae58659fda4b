/**
 * product_instance_relationship: how product instances relate (PARENT_OF, ADDON_OF, REPLACES…).
 * A relationship is never deleted: it ends (valid_to, ended_at), so the past stays readable.
 */
import type { Tx } from '../../platform/db.ts';
import type { Relationship } from '../types.ts';
import { iso, isoRequired, selectAll, selectOne, writesOne } from './rows.ts';

export function relationshipFromRow(r: any): Relationship {
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

export function listCurrentRelationships(tx: Tx, accountId: string): Promise<Relationship[]> {
  return selectAll(tx, relationshipFromRow, 'select * from product_instance_relationship where account_id = $1 and ended_at is null order by created_at, relationship_id', [accountId]);
}

/** Relationships as recorded at `asOf` (transaction time). */
export function listRelationshipsAsOf(tx: Tx, accountId: string, asOf: string): Promise<Relationship[]> {
  return selectAll(
    tx,
    relationshipFromRow,
    `select * from product_instance_relationship
      where account_id = $1 and created_at <= $2 and (ended_at is null or ended_at > $2)
      order by created_at, relationship_id`,
    [accountId, asOf],
  );
}

export function findRelationship(tx: Tx, relationshipId: string): Promise<Relationship | undefined> {
  return selectOne(tx, relationshipFromRow, 'select * from product_instance_relationship where relationship_id = $1', [relationshipId]);
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

/** Ends a current relationship; false when it has already ended. */
export function endRelationship(tx: Tx, accountId: string, relationshipId: string, at: { validTo: string; endedAt: string; orderItemId: string | null }): Promise<boolean> {
  return writesOne(
    tx,
    `update product_instance_relationship set valid_to = $3, ended_at = $4, ended_by_order_item_id = $5
      where account_id = $1 and relationship_id = $2 and ended_at is null`,
    [accountId, relationshipId, at.validTo, at.endedAt, at.orderItemId],
  );
}

/**
 * Serialises relationship changes of one account, so that two transactions cannot each add
 * half of a cycle. Held until the transaction ends.
 */
export async function lockAccountRelationships(tx: Tx, accountId: string): Promise<void> {
  await tx.query(`select pg_advisory_xact_lock(hashtextextended('relationships:' || $1, 0))`, [accountId]);
}
