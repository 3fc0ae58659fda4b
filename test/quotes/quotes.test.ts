/** Quotes end to end through the HTTP API, on the demo tenant (catalog + PT Contoh Digital). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import type { CommandContext } from '../../src/platform/context.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_quotes-test-demo-key-0123456789';

describe('quotes and price previews', () => {
  let app: TestApp;
  let accountId: string;
  let ctx: CommandContext;
  const offering: Record<string, string> = {};
  let fiberId: string;
  let homeId: string;

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);

  before(async () => {
    app = await createTestApp();
    const demo = await ensureDemo(app.services, KEY);
    accountId = demo.accountId;
    // The home offerings (internet-100, triple-play, IPTV, VoIP, router rental) are sold to the
    // residential demo account only; the enterprise ones to PT Contoh Digital.
    homeId = demo.residentialAccountId;
    const principal = (await app.services.access.authenticate(KEY))!;
    ctx = { tenantId: principal.tenantId, actor: { apiKeyId: principal.apiKeyId, role: 'admin' }, correlationId: 'quotes-test' };
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    fiberId = base.body.products.find((p: any) => p.name === 'Business Fiber 1Gbps').productInstanceId;
  });
  after(() => app.close());

  test('a price preview itemizes one-time and recurring lines, and a promo code explains its discount', async () => {
    const plain = await api('POST', '/price-previews', { accountId: homeId, lines: [{ action: 'ADD', offeringId: offering['internet-100'] }] });
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    const monthly = plain.body.lines.find((l: any) => l.chargeCode === 'monthly-fee');
    const connection = plain.body.lines.find((l: any) => l.chargeCode === 'connection-fee');
    assert.equal(monthly.kind, 'recurring');
    assert.equal(monthly.listAmountMinor, '35000000');
    assert.equal(connection.kind, 'one_time');
    assert.equal(connection.listAmountMinor, '25000000');
    assert.equal(plain.body.currency, 'IDR');

    const promo = await api('POST', '/price-previews', { accountId: homeId, lines: [{ action: 'ADD', offeringId: offering['internet-100'] }], promoCodes: ['welcome10'] });
    assert.equal(promo.status, 200, JSON.stringify(promo.body));
    const discounted = promo.body.lines.find((l: any) => l.chargeCode === 'monthly-fee');
    const adjustment = discounted.adjustments.find((a: any) => a.ruleType === 'promo');
    assert.ok(adjustment, 'the promo is listed on the line');
    assert.equal(BigInt(discounted.finalAmountMinor), BigInt(discounted.listAmountMinor) + BigInt(adjustment.amountMinor));
    const decision = promo.body.rules.find((r: any) => r.ruleCode === 'welcome10');
    assert.equal(decision.applied, true);
    const sum = promo.body.lines.reduce((acc: bigint, l: any) => acc + BigInt(l.finalAmountMinor), 0n);
    assert.equal(String(sum), promo.body.totals.grandTotalMinor);
  });

  test('a bundle brings its included members and shares its discount', async () => {
    const res = await api('POST', `/accounts/${homeId}/quotes`, {
      lines: [
        { action: 'ADD', offeringId: offering['triple-play'] },
        { action: 'ADD', offeringId: offering['router-rental'], parentLineNumber: 1 },
      ],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const quote = res.body;
    const members = quote.lines.filter((l: any) => l.bundleLineId === quote.lines[0].lineId);
    const memberOfferings = members.map((l: any) => l.offeringId).sort();
    assert.deepEqual(memberOfferings, [offering['internet-100'], offering['iptv'], offering['voip'], offering['router-rental']].sort());
    const discountedLines = quote.price.lines.filter((l: any) => l.adjustments.some((a: any) => a.ruleType === 'bundle'));
    assert.ok(discountedLines.length >= 3, 'member lines carry the bundle discount');
    for (const line of discountedLines) {
      const bundle = line.adjustments.find((a: any) => a.ruleType === 'bundle');
      if (BigInt(line.listAmountMinor) > 0n) assert.ok(BigInt(bundle.amountMinor) < 0n);
    }
  });

  test('add-on rules hold: the fiber already has its one Static IP; SLA Gold may be added', async () => {
    const tooMany = await api('POST', `/accounts/${accountId}/quotes`, {
      lines: [{ action: 'ADD', offeringId: offering['static-ip-29'], parentProductInstanceId: fiberId }],
    });
    assert.equal(tooMany.status, 400, JSON.stringify(tooMany.body));
    assert.equal(tooMany.body.type, '/problems/validation-error');
    assert.match(tooMany.body.detail, /at most 1/);

    // Business Fiber is not one of Business Fiber's add-ons (and IPTV would be of another segment).
    const notAnAddOn = await api('POST', `/accounts/${accountId}/quotes`, {
      lines: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, parentProductInstanceId: fiberId }],
    });
    assert.equal(notAnAddOn.status, 400, JSON.stringify(notAnAddOn.body));
    assert.equal(notAnAddOn.body.type, '/problems/validation-error');
    assert.match(notAnAddOn.body.detail, /is not an add-on of the offering of product instance/);

    const newFiber = await api('POST', `/accounts/${accountId}/quotes`, {
      lines: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '2000' } },
        { action: 'ADD', offeringId: offering['sla-gold'], parentLineNumber: 1 },
      ],
    });
    assert.equal(newFiber.status, 201, JSON.stringify(newFiber.body));
    const codes = newFiber.body.price.lines.map((l: any) => l.chargeCode).sort();
    assert.deepEqual(codes, ['fiber-2g-monthly', 'installation', 'sla-gold-monthly']);
  });

  test('an invalid configuration is a 400 naming the line, the characteristic and the allowed values', async () => {
    const res = await api('POST', `/accounts/${accountId}/quotes`, {
      lines: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1500' } }],
    });
    assert.equal(res.status, 400);
    const error = res.body.errors.find((e: any) => e.field === '/lines/0/configuration/bandwidthMbps');
    assert.ok(error, JSON.stringify(res.body));
    assert.match(error.message, /1000/);
    assert.match(error.message, /2000/);
    const unknownPromo = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['internet-100'] }], promoCodes: ['NOPE123'] });
    assert.equal(unknownPromo.status, 400);
    assert.equal(unknownPromo.body.errors[0].field, '/promoCodes/0');
  });

  test('quote → accept → convert gives an order draft with the snapshot versions', async () => {
    const created = await api('POST', `/accounts/${accountId}/quotes`, {
      lines: [{ action: 'MODIFY', productInstanceId: fiberId, configuration: { bandwidthMbps: '2000' } }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const quote = created.body;
    assert.equal(quote.status, 'PRICED');
    assert.ok(quote.snapshot.snapshotId);
    const fiberInSnapshot = quote.snapshot.assetVersions.find((a: any) => a.productInstanceId === fiberId);
    assert.ok(fiberInSnapshot.version >= 1);
    assert.equal(quote.price.lines.find((l: any) => l.chargeCode === 'fiber-2g-monthly').listAmountMinor, '2500000000');

    const accepted = await api('POST', `/quotes/${quote.quoteId}/acceptance:apply`, { expectedVersion: 1 });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    assert.equal(accepted.body.status, 'ACCEPTED');
    const converted = await api('POST', `/quotes/${quote.quoteId}/conversion:apply`, { expectedVersion: 2 });
    assert.equal(converted.status, 200, JSON.stringify(converted.body));
    assert.equal(converted.body.quote.status, 'CONVERTED');
    const item = converted.body.order.items[0];
    assert.equal(item.action, 'MODIFY');
    assert.equal(item.productInstanceId, fiberId);
    assert.equal(item.expectedVersion, fiberInSnapshot.version);
    const again = await api('POST', `/quotes/${quote.quoteId}/conversion:apply`, { expectedVersion: 3 });
    assert.equal(again.status, 409);
    assert.equal(again.body.type, '/problems/illegal-transition');
  });

  test('converting a quote whose instances changed since the snapshot is 409 stale-quote naming them', async () => {
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    const router = base.body.products.find((p: any) => p.name === 'Managed Router');
    const created = await api('POST', `/accounts/${accountId}/quotes`, {
      lines: [
        { action: 'MODIFY', productInstanceId: router.productInstanceId, configuration: {} },
        { action: 'DISCONNECT', productInstanceId: fiberId },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const quoteId = created.body.quoteId;
    assert.equal((await api('POST', `/quotes/${quoteId}/acceptance:apply`, { expectedVersion: 1 })).status, 200);

    // Another change lands on the router after the snapshot.
    const suspended = await app.services.inventory.suspend(ctx, router.productInstanceId, { expectedVersion: router.version });
    assert.equal(suspended.version, router.version + 1);

    const converted = await api('POST', `/quotes/${quoteId}/conversion:apply`, { expectedVersion: 2 });
    assert.equal(converted.status, 409, JSON.stringify(converted.body));
    assert.equal(converted.body.type, '/problems/stale-quote');
    assert.deepEqual(converted.body.changedInstances.map((c: any) => c.productInstanceId), [router.productInstanceId]);
    assert.equal(converted.body.changedInstances[0].quotedVersion, router.version);
    assert.equal(converted.body.changedInstances[0].currentVersion, router.version + 1);
    assert.equal((await api('GET', `/quotes/${quoteId}`)).body.status, 'ACCEPTED', 'a refused conversion changes nothing');
    await app.services.inventory.resume(ctx, router.productInstanceId, { expectedVersion: router.version + 1 });
  });

  test('quotes expire after their validity; an expired quote cannot be accepted', async () => {
    const created = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['iptv'] }], validForHours: 1 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    app.clock.advance(2 * 3_600_000);
    assert.equal((await api('GET', `/quotes/${created.body.quoteId}`)).body.status, 'EXPIRED');
    const accepted = await api('POST', `/quotes/${created.body.quoteId}/acceptance:apply`, { expectedVersion: 1 });
    assert.equal(accepted.status, 409);
    assert.equal(accepted.body.type, '/problems/quote-expired');
    const [row] = await queryRows<{ status: string }>(app.db.pool, 'select status from quote where quote_id = $1', [created.body.quoteId]);
    assert.equal(row.status, 'EXPIRED');
    const tooLong = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['iptv'] }], validForHours: 100000 });
    assert.equal(tooLong.status, 400);
  });

  test('accepting redeems the promo code; a retired offering cannot be quoted', async () => {
    const created = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['internet-100'] }], promoCodes: ['WELCOME10'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api('POST', `/quotes/${created.body.quoteId}/acceptance:apply`, { expectedVersion: 1 })).status, 200);
    const redemptions = await queryRows(app.db.pool, 'select * from promo_redemption where quote_id = $1', [created.body.quoteId]);
    assert.equal(redemptions.length, 1);

    const retired = await api('POST', `/product-offerings/${offering['internet-100-prepaid-30d']}/retirement:apply`);
    assert.equal(retired.status, 200, JSON.stringify(retired.body));
    const quote = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['internet-100-prepaid-30d'] }] });
    assert.equal(quote.status, 400);
    assert.match(quote.body.detail, /retired/);
    const stillRenders = await api('GET', `/product-offerings/${offering['internet-100-prepaid-30d']}/versions/1`);
    assert.equal(stillRenders.status, 200);
  });

  test('viewers read quotes but cannot make them; unknown quotes are 404', async () => {
    const viewer = await app.services.access.createApiKey(ctx, { name: 'viewer', role: 'viewer' });
    const created = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['iptv'] }] });
    assert.equal((await call(app.server, viewer.apiKey, 'GET', `/quotes/${created.body.quoteId}`)).status, 200);
    assert.equal((await call(app.server, viewer.apiKey, 'POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['iptv'] }] })).status, 403);
    assert.equal((await api('GET', `/quotes/${randomUUID()}`)).status, 404);
    const list = await api('GET', `/accounts/${homeId}/quotes?limit=2`);
    assert.equal(list.status, 200);
    assert.equal(list.body.items.length, 2);
    assert.ok(list.body.nextCursor);
  });
});
