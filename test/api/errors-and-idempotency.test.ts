/**
 * Failure behaviour through HTTP (seed 000 §21, architecture rules 6 and 7): every refusal is
 * an RFC 9457 problem with a stable type, writes nothing, and is never a 500. Plus
 * idempotency, pagination, roles, audit and the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { queryOne } from '../../src/platform/db.ts';
import { assertProblem, call, createTestApp, type TestApp } from '../helpers/app.ts';
import { catalogRefs, ensureFixtureCatalog, priceSnapshot, productSnapshot } from '../helpers/fixtures.ts';

const PROBLEM_JSON = /^application\/problem\+json/;

/** A product sold from the fixture catalog, as the tests here create it. */
const snapshot = (name?: string) => productSnapshot(name);

const orderItem = () => ({ orderId: randomUUID(), orderItemId: randomUUID() });

describe('errors, idempotency, pagination, roles and OpenAPI through HTTP', () => {
  let app: TestApp;
  let accountId: string;
  /** Every status this file saw: none may be a 5xx. */
  const statuses: { status: number; what: string }[] = [];

  const send = async (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}, key = app.adminKey) => {
    const res = await call(app.server, key, method, url, body, headers);
    statuses.push({ status: res.status, what: `${method} ${url}` });
    return res;
  };
  const inject = async (options: InjectOptions & { method: 'GET' | 'POST'; url: string }) => {
    const res = await app.server.inject(options);
    statuses.push({ status: res.statusCode, what: `${options.method} ${options.url}` });
    return res;
  };
  const ok = async (method: 'GET' | 'POST', url: string, body?: unknown, status = method === 'GET' ? 200 : 201, key = app.adminKey) => {
    const res = await send(method, url, body, {}, key);
    assert.equal(res.status, status, `${method} ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const command = (id: string, verbPhase: string, body: unknown, key = app.adminKey) =>
    send('POST', `/internal/assets/product-instances/${id}/${verbPhase}`, body, {}, key);

  function assertInvalid(res: { status: number; body: any; headers: Record<string, unknown> }, field: string) {
    assertProblem(res, 400, 'validation-error');
    assert.ok(Array.isArray(res.body.errors) && res.body.errors.length > 0);
    assert.ok(res.body.errors.some((e: any) => e.field === field && typeof e.message === 'string'),
      `expected an error on ${field}, got ${JSON.stringify(res.body.errors)}`);
  }

  /** Rows the database holds about one product and in total: what a refused command must not change. */
  async function footprint(productInstanceId: string) {
    const row = await queryOne<{ history: number; outbox: number; version: number; guards: number; audit: number }>(app.db.pool, `
      select (select count(*)::int from product_instance_history where product_instance_id = $1) as history,
             (select count(*)::int from outbox_event) as outbox,
             (select version::int from product_instance where product_instance_id = $1) as version,
             (select count(*)::int from asset_operation_guard where product_instance_id = $1) as guards,
             (select count(*)::int from audit_log) as audit`, [productInstanceId]);
    return row!;
  }

  /** A product instance: created (v1), or taken to ACTIVE (v3) by one order item. */
  async function newProduct(activate: boolean) {
    const cause = orderItem();
    const created = await ok('POST', '/internal/assets/product-instances', { accountId, ...snapshot(), subscription: { termMonths: 12 }, ...cause });
    const id = created.productInstance.productInstanceId as string;
    if (activate) {
      assert.equal((await command(id, 'activation:start', { expectedVersion: 1, ...cause })).status, 200);
      assert.equal((await command(id, 'activation:complete', { expectedVersion: 2, ...cause })).status, 200);
    }
    return id;
  }

  before(async () => {
    app = await createTestApp();
    await ensureFixtureCatalog(app.services, app.ctx);
    const customer = await ok('POST', '/customers', { name: 'PT Contoh Digital' });
    accountId = (await ok('POST', '/accounts', { customerId: customer.customerId, name: 'HQ', currency: 'IDR', timeZone: 'Asia/Jakarta' })).accountId;
  });
  after(() => app.close());

  // ------------------------------------------------------------------ conflicts

  test('a stale expectedVersion is 409 concurrent-modification and writes nothing', async () => {
    const id = await newProduct(true);
    const before = await footprint(id);
    const res = await command(id, 'modification:start', { expectedVersion: 2, ...orderItem(), requestedChange: { configuration: { bandwidthMbps: 2000 } } });
    assertProblem(res, 409, 'concurrent-modification');
    assert.equal(res.body.expectedVersion, 2);
    assert.equal(res.body.currentVersion, 3);
    assert.match(res.body.detail, /version 3/);
    assert.deepEqual(await footprint(id), before, 'no history, outbox event, guard, audit row or version bump');
    const product = await ok('GET', `/product-instances/${id}`);
    assert.equal(product.status, 'ACTIVE');
    assert.equal(product.configuration.bandwidthMbps, 1000);
  });

  test('a second operation from another order item is 409 operation-in-progress naming the holder', async () => {
    // Activation held by item A; item B tries to start the same activation.
    const id = await newProduct(false);
    const a = orderItem();
    assert.equal((await command(id, 'activation:start', { expectedVersion: 1, ...a })).status, 200);
    const before = await footprint(id);
    const b = orderItem();
    const res = await command(id, 'activation:start', { expectedVersion: 2, ...b });
    assertProblem(res, 409, 'operation-in-progress');
    assert.equal(res.body.productInstanceId, id);
    const { orderId, orderItemId, operationType } = res.body.heldBy;
    assert.deepEqual({ orderId, orderItemId, operationType }, { orderId: a.orderId, orderItemId: a.orderItemId, operationType: 'ADD' });
    assert.ok(res.body.detail.includes(a.orderItemId));
    assert.deepEqual(await footprint(id), before);

    // Modification held by item C; item D tries to complete it.
    const active = await newProduct(true);
    const c = orderItem();
    assert.equal((await command(active, 'modification:start', { expectedVersion: 3, ...c })).status, 200);
    const held = await footprint(active);
    const res2 = await command(active, 'modification:complete', { expectedVersion: 4, ...orderItem(), change: { configuration: { bandwidthMbps: 5000 } } });
    assertProblem(res2, 409, 'operation-in-progress');
    assert.equal(res2.body.heldBy.orderItemId, c.orderItemId);
    assert.equal(res2.body.heldBy.operationType, 'MODIFY');
    assert.deepEqual(await footprint(active), held);
    // The holder itself may finish.
    assert.equal((await command(active, 'modification:complete', { expectedVersion: 4, ...c })).status, 200);
  });

  test('an illegal transition is 409 illegal-transition with allowedCommands', async () => {
    const id = await newProduct(true);
    const before = await footprint(id);
    const res = await command(id, 'activation:complete', { expectedVersion: 3, ...orderItem() });
    assertProblem(res, 409, 'illegal-transition');
    assert.equal(res.body.state, 'ACTIVE');
    assert.equal(res.body.command, 'activation:complete');
    assert.ok(Array.isArray(res.body.allowedCommands));
    for (const allowed of ['modification:start', 'disconnect:start', 'suspension:apply', 'move:apply', 'replacement:apply']) {
      assert.ok(res.body.allowedCommands.includes(allowed), `${allowed} is allowed when ACTIVE`);
    }
    assert.ok(!res.body.allowedCommands.includes('activation:complete'));
    assert.deepEqual(await footprint(id), before);
  });

  // ------------------------------------------------------------------ malformed input

  test('malformed input is 400 validation-error naming the field, and writes nothing', async () => {
    const id = await newProduct(true);
    const before = await footprint(id);
    const url = `/internal/assets/product-instances/${id}/modification:start`;
    const good = { expectedVersion: 3, ...orderItem() };

    const { expectedVersion: _omit, ...missing } = good;
    assertInvalid(await send('POST', url, missing), '/expectedVersion');
    assertInvalid(await send('POST', url, { ...good, expectedVersion: 'abc' }), '/expectedVersion');
    assertInvalid(await send('POST', url, { ...good, expectedVersion: 0 }), '/expectedVersion');
    assertInvalid(await send('POST', url, { ...good, orderId: 'order-1' }), '/orderId');
    assertInvalid(await send('POST', url, { ...good, colour: 'blue' }), '/colour');
    assertInvalid(await send('POST', url, { ...good, requestedChange: { bandwidthMbps: 2000 } }), '/requestedChange/bandwidthMbps');
    assertInvalid(await send('POST', url, { ...good, effectiveAt: 'yesterday' }), '/effectiveAt');
    assertInvalid(await send('POST', url, { ...good, effectiveAt: '2026-06-30T23:59:60Z' }), '/effectiveAt');
    assertInvalid(await send('POST', url, { ...good, correlationId: 'a\u0000b' }), '/correlationId');
    const several = await send('POST', url, { expectedVersion: 'abc', orderId: 'x', orderItemId: randomUUID() });
    assertInvalid(several, '/expectedVersion');
    assertInvalid(several, '/orderId');

    const badJson = await inject({ method: 'POST', url, headers: { authorization: `Bearer ${app.adminKey}`, 'content-type': 'application/json' }, payload: '{"expectedVersion": 3,' });
    assert.equal(badJson.statusCode, 400);
    assert.match(String(badJson.headers['content-type']), PROBLEM_JSON);
    assert.equal(badJson.json().type, '/problems/validation-error');
    assert.ok(badJson.json().errors.length >= 1);

    assertInvalid(await send('POST', '/internal/assets/relationships', { sourceProductInstanceId: id, targetProductInstanceId: randomUUID(), type: 'SIBLING_OF' }), '/type');
    assertInvalid(await send('GET', '/product-instances/not-a-uuid'), '/params/id');
    assertInvalid(await send('GET', '/customers?limit=0'), '/querystring/limit');
    assertInvalid(await send('GET', `/accounts/${accountId}/installed-base?asOf=2026-07-02`), '/querystring/asOf');
    assertInvalid(await send('GET', `/accounts/${accountId}/installed-base?asOf=0000-01-01T00:00:00Z`), '/querystring/asOf');
    assert.deepEqual(await footprint(id), before);

    const customers = await queryOne<{ n: number }>(app.db.pool, 'select count(*)::int as n from customer');
    const accounts = await queryOne<{ n: number }>(app.db.pool, 'select count(*)::int as n from account');
    const customerId = (await ok('GET', '/customers')).items[0].customerId;
    assertInvalid(await send('POST', '/accounts', { customerId, name: 'x', currency: 'idr', timeZone: 'Asia/Jakarta' }), '/currency');
    assertInvalid(await send('POST', '/accounts', { customerId, name: 'x', currency: 'IDR', timeZone: 'Mars/Base' }), '/timeZone');
    assertInvalid(await send('POST', '/accounts', { customerId: 'nope', name: 'x', currency: 'IDR', timeZone: 'Asia/Jakarta' }), '/customerId');
    assertInvalid(await send('POST', '/customers', {}), '/name');
    assertInvalid(await send('POST', '/customers', { name: 'NUL\u0000Co' }), '/name');
    assertInvalid(await send('POST', '/internal/assets/product-instances', { accountId, ...snapshot(), configuration: { note: 'x\u0000' } }), '/configuration/note');
    assert.deepEqual(await queryOne(app.db.pool, 'select count(*)::int as n from customer'), customers);
    assert.deepEqual(await queryOne(app.db.pool, 'select count(*)::int as n from account'), accounts);
  });

  test('unknown routes and unknown ids are 404 problems', async () => {
    const route = await send('GET', '/no/such/route');
    assertProblem(route, 404, 'not-found');
    const unknownMethod = await send('POST', '/health', {});
    assertProblem(unknownMethod, 404, 'not-found');
    const missing = randomUUID();
    const product = await send('GET', `/product-instances/${missing}`);
    assertProblem(product, 404, 'not-found');
    assert.equal(product.body.id, missing);
    assertProblem(await command(missing, 'modification:start', { expectedVersion: 1, ...orderItem() }), 404, 'not-found');
    assertProblem(await send('GET', `/accounts/${missing}/installed-base`), 404, 'not-found');
    assertProblem(await send('GET', `/product-instances/${missing}/history`), 404, 'not-found');
    assertProblem(await send('POST', '/accounts', { customerId: missing, name: 'x', currency: 'IDR', timeZone: 'Asia/Jakarta' }), 404, 'not-found');
    assertProblem(await send('POST', '/internal/assets/product-instances', { accountId: missing, ...snapshot() }), 404, 'not-found');
  });

  test('problem types are documented at /problems/{type}, without a key', async () => {
    const res = await inject({ method: 'GET', url: '/problems/concurrent-modification' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.type, '/problems/concurrent-modification');
    assert.equal(doc.status, 409);
    assert.equal(typeof doc.title, 'string');
    assert.match(doc.description, /expectedVersion/);
    for (const type of ['validation-error', 'operation-in-progress', 'illegal-transition', 'idempotency-key-reuse', 'invalid-relationship', 'duplicate-relationship']) {
      assert.equal((await inject({ method: 'GET', url: `/problems/${type}` })).statusCode, 200, type);
    }
    const unknown = await inject({ method: 'GET', url: '/problems/no-such-type' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().type, '/problems/not-found');
  });

  // ------------------------------------------------------------------ idempotency

  test('same Idempotency-Key and body: the first response is replayed and one customer exists', async () => {
    const key = `idem-${randomUUID()}`;
    const first = await send('POST', '/customers', { name: 'Idempotent Co', externalReference: 'crm-1' }, { 'idempotency-key': key });
    assert.equal(first.status, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    app.clock.advance(1000);
    // Same body with its keys in another order is the same request.
    const second = await send('POST', '/customers', { externalReference: 'crm-1', name: 'Idempotent Co' }, { 'idempotency-key': key });
    assert.equal(second.status, 201);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.deepEqual(second.body, first.body);
    const rows = await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from customer where name = 'Idempotent Co'`);
    assert.equal(rows!.n, 1);

    const reused = await send('POST', '/customers', { name: 'Another Co' }, { 'idempotency-key': key });
    assertProblem(reused, 422, 'idempotency-key-reuse');
    const otherPath = await send('POST', '/accounts', { customerId: first.body.customerId, name: 'x', currency: 'IDR', timeZone: 'Asia/Jakarta' }, { 'idempotency-key': key });
    assertProblem(otherPath, 422, 'idempotency-key-reuse');
    const after = await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from customer where name in ('Idempotent Co', 'Another Co')`);
    assert.equal(after!.n, 1);
    assertInvalid(await send('POST', '/customers', { name: 'Long key Co' }, { 'idempotency-key': 'k'.repeat(201) }), 'Idempotency-Key');
  });

  test('a replayed error is the same error: a 409 stays a 409 even after the conflict is gone', async () => {
    const id = await newProduct(true);
    const key = `idem-${randomUUID()}`;
    const body = { expectedVersion: 1, ...orderItem() };
    const first = await send('POST', `/internal/assets/product-instances/${id}/modification:start`, body, { 'idempotency-key': key });
    assertProblem(first, 409, 'concurrent-modification');
    const before = await footprint(id);
    const second = await send('POST', `/internal/assets/product-instances/${id}/modification:start`, body, { 'idempotency-key': key });
    assertProblem(second, 409, 'concurrent-modification');
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.deepEqual(second.body, first.body);
    assert.deepEqual(await footprint(id), before);

    // A successful command replays its result without running again.
    const cmdKey = `idem-${randomUUID()}`;
    const cmd = { expectedVersion: 3, ...orderItem() };
    const started = await send('POST', `/internal/assets/product-instances/${id}/modification:start`, cmd, { 'idempotency-key': cmdKey });
    assert.equal(started.status, 200);
    const afterStart = await footprint(id);
    const again = await send('POST', `/internal/assets/product-instances/${id}/modification:start`, cmd, { 'idempotency-key': cmdKey });
    assert.equal(again.status, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body.version, started.body.version);
    assert.deepEqual(await footprint(id), afterStart, 'the replay wrote nothing');
  });

  // ------------------------------------------------------------------ pagination

  test('GET /customers pages with nextCursor through exactly the customers there are', async () => {
    // A tenant of its own, so that the count is exact.
    const tenant = await app.services.access.createTenant({ name: 'Paging tenant' });
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      // Some share a created_at: the cursor must break ties by id.
      if (i % 3 === 0) app.clock.advance(1000);
      const res = await send('POST', '/customers', { name: `Customer ${i}` }, {}, tenant.apiKey);
      assert.equal(res.status, 201);
      created.push(res.body.customerId);
    }
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/customers?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await send('GET', url, undefined, {}, tenant.apiKey);
      assert.equal(page.status, 200);
      sizes.push(page.body.items.length);
      seen.push(...page.body.items.map((c: any) => c.customerId));
      cursor = page.body.nextCursor;
      assert.ok(++pages <= 5, 'pagination must end');
    } while (cursor !== null);
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.equal(seen.length, 7);
    assert.equal(new Set(seen).size, 7);
    assert.deepEqual([...seen].sort(), [...created].sort());

    const exact = await send('GET', '/customers?limit=7', undefined, {}, tenant.apiKey);
    assert.equal(exact.body.items.length, 7);
    assert.equal(exact.body.nextCursor, null);

    const base64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const garbage of ['garbage', '!!!', base64({ createdAt: '1', id: randomUUID() }), base64({ createdAt: '2026-07-02T10:30:00.000Z', id: '-'.repeat(36) }), base64([1, 2])]) {
      assertInvalid(await send('GET', `/customers?cursor=${encodeURIComponent(garbage)}`, undefined, {}, tenant.apiKey), '/cursor');
    }
    assertInvalid(await send('GET', `/audit-log?cursor=${base64({ recordedAt: '2026-07-02T10:30:00.000Z', auditId: '-'.repeat(36) })}`), '/cursor');
    const id = await newProduct(false);
    assertInvalid(await send('GET', `/product-instances/${id}/history?cursor=${base64({ version: 1e300 })}`), '/cursor');
  });

  // ------------------------------------------------------------------ roles and audit

  test('roles: integration runs asset commands, operator creates customers, viewer only reads, admin-only stays admin-only', async () => {
    const keys: Record<string, { apiKey: string; apiKeyId: string }> = {};
    for (const role of ['integration', 'operator', 'viewer']) {
      const created = await ok('POST', '/api-keys', { name: `${role} key`, role });
      assert.equal(created.role, role);
      assert.match(created.apiKey, /^tnr_/);
      keys[role] = created;
    }

    const cause = orderItem();
    const created = await ok('POST', '/internal/assets/product-instances', { accountId, ...snapshot('Integration product'), ...cause }, 201, keys.integration.apiKey);
    const id = created.productInstance.productInstanceId;
    const started = await command(id, 'activation:start', { expectedVersion: 1, ...cause }, keys.integration.apiKey);
    assert.equal(started.status, 200);

    const customer = await send('POST', '/customers', { name: 'Operator Co' }, {}, keys.operator.apiKey);
    assert.equal(customer.status, 201);

    assertProblem(await send('POST', '/accounts', { customerId: customer.body.customerId, name: 'x', currency: 'IDR', timeZone: 'Asia/Jakarta' }, {}, keys.viewer.apiKey), 403, 'forbidden');
    assertProblem(await command(id, 'activation:complete', { expectedVersion: 2, ...cause }, keys.viewer.apiKey), 403, 'forbidden');
    assert.equal((await send('GET', `/accounts/${accountId}/installed-base`, undefined, {}, keys.viewer.apiKey)).status, 200);

    for (const key of [keys.operator.apiKey, keys.integration.apiKey, keys.viewer.apiKey]) {
      assertProblem(await send('GET', '/admin/consistency-check', undefined, {}, key), 403, 'forbidden');
      assertProblem(await send('GET', '/api-keys', undefined, {}, key), 403, 'forbidden');
      assertProblem(await send('POST', '/api-keys', { name: 'sneaky', role: 'admin' }, {}, key), 403, 'forbidden');
      assertProblem(await send('GET', '/audit-log', undefined, {}, key), 403, 'forbidden');
    }
    const listed = await ok('GET', '/api-keys');
    assert.equal(listed.items.filter((k: any) => k.name === 'sneaky').length, 0);
    assert.ok(listed.items.every((k: any) => k.apiKey === undefined), 'keys are never listed');

    // Audit: the command shows who did it.
    const audit = await ok('GET', '/audit-log?limit=200');
    const entry = audit.items.find((a: any) => a.action === 'product-instance.activation.start' && a.targetId === id);
    assert.ok(entry, 'the activation start is audited');
    assert.equal(entry.actorApiKeyId, keys.integration.apiKeyId);
    assert.equal(entry.actorRole, 'integration');
    assert.equal(entry.subjectAccountId, accountId);
    const createdEntry = audit.items.find((a: any) => a.action === 'customer.create' && a.targetId === customer.body.customerId);
    assert.equal(createdEntry.actorApiKeyId, keys.operator.apiKeyId);

    // A revoked key stops working.
    const revoked = await send('POST', `/api-keys/${keys.operator.apiKeyId}/revocation:apply`, {});
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    assertProblem(await send('GET', '/customers', undefined, {}, keys.operator.apiKey), 401, 'unauthorized');
  });

  // ------------------------------------------------------------------ OpenAPI

  test('GET /openapi.json is public OpenAPI 3 with the colon command paths; /docs serves HTML', async () => {
    const res = await inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.match(doc.openapi, /^3\./);
    const paths = Object.keys(doc.paths);
    assert.ok(doc.paths['/internal/assets/product-instances/{id}/modification:start']?.post, 'modification:start is documented');
    assert.ok(doc.paths['/internal/assets/subscriptions/{id}/renewal:apply']?.post);
    assert.ok(doc.paths['/accounts/{accountId}/installed-base']?.get);
    assert.ok(!paths.some((p) => p.includes('::') || p.includes('{start}') || p.includes('{apply}') || p.includes('{complete}')),
      `no mangled colon paths: ${paths.filter((p) => p.includes(':')).join(', ')}`);
    for (const path of paths.filter((p) => p.includes(':'))) assert.match(path, /\/[a-z-]+:[a-z]+$/, path);

    let docs = await inject({ method: 'GET', url: '/docs' });
    for (let hops = 0; docs.statusCode >= 300 && docs.statusCode < 400 && hops < 3; hops++) {
      const location = new URL(String(docs.headers.location), 'http://localhost/docs');
      docs = await inject({ method: 'GET', url: location.pathname + location.search });
    }
    assert.equal(docs.statusCode, 200);
    assert.match(String(docs.headers['content-type']), /^text\/html/);
    assert.match(docs.body, /swagger/i);
  });

  test('nothing in this file was answered with a 5xx', () => {
    const failures = statuses.filter((s) => s.status >= 500);
    assert.deepEqual(failures, []);
    assert.ok(statuses.length > 50);
  });
});
