import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inTenantTransaction, queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createPublished, offering, publishedProductSpec, uniqueCode } from './helpers.ts';

describe('catalog lifecycle over HTTP', () => {
  let app: TestApp;
  let spec: { id: string; version: number };
  const post = (url: string, body?: unknown) => call(app.server, app.adminKey, 'POST', url, body);
  const get = (url: string) => call(app.server, app.adminKey, 'GET', url);

  before(async () => {
    app = await createTestApp();
    const published = await publishedProductSpec(app.server, app.adminKey);
    spec = { id: published.id, version: published.version };
  });
  after(() => app.close());

  test('create makes version 1 a draft; publish makes it active, current and sellable', async () => {
    const body = offering(spec);
    const created = await post('/product-offerings', body);
    assert.equal(created.status, 201);
    assert.equal(created.body.version, 1);
    assert.equal(created.body.status, 'draft');
    assert.equal(created.body.sellable, false);
    assert.equal(created.body.publishedAt, null);
    assert.equal(created.body.draftVersion, 1);
    assert.equal(created.body.code, body.code);
    // The defaults of the schema are filled in and stored.
    assert.deepEqual(created.body.body.addOns, []);
    assert.equal(created.body.body.sellable, true);

    const current = await get(`/product-offerings/${created.body.id}`);
    assert.equal(current.status, 200);
    assert.equal(current.body.status, 'draft', 'a never-published offering shows its draft');

    app.clock.advance(60_000);
    const published = await post(`/product-offerings/${created.body.id}/versions/1/publication:apply`);
    assert.equal(published.status, 200);
    assert.equal(published.body.status, 'active');
    assert.equal(published.body.sellable, true);
    assert.equal(published.body.publishedAt, app.clock.now().toISOString());
    assert.equal(published.body.draftVersion, null);

    const again = await post(`/product-offerings/${created.body.id}/versions/1/publication:apply`);
    assert.equal(again.status, 409);
    assert.equal(again.body.type, '/problems/illegal-transition');
    assert.deepEqual(again.body.allowedCommands, ['retirement:apply']);
  });

  test('a new version is a draft until published; then it is current and the old one is retired but readable', async () => {
    const v1 = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    const id = v1.id;

    const changed = { ...v1.body, name: 'Business Fiber (2026 prices)' };
    changed.priceLists[0].charges[0].amountMinor = '1400000000';
    const v2 = await post(`/product-offerings/${id}/versions`, changed);
    assert.equal(v2.status, 201, JSON.stringify(v2.body));
    assert.equal(v2.body.version, 2);
    assert.equal(v2.body.status, 'draft');

    // Only one draft at a time.
    const third = await post(`/product-offerings/${id}/versions`, changed);
    assert.equal(third.status, 409);
    assert.equal(third.body.type, '/problems/draft-exists');
    assert.equal(third.body.draftVersion, 2);

    // While v2 is a draft, v1 is current and sold; the current view names the draft.
    const current = await get(`/product-offerings/${id}`);
    assert.equal(current.body.version, 1);
    assert.equal(current.body.sellable, true);
    assert.equal(current.body.draftVersion, 2);

    // The draft can be edited in place; a published version cannot.
    const edited = await call(app.server, app.adminKey, 'PUT' as any, `/product-offerings/${id}/versions/2`, { ...changed, description: 'edited draft' });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.body.description, 'edited draft');
    const editPublished = await call(app.server, app.adminKey, 'PUT' as any, `/product-offerings/${id}/versions/1`, changed);
    assert.equal(editPublished.status, 409);
    assert.equal(editPublished.body.type, '/problems/illegal-transition');

    app.clock.advance(60_000);
    const published = await post(`/product-offerings/${id}/versions/2/publication:apply`);
    assert.equal(published.status, 200);
    assert.equal(published.body.status, 'active');

    const now = await get(`/product-offerings/${id}`);
    assert.equal(now.body.version, 2);
    assert.equal(now.body.body.name, 'Business Fiber (2026 prices)');

    const old = await get(`/product-offerings/${id}/versions/1`);
    assert.equal(old.status, 200);
    assert.equal(old.body.status, 'retired', 'a superseded version is no longer sold');
    assert.equal(old.body.sellable, false);
    assert.equal(old.body.retiredAt, app.clock.now().toISOString());
    assert.equal(old.body.body.priceLists[0].charges[0].amountMinor, '1500000000', 'the old version reads exactly as published');

    const versions = await get(`/product-offerings/${id}/versions`);
    assert.deepEqual(versions.body.items.map((v: any) => [v.version, v.status]), [[1, 'retired'], [2, 'active']]);
    const paged = await get(`/product-offerings/${id}/versions?limit=1`);
    assert.equal(paged.body.items.length, 1);
    const next = await get(`/product-offerings/${id}/versions?limit=1&cursor=${paged.body.nextCursor}`);
    assert.equal(next.body.items[0].version, 2);
    assert.equal(next.body.nextCursor, null);
  });

  test('retirement: nothing is sold, every version still renders, and nothing more can happen to it', async () => {
    const v1 = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    const id = v1.id;
    assert.equal((await post(`/product-offerings/${id}/versions`, v1.body)).status, 201);
    app.clock.advance(1000);
    const retired = await post(`/product-offerings/${id}/retirement:apply`);
    assert.equal(retired.status, 200);
    assert.equal(retired.body.version, 1);
    assert.equal(retired.body.status, 'retired');
    assert.equal(retired.body.sellable, false);

    for (const version of [1, 2]) {
      const res = await get(`/product-offerings/${id}/versions/${version}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.status, 'retired');
      assert.equal(res.body.sellable, false);
    }
    assert.equal((await get(`/product-offerings/${id}/versions/2`)).body.publishedAt, null, 'the abandoned draft was never published');

    const twice = await post(`/product-offerings/${id}/retirement:apply`);
    assert.equal(twice.status, 409);
    assert.equal(twice.body.type, '/problems/illegal-transition');
    const newVersion = await post(`/product-offerings/${id}/versions`, v1.body);
    assert.equal(newVersion.status, 409);
    const publishDraft = await post(`/product-offerings/${id}/versions/2/publication:apply`);
    assert.equal(publishDraft.status, 409);

    const listed = await get('/product-offerings?sellable=true&limit=200');
    assert.ok(!listed.body.items.some((o: any) => o.id === id));
    const retiredList = await get('/product-offerings?status=retired&limit=200');
    assert.ok(retiredList.body.items.some((o: any) => o.id === id));
  });

  test('a specification in use by an active offering cannot be retired; an add-on in use neither', async () => {
    const addOn = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec, { name: 'Static IP' }));
    const main = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec, { addOns: [{ offeringId: addOn.id, maxCount: 2 }] }));
    assert.equal(main.body.addOns[0].minCount, 0);

    const specRetire = await post(`/product-specifications/${spec.id}/retirement:apply`);
    assert.equal(specRetire.status, 422);
    assert.equal(specRetire.body.type, '/problems/business-rule-violation');
    assert.ok(specRetire.body.usedBy.some((u: any) => u.id === main.id));

    const addOnRetire = await post(`/product-offerings/${addOn.id}/retirement:apply`);
    assert.equal(addOnRetire.status, 422);
    assert.deepEqual(addOnRetire.body.usedBy.map((u: any) => u.id), [main.id]);

    assert.equal((await post(`/product-offerings/${main.id}/retirement:apply`)).status, 200);
    assert.equal((await post(`/product-offerings/${addOn.id}/retirement:apply`)).status, 200);
  });

  test('codes: unique per tenant, fixed per id', async () => {
    const first = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    const clash = await post('/product-offerings', offering(spec, { code: first.code }));
    assert.equal(clash.status, 409);
    assert.equal(clash.body.type, '/problems/duplicate-code');

    const renamed = await post(`/product-offerings/${first.id}/versions`, { ...first.body, code: uniqueCode('renamed') });
    assert.equal(renamed.status, 400);
    assert.equal(renamed.body.errors[0].field, '/code');

    // Another tenant may use the same code.
    const other = await app.services.access.createTenant({ name: 'Other ISP' });
    const otherSpec = await publishedProductSpec(app.server, other.apiKey);
    const same = await call(app.server, other.apiKey, 'POST', '/product-offerings', offering({ id: otherSpec.id, version: 1 }, { code: first.code }));
    assert.equal(same.status, 201);
    // …and cannot see this tenant's offering.
    assert.equal((await call(app.server, other.apiKey, 'GET', `/product-offerings/${first.id}`)).status, 404);
  });

  test('unknown ids and versions are 404 problems', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    assert.equal((await get(`/product-offerings/${missing}`)).body.type, '/problems/not-found');
    assert.equal((await get(`/product-offerings/${missing}/versions/1`)).status, 404);
    assert.equal((await get(`/product-offerings/${spec.id}/versions/1`)).status, 404, 'a specification id is not an offering id');
    assert.equal((await get(`/product-specifications/${spec.id}/versions/9`)).status, 404);
    assert.equal((await post(`/product-offerings/${missing}/versions/1/publication:apply`)).status, 404);
    assert.equal((await post(`/product-offerings/${missing}/retirement:apply`)).status, 404);
    assert.equal((await get('/product-offerings/not-a-uuid')).status, 400);
    assert.equal((await get('/product-offerings?cursor=garbage')).status, 400);
    // Forged cursors are refused before SQL sees them, never a 500.
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    assert.equal((await get(`/product-offerings?cursor=${forge({ code: 'a\u0000b', id: missing })}`)).status, 400);
    assert.equal((await get(`/product-specifications?cursor=${forge({ code: 'x', id: 'nope' })}`)).status, 400);
    assert.equal((await get(`/product-offerings/${spec.id}/versions?cursor=${forge({ version: 1e15 })}`)).status, 400);
    assert.equal((await get(`/price-rules?cursor=${forge({ priority: 1e12, code: 'x' })}`)).status, 400);
  });

  test('roles: viewer, operator and integration read; only admin creates, publishes and retires', async () => {
    const draft = await post('/product-offerings', offering(spec));
    for (const role of ['viewer', 'operator', 'integration'] as const) {
      const key = (await app.services.access.createApiKey(app.ctx, { name: role, role })).apiKey;
      assert.equal((await call(app.server, key, 'GET', '/product-offerings')).status, 200);
      assert.equal((await call(app.server, key, 'GET', `/product-offerings/${draft.body.id}/versions/1`)).status, 200);
      const publish = await call(app.server, key, 'POST', `/product-offerings/${draft.body.id}/versions/1/publication:apply`);
      assert.equal(publish.status, 403, role);
      assert.equal(publish.body.type, '/problems/forbidden');
      assert.equal((await call(app.server, key, 'POST', '/product-offerings', offering(spec))).status, 403);
      assert.equal((await call(app.server, key, 'POST', `/product-offerings/${draft.body.id}/retirement:apply`)).status, 403);
      assert.equal((await call(app.server, key, 'POST', '/price-rules', {})).status, 403);
    }
    assert.equal((await get(`/product-offerings/${draft.body.id}`)).body.status, 'draft', 'nothing was published');
  });

  test('ListProducts: filters on category, segment, status and sellable; keyset pages in code order', async () => {
    const category = uniqueCode('cat');
    const codes = ['a', 'b', 'c', 'd', 'e'].map((x) => `${category}-${x}`);
    for (const [i, code] of codes.entries()) {
      const body = offering(spec, { code, category, segment: i % 2 === 0 ? 'enterprise' : 'business' });
      if (i === 4) await post('/product-offerings', body); // stays a draft
      else await createPublished(app.server, app.adminKey, '/product-offerings', body);
    }
    const all = await get(`/product-offerings?category=${category}`);
    assert.deepEqual(all.body.items.map((o: any) => o.code), codes);
    const sellable = await get(`/product-offerings?category=${category}&sellable=true`);
    assert.deepEqual(sellable.body.items.map((o: any) => o.code), codes.slice(0, 4));
    const notSellable = await get(`/product-offerings?category=${category}&sellable=false`);
    assert.deepEqual(notSellable.body.items.map((o: any) => o.code), [codes[4]]);
    const business = await get(`/product-offerings?category=${category}&segment=business`);
    assert.deepEqual(business.body.items.map((o: any) => o.code), [codes[1], codes[3]]);
    const drafts = await get(`/product-offerings?category=${category}&status=draft`);
    assert.deepEqual(drafts.body.items.map((o: any) => o.code), [codes[4]]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await get(`/product-offerings?category=${category}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.body.items.length <= 2);
      seen.push(...page.body.items.map((o: any) => o.code));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, codes);
  });

  test('specifications follow the same lifecycle; a spec must be published before an offering that uses it', async () => {
    const draftSpec = await post('/product-specifications', { code: uniqueCode('spec'), name: 'Draft spec', characteristics: [{ name: 'bandwidthMbps', valueType: 'enum', values: ['1000', '2000'] }] });
    assert.equal(draftSpec.status, 201);
    const offer = await post('/product-offerings', offering({ id: draftSpec.body.id, version: 1 }));
    assert.equal(offer.status, 201, 'a draft offering may name a draft specification');
    const early = await post(`/product-offerings/${offer.body.id}/versions/1/publication:apply`);
    assert.equal(early.status, 400);
    assert.equal(early.body.errors[0].field, '/productSpecification');
    assert.match(early.body.errors[0].message, /draft; publish it first/);

    assert.equal((await post(`/product-specifications/${draftSpec.body.id}/versions/1/publication:apply`)).status, 200);
    assert.equal((await post(`/product-offerings/${offer.body.id}/versions/1/publication:apply`)).status, 200);

    const list = await get('/product-specifications?status=active&limit=200');
    assert.ok(list.body.items.some((s: any) => s.id === draftSpec.body.id));
    assert.equal(list.body.items[0].sellable, undefined, 'specifications are not sold');
    const services = await get('/service-specifications');
    assert.equal(services.status, 200);
    assert.ok(services.body.items.length >= 1);
    assert.equal((await get('/resource-specifications?status=retired')).body.items.length, 0);
  });

  test('every catalog change is in the audit log', async () => {
    const v1 = await createPublished(app.server, app.adminKey, '/product-offerings', offering(spec));
    await post(`/product-offerings/${v1.id}/retirement:apply`);
    const actions = await inTenantTransaction(app.db.pool, app.tenantId, (tx) =>
      queryRows<{ action: string }>(tx, `select action from audit_log where target_id = $1 order by recorded_at, action`, [v1.id]));
    assert.deepEqual(actions.map((a) => a.action).sort(), ['product-offering.create', 'product-offering.publish', 'product-offering.retire']);
  });

  test('POSTs are idempotent under an Idempotency-Key', async () => {
    const body = offering(spec);
    const first = await call(app.server, app.adminKey, 'POST', '/product-offerings', body, { 'idempotency-key': 'create-offering-1' });
    const second = await call(app.server, app.adminKey, 'POST', '/product-offerings', body, { 'idempotency-key': 'create-offering-1' });
    assert.equal(second.status, 201);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(second.body.id, first.body.id);
  });
});
