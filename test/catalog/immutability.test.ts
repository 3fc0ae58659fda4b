/**
 * A published catalog version never changes, enforced by the database (not only by the code),
 * and what a customer owns never changes because the catalog did (seed 000 §4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { catalogSnapshotOf, findOfferingVersion, findProductSpecificationVersion } from '../../src/catalog/service.ts';
import { inTenantTransaction, queryOne, queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createAccount, orderCause, priceSnapshot } from '../helpers/fixtures.ts';
import { createPublished, offering, publishedProductSpec } from './helpers.ts';

describe('catalog immutability', () => {
  let app: TestApp;
  let spec: { id: string; version: number };
  let published: any;
  let draftId: string;

  before(async () => {
    app = await createTestApp();
    const s = await publishedProductSpec(app.server, app.adminKey);
    spec = { id: s.id, version: s.version };
    published = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    draftId = (await call(app.server, app.adminKey, 'POST', '/product-offerings', offering(spec))).body.id;
  });
  after(() => app.close());

  /** Runs SQL as the application role in the tenant, expecting the trigger to refuse it. */
  const refused = (sql: string, params: unknown[]) =>
    assert.rejects(inTenantTransaction(app.db.pool, app.tenantId, (tx) => tx.query(sql, params)), /immutable|cannot|never deleted|permission denied/);

  test('raw SQL as the application role cannot change a published version', async () => {
    const id = published.id;
    await refused(`update product_offering set body = jsonb_set(body, '{name}', '"hacked"') where product_offering_id = $1 and version = 1`, [id]);
    await refused(`update product_offering set category = 'other' where product_offering_id = $1 and version = 1`, [id]);
    await refused(`update product_offering set code = 'other-code' where product_offering_id = $1 and version = 1`, [id]);
    await refused(`update product_offering set version = 7 where product_offering_id = $1 and version = 1`, [id]);
    await refused(`update product_offering set status = 'draft', published_at = null where product_offering_id = $1 and version = 1`, [id]);
    await refused(`update product_offering set published_at = published_at + interval '1 day' where product_offering_id = $1 and version = 1`, [id]);
    await refused(`update product_specification set body = '{}'::jsonb where product_specification_id = $1`, [spec.id]);
    await refused(`delete from product_offering where product_offering_id = $1`, [id]);
    await refused(`delete from product_offering where product_offering_id = $1`, [draftId]);

    const row = await queryOne<{ body: any; status: string; code: string }>(app.db.pool, 'select body, status, code from product_offering where product_offering_id = $1 and version = 1', [id]);
    assert.deepEqual(row!.body, published.body);
    assert.equal(row!.status, 'active');
  });

  test('even the owner role cannot rewrite or delete a published version (the trigger, not a grant, refuses)', async () => {
    await assert.rejects(
      app.db.pool.query(`update product_offering set body = '{}'::jsonb where product_offering_id = $1`, [published.id]),
      /immutable/,
    );
    await assert.rejects(app.db.pool.query('delete from product_offering where product_offering_id = $1', [published.id]), /never deleted/);
  });

  test('the only change a published version accepts is active → retired; a retired one accepts none', async () => {
    const v = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    await inTenantTransaction(app.db.pool, app.tenantId, (tx) =>
      tx.query(`update product_offering set status = 'retired', retired_at = '2026-07-03T00:00:00Z' where product_offering_id = $1`, [v.id]));
    await refused(`update product_offering set status = 'active', retired_at = null where product_offering_id = $1`, [v.id]);
    await refused(`update product_offering set retired_at = '2026-08-01T00:00:00Z' where product_offering_id = $1`, [v.id]);
  });

  test('a draft may be edited, but its identity (id, version, code) never changes', async () => {
    await inTenantTransaction(app.db.pool, app.tenantId, (tx) =>
      tx.query(`update product_offering set body = jsonb_set(body, '{name}', '"renamed draft"') where product_offering_id = $1`, [draftId]));
    await refused(`update product_offering set code = 'another-code' where product_offering_id = $1`, [draftId]);
    await refused(`update product_offering set version = 2 where product_offering_id = $1`, [draftId]);
  });

  test('the same id keeps one code, and a code names one id, even through raw SQL', async () => {
    await assert.rejects(
      inTenantTransaction(app.db.pool, app.tenantId, (tx) => tx.query(
        `insert into product_offering (tenant_id, product_offering_id, version, code, status, body, category, segment, sellable, is_bundle, created_at)
         values ($1, $2, 5, 'some-other-code', 'draft', '{}'::jsonb, 'c', 'any', true, false, now())`, [app.tenantId, published.id])),
      /conflicts with/,
    );
    await assert.rejects(
      inTenantTransaction(app.db.pool, app.tenantId, (tx) => tx.query(
        `insert into product_offering (tenant_id, product_offering_id, version, code, status, body, category, segment, sellable, is_bundle, created_at)
         values ($1, gen_random_uuid(), 9, $2, 'draft', '{}'::jsonb, 'c', 'any', true, false, now())`, [app.tenantId, published.code])),
      /conflicts with/,
    );
  });

  test('price rules and account terms: their terms never change; rows are never deleted', async () => {
    const rule = await call(app.server, app.adminKey, 'POST', '/price-rules', { code: 'ten-off', name: '10% off', type: 'percentage', priority: 1, stacking: 'stack', appliesTo: {}, discount: { percent: '10' } });
    assert.equal(rule.status, 201);
    await refused(`update price_rule set body = jsonb_set(body, '{discount,percent}', '"50"') where rule_id = $1`, [rule.body.id]);
    await refused(`update price_rule set priority = 0 where rule_id = $1`, [rule.body.id]);
    await refused(`delete from price_rule where rule_id = $1`, [rule.body.id]);
    const { accountId } = await createAccount(app.services, app.ctx);
    const term = await call(app.server, app.adminKey, 'POST', `/accounts/${accountId}/price-terms`, { name: 'Key account', stacking: 'stack', appliesTo: {}, validFrom: '2026-01-01T00:00:00Z', discount: { percent: '5' } });
    assert.equal(term.status, 201);
    await refused(`update account_price_term set body = '{}'::jsonb where term_id = $1`, [term.body.id]);
    await refused(`delete from account_price_term where term_id = $1`, [term.body.id]);
  });

  test('a product instance keeps its catalog snapshot: a new version, a publication and a retirement change none of it', async () => {
    const { accountId } = await createAccount(app.services, app.ctx);
    const v1 = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    const { offeringV1, specV1 } = await inTenantTransaction(app.db.pool, app.tenantId, async (tx) => ({
      offeringV1: (await findOfferingVersion(tx, v1.id))!,
      specV1: (await findProductSpecificationVersion(tx, spec.id, spec.version))!,
    }));
    assert.equal(offeringV1.version, 1);
    const snapshot = catalogSnapshotOf(offeringV1, specV1);

    const created = await app.services.inventory.createProductInstance(app.ctx, {
      accountId,
      productOfferingId: offeringV1.id,
      productOfferingVersion: offeringV1.version,
      productSpecificationId: specV1.id,
      productSpecificationVersion: specV1.version,
      name: offeringV1.body.name,
      catalogSnapshot: snapshot,
      configuration: { bandwidthMbps: '1000' },
      price: priceSnapshot('1500000000', null, offeringV1.id),
      subscription: { termMonths: 12 },
      ...orderCause(),
    });
    const id = created.productInstance.productInstanceId;
    const readInstance = () => inTenantTransaction(app.db.pool, app.tenantId, async (tx) => ({
      row: await queryOne<any>(tx, 'select * from product_instance where product_instance_id = $1', [id]),
      history: await queryRows<any>(tx, 'select * from product_instance_history where product_instance_id = $1 order by version', [id]),
    }));
    const before = await readInstance();

    // The catalog moves on: a new price in version 2, published; then the offering is retired.
    const changed = structuredClone(v1.body);
    changed.name = 'Business Fiber (new prices)';
    changed.priceLists[0].charges[0].amountMinor = '1700000000';
    const v2 = await call(app.server, app.adminKey, 'POST', `/product-offerings/${v1.id}/versions`, changed);
    assert.equal(v2.status, 201);
    app.clock.advance(3_600_000);
    assert.equal((await call(app.server, app.adminKey, 'POST', `/product-offerings/${v1.id}/versions/2/publication:apply`)).status, 200);
    app.clock.advance(3_600_000);
    assert.equal((await call(app.server, app.adminKey, 'POST', `/product-offerings/${v1.id}/retirement:apply`)).status, 200);

    const afterwards = await readInstance();
    assert.deepEqual(afterwards.row, before.row, 'the product instance row is untouched');
    assert.deepEqual(afterwards.history, before.history, 'its history is untouched');
    assert.equal(afterwards.row.product_offering_version, 1);
    assert.equal(afterwards.row.catalog_snapshot.priceLists[0].charges[0].amountMinor, '1500000000');
    assert.equal(afterwards.row.catalog_snapshot.offeringName, 'Business Fiber');

    // And the version it points at still reads exactly as it was sold.
    const pointedAt = await call(app.server, app.adminKey, 'GET', `/product-offerings/${v1.id}/versions/1`);
    assert.equal(pointedAt.status, 200);
    assert.deepEqual(pointedAt.body.body, offeringV1.body);
    assert.equal(pointedAt.body.sellable, false);
  });
});
