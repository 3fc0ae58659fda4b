import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdConnection, type Pool } from './db.ts';
import { migrateScheduler } from './scheduler.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

// Any constant works; it only has to be the same for every Tenure process.
const MIGRATION_LOCK_KEY = 7_314_159_001;

/**
 * Applies numbered `NNNN_name.sql` files in order, each in its own transaction, recording
 * them in schema_migration. A session advisory lock makes concurrent starts wait for each
 * other instead of racing. An applied file whose content changed is refused: history is
 * not rewritten, a new migration is added instead. Then graphile-worker's schema, by its library.
 */
export async function migrate(pool: Pool, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  // Held: a connection that dies while checked out marks it lost instead of killing the process (see HeldConnection in db.ts).
  const held = await holdConnection(pool);
  const client = held.client;
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`create table if not exists schema_migration (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now())`);
    const done = new Map<number, string>(
      (await client.query('select version, checksum from schema_migration')).rows.map((r) => [r.version, r.checksum]),
    );
    const applied: string[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      const sql = await readFile(path.join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const known = done.get(version);
      if (known !== undefined) {
        if (known !== checksum) throw new Error(`migration ${file} was changed after it was applied; add a new migration instead`);
        continue;
      }
      await client.query('begin');
      try {
        await client.query(sql);
        await client.query('insert into schema_migration (version, name, checksum) values ($1, $2, $3)', [version, file, checksum]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
      applied.push(file);
    }
    // The job library's own schema (decision 0023), still under the lock: its runMigrations is
    // idempotent, and concurrent starts wait for each other here as for the files above.
    await migrateScheduler(pool);
    return { applied, alreadyApplied: done.size };
  } finally {
    if (!held.lost) await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    held.release();
  }
}
