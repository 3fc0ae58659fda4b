/**
 * Migration 0016 (issue 12): accounts opened before it get billing cycle day 1 and keep every
 * other column; the database itself refuses a day outside 1–31 (a check constraint, whatever
 * the code that writes the row).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createPool, queryRows, type Pool } from '../../src/platform/db.ts';
import { databaseMigratedBefore, type DatabaseBefore } from '../helpers/migrated-before.ts';

const T = '2026-07-02T10:30:00Z';

describe('migration 0016: accounts get a billing cycle day', () => {
  let db: DatabaseBefore;
  let after0016: Pool | undefined;

  before(async () => {
    db = await databaseMigratedBefore(16);
  });
  after(async () => {
    await after0016?.end();
    await db?.drop();
  });

  test('existing accounts get day 1, nothing else changes; a day outside 1–31 is refused by the database', async () => {
    const tenant = randomUUID(), customer = randomUUID(), jakarta = randomUUID(), berlin = randomUUID();
    const { pool } = db;
    await pool.query(`insert into tenant (tenant_id, name, created_at) values ($1, 'old', $2)`, [tenant, T]);
    await pool.query(`insert into customer (customer_id, tenant_id, name, created_at, updated_at) values ($1, $2, 'PT Lama', $3, $3)`, [customer, tenant, T]);
    await pool.query(
      `insert into account (account_id, tenant_id, customer_id, name, currency, time_zone, segment, created_at, updated_at)
       values ($1, $3, $4, 'Jakarta', 'IDR', 'Asia/Jakarta', 'business', $5, $5), ($2, $3, $4, 'Berlin', 'EUR', 'Europe/Berlin', null, $5, $5)`,
      [jakarta, berlin, tenant, customer, T]);
    const rowsBefore = await queryRows<any>(pool, 'select * from account order by name');

    await db.migrate();
    // A new pool: the old one's connections prepared `select * from account` for the old columns.
    after0016 = createPool(db.url, 2);

    const rowsAfter = await queryRows<any>(after0016, 'select * from account order by name');
    assert.deepEqual(rowsAfter, rowsBefore.map((r) => ({ ...r, billing_cycle_day: 1 })));
    for (const day of [0, 32, -1]) {
      await assert.rejects(after0016.query('update account set billing_cycle_day = $1 where account_id = $2', [day, jakarta]), /account_billing_cycle_day_range/);
    }
    await after0016.query('update account set billing_cycle_day = 31 where account_id = $1', [jakarta]);
    assert.deepEqual(await queryRows<any>(after0016, 'select name, billing_cycle_day from account order by name'), [{ name: 'Berlin', billing_cycle_day: 1 }, { name: 'Jakarta', billing_cycle_day: 31 }]);
  });
});
