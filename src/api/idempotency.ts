/**
 * Idempotency-Key on every POST: the same key with the same request replays the first
 * response; the same key with another request is refused (422). The first request's
 * response is stored when it is sent; a 5xx is not stored, so the client may retry.
 * The key is taken before validation (preValidation), so a schema-validation 400 is stored
 * like any other first 4xx; only what comes before it is not: refusals of authentication and
 * of a body that cannot be read as JSON (docs/api.md, Idempotency).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, queryOne, type Pool } from '../platform/db.ts';
import { IdempotencyInProgressError, IdempotencyKeyReuseError, ValidationError } from '../platform/errors.ts';

/** An in-progress record older than this is taken over (its request died with its process). */
const IN_PROGRESS_TIMEOUT_MS = 60_000;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  if (value && typeof value === 'object') {
    return '{' + Object.keys(value).sort().map((k) => JSON.stringify(k) + ':' + canonical((value as any)[k])).join(',') + '}';
  }
  return JSON.stringify(value ?? null);
}

export function installIdempotency(app: FastifyInstance, deps: { pool: Pool; clock: Clock }): void {
  app.addHook('preValidation', async (request, reply) => {
    if (request.method !== 'POST' || !request.principal) return;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    if (typeof header !== 'string' || header.length === 0 || header.length > 200) {
      throw ValidationError.field('Idempotency-Key', 'must be 1 to 200 characters');
    }
    const tenantId = request.principal.tenantId;
    const path = request.url.split('?')[0];
    const requestHash = createHash('sha256').update(`POST ${path}\n${canonical(request.body)}`).digest('hex');
    const now = deps.clock.now();
    const outcome = await inTenantTransaction(deps.pool, tenantId, async (tx) => {
      const inserted = await queryOne(
        tx,
        `insert into idempotency_key (tenant_id, idempotency_key, method, path, request_hash, state, created_at)
         values ($1, $2, 'POST', $3, $4, 'in_progress', $5)
         on conflict (tenant_id, idempotency_key) do nothing returning idempotency_key`,
        [tenantId, header, path, requestHash, now.toISOString()],
      );
      if (inserted) return { kind: 'first' as const };
      const existing = await queryOne<any>(tx, 'select * from idempotency_key where tenant_id = $1 and idempotency_key = $2 for update', [tenantId, header]);
      if (existing.request_hash !== requestHash) return { kind: 'mismatch' as const, path: existing.path };
      if (existing.state === 'completed') return { kind: 'replay' as const, status: existing.response_status, body: existing.response_body };
      if (now.getTime() - existing.created_at.getTime() > IN_PROGRESS_TIMEOUT_MS) {
        await tx.query('update idempotency_key set created_at = $3 where tenant_id = $1 and idempotency_key = $2', [tenantId, header, now.toISOString()]);
        return { kind: 'first' as const };
      }
      return { kind: 'in-progress' as const };
    });
    switch (outcome.kind) {
      case 'first':
        request.idempotency = { tenantId, key: header };
        return;
      case 'mismatch':
        throw new IdempotencyKeyReuseError(`Idempotency-Key "${header}" was used for a different request (${outcome.path}); use a new key`);
      case 'in-progress':
        throw new IdempotencyInProgressError(`the first request with Idempotency-Key "${header}" has not finished yet`);
      case 'replay':
        reply.header('idempotent-replayed', 'true');
        reply.status(outcome.status);
        if (outcome.status >= 400) reply.type('application/problem+json');
        return reply.send(outcome.body);
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const record = request.idempotency;
    if (!record) return payload;
    request.idempotency = undefined;
    const status = reply.statusCode;
    if (status >= 500) {
      await inTenantTransaction(deps.pool, record.tenantId, (tx) =>
        tx.query(`delete from idempotency_key where tenant_id = $1 and idempotency_key = $2 and state = 'in_progress'`, [record.tenantId, record.key]),
      );
      return payload;
    }
    let body: unknown = null;
    if (typeof payload === 'string' && payload.length > 0) {
      try {
        body = JSON.parse(payload);
      } catch {
        body = payload;
      }
    }
    await inTenantTransaction(deps.pool, record.tenantId, (tx) =>
      tx.query(
        `update idempotency_key set state = 'completed', response_status = $3, response_body = $4, completed_at = $5
          where tenant_id = $1 and idempotency_key = $2`,
        [record.tenantId, record.key, status, JSON.stringify(body), deps.clock.now().toISOString()],
      ),
    );
    return payload;
  });
}
