/**
 * Access (src/access): tenants, API keys and roles, and the audit log. A tenant is created by
 * the operator tool (AccessService.createTenant, what `tenure tenant create` runs); keys are
 * created, listed and revoked through the admin-only HTTP routes. Checked: the whole stored
 * rows, that a key is never stored in clear (only its SHA-256 and a 12-character prefix), the
 * role rules over every route of the OpenAPI document (a viewer only reads, admin-only routes
 * need an admin key), 401 for a missing, unknown or revoked key, and the audit rows (who,
 * what, when) each command writes.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { queryOne, queryRows } from '../../src/platform/db.ts';
import { ValidationError } from '../../src/platform/errors.ts';
import { assertProblem, call, createTestApp, type TestApp } from '../helpers/app.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('tenants, API keys, roles and the audit log', () => {
  let app: TestApp;
  let adminKeyId: string;

  const send = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}, key = app.adminKey) =>
    call(app.server, key, method, url, body, headers);
  const ok = async (method: 'GET' | 'POST', url: string, body?: unknown, status = method === 'GET' ? 200 : 201, key = app.adminKey, headers: Record<string, string> = {}) => {
    const res = await send(method, url, body, headers, key);
    assert.equal(res.status, status, `${method} ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const now = () => app.clock.now().toISOString();
  const keyRow = (id: string) => queryOne<any>(app.db.pool, 'select * from api_key where api_key_id = $1', [id]);
  const auditOf = (targetId: string) => queryRows<any>(app.db.pool, 'select * from audit_log where target_id = $1 order by recorded_at, audit_id', [targetId]);

  /** Row counts of every table: what a refused request must leave as it was. */
  async function tableCounts(): Promise<Record<string, number>> {
    const tables = await queryRows<{ tablename: string }>(app.db.pool, `select tablename from pg_tables where schemaname = 'public' order by tablename`);
    const counts: Record<string, number> = {};
    for (const { tablename } of tables) {
      counts[tablename] = (await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from "${tablename}"`))!.n;
    }
    return counts;
  }

  /** The tables (any column, as the row's text) where `text` appears. */
  async function tablesHolding(text: string): Promise<string[]> {
    const tables = await queryRows<{ tablename: string }>(app.db.pool, `select tablename from pg_tables where schemaname = 'public' order by tablename`);
    const found: string[] = [];
    for (const { tablename } of tables) {
      const row = await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from "${tablename}" t where strpos(t::text, $1) > 0`, [text]);
      if (row!.n > 0) found.push(tablename);
    }
    return found;
  }

  /** A key is stored as its hash and its 12-character prefix; the rest of it is nowhere. */
  async function assertNotInClear(apiKey: string) {
    assert.deepEqual(await tablesHolding(apiKey), [], 'the key in clear is in no table');
    assert.deepEqual(await tablesHolding(apiKey.slice(12)), [], 'nor its secret part after the prefix');
    const row = await queryOne<any>(app.db.pool, 'select * from api_key where key_hash = $1', [sha256(apiKey)]);
    assert.ok(row, 'stored by its SHA-256');
    assert.equal(row.key_prefix, apiKey.slice(0, 12));
  }

  before(async () => {
    app = await createTestApp();
    adminKeyId = app.ctx.actor!.apiKeyId;
  });
  after(() => app.close());

  // ------------------------------------------------------------------ tenants

  test('createTenant stores the tenant, its first admin key (hashed) and a tenant.create audit row', async () => {
    app.clock.advance(1_000);
    const at = now();
    const created = await app.services.access.createTenant({ name: 'PT Penyewa', mode: 'test' });
    assert.match(created.tenantId, UUID);
    assert.match(created.apiKeyId, UUID);
    assert.match(created.apiKey, /^tnr_[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(created, { tenantId: created.tenantId, name: 'PT Penyewa', mode: 'test', apiKey: created.apiKey, apiKeyId: created.apiKeyId });

    assert.deepEqual(await queryOne(app.db.pool, 'select * from tenant where tenant_id = $1', [created.tenantId]),
      { tenant_id: created.tenantId, name: 'PT Penyewa', mode: 'test', created_at: new Date(at) });
    assert.deepEqual(await keyRow(created.apiKeyId), {
      api_key_id: created.apiKeyId,
      tenant_id: created.tenantId,
      name: 'first admin key',
      key_prefix: created.apiKey.slice(0, 12),
      key_hash: sha256(created.apiKey),
      role: 'admin',
      created_at: new Date(at),
      revoked_at: null,
    });
    await assertNotInClear(created.apiKey);
    const [audit, ...more] = await auditOf(created.tenantId);
    assert.deepEqual(more, []);
    assert.deepEqual(audit, {
      audit_id: audit.audit_id,
      tenant_id: created.tenantId,
      actor_api_key_id: null,
      actor_role: null,
      action: 'tenant.create',
      target_type: 'tenant',
      target_id: created.tenantId,
      subject_account_id: null,
      correlation_id: null,
      details: { name: 'PT Penyewa', mode: 'test' },
      recorded_at: new Date(at),
    });
    // The key works at once, as that tenant's admin.
    const principal = await app.services.access.authenticate(created.apiKey);
    assert.deepEqual(principal, { tenantId: created.tenantId, apiKeyId: created.apiKeyId, role: 'admin' });
    assert.deepEqual(await ok('GET', '/customers', undefined, 200, created.apiKey), { items: [], nextCursor: null });
  });

  test('createTenant: live by default, an admin key given by the operator, and refusals that write nothing', async () => {
    const given = 'tnr_operator-chosen-admin-key-42';
    const live = await app.services.access.createTenant({ name: 'Live one', adminKey: given });
    assert.equal(live.mode, 'live');
    assert.equal(live.apiKey, given);
    assert.equal((await queryOne<any>(app.db.pool, 'select mode from tenant where tenant_id = $1', [live.tenantId])).mode, 'live');
    await assertNotInClear(given);
    assert.equal((await app.services.access.authenticate(given))?.tenantId, live.tenantId);

    const before = await tableCounts();
    for (const input of [{ name: '' }, { name: 'n'.repeat(201) }, { name: 'short key', adminKey: 'tnr_short' }]) {
      await assert.rejects(app.services.access.createTenant(input), (error: unknown) => error instanceof ValidationError);
    }
    // The same admin key twice: the second tenant is refused by the unique hash, and nothing of it stays.
    await assert.rejects(app.services.access.createTenant({ name: 'Copycat', adminKey: given }));
    assert.deepEqual(await tableCounts(), before);
  });

  // ------------------------------------------------------------------ API keys

  test('POST /api-keys creates a key of each role, shown once; stored hashed, audited, and usable at once', async () => {
    for (const role of ['admin', 'operator', 'viewer', 'integration'] as const) {
      app.clock.advance(1_000);
      const at = now();
      const created = await ok('POST', '/api-keys', { name: `${role} key`, role }, 201, app.adminKey, { 'x-correlation-id': `corr-key-${role}` });
      assert.match(created.apiKey, /^tnr_[A-Za-z0-9_-]{32}$/);
      assert.deepEqual(created, {
        apiKeyId: created.apiKeyId, name: `${role} key`, role, keyPrefix: created.apiKey.slice(0, 12), createdAt: at, revokedAt: null, apiKey: created.apiKey,
      });
      assert.deepEqual(await keyRow(created.apiKeyId), {
        api_key_id: created.apiKeyId, tenant_id: app.tenantId, name: `${role} key`, key_prefix: created.apiKey.slice(0, 12),
        key_hash: sha256(created.apiKey), role, created_at: new Date(at), revoked_at: null,
      });
      await assertNotInClear(created.apiKey);
      const audits = await auditOf(created.apiKeyId);
      assert.equal(audits.length, 1);
      assert.deepEqual(audits[0], {
        audit_id: audits[0].audit_id,
        tenant_id: app.tenantId,
        actor_api_key_id: adminKeyId,
        actor_role: 'admin',
        action: 'api-key.create',
        target_type: 'api_key',
        target_id: created.apiKeyId,
        subject_account_id: null,
        correlation_id: `corr-key-${role}`,
        details: { role },
        recorded_at: new Date(at),
      });
      assert.deepEqual(await app.services.access.authenticate(created.apiKey), { tenantId: app.tenantId, apiKeyId: created.apiKeyId, role });
      assert.equal((await send('GET', '/customers', undefined, {}, created.apiKey)).status, 200);
    }
  });

  test('bad POST /api-keys bodies are 400 and create no key', async () => {
    const before = await tableCounts();
    const cases: [unknown, string][] = [
      [{ name: 'x', role: 'superuser' }, '/role'],
      [{ name: 'x', role: 'ADMIN' }, '/role'],
      [{ name: 'x' }, '/role'],
      [{ role: 'viewer' }, '/name'],
      [{ name: '', role: 'viewer' }, '/name'],
      [{ name: 'n'.repeat(201), role: 'viewer' }, '/name'],
      [{ name: 5, role: 'viewer' }, '/name'],
      [{ name: 'x', role: 'viewer', tenantId: randomUUID() }, '/tenantId'],
      [{ name: 'x', role: 'viewer', keyHash: sha256('mine') }, '/keyHash'],
      [{ name: 'x', role: 'viewer', apiKey: 'tnr_choose-my-own-key-please' }, '/apiKey'],
    ];
    for (const [body, field] of cases) {
      const res = await send('POST', '/api-keys', body);
      assertProblem(res, 400, 'validation-error');
      assert.ok(res.body.errors.some((e: any) => e.field === field), `${JSON.stringify(body)}: ${JSON.stringify(res.body.errors)}`);
    }
    const raw = await app.server.inject({ method: 'POST', url: '/api-keys', headers: { authorization: `Bearer ${app.adminKey}`, 'content-type': 'application/json' }, payload: '{"name":"bad \\ud800","role":"viewer"}' });
    assert.equal(raw.statusCode, 400);
    assert.equal(raw.json().errors[0].field, '/name');
    assert.deepEqual(await tableCounts(), before);
  });

  test('GET /api-keys lists this tenant\'s keys in creation order, never a key or its hash', async () => {
    const other = await app.services.access.createTenant({ name: 'Other keys' });
    const list = await ok('GET', '/api-keys');
    assert.equal(list.nextCursor, null);
    const rows = await queryRows<any>(app.db.pool, 'select * from api_key where tenant_id = $1 order by created_at, api_key_id', [app.tenantId]);
    assert.deepEqual(list.items, rows.map((r) => ({
      apiKeyId: r.api_key_id, name: r.name, role: r.role, keyPrefix: r.key_prefix, createdAt: r.created_at.toISOString(), revokedAt: r.revoked_at?.toISOString() ?? null,
    })));
    assert.ok(!list.items.some((k: any) => k.apiKeyId === other.apiKeyId), 'not another tenant\'s key');
    const text = JSON.stringify(list);
    for (const r of rows) assert.ok(!text.includes(r.key_hash), 'no hash in the list');
    assert.ok(!text.includes(app.adminKey));
  });

  test('revocation: the key is 401 at once, the row keeps when, the audit says who; repeating keeps the first time', async () => {
    const victim = await ok('POST', '/api-keys', { name: 'to revoke', role: 'operator' });
    assert.equal((await send('GET', '/customers', undefined, {}, victim.apiKey)).status, 200, 'works before (and is cached)');
    app.clock.advance(5_000);
    const at = now();
    const revoked = await ok('POST', `/api-keys/${victim.apiKeyId}/revocation:apply`, {}, 200, app.adminKey, { 'x-correlation-id': 'corr-revoke' });
    assert.deepEqual(revoked, { apiKeyId: victim.apiKeyId, name: 'to revoke', role: 'operator', keyPrefix: victim.keyPrefix, createdAt: victim.createdAt, revokedAt: at });
    assert.deepEqual((await keyRow(victim.apiKeyId)).revoked_at, new Date(at));
    const audits = (await auditOf(victim.apiKeyId)).filter((a) => a.action === 'api-key.revoke');
    assert.equal(audits.length, 1);
    assert.deepEqual(audits[0], {
      audit_id: audits[0].audit_id, tenant_id: app.tenantId, actor_api_key_id: adminKeyId, actor_role: 'admin', action: 'api-key.revoke',
      target_type: 'api_key', target_id: victim.apiKeyId, subject_account_id: null, correlation_id: 'corr-revoke', details: {}, recorded_at: new Date(at),
    });

    // Refused at once, even though this process had the key cached: reads, writes and keyed writes.
    const read = await send('GET', '/customers', undefined, {}, victim.apiKey);
    assertProblem(read, 401, 'unauthorized');
    assert.match(read.body.detail, /unknown or revoked/);
    const before = await tableCounts();
    assertProblem(await send('POST', '/customers', { name: 'after revocation' }, { 'idempotency-key': 'revoked-key-1' }, victim.apiKey), 401, 'unauthorized');
    assert.deepEqual(await tableCounts(), before, 'nothing written, not even the Idempotency-Key');
    assert.equal(await app.services.access.authenticate(victim.apiKey), undefined);

    // Revoking again answers the key as it is: revoked when it first was.
    app.clock.advance(5_000);
    const again = await ok('POST', `/api-keys/${victim.apiKeyId}/revocation:apply`, {}, 200);
    assert.equal(again.revokedAt, at);
    assert.deepEqual((await keyRow(victim.apiKeyId)).revoked_at, new Date(at));
  });

  test('revoking a key of another tenant, or none, is 404 and changes nothing; a bad id or body is 400', async () => {
    const other = await app.services.access.createTenant({ name: 'Other revocation' });
    const before = await tableCounts();
    const foreign = await send('POST', `/api-keys/${other.apiKeyId}/revocation:apply`, {});
    assertProblem(foreign, 404, 'not-found');
    assert.equal(foreign.body.id, other.apiKeyId);
    assertProblem(await send('POST', `/api-keys/${randomUUID()}/revocation:apply`, {}), 404, 'not-found');
    assertProblem(await send('POST', '/api-keys/not-a-uuid/revocation:apply', {}), 400, 'validation-error');
    assertProblem(await send('POST', `/api-keys/${other.apiKeyId}/revocation:apply`, { reason: 'x' }), 400, 'validation-error');
    assert.deepEqual(await tableCounts(), before);
    assert.equal((await keyRow(other.apiKeyId)).revoked_at, null);
    assert.equal((await send('GET', '/customers', undefined, {}, other.apiKey)).status, 200, 'the other tenant\'s key still works');
  });

  test('an admin may revoke its own key; from then on it is 401', async () => {
    const second = await ok('POST', '/api-keys', { name: 'second admin', role: 'admin' });
    const self = await ok('POST', `/api-keys/${second.apiKeyId}/revocation:apply`, {}, 200, second.apiKey);
    assert.equal(self.revokedAt, now());
    const [audit] = (await auditOf(second.apiKeyId)).filter((a) => a.action === 'api-key.revoke');
    assert.equal(audit.actor_api_key_id, second.apiKeyId, 'the actor is the key itself');
    assertProblem(await send('GET', '/api-keys', undefined, {}, second.apiKey), 401, 'unauthorized');
  });

  // ------------------------------------------------------------------ authentication

  test('a missing, malformed, unknown or revoked key is 401 unauthorized problem+json; both header forms work', async () => {
    const none = await app.server.inject({ method: 'GET', url: '/customers' });
    assert.equal(none.statusCode, 401);
    assert.match(String(none.headers['content-type']), /^application\/problem\+json/);
    assert.equal(none.json().type, '/problems/unauthorized');
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', app.adminKey, `Token ${app.adminKey}`]) {
      const res = await app.server.inject({ method: 'GET', url: '/customers', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization);
      assert.equal(res.json().type, '/problems/unauthorized');
    }
    assertProblem(await send('GET', '/customers', undefined, {}, 'tnr_unknown-key-0000000000000000000'), 401, 'unauthorized');
    assertProblem(await send('GET', '/customers', undefined, {}, app.adminKey.slice(0, -1)), 401, 'unauthorized');
    // A key's hash is not a key.
    assertProblem(await send('GET', '/customers', undefined, {}, sha256(app.adminKey)), 401, 'unauthorized');
    for (const headers of [{ authorization: `bearer ${app.adminKey}` }, { authorization: `BEARER ${app.adminKey}` }, { 'x-api-key': app.adminKey }]) {
      const res = await app.server.inject({ method: 'GET', url: '/customers', headers });
      assert.equal(res.statusCode, 200, JSON.stringify(headers));
    }
    // Public routes need no key.
    assert.equal((await app.server.inject({ method: 'GET', url: '/health' })).statusCode, 200);
  });

  // ------------------------------------------------------------------ roles

  test('roles over every route of the OpenAPI document: a viewer\'s writes and every non-admin\'s admin routes are 403, changing nothing', async () => {
    const keys = {
      viewer: (await ok('POST', '/api-keys', { name: 'matrix viewer', role: 'viewer' })).apiKey as string,
      operator: (await ok('POST', '/api-keys', { name: 'matrix operator', role: 'operator' })).apiKey as string,
      integration: (await ok('POST', '/api-keys', { name: 'matrix integration', role: 'integration' })).apiKey as string,
    };
    const doc = await ok('GET', '/openapi.json');
    const operations: { method: 'GET' | 'POST'; path: string; adminOnly: boolean }[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (method !== 'get' && method !== 'post') continue;
        if (Array.isArray(op.security) && op.security.length === 0) continue; // public
        operations.push({ method: method.toUpperCase() as 'GET' | 'POST', path, adminOnly: /needs an admin key/.test(op.responses?.['403']?.description ?? '') });
      }
    }
    const adminOnly = operations.filter((o) => o.adminOnly).map((o) => `${o.method} ${o.path}`);
    for (const documented of ['POST /api-keys', 'GET /api-keys', 'POST /api-keys/{id}/revocation:apply', 'GET /audit-log', 'GET /admin/consistency-check', 'POST /orders/{id}/rerun']) {
      assert.ok(adminOnly.includes(documented), `${documented} is admin only (found: ${adminOnly.join(', ')})`);
    }
    const writes = operations.filter((o) => o.method === 'POST');
    assert.ok(writes.length >= 30, `the document has the POST routes (${writes.length})`);
    const urlOf = (path: string) => path.replace(/\{[^}]+\}/g, (name) => (name === '{version}' ? '1' : randomUUID()));

    const before = await tableCounts();
    for (const op of operations) {
      const url = urlOf(op.path);
      if (op.method === 'POST') {
        // A viewer: refused before the body is read (this one is valid JSON, not a valid command).
        const res = await send('POST', url, {}, { 'idempotency-key': `viewer-${randomUUID()}` }, keys.viewer);
        assertProblem(res, 403, 'forbidden');
      }
      for (const role of ['viewer', 'operator', 'integration'] as const) {
        if (!op.adminOnly) continue;
        const res = await send(op.method, url, op.method === 'POST' ? {} : undefined, {}, keys[role]);
        assertProblem(res, 403, 'forbidden');
        assert.match(res.body.detail, new RegExp(`needs an admin key; yours is ${role}`));
      }
    }
    assert.deepEqual(await tableCounts(), before, 'no refused request wrote anything (no key, no audit row)');

    // And what they may do: a viewer reads; operator and integration keys create customers.
    assert.equal((await send('GET', '/customers', undefined, {}, keys.viewer)).status, 200);
    assert.equal((await send('GET', '/product-offerings', undefined, {}, keys.viewer)).status, 200);
    for (const role of ['operator', 'integration'] as const) {
      const created = await send('POST', '/customers', { name: `by ${role}` }, {}, keys[role]);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const [audit] = await auditOf(created.body.customerId);
      assert.equal(audit.actor_role, role);
    }
  });

  // ------------------------------------------------------------------ audit log

  test('GET /audit-log: this tenant\'s rows, newest first, whole, paged by cursor', async () => {
    const other = await app.services.access.createTenant({ name: 'Other audit' });
    await send('POST', '/customers', { name: 'audited elsewhere' }, {}, other.apiKey);
    app.clock.advance(1_000);
    const created = await ok('POST', '/api-keys', { name: 'audit page', role: 'viewer' }, 201, app.adminKey, { 'x-correlation-id': 'corr-audit-page' });
    const items: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await ok('GET', `/audit-log?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.ok(page.items.length <= 3);
      items.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 200);
    const rows = await queryRows<any>(app.db.pool, 'select * from audit_log where tenant_id = $1 order by recorded_at desc, audit_id desc', [app.tenantId]);
    assert.deepEqual(items, rows.map((r) => ({
      auditId: r.audit_id, actorApiKeyId: r.actor_api_key_id, actorRole: r.actor_role, action: r.action, targetType: r.target_type, targetId: r.target_id,
      subjectAccountId: r.subject_account_id, correlationId: r.correlation_id, details: r.details, recordedAt: r.recorded_at.toISOString(),
    })), 'every row of this tenant once, newest first');
    assert.deepEqual(items[0], {
      auditId: items[0].auditId, actorApiKeyId: adminKeyId, actorRole: 'admin', action: 'api-key.create', targetType: 'api_key', targetId: created.apiKeyId,
      subjectAccountId: null, correlationId: 'corr-audit-page', details: { role: 'viewer' }, recordedAt: now(),
    });
    assert.ok(!items.some((i) => i.targetId === other.tenantId), 'no row of another tenant');
    assert.equal(items[items.length - 1].action, 'tenant.create', 'the oldest is the tenant\'s creation');
    assertProblem(await send('GET', '/audit-log?cursor=bogus'), 400, 'validation-error');
    assertProblem(await send('GET', `/audit-log?cursor=${Buffer.from(JSON.stringify({ recordedAt: 'soon', auditId: 'x' })).toString('base64url')}`), 400, 'validation-error');
  });

  test('a keyed POST /api-keys stores no key in clear', { todo: 'defect: the Idempotency-Key record keeps the first response, whose apiKey is the key in clear (idempotency_key.response_text/response_body); see the report' }, async () => {
    const created = await ok('POST', '/api-keys', { name: 'keyed', role: 'viewer' }, 201, app.adminKey, { 'idempotency-key': `api-key-${randomUUID()}` });
    await assertNotInClear(created.apiKey);
  });
});
