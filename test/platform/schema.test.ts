import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queryRows } from '../../src/platform/db.ts';
import { migrate } from '../../src/platform/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('schema', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase(3);
  });
  after(() => db.drop());

  test('re-running migrations is a no-op', async () => {
    const before = await queryRows<{ n: number }>(db.pool, 'select count(*)::int as n from schema_migration');
    const result = await migrate(db.pool);
    assert.deepEqual(result.applied, []);
    assert.equal(result.alreadyApplied, before[0].n);
    assert.ok(before[0].n >= 1);
  });

  test('every connection works in UTC', async () => {
    const clients = await Promise.all([db.pool.connect(), db.pool.connect(), db.pool.connect()]);
    try {
      for (const client of clients) {
        const { rows } = await client.query('show timezone');
        assert.equal(rows[0].TimeZone, 'UTC');
      }
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  /**
   * ARCHITECTURE rule 11: an account-owned table (NOT NULL account_id) keeps account_id in its
   * primary key, in every unique constraint and unique index, and in every foreign key to
   * another account-owned table, so the schema can be distributed by account_id.
   */
  test('account-owned tables follow rule 11 in the live schema', async () => {
    const accountOwned = (await queryRows<{ table_name: string }>(db.pool, `
      select table_name from information_schema.columns
       where table_schema = 'public' and column_name = 'account_id' and is_nullable = 'NO'`)).map((r) => r.table_name);
    assert.ok(accountOwned.includes('product_instance') && accountOwned.includes('outbox_event') && accountOwned.includes('asset_operation_guard'));

    const uniqueIndexes = await queryRows<{ table_name: string; index_name: string; columns: string[]; is_primary: boolean }>(db.pool, `
      select t.relname as table_name, i.relname as index_name, x.indisprimary as is_primary,
             array(select a.attname from unnest(x.indkey) k join pg_attribute a on a.attrelid = t.oid and a.attnum = k) as columns
        from pg_index x
        join pg_class t on t.oid = x.indrelid
        join pg_class i on i.oid = x.indexrelid
        join pg_namespace n on n.oid = t.relnamespace
       where n.nspname = 'public' and x.indisunique`);
    const problems: string[] = [];
    for (const table of accountOwned) {
      const indexes = uniqueIndexes.filter((u) => u.table_name === table);
      if (!indexes.some((u) => u.is_primary)) problems.push(`${table} has no primary key`);
      for (const u of indexes) if (!u.columns.includes('account_id')) problems.push(`${table}.${u.index_name} (${u.columns.join(', ')}) lacks account_id`);
    }

    const foreignKeys = await queryRows<{ table_name: string; constraint_name: string; referenced: string; columns: string[] }>(db.pool, `
      select t.relname as table_name, c.conname as constraint_name, r.relname as referenced,
             array(select a.attname from unnest(c.conkey) k join pg_attribute a on a.attrelid = t.oid and a.attnum = k) as columns
        from pg_constraint c
        join pg_class t on t.oid = c.conrelid
        join pg_class r on r.oid = c.confrelid
        join pg_namespace n on n.oid = t.relnamespace
       where n.nspname = 'public' and c.contype = 'f'`);
    for (const fk of foreignKeys) {
      if (!accountOwned.includes(fk.table_name) || !accountOwned.includes(fk.referenced)) continue;
      if (!fk.columns.includes('account_id')) problems.push(`${fk.table_name}.${fk.constraint_name} → ${fk.referenced} lacks account_id`);
    }
    assert.deepEqual(problems, []);
  });

  test('the one-active-operation rule is a partial unique index', async () => {
    const [row] = await queryRows<{ indexdef: string }>(db.pool, `select indexdef from pg_indexes where indexname = 'asset_operation_guard_active'`);
    assert.match(row.indexdef, /UNIQUE INDEX .* \(account_id, product_instance_id\) WHERE .*ACTIVE.*PENDING_RELEASE/);
  });
});
