/**
 * Relationship rules through HTTP (seed 000 §8): "source TYPE target" within one account, no
 * self links, one PARENT_OF parent, no containment cycles, no duplicates; an ended
 * relationship leaves the current installed base but stays in the past ones.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { queryOne } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { catalogRefs, ensureFixtureCatalog, priceSnapshot } from '../helpers/fixtures.ts';

const MINUTE = 60_000;

describe('product instance relationships through HTTP', () => {
  let app: TestApp;
  let accountId: string;
  let otherAccountId: string;

  const send = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, app.adminKey, method, url, body);
  const ok = async (method: 'GET' | 'POST', url: string, body?: unknown, status = method === 'GET' ? 200 : 201) => {
    const res = await send(method, url, body);
    assert.equal(res.status, status, `${method} ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const relate = (sourceProductInstanceId: string, type: string, targetProductInstanceId: string) =>
    send('POST', '/internal/assets/relationships', { sourceProductInstanceId, type, targetProductInstanceId, orderId: randomUUID(), orderItemId: randomUUID() });
  const installedBase = (asOf?: string) => ok('GET', `/accounts/${accountId}/installed-base${asOf ? `?asOf=${encodeURIComponent(asOf)}` : ''}`);
  const linksOf = (ib: any, id: string) =>
    ib.products.find((p: any) => p.productInstanceId === id).relationships.map((r: any) => [r.type, r.targetProductInstanceId]);

  async function product(name: string, account = accountId): Promise<string> {
    const body = await ok('POST', '/internal/assets/product-instances', {
      accountId: account,
      ...catalogRefs(),
      name,
      catalogSnapshot: {},
      configuration: {},
      price: priceSnapshot(),
    });
    return body.productInstance.productInstanceId;
  }

  async function counts() {
    return queryOne<{ relationships: number; outbox: number }>(app.db.pool, `
      select (select count(*)::int from product_instance_relationship) as relationships,
             (select count(*)::int from outbox_event) as outbox`);
  }

  function assertProblem(res: { status: number; body: any; headers: Record<string, unknown> }, status: number, type: string) {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.body.type, `/problems/${type}`);
  }

  before(async () => {
    app = await createTestApp();
    await ensureFixtureCatalog(app.services, app.ctx);
    const customer = await ok('POST', '/customers', { name: 'PT Relasi' });
    accountId = (await ok('POST', '/accounts', { customerId: customer.customerId, name: 'Main', currency: 'IDR', timeZone: 'Asia/Jakarta' })).accountId;
    otherAccountId = (await ok('POST', '/accounts', { customerId: customer.customerId, name: 'Branch', currency: 'IDR', timeZone: 'Asia/Jakarta' })).accountId;
  });
  after(() => app.close());

  test('a relationship is created as "source TYPE target" and shows on the source in the installed base', async () => {
    const fiber = await product('Business Fiber 1Gbps');
    const ip = await product('Static IP /29');
    const res = await relate(fiber, 'PARENT_OF', ip);
    assert.equal(res.status, 201);
    assert.equal(res.body.sourceProductInstanceId, fiber);
    assert.equal(res.body.targetProductInstanceId, ip);
    assert.equal(res.body.type, 'PARENT_OF');
    assert.equal(res.body.validTo, null);
    const ib = await installedBase();
    assert.deepEqual(linksOf(ib, fiber), [['PARENT_OF', ip]]);
    assert.deepEqual(linksOf(ib, ip), []);
    const detail = await ok('GET', `/product-instances/${ip}`);
    assert.equal(detail.relationships.length, 1, 'both ends see the relationship');
  });

  test('a self link is refused with 422 invalid-relationship', async () => {
    const a = await product('Self');
    const before = await counts();
    const res = await relate(a, 'DEPENDS_ON', a);
    assertProblem(res, 422, 'invalid-relationship');
    assert.equal(res.body.rule, 'self-link');
    assert.deepEqual(await counts(), before);
  });

  test('a second PARENT_OF parent is refused with 422, naming the existing parent', async () => {
    const parent = await product('Parent 1');
    const other = await product('Parent 2');
    const child = await product('Child');
    assert.equal((await relate(parent, 'PARENT_OF', child)).status, 201);
    const before = await counts();
    const res = await relate(other, 'PARENT_OF', child);
    assertProblem(res, 422, 'invalid-relationship');
    assert.equal(res.body.rule, 'one-parent');
    assert.equal(res.body.existingParent, parent);
    assert.deepEqual(await counts(), before);
  });

  test('a PARENT_OF cycle A→B→C→A is refused with 422 naming the cycle', async () => {
    const a = await product('A');
    const b = await product('B');
    const c = await product('C');
    assert.equal((await relate(a, 'PARENT_OF', b)).status, 201);
    assert.equal((await relate(b, 'PARENT_OF', c)).status, 201);
    const before = await counts();
    const res = await relate(c, 'PARENT_OF', a);
    assertProblem(res, 422, 'invalid-relationship');
    assert.equal(res.body.rule, 'no-cycle');
    assert.deepEqual(new Set(res.body.path), new Set([a, b, c]));
    for (const id of [a, b, c]) assert.ok(res.body.detail.includes(id), `the detail names ${id}`);
    assert.deepEqual(await counts(), before);

    // ADDON_OF is containment too ("a ADDON_OF c" makes c the parent of a).
    assertProblem(await relate(a, 'ADDON_OF', c), 422, 'invalid-relationship');
    // A non-containment link may point back up.
    assert.equal((await relate(c, 'DEPENDS_ON', a)).status, 201);
  });

  test('a duplicate is refused with 409 duplicate-relationship', async () => {
    const app1 = await product('App');
    const db = await product('Database');
    assert.equal((await relate(app1, 'DEPENDS_ON', db)).status, 201);
    const before = await counts();
    assertProblem(await relate(app1, 'DEPENDS_ON', db), 409, 'duplicate-relationship');
    assert.deepEqual(await counts(), before);
    // Another type between the same two is a different relationship.
    assert.equal((await relate(app1, 'REQUIRES', db)).status, 201);
  });

  test('a relationship across two accounts is refused with 422', async () => {
    const here = await product('Here');
    const there = await product('There', otherAccountId);
    const before = await counts();
    const res = await relate(here, 'BUNDLES', there);
    assertProblem(res, 422, 'invalid-relationship');
    assert.equal(res.body.rule, 'cross-account');
    const reverse = await relate(there, 'BUNDLES', here);
    assertProblem(reverse, 422, 'invalid-relationship');
    assert.deepEqual(await counts(), before);
    // Also when given at creation time.
    const created = await send('POST', '/internal/assets/product-instances', {
      accountId: otherAccountId, ...catalogRefs(), name: 'Add-on', catalogSnapshot: {}, configuration: {}, price: priceSnapshot(),
      relationships: [{ type: 'ADDON_OF', targetProductInstanceId: here }],
    });
    assertProblem(created, 422, 'invalid-relationship');
    assert.deepEqual(await counts(), before, 'the product instance was not created either');
  });

  test('an unknown product or relationship is 404', async () => {
    const a = await product('Known');
    assertProblem(await relate(a, 'DEPENDS_ON', randomUUID()), 404, 'not-found');
    assertProblem(await relate(randomUUID(), 'DEPENDS_ON', a), 404, 'not-found');
    assertProblem(await send('POST', `/internal/assets/relationships/${randomUUID()}/end:apply`, {}), 404, 'not-found');
  });

  test('end:apply ends a relationship: gone from the current installed base, still there as of before', async () => {
    const router = await product('Managed Router');
    const sla = await product('SLA Gold');
    app.clock.advance(MINUTE);
    const created = await relate(sla, 'ADDON_OF', router);
    assert.equal(created.status, 201);
    const relationshipId = created.body.relationshipId;
    app.clock.advance(MINUTE);
    const whileRelated = app.clock.now().toISOString();
    assert.deepEqual(linksOf(await installedBase(), sla), [['ADDON_OF', router]]);

    app.clock.advance(MINUTE);
    const ended = await send('POST', `/internal/assets/relationships/${relationshipId}/end:apply`, { orderId: randomUUID(), orderItemId: randomUUID() });
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    assert.equal(ended.body.relationshipId, relationshipId);
    assert.equal(ended.body.validTo, app.clock.now().toISOString());
    assert.equal(ended.body.endedAt, app.clock.now().toISOString());

    assert.deepEqual(linksOf(await installedBase(), sla), []);
    assert.deepEqual(linksOf(await installedBase(whileRelated), sla), [['ADDON_OF', router]]);
    const beforeCreated = new Date(Date.parse(whileRelated) - 2 * MINUTE).toISOString();
    assert.deepEqual(linksOf(await installedBase(beforeCreated), sla), []);
    assert.equal((await ok('GET', `/product-instances/${sla}`)).relationships.length, 0);

    // Ending it twice is an illegal transition; it can be related again afresh.
    assertProblem(await send('POST', `/internal/assets/relationships/${relationshipId}/end:apply`, {}), 409, 'illegal-transition');
    app.clock.advance(MINUTE);
    const again = await relate(sla, 'ADDON_OF', router);
    assert.equal(again.status, 201);
    assert.notEqual(again.body.relationshipId, relationshipId);
    assert.deepEqual(linksOf(await installedBase(), sla), [['ADDON_OF', router]]);
  });

  test('validTo before validFrom is a 400, also when written with another UTC offset', async () => {
    const a = await product('X');
    const b = await product('Y');
    const created = await relate(a, 'DEPENDS_ON', b);
    // One minute before validFrom, written in Jakarta time: later than validFrom as a string.
    const jakarta = new Date(Date.parse(created.body.validFrom) - MINUTE + 7 * 60 * MINUTE).toISOString().replace('.000Z', '+07:00');
    assert.ok(jakarta > created.body.validFrom);
    const res = await send('POST', `/internal/assets/relationships/${created.body.relationshipId}/end:apply`, { validTo: jakarta });
    assertProblem(res, 400, 'validation-error');
    assert.equal(res.body.errors[0].field, '/validTo');
  });

  test('the relationship commands left the database consistent', async () => {
    const report = await ok('GET', '/admin/consistency-check');
    assert.equal(report.healthy, true, JSON.stringify(report.findings));
  });
});
