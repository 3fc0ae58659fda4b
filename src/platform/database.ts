/** Finds the database to use: DATABASE_URL, or an embedded PostgreSQL kept under a local folder. */
import type { Config } from './config.ts';
import { DatabaseUnavailableError } from './errors.ts';
import { createPool, unavailableReason, type Pool } from './db.ts';
import { EmbeddedInUseError, EmbeddedStartError, ensureDatabase, findRunningEmbeddedPostgres, startEmbeddedPostgres } from './embedded.ts';
import { migrate, type MigrationResult } from './migrate.ts';

export interface Database {
  pool: Pool;
  url: string;
  /** How the database was found: DATABASE_URL's server, an embedded one started here, or one another process runs. */
  source: 'url' | 'embedded' | 'shared-embedded';
  embedded: boolean;
  migrations: MigrationResult;
  close(): Promise<void>;
}

export interface OpenOptions {
  migrate?: boolean;
  /**
   * When the embedded data folder is already in use by another process (`npm start`, `tenure
   * worker`), connect to that process's PostgreSQL instead of failing. The CLI does; the API
   * server does not, because a server started by a short CLI command would stop under it.
   * See docs/decisions/0012-cli-shares-the-running-embedded-postgres.md.
   */
  shareRunningEmbedded?: boolean;
  /** Connections of the pool; default config.dbPoolMax (TENURE_DB_POOL_MAX). */
  poolMax?: number;
  /**
   * Wait up to config.databaseStartWaitMs for a DATABASE_URL server that is unavailable (still
   * starting, restarting, failing over) instead of failing at once; `onWaiting` is told once.
   * Long-running processes do (`npm start`, `tenure worker`); one-shot commands fail fast.
   */
  waitForServer?: { onWaiting(reason: string, waitMs: number): void };
}

export async function openDatabase(config: Config, options: OpenOptions = {}): Promise<Database> {
  let url = config.databaseUrl;
  let source: Database['source'] = 'url';
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!url) {
    const embedded = await openEmbedded(config, options.shareRunningEmbedded ?? false);
    url = embedded.url;
    stopEmbedded = embedded.stop;
    source = embedded.stop ? 'embedded' : 'shared-embedded';
  }
  const pool = createPool(url, options.poolMax ?? config.dbPoolMax);
  if (options.waitForServer && source === 'url') {
    try {
      await waitForServer(pool, config.databaseStartWaitMs, options.waitForServer.onWaiting);
    } catch (error) {
      await pool.end();
      throw error;
    }
  }
  const migrations = options.migrate === false ? { applied: [], alreadyApplied: 0 } : await migrate(pool);
  return {
    pool,
    url,
    source,
    embedded: source !== 'url',
    migrations,
    async close() {
      await pool.end();
      if (stopEmbedded) await stopEmbedded();
    },
  };
}

async function waitForServer(pool: Pool, waitMs: number, onWaiting: (reason: string, waitMs: number) => void): Promise<void> {
  const deadline = Date.now() + waitMs;
  let told = false;
  let pauseMs = 500;
  for (;;) {
    try {
      await pool.query('select 1');
      return;
    } catch (error) {
      const reason = unavailableReason(error);
      if (reason === null) throw error;
      if (Date.now() + pauseMs > deadline) throw new DatabaseUnavailableError(`${reason} (waited ${Math.round(waitMs / 1000)} s for it at start-up)`, error);
      if (!told) onWaiting(reason, waitMs);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      pauseMs = Math.min(pauseMs * 2, 5_000);
    }
  }
}

async function openEmbedded(config: Config, share: boolean): Promise<{ url: string; stop: (() => Promise<void>) | null }> {
  const dataDir = config.embeddedDataDir;
  const running = await findRunningEmbeddedPostgres(dataDir);
  if (running && share) return { url: await tenureDatabase(running.baseUrl, running.databaseUrl('tenure')), stop: null };
  if (running) throw inUse(dataDir, running.pid, running.port);
  try {
    const server = await startEmbeddedPostgres({ dataDir, port: config.embeddedPort, persistent: true });
    return { url: await tenureDatabase(server.baseUrl, server.databaseUrl('tenure')), stop: server.stop };
  } catch (error) {
    // Another process may have started it between the look and the start: use or name it.
    if (!(error instanceof EmbeddedStartError)) throw error;
    const now = await findRunningEmbeddedPostgres(dataDir);
    if (now && share) return { url: await tenureDatabase(now.baseUrl, now.databaseUrl('tenure')), stop: null };
    if (now) throw inUse(dataDir, now.pid, now.port);
    throw error;
  }
}

async function tenureDatabase(serverUrl: string, url: string): Promise<string> {
  await ensureDatabase(serverUrl, 'tenure');
  return url;
}

function inUse(dataDir: string, pid: number, port: number): Error {
  return new EmbeddedInUseError(
    `the embedded PostgreSQL in ${dataDir} is already running (process ${pid}, port ${port}), started by another Tenure process.\n` +
    '  Stop that process first, or give this one its own TENURE_DATA_DIR, or set DATABASE_URL to a PostgreSQL server.\n' +
    '  (The tenure commands check, migrate, tenant create, worker and fulfillment rerun use the running one.)',
  );
}
