/**
 * Consistency check (seed 000 §21.1): finds what the command pipeline should have made
 * impossible. Zero findings on a healthy database. Runs for one tenant (through RLS) or, from
 * the CLI, for all tenants.
 */
import { inSystemTransaction, inTenantTransaction, queryRows, type Pool, type Tx } from '../platform/db.ts';

export type FindingKind = 'missing-history' | 'stale-guard' | 'missing-outbox-event';

export interface Finding {
  kind: FindingKind;
  tenantId: string;
  accountId: string;
  entity: string;
  id: string;
  version: number | null;
  detail: string;
}

export interface CheckReport {
  healthy: boolean;
  checkedAt: string;
  findings: Finding[];
}

const ENTITIES = [
  { entity: 'product_instance', table: 'product_instance', history: 'product_instance_history', id: 'product_instance_id' },
  { entity: 'subscription', table: 'subscription', history: 'subscription_history', id: 'subscription_id' },
  { entity: 'service_instance', table: 'service_instance', history: 'service_instance_history', id: 'service_instance_id' },
  { entity: 'resource_instance', table: 'resource_instance', history: 'resource_instance_history', id: 'resource_instance_id' },
];

/** History change types that end the operation of the order item that caused them. */
const OPERATION_ENDING_CHANGES = ['ACTIVATED', 'ACTIVATION_FAILED', 'CANCELLED', 'MODIFIED', 'MODIFICATION_CANCELLED', 'DISCONNECTED', 'SUSPENDED', 'RESUMED', 'MOVED', 'REPLACED'];

export async function runConsistencyCheck(tx: Tx, now: Date): Promise<CheckReport> {
  const findings: Finding[] = [];
  for (const e of ENTITIES) {
    // The current version of every row must have its history row.
    const missing = await queryRows<any>(
      tx,
      `select c.tenant_id, c.account_id, c.${e.id} as id, c.version
         from ${e.table} c
        where not exists (select 1 from ${e.history} h
                           where h.account_id = c.account_id and h.${e.id} = c.${e.id} and h.version = c.version)
        order by c.account_id, c.${e.id}`,
    );
    for (const r of missing) {
      findings.push({ kind: 'missing-history', tenantId: r.tenant_id, accountId: r.account_id, entity: e.entity, id: r.id, version: r.version, detail: `current version ${r.version} has no ${e.history} row` });
    }
    // Every recorded version must have produced its outbox event.
    const silent = await queryRows<any>(
      tx,
      `select h.tenant_id, h.account_id, h.${e.id} as id, h.version
         from ${e.history} h
        where not exists (select 1 from outbox_event o
                           where o.account_id = h.account_id and o.aggregate_id = h.${e.id} and o.aggregate_version = h.version)
        order by h.account_id, h.${e.id}, h.version`,
    );
    for (const r of silent) {
      findings.push({ kind: 'missing-outbox-event', tenantId: r.tenant_id, accountId: r.account_id, entity: e.entity, id: r.id, version: r.version, detail: `version ${r.version} has no outbox event` });
    }
  }
  // A guard is stale when its asset has ended, or when the history shows that its order
  // item's operation already ended after the guard was taken.
  const stale = await queryRows<any>(
    tx,
    `select g.tenant_id, g.account_id, g.product_instance_id as id, g.guard_id, g.order_item_id, g.operation_type, p.status
       from asset_operation_guard g
       join product_instance p on p.account_id = g.account_id and p.product_instance_id = g.product_instance_id
      where g.status in ('ACTIVE', 'PENDING_RELEASE')
        and (p.status in ('DISCONNECTED', 'CANCELLED')
             or exists (select 1 from product_instance_history h
                         where h.account_id = g.account_id and h.product_instance_id = g.product_instance_id
                           and h.changed_by_order_item_id = g.order_item_id
                           and h.recorded_at >= g.acquired_at
                           and h.change_type = any($1)))
      order by g.account_id, g.product_instance_id`,
    [OPERATION_ENDING_CHANGES],
  );
  for (const r of stale) {
    findings.push({ kind: 'stale-guard', tenantId: r.tenant_id, accountId: r.account_id, entity: 'product_instance', id: r.id, version: null, detail: `guard ${r.guard_id} (${r.operation_type}, order item ${r.order_item_id ?? 'none'}) is still active but its operation has finished (asset is ${r.status})` });
  }
  return { healthy: findings.length === 0, checkedAt: now.toISOString(), findings };
}

export function checkTenant(pool: Pool, tenantId: string, now: Date): Promise<CheckReport> {
  return inTenantTransaction(pool, tenantId, (tx) => runConsistencyCheck(tx, now));
}

export function checkAllTenants(pool: Pool, now: Date): Promise<CheckReport> {
  return inSystemTransaction(pool, (tx) => runConsistencyCheck(tx, now));
}
