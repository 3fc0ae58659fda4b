/** What the test-clock tests share: a tenant on a clock, an advance through the real job path, a subscription with dates. */
import assert from 'node:assert/strict';
import type { CommandContext } from '../../src/platform/context.ts';
import { runDueJobsOnce } from '../../src/platform/scheduler.ts';
import { call, getOk, type TestApp } from '../helpers/app.ts';
import { createAccount, orderCause, productSnapshot } from '../helpers/fixtures.ts';

/** POST …/advance (202, advancing), then the advance runs through graphile-worker (the real path) until nothing is due: ready at the target. */
export async function advance(app: TestApp, key: string, clockId: string, to: string) {
  const res = await call(app.server, key, 'POST', `/test-clocks/${clockId}/advance`, { frozenTime: to });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.body.status, 'advancing');
  assert.equal(res.body.targetTime, new Date(to).toISOString());
  await runDueJobsOnce(app.db.pool, app.services.jobs);
  const clock = await getOk(app.server, key, `/test-clocks/${clockId}`);
  assert.equal(clock.status, 'ready', JSON.stringify(clock));
  assert.equal(clock.frozenTime, new Date(to).toISOString());
  return clock;
}

/** A tenant of its own, on a test clock at `at`, with the fixture catalog and an account (Asia/Jakarta). */
export async function testClockTenant(app: TestApp, at: string) {
  const tenant = await app.services.access.createTenant({ name: `clock tenant ${at}` });
  const ctx: CommandContext = { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' }, correlationId: 'test' };
  const created = await call(app.server, tenant.apiKey, 'POST', '/test-clocks', { frozenTime: at, name: 'renewals' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { accountId } = await createAccount(app.services, ctx);
  return { key: tenant.apiKey, ctx, clockId: created.body.clockId as string, accountId };
}

/** A product instance with a new subscription of these fields: the subscription. */
export async function subscriptionWithDates(app: TestApp, ctx: CommandContext, accountId: string, subscription: Record<string, unknown>) {
  const created = await app.services.inventory.createProductInstance(ctx, { accountId, ...productSnapshot(), ...orderCause(), subscription });
  return created.subscription!;
}
