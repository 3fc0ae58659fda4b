/** HTTP → quotes and price previews. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, DateTime, decodeCursor, IdParams, isKeysetCursor, keysetPage, Page, PageQuery, Uuid } from '../http/http.ts';
import type { QuoteService } from './service.ts';

const LineInput = Type.Object({
  action: Type.Union([Type.Literal('ADD'), Type.Literal('MODIFY'), Type.Literal('DISCONNECT')]),
  offeringId: Type.Optional(Uuid),
  offeringVersion: Type.Optional(Type.Integer({ minimum: 1 })),
  productInstanceId: Type.Optional(Uuid),
  parentLineNumber: Type.Optional(Type.Integer({ minimum: 1, description: 'This line is an add-on (or bundle member) of that line of the same request.' })),
  parentProductInstanceId: Type.Optional(Uuid),
  configuration: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  usageEstimate: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: '^[0-9]{1,15}(\\.[0-9]{1,6})?$' }))),
  zone: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
}, { additionalProperties: false });

const PromoCodes = Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{2,39}$' }), { maxItems: 10 }));
const Lines = Type.Array(LineInput, { minItems: 1, maxItems: 200 });
const AnyObject = Type.Object({}, { additionalProperties: true });
const Versioned = Type.Object({ expectedVersion: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

export function registerQuoteRoutes(app: FastifyInstance, quotes: QuoteService): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['quotes and pricing'];

  r.post('/price-previews', {
    schema: {
      tags,
      summary: 'Price lines for an account without storing anything',
      description: 'Returns the itemized price: every one-time, recurring, rental, prepaid and usage line with its list amount, each rule applied in order with the amount it took, and the final amount; plus every rule considered and why it did or did not apply.',
      body: Type.Object({ accountId: Uuid, lines: Lines, promoCodes: PromoCodes, at: Type.Optional(DateTime) }, { additionalProperties: false }),
      response: { 200: AnyObject },
    },
  }, async (request) => quotes.previewPrice(contextOf(request), { ...request.body, at: request.body.at ? new Date(request.body.at).toISOString() : undefined }));

  r.post('/accounts/:accountId/quotes', {
    schema: {
      tags,
      summary: 'Make a quote: snapshot the installed base, price the lines',
      params: Type.Object({ accountId: Uuid }),
      body: Type.Object({ lines: Lines, promoCodes: PromoCodes, validForHours: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
      response: { 201: AnyObject },
    },
  }, async (request, reply) => reply.status(201).send(await quotes.createQuote(contextOf(request), { accountId: request.params.accountId, ...request.body })));

  r.get('/accounts/:accountId/quotes', {
    schema: { tags, summary: 'Quotes of an account', params: Type.Object({ accountId: Uuid }), querystring: Type.Object(PageQuery), response: { 200: Page(AnyObject) } },
  }, async (request) => {
    const limit = request.query.limit ?? 50;
    const after = decodeCursor<{ createdAt: string; id: string }>(request.query.cursor, isKeysetCursor);
    const rows = await quotes.listQuotes(contextOf(request), request.params.accountId, { after, limit: limit + 1 });
    return keysetPage(rows, limit, (q) => ({ createdAt: q.createdAt, id: q.quoteId }));
  });

  r.get('/quotes/:id', { schema: { tags, summary: 'One quote with its snapshot, lines and price', params: IdParams, response: { 200: AnyObject } } },
    async (request) => quotes.getQuote(contextOf(request), request.params.id));

  const command = (verb: string, summary: string, run: (ctx: ReturnType<typeof contextOf>, id: string, expectedVersion: number) => Promise<unknown>) =>
    r.post(`/quotes/:id/${verb}::apply`, { schema: { tags, summary, params: IdParams, body: Versioned, response: { 200: AnyObject } } },
      async (request) => (await run(contextOf(request), request.params.id, request.body.expectedVersion)) as object);

  command('pricing', 'Price the quote again (same snapshot, catalog and rules as of now)', (c, id, v) => quotes.repriceQuote(c, id, { expectedVersion: v }));
  command('acceptance', 'Accept the quote (redeems its promo codes)', (c, id, v) => quotes.acceptQuote(c, id, { expectedVersion: v }));
  command('conversion', 'Convert an accepted quote: stale check against its snapshot, returns the order draft', (c, id, v) => quotes.convertQuote(c, id, { expectedVersion: v }));
  command('cancellation', 'Cancel the quote', (c, id, v) => quotes.cancelQuote(c, id, { expectedVersion: v }));
}
