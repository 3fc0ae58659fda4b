/**
 * An HTTP provisioner against a real local server that accepts work and calls back later,
 * signed; and the lease: a worker that dies with claimed tasks gives them back, and its late
 * answer is dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { HttpProvisioner, signPayload } from '../../src/fulfillment/http-provisioner.ts';
import { claimReadyTasks, updateTask } from '../../src/fulfillment/queue.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { inTenantTransaction } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { sendJson, startFlakyServer, type FlakyServer } from './flaky-server.ts';

const KEY = 'tnr_fulfillment-callbacks-key-0123456789';
const SECRET = 'noc-shared-secret-for-tests';

describe('signed callbacks of an HTTP provisioner', () => {
  let app: TestApp;
  let noc: FlakyServer;
  let accountId: string;
  const offering: Record<string, string> = {};
  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const drain = async () => {
    while ((await app.services.orchestrator.runOnce('test-worker')) > 0);
  };
  const callback = (body: unknown, options: { secret?: string; timestamp?: number; code?: string } = {}) => {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    return app.server.inject({
      method: 'POST',
      url: `/fulfillment/callbacks/${options.code ?? 'noc'}`,
      headers: { 'content-type': 'application/json', 'x-tenure-timestamp': String(timestamp), 'x-tenure-signature': signPayload(options.secret ?? SECRET, timestamp, raw) },
      payload: raw,
    });
  };

  before(async () => {
    // The external system accepts every task and will call back (202).
    noc = await startFlakyServer((request, response) => sendJson(response, 202, { status: 'accepted', externalId: `noc-${request.json.step}-${request.json.taskId.slice(0, 8)}` }));
    app = await createTestApp({
      provisioners: [new HttpProvisioner({ code: 'noc', url: noc.url, secret: SECRET, timeoutMs: 2_000 })],
      callbackSecrets: new Map([['noc', SECRET]]),
      fulfillment: { routing: { defaultProvisioner: 'noc', byStep: { renew: 'internal' }, maxAttempts: 3 } },
    });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    for (const o of (await api('GET', '/product-offerings?limit=200')).body.items) offering[o.body.code] = o.id;
  });
  after(async () => {
    await app.close();
    await noc.close();
  });

  test('accepted work waits; a signed callback completes it; a forged or repeated one changes nothing', async () => {
    const submitted = (await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['managed-router'] }] })).body;
    await drain();
    let tasks = (await api('GET', `/orders/${submitted.orderId}/tasks`)).body.items;
    const waiting = tasks.filter((t: any) => t.status === 'waiting');
    assert.ok(waiting.length >= 1, JSON.stringify(tasks));
    const request = noc.requests.find((r) => r.json.taskId === waiting[0].taskId)!;
    assert.equal(request.headers['idempotency-key'], waiting[0].idempotencyKey, 'every call carries the task\'s idempotency key');
    assert.equal(request.headers['x-correlation-id'], waiting[0].correlationId, 'and its correlation id');

    const forged = await callback({ taskId: waiting[0].taskId, status: 'done', externalId: 'x' }, { secret: 'wrong-secret' });
    assert.equal(forged.statusCode, 401);
    assert.equal(forged.json().type, '/problems/bad-signature');
    const stale = await callback({ taskId: waiting[0].taskId, status: 'done' }, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    assert.equal(stale.statusCode, 401, 'an old timestamp is refused (replay)');
    const unknown = await callback({ taskId: waiting[0].taskId, status: 'done' }, { code: 'nobody' });
    assert.equal(unknown.statusCode, 404);
    const garbled = await callback('{not json');
    assert.equal(garbled.statusCode, 400);
    tasks = (await api('GET', `/orders/${submitted.orderId}/tasks`)).body.items;
    assert.equal(tasks.find((t: any) => t.taskId === waiting[0].taskId).status, 'waiting', 'refused callbacks changed nothing');

    // The system answers each task, the later ones only after the earlier are done (they depend on them).
    for (let round = 0; round < 10; round++) {
      tasks = (await api('GET', `/orders/${submitted.orderId}/tasks`)).body.items;
      const open = tasks.filter((t: any) => t.status === 'waiting');
      if (open.length === 0) break;
      for (const t of open) {
        const answered = await callback({ taskId: t.taskId, status: 'done', externalId: t.externalId });
        assert.equal(answered.statusCode, 200, answered.body);
        // The system answers twice: the second is a no-op.
        const twice = await callback({ taskId: t.taskId, status: 'done', externalId: t.externalId });
        assert.equal(twice.statusCode, 200);
        assert.equal(twice.json().status, 'done');
      }
      await drain();
    }
    const order = (await api('GET', `/orders/${submitted.orderId}`)).body;
    assert.equal(order.status, 'completed', JSON.stringify(tasks));
    const keys = noc.requests.filter((r) => r.json.orderId === submitted.orderId).map((r) => r.headers['idempotency-key']);
    assert.equal(new Set(keys).size, keys.length, 'each task was sent once');
    assert.deepEqual((await checkAllTenants(app.db.pool, app.clock.now())).findings, []);
  });

  test('a failure reported by callback fails the item; the instance is ERROR with the reported error', async () => {
    const submitted = (await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['managed-router'] }] })).body;
    await drain();
    const first = (await api('GET', `/orders/${submitted.orderId}/tasks`)).body.items.find((t: any) => t.status === 'waiting');
    const failed = await callback({ taskId: first.taskId, status: 'failed', code: 'no-stock', message: 'no router in stock' });
    assert.equal(failed.statusCode, 200, failed.body);
    const order = (await api('GET', `/orders/${submitted.orderId}`)).body;
    assert.equal(order.status, 'failed');
    assert.equal(order.items[0].error.code, 'no-stock');
    const instance = (await api('GET', `/product-instances/${submitted.items[0].productInstanceId}`)).body;
    assert.equal(instance.status, 'ERROR');
    assert.match(instance.lastError.message, /no router in stock/);
  });
});

describe('leases', () => {
  let app: TestApp;
  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 5 }, leaseMs: 1_000 } });
  });
  after(() => app.close());

  test('tasks claimed by a worker that died come back after the lease; its late answer is dropped', async () => {
    const KEY2 = 'tnr_fulfillment-leases-key-0123456789';
    const accountId = (await ensureDemo(app.services, KEY2)).accountId;
    const offerings = (await call(app.server, KEY2, 'GET', '/product-offerings?limit=200')).body.items;
    const router = offerings.find((o: any) => o.body.code === 'managed-router').id;
    const submitted = (await call(app.server, KEY2, 'POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: router }] })).body;

    // A worker claims the ready tasks and dies before answering.
    const claimed = await claimReadyTasks(app.db.pool, 'dead-worker:1', app.clock.now().toISOString(), 1_000, 10);
    assert.ok(claimed.length >= 1);
    assert.equal(await app.services.orchestrator.runOnce('live-worker'), 0, 'a leased task is not taken while its lease holds');

    app.clock.advance(1_500);
    await (async () => {
      while ((await app.services.orchestrator.runOnce('live-worker')) > 0);
    })();
    const order = (await call(app.server, KEY2, 'GET', `/orders/${submitted.orderId}`)).body;
    assert.equal(order.status, 'completed');
    const tasks = (await call(app.server, KEY2, 'GET', `/orders/${submitted.orderId}/tasks`)).body.items;
    for (const t of claimed) assert.equal(tasks.find((x: any) => x.taskId === t.taskId).attempts, 2, 'taken over: a second attempt');

    // The dead worker's answer arrives late: only a lease holder may record an outcome.
    const late = await inTenantTransaction(app.db.pool, claimed[0].tenantId, (tx) =>
      updateTask(tx, claimed[0], { status: 'failed', lastError: { code: 'late', message: 'late', at: app.clock.now().toISOString() } }, app.clock.now().toISOString(), { claimToken: 'dead-worker:1' }));
    assert.equal(late, undefined);
    assert.equal((await call(app.server, KEY2, 'GET', `/orders/${submitted.orderId}/tasks`)).body.items.find((x: any) => x.taskId === claimed[0].taskId).status, 'done');
  });
});
