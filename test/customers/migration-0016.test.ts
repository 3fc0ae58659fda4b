/**
 * Migration 0016 (issue 12): accounts opened before it get billing cycle day 1 and keep every
 * other column; the database itself refuses a day outside 1–31 (a check constraint, whatever
 * the code that writes the row).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPool, queryRows, type Pool } from '../../src/platform/db.ts';
import { migrate, MIGRATIONS_DIR } from '../../src/platform/migrate.ts';

const T = '2026-07-02T10:30:00Z';

describe('migration 0016: accounts get a billing cycle day', () => {
  const serverUrl = process.env.TENURE_TEST_SERVER_URL!;
  const name = `tenure_m_${randomBytes(6).toString('hex')}`;
  let pool: Pool;
  let before0016: string;
  let url: string;

  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try { await c.query(sql); } finally { await c.end(); }
  };

  before(async () => {
    assert.ok(serverUrl, 'run through npm test');
    await admin(`create database ${name} template template0`);
    const u = new URL(serverUrl);
    u.pathname = '/' + name;
    url = u.toString();
    pool = createPool(url, 2);
    // The schema as it was before 0016.
    before0016 = await mkdtemp(path.join(tmpdir(), 'tenure-0015-'));
    for (const file of await readdir(MIGRATIONS_DIR)) {
      if (/^\d{4}_/.test(file) && Number(file.slice(0, 4)) < 16) await copyFile(path.join(MIGRATIONS_DIR, file), path.join(before0016, file));
    }
    await migrate(pool, before0016);
  });
  after(async () => {
    await pool?.end();
    await admin(`drop database if exists ${name} with (force)`);
    if (before0016) await rm(before0016, { recursive: true, force: true });
  });

  test('existing accounts get day 1, nothing else changes; a day outside 1–31 is refused by the database', async () => {
    const tenant = randomUUID(), customer = randomUUID(), jakarta = randomUUID(), berlin = randomUUID();
    await pool.query(`insert into tenant (tenant_id, name, created_at) values ($1, 'old', $2)`, [tenant, T]);
    await pool.query(`insert into customer (customer_id, tenant_id, name, created_at, updated_at) values ($1, $2, 'PT Lama', $3, $3)`, [customer, tenant, T]);
    await pool.query(
      `insert into account (account_id, tenant_id, customer_id, name, currency, time_zone, segment, created_at, updated_at)
       values ($1, $3, $4, 'Jakarta', 'IDR', 'Asia/Jakarta', 'business', $5, $5), ($2, $3, $4, 'Berlin', 'EUR', 'Europe/Berlin', null, $5, $5)`,
      [jakarta, berlin, tenant, customer, T]);
    const rowsBefore = await queryRows<any>(pool, 'select * from account order by name');

    await migrate(pool);
    // A new pool: the old one's connections prepared `select * from account` for the old columns.
    await pool.end();
    pool = createPool(url, 2);

    const rowsAfter = await queryRows<any>(pool, 'select * from account order by name');
    assert.deepEqual(rowsAfter, rowsBefore.map((r) => ({ ...r, billing_cycle_day: 1 })));
    for (const day of [0, 32, -1]) {
      await assert.rejects(pool.query('update account set billing_cycle_day = $1 where account_id = $2', [day, jakarta]), /account_billing_cycle_day_range/);
    }
    await pool.query('update account set billing_cycle_day = 31 where account_id = $1', [jakarta]);
    assert.deepEqual((await queryRows<any>(pool, 'select name, billing_cycle_day from account order by name')), [{ name: 'Berlin', billing_cycle_day: 1 }, { name: 'Jakarta', billing_cycle_day: 31 }]);
  });
});
