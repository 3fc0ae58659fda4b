/**
 * Billing terms in the catalog (issue 12 point 4, docs/catalog-and-pricing.md "Billing terms"):
 * billing periods (N days, week, month, quarter, year), billing modes per charge, plan phases
 * (trial with or without a fee, discount phases), evergreen or fixed term, change and cancel
 * policies — through the HTTP API, with the whole stored document checked. A document without
 * any of them (as every version published before issue 12) reads and prices exactly as before;
 * a bad term is a 400 naming its field, and writes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { billingModeOf, planTermOf, policiesOf, type Charge, type ProductOfferingBody } from '../../src/catalog/index.ts';
import { inTenantTransaction, queryOne } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createPublished, publishedProductSpec, uniqueCode } from './helpers.ts';

describe('billing terms in the catalog', () => {
  let app: TestApp;
  let spec: { id: string; version: number };
  let accountId: string;
  const post = (url: string, body?: unknown) => call(app.server, app.adminKey, 'POST', url, body);
  const get = (url: string) => call(app.server, app.adminKey, 'GET', url);

  before(async () => {
    app = await createTestApp();
    const s = await publishedProductSpec(app.server, app.adminKey);
    spec = { id: s.id, version: s.version };
    const customer = await post('/customers', { name: 'PT Tagihan' });
    const account = await post('/accounts', { customerId: customer.body.customerId, name: 'Main', currency: 'IDR', timeZone: 'Asia/Jakarta', billingCycleDay: 15 });
    assert.equal(account.status, 201, JSON.stringify(account.body));
    accountId = account.body.accountId;
  });
  after(() => app.close());

  const countRows = () => inTenantTransaction(app.db.pool, app.tenantId, async (tx) =>
    (await queryOne<{ n: number }>(tx, 'select (select count(*) from product_offering) + (select count(*) from audit_log) as n'))!.n);

  /** An offering of the shape every version published before issue 12 has: no billing terms. */
  const legacy = (code = uniqueCode('legacy')) => ({
    code,
    name: 'Business Fiber',
    category: 'connectivity',
    segment: 'any',
    productSpecification: spec,
    priceLists: [{
      currency: 'IDR',
      charges: [
        { kind: 'recurring', code: 'fiber-monthly', name: 'Fiber monthly', amountMinor: '1500000000', period: 'month' },
        { kind: 'rental', code: 'router-yearly', name: 'Router rental yearly', amountMinor: '120000000', period: 'year' },
        { kind: 'recurring', code: 'backup-30d', name: 'Backup every 30 days', amountMinor: '9000000', period: 'days', periodDays: 30 },
        { kind: 'one_time', code: 'installation', name: 'Installation', amountMinor: '500000000' },
        { kind: 'usage', code: 'traffic', name: 'Traffic', unit: 'GB', tierMode: 'graduated', tiers: [{ upTo: '100', unitPrice: '0' }, { upTo: null, unitPrice: '150000' }] },
      ],
    }],
  });

  /** Every billing term at once. */
  const withTerms = (code = uniqueCode('terms')) => {
    const body = legacy(code);
    return {
      ...body,
      changePolicy: 'end_of_term',
      cancelPolicy: 'immediate',
      priceLists: [{
        currency: 'IDR',
        charges: [
          { ...body.priceLists[0].charges[0], billingMode: 'in_advance' },
          { kind: 'recurring', code: 'support-weekly', name: 'Support weekly', amountMinor: '2500000', period: 'week', billingMode: 'in_arrear' },
          { kind: 'recurring', code: 'report-quarterly', name: 'Quarterly report', amountMinor: '30000000', period: 'quarter' },
          { ...body.priceLists[0].charges[3], billingMode: 'in_advance' },
          { ...body.priceLists[0].charges[4], billingMode: 'in_arrear' },
        ],
        phases: [
          { type: 'trial', duration: { unit: 'days', count: 14 }, charges: [{ kind: 'one_time', code: 'trial-fee', name: 'Trial activation', amountMinor: '10000000' }] },
          { type: 'discount', duration: { unit: 'month', count: 3 }, discountPercent: '50' },
          { type: 'discount', duration: { unit: 'month', count: 3 }, charges: [{ kind: 'recurring', code: 'fiber-monthly', name: 'Fiber monthly (intro)', amountMinor: '1200000000', period: 'month' }] },
        ],
        term: { type: 'fixed', duration: { unit: 'year', count: 2 } },
      }],
    };
  };

  const preview = async (offeringId: string) => {
    const res = await post('/price-previews', { accountId, lines: [{ action: 'ADD', offeringId }] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };
  const line = (lineId: string, offeringId: string, chargeCode: string, chargeName: string, kind: string, period: string | null, periodDays: number | null, amount: string, usage: unknown = null) => ({
    lineId, itemId: lineId.split(':')[0], offeringId, offeringVersion: 1, chargeCode, chargeName, kind, period, periodDays, quantity: '1',
    listAmountMinor: amount, adjustments: [], finalAmountMinor: amount, usage,
  });

  test('a document without billing terms (every version before issue 12) is stored as given, reads the defaults and prices as before', async () => {
    const body = legacy();
    const published = await createPublished(app.server, app.adminKey, '/product-offerings', body);
    const read = await get(`/product-offerings/${published.id}/versions/1`);
    assert.equal(read.status, 200);
    // The schema's defaults of before (zones, sellable, add-ons) and nothing else: no billing term is written in.
    assert.deepEqual(read.body.body, { ...body, availabilityZones: [], sellable: true, addOns: [] });
    const document = read.body.body as ProductOfferingBody;
    assert.deepEqual(policiesOf(document), { change: 'immediate', cancel: 'end_of_term' });
    assert.deepEqual(planTermOf(document.priceLists[0]), { type: 'evergreen' });
    assert.deepEqual(document.priceLists[0].charges.map((c: Charge) => billingModeOf(c)), ['in_advance', 'in_advance', 'in_advance', 'in_advance', 'in_arrear']);

    const price = await preview(published.id);
    const item = price.lines[0].itemId;
    const id = (code: string) => `${item}:${code}`;
    assert.deepEqual(price.lines, [
      line(id('fiber-monthly'), published.id, 'fiber-monthly', 'Fiber monthly', 'recurring', 'month', null, '1500000000'),
      line(id('router-yearly'), published.id, 'router-yearly', 'Router rental yearly', 'rental', 'year', null, '120000000'),
      line(id('backup-30d'), published.id, 'backup-30d', 'Backup every 30 days', 'recurring', 'days', 30, '9000000'),
      line(id('installation'), published.id, 'installation', 'Installation', 'one_time', null, null, '500000000'),
      line(id('traffic'), published.id, 'traffic', 'Traffic', 'usage', null, null, '0', { unit: 'GB', tierMode: 'graduated', tiers: [{ upTo: '100', unitPrice: '0' }, { upTo: null, unitPrice: '150000' }], estimatedQuantity: null }),
    ]);
    assert.deepEqual(price.totals, {
      oneTimeMinor: '500000000',
      prepaidMinor: '0',
      recurring: [
        { period: 'month', periodDays: null, amountMinor: '1500000000' },
        { period: 'year', periodDays: null, amountMinor: '120000000' },
        { period: 'days', periodDays: 30, amountMinor: '9000000' },
      ],
      usageEstimateMinor: '0',
      grandTotalMinor: '2129000000',
      listTotalMinor: '2129000000',
      discountTotalMinor: '0',
    });
  });

  test('every billing term is stored as given, read back whole, and the plan\'s own charges price with week and quarter periods', async () => {
    const before = await countRows();
    const body = withTerms();
    const published = await createPublished(app.server, app.adminKey, '/product-offerings', body);
    assert.equal(await countRows(), before + 3, 'one version row and two audit rows (create, publish)');
    const read = await get(`/product-offerings/${published.id}/versions/1`);
    assert.deepEqual(read.body.body, { ...body, availabilityZones: [], sellable: true, addOns: [] });
    const document = read.body.body as ProductOfferingBody;
    assert.deepEqual(policiesOf(document), { change: 'end_of_term', cancel: 'immediate' });
    assert.deepEqual(planTermOf(document.priceLists[0]), { type: 'fixed', duration: { unit: 'year', count: 2 } });
    assert.deepEqual(document.priceLists[0].charges.map((c: Charge) => billingModeOf(c)), ['in_advance', 'in_arrear', 'in_advance', 'in_advance', 'in_arrear']);

    // Quotes and orders price the plan's own charges; phases are applied by billing (docs/billing.md).
    const price = await preview(published.id);
    assert.deepEqual(price.lines.map((l: any) => [l.chargeCode, l.kind, l.period, l.periodDays, l.finalAmountMinor]), [
      ['fiber-monthly', 'recurring', 'month', null, '1500000000'],
      ['support-weekly', 'recurring', 'week', null, '2500000'],
      ['report-quarterly', 'recurring', 'quarter', null, '30000000'],
      ['installation', 'one_time', null, null, '500000000'],
      ['traffic', 'usage', null, null, '0'],
    ]);
    assert.deepEqual(price.totals.recurring, [
      { period: 'month', periodDays: null, amountMinor: '1500000000' },
      { period: 'quarter', periodDays: null, amountMinor: '30000000' },
      { period: 'week', periodDays: null, amountMinor: '2500000' },
    ]);
  });

  test('a duration in billing periods counts the list\'s one recurring period; a free trial and an evergreen term are written out too', async () => {
    const body = legacy();
    const list = { currency: 'IDR', charges: [body.priceLists[0].charges[0], body.priceLists[0].charges[3]], phases: [{ type: 'trial', duration: { unit: 'week', count: 2 } }, { type: 'discount', duration: { unit: 'period', count: 3 }, discountPercent: '25.5' }], term: { type: 'evergreen' } };
    const created = await post('/product-offerings', { ...body, priceLists: [list] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.body.priceLists, [list]);
  });

  /** Creating `body` fails with 400 naming `field`, and writes nothing. */
  async function rejected(body: unknown, field: string, message?: RegExp) {
    const before = await countRows();
    const res = await post('/product-offerings', body);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.body.type, '/problems/validation-error');
    const hit = res.body.errors.find((e: any) => e.field === field);
    assert.ok(hit, `expected an error on ${field}, got ${JSON.stringify(res.body.errors)}`);
    if (message) assert.match(hit.message, message);
    assert.equal(await countRows(), before, 'a refused request writes nothing');
  }

  const withList = (patch: (list: any) => void, top: Record<string, unknown> = {}) => {
    const body: any = { ...withTerms(), ...top };
    patch(body.priceLists[0]);
    return body;
  };

  test('bad billing periods and modes name their field', async () => {
    await rejected(withList((l) => { l.charges[0].period = 'fortnight'; }), '/priceLists/0/charges/0/period');
    await rejected(withList((l) => { l.charges[1].periodDays = 7; }), '/priceLists/0/charges/1/periodDays', /only for period "days"/);
    await rejected(withList((l) => { l.charges[0].billingMode = 'monthly'; }), '/priceLists/0/charges/0/billingMode');
    await rejected(withList((l) => { l.charges[4].billingMode = 'in_advance'; }), '/priceLists/0/charges/4/billingMode', /usage is billed in_arrear/);
    await rejected(withList((l) => { l.charges[3].billingMode = 'in_arrear'; }), '/priceLists/0/charges/3/billingMode', /one_time charge is billed in_advance/);
    await rejected(withList((l) => { l.charges.push({ kind: 'prepaid', code: 'prepaid-30', name: 'Prepaid', amountMinor: '1', days: 30, billingMode: 'in_arrear' }); }), '/priceLists/0/charges/5/billingMode', /prepaid charge is billed in_advance/);
  });

  test('bad phases and terms name their field', async () => {
    await rejected(withList((l) => { l.phases.push({ type: 'trial', duration: { unit: 'days', count: 7 } }); }), '/priceLists/0/phases/3/type', /at most one trial/);
    await rejected(withList((l) => { l.phases.reverse(); }), '/priceLists/0/phases/2/type', /a trial is the first phase/);
    await rejected(withList((l) => { l.phases[0].charges.push({ kind: 'recurring', code: 'x', name: 'X', amountMinor: '1', period: 'month' }); }), '/priceLists/0/phases/0/charges/1/kind', /one-time fee/);
    await rejected(withList((l) => { l.phases[1].charges = l.phases[2].charges; }), '/priceLists/0/phases/1/charges', /either discountPercent .* or charges/);
    await rejected(withList((l) => { delete l.phases[1].discountPercent; }), '/priceLists/0/phases/1/discountPercent', /either discountPercent/);
    await rejected(withList((l) => { l.phases[1].discountPercent = '150'; }), '/priceLists/0/phases/1/discountPercent');
    await rejected(withList((l) => { l.phases[0].duration.count = 0; }), '/priceLists/0/phases/0/duration/count');
    await rejected(withList((l) => { l.phases[0].duration.unit = 'fortnight'; }), '/priceLists/0/phases/0/duration/unit');
    await rejected(withList((l) => { l.phases[1].duration = { unit: 'period', count: 3 }; }), '/priceLists/0/phases/1/duration/unit', /recurring and rental charges have different periods/);
    await rejected(withList((l) => { l.charges = [l.charges[3]]; l.term = { type: 'fixed', duration: { unit: 'period', count: 12 } }; }), '/priceLists/0/term/duration/unit', /no recurring or rental charge/);
    await rejected(withList((l) => { l.phases[2].charges.push({ ...l.phases[2].charges[0] }); }), '/priceLists/0/phases/2/charges/1/code', /used twice in this phase/);
    await rejected(withList((l) => { l.phases[2].charges[0].condition = { characteristic: 'colour', equals: 'red' }; }), '/priceLists/0/phases/2/charges/0/condition/characteristic', /no characteristic "colour"/);
    await rejected(withList((l) => { l.term = { type: 'fixed' }; }), '/priceLists/0/term');
    await rejected(withList((l) => { l.term = { type: 'forever' }; }), '/priceLists/0/term');
    await rejected(withList((l) => { l.phases[0].type = 'free'; }), '/priceLists/0/phases/0');
  });

  test('bad change and cancel policies name their field', async () => {
    await rejected(withList(() => {}, { changePolicy: 'later' }), '/changePolicy');
    await rejected(withList(() => {}, { cancelPolicy: 'never' }), '/cancelPolicy');
    await rejected(withList(() => {}, { cancelPolicy: null }), '/cancelPolicy');
  });
});
