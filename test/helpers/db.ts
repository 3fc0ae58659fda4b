/**
 * Test databases: each call clones the migrated template made by scripts/run-tests.ts into a
 * fresh database on the same real PostgreSQL server. Run a single file with
 * `npm test -- test/path/file.test.ts`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool, type Pool } from '../../src/platform/db.ts';

export interface TestDatabase {
  pool: Pool;
  url: string;
  name: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

export async function createTestDatabase(poolSize = 10): Promise<TestDatabase> {
  const serverUrl = process.env.TENURE_TEST_SERVER_URL;
  const template = process.env.TENURE_TEST_TEMPLATE;
  if (!serverUrl || !template) throw new Error('run tests through `npm test` (scripts/run-tests.ts) so that a database server is prepared');
  const name = `tenure_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const pool = createPool(url, poolSize);
  return {
    pool,
    url,
    name,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
