/**
 * Issue 9, "What it must show" 2: an Idempotency-Key is completed in the same transaction as
 * the change it protects. A request that committed is replayed, one that did not runs again,
 * whatever moment the process died; a retry whose first request is gone never waits for a
 * timeout; a retry while the first still runs is 409 idempotency-in-progress. Every POST of the
 * document runs at most one writing transaction (else it could not be atomic), and every main
 * POST's replay is its first response byte for byte.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { onIdempotencyAudit, type IdempotencyAudit } from '../../src/http/idempotency.ts';
import { EXAMPLE_IDS } from '../../src/api/openapi-examples.ts';
import { demoExampleIds, withIds } from '../helpers/example-ids.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryOne, queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTenure, type StartedTenure } from '../helpers/tenure-process.ts';

const KEY = 'tnr_idempotency-atomic-demo-key-0123456789';

describe('Idempotency-Key, in process: one writing transaction per POST, replays byte for byte', () => {
  let app: TestApp;
  let doc: any;
  let accountId: string;
  const audits: IdempotencyAudit[] = [];

  before(async () => {
    app = await createTestApp();
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    doc = (await app.server.inject({ method: 'GET', url: '/openapi.json' })).json();
    onIdempotencyAudit((audit) => audits.push(audit));
  });
  after(async () => {
    onIdempotencyAudit(undefined);
    await app?.close();
  });

  /** Sends a keyed POST twice: the second answer must be the first, byte for byte, marked replayed. */
  async function sendTwice(url: string, body: unknown, label: string, options: { secretMember?: string } = {}) {
    const key = randomUUID();
    const send = () => app.server.inject({
      method: 'POST', url, payload: body === undefined ? undefined : JSON.stringify(body),
      headers: { authorization: `Bearer ${KEY}`, 'idempotency-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    });
    audits.length = 0;
    const first = await send();
    const audit = audits.find((a) => a.url === url);
    const second = await send();
    assert.ok(first.statusCode < 500, `${label}: ${first.statusCode} ${first.body}`);
    assert.equal(second.statusCode, first.statusCode, `${label}: replayed status`);
    if (options.secretMember) {
      // A secret shown once is not kept with the key: the replay is the response without it.
      assert.equal(typeof JSON.parse(first.body)[options.secretMember], 'string');
      assert.equal(second.body, JSON.stringify({ ...JSON.parse(first.body), [options.secretMember]: null }), `${label}: the replay is the first response, ${options.secretMember} withheld`);
    } else {
      assert.equal(second.body, first.body, `${label}: the replay is the first response byte for byte`);
    }
    assert.equal(second.headers['idempotent-replayed'], 'true', `${label}: marked as a replay`);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal(second.headers['content-type'], first.headers['content-type'], `${label}: same media type`);
    assert.ok(audit, `${label}: audited`);
    assert.ok(audit.writingTransactions <= 1, `${label}: ${audit.writingTransactions} writing transactions (the key cannot be atomic with more than one)`);
    assert.equal(audit.replayMismatch, false, `${label}: the stored result is what was sent`);
    if (first.statusCode < 300 && audit.writingTransactions === 1) assert.equal(audit.completedInTransaction, true, `${label}: completed with its change`);
    return { status: first.statusCode, body: first.body ? JSON.parse(first.body) : null, audit };
  }

  test('the main POSTs (quote, order, internal commands, customers, accounts, keys, rules), sent twice with a key', async () => {
    const ops = new Map<string, any>();
    for (const [path, item] of Object.entries<any>(doc.paths)) if (item.post) ops.set(`POST ${path}`, { path, op: item.post });
    const ids = new Map<string, string>();
    const learn = (exampleId: string, liveId: string) => {
      assert.ok(liveId, `a live id for ${exampleId}`);
      ids.set(exampleId, liveId);
    };
    const example = async (key: string, pathIds: Record<string, string> = {}) => {
      const { path, op } = ops.get(key)!;
      const request = op.requestBody?.content['application/json'].example;
      const url = path.replace(/\{([^}]+)\}/g, (_: string, name: string) => pathIds[name]);
      const result = await sendTwice(url, request === undefined ? undefined : withIds(request, ids), key);
      const success = Object.keys(op.responses).find((s) => s.startsWith('2'))!;
      assert.equal(String(result.status), success, `${key}: ${JSON.stringify(result.body)}`);
      return result;
    };

    for (const [exampleId, liveId] of await demoExampleIds(app.server, KEY, accountId)) learn(exampleId, liveId);

    const preview = await example('POST /price-previews');
    assert.equal(preview.audit.writingTransactions, 0, 'a preview writes nothing');
    const quote = await example('POST /accounts/{accountId}/quotes', { accountId });
    learn(EXAMPLE_IDS.quote, quote.body.quoteId);
    await example('POST /quotes/{id}/acceptance:apply', { id: quote.body.quoteId });
    const fromQuote = await example('POST /quotes/{id}/order', { id: quote.body.quoteId });
    learn(EXAMPLE_IDS.quoteOrder, fromQuote.body.orderId);
    const order = await example('POST /accounts/{accountId}/orders', { accountId });
    learn(EXAMPLE_IDS.modifyOrder, order.body.orderId);
    await example('POST /orders/{id}/hold', { id: order.body.orderId });
    await example('POST /orders/{id}/release-hold', { id: order.body.orderId });
    const rerun = await sendTwice(`/orders/${order.body.orderId}/rerun`, undefined, 'POST /orders/{id}/rerun');
    assert.equal(rerun.status, 200);
    assert.equal(rerun.body.order.orderId, order.body.orderId);
    const cancelled = await example('POST /orders/{id}/cancel', { id: order.body.orderId });
    assert.equal(cancelled.body.orderId, order.body.orderId);
    assert.equal(cancelled.audit.completedInTransaction, true, 'the cancelled order is answered from the cancelling transaction');
    const other = await example('POST /accounts/{accountId}/quotes', { accountId });
    await example('POST /quotes/{id}/pricing:apply', { id: other.body.quoteId });
    const cancelledQuote = await sendTwice(`/quotes/${other.body.quoteId}/cancellation:apply`, { expectedVersion: 2 }, 'POST /quotes/{id}/cancellation:apply');
    assert.equal(cancelledQuote.status, 200);
    assert.equal(cancelledQuote.body.status, 'CANCELLED');
    // Exactly one order per key, though each was sent twice.
    const orders = await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from product_order where order_id = any($1)', [[fromQuote.body.orderId, order.body.orderId]]);
    assert.equal(orders[0].n, 2);

    const created = await example('POST /internal/assets/product-instances');
    const id = created.body.productInstance.productInstanceId;
    learn(EXAMPLE_IDS.branch.fiber, id);
    learn(EXAMPLE_IDS.branch.subscription, created.body.subscription.subscriptionId);
    await example('POST /internal/assets/product-instances/{id}/activation:start', { id });
    const service = await example('POST /internal/assets/product-instances/{id}/service-attachment:apply', { id });
    learn(EXAMPLE_IDS.branch.service, service.body.serviceInstanceId);
    const vlan = await example('POST /internal/assets/service-instances/{id}/resource-attachment:apply', { id: service.body.serviceInstanceId });
    learn(EXAMPLE_IDS.branch.vlan, vlan.body.resourceInstanceId);
    for (const command of ['activation:complete', 'modification:start', 'modification:complete', 'suspension:apply', 'resumption:apply']) {
      await example(`POST /internal/assets/product-instances/{id}/${command}`, { id });
    }
    await example('POST /internal/assets/subscriptions/{id}/renewal:apply', { id: created.body.subscription.subscriptionId });
    await example('POST /internal/assets/product-instances/{id}/disconnect:start', { id });
    await example('POST /internal/assets/product-instances/{id}/disconnect:complete', { id });

    const customer = await sendTwice('/customers', { name: 'PT Ulang Sekali', externalReference: 'crm-77' }, 'POST /customers');
    assert.equal(customer.status, 201);
    const account = await sendTwice('/accounts', { customerId: customer.body.customerId, name: 'Ulang', currency: 'IDR', timeZone: 'Asia/Jakarta' }, 'POST /accounts');
    assert.equal(account.status, 201);
    const customers = await queryRows<{ n: number }>(app.db.pool, `select count(*)::int as n from customer where name = 'PT Ulang Sekali'`);
    assert.equal(customers[0].n, 1);
    const apiKey = await sendTwice('/api-keys', { name: 'once', role: 'viewer' }, 'POST /api-keys', { secretMember: 'apiKey' });
    assert.equal(apiKey.status, 201);
    await sendTwice(`/api-keys/${apiKey.body.apiKeyId}/revocation:apply`, {}, 'POST /api-keys/{id}/revocation:apply');

    // Catalog, price rules and terms.
    const code = `idem-${randomUUID().slice(0, 8)}`;
    const resource = await sendTwice('/resource-specifications', { code, name: 'VLAN once', resourceType: 'VLAN', characteristics: [] }, 'POST /resource-specifications');
    assert.equal(resource.status, 201);
    const published = await sendTwice(`/resource-specifications/${resource.body.id}/versions/1/publication:apply`, undefined, 'POST …/publication:apply');
    assert.equal(published.status, 200, JSON.stringify(published.body));
    const version2 = await sendTwice(`/resource-specifications/${resource.body.id}/versions`, { code, name: 'VLAN twice', resourceType: 'VLAN', characteristics: [] }, 'POST /resource-specifications/{id}/versions');
    assert.equal(version2.status, 201, JSON.stringify(version2.body));
    const retired = await sendTwice(`/resource-specifications/${resource.body.id}/retirement:apply`, undefined, 'POST …/retirement:apply');
    assert.equal(retired.status, 200, JSON.stringify(retired.body));
    const rule = await sendTwice('/price-rules', { code: `${code}-off`, name: '10% off', type: 'percentage', priority: 1, stacking: 'stack', appliesTo: {}, discount: { percent: '10' } }, 'POST /price-rules');
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    assert.equal((await sendTwice(`/price-rules/${rule.body.id}/retirement:apply`, undefined, 'POST /price-rules/{id}/retirement:apply')).status, 200);
    const term = await sendTwice(`/accounts/${accountId}/price-terms`, { name: 'Key account', stacking: 'stack', appliesTo: {}, validFrom: '2026-01-01T00:00:00Z', discount: { percent: '5' } }, 'POST /accounts/{accountId}/price-terms');
    assert.equal(term.status, 201, JSON.stringify(term.body));
    assert.equal((await sendTwice(`/accounts/${accountId}/price-terms/${term.body.id}/end:apply`, undefined, 'POST …/end:apply')).status, 200);

    // A refusal is replayed too (its transaction rolled back; it is stored afterwards).
    const refused = await sendTwice('/accounts', { customerId: randomUUID(), name: 'Nobody', currency: 'IDR', timeZone: 'Asia/Jakarta' }, 'POST /accounts (unknown customer)');
    assert.ok(refused.status >= 400 && refused.status < 500);
  });

  test('every POST of the document, driven once with a key: at most one writing transaction, and a replay that is the first answer', async () => {
    const known = await queryRows<{ id: string }>(app.db.pool, 'select product_instance_id::text as id from product_instance limit 1');
    const minimal = (schema: any): unknown => {
      if (schema?.anyOf ?? schema?.oneOf) return minimal((schema.anyOf ?? schema.oneOf)[0]);
      if (schema?.enum) return schema.enum[0];
      if ('const' in (schema ?? {})) return schema.const;
      switch (Array.isArray(schema?.type) ? schema.type[0] : schema?.type) {
        case 'object': return Object.fromEntries((schema.required ?? []).filter((k: string) => schema.properties?.[k]).map((k: string) => [k, minimal(schema.properties[k])]));
        case 'array': return Array.from({ length: schema.minItems ?? 0 }, () => minimal(schema.items));
        case 'integer': case 'number': return schema.minimum ?? 1;
        case 'boolean': return true;
        case 'string':
          if (schema.format === 'uuid') return known[0]?.id ?? randomUUID();
          if (schema.format === 'date-time') return '2026-08-01T00:00:00.000Z';
          if (schema.pattern === '^[A-Z]{3}$') return 'IDR';
          return 'x'.repeat(Math.max(schema.minLength ?? 1, 3));
        default: return null;
      }
    };
    let driven = 0;
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      if (!item.post) continue;
      const schema = item.post.requestBody?.content?.['application/json']?.schema;
      const url = path.replace(/\{([^}]+)\}/g, () => known[0]?.id ?? randomUUID());
      if (path.startsWith('/fulfillment/callbacks/')) continue; // signed by the provisioner, not keyed by a client
      // The one route whose answer holds a secret shown once (see its OpenAPI summary).
      const secret = path === '/api-keys' ? { secretMember: 'apiKey' } : {};
      await sendTwice(url, schema ? minimal(schema) : undefined, `POST ${path}`, secret).catch((error) => {
        throw new Error(`POST ${path}: ${error.message}`);
      });
      driven++;
    }
    assert.ok(driven >= 40, `${driven} POST routes driven`);
  });

  test('a retry while the first request still runs is 409 idempotency-in-progress; after it finishes, the retry replays it', async () => {
    const router = (await call(app.server, KEY, 'GET', '/product-offerings?limit=200')).body.items.find((o: any) => o.body.code === 'managed-router').id;
    const body = { items: [{ action: 'ADD', offeringId: router }] };
    const key = randomUUID();
    const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key };
    // Another session holds product_order against inserts: the submission waits inside its transaction.
    const blocker = new pg.Client({ connectionString: app.db.url });
    await blocker.connect();
    let firstPromise: Promise<any> | undefined;
    try {
      await blocker.query('begin');
      await blocker.query('lock table product_order in share row exclusive mode');
      firstPromise = app.server.inject({ method: 'POST', url: `/accounts/${accountId}/orders`, headers, payload: JSON.stringify(body) });
      // Wait until the first request's transaction waits for the lock (it holds the key's lock by then).
      for (let i = 0; i < 100; i++) {
        const waiting = await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from pg_locks where not granted and relation = 'product_order'::regclass`);
        if (waiting!.n > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const retry = await app.server.inject({ method: 'POST', url: `/accounts/${accountId}/orders`, headers, payload: JSON.stringify(body) });
      assert.equal(retry.statusCode, 409, retry.body);
      assert.equal(retry.json().type, '/problems/idempotency-in-progress');
      assert.match(retry.headers['content-type'] as string, /application\/problem\+json/);
    } finally {
      await blocker.query('rollback').catch(() => {});
      await blocker.end();
    }
    const first = await firstPromise!;
    assert.equal(first.statusCode, 201, first.body);
    const again = await app.server.inject({ method: 'POST', url: `/accounts/${accountId}/orders`, headers, payload: JSON.stringify(body) });
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    const row = await queryOne<any>(app.db.pool, 'select state, response_status, response_text from idempotency_key where idempotency_key = $1', [key]);
    assert.deepEqual({ state: row.state, status: row.response_status }, { state: 'completed', status: 201 });
    assert.deepEqual(JSON.parse(row.response_text), first.json());
  });
});

describe('Idempotency-Key through a real process that dies around the COMMIT', () => {
  const DEMO_KEY = 'tnr_idempotency-crash-demo-key-0123456789';
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase(2);
  });
  after(() => db?.drop());

  const start = (env: Record<string, string> = {}) =>
    startTenure({ DATABASE_URL: db.url, TENURE_DEMO_KEY: DEMO_KEY, TENURE_IN_PROCESS_WORKER: '0', NODE_ENV: 'test', ...env });

  async function submit(started: StartedTenure, accountId: string, key: string, body: unknown) {
    return fetch(`${started.url}/accounts/${accountId}/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
  }

  async function demo(started: StartedTenure) {
    const accountId = started.output().match(/Demo account:\s+(\S+)/)![1];
    const offerings = await (await fetch(`${started.url}/product-offerings?limit=200`, { headers: { authorization: `Bearer ${DEMO_KEY}` } })).json();
    const router = offerings.items.find((o: any) => o.body.code === 'managed-router').id;
    return { accountId, body: { items: [{ action: 'ADD', offeringId: router }], externalReference: `crash-${randomUUID()}` } };
  }

  const ordersOf = async (externalReference: string) =>
    queryRows<{ order_id: string }>(db.pool, 'select order_id::text from product_order where external_reference = $1', [externalReference]);

  test('killed right after the order commits, before the answer: the retry after the restart replays it, one order', async () => {
    const doomed = await start({ TENURE_TEST_CRASH_AFTER_COMMIT: '/accounts/:accountId/orders' });
    const { accountId, body } = await demo(doomed);
    const key = randomUUID();
    await assert.rejects(submit(doomed, accountId, key, body), 'the connection dies with the process');
    assert.equal(await doomed.stop(), null, 'killed by its own signal, no exit code');
    assert.equal((await ordersOf(body.externalReference)).length, 1, 'the order committed');

    const restarted = await start();
    try {
      const startedAt = Date.now();
      const retry = await submit(restarted, accountId, key, body);
      assert.ok(Date.now() - startedAt < 5_000, 'no waiting out a timeout');
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      const replayed = await retry.json();
      const orders = await ordersOf(body.externalReference);
      assert.deepEqual(orders.map((o) => o.order_id), [replayed.orderId], 'exactly one order, the one replayed');
      const again = await submit(restarted, accountId, key, body);
      assert.equal(again.status, 201);
      assert.deepEqual(await again.json(), replayed);
      // The replay is the order as it was submitted.
      const stored = await (await fetch(`${restarted.url}/orders/${replayed.orderId}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } })).json();
      assert.equal(stored.orderId, replayed.orderId);
      assert.equal(stored.externalReference, body.externalReference);
      assert.equal(stored.items.length, replayed.items.length);
    } finally {
      await restarted.stop();
    }
  });

  test('killed right before the order commits: the retry runs again at once and makes the only order', async () => {
    const doomed = await start({ TENURE_TEST_CRASH_BEFORE_COMMIT: '/accounts/:accountId/orders' });
    const { accountId, body } = await demo(doomed);
    const key = randomUUID();
    await assert.rejects(submit(doomed, accountId, key, body));
    assert.equal(await doomed.stop(), null);
    assert.equal((await ordersOf(body.externalReference)).length, 0, 'nothing committed');
    const keyRows = await queryRows(db.pool, 'select 1 from idempotency_key where idempotency_key = $1', [key]);
    assert.equal(keyRows.length, 0, 'nor the key');

    const restarted = await start();
    try {
      const startedAt = Date.now();
      const retry = await submit(restarted, accountId, key, body);
      assert.ok(Date.now() - startedAt < 5_000, 'no waiting out a timeout');
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get('idempotent-replayed'), null, 'ran, not replayed');
      const created = await retry.json();
      assert.deepEqual((await ordersOf(body.externalReference)).map((o) => o.order_id), [created.orderId]);
      const again = await submit(restarted, accountId, key, body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(await again.json(), created);
      assert.equal((await ordersOf(body.externalReference)).length, 1);
    } finally {
      await restarted.stop();
    }
  });
});
