import { createServices } from '../src/app.ts';
import { ensureDemo } from '../src/demo/seed.ts';
import { systemClock } from '../src/platform/clock.ts';
import { openBenchDatabase } from './support.ts';
const db = await openBenchDatabase(10);
const services = createServices(db.pool, systemClock, { redisUrl: null });
const demo = await ensureDemo(services, 'tnr_bench-pricing-demo-key-0123456789');
const principal = (await services.access.authenticate('tnr_bench-pricing-demo-key-0123456789'))!;
const ctx = { tenantId: principal.tenantId, actor: { apiKeyId: principal.apiKeyId, role: 'admin' as const }, correlationId: 'p' };
const page = await services.catalog.listOfferings(ctx, { limit: 50, after: null }, { cache: false });
const ids = new Map(page.items.map((o) => [o.code, o.id]));
const o = (c: string) => ids.get(c)!;
const lines: any[] = [
  { action: 'ADD', offeringId: o('triple-play') },
  { action: 'ADD', offeringId: o('internet-100'), parentLineNumber: 1 },
  { action: 'ADD', offeringId: o('iptv'), parentLineNumber: 1, configuration: { channelPackage: 'premium' } },
  { action: 'ADD', offeringId: o('voip'), parentLineNumber: 1, usageEstimate: { calls: '750' } },
  { action: 'ADD', offeringId: o('router-rental'), parentLineNumber: 1 },
  { action: 'ADD', offeringId: o('business-fiber'), configuration: { bandwidthMbps: '2000' } },
  { action: 'ADD', offeringId: o('static-ip-29'), parentLineNumber: 6 },
  { action: 'ADD', offeringId: o('managed-router'), parentLineNumber: 6 },
  { action: 'ADD', offeringId: o('sla-gold'), parentLineNumber: 6 },
  { action: 'ADD', offeringId: o('internet-100') },
];
const ent = await services.customers.getAccount(ctx, demo.accountId);
const { accountId } = await services.customers.createAccount(ctx, { customerId: ent.customerId, name: 'p', currency: ent.currency, timeZone: ent.timeZone, segment: null });
const end = Date.now() + 6000; let n = 0;
const worker = async () => { while (Date.now() < end) { await services.quotes.previewPrice(ctx, { accountId, lines, promoCodes: ['WELCOME10'] }); n++; } };
await Promise.all([worker(), worker(), worker(), worker()]);
console.log('previews', n);
await services.catalog.cache.close();
await db.close();
process.exit(0);
