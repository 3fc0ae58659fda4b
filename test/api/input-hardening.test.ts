/**
 * Input defects of issue 8 through HTTP (points 5, 6, 16, 17, 18, 20): each refusal is a
 * problem+json 400/409/414/431 with a stable type naming what is wrong, and changes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { GUARD_OPERATION_TYPES, OPERATION_TYPES } from '../../src/inventory/model.ts';
import { ORDER_ACTIONS } from '../../src/orders/actions/index.ts';
import { MAX_REQUEST_INTEGER } from '../../src/http/validation.ts';
import { queryOne, queryRows } from '../../src/platform/db.ts';
import { assertProblem, call, createTestApp, type TestApp } from '../helpers/app.ts';
import { catalogRefs, ensureFixtureCatalog, priceSnapshot, productSnapshot } from '../helpers/fixtures.ts';

const PROBLEM_JSON = /^application\/problem\+json/;
const DEMO_KEY = 'tnr_input-hardening-demo-key-0123456789';

/** A product sold from the fixture catalog, as the tests here create it. */
const snapshot = (name?: string) => productSnapshot(name);

const orderItem = () => ({ orderId: randomUUID(), orderItemId: randomUUID() });

/** `{"a":{"a":…{"a":1}…}}` with `levels` objects, written as text (JSON.stringify would recurse). */
const nested = (levels: number) => '{"a":'.repeat(levels - 1) + '{"a":1}' + '}'.repeat(levels - 1);

