import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, getById, Page, pageByCreation, PageQuery, Uuid } from '../http/http.ts';
import { ACCOUNT_SEGMENTS, type CustomerService } from './service.ts';

const CustomerSchema = Type.Object({
  customerId: Uuid,
  name: Type.String(),
  externalReference: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const AccountSchema = Type.Object({
  accountId: Uuid,
  customerId: Uuid,
  name: Type.String(),
  currency: Type.String(),
  timeZone: Type.String(),
  segment: Type.Union([...ACCOUNT_SEGMENTS.map((v) => Type.Literal(v)), Type.Null()]),
  billingCycleDay: Type.Integer({ minimum: 1, maximum: 31, description: 'The day of the month its monthly and quarterly charges are billed on, in its time zone; a shorter month bills on its last day' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const CustomerInput = Type.Object({ name: Type.String({ minLength: 1, maxLength: 300 }), externalReference: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false });

const AccountInput = Type.Object({
  customerId: Uuid,
  name: Type.String({ minLength: 1, maxLength: 300 }),
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, e.g. IDR' }),
  timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Asia/Jakarta. Required (no default): the account\'s billing periods are its local dates in this zone.' }),
  segment: Type.Optional(Type.Union(ACCOUNT_SEGMENTS.map((v) => Type.Literal(v)), { description: 'The market segment: only offerings of this segment (or `any`) are sold to the account. Not set: any offering.' })),
  billingCycleDay: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 31,
    description: 'The billing cycle day (BCD): the day of the month, in the account\'s time zone, its monthly and quarterly charges are billed on. 29–31 fall on the last day of a shorter month (31 → Jan 31, Feb 28/29, Mar 31, Apr 30). Annual plans bill on their own start date. Not set: 1.',
    examples: [15],
  })),
}, { additionalProperties: false });

export function registerCustomerRoutes(app: FastifyInstance, customers: CustomerService): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['customers and accounts'];

  r.post('/customers', { schema: { tags, summary: 'Create a customer', body: CustomerInput, response: { 201: CustomerSchema } } },
    async (request, reply) => reply.status(201).send(await customers.createCustomer(contextOf(request), request.body)));

  r.get('/customers', {
    schema: { tags, summary: 'List customers', querystring: Type.Object(PageQuery), response: { 200: Page(CustomerSchema) } },
  }, async (request) => pageByCreation(request.query, (c) => c.customerId, (page) => customers.listCustomers(contextOf(request), page)));

  getById(r, '/customers/:id', { tags, summary: 'One customer', response: CustomerSchema }, (ctx, id) => customers.getCustomer(ctx, id));

  r.post('/accounts', {
    schema: { tags, summary: 'Open an account for a customer (currency and time zone are fixed per account)', body: AccountInput, response: { 201: AccountSchema } },
  }, async (request, reply) => reply.status(201).send(await customers.createAccount(contextOf(request), request.body)));

  r.get('/accounts', {
    schema: { tags, summary: 'List accounts', querystring: Type.Object({ customerId: Type.Optional(Uuid), ...PageQuery }), response: { 200: Page(AccountSchema) } },
  }, async (request) => pageByCreation(request.query, (a) => a.accountId, (page) => customers.listAccounts(contextOf(request), { customerId: request.query.customerId }, page)));

  getById(r, '/accounts/:id', { tags, summary: 'One account', response: AccountSchema }, (ctx, id) => customers.getAccount(ctx, id));
}
