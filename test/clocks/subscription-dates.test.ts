/**
 * Date-driven subscription states under a per-tenant test clock (seed 004, issue 12 points 1–3):
 * every transition by advancing the clock through the API, with the whole resulting state
 * (subscription row, history rows, outbox payloads); bad input to the clock changes nothing;
 * auto-renewal over two years in one advance; N workers racing on one due job: one transition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runDueJobsOnce } from '../../src/platform/scheduler.ts';
import { advance as advanceClock, subscriptionWithDates as newSubscription, testClockTenant as clockTenant } from './helpers.ts';
import { createPool } from '../../src/platform/db.ts';
import { assertProblem, call, createTestApp, getOk, type TestApp } from '../helpers/app.ts';
import { createAccount } from '../helpers/fixtures.ts';
import type { CommandContext } from '../../src/platform/context.ts';

let app: TestApp;

async function rows<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await app.db.pool.query(sql, params)).rows as T[];
}

const advance = (key: string, clockId: string, to: string) => advanceClock(app, key, clockId, to);
const testClockTenant = (at: string) => clockTenant(app, at);
const subscriptionWithDates = (ctx: CommandContext, accountId: string, subscription: Record<string, unknown>) => newSubscription(app, ctx, accountId, subscription);

const history = (id: string) => rows('select version, change_type, effective_at, after_state->>\'status\' as status, after_state->>\'endDate\' as end_date, correlation_id from subscription_history where subscription_id = $1 order by version', [id]);
const events = (id: string) => rows('select event_type, payload from outbox_event where aggregate_id = $1 order by aggregate_version', [id]);

before(async () => {
  app = await createTestApp();
});
after(async () => {
  await app.close();
});

describe('test clocks: the API', () => {
  test('create, read; bad input is a problem and changes nothing', async () => {
    const t = await testClockTenant('2026-01-01T00:00:00Z');
    const clock = await getOk(app.server, t.key, `/test-clocks/${t.clockId}`);
    assert.deepEqual({ ...clock, createdAt: undefined, updatedAt: undefined }, {
      clockId: t.clockId, name: 'renewals', frozenTime: '2026-01-01T00:00:00.000Z', status: 'ready', targetTime: null, jobsRun: 0,
      jobsRemaining: 0, nextJobAt: null, lastError: null, version: 1, createdAt: undefined, updatedAt: undefined,
    });
    // The tenant's commands see the clock's time.
    assert.equal(app.services.clock.now(t.ctx.tenantId).toISOString(), '2026-01-01T00:00:00.000Z');
    assert.equal(app.services.clock.now(app.tenantId).toISOString(), app.clock.now().toISOString(), 'a real-time tenant is untouched');

    assertProblem(await call(app.server, t.key, 'POST', `/test-clocks/${t.clockId}/advance`, { frozenTime: '2025-12-31T23:59:59Z' }), 400, 'validation-error');
    assertProblem(await call(app.server, t.key, 'POST', `/test-clocks/${t.clockId}/advance`, { frozenTime: 'next tuesday' }), 400, 'validation-error');
    assertProblem(await call(app.server, t.key, 'POST', `/test-clocks/${t.clockId}/advance`, { frozenTime: '2026-02-30T00:00:00Z' }), 400, 'validation-error');
    assertProblem(await call(app.server, t.key, 'POST', '/test-clocks/8f1d7f0e-2a4b-4c7e-9d3a-000000000000/advance', { frozenTime: '2027-01-01T00:00:00Z' }), 404, 'not-found');
    assertProblem(await call(app.server, t.key, 'GET', '/test-clocks/8f1d7f0e-2a4b-4c7e-9d3a-000000000000'), 404, 'not-found');
    assertProblem(await call(app.server, t.key, 'POST', '/test-clocks', { frozenTime: '2026-01-01T00:00:00Z' }), 409, 'test-clock-exists');
    // Another tenant does not see the clock.
    assertProblem(await call(app.server, app.adminKey, 'GET', `/test-clocks/${t.clockId}`), 404, 'not-found');
    assert.deepEqual(await getOk(app.server, t.key, `/test-clocks/${t.clockId}`), clock, 'nothing changed');
    assert.equal((await rows('select count(*)::int as n from graphile_worker.jobs'))[0].n, 0, 'no advance was scheduled');
  });

  test('a tenant with jobs on real time is not put on a test clock', async () => {
    const tenant = await app.services.access.createTenant({ name: 'real-time tenant' });
    const ctx: CommandContext = { tenantId: tenant.tenantId, actor: null, correlationId: 'test' };
    const { accountId } = await createAccount(app.services, ctx);
    await subscriptionWithDates(ctx, accountId, { startDate: '2030-01-01T00:00:00Z', termMonths: 12 });
    assertProblem(await call(app.server, tenant.apiKey, 'POST', '/test-clocks', { frozenTime: '2026-01-01T00:00:00Z' }), 409, 'tenant-has-scheduled-work');
    assert.equal((await rows('select count(*)::int as n from test_clock where tenant_id = $1', [tenant.tenantId]))[0].n, 0);
  });
});

describe('date-driven subscription states under a test clock', () => {
  test('PENDING → ACTIVE at the start date, → EXPIRED past the end date (only the state), renewed after expiry → ACTIVE with the same id', async () => {
    const t = await testClockTenant('2026-01-01T00:00:00Z');
    const s = await subscriptionWithDates(t.ctx, t.accountId, { startDate: '2026-02-01T00:00:00Z', termMonths: 3, billingCycle: 'monthly' });
    assert.equal(s.status, 'PENDING');
    assert.equal(s.endDate, '2026-05-01T00:00:00.000Z', 'the end follows from the start and the term (Asia/Jakarta months)');
    const jobs = await getOk(app.server, t.key, `/test-clocks/${t.clockId}/jobs`);
    assert.deepEqual(jobs.items.map((j: any) => [j.kind, j.jobKey, j.runAt, j.accountId]), [['subscription.activate', s.subscriptionId, '2026-02-01T00:00:00.000Z', t.accountId]]);

    // Not yet: the start date is ahead of the clock.
    let clock = await advance(t.key, t.clockId, '2026-01-31T23:59:59Z');
    assert.equal(clock.jobsRun, 0);
    assert.equal((await app.services.queries.subscription(t.ctx, s.subscriptionId)).status, 'PENDING');

    clock = await advance(t.key, t.clockId, '2026-02-15T00:00:00Z');
    assert.equal(clock.jobsRun, 1);
    const active = await app.services.queries.subscription(t.ctx, s.subscriptionId);
    assert.deepEqual({ status: active.status, startDate: active.startDate, endDate: active.endDate, commitmentStartDate: active.commitmentStartDate, version: active.version, updatedAt: active.updatedAt },
      { status: 'ACTIVE', startDate: '2026-02-01T00:00:00.000Z', endDate: '2026-05-01T00:00:00.000Z', commitmentStartDate: '2026-02-01T00:00:00.000Z', version: 2, updatedAt: '2026-02-01T00:00:00.000Z' });

    clock = await advance(t.key, t.clockId, '2026-06-01T00:00:00Z');
    assert.equal(clock.jobsRun, 1);
    const expired = await app.services.queries.subscription(t.ctx, s.subscriptionId);
    assert.equal(expired.status, 'EXPIRED');
    assert.equal(expired.endDate, '2026-05-01T00:00:00.000Z', 'expiry changes only the state');
    assert.deepEqual({ ...expired, status: 'ACTIVE', version: 2, updatedAt: active.updatedAt }, active, 'nothing else changed');

    // A renewal after the end date: same id, new end, ACTIVE again; its expiry is scheduled.
    const renewed = await call(app.server, t.key, 'POST', `/internal/assets/subscriptions/${s.subscriptionId}/renewal:apply`, { expectedVersion: 3, termMonths: 3 });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(renewed.body.subscriptionId, s.subscriptionId);
    assert.equal(renewed.body.status, 'ACTIVE');
    assert.equal(renewed.body.endDate, '2026-08-01T00:00:00.000Z');
    assert.deepEqual((await getOk(app.server, t.key, `/test-clocks/${t.clockId}/jobs`)).items.map((j: any) => [j.kind, j.runAt]), [['subscription.expire', '2026-08-01T00:00:00.000Z']]);

    assert.deepEqual(await history(s.subscriptionId), [
      { version: 1, change_type: 'CREATED', effective_at: new Date('2026-01-01T00:00:00Z'), status: 'PENDING', end_date: '2026-05-01T00:00:00.000Z', correlation_id: 'test' },
      { version: 2, change_type: 'ACTIVATED', effective_at: new Date('2026-02-01T00:00:00Z'), status: 'ACTIVE', end_date: '2026-05-01T00:00:00.000Z', correlation_id: `job:subscription.activate:${s.subscriptionId}` },
      { version: 3, change_type: 'EXPIRED', effective_at: new Date('2026-05-01T00:00:00Z'), status: 'EXPIRED', end_date: '2026-05-01T00:00:00.000Z', correlation_id: `job:subscription.expire:${s.subscriptionId}` },
      // Renewed through the API: recorded under the request's id.
      { version: 4, change_type: 'RENEWED', effective_at: new Date('2026-06-01T00:00:00Z'), status: 'ACTIVE', end_date: '2026-08-01T00:00:00.000Z', correlation_id: renewed.headers['x-request-id'] ?? (await history(s.subscriptionId))[3].correlation_id },
    ]);
    const evs = await events(s.subscriptionId);
    assert.deepEqual(evs.map((e) => e.event_type), ['SubscriptionCreated', 'SubscriptionActivated', 'SubscriptionExpired', 'SubscriptionRenewed']);
    const expiredEvent = evs[2].payload;
    assert.deepEqual(expiredEvent, {
      eventId: expiredEvent.eventId, eventType: 'SubscriptionExpired', eventVersion: 1,
      occurredAt: '2026-05-01T00:00:00.000Z', // the job ran at the end date, on the clock
      correlationId: `job:subscription.expire:${s.subscriptionId}`, causationId: null, accountId: t.accountId,
      customerId: active.customerId, subscriptionId: s.subscriptionId, previousVersion: 2, newVersion: 3, status: 'EXPIRED', endDate: '2026-05-01T00:00:00.000Z',
      changeSummary: { operation: 'EXPIRY', previousStatus: 'ACTIVE', changedFields: ['status'] },
    });
    assert.deepEqual(evs[3].payload.changeSummary, { operation: 'RENEWAL', previousStatus: 'EXPIRED', changedFields: ['commitmentEndDate', 'commitmentStartDate', 'endDate', 'status'] });
    assert.deepEqual([evs[1].payload.occurredAt, evs[1].payload.correlationId, evs[1].payload.status, evs[1].payload.changeSummary],
      ['2026-02-01T00:00:00.000Z', `job:subscription.activate:${s.subscriptionId}`, 'ACTIVE', { operation: 'ACTIVATION', previousStatus: 'PENDING', changedFields: ['status'] }]);
  });

  test('cancelling an entered subscription: end = start, and it never becomes ACTIVE', async () => {
    const t = await testClockTenant('2026-01-01T00:00:00Z');
    const s = await subscriptionWithDates(t.ctx, t.accountId, { startDate: '2026-03-01T00:00:00Z', termMonths: 12 });
    const cancelled = await call(app.server, t.key, 'POST', `/internal/assets/subscriptions/${s.subscriptionId}/cancellation:apply`, { expectedVersion: 1 });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.status, 'TERMINATED');
    assert.equal(cancelled.body.startDate, '2026-03-01T00:00:00.000Z');
    assert.equal(cancelled.body.endDate, '2026-03-01T00:00:00.000Z');
    const clock = await advance(t.key, t.clockId, '2027-06-01T00:00:00Z');
    assert.equal(clock.jobsRun, 1, 'the activation ran, and did nothing');
    assert.deepEqual((await history(s.subscriptionId)).map((h) => h.change_type), ['CREATED', 'CANCELLED']);
    assert.deepEqual((await events(s.subscriptionId)).map((e) => e.event_type), ['SubscriptionCreated', 'SubscriptionCancelled']);
    // A second cancellation is refused: the state machine says what TERMINATED accepts.
    assertProblem(await call(app.server, t.key, 'POST', `/internal/assets/subscriptions/${s.subscriptionId}/cancellation:apply`, { expectedVersion: 2 }), 409, 'illegal-transition');
  });

  test('auto-renewal, same term, monthly: two years in one advance → 24 renewals, each a version, a history row and an event', async () => {
    const t = await testClockTenant('2026-01-01T00:00:00Z');
    const s = await subscriptionWithDates(t.ctx, t.accountId, { startDate: '2026-01-31T00:00:00Z', termMonths: 1, billingCycle: 'monthly', autoRenew: true });
    const clock = await advance(t.key, t.clockId, '2028-01-31T00:00:00Z');
    // Activated on Jan 31 2026; renewed at each end: Feb 28 2026, Mar 31 … Jan 31 2028 (24 ends, the last at the target).
    const after = await app.services.queries.subscription(t.ctx, s.subscriptionId);
    assert.equal(after.status, 'ACTIVE');
    assert.equal(after.endDate, '2028-02-29T00:00:00.000Z', 'anchored to the 31st, clamped to month ends (a leap February), not chained from the 28th');
    const h = await history(s.subscriptionId);
    const renewals = h.filter((r) => r.change_type === 'RENEWED');
    assert.equal(renewals.length, 24);
    assert.equal(clock.jobsRun, 1 + renewals.length);
    assert.deepEqual(renewals.slice(0, 3).map((r) => [r.effective_at.toISOString(), r.end_date]), [
      ['2026-02-28T00:00:00.000Z', '2026-03-31T00:00:00.000Z'], ['2026-03-31T00:00:00.000Z', '2026-04-30T00:00:00.000Z'], ['2026-04-30T00:00:00.000Z', '2026-05-31T00:00:00.000Z'],
    ]);
    assert.deepEqual(h.map((r) => r.version), Array.from({ length: 26 }, (_, i) => i + 1));
    assert.deepEqual((await events(s.subscriptionId)).map((e) => e.event_type), ['SubscriptionCreated', 'SubscriptionActivated', ...renewals.map(() => 'SubscriptionRenewed')]);
    // One job waits: the next renewal.
    assert.deepEqual((await getOk(app.server, t.key, `/test-clocks/${t.clockId}/jobs`)).items.map((j: any) => [j.kind, j.runAt]), [['subscription.renew', '2028-02-29T00:00:00.000Z']]);
    // The same input gives the same result: a second tenant advanced the same way ends the same.
    const t2 = await testClockTenant('2026-01-01T00:00:00Z');
    const s2 = await subscriptionWithDates(t2.ctx, t2.accountId, { startDate: '2026-01-31T00:00:00Z', termMonths: 1, billingCycle: 'monthly', autoRenew: true });
    await advance(t2.key, t2.clockId, '2028-01-31T00:00:00Z');
    assert.deepEqual((await history(s2.subscriptionId)).map((r) => [r.version, r.change_type, r.effective_at, r.end_date]), h.map((r) => [r.version, r.change_type, r.effective_at, r.end_date]));
  });

  test('auto-renewal with a notice period renews noticeDays before the end', async () => {
    const t = await testClockTenant('2026-01-01T00:00:00Z');
    const s = await subscriptionWithDates(t.ctx, t.accountId, { startDate: '2026-01-01T00:00:00Z', termMonths: 12, autoRenew: true, renewalPolicy: { type: 'same-term', noticeDays: 30 } });
    await advance(t.key, t.clockId, '2026-12-01T00:00:00Z');
    assert.equal((await app.services.queries.subscription(t.ctx, s.subscriptionId)).endDate, '2027-01-01T00:00:00.000Z', '30 days before Jan 1 2027 is Dec 2: not yet');
    await advance(t.key, t.clockId, '2026-12-02T00:00:00Z');
    const renewed = await app.services.queries.subscription(t.ctx, s.subscriptionId);
    assert.equal(renewed.endDate, '2028-01-01T00:00:00.000Z');
    assert.deepEqual((await history(s.subscriptionId)).map((r) => [r.change_type, r.effective_at]), [
      ['CREATED', new Date('2026-01-01T00:00:00Z')], ['ACTIVATED', new Date('2026-01-01T00:00:00Z')], ['RENEWED', new Date('2026-12-02T00:00:00Z')],
    ]);
  });
});

describe('real-time tenants: graphile-worker', () => {
  test('N workers racing on the same due job: one transition', async () => {
    const { accountId } = await createAccount(app.services, app.ctx, 'racing');
    // Due at once (the manual clock is at 2026-07-02; real time is later still).
    const s = await subscriptionWithDates(app.ctx, accountId, { startDate: '2026-07-01T00:00:00Z', termMonths: 12 });
    const pools = Array.from({ length: 4 }, () => createPool(app.db.url, 4));
    try {
      // The library's claim: four runners at once, one runs the job.
      await Promise.all(pools.map((pool) => runDueJobsOnce(pool, app.services.jobs)));
      // The handler's own re-check: four runs of the same due job at once, one changes it.
      const due = { subscriptionId: s.subscriptionId, date: '2026-07-01T00:00:00.000Z' };
      const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => app.services.inventory.activateSubscriptionWhenDue(app.ctx, due)));
      assert.ok(outcomes.every((o) => (o.status === 'fulfilled' && o.value === null) || o.status === 'rejected'), 'already active: nothing to do');
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    assert.deepEqual((await history(s.subscriptionId)).map((r) => r.change_type), ['CREATED', 'ACTIVATED']);
    const [expiry] = await rows("select task_identifier, run_at, key from graphile_worker.jobs where key like 'subscription.expire:%' and key like '%' || $1", [s.subscriptionId]);
    assert.deepEqual(expiry, { task_identifier: 'subscription.expire', run_at: new Date('2027-07-01T00:00:00Z'), key: `subscription.expire:${app.tenantId}:${s.subscriptionId}` });
  });

  test('racing activations of one PENDING subscription: exactly one wins', async () => {
    const { accountId } = await createAccount(app.services, app.ctx, 'racing 2');
    const s = await subscriptionWithDates(app.ctx, accountId, { startDate: '2026-06-01T00:00:00Z', termMonths: 1 });
    const due = { subscriptionId: s.subscriptionId, date: '2026-06-01T00:00:00.000Z' };
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => app.services.inventory.activateSubscriptionWhenDue(app.ctx, due)));
    const changed = outcomes.filter((o) => o.status === 'fulfilled' && o.value !== null);
    assert.equal(changed.length, 1);
    for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as any).type, 'concurrent-modification');
    assert.deepEqual((await history(s.subscriptionId)).map((r) => r.change_type), ['CREATED', 'ACTIVATED']);
  });
});
