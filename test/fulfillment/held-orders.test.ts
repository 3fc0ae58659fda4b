/**
 * A held order's hold is on its tasks (decision 0015): the claim skips held tasks without
 * reading the order, and orders sets the flag whenever the order enters or leaves `held`.
 * Checked on the task rows themselves, the order and its history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_held-orders-test-demo-key-0123456789';

describe("a held order's tasks", () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const submitRouter = async () => {
    const response = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['managed-router'] }] });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body.orderId as string;
  };
  /** The task rows as stored, held flag included (the API does not show it). */
  const taskRows = (orderId: string) => queryRows<{ task_number: number; step: string; kind: string; status: string; held: boolean; attempts: number }>(
    app.db.pool,
    'select task_number, step, kind, status, held, attempts from fulfillment_task where order_id = $1 order by task_number',
    [orderId],
  );
  const orderRow = async (orderId: string) => (await queryRows<{ status: string; version: number }>(app.db.pool, 'select status, version from product_order where order_id = $1', [orderId]))[0];
  const history = async (orderId: string) => ((await api('GET', `/orders/${orderId}/history`)).body.items as any[])
    .filter((h) => h.itemId === null).map((h) => ({ from: h.fromStatus, to: h.toStatus, reason: h.reason }));
  const runOnce = () => app.services.orchestrator.runOnce('held-test-worker');

  before(async () => {
    app = await createTestApp();
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('are not claimed while the order is held, and are claimed after the hold is released', async () => {
    const orderId = await submitRouter();
    const submitted = [
      { task_number: 1, step: 'reserve', kind: 'provision', status: 'pending', held: false, attempts: 0 },
      { task_number: 2, step: 'configure', kind: 'provision', status: 'pending', held: false, attempts: 0 },
      { task_number: 3, step: 'activate', kind: 'provision', status: 'pending', held: false, attempts: 0 },
    ];
    assert.deepEqual(await taskRows(orderId), submitted);

    const held = await api('POST', `/orders/${orderId}/hold`, { reason: 'waiting for site access' });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    assert.equal(held.body.status, 'held');
    const heldRows = submitted.map((t) => ({ ...t, held: true }));
    assert.deepEqual(await taskRows(orderId), heldRows, 'every task of the order carries the hold');

    assert.equal(await runOnce(), 0, 'nothing is claimed while the order is held');
    assert.deepEqual(await taskRows(orderId), heldRows, 'the held tasks are untouched: pending, no attempt');
    assert.deepEqual(await orderRow(orderId), { status: 'held', version: 2 });

    const released = await api('POST', `/orders/${orderId}/release-hold`, { reason: 'site access granted' });
    assert.equal(released.status, 200, JSON.stringify(released.body));
    assert.equal(released.body.status, 'inProgress');
    assert.deepEqual(await taskRows(orderId), submitted, 'the release takes the hold off every task');

    assert.equal(await runOnce(), 1, 'the first ready task is claimed after the release');
    assert.deepEqual(await taskRows(orderId), [
      { task_number: 1, step: 'reserve', kind: 'provision', status: 'waiting', held: false, attempts: 1 },
      submitted[1],
      submitted[2],
    ], 'the manual provisioner waits for an operator');
    assert.deepEqual(await orderRow(orderId), { status: 'inProgress', version: 3 });
    assert.deepEqual(await history(orderId), [
      { from: null, to: 'acknowledged', reason: 'submitted' },
      { from: 'acknowledged', to: 'held', reason: 'waiting for site access' },
      { from: 'held', to: 'inProgress', reason: 'site access granted' },
    ]);
  });

  test('a held order that is cancelled leaves held: the compensation of its started work runs', async () => {
    const orderId = await submitRouter();
    assert.equal(await runOnce(), 1);
    assert.equal((await api('POST', `/orders/${orderId}/hold`, {})).status, 200);
    assert.deepEqual((await taskRows(orderId)).map((t) => [t.step, t.status, t.held]), [['reserve', 'waiting', true], ['configure', 'pending', true], ['activate', 'pending', true]]);

    const cancelled = await api('POST', `/orders/${orderId}/cancel`, { reason: 'customer withdrew' });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.status, 'pendingCancellation', 'the reservation is undone before the order is cancelled');
    assert.deepEqual(await taskRows(orderId), [
      { task_number: 1, step: 'reserve', kind: 'provision', status: 'cancelled', held: false, attempts: 1 },
      { task_number: 2, step: 'configure', kind: 'provision', status: 'cancelled', held: false, attempts: 0 },
      { task_number: 3, step: 'activate', kind: 'provision', status: 'cancelled', held: false, attempts: 0 },
      { task_number: 4, step: 'reserve', kind: 'compensation', status: 'pending', held: false, attempts: 0 },
    ], 'the order left held, so its tasks did, the new compensation too');

    assert.equal(await runOnce(), 1, 'the compensation is claimed');
    const [compensation] = ((await api('GET', `/orders/${orderId}/tasks`)).body.items as any[]).filter((t) => t.kind === 'compensation');
    assert.equal(compensation.status, 'waiting');
    const done = await api('POST', `/fulfillment/tasks/${compensation.taskId}/result`, { outcome: 'done' });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual((await taskRows(orderId)).map((t) => [t.kind, t.status]), [['provision', 'compensated'], ['provision', 'cancelled'], ['provision', 'cancelled'], ['compensation', 'done']]);
    const order = (await api('GET', `/orders/${orderId}`)).body;
    assert.equal(order.status, 'cancelled');
    assert.deepEqual(order.items.map((i: any) => i.status), ['cancelled']);
    assert.deepEqual(await history(orderId), [
      { from: null, to: 'acknowledged', reason: 'submitted' },
      { from: 'acknowledged', to: 'inProgress', reason: null },
      { from: 'inProgress', to: 'held', reason: null },
      { from: 'held', to: 'pendingCancellation', reason: 'customer withdrew' },
      { from: 'pendingCancellation', to: 'cancelled', reason: null },
    ]);
  });
});
