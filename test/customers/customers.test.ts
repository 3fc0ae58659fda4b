/**
 * Customers and accounts (src/customers) through the HTTP API: every route, with the whole
 * state each command leaves (the stored row, the response, the audit row; customers and
 * accounts write no outbox event), tenancy (another tenant's rows are 404), refused input
 * (problem+json, nothing written) and idempotent replays. The part has no update command:
 * a customer or an account is created and read, never changed.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { queryOne, queryRows } from '../../src/platform/db.ts';
import { ValidationError } from '../../src/platform/errors.ts';
import { assertProblem, call, createTestApp, type TestApp } from '../helpers/app.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('customers and accounts through HTTP', () => {
  let app: TestApp;
  let adminKeyId: string;
  let operator: { apiKey: string; apiKeyId: string };
  let viewer: { apiKey: string; apiKeyId: string };
  let tenantB: { tenantId: string; apiKey: string; apiKeyId: string };

  const send = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}, key = app.adminKey) =>
    call(app.server, key, method, url, body, headers);
  /** A POST whose body is written as text: what JSON.stringify cannot send (lone surrogates). */
  const sendRaw = async (url: string, payload: string, headers: Record<string, string> = {}, key = app.adminKey) => {
    const res = await app.server.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, payload });
    let body: any = res.body;
    try {
      body = res.json();
    } catch {
      // not JSON: kept as text, the assertion says so
    }
    return { status: res.statusCode, body, headers: res.headers };
  };
  const ok = async (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}, key = app.adminKey) => {
    const res = await send(method, url, body, headers, key);
    assert.equal(res.status, method === 'GET' ? 200 : 201, `${method} ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const now = () => app.clock.now().toISOString();

  /** Everything a customers command could write, in every tenant. */
  const footprint = async () => (await queryOne<Record<string, number>>(app.db.pool, `
    select (select count(*)::int from customer) as customers,
           (select count(*)::int from account) as accounts,
           (select count(*)::int from audit_log) as audit,
           (select count(*)::int from outbox_event) as outbox`))!;
  const customerRow = (id: string) => queryOne<any>(app.db.pool, 'select * from customer where customer_id = $1', [id]);
  const accountRow = (id: string) => queryOne<any>(app.db.pool, 'select * from account where account_id = $1', [id]);
  const auditRows = (targetId: string) => queryRows<any>(app.db.pool, 'select * from audit_log where target_id = $1 order by recorded_at, audit_id', [targetId]);

  function assertInvalid(res: { status: number; body: any; headers: Record<string, unknown> }, field: string, message?: RegExp) {
    assertProblem(res, 400, 'validation-error');
    const error = res.body.errors?.find((e: any) => e.field === field);
    assert.ok(error, `expected an error on ${field}, got ${JSON.stringify(res.body.errors)}`);
    if (message) assert.match(error.message, message);
  }

  before(async () => {
    app = await createTestApp();
    adminKeyId = app.ctx.actor!.apiKeyId;
    operator = await app.services.access.createApiKey(app.ctx, { name: 'operator', role: 'operator' });
    viewer = await app.services.access.createApiKey(app.ctx, { name: 'viewer', role: 'viewer' });
    tenantB = await app.services.access.createTenant({ name: 'Tenant B' });
  });
  after(() => app.close());

  // ------------------------------------------------------------------ customers

  test('POST /customers stores the customer, answers it whole, and audits who did it', async () => {
    const before = await footprint();
    app.clock.advance(1_000);
    const at = now();
    const created = await ok('POST', '/customers', { name: 'PT Contoh Digital', externalReference: 'CRM-0001' }, { 'x-correlation-id': 'corr-customer-1' });
    assert.match(created.customerId, UUID);
    assert.deepEqual(created, { customerId: created.customerId, name: 'PT Contoh Digital', externalReference: 'CRM-0001', createdAt: at, updatedAt: at });

    assert.deepEqual(await customerRow(created.customerId), {
      customer_id: created.customerId,
      tenant_id: app.tenantId,
      name: 'PT Contoh Digital',
      external_reference: 'CRM-0001',
      created_at: new Date(at),
      updated_at: new Date(at),
    });
    const [audit] = await auditRows(created.customerId);
    assert.match(audit.audit_id, UUID);
    assert.deepEqual(audit, {
      audit_id: audit.audit_id,
      tenant_id: app.tenantId,
      actor_api_key_id: adminKeyId,
      actor_role: 'admin',
      action: 'customer.create',
      target_type: 'customer',
      target_id: created.customerId,
      subject_account_id: null,
      correlation_id: 'corr-customer-1',
      details: {},
      recorded_at: new Date(at),
    });
    assert.deepEqual(await footprint(), { ...before, customers: before.customers + 1, audit: before.audit + 1 }, 'one customer and one audit row; no outbox event');

    assert.deepEqual(await ok('GET', `/customers/${created.customerId}`), created, 'read back as created');
  });

  test('a customer without externalReference has null; an operator may create one; the correlation id defaults to the request id', async () => {
    const created = await ok('POST', '/customers', { name: 'Toko Sinar' }, {}, operator.apiKey);
    assert.equal(created.externalReference, null);
    assert.equal((await customerRow(created.customerId)).external_reference, null);
    const [audit] = await auditRows(created.customerId);
    assert.equal(audit.actor_api_key_id, operator.apiKeyId);
    assert.equal(audit.actor_role, 'operator');
    assert.match(audit.correlation_id, UUID, 'without X-Correlation-Id, the request id is the correlation id');
    // Names are stored exactly: emoji (a surrogate pair) and non-Latin scripts.
    const named = await ok('POST', '/customers', { name: 'Kopi ☕ 😀 東京 Ünïcödé' });
    assert.equal((await customerRow(named.customerId)).name, 'Kopi ☕ 😀 東京 Ünïcödé');
    assert.equal(named.name, 'Kopi ☕ 😀 東京 Ünïcödé');
    // 300 characters is the limit, counted in characters (an emoji is one).
    const longest = await ok('POST', '/customers', { name: '😀'.repeat(300) });
    assert.equal((await customerRow(longest.customerId)).name, '😀'.repeat(300));
  });

  test('GET /customers pages in creation order with a keyset cursor, and shows only this tenant\'s customers', async () => {
    // Customers of tenant B exist; A's list never shows them.
    const ofB = await ok('POST', '/customers', { name: 'B customer' }, {}, tenantB.apiKey);
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) {
      app.clock.advance(1_000);
      mine.push((await ok('POST', '/customers', { name: `Paged ${i}` })).customerId);
    }
    const all: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await ok('GET', `/customers?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.ok(page.items.length <= 2);
      all.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    const rows = await queryRows<any>(app.db.pool, 'select customer_id from customer where tenant_id = $1 order by created_at, customer_id', [app.tenantId]);
    assert.deepEqual(all.map((c) => c.customerId), rows.map((r) => r.customer_id), 'every customer once, in (createdAt, id) order');
    assert.deepEqual(all.slice(-3).map((c) => c.customerId), mine, 'the newest last');
    assert.ok(!all.some((c) => c.customerId === ofB.customerId), 'not another tenant\'s');
    const last = await ok('GET', `/customers?limit=200`);
    assert.equal(last.nextCursor, null, 'one page when it all fits');
    assert.deepEqual(last.items, all);
  });

  // ------------------------------------------------------------------ accounts

  test('POST /accounts opens an account with its currency, time zone and segment; stored and audited whole', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Akun' });
    const before = await footprint();
    app.clock.advance(1_000);
    const at = now();
    const created = await ok('POST', '/accounts', { customerId: customer.customerId, name: 'Head office', currency: 'IDR', timeZone: 'Asia/Jakarta', segment: 'enterprise' }, { 'x-correlation-id': 'corr-account-1' });
    assert.match(created.accountId, UUID);
    assert.deepEqual(created, {
      accountId: created.accountId,
      customerId: customer.customerId,
      name: 'Head office',
      currency: 'IDR',
      timeZone: 'Asia/Jakarta',
      segment: 'enterprise',
      billingCycleDay: 1,
      createdAt: at,
      updatedAt: at,
    });
    assert.deepEqual(await accountRow(created.accountId), {
      account_id: created.accountId,
      tenant_id: app.tenantId,
      customer_id: customer.customerId,
      name: 'Head office',
      currency: 'IDR',
      time_zone: 'Asia/Jakarta',
      segment: 'enterprise',
      billing_cycle_day: 1,
      created_at: new Date(at),
      updated_at: new Date(at),
    });
    const [audit] = await auditRows(created.accountId);
    assert.deepEqual(audit, {
      audit_id: audit.audit_id,
      tenant_id: app.tenantId,
      actor_api_key_id: adminKeyId,
      actor_role: 'admin',
      action: 'account.create',
      target_type: 'account',
      target_id: created.accountId,
      subject_account_id: created.accountId,
      correlation_id: 'corr-account-1',
      details: {},
      recorded_at: new Date(at),
    });
    assert.deepEqual(await footprint(), { ...before, accounts: before.accounts + 1, audit: before.audit + 1 });
    assert.deepEqual(await ok('GET', `/accounts/${created.accountId}`), created);
  });

  test('an account bills on the billing cycle day it is opened with, 1 to 31; without one on the 1st', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Siklus' });
    for (const day of [1, 15, 28, 29, 30, 31]) {
      app.clock.advance(1_000); // one creation time each: the list below is in creation order
      const before = await footprint();
      const account = await ok('POST', '/accounts', { customerId: customer.customerId, name: `BCD ${day}`, currency: 'EUR', timeZone: 'Europe/Berlin', billingCycleDay: day });
      assert.equal(account.billingCycleDay, day);
      assert.equal((await accountRow(account.accountId)).billing_cycle_day, day);
      assert.deepEqual(await ok('GET', `/accounts/${account.accountId}`), account, 'GET shows it');
      assert.deepEqual(await footprint(), { ...before, accounts: before.accounts + 1, audit: before.audit + 1 });
    }
    app.clock.advance(1_000);
    const plain = await ok('POST', '/accounts', { customerId: customer.customerId, name: 'no BCD', currency: 'EUR', timeZone: 'Europe/Berlin' });
    assert.equal(plain.billingCycleDay, 1, 'the default: calendar months (decision 0022)');
    assert.equal((await accountRow(plain.accountId)).billing_cycle_day, 1);
    const listed = await ok('GET', `/accounts?customerId=${customer.customerId}&limit=200`);
    assert.deepEqual(listed.items.map((a: any) => a.billingCycleDay), [1, 15, 28, 29, 30, 31, 1], 'the list shows it too');
  });

  test('a bad billing cycle day or time zone is 400 naming the field, with nothing written', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Salah' });
    const good = { customerId: customer.customerId, name: 'Good', currency: 'EUR', timeZone: 'Europe/Berlin' };
    const before = await footprint();
    for (const billingCycleDay of [0, 32, -1, '5', 5.5, null, true, '']) {
      assertInvalid(await send('POST', '/accounts', { ...good, billingCycleDay }), '/billingCycleDay');
    }
    assertInvalid(await send('POST', '/accounts', { ...good, billingCycleDay: 15, timeZone: 'Europe/Atlantis' }), '/timeZone', /not an IANA time zone/);
    assert.deepEqual(await footprint(), before, 'no account, no audit row');
    // The service refuses the same values from callers inside the process (demo data, CLI).
    for (const billingCycleDay of [0, 32, 5.5]) {
      await assert.rejects(app.services.customers.createAccount(app.ctx, { ...good, billingCycleDay }), (e: any) => e instanceof ValidationError && e.errors[0]?.field === '/billingCycleDay');
    }
    assert.deepEqual(await footprint(), before);
  });

  test('every segment is accepted; without one the segment is null (any offering)', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Segmen' });
    for (const segment of ['residential', 'business', 'enterprise']) {
      const account = await ok('POST', '/accounts', { customerId: customer.customerId, name: segment, currency: 'USD', timeZone: 'America/New_York', segment });
      assert.equal(account.segment, segment);
      assert.equal((await accountRow(account.accountId)).segment, segment);
    }
    const none = await ok('POST', '/accounts', { customerId: customer.customerId, name: 'no segment', currency: 'EUR', timeZone: 'UTC' });
    assert.equal(none.segment, null);
    assert.equal((await accountRow(none.accountId)).segment, null);
  });

  test('a time zone is stored as its IANA name, whatever its case in the request', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Zona' });
    for (const [given, stored] of [['asia/jakarta', 'Asia/Jakarta'], ['AMERICA/NEW_YORK', 'America/New_York'], ['utc', 'UTC']]) {
      const account = await ok('POST', '/accounts', { customerId: customer.customerId, name: given, currency: 'IDR', timeZone: given });
      assert.equal(account.timeZone, stored);
      assert.equal((await accountRow(account.accountId)).time_zone, stored);
    }
  });

  test('GET /accounts lists all accounts or one customer\'s, paged, never another tenant\'s', async () => {
    const first = await ok('POST', '/customers', { name: 'List one' });
    const second = await ok('POST', '/customers', { name: 'List two' });
    const open = (customerId: string, name: string) => ok('POST', '/accounts', { customerId, name, currency: 'IDR', timeZone: 'Asia/Jakarta' });
    const a1 = await open(first.customerId, 'one-a');
    app.clock.advance(1_000);
    const a2 = await open(first.customerId, 'one-b');
    const b1 = await open(second.customerId, 'two-a');
    const customerOfB = await ok('POST', '/customers', { name: 'B list' }, {}, tenantB.apiKey);
    const accountOfB = await ok('POST', '/accounts', { customerId: customerOfB.customerId, name: 'B', currency: 'IDR', timeZone: 'Asia/Jakarta' }, {}, tenantB.apiKey);

    const ofFirst = await ok('GET', `/accounts?customerId=${first.customerId}`);
    assert.deepEqual(ofFirst, { items: [a1, a2], nextCursor: null }, 'the customer\'s accounts, whole, oldest first');
    const page1 = await ok('GET', `/accounts?customerId=${first.customerId}&limit=1`);
    assert.deepEqual(page1.items, [a1]);
    assert.equal(typeof page1.nextCursor, 'string');
    const page2 = await ok('GET', `/accounts?customerId=${first.customerId}&limit=1&cursor=${encodeURIComponent(page1.nextCursor)}`);
    assert.deepEqual(page2, { items: [a2], nextCursor: null });

    const everything = await ok('GET', '/accounts?limit=200');
    const ids = everything.items.map((a: any) => a.accountId);
    for (const a of [a1, a2, b1]) assert.ok(ids.includes(a.accountId));
    assert.ok(!ids.includes(accountOfB.accountId), 'another tenant\'s account is not listed');
    assert.deepEqual(await ok('GET', `/accounts?customerId=${customerOfB.customerId}`), { items: [], nextCursor: null }, 'another tenant\'s customer has no accounts here');
  });

  // ------------------------------------------------------------------ tenancy

  test('another tenant\'s customer and account are 404 not-found (not 403), and cannot be opened an account for', async () => {
    const customerOfB = await ok('POST', '/customers', { name: 'Hidden B' }, {}, tenantB.apiKey);
    const accountOfB = await ok('POST', '/accounts', { customerId: customerOfB.customerId, name: 'Hidden B', currency: 'IDR', timeZone: 'Asia/Jakarta' }, {}, tenantB.apiKey);

    const customer = await send('GET', `/customers/${customerOfB.customerId}`);
    assertProblem(customer, 404, 'not-found');
    assert.equal(customer.body.resource, 'customer');
    assert.equal(customer.body.id, customerOfB.customerId);
    const account = await send('GET', `/accounts/${accountOfB.accountId}`);
    assertProblem(account, 404, 'not-found');
    assert.equal(account.body.resource, 'account');
    assert.equal(account.body.id, accountOfB.accountId);
    // An id that exists nowhere answers the same: the caller cannot tell the two apart.
    const nowhere = await send('GET', `/accounts/${randomUUID()}`);
    assertProblem(nowhere, 404, 'not-found');
    assert.deepEqual(Object.keys(nowhere.body).sort(), Object.keys(account.body).sort());

    const before = await footprint();
    const foreign = await send('POST', '/accounts', { customerId: customerOfB.customerId, name: 'Stolen', currency: 'IDR', timeZone: 'Asia/Jakarta' });
    assertProblem(foreign, 404, 'not-found');
    assert.equal(foreign.body.id, customerOfB.customerId);
    assert.deepEqual(await footprint(), before, 'nothing written');

    // Tenant B still sees its own rows.
    assert.deepEqual(await ok('GET', `/accounts/${accountOfB.accountId}`, undefined, {}, tenantB.apiKey), accountOfB);
  });

  // ------------------------------------------------------------------ roles

  test('a viewer reads customers and accounts; its writes are 403 forbidden and change nothing', async () => {
    const customer = await ok('POST', '/customers', { name: 'Viewed' });
    const account = await ok('POST', '/accounts', { customerId: customer.customerId, name: 'Viewed', currency: 'IDR', timeZone: 'Asia/Jakarta' });
    assert.deepEqual(await ok('GET', `/customers/${customer.customerId}`, undefined, {}, viewer.apiKey), customer);
    assert.deepEqual(await ok('GET', `/accounts/${account.accountId}`, undefined, {}, viewer.apiKey), account);
    assert.ok((await ok('GET', '/customers', undefined, {}, viewer.apiKey)).items.length > 0);
    assert.ok((await ok('GET', '/accounts', undefined, {}, viewer.apiKey)).items.length > 0);

    const before = await footprint();
    assertProblem(await send('POST', '/customers', { name: 'nope' }, {}, viewer.apiKey), 403, 'forbidden');
    assertProblem(await send('POST', '/accounts', { customerId: customer.customerId, name: 'nope', currency: 'IDR', timeZone: 'Asia/Jakarta' }, {}, viewer.apiKey), 403, 'forbidden');
    // Forbidden before the body is looked at: even a keyed, invalid one.
    assertProblem(await send('POST', '/customers', { name: 7 }, { 'idempotency-key': 'viewer-key-1' }, viewer.apiKey), 403, 'forbidden');
    assert.deepEqual(await footprint(), before);
    assert.equal((await queryRows(app.db.pool, `select 1 from idempotency_key where idempotency_key = 'viewer-key-1'`)).length, 0, 'a refusal before the key is read is not stored');
  });

  // ------------------------------------------------------------------ bad input

  test('bad customer bodies are 400 validation-error naming the field, and write nothing', async () => {
    const before = await footprint();
    const cases: [unknown, string, RegExp?][] = [
      [{ name: 123 }, '/name', /string/],
      [{ name: null }, '/name'],
      [{ name: ['a'] }, '/name'],
      [{}, '/name', /required/],
      [{ name: '' }, '/name'],
      [{ name: 'x'.repeat(301) }, '/name', /300/],
      [{ name: 'ok', externalReference: 'r'.repeat(201) }, '/externalReference', /200/],
      [{ name: 'ok', externalReference: 42 }, '/externalReference'],
      [{ name: 'ok', externalReference: null }, '/externalReference'],
      [{ name: 'ok', customerId: randomUUID() }, '/customerId', /not a known field/],
      [{ name: 'ok', tenantId: tenantB.tenantId }, '/tenantId', /not a known field/],
      [{ name: 'a\u0000b' }, '/name'],
    ];
    for (const [body, field, message] of cases) {
      const res = await send('POST', '/customers', body);
      assertInvalid(res, field, message);
    }
    // Not an object at all.
    for (const payload of ['[]', '"name"', '42', 'null']) assertProblem(await sendRaw('/customers', payload), 400, 'validation-error');
    // Lone surrogates (not Unicode characters; PostgreSQL cannot store them) in a value and in a key.
    assertInvalid(await sendRaw('/customers', '{"name":"abc\\ud800"}'), '/name');
    assertInvalid(await sendRaw('/customers', '{"name":"\\udfffabc"}'), '/name');
    assertProblem(await sendRaw('/customers', '{"name":"ok","\\ud800":1}'), 400, 'validation-error');
    // Not JSON, and JSON that is not allowed.
    assertProblem(await sendRaw('/customers', '{"name": "unterminated'), 400, 'validation-error');
    assertProblem(await sendRaw('/customers', '{"name":"ok","__proto__":{"admin":true}}'), 400, 'validation-error');
    // A huge string: over the body limit is 413, under it but over the field's limit is 400.
    const huge = await sendRaw('/customers', JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }));
    assertProblem(huge, 413, 'payload-too-large');
    assertInvalid(await send('POST', '/customers', { name: 'x'.repeat(500_000) }), '/name');
    // Another media type.
    const text = await app.server.inject({ method: 'POST', url: '/customers', headers: { authorization: `Bearer ${app.adminKey}`, 'content-type': 'application/xml' }, payload: '<name>x</name>' });
    assert.equal(text.statusCode, 415);
    assert.equal(text.json().type, '/problems/unsupported-media-type');
    assert.deepEqual(await footprint(), before, 'no customer, no audit row');
  });

  test('bad account bodies are 400 validation-error (or 404 for an unknown customer), and write nothing', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Valid' });
    const good = { customerId: customer.customerId, name: 'Good', currency: 'IDR', timeZone: 'Asia/Jakarta' };
    const before = await footprint();
    const cases: [unknown, string, RegExp?][] = [
      [{ ...good, customerId: 'not-a-uuid' }, '/customerId', /uuid/],
      [{ ...good, customerId: 12 }, '/customerId'],
      [{ ...good, customerId: undefined }, '/customerId', /required/],
      [{ ...good, name: '' }, '/name'],
      [{ ...good, name: 'n'.repeat(301) }, '/name'],
      [{ ...good, name: false }, '/name'],
      [{ ...good, currency: 'idr' }, '/currency'],
      [{ ...good, currency: 'IDRR' }, '/currency'],
      [{ ...good, currency: 360 }, '/currency'],
      [{ ...good, currency: undefined }, '/currency', /required/],
      [{ ...good, timeZone: 'Mars/Olympus_Mons' }, '/timeZone', /IANA/],
      [{ ...good, timeZone: '' }, '/timeZone'],
      [{ ...good, timeZone: 'Asia/' + 'x'.repeat(64) }, '/timeZone'],
      [{ ...good, timeZone: 7 }, '/timeZone'],
      [{ ...good, segment: 'galactic' }, '/segment', /residential, business, enterprise/],
      [{ ...good, segment: null }, '/segment'],
      [{ ...good, tenantId: tenantB.tenantId }, '/tenantId', /not a known field/],
      [{ ...good, accountId: randomUUID() }, '/accountId', /not a known field/],
      [{ ...good, createdAt: '2020-01-01T00:00:00Z' }, '/createdAt', /not a known field/],
    ];
    for (const [body, field, message] of cases) assertInvalid(await send('POST', '/accounts', body), field, message);
    assertInvalid(await sendRaw('/accounts', JSON.stringify(good).replace('"Good"', '"Go\\ud83dod"')), '/name');
    assertInvalid(await sendRaw('/accounts', JSON.stringify(good).replace('"Asia/Jakarta"', '"Asia/Jakarta\\udc00"')), '/timeZone');
    // A uuid spelled in a form PostgreSQL does not read is refused like any other malformed id.
    assertInvalid(await send('POST', '/accounts', { ...good, customerId: `urn:uuid:${customer.customerId}` }), '/customerId');
    const unknown = await send('POST', '/accounts', { ...good, customerId: randomUUID() });
    assertProblem(unknown, 404, 'not-found');
    assert.equal(unknown.body.resource, 'customer');
    assert.deepEqual(await footprint(), before, 'no account, no audit row');
  });

  test('bad ids, limits and cursors in paths and query strings are 400, never a 500', async () => {
    assertInvalid(await send('GET', '/customers/not-a-uuid'), '/params/id');
    assertInvalid(await send('GET', '/accounts/12345'), '/params/id');
    assertInvalid(await send('GET', `/accounts/urn:uuid:${randomUUID()}`), '/params/id');
    assertInvalid(await send('GET', `/customers/urn:uuid:${randomUUID()}`), '/params/id');
    assertInvalid(await send('GET', '/accounts?customerId=nope'), '/querystring/customerId');
    assertInvalid(await send('GET', '/customers?limit=0'), '/querystring/limit');
    assertInvalid(await send('GET', '/customers?limit=201'), '/querystring/limit');
    assertInvalid(await send('GET', '/accounts?limit=ten'), '/querystring/limit');
    assertProblem(await send('GET', '/customers?cursor=not-a-cursor'), 400, 'validation-error');
    assertProblem(await send('GET', `/accounts?cursor=${Buffer.from(JSON.stringify({ createdAt: 'yesterday', id: 'x' })).toString('base64url')}`), 400, 'validation-error');
    // A lone surrogate's bytes (not UTF-8) in the path.
    assertProblem(await send('GET', '/customers/%ED%A0%80'), 400, 'validation-error');
    assertProblem(await send('GET', `/customers/${'a'.repeat(101)}`), 414, 'uri-too-long');
  });

  // ------------------------------------------------------------------ idempotency

  test('POST /customers with an Idempotency-Key replays the first response and creates one customer', async () => {
    const before = await footprint();
    const key = `customer-${randomUUID()}`;
    const body = { name: 'PT Sekali Saja', externalReference: 'CRM-IDEM' };
    const first = await send('POST', '/customers', body, { 'idempotency-key': key });
    assert.equal(first.status, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    app.clock.advance(60_000);
    const again = await send('POST', '/customers', body, { 'idempotency-key': key });
    assert.equal(again.status, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.body, first.body, 'the first response, not a second customer');
    assert.equal((await queryRows(app.db.pool, `select 1 from customer where external_reference = 'CRM-IDEM'`)).length, 1);
    assert.equal((await auditRows(first.body.customerId)).length, 1, 'audited once');
    assert.deepEqual(await footprint(), { ...before, customers: before.customers + 1, audit: before.audit + 1 });

    const stored = await queryOne<any>(app.db.pool, 'select * from idempotency_key where tenant_id = $1 and idempotency_key = $2', [app.tenantId, key]);
    assert.equal(stored.method, 'POST');
    assert.equal(stored.path, '/customers');
    assert.equal(stored.state, 'completed');
    assert.equal(stored.response_status, 201);
    assert.deepEqual(JSON.parse(stored.response_text), first.body);
    assert.match(stored.request_hash, /^[0-9a-f]{64}$/);
    assert.notEqual(stored.request_hash, createHash('sha256').update(key).digest('hex'));

    // The same key with another body, even a corrected one, is refused and changes nothing.
    const reused = await send('POST', '/customers', { ...body, name: 'PT Dua Kali' }, { 'idempotency-key': key });
    assertProblem(reused, 422, 'idempotency-key-reuse');
    // Another path with the same key is another request, refused too.
    const otherPath = await send('POST', '/accounts', { customerId: first.body.customerId, name: 'x', currency: 'IDR', timeZone: 'UTC' }, { 'idempotency-key': key });
    assertProblem(otherPath, 422, 'idempotency-key-reuse');
    assert.deepEqual(await footprint(), { ...before, customers: before.customers + 1, audit: before.audit + 1 });

    // Keys are the tenant's own: tenant B's same key is a new request.
    const inB = await send('POST', '/customers', body, { 'idempotency-key': key }, tenantB.apiKey);
    assert.equal(inB.status, 201);
    assert.equal(inB.headers['idempotent-replayed'], undefined);
    assert.notEqual(inB.body.customerId, first.body.customerId);
    assert.equal((await customerRow(inB.body.customerId)).tenant_id, tenantB.tenantId);
  });

  test('a refused keyed POST is stored and replayed too; the key stays bound to that request', async () => {
    const before = await footprint();
    const key = `bad-account-${randomUUID()}`;
    const bad = { customerId: randomUUID(), name: 'Nobody', currency: 'IDR', timeZone: 'Asia/Jakarta' };
    const first = await send('POST', '/accounts', bad, { 'idempotency-key': key });
    assertProblem(first, 404, 'not-found');
    const again = await send('POST', '/accounts', bad, { 'idempotency-key': key });
    assertProblem(again, 404, 'not-found');
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.body, first.body, 'the same problem document, instance included');
    const schemaKey = `bad-customer-${randomUUID()}`;
    const invalid = await send('POST', '/customers', { name: 5 }, { 'idempotency-key': schemaKey });
    assertInvalid(invalid, '/name');
    const replayed = await send('POST', '/customers', { name: 5 }, { 'idempotency-key': schemaKey });
    assert.equal(replayed.headers['idempotent-replayed'], 'true');
    assert.deepEqual(replayed.body, invalid.body);
    assertProblem(await send('POST', '/customers', { name: 'fixed' }, { 'idempotency-key': schemaKey }), 422, 'idempotency-key-reuse');
    assert.deepEqual(await footprint(), before, 'refusals write nothing but their keys');
    const keys = await queryRows<any>(app.db.pool, 'select idempotency_key, response_status from idempotency_key where idempotency_key = any ($1) order by response_status', [[key, schemaKey]]);
    assert.deepEqual(keys.map((k) => k.response_status), [400, 404]);
    // Keys of the wrong length are a 400 naming the header.
    assertInvalid(await send('POST', '/customers', { name: 'k' }, { 'idempotency-key': 'k'.repeat(201) }), 'Idempotency-Key');
  });

  test('POST /accounts replays under its key; parallel repeats of one keyed POST open one account', async () => {
    const customer = await ok('POST', '/customers', { name: 'PT Paralel' });
    const body = { customerId: customer.customerId, name: 'Parallel', currency: 'IDR', timeZone: 'Asia/Jakarta', segment: 'business' };
    const key = `account-${randomUUID()}`;
    const before = await footprint();
    const answers = await Promise.all(Array.from({ length: 6 }, () => send('POST', '/accounts', body, { 'idempotency-key': key })));
    for (const a of answers) {
      assert.ok(a.status === 201 || (a.status === 409 && a.body.type === '/problems/idempotency-in-progress'), JSON.stringify(a.body));
    }
    const created = answers.filter((a) => a.status === 201);
    assert.ok(created.length >= 1);
    assert.equal(new Set(created.map((a) => a.body.accountId)).size, 1, 'every 201 is the one account');
    const accounts = await queryRows<any>(app.db.pool, 'select * from account where customer_id = $1', [customer.customerId]);
    assert.equal(accounts.length, 1);
    assert.equal((await auditRows(accounts[0].account_id)).length, 1);
    assert.deepEqual(await footprint(), { ...before, accounts: before.accounts + 1, audit: before.audit + 1 });
    const later = await send('POST', '/accounts', body, { 'idempotency-key': key });
    assert.equal(later.status, 201);
    assert.equal(later.headers['idempotent-replayed'], 'true');
    assert.equal(later.body.accountId, accounts[0].account_id);
  });
});
