/**
 * Test clocks seen by another process (LISTEN), the evergreen policy, a SUSPENDED
 * subscription's expiry, a termination's end date, and a renewal before the end that moves the
 * pending real-time expiry (one graphile-worker job per key, moved, not added).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TenantClocks } from '../../src/clocks/index.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import type { CommandContext } from '../../src/platform/context.ts';
import { runDueJobsOnce } from '../../src/platform/scheduler.ts';
import { ensureDemo } from '../../src/demo/index.ts';
import { call, createTestApp, drainFulfillment, getOk, type TestApp } from '../helpers/app.ts';
import { createAccount } from '../helpers/fixtures.ts';
import { advance as advanceClock, subscriptionWithDates, testClockTenant } from './helpers.ts';

let app: TestApp;

async function rows<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await app.db.pool.query(sql, params)).rows as T[];
}

const clockTenant = (at: string) => testClockTenant(app, at);
const advance = (key: string, clockId: string, to: string) => advanceClock(app, key, clockId, to);
const newSubscription = (ctx: CommandContext, accountId: string, subscription: Record<string, unknown>) => subscriptionWithDates(app, ctx, accountId, subscription);

const changes = (id: string) => rows('select change_type, effective_at, after_state->>\'endDate\' as end_date from subscription_history where subscription_id = $1 order by version', [id]);

before(async () => {
  app = await createTestApp();
});
after(async () => {
  await app.close();
});

describe('test clocks across processes', () => {
  test('another process follows a clock by LISTEN: created, then advanced', async () => {
    const other = new TenantClocks(new ManualClock('2026-07-02T10:30:00Z'));
    await other.start(app.db.pool);
    try {
      const t = await clockTenant('2026-03-01T00:00:00Z');
      const seen = async (expected: string) => {
        for (let i = 0; i < 100 && other.now(t.ctx.tenantId).toISOString() !== expected; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(other.now(t.ctx.tenantId).toISOString(), expected);
      };
      await seen('2026-03-01T00:00:00.000Z');
      await advance(t.key, t.clockId, '2026-04-15T12:00:00Z');
      await seen('2026-04-15T12:00:00.000Z');
      assert.equal(other.now(app.tenantId).toISOString(), '2026-07-02T10:30:00.000Z', 'a real-time tenant: the base clock');
      // A process started after the clock loads it.
      const late = new TenantClocks(new ManualClock());
      await late.start(app.db.pool);
      assert.equal(late.now(t.ctx.tenantId).toISOString(), '2026-04-15T12:00:00.000Z');
      await late.stop();
    } finally {
      await other.stop();
    }
  });
});

describe('policies and states', () => {
  test('evergreen: renews by its billing period (quarterly: 3 months), whatever its term', async () => {
    const t = await clockTenant('2026-01-01T00:00:00Z');
    const s = await newSubscription(t.ctx, t.accountId, { startDate: '2026-01-01T00:00:00Z', termMonths: 12, billingCycle: 'quarterly', autoRenew: true, renewalPolicy: { type: 'evergreen' } });
    await advance(t.key, t.clockId, '2027-07-01T00:00:00Z');
    const h = await changes(s.subscriptionId);
    assert.deepEqual(h.map((r) => [r.change_type, r.end_date]), [
      ['CREATED', '2027-01-01T00:00:00.000Z'], ['ACTIVATED', '2027-01-01T00:00:00.000Z'],
      ['RENEWED', '2027-04-01T00:00:00.000Z'], ['RENEWED', '2027-07-01T00:00:00.000Z'], ['RENEWED', '2027-10-01T00:00:00.000Z'],
    ]);
  });

  test('a SUSPENDED subscription expires past its end too; a termination sets the end date to the termination date', async () => {
    const t = await clockTenant('2026-01-01T00:00:00Z');
    const s = await newSubscription(t.ctx, t.accountId, { startDate: '2026-01-10T00:00:00Z', termMonths: 2 });
    await advance(t.key, t.clockId, '2026-01-20T00:00:00Z');
    await app.services.inventory.changeSubscriptionState(t.ctx, s.subscriptionId, 'suspension:apply', { expectedVersion: 2 });
    await advance(t.key, t.clockId, '2026-04-01T00:00:00Z');
    assert.deepEqual((await changes(s.subscriptionId)).map((r) => r.change_type), ['CREATED', 'ACTIVATED', 'SUSPENDED', 'EXPIRED']);
    assert.equal((await app.services.queries.subscription(t.ctx, s.subscriptionId)).status, 'EXPIRED');

    const s2 = await newSubscription(t.ctx, t.accountId, { startDate: '2026-04-02T00:00:00Z', termMonths: 12 });
    await advance(t.key, t.clockId, '2026-05-01T00:00:00Z');
    const terminated = await app.services.inventory.changeSubscriptionState(t.ctx, s2.subscriptionId, 'termination:apply', { expectedVersion: 2, effectiveAt: '2026-06-15T00:00:00.000Z' });
    assert.equal(terminated.endDate, '2026-06-15T00:00:00.000Z');
    // Its expiry (Apr 2, 2027) finds it TERMINATED and does nothing.
    const clock = await advance(t.key, t.clockId, '2027-05-01T00:00:00Z');
    assert.equal(clock.jobsRun, 1);
    assert.deepEqual((await changes(s2.subscriptionId)).map((r) => r.change_type), ['CREATED', 'ACTIVATED', 'TERMINATED']);
  });

  test('real time: a renewal before the end moves the pending expiry (one job per key)', async () => {
    const { accountId } = await createAccount(app.services, app.ctx, 'renewing');
    const s = await newSubscription(app.ctx, accountId, { startDate: '2026-07-01T00:00:00Z', termMonths: 600 });
    await runDueJobsOnce(app.db.pool, app.services.jobs);
    const active = await app.services.queries.subscription(app.ctx, s.subscriptionId);
    assert.equal(active.status, 'ACTIVE');
    const key = `subscription.expire:${app.tenantId}:${s.subscriptionId}`;
    assert.deepEqual(await rows('select run_at from graphile_worker.jobs where key = $1', [key]), [{ run_at: new Date(active.endDate!) }]);
    const renewed = await app.services.inventory.renewSubscription(app.ctx, s.subscriptionId, { expectedVersion: active.version, termMonths: 12 });
    assert.deepEqual(await rows('select run_at from graphile_worker.jobs where key = $1', [key]), [{ run_at: new Date(renewed.endDate!) }], 'moved, not added');
  });
});

describe('orders', () => {
  let internal: TestApp;
  before(async () => {
    // Every task to the instant internal provisioner: the order completes in one drain.
    internal = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 5 } } });
  });
  after(() => internal.close());

  test('an ADD sold with a subscription startDate: the products go live, the subscription waits for its date', async () => {
    const app = internal;
    const rows = async (sql: string, params: unknown[] = []) => (await app.db.pool.query(sql, params)).rows;
    const key = 'tnr_clock-orders-demo-key-0123456789';
    const accountId = (await ensureDemo(app.services, key)).accountId;
    const offerings = (await call(app.server, key, 'GET', '/product-offerings?limit=200')).body.items;
    const fiber = offerings.find((o: any) => o.body.code === 'business-fiber').id;
    const res = await call(app.server, key, 'POST', `/accounts/${accountId}/orders`, {
      items: [{ action: 'ADD', offeringId: fiber, configuration: { bandwidthMbps: '1000' }, subscription: { termMonths: 12, startDate: '2027-01-01T00:00:00+07:00', autoRenew: true, renewalPolicy: { noticeDays: 30 } } }],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await drainFulfillment(app);
    const [product] = await rows('select status, subscription_id as "subscriptionId" from product_instance where action_origin_order_id = $1', [res.body.orderId]);
    assert.equal(product.status, 'ACTIVE');
    const s = (await call(app.server, key, 'GET', `/subscriptions/${product.subscriptionId}`)).body;
    assert.deepEqual([s.status, s.startDate, s.endDate, s.autoRenew, s.renewalPolicy], ['PENDING', '2026-12-31T17:00:00.000Z', '2027-12-31T17:00:00.000Z', true, { noticeDays: 30 }]);
    const tenantId = (await rows('select tenant_id from account where account_id = $1', [accountId]))[0].tenant_id;
    assert.deepEqual(await rows('select task_identifier, run_at from graphile_worker.jobs where key = $1', [`subscription.activate:${tenantId}:${s.subscriptionId}`]),
      [{ task_identifier: 'subscription.activate', run_at: new Date('2026-12-31T17:00:00Z') }]);
  });
});
