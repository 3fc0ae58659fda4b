/**
 * Price previews read published catalog documents from the in-process cache
 * (catalog/cache.ts PublishedDocuments): the next preview sees a newly published version, never
 * a draft, sees a retirement at once, and a tenant never gets another tenant's document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { publishedDocuments } from '../../src/catalog/service.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_preview-cache-demo-key-0123456789';
const OTHER_KEY = 'tnr_preview-cache-other-key-012345678';

describe('price previews and the published-document cache', () => {
  let app: TestApp;
  let homeId: string;
  let otherHomeId: string;
  let internet: any;

  // call() names GET and POST only; the draft edit is a PUT (as in test/catalog/lifecycle.test.ts).
  const api = (key: string, method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) => call(app.server, key, method as 'GET' | 'POST', url, body);
  const preview = (key: string, accountId: string, offeringId: string, offeringVersion?: number) =>
    api(key, 'POST', '/price-previews', { accountId, lines: [{ action: 'ADD', offeringId, ...(offeringVersion ? { offeringVersion } : {}) }] });
  /** The price lines without their ids (a preview's line ids are new each time). */
  const priceLines = (body: any) => body.lines.map(({ lineId: _l, itemId: _i, ...rest }: any) => rest);
  /** Home Internet with its monthly fee set: the demo's internet-100 document, under a new code. */
  const document = (code: string, monthlyMinor: string) => ({
    ...internet.body,
    code,
    priceLists: internet.body.priceLists.map((list: any) => ({
      ...list,
      charges: list.charges.map((c: any) => (c.code === 'monthly-fee' ? { ...c, amountMinor: monthlyMinor } : c)),
    })),
  });

  before(async () => {
    app = await createTestApp();
    homeId = (await ensureDemo(app.services, KEY)).residentialAccountId;
    otherHomeId = (await ensureDemo(app.services, OTHER_KEY)).residentialAccountId;
    const list = await api(KEY, 'GET', '/product-offerings?limit=200');
    internet = list.body.items.find((o: any) => o.body.code === 'internet-100');
  });
  after(() => app.close());

  test('a new published version is priced by the next preview; its draft never is; a retirement refuses at once', async () => {
    const created = await api(KEY, 'POST', '/product-offerings', document('internet-100-cache', '35000000'));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    assert.equal((await api(KEY, 'POST', `/product-offerings/${id}/versions/1/publication:apply`)).status, 200);

    const v1 = await preview(KEY, homeId, id);
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    const v1Lines = priceLines(v1.body);
    assert.deepEqual(v1Lines.map((l: any) => [l.offeringVersion, l.chargeCode, l.listAmountMinor, l.finalAmountMinor]).sort(), [
      [1, 'connection-fee', '25000000', '25000000'],
      [1, 'monthly-fee', '35000000', '35000000'],
    ]);
    const hits = publishedDocuments.stats.hits;
    const again = await preview(KEY, homeId, id);
    assert.deepEqual(priceLines(again.body), v1Lines);
    assert.ok(publishedDocuments.stats.hits > hits, 'the second preview read the document from the cache');

    // A draft of version 2: previews go on pricing version 1, and the draft itself is refused.
    const draft = await api(KEY, 'POST', `/product-offerings/${id}/versions`, document('internet-100-cache', '40000000'));
    assert.equal(draft.status, 201, JSON.stringify(draft.body));
    assert.deepEqual(priceLines((await preview(KEY, homeId, id)).body), v1Lines);
    const draftPreview = await preview(KEY, homeId, id, 2);
    assert.equal(draftPreview.status, 400, JSON.stringify(draftPreview.body));
    assert.deepEqual(draftPreview.body.errors, [{ field: '/lines/0/offeringId', message: 'offering internet-100-cache version 2 is draft, not sellable' }]);
    // The draft is edited before publication: what is published is what is priced.
    const edited = await api(KEY, 'PUT', `/product-offerings/${id}/versions/2`, document('internet-100-cache', '45000000'));
    assert.equal(edited.status, 200, JSON.stringify(edited.body));

    assert.equal((await api(KEY, 'POST', `/product-offerings/${id}/versions/2/publication:apply`)).status, 200);
    const v2 = await preview(KEY, homeId, id);
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    const v2Lines = priceLines(v2.body);
    assert.deepEqual(v2Lines, v1Lines.map((l: any) => ({
      ...l,
      offeringVersion: 2,
      ...(l.chargeCode === 'monthly-fee' ? { listAmountMinor: '45000000', finalAmountMinor: '45000000' } : {}),
    })));
    assert.equal(v2.body.totals.grandTotalMinor !== v1.body.totals.grandTotalMinor, true);
    // The same as a preview that reads every document from PostgreSQL.
    publishedDocuments.clear();
    const uncached = await preview(KEY, homeId, id);
    assert.deepEqual({ ...uncached.body, lines: priceLines(uncached.body) }, { ...v2.body, lines: v2Lines });

    // Version 1's document is still cached; its retirement (by the publication) is read fresh.
    const old = await preview(KEY, homeId, id, 1);
    assert.equal(old.status, 400, JSON.stringify(old.body));
    assert.deepEqual(old.body.errors, [{ field: '/lines/0/offeringId', message: 'offering internet-100-cache version 1 is retired, not sellable' }]);
    assert.equal((await api(KEY, 'POST', `/product-offerings/${id}/retirement:apply`)).status, 200);
    const retired = await preview(KEY, homeId, id);
    assert.equal(retired.status, 400, JSON.stringify(retired.body));
    assert.deepEqual(retired.body.errors, [{ field: '/lines/0/offeringId', message: 'offering internet-100-cache version 2 is retired, not sellable' }]);
  });

  test('a catalog row written outside the catalog commands moves the revision: the next preview reads it', async () => {
    // Previews keep the lines' offering rows while the tenant's catalog revision stays (migration
    // 0014); a write that no command of this process made (another process, a script) must be seen.
    const created = await api(KEY, 'POST', '/product-offerings', document('internet-100-revision', '36000000'));
    const id = created.body.id;
    assert.equal((await api(KEY, 'POST', `/product-offerings/${id}/versions/1/publication:apply`)).status, 200);
    const revision = async () => Number((await queryRows<any>(app.db.pool, 'select revision from catalog_revision where tenant_id = $1', [await tenantOf(id)]))[0]!.revision);
    const before = await revision();
    for (let i = 0; i < 2; i++) assert.equal((await preview(KEY, homeId, id)).status, 200);
    assert.equal(await revision(), before, 'previews do not move it');
    await queryRows(app.db.pool, `update product_offering set status = 'retired', retired_at = now() where product_offering_id = $1`, [id]);
    assert.equal(await revision(), before + 1);
    const retired = await preview(KEY, homeId, id);
    assert.equal(retired.status, 400, JSON.stringify(retired.body));
    assert.deepEqual(retired.body.errors, [{ field: '/lines/0/offeringId', message: 'offering internet-100-revision version 1 is retired, not sellable' }]);
  });

  const tenantOf = async (offeringId: string) => (await queryRows<any>(app.db.pool, 'select tenant_id from product_offering where product_offering_id = $1 limit 1', [offeringId]))[0]!.tenant_id;

  test("a tenant never gets another tenant's cached document", async () => {
    const mine = await preview(KEY, homeId, internet.id);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    // Cached now for the first tenant; the second one does not see the offering at all.
    for (const version of [undefined, 1]) {
      const theirs = await preview(OTHER_KEY, otherHomeId, internet.id, version);
      assert.equal(theirs.status, 400, JSON.stringify(theirs.body));
      assert.deepEqual(theirs.body.errors, [{ field: '/lines/0/offeringId', message: `offering ${internet.id}${version ? ' version 1' : ''} does not exist` }]);
    }
    // Its own internet-100 (same code, its own id) prices from its own document.
    const otherList = await api(OTHER_KEY, 'GET', '/product-offerings?limit=200');
    const otherInternet = otherList.body.items.find((o: any) => o.body.code === 'internet-100');
    assert.notEqual(otherInternet.id, internet.id);
    const own = await preview(OTHER_KEY, otherHomeId, otherInternet.id);
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.deepEqual(priceLines(own.body).map((l: any) => l.offeringId), priceLines(own.body).map(() => otherInternet.id));
    assert.deepEqual(priceLines(own.body).map(({ offeringId: _o, ...l }: any) => l), priceLines(mine.body).map(({ offeringId: _o, ...l }: any) => l));
  });
});
