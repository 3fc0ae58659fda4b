import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, decodeCursor, encodeCursor, IdParams, isInstant, PageQuery, UUID_PATTERN } from '../http/http.ts';
import type { Clock } from '../platform/clock.ts';
import type { Pool } from '../platform/db.ts';
import { checkTenant } from '../inventory/index.ts';
import { listAudit } from '../platform/audit.ts';
import { inTenantTransaction } from '../platform/db.ts';
import { ROLES, type AccessService } from './service.ts';

const AnyObject = Type.Object({}, { additionalProperties: true });

export function registerAccessRoutes(app: FastifyInstance, deps: { access: AccessService; pool: Pool; clock: Clock }): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['administration'];
  const adminOnly = { adminOnly: true };

  r.post('/api-keys', {
    // The key is stored hashed only: a replay with the same Idempotency-Key answers apiKey null.
    config: { ...adminOnly, secretResponseMembers: ['apiKey'] },
    schema: {
      tags,
      summary: 'Create an API key (the key is shown only in this response; a replay with the same Idempotency-Key answers apiKey null)',
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), role: Type.Union(ROLES.map((x) => Type.Literal(x))) }, { additionalProperties: false }),
      response: { 201: AnyObject },
    },
  }, async (request, reply) => reply.status(201).send(await deps.access.createApiKey(contextOf(request), request.body)));

  r.get('/api-keys', { config: adminOnly, schema: { tags, summary: 'List API keys (never the keys themselves)', response: { 200: AnyObject } } },
    async (request) => ({ items: await deps.access.listApiKeys(contextOf(request)), nextCursor: null }));

  r.post('/api-keys/:id/revocation::apply', {
    config: adminOnly,
    schema: { tags, summary: 'Revoke an API key', params: IdParams, body: Type.Optional(Type.Object({}, { additionalProperties: false })), response: { 200: AnyObject } },
  }, async (request) => deps.access.revokeApiKey(contextOf(request), request.params.id));

  r.get('/audit-log', {
    config: adminOnly,
    schema: { tags, summary: 'Who did what, newest first', querystring: Type.Object(PageQuery), response: { 200: AnyObject } },
  }, async (request) => {
    const ctx = contextOf(request);
    const limit = request.query.limit ?? 50;
    const before = decodeCursor<{ recordedAt: string; auditId: string }>(request.query.cursor, (v) => typeof v?.recordedAt === 'string' && isInstant(v.recordedAt) && typeof v?.auditId === 'string' && UUID_PATTERN.test(v.auditId));
    const rows = await inTenantTransaction(deps.pool, ctx.tenantId, (tx) => listAudit(tx, before, limit + 1));
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ recordedAt: last.recordedAt, auditId: last.auditId }) : null };
  });

  r.get('/admin/consistency-check', {
    config: adminOnly,
    schema: {
      tags,
      summary: 'Consistency check (seed 000 §21.1) of your tenant',
      description: 'Reports versions without history rows, guards held by finished operations, versions without outbox events, orders that look submitted twice (same Idempotency-Key, externalReference or quote) and the subscriptions they created, fulfillment tasks running under an expired or missing lease, and (when the relay publishes, TENURE_RELAY=on) outbox events unpublished past the threshold. Each finding has a stable `kind`, the ids of its rows and the `action` to take; `information.outbox` counts unpublished events. Zero findings on a healthy database (docs/installed-base.md#consistency-check).',
      response: { 200: AnyObject },
    },
  }, async (request) => checkTenant(deps.pool, contextOf(request).tenantId, deps.clock.now()));
}
