/**
 * Every reference a command takes is checked (issue 8, point 19): a product instance names
 * an offering and a product specification that exist in the tenant's catalog, in those
 * versions, and belong together; a service instance names a service specification that
 * exists. Anything else is a 400 naming the field, and writes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { queryOne } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { catalogRefs, ensureFixtureCatalog, priceSnapshot, serviceSpecRef, type FixtureCatalog } from '../helpers/fixtures.ts';

describe('references to the catalog are checked', () => {
  let app: TestApp;
  let accountId: string;
  let catalog: FixtureCatalog;
  let otherTenantCatalog: FixtureCatalog;
  let otherProductSpecificationId: string;

  const send = (url: string, body: unknown) => call(app.server, app.adminKey, 'POST', url, body);
  const counts = () => queryOne<{ products: number; services: number; history: number; outbox: number }>(app.db.pool, `
    select (select count(*)::int from product_instance) as products, (select count(*)::int from service_instance) as services,
           (select count(*)::int from product_instance_history) + (select count(*)::int from service_instance_history) as history,
           (select count(*)::int from outbox_event) as outbox`);
  const assertRefused = (response: { status: number; body: any }, field: string, pattern: RegExp) => {
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.type, '/problems/validation-error');
    assert.deepEqual(response.body.errors.map((e: any) => e.field), [field]);
    assert.match(response.body.errors[0].message, pattern);
  };
  const newProduct = (refs: Record<string, string | number>) => ({
    accountId, ...catalogRefs(catalog), ...refs, name: 'Fiber', catalogSnapshot: {}, configuration: {}, price: priceSnapshot(undefined, catalog),
    subscription: { termMonths: 12 }, orderId: randomUUID(), orderItemId: randomUUID(),
  });

  before(async () => {
    app = await createTestApp();
    // Another tenant's catalog, in the same database: invisible to this one.
    const other = await app.services.access.createTenant({ name: 'Other tenant' });
    otherTenantCatalog = await ensureFixtureCatalog(app.services, { tenantId: other.tenantId, actor: { apiKeyId: other.apiKeyId, role: 'admin' }, correlationId: null });
    catalog = await ensureFixtureCatalog(app.services, app.ctx);
    const spec = await app.services.catalog.create(app.ctx, 'product_specification', { code: 'other-product', name: 'Another product', serviceSpecifications: [], characteristics: [] } as never);
    otherProductSpecificationId = (await app.services.catalog.publish(app.ctx, 'product_specification', spec.id, 1)).id;
    const customer = (await send('/customers', { name: 'PT Referensi' })).body;
    accountId = (await send('/accounts', { customerId: customer.customerId, name: 'Main', currency: 'IDR', timeZone: 'Asia/Jakarta' })).body.accountId;
  });
  after(() => app.close());

  test('POST /internal/assets/product-instances: an offering or specification that does not exist, or does not belong together, is a 400 naming it', async () => {
    const before = await counts();
    const unknown = randomUUID();
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productOfferingId: unknown })), '/productOfferingId', new RegExp(`product offering ${unknown} version 1 does not exist`));
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productOfferingVersion: 7 })), '/productOfferingId', /version 7 does not exist/);
    // A catalog version is an integer (issue 8, point 12): a string is refused by the schema.
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productOfferingVersion: 'one' })), '/productOfferingVersion', /integer/);
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productOfferingVersion: '1' })), '/productOfferingVersion', /integer/);
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productSpecificationId: unknown })), '/productSpecificationId', new RegExp(`product specification ${unknown} version 1 does not exist`));
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productOfferingId: otherTenantCatalog.productOfferingId })), '/productOfferingId', /does not exist/);
    assertRefused(await send('/internal/assets/product-instances', newProduct({ productSpecificationId: otherProductSpecificationId })), '/productSpecificationId', /offering fixture-fiber version 1 is sold with product specification .* not /);
    assert.deepEqual(await counts(), before, 'nothing was written');

    const created = await send('/internal/assets/product-instances', newProduct({}));
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });

  test('service-attachment:apply: a service specification that does not exist, or is another tenant\'s, is a 400 naming it', async () => {
    const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
    const created = (await send('/internal/assets/product-instances', { ...newProduct({}), ...cause })).body.productInstance;
    const attach = (refs: Record<string, string | number>) => send(`/internal/assets/product-instances/${created.productInstanceId}/service-attachment:apply`, { ...cause, ...serviceSpecRef(catalog), ...refs, name: 'Access' });
    const before = await counts();
    const unknown = randomUUID();
    assertRefused(await attach({ serviceSpecificationId: unknown }), '/serviceSpecificationId', new RegExp(`service specification ${unknown} version 1 does not exist`));
    assertRefused(await attach({ serviceSpecificationId: otherTenantCatalog.serviceSpecificationId }), '/serviceSpecificationId', /does not exist/);
    assertRefused(await attach({ serviceSpecificationVersion: 2 }), '/serviceSpecificationId', /version 2 does not exist/);
    assertRefused(await attach({ serviceSpecificationVersion: '1' }), '/serviceSpecificationVersion', /integer/);
    assert.deepEqual(await counts(), before, 'nothing was written');
    const attached = await attach({});
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    assert.equal(attached.body.serviceSpecificationId, catalog.serviceSpecificationId);
  });

  test('replacement:apply: the replacement names catalog entries that exist', async () => {
    const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
    const created = (await send('/internal/assets/product-instances', { ...newProduct({}), ...cause })).body.productInstance;
    const instance = `/internal/assets/product-instances/${created.productInstanceId}`;
    assert.equal((await send(`${instance}/activation:start`, { ...cause, expectedVersion: 1 })).status, 200);
    assert.equal((await send(`${instance}/activation:complete`, { ...cause, expectedVersion: 2 })).status, 200);
    const before = await counts();
    const replacement = { ...catalogRefs(catalog), productOfferingId: randomUUID(), name: 'Fiber 2', catalogSnapshot: {}, configuration: {}, price: priceSnapshot(undefined, catalog) };
    assertRefused(await send(`${instance}/replacement:apply`, { expectedVersion: 3, replacement }), '/replacement/productOfferingId', /does not exist/);
    assert.deepEqual(await counts(), before, 'nothing was written');
    assert.equal((await call(app.server, app.adminKey, 'GET', `/product-instances/${created.productInstanceId}`)).body.status, 'ACTIVE');
  });
});
