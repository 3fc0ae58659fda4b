/**
 * A price preview reads its inputs in one statement, in one round trip (decision 0020:
 * quotes/preview-store.ts through platform/db.ts inTenantStatement), and prices what the
 * transaction path (previewPriceInTx) prices: the same price, the same errors. The statement runs
 * as the tenant (Row-Level Security), and leaves nothing of the tenant or the role on the
 * connection. What it cannot answer alone (a MODIFY line, a bundle member not in the lines, a
 * document not cached, the parents named by an add-on's error) goes through the transaction.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { publishedDocuments } from '../../src/catalog/service.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import type { CommandContext } from '../../src/platform/context.ts';
import { inTenantTransaction, queryRows, sqlLiteral } from '../../src/platform/db.ts';
import { previewPriceInTx, type QuoteLineInput } from '../../src/quotes/commands/create.ts';
import { DEFAULT_QUOTE_SETTINGS } from '../../src/quotes/service.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { quoteLines } from '../../bench/pricing-quote.ts';

const KEY = 'tnr_preview-one-statement-key-0123456789';
const OTHER_KEY = 'tnr_preview-one-statement-other-012345678';

/** Queries sent by every pg client of this process while `work` runs. */
async function countingQueries<T>(work: () => Promise<T>): Promise<{ result: T; queries: number }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let queries = 0;
  proto.query = function (this: unknown, ...args: unknown[]) {
    queries++;
    return original.apply(this, args);
  };
  try {
    return { result: await work(), queries };
  } finally {
    proto.query = original;
  }
}

/** A preview's outcome with its random line ids numbered in order: the price, or the error as the API would answer it. */
async function outcome(work: () => Promise<unknown>): Promise<unknown> {
  try {
    const price = (await work()) as { lines: { itemId: string }[]; rules: { ruleId: string }[] };
    let text = JSON.stringify(price);
    // Items are the request's lines: those priced, and the bundles (their rule is `bundle:<item>`).
    const items = [...price.lines.map((l) => l.itemId), ...price.rules.flatMap((r) => (r.ruleId.startsWith('bundle:') ? [r.ruleId.slice(7)] : []))];
    [...new Set(items)].forEach((id, i) => {
      text = text.split(id).join(`item-${i + 1}`);
    });
    return { price: JSON.parse(text) };
  } catch (error) {
    const e = error as { constructor: { name: string }; message: string; status?: number; errors?: unknown; extensions?: unknown };
    return { error: e.constructor.name, message: e.message, status: e.status, errors: e.errors, extensions: e.extensions };
  }
}