describe('HTTP input hardening (issue 8)', () => {
  let app: TestApp;
  let accountId: string;

  const send = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) => call(app.server, app.adminKey, method, url, body, headers);
  /** A POST with a body written as text, to send what JSON.stringify cannot make. */
  const sendRaw = async (url: string, payload: string, headers: Record<string, string> = {}) => {
    const res = await app.server.inject({ method: 'POST', url, headers: { authorization: `Bearer ${app.adminKey}`, 'content-type': 'application/json', ...headers }, payload });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  };
  const ok = async (method: 'GET' | 'POST', url: string, body?: unknown, status = method === 'GET' ? 200 : 201) => {
    const res = await send(method, url, body);
    assert.equal(res.status, status, `${method} ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };

  function assertInvalid(res: { status: number; body: any; headers: Record<string, unknown> }, field: string, message?: RegExp) {
    assertProblem(res, 400, 'validation-error');
    const error = res.body.errors?.find((e: any) => e.field === field);
    assert.ok(error, `expected an error on ${field}, got ${JSON.stringify(res.body.errors)}`);
    if (message) assert.match(error.message, message);
  }

  /** Everything a refused request could have written. */
  async function footprint() {
    return queryOne<Record<string, number>>(app.db.pool, `
      select (select count(*)::int from customer) as customers,
             (select count(*)::int from product_instance) as products,
             (select count(*)::int from product_instance_history) as history,
             (select count(*)::int from asset_operation_guard) as guards,
             (select count(*)::int from product_order) as orders,
             (select count(*)::int from order_state_change) as "orderChanges",
             (select count(*)::int from outbox_event) as outbox,
             (select count(*)::int from audit_log) as audit`);
  }

  async function newProduct(activate: boolean) {
    const cause = orderItem();
    const created = await ok('POST', '/internal/assets/product-instances', { accountId, ...snapshot(), subscription: { termMonths: 12 }, ...cause });
    const id = created.productInstance.productInstanceId as string;
    if (activate) {
      await ok('POST', `/internal/assets/product-instances/${id}/activation:start`, { expectedVersion: 1, ...cause }, 200);
      await ok('POST', `/internal/assets/product-instances/${id}/activation:complete`, { expectedVersion: 2, ...cause }, 200);
    }
    return id;
  }

  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', byStep: {}, maxAttempts: 3 } } as any });
    // Instances are sold from a real catalog: the inventory checks its references.
    await ensureFixtureCatalog(app.services, app.ctx);
    const customer = await ok('POST', '/customers', { name: 'PT Contoh Digital' });
    accountId = (await ok('POST', '/accounts', { customerId: customer.customerId, name: 'HQ', currency: 'IDR', timeZone: 'Asia/Jakarta' })).accountId;
  });
  after(() => app.close());

  // ------------------------------------------------------------------ 5: enumerations

  test('5: operationType is one of the order actions; "FOO" is a 400 and takes no guard', async () => {
    assert.deepEqual([...OPERATION_TYPES], [...ORDER_ACTIONS], 'the guard types are the order actions');
    const id = await newProduct(true);
    const before = await footprint();
    const url = `/internal/assets/product-instances/${id}/modification:start`;
    const res = await send('POST', url, { expectedVersion: 3, ...orderItem(), operationType: 'FOO' });
    assertInvalid(res, '/operationType', /^must be one of: ADD, MODIFY, DISCONNECT, SUSPEND, RESUME, MOVE, REPLACE, RENEW$/);
    assert.equal(res.body.errors.length, 1, 'one error for the one field');
    assertInvalid(await send('POST', url, { expectedVersion: 3, ...orderItem(), operationType: 'modify' }), '/operationType');
    assert.deepEqual(await footprint(), before);

    const cause = orderItem();
    await ok('POST', url, { expectedVersion: 3, ...cause, operationType: 'MODIFY' }, 200);
    const guard = await queryOne<any>(app.db.pool, `select operation_type, order_item_id, status from asset_operation_guard where product_instance_id = $1 and status = 'ACTIVE'`, [id]);
    assert.deepEqual(guard, { operation_type: 'MODIFY', order_item_id: cause.orderItemId, status: 'ACTIVE' });

    // The database refuses another type too (migration 0008), whoever writes it; its list is the model's.
    const check = await queryOne<{ def: string }>(app.db.pool, `select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'asset_operation_guard_operation_type'`);
    assert.deepEqual([...check!.def.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]), [...GUARD_OPERATION_TYPES]);
    await assert.rejects(
      app.db.pool.query(`update asset_operation_guard set operation_type = 'FOO' where product_instance_id = $1`, [id]),
      (error: any) => error.code === '23514' && /asset_operation_guard_operation_type/.test(error.message),
    );
  });

  // ------------------------------------------------------------------ 6: no coercion of bodies

  test('6: body values are not coerced: a number is not a name, a string is not a version', async () => {
    const before = await footprint();
    assertInvalid(await send('POST', '/customers', { name: 123 }), '/name', /string/);
    assertInvalid(await send('POST', '/customers', { name: true }), '/name');
    assertInvalid(await send('POST', '/customers', { name: ['PT A'] }), '/name');
    assertInvalid(await send('POST', '/customers', { name: null }), '/name');
    const id = await newProduct(true);
    const afterCreate = await footprint();
    assertInvalid(await send('POST', `/internal/assets/product-instances/${id}/modification:start`, { expectedVersion: '3', ...orderItem() }), '/expectedVersion', /integer/);
    assertInvalid(await send('POST', '/internal/assets/product-instances', { accountId, ...snapshot(), subscription: { termMonths: '12', autoRenew: 'true' } }), '/subscription/termMonths');
    assertInvalid(await send('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'SUSPEND', productInstanceId: id, expectedVersion: '3' }] }), '/items/0/expectedVersion');
    assert.deepEqual(await footprint(), afterCreate, 'nothing but the product made for the test was written');
    assert.equal(afterCreate!.customers, before!.customers, 'no customer named "123"');
    const named = await queryRows(app.db.pool, `select 1 from customer where name in ('123', 'true')`);
    assert.deepEqual(named, []);

    // Query strings and paths are text: they are still read as the numbers they spell.
    await ok('POST', '/customers', { name: 'PT Kedua' });
    const page = await ok('GET', '/customers?limit=1');
    assert.equal(page.items.length, 1);
    assert.equal(typeof page.nextCursor, 'string');
    assertInvalid(await send('GET', '/customers?limit=abc'), '/querystring/limit');
  });

  // ------------------------------------------------------------------ 16: lone surrogates (and NUL)

  test('16: a lone surrogate anywhere (jsonb, text, keys, query) is a 400 naming the field; a real pair is stored exactly', async () => {
    const before = await footprint();
    const create = (extra: Record<string, unknown>) => send('POST', '/internal/assets/product-instances', { accountId, ...snapshot(), ...orderItem(), ...extra });
    assertInvalid(await create({ catalogSnapshot: { offeringName: 'x\ud800' } }), '/catalogSnapshot/offeringName', /lone UTF-16 surrogate/);
    assertInvalid(await create({ configuration: { list: ['ok', '\udc00y'] } }), '/configuration/list/1', /surrogate/);
    assertInvalid(await create({ name: 'Fiber \udfff' }), '/name', /surrogate/);
    assertInvalid(await create({ place: { '\ud83d': 'key' } }), '/place/\\ud83d', /surrogate/);
    assertInvalid(await send('POST', '/customers', { name: 'PT \ud800\ud800' }), '/name');
    assertInvalid(await send('GET', `/customers?cursor=${encodeURIComponent('a')}%00`), '/querystring/cursor', /NUL/);
    assertInvalid(await create({ configuration: { 'a\u0000b': 1 } }), '/configuration/a\\u0000b', /NUL/);
    assert.deepEqual(await footprint(), before);

    // A well-formed pair is a character like any other: stored and read back unchanged.
    const name = 'Fiber 😀 ☎';
    const created = await create({ name, catalogSnapshot: { offeringName: name, emoji: '😀' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const product = await ok('GET', `/product-instances/${created.body.productInstance.productInstanceId}`);
    assert.equal(product.name, name);
    assert.deepEqual(product.catalogSnapshot, { offeringName: name, emoji: '😀' });
  });

  test('16: the refusal is stored under its Idempotency-Key and replayed, even when the bad key is in the pointer', async () => {
    const body = { accountId, ...snapshot(), ...orderItem(), configuration: { '\ud800': 1 } };
    const first = await send('POST', '/internal/assets/product-instances', body, { 'idempotency-key': 'surrogate-1' });
    assertInvalid(first, '/configuration/\\ud800');
    const again = await send('POST', '/internal/assets/product-instances', body, { 'idempotency-key': 'surrogate-1' });
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.body, first.body);
  });

  test('16: numbers JSON cannot carry exactly are a 400, not a silent rounding or a 500', async () => {
    const before = await footprint();
    const id = await newProduct(true);
    const afterCreate = await footprint();
    const base = JSON.stringify({ accountId, ...snapshot(), ...orderItem() }).slice(0, -1);
    assertInvalid(await sendRaw('/internal/assets/product-instances', `${base},"place":{"floor":1e400}}`), '/place/floor', /out of range/);
    assertInvalid(await sendRaw('/internal/assets/product-instances', `${base},"place":{"floor":12345678901234567890}}`), '/place/floor', /9007199254740991/);
    assertInvalid(await sendRaw(`/internal/assets/product-instances/${id}/modification:start`, `{"expectedVersion":1e21,"orderId":"${randomUUID()}","orderItemId":"${randomUUID()}"}`), '/expectedVersion');
    assert.deepEqual(await footprint(), afterCreate);
    assert.equal(afterCreate!.products, before!.products + 1);
  });

  // ------------------------------------------------------------------ 17: depth and size

  test('17: JSON nested deeper than 32 levels is a 400 on every route, at any depth; 32 levels are fine', async () => {
    const before = await footprint();
    for (const url of ['/customers', '/internal/assets/product-instances', `/accounts/${accountId}/orders`, '/price-previews']) {
      const res = await sendRaw(url, nested(20_000));
      assertProblem(res, 400, 'validation-error');
      assert.match(res.body.errors[0].message, /at most 32 levels/);
      assert.equal(res.body.errors[0].field, '/a'.repeat(32));
    }
    const base = JSON.stringify({ accountId, ...snapshot(), ...orderItem() }).slice(0, -1);
    // The body is level 1, catalogSnapshot level 2: 31 levels in it make 32.
    const deep = await sendRaw('/internal/assets/product-instances', `${base},"catalogSnapshot":${nested(5_000)}}`);
    assertProblem(deep, 400, 'validation-error');
    assert.deepEqual(await footprint(), before);

    const atLimit = await sendRaw('/internal/assets/product-instances', `${base},"catalogSnapshot":${nested(31)}}`);
    assert.equal(atLimit.status, 201, JSON.stringify(atLimit.body));
    const overLimit = await sendRaw('/internal/assets/product-instances', `${base.replace(/"orderItemId":"[^"]+"/, `"orderItemId":"${randomUUID()}"`)},"catalogSnapshot":${nested(32)}}`);
    assertInvalid(overLimit, '/catalogSnapshot' + '/a'.repeat(31), /32 levels/);
    const arrays = await sendRaw('/customers', '['.repeat(100_000) + ']'.repeat(100_000));
    assertInvalid(arrays, '/0'.repeat(32));
  });

  test('17: a body over 1 MiB is 413 payload-too-large; an empty or broken one a 400 that does not quote it', async () => {
    const big = await sendRaw('/customers', JSON.stringify({ name: 'x'.repeat(1024 * 1024) }));
    assertProblem(big, 413, 'payload-too-large');
    const empty = await sendRaw('/customers', '');
    assertInvalid(empty, '/', /empty/);
    const broken = await sendRaw('/customers', '{"name": "secret-value" garbage');
    assertInvalid(broken, '/', /not valid JSON \(at character \d+\)/);
    assert.ok(!JSON.stringify(broken.body).includes('secret-value'), 'the body is not echoed');
  });

  // ------------------------------------------------------------------ 18: Fastify's and Node's own refusals

  test('18: a path parameter over 100 characters is 414 problem+json, before authentication, without echoing the path', async () => {
    const long = 'z'.repeat(150);
    const res = await app.server.inject({ method: 'GET', url: `/product-instances/${long}` });
    assertProblem({ status: res.statusCode, body: res.json(), headers: res.headers }, 414, 'uri-too-long');
    assert.ok(!res.body.includes(long), 'the path is not echoed');
    const doc = await app.server.inject({ method: 'GET', url: '/problems/uri-too-long' });
    assert.equal(doc.json().status, 414);

    const badUrl = await app.server.inject({ method: 'GET', url: '/product-instances/%E0%A4%A' });
    assertProblem({ status: badUrl.statusCode, body: badUrl.json(), headers: badUrl.headers }, 400, 'validation-error');
    assert.equal(badUrl.json().errors[0].field, '/params');
  });

  test('18: over real sockets, 414 and 431 (headers too large) are problem+json and echo nothing', async () => {
    await app.server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.server.address() as AddressInfo;
    const request = (path: string, headers: Record<string, string>) => new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      });
      req.on('error', reject);
      req.end();
    });
    const long = 'q'.repeat(120);
    const tooLong = await request(`/product-instances/${long}`, {});
    assert.equal(tooLong.status, 414);
    assert.match(tooLong.type, PROBLEM_JSON);
    assert.equal(JSON.parse(tooLong.body).type, '/problems/uri-too-long');
    assert.ok(!tooLong.body.includes(long));

    const secret = 'h'.repeat(20_000);
    const tooLarge = await request(`/customers`, { authorization: `Bearer ${app.adminKey}`, 'x-filler': secret });
    assert.equal(tooLarge.status, 431);
    assert.match(tooLarge.type, PROBLEM_JSON);
    const problem = JSON.parse(tooLarge.body);
    assert.deepEqual({ type: problem.type, status: problem.status, title: problem.title }, { type: '/problems/headers-too-large', status: 431, title: 'Request headers too large' });
    assert.ok(!tooLarge.body.includes('hhhh'));
  });

  // ------------------------------------------------------------------ 20: small ones

  test('20: the Bearer scheme is case-insensitive', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'beArer']) {
      const res = await app.server.inject({ method: 'GET', url: '/customers', headers: { authorization: `${scheme} ${app.adminKey}` } });
      assert.equal(res.statusCode, 200, `${scheme}: ${res.body}`);
    }
    const basic = await app.server.inject({ method: 'GET', url: '/customers', headers: { authorization: `Basic ${app.adminKey}` } });
    assertProblem({ status: basic.statusCode, body: basic.json(), headers: basic.headers }, 401, 'unauthorized');
  });

  test('20: a schema-validation 400 is stored under its Idempotency-Key like every first 4xx', async () => {
    const before = await footprint();
    const first = await send('POST', '/customers', { name: 123 }, { 'idempotency-key': 'schema-400' });
    assertInvalid(first, '/name');
    const stored = await queryOne<any>(app.db.pool, `select state, response_status, response_body from idempotency_key where idempotency_key = 'schema-400'`);
    assert.deepEqual({ state: stored.state, status: stored.response_status, body: stored.response_body }, { state: 'completed', status: 400, body: first.body });
    const replay = await send('POST', '/customers', { name: 123 }, { 'idempotency-key': 'schema-400' });
    assert.equal(replay.status, 400);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.match(String(replay.headers['content-type']), PROBLEM_JSON);
    assert.deepEqual(replay.body, first.body);
    // The key belongs to that request: a corrected body needs a new key.
    assertProblem(await send('POST', '/customers', { name: 'PT Baru' }, { 'idempotency-key': 'schema-400' }), 422, 'idempotency-key-reuse');
    assert.deepEqual(await footprint(), before);
  });

  test('20: __proto__ and constructor.prototype keys are a 400 naming the key, not "not valid JSON"', async () => {
    const before = await footprint();
    const top = await sendRaw('/customers', '{"name":"PT A","__proto__":{"isAdmin":true}}');
    assertInvalid(top, '/__proto__', /forbidden key/);
    const deep = await sendRaw('/internal/assets/product-instances', `${JSON.stringify({ accountId, ...snapshot(), ...orderItem() }).slice(0, -1)},"place":{"constructor":{"prototype":{"x":1}}}}`);
    assertInvalid(deep, '/place/constructor/prototype', /forbidden key/);
    assert.deepEqual(await footprint(), before);
    // "constructor" alone is an ordinary key.
    const customer = await ok('POST', '/customers', { name: 'constructor' });
    assert.equal(customer.name, 'constructor');
  });

  test('20: release-hold of an ended order is 409 illegal-transition like hold; of an open order not held, a no-op', async () => {
    const demo = await ensureDemo(app.services, DEMO_KEY);
    const demoApi = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, DEMO_KEY, method, url, body);
    const offerings = (await demoApi('GET', '/product-offerings?limit=200')).body.items;
    const router = offerings.find((o: any) => o.body.code === 'managed-router').id;
    const submitted = await demoApi('POST', `/accounts/${demo.accountId}/orders`, { items: [{ action: 'ADD', offeringId: router }] });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    const orderId = submitted.body.orderId;

    // Open and not held: releasing changes nothing.
    const changes = async () => (await queryRows(app.db.pool, 'select to_status from order_state_change where order_id = $1 order by seq', [orderId])).map((r: any) => r.to_status);
    const beforeRelease = await changes();
    const open = await demoApi('POST', `/orders/${orderId}/release-hold`, {});
    assert.equal(open.status, 200, JSON.stringify(open.body));
    assert.equal(open.body.status, submitted.body.status);
    assert.deepEqual(await changes(), beforeRelease);

    for (let round = 0; round < 50 && (await app.services.orchestrator.runOnce('test-worker')) > 0; round++);
    assert.equal((await demoApi('GET', `/orders/${orderId}`)).body.status, 'completed');
    const ended = await changes();
    const outbox = await footprint();

    const hold = await demoApi('POST', `/orders/${orderId}/hold`, {});
    const release = await demoApi('POST', `/orders/${orderId}/release-hold`, { reason: 'try' });
    for (const [res, command] of [[hold, 'hold'], [release, 'release-hold']] as const) {
      assertProblem(res, 409, 'illegal-transition');
      assert.equal(res.body.state, 'completed');
      assert.equal(res.body.command, command);
      assert.deepEqual(res.body.allowedCommands, []);
    }
    assert.deepEqual(await changes(), ended, 'no state change');
    assert.deepEqual(await footprint(), outbox, 'no event, no audit row');
  });

  test('integers past the database\'s (2^31 − 1) are a 400 naming the field, and every request integer documents its maximum', async () => {
    const before = await footprint();
    const tooBig = MAX_REQUEST_INTEGER + 1;
    assertInvalid(await send('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: randomUUID(), offeringVersion: tooBig }] }), '/items/0/offeringVersion', /<= 2147483647/);
    assertInvalid(await send('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'RENEW', productInstanceId: randomUUID(), expectedVersion: tooBig, termMonths: 12 }] }), '/items/0/expectedVersion', /<= 2147483647/);
    assertInvalid(await send('POST', `/quotes/${randomUUID()}/order`, { expectedQuoteVersion: tooBig }), '/expectedQuoteVersion', /<= 2147483647/);
    assert.deepEqual(await footprint(), before);

    // The limit is in the document too: no integer of a request schema is unbounded.
    const doc = (await send('GET', '/openapi.json')).body;
    const unbounded: string[] = [];
    const walk = (node: unknown, at: string) => {
      const pending: [unknown, string][] = [[node, at]];
      while (pending.length) {
        const [n, where] = pending.pop()!;
        if (!n || typeof n !== 'object') continue;
        const schema = n as Record<string, unknown>;
        if (schema.type === 'integer' && schema.maximum === undefined && schema.exclusiveMaximum === undefined) unbounded.push(where);
        for (const [k, v] of Object.entries(schema)) pending.push([v, `${where}/${k}`]);
      }
    };
    for (const [path, operations] of Object.entries<any>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        walk(operation.requestBody, `${method.toUpperCase()} ${path} body`);
        walk(operation.parameters, `${method.toUpperCase()} ${path} parameters`);
      }
    }
    assert.deepEqual(unbounded, []);
  });
});
