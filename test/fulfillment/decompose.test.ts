import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_ROUTING, planItemSteps as planSteps, planOrder, type SpecTree } from '../../src/fulfillment/decompose.ts';
import { ORDER_ACTION_MODULES, type OrderAction } from '../../src/orders/actions/index.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const ref = (kind: 'product' | 'service' | 'resource', code: string) => ({ kind, id: `00000000-0000-4000-8000-${code.padStart(12, '0').slice(-12)}`, version: 1, code });
const fiberTree: SpecTree = {
  product: ref('product', 'fiber'),
  services: [{ ...ref('service', 'internet'), resources: [ref('resource', 'port'), ref('resource', 'vlan')] }],
};

// An action's steps are its module's; the planner lays them out on the specification tree.
const planItemSteps = (action: OrderAction, tree: SpecTree, replacedTree: SpecTree | null = null) => planSteps(ORDER_ACTION_MODULES[action].steps, tree, replacedTree);
const steps = (action: OrderAction) => ORDER_ACTION_MODULES[action].steps;

describe('decomposition (pure)', () => {
  test('ADD: reserve each resource → configure the service → activate the product', () => {
    const steps = planItemSteps('ADD', fiberTree);
    assert.deepEqual(steps.map((s) => `${s.step}:${s.spec?.code}`), ['reserve:port', 'reserve:vlan', 'configure:internet', 'activate:fiber']);
    assert.deepEqual(steps[2].after, [0, 1]);
    assert.deepEqual(steps[3].after, [2]);
  });

  test('DISCONNECT: deactivate the service, then release its resources', () => {
    const steps = planItemSteps('DISCONNECT', fiberTree);
    assert.deepEqual(steps.map((s) => `${s.step}:${s.spec?.code}`), ['deactivate:internet', 'release:port', 'release:vlan']);
    assert.deepEqual(steps[1].after, [0]);
  });

  test('every action has a plan; products without services get one product-level task', () => {
    const bare: SpecTree = { product: ref('product', 'bare'), services: [] };
    for (const action of ['ADD', 'MODIFY', 'DISCONNECT', 'SUSPEND', 'RESUME', 'MOVE', 'REPLACE', 'RENEW'] as const) {
      const steps = planItemSteps(action, bare, bare);
      assert.ok(steps.length >= 1, action);
    }
    assert.deepEqual(planItemSteps('RENEW', fiberTree).map((s) => s.step), ['renew']);
    assert.deepEqual(planItemSteps('REPLACE', fiberTree, fiberTree).map((s) => s.step), ['reserve', 'reserve', 'configure', 'activate', 'deactivate']);
  });

  test('an item that depends on another starts after its last tasks; points of no return are marked; routing picks provisioners', () => {
    const planned = planOrder([
      { itemId: 'addon', steps: steps('ADD'), tree: { product: ref('product', 'sla'), services: [] }, dependsOnItemIds: ['base'] },
      { itemId: 'base', steps: steps('ADD'), tree: fiberTree, dependsOnItemIds: [] },
    ], { ...DEFAULT_ROUTING, bySpecCode: { port: 'olt' }, byStep: { configure: 'radius' } });
    const base = planned.filter((t) => t.itemId === 'base');
    const addon = planned.filter((t) => t.itemId === 'addon');
    assert.deepEqual(base.map((t) => t.taskNumber), [1, 2, 3, 4], 'the item depended on is planned first');
    assert.deepEqual(addon[0].dependsOn, [4], 'the add-on waits for the base product\'s activation');
    assert.equal(base[0].provisionerCode, 'olt');
    assert.equal(base[1].provisionerCode, 'manual');
    assert.equal(base[2].provisionerCode, 'radius');
    assert.deepEqual(planned.map((t) => t.pointOfNoReturn), [false, false, false, true, true]);
    assert.equal(planOrder([{ itemId: 'r', steps: steps('RENEW'), tree: fiberTree, dependsOnItemIds: [] }], DEFAULT_ROUTING)[0].provisionerCode, 'internal');
  });
});

describe('tasks enqueued at submission', () => {
  const KEY = 'tnr_decompose-test-demo-key-01234567';
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};
  before(async () => {
    app = await createTestApp();
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    for (const o of (await call(app.server, KEY, 'GET', '/product-offerings?limit=200')).body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('an order for Business Fiber with SLA Gold gets its tasks, with dependencies, in the same transaction', async () => {
    const order = await call(app.server, KEY, 'POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '2000' }, subscription: { termMonths: 24 } },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ],
    });
    assert.equal(order.status, 201, JSON.stringify(order.body));
    const tasks = (await call(app.server, KEY, 'GET', `/orders/${order.body.orderId}/tasks`)).body.items;
    const fiberItem = order.body.items[0].itemId;
    const fiberTasks = tasks.filter((t: any) => t.itemId === fiberItem);
    assert.deepEqual(fiberTasks.map((t: any) => t.step), ['reserve', 'reserve', 'reserve', 'configure', 'activate']);
    assert.deepEqual(fiberTasks.slice(0, 3).map((t: any) => t.specification.code).sort(), ['ont', 'port', 'vlan']);
    const activate = fiberTasks[4];
    const slaTasks = tasks.filter((t: any) => t.itemId === order.body.items[1].itemId);
    assert.ok(slaTasks.length >= 1);
    assert.ok(slaTasks.some((t: any) => t.dependsOn.includes(activate.taskId)), 'SLA Gold waits for the fiber');
    for (const t of tasks) {
      assert.equal(t.status, 'pending');
      assert.equal(t.attempts, 0);
      assert.equal(t.maxAttempts, 5);
      assert.match(t.idempotencyKey, /^tenure-task-/);
      assert.ok(t.nextRunAt);
    }
    assert.equal(new Set(tasks.map((t: any) => t.idempotencyKey)).size, tasks.length);
  });

  test('a refused order enqueues nothing', async () => {
    const before = (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from fulfillment_task'))[0].n;
    const refused = await call(app.server, KEY, 'POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '7' } }] });
    assert.equal(refused.status, 400);
    const afterCount = (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from fulfillment_task'))[0].n;
    assert.equal(afterCount, before);
  });
});
