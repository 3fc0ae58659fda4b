import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inTenantTransaction, queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount } from '../helpers/fixtures.ts';

describe('tenant isolation by Row-Level Security', () => {
  let app: TestApp;
  let tenantB: { tenantId: string; apiKey: string };
  let productOfB: string;

  before(async () => {
    app = await createTestApp();
    tenantB = await app.services.access.createTenant({ name: 'Tenant B' });
    const ctxB = { tenantId: tenantB.tenantId, actor: null, correlationId: null };
    const { accountId } = await createAccount(app.services, ctxB, 'B customer');
    productOfB = (await activeProduct(app.services, ctxB, accountId)).productInstanceId;
  });
  after(() => app.close());

  test("with tenant A's context, raw SQL sees none of tenant B's rows", async () => {
    await inTenantTransaction(app.db.pool, app.tenantId, async (tx) => {
      for (const table of ['customer', 'account', 'subscription', 'product_instance', 'product_instance_history', 'service_instance', 'outbox_event', 'audit_log', 'api_key', 'asset_operation_guard']) {
        const rows = await queryRows<{ tenant_id: string }>(tx, `select tenant_id from ${table}`);
        assert.ok(rows.every((r) => r.tenant_id === app.tenantId), `${table} leaked another tenant's row`);
      }
      const direct = await queryRows(tx, 'select * from product_instance where product_instance_id = $1', [productOfB]);
      assert.equal(direct.length, 0);
    });
  });

  test("with tenant A's context, raw SQL updates and deletes change none of tenant B's rows", async () => {
    await inTenantTransaction(app.db.pool, app.tenantId, async (tx) => {
      const updated = await tx.query(`update product_instance set status = 'ERROR' where product_instance_id = $1`, [productOfB]);
      assert.equal(updated.rowCount, 0);
      const updatedAll = await tx.query(`update customer set name = 'hijacked'`);
      assert.equal(updatedAll.rowCount, 0, 'tenant A has no customers, so nothing may change');
    });
    const [row] = await queryRows<{ status: string }>(app.db.pool, 'select status from product_instance where product_instance_id = $1', [productOfB]);
    assert.equal(row.status, 'ACTIVE');
    const names = await queryRows<{ name: string }>(app.db.pool, 'select name from customer');
    assert.ok(names.every((n) => n.name !== 'hijacked'));
  });

  test("tenant A cannot insert rows for tenant B", async () => {
    await assert.rejects(
      inTenantTransaction(app.db.pool, app.tenantId, (tx) =>
        tx.query(`insert into customer (customer_id, tenant_id, name, created_at, updated_at) values (gen_random_uuid(), $1, 'x', now(), now())`, [tenantB.tenantId]),
      ),
      /row-level security/,
    );
  });

  test('the tenant setting is sent with BEGIN as a quoted literal: one round trip, and a hostile tenant id is only a value', async () => {
    const hostile = "x', true); create table pwned (id int); select set_config('tenure.tenant_id', 'y";
    const seen = await inTenantTransaction(app.db.pool, hostile, async (tx) => {
      const [row] = await queryRows<{ tenant: string; role: string; in_tx: boolean }>(tx,
        "select current_setting('tenure.tenant_id') as tenant, current_user as role, now() = statement_timestamp() as in_tx");
      // Row-Level Security reads the setting as a uuid: this one is not, so a read is refused.
      await assert.rejects(tx.query('savepoint s; select 1 from customer'), /invalid input syntax for type uuid/);
      await tx.query('rollback to savepoint s');
      return row;
    });
    // In a transaction (now() is the transaction's start, before this statement), as tenure_app,
    // with the whole string as the tenant's setting: nothing of it ran as SQL.
    assert.deepEqual(seen, { tenant: hostile, role: 'tenure_app', in_tx: false });
    const [pwned] = await queryRows<{ exists: boolean }>(app.db.pool, "select to_regclass('pwned') is not null as exists");
    assert.equal(pwned.exists, false);
    // The setting and the role end with the transaction.
    const [after] = await queryRows<{ tenant: string | null; role: string }>(app.db.pool, "select nullif(current_setting('tenure.tenant_id', true), '') as tenant, current_user as role");
    assert.equal(after.tenant, null);
    assert.notEqual(after.role, 'tenure_app');
  });

  test('the application role is not exempt from RLS', async () => {
    await inTenantTransaction(app.db.pool, app.tenantId, async (tx) => {
      const [role] = await queryRows<{ current_user: string; rolbypassrls: boolean; rolsuper: boolean }>(
        tx, 'select current_user, r.rolbypassrls, r.rolsuper from pg_roles r where r.rolname = current_user');
      assert.equal(role.current_user, 'tenure_app');
      assert.equal(role.rolbypassrls, false);
      assert.equal(role.rolsuper, false);
    });
  });

  test('every tenant-owned table has RLS enabled and a policy', async () => {
    const rows = await queryRows<{ table_name: string; rls: boolean; policies: number }>(app.db.pool, `
      select c.relname as table_name, c.relrowsecurity as rls,
             (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r'
         and exists (select 1 from information_schema.columns k where k.table_name = c.relname and k.column_name = 'tenant_id')`);
    assert.ok(rows.length >= 15);
    for (const r of rows) {
      assert.ok(r.rls, `${r.table_name} has no RLS`);
      assert.ok(r.policies >= 1, `${r.table_name} has no policy`);
    }
  });

  test("tenant B's product is not found through tenant A's API key", async () => {
    const res = await call(app.server, app.adminKey, 'GET', `/product-instances/${productOfB}`);
    assert.equal(res.status, 404);
    assert.equal(res.body.type, '/problems/not-found');
    const own = await call(app.server, tenantB.apiKey, 'GET', `/product-instances/${productOfB}`);
    assert.equal(own.status, 200);
  });

  test('viewer keys cannot mutate (403), but can read', async () => {
    const viewer = await app.services.access.createApiKey(app.ctx, { name: 'viewer', role: 'viewer' });
    const post = await call(app.server, viewer.apiKey, 'POST', '/customers', { name: 'nope' });
    assert.equal(post.status, 403);
    assert.equal(post.body.type, '/problems/forbidden');
    const get = await call(app.server, viewer.apiKey, 'GET', '/customers');
    assert.equal(get.status, 200);
    const customers = await inTenantTransaction(app.db.pool, app.tenantId, (tx) => queryRows(tx, `select * from customer where name = 'nope'`));
    assert.equal(customers.length, 0);
  });

  test('missing or unknown keys get 401; API keys are stored hashed', async () => {
    const none = await app.server.inject({ method: 'GET', url: '/customers' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['content-type'], 'application/problem+json; charset=utf-8');
    const wrong = await call(app.server, 'tnr_not-a-key', 'GET', '/customers');
    assert.equal(wrong.status, 401);
    const stored = await queryRows<{ key_hash: string }>(app.db.pool, 'select key_hash from api_key');
    assert.ok(stored.every((r) => r.key_hash !== app.adminKey && /^[0-9a-f]{64}$/.test(r.key_hash)));
  });
});
