/** HTTP → price rules and account price terms. Reads are open to every role; changes are admin-only. */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, decodeCursor, encodeCursor, getById, IdParams, Page, pageByCreation, PageQuery, Uuid } from '../http/http.ts';
import { AccountTermBody, PriceRuleBody } from '../catalog/index.ts';
import type { PriceRuleService } from './rule-service.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
/** Command routes take no body; a POST without one (curl -X POST) reads as `{}`. */
const EmptyBody = Type.Object({}, { additionalProperties: false });
const bodyOptional = async (request: FastifyRequest) => {
  if (request.body === undefined || request.body === null) request.body = {};
};

const RuleSchema = Type.Object({
  id: Uuid,
  code: Type.String(),
  type: Type.String(),
  priority: Type.Integer(),
  status: Type.Union([Type.Literal('active'), Type.Literal('retired')]),
  redemptions: Type.Integer({ description: 'Promo rules: quotes that redeemed it so far.' }),
  createdAt: Type.String(),
  retiredAt: Nullable(Type.String()),
  body: PriceRuleBody,
});

const TermSchema = Type.Object({
  id: Uuid,
  accountId: Uuid,
  createdAt: Type.String(),
  endedAt: Nullable(Type.String()),
  body: AccountTermBody,
});

/** Cursors come back from clients: every part is checked before SQL sees it (no 500 on a forged one). */
const isRuleCursor = (v: any) => Number.isInteger(v?.priority) && v.priority >= 0 && v.priority <= 10000
  && typeof v?.code === 'string' && /^[a-z0-9][a-z0-9._-]{0,79}$/.test(v.code);

export function registerPriceRuleRoutes(app: FastifyInstance, rules: PriceRuleService): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['pricing: rules and terms'];
  const adminOnly = { adminOnly: true };

  r.post('/price-rules', {
    config: adminOnly,
    schema: { tags, summary: 'Create a price rule (discount, promo, loyalty or volume); it applies from now on', body: PriceRuleBody, response: { 201: RuleSchema } },
  }, async (request, reply) => reply.status(201).send(await rules.createRule(contextOf(request), request.body)));

  r.get('/price-rules', {
    schema: {
      tags,
      summary: 'List price rules in priority order',
      querystring: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('retired')])),
        type: Type.Optional(PriceRuleBody.properties.type),
        ...PageQuery,
      }),
      response: { 200: Page(RuleSchema) },
    },
  }, async (request) => {
    const limit = request.query.limit ?? 50;
    const after = decodeCursor<{ priority: number; code: string }>(request.query.cursor, isRuleCursor);
    const rows = await rules.listRules(contextOf(request), { status: request.query.status, type: request.query.type }, { after, limit: limit + 1 });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ priority: last.priority, code: last.code }) : null };
  });

  getById(r, '/price-rules/:id', { tags, summary: 'One price rule', response: RuleSchema }, (ctx, id) => rules.getRule(ctx, id));

  r.post('/price-rules/:id/retirement::apply', {
    config: adminOnly,
    preValidation: bodyOptional,
    schema: { tags, summary: 'Retire a price rule: it no longer applies; it stays readable and its code stays taken', params: IdParams, body: EmptyBody, response: { 200: RuleSchema } },
  }, async (request) => rules.retireRule(contextOf(request), request.params.id));

  const accountParams = Type.Object({ accountId: Uuid });

  r.post('/accounts/:accountId/price-terms', {
    config: adminOnly,
    schema: { tags, summary: "Give an account individual price terms (an override or a discount)", params: accountParams, body: AccountTermBody, response: { 201: TermSchema } },
  }, async (request, reply) => reply.status(201).send(await rules.createTerm(contextOf(request), request.params.accountId, request.body)));

  r.get('/accounts/:accountId/price-terms', {
    schema: { tags, summary: "An account's price terms, ended ones included", params: accountParams, querystring: Type.Object(PageQuery), response: { 200: Page(TermSchema) } },
  }, async (request) => pageByCreation(request.query, (t) => t.id, (page) => rules.listTerms(contextOf(request), request.params.accountId, page)));

  r.post('/accounts/:accountId/price-terms/:termId/end::apply', {
    config: adminOnly,
    preValidation: bodyOptional,
    schema: {
      tags,
      summary: 'End a price term now',
      params: Type.Object({ accountId: Uuid, termId: Uuid }),
      body: EmptyBody,
      response: { 200: TermSchema },
    },
  }, async (request) => rules.endTerm(contextOf(request), request.params.accountId, request.params.termId));
}
