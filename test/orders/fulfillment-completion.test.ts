/**
 * An order's fulfillment completes its items through the inventory with as few statements as it
 * can (services and resources attached under one product read, specifications from the
 * published-documents cache): what it writes is what the one-row commands wrote. The fixture
 * was recorded with the one-row commands (main before this change): every row the fulfillment
 * of a 3-item ADD writes or changes, ids masked, compared as a whole.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, drainFulfillment, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_completion-test-demo-key-0123456789';
const FIXTURE = new URL('./fixtures/completion-3-item-add.json', import.meta.url);

// The tasks' own rows are the orchestrator's, not the completion's: not compared.
const TABLES = ['product_order', 'order_item', 'order_state_change', 'product_instance', 'product_instance_history',
  'subscription', 'subscription_history', 'service_instance', 'service_instance_history', 'resource_instance', 'resource_instance_history',
  'product_instance_relationship', 'asset_operation_guard', 'outbox_event', 'audit_log'];

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

describe('completion of an order through the inventory', () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};
  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  /** Every row of every table, as text. */
  const everything = async () => {
    const all: Record<string, string[]> = {};
    for (const table of TABLES) all[table] = (await queryRows<{ r: string }>(app.db.pool, `select t::text as r from ${table} t order by 1`)).map((x) => x.r);
    return all;
  };

  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 5 } } });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('a completed 3-item ADD: services, resources, versions, history rows, outbox payloads, audit rows and guards as the one-row commands wrote them', async () => {
    const res = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const order = res.body;
    const instanceIds: string[] = order.items.map((i: any) => i.productInstanceId);
    const seen = await everything();
    assert.equal(await drainFulfillment(app), 10);

    // What the fulfillment wrote or changed, table by table: ids masked, rows sorted.
    const now = await everything();
    const written: Record<string, string[]> = {};
    for (const table of TABLES) {
      const old = new Set(seen[table]);
      written[table] = now[table].filter((r) => !old.has(r)).map((r) => r.replace(UUID, '<id>')).sort();
    }
    if (process.env.TENURE_WRITE_FIXTURE) writeFileSync(FIXTURE, JSON.stringify(written, null, 1) + '\n');
    assert.deepEqual(written, JSON.parse(readFileSync(FIXTURE, 'utf8')));

    // The links the masking hides: each service belongs to its item's instance, each resource to a service of it.
    const services = await queryRows<any>(app.db.pool, 'select * from service_instance where product_instance_id = any($1::uuid[]) order by created_at, service_instance_id', [instanceIds]);
    assert.equal(services.length, 3);
    assert.deepEqual(services.map((s) => [s.status, s.version]), [['ACTIVE', 2], ['ACTIVE', 2], ['ACTIVE', 2]]);
    assert.deepEqual(new Set(services.map((s) => s.product_instance_id)), new Set(instanceIds), 'one service per item');
    const resources = await queryRows<any>(app.db.pool, 'select * from resource_instance where service_instance_id = any($1::uuid[])', [services.map((s) => s.service_instance_id)]);
    assert.equal(resources.length, 4);
    const instances = await queryRows<any>(app.db.pool, 'select status, version from product_instance where product_instance_id = any($1::uuid[])', [instanceIds]);
    assert.deepEqual(instances.map((p) => [p.status, p.version]), [['ACTIVE', 3], ['ACTIVE', 3], ['ACTIVE', 3]]);
    const held = await queryRows(app.db.pool, `select * from asset_operation_guard where status = 'ACTIVE' and order_id = $1`, [order.orderId]);
    assert.deepEqual(held, [], 'the order holds no guard');
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
  });
});
