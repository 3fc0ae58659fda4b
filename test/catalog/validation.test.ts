/** Bad catalog documents get a 400 problem+json naming each field, and change nothing. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inTenantTransaction, queryOne } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createPublished, offering, productSpec, publishedProductSpec, uniqueCode } from './helpers.ts';

describe('catalog validation', () => {
  let app: TestApp;
  let spec: { id: string; version: number };
  const post = (url: string, body?: unknown) => call(app.server, app.adminKey, 'POST', url, body);

  before(async () => {
    app = await createTestApp();
    const s = await publishedProductSpec(app.server, app.adminKey);
    spec = { id: s.id, version: s.version };
  });
  after(() => app.close());

  const countRows = () => inTenantTransaction(app.db.pool, app.tenantId, async (tx) =>
    (await queryOne<{ n: number }>(tx, 'select (select count(*) from product_offering) + (select count(*) from product_specification) + (select count(*) from audit_log) as n'))!.n);

  /** Creating `body` fails with 400 naming `field` (message matching `message`), and writes nothing. */
  async function rejected(body: unknown, field: string, message?: RegExp, url = '/product-offerings') {
    const before = await countRows();
    const res = await post(url, body);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(res.body.type, '/problems/validation-error');
    const hit = res.body.errors.find((e: any) => e.field === field);
    assert.ok(hit, `expected an error on ${field}, got ${JSON.stringify(res.body.errors)}`);
    if (message) assert.match(hit.message, message);
    assert.equal(await countRows(), before, 'a refused request writes nothing');
    return res.body;
  }

  test('usage tiers must ascend, and only the last one is open', async () => {
    const usage = (tiers: unknown[]) => offering(spec, {
      priceLists: [{ currency: 'IDR', charges: [
        { kind: 'recurring', code: 'line', name: 'Line', amountMinor: '2500000', period: 'month' },
        { kind: 'usage', code: 'calls', name: 'Calls', unit: 'minute', tierMode: 'graduated', tiers },
      ] }],
    });
    await rejected(usage([{ upTo: '500', unitPrice: '100' }, { upTo: '100', unitPrice: '80' }, { upTo: null, unitPrice: '60' }]), '/priceLists/0/charges/1/tiers', /greater than the previous/);
    await rejected(usage([{ upTo: null, unitPrice: '100' }, { upTo: '100', unitPrice: '80' }]), '/priceLists/0/charges/1/tiers', /only the last/);
    await rejected(usage([{ upTo: '100', unitPrice: '100' }]), '/priceLists/0/charges/1/tiers', /last tier must have upTo null/);
    await rejected(usage([{ upTo: '0', unitPrice: '100' }, { upTo: null, unitPrice: '60' }]), '/priceLists/0/charges/1/tiers', /greater than 0/);
    assert.equal((await post('/product-offerings', usage([{ upTo: '500', unitPrice: '100' }, { upTo: null, unitPrice: '60' }]))).status, 201);
  });

  test('one price list per currency; charge codes unique in a list; days periods need periodDays', async () => {
    const list = (currency: string) => ({ currency, charges: [{ kind: 'one_time', code: 'fee', name: 'Fee', amountMinor: '100' }] });
    await rejected(offering(spec, { priceLists: [list('IDR'), list('USD'), list('IDR')] }), '/priceLists/2/currency', /already a price list in IDR/);
    await rejected(offering(spec, { priceLists: [{ currency: 'IDR', charges: [...list('IDR').charges, ...list('IDR').charges] }] }), '/priceLists/0/charges/1/code');
    await rejected(offering(spec, { priceLists: [{ currency: 'IDR', charges: [{ kind: 'recurring', code: 'r', name: 'R', amountMinor: '1', period: 'days' }] }] }), '/priceLists/0/charges/0/periodDays');
  });

  test('charge conditions and per-unit charges name real characteristics of the specification', async () => {
    const charges = (charge: Record<string, unknown>) => offering(spec, { priceLists: [{ currency: 'IDR', charges: [{ kind: 'recurring', code: 'c', name: 'C', amountMinor: '1', period: 'month', ...charge }] }] });
    await rejected(charges({ condition: { characteristic: 'colour', equals: 'red' } }), '/priceLists/0/charges/0/condition/characteristic', /no characteristic "colour"/);
    await rejected(charges({ condition: { characteristic: 'bandwidthMbps', equals: '5000' } }), '/priceLists/0/charges/0/condition/equals', /one of 1000, 2000/);
    await rejected(charges({ perUnitOf: 'nothing' }), '/priceLists/0/charges/0/perUnitOf');
    await rejected(charges({ perUnitOf: 'bandwidthMbps' }), '/priceLists/0/charges/0/perUnitOf', /integer or decimal/);
    assert.equal((await post('/product-offerings', charges({ perUnitOf: 'extraIps' }))).status, 201);
  });

  test('min ≤ max counts; no add-on twice; a bundle has members and no specification; others need one', async () => {
    const addOn = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    await rejected(offering(spec, { addOns: [{ offeringId: addOn.id, minCount: 3, maxCount: 2 }] }), '/addOns/0/minCount', /maxCount/);
    await rejected(offering(spec, { addOns: [{ offeringId: addOn.id }, { offeringId: addOn.id }] }), '/addOns/1/offeringId', /twice/);
    await rejected(offering(spec, { productSpecification: undefined }), '/productSpecification', /required/);
    const bundle = { ...offering(spec, { bundle: { members: [{ offeringId: addOn.id, included: true, minCount: 1 }], discountPercent: '10' } }) };
    await rejected(bundle, '/productSpecification', /bundle/);
    await rejected({ ...bundle, productSpecification: undefined, bundle: { members: [], discountPercent: '10' } }, '/bundle/members');
    await rejected({ ...bundle, productSpecification: undefined, priceLists: [] , bundle: { members: [{ offeringId: addOn.id, included: true, minCount: 2, maxCount: 1 }], discountPercent: '10' } }, '/bundle/members/0/minCount');
    const ok = await post('/product-offerings', { ...bundle, productSpecification: undefined, priceLists: [] });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal((await post(`/product-offerings/${ok.body.id}/versions/1/publication:apply`)).status, 200);
  });

  test('referenced documents must exist; when publishing they must be published and sellable', async () => {
    const missing = '00000000-0000-4000-8000-000000000001';
    await rejected(offering({ id: missing, version: 1 }), '/productSpecification', /does not exist/);
    await rejected(offering({ id: spec.id, version: 9 }), '/productSpecification', /no version 9/);
    await rejected(offering(spec, { addOns: [{ offeringId: missing }] }), '/addOns/0/offeringId', /does not exist/);
    await rejected(productSpec([{ id: missing, version: 1 }]), '/serviceSpecifications/0', /does not exist/, '/product-specifications');

    // A draft add-on may be named by a draft, but not by a publication.
    const draftAddOn = await post('/product-offerings', offering(spec));
    const main = await post('/product-offerings', offering(spec, { addOns: [{ offeringId: draftAddOn.body.id }] }));
    assert.equal(main.status, 201);
    const publish = await post(`/product-offerings/${main.body.id}/versions/1/publication:apply`);
    assert.equal(publish.status, 400);
    assert.equal(publish.body.errors[0].field, '/addOns/0/offeringId');
    assert.match(publish.body.errors[0].message, /not published yet/);
    const stillDraft = await call(app.server, app.adminKey, 'GET', `/product-offerings/${main.body.id}`);
    assert.equal(stillDraft.body.status, 'draft', 'a refused publication publishes nothing');

    // A bundle cannot be an add-on or a member.
    const member = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    const bundle = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec, { productSpecification: undefined, priceLists: [], bundle: { members: [{ offeringId: member.id, included: true }], discountPercent: '5' } }));
    await rejected(offering(spec, { addOns: [{ offeringId: bundle.id }] }), '/addOns/0/offeringId', /is a bundle/);
  });

  test('the schema itself: unknown fields, wrong types and bad formats name their field', async () => {
    await rejected({ ...offering(spec), colour: 'red' }, '/colour', /not a known field/);
    await rejected(offering(spec, { segment: 'galactic' }), '/segment');
    await rejected(offering(spec, { code: 'Has Spaces' }), '/code');
    await rejected(offering(spec, { priceLists: [{ currency: 'IDR', charges: [{ kind: 'one_time', code: 'x', name: 'X', amountMinor: '1.5' }] }] }), '/priceLists/0/charges/0');
    await rejected(offering(spec, { validFrom: '2026-02-30T00:00:00Z' }), '/validFrom');
    await rejected(offering(spec, { validFrom: '2026-08-01T00:00:00Z', validTo: '2026-07-01T00:00:00Z' }), '/validTo', /after validFrom/);
  });

  test('characteristics: enums list values, bounds are ordered, fixed ones have a default that fits', async () => {
    const withChar = (c: Record<string, unknown>) => ({ ...productSpec(), characteristics: [{ name: 'x', ...c }] });
    await rejected(withChar({ valueType: 'enum' }), '/characteristics/0/values', undefined, '/product-specifications');
    await rejected(withChar({ valueType: 'integer', min: '10', max: '1' }), '/characteristics/0/min', /max/, '/product-specifications');
    await rejected(withChar({ valueType: 'integer', configurable: false }), '/characteristics/0/default', /fixed/, '/product-specifications');
    await rejected(withChar({ valueType: 'enum', values: ['a'], default: 'b' }), '/characteristics/0/default', /one of a/, '/product-specifications');
    await rejected(withChar({ valueType: 'string', minCardinality: 3, maxCardinality: 2 }), '/characteristics/0/minCardinality', undefined, '/product-specifications');
    await rejected({ ...productSpec(), characteristics: [{ name: 'x', valueType: 'string' }, { name: 'x', valueType: 'string' }] }, '/characteristics/1/name', /twice/, '/product-specifications');
  });

  test('documents given to the service directly (not over HTTP) are checked the same way', async () => {
    await assert.rejects(
      app.services.catalog.create(app.ctx, 'product_offering', { ...offering(spec), priceLists: 'nope' }),
      (error: any) => error.type === 'validation-error' && error.errors.some((e: any) => e.field === '/priceLists'),
    );
    const created = await app.services.catalog.create(app.ctx, 'product_offering', { ...offering(spec), code: uniqueCode('direct'), validFrom: '2026-07-01T07:00:00+07:00' });
    assert.equal(created.body.validFrom, '2026-07-01T00:00:00.000Z', 'instants are stored in one canonical UTC form');
    assert.deepEqual(created.body.availabilityZones, [], 'defaults are filled in');
  });
});
