import path from 'node:path';

/** Everything the process reads from its environment, read in one place. */
export interface Config {
  /** PostgreSQL server to use; when unset an embedded PostgreSQL is started. */
  databaseUrl: string | undefined;
  /** Folder of the embedded PostgreSQL's data, kept between starts. */
  embeddedDataDir: string;
  embeddedPort: number;
  port: number;
  host: string;
  /** When set, the demo tenant's admin key is exactly this value. */
  demoKey: string | undefined;
  redisUrl: string | undefined;
  logLevel: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    databaseUrl: nonEmpty(env.DATABASE_URL),
    embeddedDataDir: path.resolve(nonEmpty(env.TENURE_DATA_DIR) ?? '.tenure/pgdata'),
    embeddedPort: parsePort(env.TENURE_EMBEDDED_PG_PORT, 54329, 'TENURE_EMBEDDED_PG_PORT'),
    port: parsePort(env.PORT, 3000, 'PORT'),
    host: nonEmpty(env.HOST) ?? '127.0.0.1',
    demoKey: nonEmpty(env.TENURE_DEMO_KEY),
    redisUrl: nonEmpty(env.REDIS_URL),
    logLevel: nonEmpty(env.LOG_LEVEL) ?? 'info',
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parsePort(value: string | undefined, fallback: number, name: string): number {
  if (nonEmpty(value) === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number (0-65535), got "${value}"`);
  }
  return port;
}
