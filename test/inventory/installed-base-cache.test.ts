/**
 * The installed-base cache (decision 0021): a read served from the process's memory must be,
 * byte for byte, the read built from PostgreSQL's rows at that moment. Every kind of change the
 * installed base has is made between two reads (commands, an order's submission, its
 * fulfillment), and after each one the cached read through HTTP must equal an uncached read
 * (`{ cache: false }`), now and as of an instant still ahead (so the asOf body changes too), and
 * must have been a miss (the change count moved); the next read must be a hit with the same
 * bytes. Then random sequences of commands and reads (fast-check), tenant isolation, reads racing
 * writes of one account, the byte bound with least-recently-used eviction, and the switch that
 * turns it off.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { createServices } from '../../src/app.ts';
import { buildServer } from '../../src/api/server.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { InstalledBaseCache } from '../../src/inventory/index.ts';
import type { InventoryQueries } from '../../src/inventory/index.ts';
import { ConfigError, readConfig } from '../../src/platform/config.ts';
import type { CommandContext } from '../../src/platform/context.ts';
import { ProblemError } from '../../src/platform/errors.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { catalogRefs, createAccount, priceSnapshot, serviceSpecRef } from '../helpers/fixtures.ts';

const DEMO_KEY = 'tnr_installed-base-cache-test-key-0123456';

/** The body of GET /accounts/{id}/installed-base as sent, with the key's tenant. */
async function httpBody(app: TestApp, key: string, accountId: string, asOf?: string): Promise<string> {
  const response = await app.server.inject({
    method: 'GET',
    url: `/accounts/${accountId}/installed-base${asOf ? `?asOf=${encodeURIComponent(asOf)}` : ''}`,
    headers: { authorization: `Bearer ${key}` },
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.body;
}

/** The cache of the app's queries (createServices builds one from TENURE_INSTALLED_BASE_CACHE_MB, default 64 MiB). */
function cacheOf(queries: InventoryQueries): InstalledBaseCache {
  const cache = queries.installedBaseCache;
  assert.ok(cache?.enabled, 'the cache is on by default');
  return cache;
}

describe('installed-base cache: every kind of change between two reads', () => {
  let app: TestApp;
  let cache: InstalledBaseCache;
  /** Ahead of every change the test makes (the clock moves a second at a time): asOf bodies change with each. */
  let ahead: string;
  const tick = () => app.clock.advance(1000);
  const cause = () => ({ orderId: randomUUID(), orderItemId: randomUUID() });
  const checked: string[] = [];

  /**
   * After a change: the cached read (through HTTP) was a miss and equals the uncached one, now
   * and as of `ahead`; read again, it is a hit with the same bytes.
   */
  async function assertFresh(who: { ctx: CommandContext; key: string; accountId: string }, change: string): Promise<void> {
    checked.push(change);
    for (const asOf of [undefined, ahead]) {
      const what = `${change}${asOf ? ' (asOf ahead)' : ''}`;
      const before = cache.stats;
      const cached = await httpBody(app, who.key, who.accountId, asOf);
      assert.equal(cache.stats.misses, before.misses + 1, `${what}: the change count moved, so the read built the body`);
      const uncached = await app.services.queries.installedBaseText(who.ctx, who.accountId, asOf ?? null, { cache: false });
      assert.equal(cached, uncached, `${what}: the cached read is the uncached read`);
      const hits = cache.stats.hits;
      assert.equal(await httpBody(app, who.key, who.accountId, asOf), uncached, `${what}: read again`);
      assert.equal(cache.stats.hits, hits + 1, `${what}: the second read is a hit`);
    }
  }

  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 3 } } });
    cache = cacheOf(app.services.queries);
    ahead = new Date(app.clock.now().getTime() + 86_400_000).toISOString();
  });
  after(() => app.close());

  test('inventory commands: create, activate, modify, suspend, resume, move, relationships, services, resources, subscriptions, disconnect', async () => {
    const { accountId } = await createAccount(app.services, app.ctx);
    const who = { ctx: app.ctx, key: app.adminKey, accountId };
    const inventory = app.services.inventory;
    // An account that owns nothing yet: its body, kept, then the first product.
    await httpBody(app, app.adminKey, accountId);

    const create = async (name: string) => {
      tick();
      const c = cause();
      const created = await inventory.createProductInstance(app.ctx, {
        accountId, ...catalogRefs(), name, catalogSnapshot: { offeringName: name }, configuration: { bandwidthMbps: 100 },
        price: priceSnapshot(), place: { city: 'Jakarta' }, subscription: { termMonths: 12, billingCycle: 'monthly' }, ...c,
      });
      return { id: created.productInstance.productInstanceId, subscriptionId: created.subscription!.subscriptionId, c };
    };
    const version = async (id: string) => (await app.services.queries.productInstance(app.ctx, id)).version;

    const fiber = await create('Fiber');
    await assertFresh(who, 'product created (with its subscription)');
    tick();
    await inventory.startActivation(app.ctx, fiber.id, { ...fiber.c, expectedVersion: 1 });
    await assertFresh(who, 'activation started');
    tick();
    await inventory.completeActivation(app.ctx, fiber.id, { ...fiber.c, expectedVersion: 2 });
    await assertFresh(who, 'activation completed (the subscription activated with it)');

    const m = cause();
    tick();
    await inventory.startModification(app.ctx, fiber.id, { ...m, expectedVersion: await version(fiber.id) });
    await assertFresh(who, 'modification started');
    tick();
    await inventory.completeModification(app.ctx, fiber.id, { ...m, expectedVersion: await version(fiber.id), change: { name: 'Fiber, renamed' } });
    await assertFresh(who, 'modification completed (a new name)');

    tick();
    await inventory.suspend(app.ctx, fiber.id, { expectedVersion: await version(fiber.id) });
    await assertFresh(who, 'suspended');
    tick();
    await inventory.resume(app.ctx, fiber.id, { expectedVersion: await version(fiber.id) });
    await assertFresh(who, 'resumed');
    tick();
    await inventory.move(app.ctx, fiber.id, { ...cause(), expectedVersion: await version(fiber.id), place: { city: 'Bandung' } });
    await assertFresh(who, 'moved (a new place)');

    const sla = await create('SLA');
    await assertFresh(who, 'a second product');
    tick();
    const link = await inventory.createRelationship(app.ctx, { sourceProductInstanceId: sla.id, targetProductInstanceId: fiber.id, type: 'ADDON_OF', ...cause() });
    await assertFresh(who, 'relationship created');
    tick();
    await inventory.endRelationship(app.ctx, link.relationshipId, {});
    await assertFresh(who, 'relationship ended');

    tick();
    const access = await inventory.attachServiceInstance(app.ctx, fiber.id, { ...serviceSpecRef(), name: 'Access', externalServiceId: 'svc-1', technicalParameters: { vlan: 7 } });
    await assertFresh(who, 'service attached');
    tick();
    const ont = await inventory.attachResourceInstance(app.ctx, access.serviceInstanceId, { resourceType: 'ONT', resourceId: 'ont-1' });
    await assertFresh(who, 'resource attached');
    tick();
    await inventory.releaseResourceInstance(app.ctx, ont.resourceInstanceId, { expectedVersion: ont.version });
    await assertFresh(who, 'resource released');
    tick();
    await inventory.releaseServiceInstance(app.ctx, access.serviceInstanceId, { expectedVersion: (await app.services.queries.serviceInstance(app.ctx, access.serviceInstanceId)).version });
    await assertFresh(who, 'service released');

    const subscriptionVersion = async () => (await app.services.queries.subscription(app.ctx, fiber.subscriptionId)).version;
    tick();
    await inventory.renewSubscription(app.ctx, fiber.subscriptionId, { expectedVersion: await subscriptionVersion(), termMonths: 24 });
    await assertFresh(who, 'subscription renewed');
    tick();
    await inventory.changeSubscriptionState(app.ctx, fiber.subscriptionId, 'suspension:apply', { expectedVersion: await subscriptionVersion() });
    await assertFresh(who, 'subscription suspended');

    const s = cause();
    tick();
    await inventory.scheduleDisconnect(app.ctx, fiber.id, { ...s, expectedVersion: await version(fiber.id), terminationDate: ahead });
    await assertFresh(who, 'disconnect scheduled (a termination date)');
    tick();
    await inventory.unscheduleDisconnect(app.ctx, fiber.id, { ...s, expectedVersion: await version(fiber.id) });
    await assertFresh(who, 'disconnect unscheduled');
    // The order item of the scheduled disconnect still holds the instance: it disconnects it now.
    tick();
    await inventory.startDisconnect(app.ctx, fiber.id, { ...s, expectedVersion: await version(fiber.id) });
    await assertFresh(who, 'disconnect started');
    tick();
    await inventory.completeDisconnect(app.ctx, fiber.id, { ...s, expectedVersion: await version(fiber.id) });
    await assertFresh(who, 'disconnect completed');

    // A refused command changes nothing: the next read is a hit.
    const hits = cache.stats.hits;
    await assert.rejects(inventory.suspend(app.ctx, fiber.id, { expectedVersion: await version(fiber.id) }), ProblemError);
    await httpBody(app, app.adminKey, accountId);
    assert.equal(cache.stats.hits, hits + 1, 'a refused command leaves the body kept');
  });

  test('orders: a submission creates pending products, fulfillment attaches services and resources and activates them', async () => {
    const demo = await ensureDemo(app.services, DEMO_KEY);
    const known = (await app.services.access.authenticate(DEMO_KEY))!;
    const who = { ctx: { tenantId: demo.tenantId, actor: { apiKeyId: known.apiKeyId, role: known.role }, correlationId: 'test' }, key: DEMO_KEY, accountId: demo.accountId };
    const offering: Record<string, string> = {};
    for (const o of (await call(app.server, DEMO_KEY, 'GET', '/product-offerings?limit=200')).body.items) offering[o.body.code] = o.id;
    await httpBody(app, DEMO_KEY, demo.accountId);
    await httpBody(app, DEMO_KEY, demo.accountId, ahead);

    tick();
    const submitted = await call(app.server, DEMO_KEY, 'POST', `/accounts/${demo.accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
      ],
    });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    await assertFresh(who, 'order submitted (pending products, their subscription)');
    tick();
    assert.ok(await app.services.orchestrator.runOnce('cache-test') > 0);
    const body = JSON.parse(await httpBody(app, DEMO_KEY, demo.accountId));
    const fiber = body.products.find((p: any) => p.productInstanceId === submitted.body.items[0].productInstanceId);
    assert.equal(fiber.status, 'ACTIVE');
    assert.equal(fiber.serviceInstances.length, 1, 'fulfillment attached the service');
    assert.ok(fiber.serviceInstances[0].resourceInstances.length > 0, 'and its resources');
    // That read was the miss after fulfillment; the rest of the check as after every change.
    const uncached = await app.services.queries.installedBaseText(who.ctx, demo.accountId, null, { cache: false });
    assert.equal(await httpBody(app, DEMO_KEY, demo.accountId), uncached, 'after fulfillment, cached = uncached');
    assert.equal(await httpBody(app, DEMO_KEY, demo.accountId, ahead), await app.services.queries.installedBaseText(who.ctx, demo.accountId, ahead, { cache: false }), 'asOf ahead, after fulfillment');
  });

  test('tenant isolation: another tenant never gets a kept body, even with the account\'s id', async () => {
    const { accountId } = await createAccount(app.services, app.ctx);
    const mine = await httpBody(app, app.adminKey, accountId);
    assert.equal(await httpBody(app, app.adminKey, accountId), mine);
    const other = await app.services.access.createTenant({ name: 'Other tenant' });
    const otherCtx = { tenantId: other.tenantId, actor: { apiKeyId: other.apiKeyId, role: 'admin' }, correlationId: 'test' };
    const response = await call(app.server, other.apiKey, 'GET', `/accounts/${accountId}/installed-base`);
    assert.equal(response.status, 404, 'Row-Level Security hides the account before the cache is asked');
    assert.equal(response.body.type, '/problems/not-found');
    await assert.rejects(app.services.queries.installedBaseText(otherCtx, accountId, null), ProblemError);
    // The key has the tenant: the same account id under another tenant is another entry.
    const kept = new InstalledBaseCache(1_000_000);
    kept.set(app.tenantId, accountId, null, 5, Buffer.from('mine'));
    assert.equal(kept.get(other.tenantId, accountId, null, 5), undefined);
    assert.equal(kept.get(app.tenantId, accountId, '2026-01-01T00:00:00.000Z', 5), undefined, 'asOf is in the key too');
    assert.equal(kept.get(app.tenantId, accountId, null, 5)?.toString(), 'mine');
  });

  after(() => {
    assert.ok(checked.length >= 22, `${checked.length} changes checked`);
  });
});

describe('installed-base cache: random commands and reads', () => {
  let app: TestApp;
  before(async () => {
    app = await createTestApp();
  });
  after(() => app.close());

  type Op =
    | { kind: 'read'; asOf: boolean }
    | { kind: 'create' }
    | { kind: 'transition'; product: number; command: 'startActivation' | 'completeActivation' | 'suspend' | 'resume' | 'startDisconnect' | 'completeDisconnect' | 'startModification' | 'completeModification' }
    | { kind: 'service'; product: number }
    | { kind: 'resource'; service: number; release: boolean }
    | { kind: 'relate'; source: number; target: number }
    | { kind: 'unrelate'; relationship: number };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), asOf: fc.boolean() }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'create' as const }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('transition' as const),
        product: fc.nat(5),
        command: fc.constantFrom('startActivation', 'completeActivation', 'suspend', 'resume', 'startDisconnect', 'completeDisconnect', 'startModification', 'completeModification'),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('service' as const), product: fc.nat(5) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('resource' as const), service: fc.nat(5), release: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('relate' as const), source: fc.nat(5), target: fc.nat(5) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unrelate' as const), relationship: fc.nat(3) }) },
  );

  test('after any sequence, every cached read equals the uncached read of that moment', async () => {
    const cache = cacheOf(app.services.queries);
    let reads = 0;
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
      const { accountId } = await createAccount(app.services, app.ctx);
      const midway = new Date(app.clock.now().getTime() + 10_500).toISOString();
      const inventory = app.services.inventory;
      const products: { id: string; c: { orderId: string; orderItemId: string } }[] = [];
      const services: string[] = [];
      const resources: string[] = [];
      const relationships: string[] = [];
      const pick = <T>(list: T[], n: number) => (list.length ? list[n % list.length] : undefined);
      const run = async (op: Op): Promise<void> => {
        switch (op.kind) {
          case 'read': {
            // asOf: one instant amid the sequence's writes (a second apart), the same for all its reads.
            const asOf = op.asOf ? midway : null;
            const cached = await app.services.queries.installedBaseText(app.ctx, accountId, asOf);
            assert.equal(cached, await app.services.queries.installedBaseText(app.ctx, accountId, asOf, { cache: false }));
            reads++;
            return;
          }
          case 'create': {
            const c = { orderId: randomUUID(), orderItemId: randomUUID() };
            const created = await inventory.createProductInstance(app.ctx, {
              accountId, ...catalogRefs(), name: `P${products.length}`, catalogSnapshot: { offeringName: 'P' }, configuration: { bandwidthMbps: 100 },
              price: priceSnapshot(), place: null, subscription: products.length % 2 ? { termMonths: 12, billingCycle: 'monthly' } : null, ...c,
            });
            products.push({ id: created.productInstance.productInstanceId, c });
            return;
          }
          case 'transition': {
            const p = pick(products, op.product);
            if (!p) return;
            const expectedVersion = (await app.services.queries.productInstance(app.ctx, p.id)).version;
            const input = { ...p.c, expectedVersion };
            if (op.command === 'completeModification') await inventory.completeModification(app.ctx, p.id, { ...input, change: { name: `renamed ${expectedVersion}` } });
            else await inventory[op.command](app.ctx, p.id, input);
            return;
          }
          case 'service': {
            const p = pick(products, op.product);
            if (!p) return;
            services.push((await inventory.attachServiceInstance(app.ctx, p.id, { ...serviceSpecRef(), name: null, externalServiceId: null, technicalParameters: {} })).serviceInstanceId);
            return;
          }
          case 'resource': {
            if (op.release) {
              const r = pick(resources, op.service);
              if (r) await inventory.releaseResourceInstance(app.ctx, r, { expectedVersion: (await app.services.queries.resourceInstance(app.ctx, r)).version });
              return;
            }
            const s = pick(services, op.service);
            if (s) resources.push((await inventory.attachResourceInstance(app.ctx, s, { resourceType: 'PORT', resourceId: `port-${resources.length}` })).resourceInstanceId);
            return;
          }
          case 'relate': {
            const source = pick(products, op.source);
            const target = pick(products, op.target);
            if (source && target) relationships.push((await inventory.createRelationship(app.ctx, { sourceProductInstanceId: source.id, targetProductInstanceId: target.id, type: 'DEPENDS_ON', orderId: randomUUID(), orderItemId: randomUUID() })).relationshipId);
            return;
          }
          case 'unrelate': {
            const r = pick(relationships, op.relationship);
            if (r) await inventory.endRelationship(app.ctx, r, {});
            return;
          }
        }
      };
      for (const op of ops) {
        app.clock.advance(1000);
        try {
          await run(op);
        } catch (error) {
          // Illegal transitions, guards held by another item, a relationship already ended or a
          // cycle: refused commands change nothing, and the reads after them must agree too.
          if (!(error instanceof ProblemError)) throw error;
        }
      }
      const last = await app.services.queries.installedBaseText(app.ctx, accountId, null);
      assert.equal(last, await app.services.queries.installedBaseText(app.ctx, accountId, null, { cache: false }));
    }), { numRuns: 25 });
    assert.ok(reads > 50, `${reads} reads compared`);
    assert.ok(cache.stats.hits > 0 && cache.stats.misses > 0, JSON.stringify(cache.stats));
  });
});

describe('installed-base cache: reads racing writes', () => {
  let app: TestApp;
  before(async () => {
    app = await createTestApp({ poolSize: 8 });
  });
  after(() => app.close());

  test('readers and writers of one account at once: once the writes stop, the cached read is the uncached read', async () => {
    // A body kept under a count read before it (decision 0021): a write that commits between the
    // count and the build leaves a body newer than its count, which the next read must not take
    // for the body of a later count. Reads race writes here; any kept body that outlived a change
    // would show in the reads after the last write.
    const cache = cacheOf(app.services.queries);
    const { accountId } = await createAccount(app.services, app.ctx);
    const inventory = app.services.inventory;
    const created: string[] = [];
    let writing = true;
    const writer = async (w: number) => {
      for (let i = 0; i < 12; i++) {
        const c = { orderId: randomUUID(), orderItemId: randomUUID() };
        const p = await inventory.createProductInstance(app.ctx, {
          accountId, ...catalogRefs(), name: `W${w}-${i}`, catalogSnapshot: { offeringName: 'W' }, configuration: { bandwidthMbps: 100 },
          price: priceSnapshot(), place: null, subscription: null, ...c,
        });
        created.push(p.productInstance.productInstanceId);
        await inventory.attachServiceInstance(app.ctx, p.productInstance.productInstanceId, { ...serviceSpecRef(), name: null, externalServiceId: null, technicalParameters: {} });
      }
    };
    const reader = async () => {
      let reads = 0;
      while (writing) {
        await app.services.queries.installedBaseText(app.ctx, accountId, null);
        reads++;
      }
      return reads;
    };
    const readers = [reader(), reader(), reader()];
    await Promise.all([writer(1), writer(2)]);
    writing = false;
    const reads = (await Promise.all(readers)).reduce((a, b) => a + b, 0);
    const uncached = await app.services.queries.installedBaseText(app.ctx, accountId, null, { cache: false });
    assert.equal(JSON.parse(uncached).products.length, 24);
    for (let i = 0; i < 3; i++) assert.equal(await app.services.queries.installedBaseText(app.ctx, accountId, null), uncached, `read ${i + 1} after the writes`);
    assert.ok(reads > 10, `${reads} reads raced the writes`);
    assert.ok(cache.stats.misses > 1, JSON.stringify(cache.stats));
  });
});

describe('installed-base cache: bounded by bytes, and off', () => {
  test('least recently used out when the bytes pass the budget; a body larger than the budget is not kept; a stale entry is dropped', () => {
    const t = randomUUID();
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const cache = new InstalledBaseCache(3 * (1000 + 200));
    const body = (n: number) => Buffer.alloc(n, 'x');
    cache.set(t, a, null, 1, body(1000));
    cache.set(t, b, null, 1, body(1000));
    cache.set(t, c, null, 1, body(1000));
    assert.deepEqual({ entries: cache.stats.entries, bytes: cache.stats.bytes }, { entries: 3, bytes: 3600 });
    assert.ok(cache.get(t, a, null, 1), 'a is now the most recently used');
    cache.set(t, randomUUID(), null, 1, body(1000));
    assert.equal(cache.get(t, b, null, 1), undefined, 'b, the least recently used, went out');
    assert.ok(cache.get(t, a, null, 1));
    assert.ok(cache.get(t, c, null, 1));
    assert.equal(cache.stats.evictions, 1);
    assert.ok(cache.stats.bytes <= cache.maxBytes);

    cache.set(t, a, null, 2, body(5000));
    assert.equal(cache.get(t, a, null, 2), undefined, 'larger than the whole budget: not kept');
    assert.equal(cache.stats.entries, 2, 'and the older body of the key is gone too');

    assert.ok(cache.get(t, c, null, 1));
    assert.equal(cache.get(t, c, null, 2), undefined, 'another count: a miss');
    assert.equal(cache.get(t, c, null, 1), undefined, 'and the stale body was dropped');
    assert.equal(cache.stats.bytes, 1200);
    assert.throws(() => new InstalledBaseCache(-1));
  });

  test('TENURE_INSTALLED_BASE_CACHE_MB: 64 by default, 0 turns it off, anything else is refused', async () => {
    assert.equal(readConfig({}).installedBaseCacheMb, 64);
    assert.equal(readConfig({ TENURE_INSTALLED_BASE_CACHE_MB: '0' }).installedBaseCacheMb, 0);
    assert.equal(readConfig({ TENURE_INSTALLED_BASE_CACHE_MB: '256' }).installedBaseCacheMb, 256);
    for (const bad of ['-1', '1.5', 'lots']) assert.throws(() => readConfig({ TENURE_INSTALLED_BASE_CACHE_MB: bad }), ConfigError, bad);
  });

  test('off: every read is built from the rows, and none is kept', async () => {
    const app = await createTestApp();
    try {
      const services = createServices(app.db.pool, app.clock, { installedBaseCacheBytes: 0 });
      const server = await buildServer(services);
      try {
        const { accountId } = await createAccount(app.services, app.ctx);
        const cache = services.queries.installedBaseCache!;
        assert.equal(cache.enabled, false);
        const read = async () => (await server.inject({ method: 'GET', url: `/accounts/${accountId}/installed-base`, headers: { authorization: `Bearer ${app.adminKey}` } })).body;
        const first = await read();
        await app.services.inventory.createProductInstance(app.ctx, {
          accountId, ...catalogRefs(), name: 'Fiber', catalogSnapshot: { offeringName: 'Fiber' }, configuration: { bandwidthMbps: 100 },
          price: priceSnapshot(), place: null, subscription: null, orderId: randomUUID(), orderItemId: randomUUID(),
        });
        const second = await read();
        assert.notEqual(second, first);
        assert.equal(second, await services.queries.installedBaseText(app.ctx, accountId, null, { cache: false }));
        assert.deepEqual(cache.stats, { hits: 0, misses: 0, evictions: 0, entries: 0, bytes: 0 });
      } finally {
        await server.close();
      }
    } finally {
      await app.close();
    }
  });
});