describe('price previews in one statement', () => {
  let app: TestApp;
  let ctx: CommandContext;
  let otherCtx: CommandContext;
  let enterpriseId: string;
  let freeId: string;
  let fiberInstanceId: string;
  let otherFreeId: string;
  const offering = new Map<string, string>();
  const otherOffering = new Map<string, string>();

  const fast = (c: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[] }) => app.services.quotes.previewPrice(c, input);
  const inTransaction = (c: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[] }) =>
    inTenantTransaction(app.db.pool, c.tenantId, (tx) => previewPriceInTx(tx, app.clock.now().toISOString(), DEFAULT_QUOTE_SETTINGS, input));
  const o = (code: string) => offering.get(code) ?? assert.fail(`no demo offering ${code}`);

  /** Both paths answer the same; returns that answer. */
  async function same(c: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[] }): Promise<any> {
    const { result: a, queries } = await countingQueries(() => outcome(() => fast(c, input)));
    const b = await outcome(() => inTransaction(c, input));
    assert.deepEqual(a, b);
    return { ...(a as object), queries };
  }

  before(async () => {
    // One connection: every preview after the first runs on a connection that has the statement prepared.
    app = await createTestApp({ poolSize: 1 });
    const demo = await ensureDemo(app.services, KEY);
    const other = await ensureDemo(app.services, OTHER_KEY);
    const principal = (await app.services.access.authenticate(KEY))!;
    const otherPrincipal = (await app.services.access.authenticate(OTHER_KEY))!;
    ctx = { tenantId: principal.tenantId, actor: { apiKeyId: principal.apiKeyId, role: 'admin' }, correlationId: 'test' };
    otherCtx = { tenantId: otherPrincipal.tenantId, actor: { apiKeyId: otherPrincipal.apiKeyId, role: 'admin' }, correlationId: 'test' };
    for (const item of (await app.services.catalog.listOfferings(ctx, { limit: 50, after: null }, { cache: false })).items) offering.set(item.code, item.id);
    for (const item of (await app.services.catalog.listOfferings(otherCtx, { limit: 50, after: null }, { cache: false })).items) otherOffering.set(item.code, item.id);
    enterpriseId = demo.accountId;
    const enterprise = await app.services.customers.getAccount(ctx, enterpriseId);
    freeId = (await app.services.customers.createAccount(ctx, { customerId: enterprise.customerId, name: 'no segment', currency: enterprise.currency, timeZone: enterprise.timeZone, segment: null })).accountId;
    const otherEnterprise = await app.services.customers.getAccount(otherCtx, other.accountId);
    otherFreeId = (await app.services.customers.createAccount(otherCtx, { customerId: otherEnterprise.customerId, name: 'no segment', currency: otherEnterprise.currency, timeZone: otherEnterprise.timeZone, segment: null })).accountId;
    const base = await app.services.queries.installedBase(ctx, enterpriseId, null);
    fiberInstanceId = base.products.find((p) => p.name.startsWith('Business Fiber'))!.productInstanceId;
  });
  after(() => app.close());

  // The quote of bench:pricing.
  const benchQuote = (): QuoteLineInput[] => quoteLines(o);

  test('the bench quote: one round trip once the connection has the statement, the price of the transaction path', async () => {
    const input = { accountId: freeId, lines: benchQuote(), promoCodes: ['WELCOME10'] };
    const answer = await same(ctx, input);
    assert.equal(answer.price.lines.length, 13, JSON.stringify(answer));
    assert.deepEqual(answer.price.rules.filter((r: any) => r.applied).map((r: any) => r.ruleCode.replace(/^bundle:.*/, 'bundle')).sort(), ['bundle', 'welcome10']);
    // The lines' catalog rows are known now: the next preview sends the smaller statement, whose
    // first run on a connection prepares it (decision 0020, second round).
    await fast(ctx, input);
    const { queries } = await countingQueries(() => fast(ctx, input));
    assert.equal(queries, 1, 'one query: the tenant setup and the statement in one simple-protocol string');
  });

  test('nothing of the tenant, the role or the plan setting stays on the connection', async () => {
    await fast(ctx, { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('internet-100') }] });
    const [row] = await queryRows<any>(app.db.pool, `select current_user as role, coalesce(current_setting('tenure.tenant_id', true), '') as tenant, current_setting('plan_cache_mode') as plans`);
    const [owner] = await queryRows<any>(app.db.pool, 'select session_user as role');
    assert.deepEqual(row, { role: owner.role, tenant: '', plans: 'auto' });
  });

  test('the same answers as the transaction path: versions, the installed base, refusals', async () => {
    const cases: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[] }[] = [
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('internet-100'), offeringVersion: 1 }] },
      // an add-on onto an instance the account owns, and a disconnection of one
      { accountId: enterpriseId, lines: [{ action: 'ADD', offeringId: o('static-ip-29'), parentProductInstanceId: fiberInstanceId }] },
      { accountId: enterpriseId, lines: [{ action: 'DISCONNECT', productInstanceId: fiberInstanceId }, { action: 'ADD', offeringId: o('business-fiber'), configuration: { bandwidthMbps: '1000' } }] },
      // refusals: each the transaction path's error
      { accountId: '00000000-0000-4000-8000-000000000001', lines: [{ action: 'ADD', offeringId: o('internet-100') }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: '00000000-0000-4000-8000-000000000002' }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('internet-100'), offeringVersion: 99 }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('internet-100') }], promoCodes: ['NOPE'] },
      { accountId: enterpriseId, lines: [{ action: 'ADD', offeringId: o('internet-100') }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('business-fiber'), configuration: { bandwidthMbps: 'fast' } }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('internet-100'), parentLineNumber: 7 }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('internet-100'), parentProductInstanceId: fiberInstanceId }] },
      { accountId: enterpriseId, lines: [{ action: 'DISCONNECT', productInstanceId: '00000000-0000-4000-8000-000000000003' }] },
      // through the transaction: an add-on without a parent (its error names the parents), a bundle without its members, a MODIFY
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('sla-gold') }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: o('triple-play') }] },
      { accountId: enterpriseId, lines: [{ action: 'MODIFY', productInstanceId: fiberInstanceId, configuration: { bandwidthMbps: '2000' } }] },
      { accountId: freeId, lines: [{ action: 'ADD', offeringId: 'not-a-uuid' }] },
    ];
    const answers = [];
    for (const input of cases) answers.push(await same(ctx, input));
    assert.deepEqual(answers.map((a) => a.error ?? 'priced'), [
      'priced', answers[1].error ?? 'priced', answers[2].error ?? 'priced',
      'NotFoundError', 'ValidationError', 'ValidationError', 'ValidationError', 'ValidationError', 'ValidationError', 'ValidationError', 'ValidationError', 'ValidationError',
      'ValidationError', 'priced', answers[14].error ?? 'priced', answers[15].error,
    ]);
    // The first twelve in the one statement; the last four (and the statement first, but for the id that is not a uuid) through the transaction.
    assert.deepEqual(answers.map((a) => a.queries === 1), [...Array(12).fill(true), false, false, false, false]);
    assert.match(answers[12].message, /sla-gold is an add-on: it is sold only onto an instance or a line of business-fiber/);
    assert.ok(answers[13].price.lines.length > 0, 'the bundle priced with the members it brings');
  });

  test('a tenant sees none of another tenant\'s accounts or offerings', async () => {
    await fast(otherCtx, { accountId: otherFreeId, lines: [{ action: 'ADD', offeringId: otherOffering.get('internet-100')! }] });
    const account = await same(otherCtx, { accountId: freeId, lines: [{ action: 'ADD', offeringId: otherOffering.get('internet-100')! }] });
    assert.equal(account.error, 'NotFoundError');
    const foreign = await same(otherCtx, { accountId: otherFreeId, lines: [{ action: 'ADD', offeringId: o('internet-100') }] });
    assert.deepEqual(foreign.errors, [{ field: '/lines/0/offeringId', message: `offering ${o('internet-100')} does not exist` }]);
  });

  test('a document not cached: the preview goes through the transaction, which keeps it, and prices the same', async () => {
    const input = { accountId: freeId, lines: benchQuote(), promoCodes: ['WELCOME10'] };
    const warm = await outcome(() => fast(ctx, input));
    publishedDocuments.clear();
    const cold = await countingQueries(() => outcome(() => fast(ctx, input)));
    assert.deepEqual(cold.result, warm);
    assert.ok(cold.queries > 1, `${cold.queries} queries: the statement, then the transaction`);
    assert.equal((await countingQueries(() => fast(ctx, input))).queries, 1, 'warm again');
  });

  test('parameters as literals: PostgreSQL reads back what was given', async () => {
    const values = ["it's", 'back\\slash "quoted"', '', 'ünï'];
    const [row] = await queryRows<any>(app.db.pool,
      `select ${sqlLiteral(values)}::text[] as texts, ${sqlLiteral(['a', null])}::text[] as with_null, ${sqlLiteral(null)}::int as nothing, ${sqlLiteral(42)}::int as n, ${sqlLiteral("x'); drop table account; --")}::text as hostile`);
    assert.deepEqual(row, { texts: values, with_null: ['a', null], nothing: null, n: 42, hostile: "x'); drop table account; --" });
    assert.throws(() => sqlLiteral([['nested']]));
  });
});
