/**
 * The ListProducts cache: answers are cached per tenant and query, a catalog change is visible
 * on the next read (in-process and in Redis, across processes), and Redis is never needed:
 * when it is down, reads go to PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.ts';
import { createServices, type Services } from '../../src/app.ts';
import { CATALOG_CACHE_TTL_MS, MemoryCatalogCache, PublishedDocuments } from '../../src/catalog/cache.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { inTenantTransaction } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createPublished, offering, publishedProductSpec, uniqueCode } from './helpers.ts';

const REDIS_URL = process.env.REDIS_URL;

/** A second "process" on the same database: its own services (and cache), its own server. */
async function processOn(app: TestApp, redisUrl: string | null): Promise<{ services: Services; server: FastifyInstance }> {
  const services = createServices(app.db.pool, app.clock, { redisUrl });
  return { services, server: await buildServer(services) };
}

describe('catalog cache', () => {
  let app: TestApp;
  let spec: { id: string; version: number };
  const opened: FastifyInstance[] = [];

  before(async () => {
    app = await createTestApp();
    const s = await publishedProductSpec(app.server, app.adminKey);
    spec = { id: s.id, version: s.version };
  });
  after(async () => {
    for (const server of opened) await server.close();
    await app.close();
  });

  /** A raw insert of a draft, behind the service's back: only a fresh read can see it. */
  const sneakDraft = (category: string) => {
    const body = { ...offering(spec, { category }), availabilityZones: [], sellable: true, addOns: [] };
    return inTenantTransaction(app.db.pool, app.tenantId, (tx) => tx.query(
      `insert into product_offering (tenant_id, product_offering_id, version, code, status, body, category, segment, sellable, is_bundle, created_at)
       values ($1, gen_random_uuid(), 1, $2, 'draft', $3, $4, 'any', true, false, $5)`,
      [app.tenantId, body.code, body, category, app.clock.now().toISOString()]));
  };

  async function checkPublishVisibleOnNextRead(a: { services: Services; server: FastifyInstance }, b: { services: Services; server: FastifyInstance }) {
    const category = uniqueCode('cached');
    const list = (p: { server: FastifyInstance }) => call(p.server, app.adminKey, 'GET', `/product-offerings?category=${category}`);
    const first = await createPublished(a.server, app.adminKey, '/product-offerings', offering(spec, { category }));

    assert.deepEqual((await list(a)).body.items.map((o: any) => o.id), [first.id]);
    const hits = b.services.catalog.cache.stats.hits;
    assert.deepEqual((await list(b)).body.items.map((o: any) => o.id), [first.id]);
    assert.deepEqual((await list(b)).body.items.map((o: any) => o.id), [first.id]);
    assert.ok(b.services.catalog.cache.stats.hits > hits, 'the repeated read was a cache hit');

    // Proof that answers come from the cache: a row written behind the service's back is not seen…
    await sneakDraft(category);
    assert.equal((await list(b)).body.items.length, 1);

    // …until a catalog change through the service: then the next read is fresh, in every process.
    const second = await createPublished(a.server, app.adminKey, '/product-offerings', offering(spec, { category }));
    const afterPublish = (await list(b)).body.items;
    assert.equal(afterPublish.length, 3);
    assert.ok(afterPublish.some((o: any) => o.id === second.id && o.status === 'active'));

    const retired = await call(a.server, app.adminKey, 'POST', `/product-offerings/${second.id}/retirement:apply`);
    assert.equal(retired.status, 200);
    const sellable = await call(b.server, app.adminKey, 'GET', `/product-offerings?category=${category}&sellable=true`);
    assert.deepEqual(sellable.body.items.map((o: any) => o.id), [first.id]);

    const v2 = await call(a.server, app.adminKey, 'POST', `/product-offerings/${first.id}/versions`, first.body);
    assert.equal(v2.status, 201);
    assert.equal((await list(b)).body.items.find((o: any) => o.id === first.id).draftVersion, 2, 'a new draft version is visible too');
  }

  test('in-process: a publish, a retirement and a new version are visible on the next read', async () => {
    const one = await processOn(app, null);
    opened.push(one.server);
    assert.equal(one.services.catalog.cache.backend, 'memory');
    await checkPublishVisibleOnNextRead(one, one);
  });

  test('in-process: entries expire after the TTL (5 minutes) even without a change', async () => {
    const p = await processOn(app, null);
    opened.push(p.server);
    const category = uniqueCode('ttl');
    await createPublished(p.server, app.adminKey, '/product-offerings', offering(spec, { category }));
    const list = () => call(p.server, app.adminKey, 'GET', `/product-offerings?category=${category}`);
    assert.equal((await list()).body.items.length, 1);
    await sneakDraft(category);
    assert.equal((await list()).body.items.length, 1, 'cached');
    app.clock.advance(CATALOG_CACHE_TTL_MS + 1);
    assert.equal((await list()).body.items.length, 2, 'expired, read again');
  });

  test('cache: false reads PostgreSQL (what the benchmark compares)', async () => {
    const category = uniqueCode('nocache');
    const ctx = app.ctx;
    const query = { category, limit: 50, after: null };
    await app.services.catalog.listOfferings(ctx, query);
    await sneakDraft(category);
    assert.equal((await app.services.catalog.listOfferings(ctx, query)).items.length, 0, 'cached answer');
    assert.equal((await app.services.catalog.listOfferings(ctx, query, { cache: false })).items.length, 1, 'fresh answer');
  });

  test('Redis: a change made through one process is visible on the next read of another', async (t) => {
    if (!REDIS_URL) {
      t.skip('REDIS_URL not set');
      return;
    }
    const a = await processOn(app, REDIS_URL);
    const b = await processOn(app, REDIS_URL);
    opened.push(a.server, b.server);
    assert.equal(b.services.catalog.cache.backend, 'redis');
    await checkPublishVisibleOnNextRead(a, b);
    assert.equal(b.services.catalog.cache.stats.errors, 0);
  });

  test('Redis down: reads and changes go on, from and to PostgreSQL', async () => {
    // Port 1 on the loopback: nothing listens there, so every Redis command fails at once.
    const down = await processOn(app, 'redis://127.0.0.1:1');
    opened.push(down.server);
    const category = uniqueCode('noredis');
    const first = await createPublished(down.server, app.adminKey, '/product-offerings', offering(spec, { category }));
    const list = await call(down.server, app.adminKey, 'GET', `/product-offerings?category=${category}`);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((o: any) => o.id), [first.id]);
    assert.ok(down.services.catalog.cache.stats.errors > 0);
    assert.equal(down.services.catalog.cache.stats.hits, 0);
  });

  test('tenants never share cached answers', async () => {
    const other = await app.services.access.createTenant({ name: 'Other tenant' });
    const mine = await call(app.server, app.adminKey, 'GET', '/product-offerings?limit=200');
    assert.ok(mine.body.items.length > 0);
    const theirs = await call(app.server, other.apiKey, 'GET', '/product-offerings?limit=200');
    assert.deepEqual(theirs.body.items, []);
  });

  test('the in-process cache hands out copies and stays bounded', async () => {
    const cache = new MemoryCatalogCache(new ManualClock(), 60_000);
    const first = await cache.read('t', 'q', async () => ({ items: [1] }));
    first.items.push(2);
    assert.deepEqual(await cache.read('t', 'q', async () => ({ items: [9] })), { items: [1] });
    for (let i = 0; i < 2100; i++) await cache.read('t', `q${i}`, async () => i);
    assert.equal((cache as any).entries.size, 2000);
    await cache.invalidate('t');
    assert.equal((cache as any).entries.size, 0);
  });

  test('published documents: a kept entry is used again only while it is cached (eviction, clear)', () => {
    // What a preview keeps (its catalog views) is used again only while `use` says every
    // document it was built from is still cached (quotes/preview-store.ts).
    const documents = new PublishedDocuments(10);
    documents.set('product_offering', 't', 'a', 1, { code: 'a' });
    const kept = documents.entry('product_offering', 't', 'a', 1)!;
    assert.ok(Object.isFrozen(kept.body));
    const hits = documents.stats.hits;
    assert.equal(documents.use([kept]), true);
    assert.equal(documents.stats.hits, hits + 1, 'a use counts as a hit, as a get would');
    // Nine newer documents fill the cache; the next one evicts the least recently used tenth.
    for (let i = 0; i < 9; i++) documents.set('product_offering', 't', `b${i}`, 1, { code: `b${i}` });
    assert.equal(documents.use([kept]), true, 'used last: not the least recently used');
    const older = documents.entry('product_offering', 't', 'b0', 1)!;
    documents.use([kept]);
    documents.set('product_offering', 't', 'c', 1, { code: 'c' });
    assert.equal(documents.get('product_offering', 't', 'b1', 1), undefined, 'b1 was the least recently used');
    assert.equal(documents.use([kept, older]), true);
    documents.clear();
    assert.equal(documents.use([kept]), false, 'cleared: read again');
    assert.equal(documents.entry('product_offering', 't', 'a', 1), undefined);
    // Stored again, the old entry stays unusable; the new one is used.
    documents.set('product_offering', 't', 'a', 1, { code: 'a' });
    assert.equal(documents.use([kept]), false);
    assert.equal(documents.use([documents.entry('product_offering', 't', 'a', 1)!]), true);
  });
});
