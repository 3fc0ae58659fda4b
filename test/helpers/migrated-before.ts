/**
 * A fresh database migrated only up to the migration before `number`, for tests of what a
 * migration does to the rows it finds (test/platform/migration-0010.test.ts, test/customers/
 * migration-0016.test.ts). `migrate()` then applies the rest, as an upgrade in production does.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool, type Pool } from '../../src/platform/db.ts';
import { migrate, MIGRATIONS_DIR, type MigrationResult } from '../../src/platform/migrate.ts';

export interface DatabaseBefore {
  pool: Pool;
  /** The database's URL: a new pool after migrate() (statements prepared before see old columns). */
  url: string;
  /** Applies every migration (those before `number` are already applied). */
  migrate(): Promise<MigrationResult>;
  drop(): Promise<void>;
}

export async function databaseMigratedBefore(number: number): Promise<DatabaseBefore> {
  const serverUrl = process.env.TENURE_TEST_SERVER_URL;
  if (!serverUrl) throw new Error('run tests through `npm test` (scripts/run-tests.ts) so that a database server is prepared');
  const name = `tenure_m_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try { await c.query(sql); } finally { await c.end(); }
  };
  await admin(`create database ${name} template template0`);
  const u = new URL(serverUrl);
  u.pathname = '/' + name;
  const url = u.toString();
  const pool = createPool(url, 2);
  const dir = await mkdtemp(path.join(tmpdir(), `tenure-before-${number}-`));
  for (const file of await readdir(MIGRATIONS_DIR)) {
    if (/^\d{4}_/.test(file) && Number(file.slice(0, 4)) < number) await copyFile(path.join(MIGRATIONS_DIR, file), path.join(dir, file));
  }
  await migrate(pool, dir);
  return {
    pool,
    url,
    migrate: () => migrate(pool),
    async drop() {
      await pool.end();
      await admin(`drop database if exists ${name} with (force)`);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
