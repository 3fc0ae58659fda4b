/** Price rules, account price terms, the rule loader for quotes, and promo redemption limits. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { inTenantTransaction } from '../../src/platform/db.ts';
import { PromoExhaustedError } from '../../src/platform/errors.ts';
import { countPromoRedemptions, loadPricingRules, recordPromoRedemption } from '../../src/pricing/rule-service.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createAccount } from '../helpers/fixtures.ts';
import { createPublished, offering, publishedProductSpec, uniqueCode } from './helpers.ts';

const promo = (overrides: Record<string, unknown> = {}) => ({
  code: uniqueCode('promo'),
  name: 'Welcome 10%',
  type: 'promo',
  priority: 100,
  stacking: 'stack',
  appliesTo: { chargeKinds: ['recurring'] },
  promoCode: 'WELCOME10',
  discount: { percent: '10' },
  ...overrides,
});

describe('price rules and account terms', () => {
  let app: TestApp;
  let accountId: string;
  let offeringId: string;
  const post = (url: string, body?: unknown) => call(app.server, app.adminKey, 'POST', url, body);
  const get = (url: string) => call(app.server, app.adminKey, 'GET', url);

  before(async () => {
    app = await createTestApp({ poolSize: 12 });
    accountId = (await createAccount(app.services, app.ctx)).accountId;
    const spec = await publishedProductSpec(app.server, app.adminKey);
    offeringId = (await createPublished(app.server, app.adminKey, '/product-offerings', offering({ id: spec.id, version: 1 }))).id;
  });
  after(() => app.close());

  test('create, read, list and retire a rule', async () => {
    const created = await post('/price-rules', promo({ appliesTo: { offeringIds: [offeringId] }, maxRedemptions: 5, validFrom: '2026-07-01T07:00:00+07:00' }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'active');
    assert.equal(created.body.type, 'promo');
    assert.equal(created.body.redemptions, 0);
    assert.equal(created.body.body.validFrom, '2026-07-01T00:00:00.000Z');

    const one = await get(`/price-rules/${created.body.id}`);
    assert.deepEqual(one.body, created.body);
    const listed = await get('/price-rules?type=promo&status=active');
    assert.ok(listed.body.items.some((r: any) => r.id === created.body.id));

    app.clock.advance(1000);
    const retired = await post(`/price-rules/${created.body.id}/retirement:apply`);
    assert.equal(retired.status, 200);
    assert.equal(retired.body.status, 'retired');
    assert.equal(retired.body.retiredAt, app.clock.now().toISOString());
    assert.equal((await post(`/price-rules/${created.body.id}/retirement:apply`)).body.type, '/problems/illegal-transition');
    assert.ok(!(await get('/price-rules?status=active&limit=200')).body.items.some((r: any) => r.id === created.body.id));

    const reused = await post('/price-rules', promo({ code: created.body.code }));
    assert.equal(reused.status, 409);
    assert.equal(reused.body.type, '/problems/duplicate-code');
  });

  test('rules list in priority order, keyset-paged', async () => {
    const ids = [];
    for (const priority of [3000, 3002, 3001]) ids.push((await post('/price-rules', { code: uniqueCode('pct'), name: 'x', type: 'percentage', priority, stacking: 'stack', appliesTo: {}, discount: { percent: '1' } })).body);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await get(`/price-rules?type=percentage&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((r: any) => r.priority));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.deepEqual(seen.filter((p) => p >= 3000), [3000, 3001, 3002]);
  });

  test('each rule type takes its own fields', async () => {
    const bad = async (body: unknown, field: string) => {
      const res = await post('/price-rules', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.ok(res.body.errors.some((e: any) => e.field === field), `${field} in ${JSON.stringify(res.body.errors)}`);
    };
    await bad(promo({ promoCode: undefined }), '/promoCode');
    await bad(promo({ discount: undefined }), '/discount');
    await bad(promo({ loyaltyTiers: [{ minMonths: 12, percent: '5' }] }), '/loyaltyTiers');
    await bad({ ...promo(), type: 'percentage', promoCode: undefined, discount: { amountMinor: '100', currency: 'IDR' } }, '/discount');
    await bad({ ...promo(), type: 'percentage' }, '/promoCode');
    await bad({ ...promo(), type: 'loyalty', promoCode: undefined, discount: undefined, loyaltyTiers: [{ minMonths: 24, percent: '10' }, { minMonths: 12, percent: '5' }] }, '/loyaltyTiers/1/minMonths');
    await bad({ ...promo(), type: 'volume', promoCode: undefined, discount: undefined }, '/volumeTiers');
    await bad(promo({ validFrom: '2026-08-01T00:00:00Z', validTo: '2026-07-01T00:00:00Z' }), '/validTo');
    await bad(promo({ appliesTo: { offeringIds: [randomUUID()] } }), '/appliesTo/offeringIds/0');
    await bad(promo({ promoCode: 'lower-case' }), '/promoCode');
    const loyalty = await post('/price-rules', { code: uniqueCode('loyal'), name: 'Loyalty', type: 'loyalty', priority: 5, stacking: 'stack', appliesTo: {}, loyaltyTiers: [{ minMonths: 12, percent: '5' }, { minMonths: 24, percent: '10' }] });
    assert.equal(loyalty.status, 201);
  });

  test('account terms: create, list, end; the account must exist; currencies must match', async () => {
    const term = { name: 'Key account: 15% off fiber', stacking: 'stack', appliesTo: { offeringIds: [offeringId] }, validFrom: '2026-07-01T00:00:00Z', discount: { percent: '15' } };
    const created = await post(`/accounts/${accountId}/price-terms`, term);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.accountId, accountId);
    assert.equal(created.body.endedAt, null);
    assert.equal(created.body.body.priority, 0, 'the default priority is filled in');

    app.clock.advance(1); // lists are in creation order
    const override = await post(`/accounts/${accountId}/price-terms`, { ...term, name: 'Negotiated price', discount: undefined, overrideAmountMinor: '1200000000' });
    assert.equal(override.status, 201);

    const listed = await get(`/accounts/${accountId}/price-terms`);
    assert.deepEqual(listed.body.items.map((t: any) => t.id), [created.body.id, override.body.id]);

    app.clock.advance(1000);
    const ended = await post(`/accounts/${accountId}/price-terms/${created.body.id}/end:apply`);
    assert.equal(ended.status, 200);
    assert.equal(ended.body.endedAt, app.clock.now().toISOString());
    assert.equal((await post(`/accounts/${accountId}/price-terms/${created.body.id}/end:apply`)).status, 409);

    const otherAccount = (await createAccount(app.services, app.ctx, 'Other')).accountId;
    assert.equal((await post(`/accounts/${otherAccount}/price-terms/${created.body.id}/end:apply`)).status, 404, 'a term belongs to its account');
    assert.equal((await post(`/accounts/${randomUUID()}/price-terms`, term)).status, 404);
    assert.equal((await get(`/accounts/${randomUUID()}/price-terms`)).status, 404);
    const neither = await post(`/accounts/${accountId}/price-terms`, { ...term, discount: undefined });
    assert.equal(neither.status, 400);
    const usd = await post(`/accounts/${accountId}/price-terms`, { ...term, discount: { amountMinor: '1000', currency: 'USD' } });
    assert.equal(usd.status, 400);
    assert.equal(usd.body.errors[0].field, '/discount/currency');

    const viewer = (await app.services.access.createApiKey(app.ctx, { name: 'v', role: 'viewer' })).apiKey;
    assert.equal((await call(app.server, viewer, 'GET', `/accounts/${accountId}/price-terms`)).status, 200);
    assert.equal((await call(app.server, viewer, 'POST', `/accounts/${accountId}/price-terms`, term)).status, 403);
  });

  test('loadPricingRules: the tenant rules not retired and the account terms not ended, as the engine sees them', async () => {
    const account = (await createAccount(app.services, app.ctx, 'Loader')).accountId;
    const rule = (await post('/price-rules', promo())).body;
    const retiredRule = (await post('/price-rules', promo())).body;
    const term = (await post(`/accounts/${account}/price-terms`, { name: 'Term', stacking: 'exclusive', appliesTo: {}, validFrom: '2026-01-01T00:00:00Z', discount: { percent: '3' } })).body;
    const endedTerm = (await post(`/accounts/${account}/price-terms`, { name: 'Old term', stacking: 'stack', appliesTo: {}, validFrom: '2026-01-01T00:00:00Z', discount: { percent: '1' } })).body;
    const before = app.clock.now().toISOString();
    app.clock.advance(60_000);
    await post(`/price-rules/${retiredRule.id}/retirement:apply`);
    await post(`/accounts/${account}/price-terms/${endedTerm.id}/end:apply`);
    const now = app.clock.now().toISOString();

    const atNow = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => loadPricingRules(tx, account, now));
    const ids = atNow.map((r) => r.id);
    assert.ok(ids.includes(rule.id) && ids.includes(term.id));
    assert.ok(!ids.includes(retiredRule.id) && !ids.includes(endedTerm.id));
    const loadedTerm = atNow.find((r) => r.id === term.id)!;
    assert.equal(loadedTerm.source, 'account_term');
    assert.equal(loadedTerm.type, 'account_term');
    assert.equal(loadedTerm.stacking, 'exclusive');
    const loadedRule = atNow.find((r) => r.id === rule.id)!;
    assert.equal(loadedRule.source, 'rule');
    assert.equal(loadedRule.type, 'promo');
    assert.equal(loadedRule.source === 'rule' && loadedRule.promoCode, 'WELCOME10');
    assert.ok(!atNow.some((r) => r.source === 'account_term' && !ids.includes(r.id)));

    // As of an instant before the retirement and the end, those were still in force.
    const earlier = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => loadPricingRules(tx, account, before));
    assert.ok(earlier.some((r) => r.id === retiredRule.id) && earlier.some((r) => r.id === endedTerm.id));
    // Another account's terms never show up.
    const other = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => loadPricingRules(tx, accountId, now));
    assert.ok(!other.some((r) => r.id === term.id));
  });

  test('promo redemptions count per rule; the same quote redeems once; a non-promo is not redeemable', async () => {
    const rule = (await post('/price-rules', promo({ maxRedemptions: 10 }))).body;
    const at = app.clock.now().toISOString();
    const quoteId = randomUUID();
    const first = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => recordPromoRedemption(tx, app.tenantId, { accountId, ruleId: rule.id, quoteId, at }));
    assert.equal(first.alreadyRecorded, false);
    const again = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => recordPromoRedemption(tx, app.tenantId, { accountId, ruleId: rule.id, quoteId, at }));
    assert.equal(again.alreadyRecorded, true);
    const unused = randomUUID();
    const counts = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => countPromoRedemptions(tx, [rule.id, unused]));
    assert.deepEqual(counts, { [rule.id]: 1, [unused]: 0 });
    assert.equal((await get(`/price-rules/${rule.id}`)).body.redemptions, 1);

    const pct = (await post('/price-rules', { code: uniqueCode('pct'), name: 'x', type: 'percentage', priority: 1, stacking: 'stack', appliesTo: {}, discount: { percent: '1' } })).body;
    await assert.rejects(
      inTenantTransaction(app.db.pool, app.tenantId, (tx) => recordPromoRedemption(tx, app.tenantId, { accountId, ruleId: pct.id, quoteId: randomUUID(), at })),
      (error: any) => error.type === 'business-rule-violation',
    );
  });

  test('the last promo slot under concurrency: of two parallel redemptions exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const rule = (await post('/price-rules', promo({ maxRedemptions: 2 }))).body;
      const at = app.clock.now().toISOString();
      const accounts = [accountId, (await createAccount(app.services, app.ctx, `racer ${round}`)).accountId];
      // Use up all but the last slot.
      await inTenantTransaction(app.db.pool, app.tenantId, (tx) => recordPromoRedemption(tx, app.tenantId, { accountId, ruleId: rule.id, quoteId: randomUUID(), at }));

      const results = await Promise.allSettled(accounts.map((account) =>
        inTenantTransaction(app.db.pool, app.tenantId, async (tx) => {
          const redeemed = await recordPromoRedemption(tx, app.tenantId, { accountId: account, ruleId: rule.id, quoteId: randomUUID(), at });
          // Hold the transaction open a little, so the other one really waits on the rule lock.
          await tx.query('select pg_sleep(0.05)');
          return redeemed;
        })));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1, `round ${round}: exactly one wins`);
      assert.equal(lost.length, 1);
      assert.ok(lost[0].reason instanceof PromoExhaustedError, String(lost[0].reason));
      const counts = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => countPromoRedemptions(tx, [rule.id]));
      assert.equal(counts[rule.id], 2, 'never more than maxRedemptions');
    }
  });
});
