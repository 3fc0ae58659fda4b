/**
 * Parameterized statements are named prepared statements (decision 0018): parsed and planned
 * once per connection. Prepared once, they must still see only the tenant of the transaction
 * that runs them (Row-Level Security is evaluated at execution), and a statement that failed
 * must fail the same way again and not break the connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { holdConnection, inTenantTransaction, queryRows } from '../../src/platform/db.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createAccount } from '../helpers/fixtures.ts';

describe('prepared statements', () => {
  let app: TestApp;
  let tenantB: { tenantId: string };
  let accountOfA: string;
  let accountOfB: string;
  const ACCOUNTS = 'select account_id from account where currency = $1 order by account_id';

  before(async () => {
    app = await createTestApp();
    tenantB = await app.services.access.createTenant({ name: 'Tenant B' });
    accountOfA = (await createAccount(app.services, { tenantId: app.tenantId, actor: null, correlationId: null }, 'A customer')).accountId;
    accountOfB = (await createAccount(app.services, { tenantId: tenantB.tenantId, actor: null, correlationId: null }, 'B customer')).accountId;
  });
  after(() => app.close());

  test('a statement run twice on one connection is prepared once there, and each run sees only its own tenant', async () => {
    const held = await holdConnection(app.db.pool);
    try {
      const seenByA = await inTenantTransaction(held, app.tenantId, (tx) => queryRows<{ account_id: string }>(tx, ACCOUNTS, ['IDR']));
      const seenByB = await inTenantTransaction(held, tenantB.tenantId, (tx) => queryRows<{ account_id: string }>(tx, ACCOUNTS, ['IDR']));
      const againByA = await inTenantTransaction(held, app.tenantId, (tx) => queryRows<{ account_id: string }>(tx, ACCOUNTS, ['IDR']));
      assert.deepEqual(seenByA.map((r) => r.account_id), [accountOfA]);
      assert.deepEqual(seenByB.map((r) => r.account_id), [accountOfB]);
      assert.deepEqual(againByA, seenByA);
      const prepared = await held.client.query('select name, statement from pg_prepared_statements where statement = $1', [ACCOUNTS]);
      assert.equal(prepared.rows.length, 1, 'prepared once on this connection');
      assert.match(prepared.rows[0].name, /^tenure_\d+$/);
    } finally {
      held.release();
    }
  });

  test('a statement that fails fails again the same way, and the connection goes on', async () => {
    const held = await holdConnection(app.db.pool);
    try {
      // A value the type refuses (at execution) and a text the parser refuses (never prepared).
      for (let run = 0; run < 2; run++) {
        await assert.rejects(inTenantTransaction(held, app.tenantId, (tx) => queryRows(tx, 'select * from account where account_id = $1', ['not-a-uuid'])), { code: '22P02' });
        await assert.rejects(inTenantTransaction(held, app.tenantId, (tx) => queryRows(tx, 'selec account_id from account where account_id = $1', [accountOfA])), { code: '42601' });
      }
      const found = await inTenantTransaction(held, app.tenantId, (tx) => queryRows<{ account_id: string }>(tx, 'select * from account where account_id = $1', [accountOfA]));
      assert.deepEqual(found.map((r) => r.account_id), [accountOfA]);
    } finally {
      held.release();
    }
  });
});
