/**
 * A REPLACE sells its offering where the target sits (issue 8 point 3): onto the target's
 * parent, by the same add-on rules as an ADD there. Through the HTTP API on the demo tenant,
 * whose Business Fiber allows Static IP, Managed Router, Business Router Rental and SLA Gold
 * as add-ons, one of each.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, drainFulfillment, getOk, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_replace-composition-key-0123456789';

describe('REPLACE keeps to the add-on rules of the place it fills', () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const get = (url: string) => getOk(app.server, KEY, url);
  const products = async () => (await get(`/accounts/${accountId}/installed-base`)).products as any[];
  /** Everything a refused order must leave as it was. */
  const state = async () => ({
    products: await queryRows(app.db.pool, 'select product_instance_id, version, status from product_instance order by product_instance_id'),
    guards: await queryRows(app.db.pool, 'select product_instance_id, status from asset_operation_guard order by product_instance_id, status'),
    orders: await queryRows(app.db.pool, 'select order_id from product_order order by order_id'),
    outbox: (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from outbox_event'))[0].n,
  });
  const replace = (target: any, replacementOfferingId: string) =>
    api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'REPLACE', productInstanceId: target.productInstanceId, expectedVersion: target.version, replacementOfferingId }] });

  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', byStep: {}, maxAttempts: 3 } } as any });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    for (const o of (await get('/product-offerings?limit=200')).items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('an add-on is replaced only by an offering its parent allows; a top-level product not by an add-on-only offering; nothing changes', async () => {
    const owned = await products();
    const sla = owned.find((p) => p.name === 'SLA Gold');
    const fiber = owned.find((p) => p.name.startsWith('Business Fiber'));
    const before = await state();

    const notAnAddOn = await replace(sla, offering['managed-router']);
    assert.equal(notAnAddOn.status, 400, JSON.stringify(notAnAddOn.body));
    assert.equal(notAnAddOn.body.type, '/problems/validation-error');
    assert.deepEqual(notAnAddOn.body.errors.map((e: any) => e.field), ['/items/0']);
    assert.match(notAnAddOn.body.errors[0].message, new RegExp(`at most 1|not an add-on of the offering of product instance ${fiber.productInstanceId}`));

    const fiberForAnAddOn = await replace(sla, offering['business-fiber']);
    assert.equal(fiberForAnAddOn.status, 400, JSON.stringify(fiberForAnAddOn.body));
    assert.match(fiberForAnAddOn.body.errors[0].message, new RegExp(`not an add-on of the offering of product instance ${fiber.productInstanceId}`));

    const addOnAtTheTop = await replace(fiber, offering['static-ip-29']);
    assert.equal(addOnAtTheTop.status, 400, JSON.stringify(addOnAtTheTop.body));
    assert.match(addOnAtTheTop.body.errors[0].message, /static-ip-29 is an add-on: it is sold only onto/);
    assert.deepEqual(await state(), before, 'no order, no guard, no version, no event');
  });

  test('the Managed Router is replaced by the Business Router Rental the fiber allows; the one it replaces is not counted', async () => {
    const router = (await products()).find((p) => p.name === 'Managed Router');
    const fiber = (await products()).find((p) => p.name.startsWith('Business Fiber'));
    const submitted = await replace(router, offering['cpe-rental']);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    await drainFulfillment(app);
    const order = await get(`/orders/${submitted.body.orderId}`);
    assert.equal(order.status, 'completed', JSON.stringify(order.items[0].error));
    const after = await products();
    const rental = after.find((p) => p.productInstanceId === order.items[0].productInstanceId);
    assert.equal(rental.name, 'Business Router Rental');
    assert.equal(rental.status, 'ACTIVE');
    assert.equal(after.find((p) => p.productInstanceId === router.productInstanceId).status, 'DISCONNECTED');
    const link = (await get(`/product-instances/${fiber.productInstanceId}`)).relationships as any[];
    assert.ok(link.some((r) => r.type === 'PARENT_OF' && r.targetProductInstanceId === rental.productInstanceId), 'the fiber is the rental\'s parent now');

    // A second rental onto the same fiber is one too many (at most 1), by REPLACE as by ADD.
    const sla = after.find((p) => p.name === 'SLA Gold');
    const second = await replace(sla, offering['cpe-rental']);
    assert.equal(second.status, 400, JSON.stringify(second.body));
    assert.match(second.body.errors[0].message, /would have 2 add-ons .* at most 1/);
  });
});
