import pg from 'pg';
import { openBenchDatabase } from '../bench/support.ts';
import { createServices } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { DEFAULT_SETTINGS } from '../src/fulfillment/orchestrator.ts';
import { loadDemoCatalog } from '../src/demo/catalog.ts';
import { demoId } from '../src/demo/seed.ts';

const db = await openBenchDatabase(12);
const services = createServices(db.pool, systemClock, { fulfillment: { ...DEFAULT_SETTINGS, routing: { defaultProvisioner: 'internal', maxAttempts: 5 } }, redisUrl: null });
const tenant = await services.access.createTenant({ name: 't' });
const ctx = { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' as const }, correlationId: 'c' };
const app = { services, db, close: () => db.close() };
const drainFulfillment = async (a: any) => { while ((await a.services.orchestrator.runOnce('w')) > 0); };
const demo = await loadDemoCatalog(app.services, ctx, (name) => demoId(`${ctx.tenantId}:${name}`));
const customer = await app.services.customers.createCustomer(ctx, { name: 'c' });
const counts = new Map<string, number>();
let counting = false;
const proto = pg.Client.prototype as any;
const original = proto.query;
proto.query = function (...args: any[]) {
  if (counting) { const t = typeof args[0] === 'string' ? args[0] : args[0]?.text ?? '?'; const k = t.replace(/\s+/g, ' ').slice(0, 110); counts.set(k, (counts.get(k) ?? 0) + 1); }
  return original.apply(this, args);
};
for (let i = 0; i < 3; i++) {
  const account = await app.services.customers.createAccount(ctx, { customerId: customer.customerId, name: `a${i}`, currency: 'IDR', timeZone: 'Asia/Jakarta' });
  const items = [
    { action: 'ADD', offeringId: demo.offerings['business-fiber'].id, configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
    { action: 'ADD', offeringId: demo.offerings['static-ip-29'].id, parentItemNumber: 1 },
    { action: 'ADD', offeringId: demo.offerings['sla-gold'].id, parentItemNumber: 1 },
  ] as any;
  const order = await app.services.orders.submitOrder(ctx, { accountId: account.accountId, items });
  if (i === 2) counting = true;
  await drainFulfillment(app);
  counting = false;
  const o = await app.db.pool.query('select status from product_order where order_id=$1', [order.orderId]);
  console.log('order', o.rows[0].status);
}
let total = 0;
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) { total += v; console.log(String(v).padStart(4), k); }
console.log('total', total);
await app.close();
