/** Tenants and API keys. Keys are shown once and stored only as SHA-256 hashes. */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import { inSystemTransaction, inTenantTransaction, queryOne, queryRows, type Pool, type Tx } from '../platform/db.ts';
import { NotFoundError, ValidationError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import { recordAudit } from '../platform/audit.ts';
import type { CommandContext, Principal, Role } from '../platform/context.ts';

export { ROLES, type Principal, type Role } from '../platform/context.ts';

export interface ApiKeyInfo {
  apiKeyId: string;
  name: string;
  role: Role;
  keyPrefix: string;
  createdAt: string;
  revokedAt: string | null;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): string {
  return 'tnr_' + randomBytes(24).toString('base64url');
}

const apiKeyFromRow = (r: any): ApiKeyInfo => ({
  apiKeyId: r.api_key_id,
  name: r.name,
  role: r.role,
  keyPrefix: r.key_prefix,
  createdAt: r.created_at.toISOString(),
  revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
});

async function insertKey(tx: Tx, tenantId: string, name: string, role: Role, key: string, now: string): Promise<ApiKeyInfo> {
  const row = await queryOne(
    tx,
    `insert into api_key (api_key_id, tenant_id, name, key_prefix, key_hash, role, created_at)
     values ($1, $2, $3, $4, $5, $6, $7) returning *`,
    [newId(), tenantId, name, key.slice(0, 12), hashKey(key), role, now],
  );
  return apiKeyFromRow(row);
}

/**
 * How long a looked-up key is trusted without asking the database again. A revocation made
 * through this process takes effect at once; one made by another process within this time.
 */
export const KEY_CACHE_MS = 5_000;

export class AccessService {
  private readonly keyCache = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly deps: { pool: Pool; clock: Clock }) {}

  /** Creates a tenant and its first admin key (an operator tool: not tenant-scoped). */
  async createTenant(input: { name: string; mode?: 'live' | 'test'; adminKey?: string }): Promise<{ tenantId: string; name: string; mode: string; apiKey: string; apiKeyId: string }> {
    if (!input.name || input.name.length > 200) throw ValidationError.field('/name', 'must be 1 to 200 characters');
    if (input.adminKey !== undefined && input.adminKey.length < 16) throw ValidationError.field('adminKey', 'must be at least 16 characters');
    const now = this.deps.clock.now().toISOString();
    return inSystemTransaction(this.deps.pool, async (tx) => {
      const tenantId = newId();
      const mode = input.mode ?? 'live';
      await tx.query('insert into tenant (tenant_id, name, mode, created_at) values ($1, $2, $3, $4)', [tenantId, input.name, mode, now]);
      const key = input.adminKey ?? generateKey();
      const info = await insertKey(tx, tenantId, 'first admin key', 'admin', key, now);
      await recordAudit(tx, tenantId, null, null, now, { action: 'tenant.create', targetType: 'tenant', targetId: tenantId, subjectAccountId: null, details: { name: input.name, mode } });
      return { tenantId, name: input.name, mode, apiKey: key, apiKeyId: info.apiKeyId };
    });
  }

  async findTenantByKey(key: string): Promise<{ tenantId: string } | undefined> {
    const principal = await this.authenticate(key);
    return principal ? { tenantId: principal.tenantId } : undefined;
  }

  /** Looks a presented key up by its hash. Runs as the owner role: the tenant is not known yet. */
  async authenticate(key: string): Promise<Principal | undefined> {
    const hash = hashKey(key);
    const cached = this.keyCache.get(hash);
    if (cached && cached.until > performance.now()) return cached.principal;
    const row = await queryOne<{ tenant_id: string; api_key_id: string; role: Role }>(
      this.deps.pool,
      'select tenant_id, api_key_id, role from api_key where key_hash = $1 and revoked_at is null',
      [hash],
    );
    if (!row) {
      this.keyCache.delete(hash);
      return undefined;
    }
    const principal: Principal = { tenantId: row.tenant_id, apiKeyId: row.api_key_id, role: row.role };
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    this.keyCache.set(hash, { principal, until: performance.now() + KEY_CACHE_MS });
    return principal;
  }

  async createApiKey(ctx: CommandContext, input: { name: string; role: Role }): Promise<ApiKeyInfo & { apiKey: string }> {
    const now = this.deps.clock.now().toISOString();
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const key = generateKey();
      const info = await insertKey(tx, ctx.tenantId, input.name, input.role, key, now);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'api-key.create', targetType: 'api_key', targetId: info.apiKeyId, subjectAccountId: null, details: { role: input.role } });
      return { ...info, apiKey: key };
    });
  }

  async listApiKeys(ctx: CommandContext): Promise<ApiKeyInfo[]> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) =>
      (await queryRows(tx, 'select * from api_key order by created_at, api_key_id')).map(apiKeyFromRow),
    );
  }

  async revokeApiKey(ctx: CommandContext, apiKeyId: string): Promise<ApiKeyInfo> {
    const now = this.deps.clock.now().toISOString();
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const row = await queryOne<any>(tx, 'update api_key set revoked_at = coalesce(revoked_at, $2) where api_key_id = $1 returning *', [apiKeyId, now]);
      if (!row) throw NotFoundError.of('api key', apiKeyId);
      this.keyCache.delete(row.key_hash);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'api-key.revoke', targetType: 'api_key', targetId: apiKeyId, subjectAccountId: null });
      return apiKeyFromRow(row);
    });
  }
}
