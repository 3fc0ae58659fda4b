import { queryRows, type Tx } from './db.ts';
import { newId } from './ids.ts';

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string | null;
  subjectAccountId: string | null;
  details?: Record<string, unknown>;
}

export interface AuditActor {
  apiKeyId: string;
  role: string;
}

/** Records who (which API key) did what, in the transaction that did it. */
export async function recordAudit(tx: Tx, tenantId: string, actor: AuditActor | null, correlationId: string | null, at: string, entry: AuditEntry): Promise<void> {
  await tx.query(
    `insert into audit_log (audit_id, tenant_id, actor_api_key_id, actor_role, action, target_type, target_id,
       subject_account_id, correlation_id, details, recorded_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [newId(), tenantId, actor?.apiKeyId ?? null, actor?.role ?? null, entry.action, entry.targetType, entry.targetId,
     entry.subjectAccountId, correlationId, entry.details ?? {}, at],
  );
}

export interface AuditRecord {
  auditId: string;
  actorApiKeyId: string | null;
  actorRole: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  subjectAccountId: string | null;
  correlationId: string | null;
  details: Record<string, unknown>;
  recordedAt: string;
}

/** Newest first; `before` is the (recordedAt, auditId) of the last row of the previous page. */
export async function listAudit(tx: Tx, before: { recordedAt: string; auditId: string } | null, limit: number): Promise<AuditRecord[]> {
  const rows = await queryRows<any>(
    tx,
    `select * from audit_log
      where ($1::timestamptz is null or (recorded_at, audit_id) < ($1::timestamptz, $2::uuid))
      order by recorded_at desc, audit_id desc limit $3`,
    [before?.recordedAt ?? null, before?.auditId ?? null, limit],
  );
  return rows.map((r) => ({
    auditId: r.audit_id,
    actorApiKeyId: r.actor_api_key_id,
    actorRole: r.actor_role,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    subjectAccountId: r.subject_account_id,
    correlationId: r.correlation_id,
    details: r.details,
    recordedAt: r.recorded_at.toISOString(),
  }));
}
