/** Finds the database to use: DATABASE_URL, or an embedded PostgreSQL kept under a local folder. */
import type { Config } from './config.ts';
import { createPool, type Pool } from './db.ts';
import { ensureDatabase, startEmbeddedPostgres } from './embedded.ts';
import { migrate, type MigrationResult } from './migrate.ts';

export interface Database {
  pool: Pool;
  url: string;
  embedded: boolean;
  migrations: MigrationResult;
  close(): Promise<void>;
}

export async function openDatabase(config: Config, options: { migrate?: boolean } = {}): Promise<Database> {
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!url) {
    const server = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, persistent: true });
    await ensureDatabase(server.baseUrl, 'tenure');
    url = server.databaseUrl('tenure');
    stopEmbedded = server.stop;
  }
  const pool = createPool(url, 20);
  const migrations = options.migrate === false ? { applied: [], alreadyApplied: 0 } : await migrate(pool);
  return {
    pool,
    url,
    embedded: stopEmbedded !== null,
    migrations,
    async close() {
      await pool.end();
      if (stopEmbedded) await stopEmbedded();
    },
  };
}
