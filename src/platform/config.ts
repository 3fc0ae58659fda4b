import path from 'node:path';

/** A setting that cannot be used as given: the message names the variable and what it must be. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

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
  /** Connections of a process's main pool (the API's requests, a CLI command); workers hold their own. */
  dbPoolMax: number;
  /** How long `npm start` and `tenure worker` wait for an unavailable DATABASE_URL server before giving up. */
  databaseStartWaitMs: number;
  logLevel: string;
  /**
   * Whether the outbox relay publishes events (TENURE_RELAY=on; issue 14 brings the relay).
   * Off by default: until then every event stays unpublished, and `tenure check` only counts them.
   */
  relayEnabled: boolean;
  /** With the relay on, an event still unpublished this long after it occurred is a finding of the check. */
  outboxStaleAfterMs: number;
  /** How long a quote stays valid unless its request asks for less (TENURE_QUOTE_VALIDITY_HOURS). */
  quoteValidityHours: number;
  /**
   * Memory for installed-base bodies kept in process, in MiB (TENURE_INSTALLED_BASE_CACHE_MB,
   * default 64; 0 turns the cache off). Every read still checks PostgreSQL (decision 0021).
   */
  installedBaseCacheMb: number;
  fulfillment: FulfillmentConfig;
  /**
   * Test-only crash points of the idempotency layer (only with NODE_ENV=test): the path or route
   * whose key, once written (before COMMIT) or committed (after), kills the process.
   */
  testCrashPoints: { beforeCommit: string | undefined; afterCommit: string | undefined };
  /** A variable that configuration names (an HTTP provisioner's `secretEnv`). */
  variable(name: string): string | undefined;
}

/**
 * Fulfillment as configured. Its JSON is read by the fulfillment part, which knows its shape
 * (fulfillmentSettingsOf, loadProvisioners); undefined: that part's default.
 */
export interface FulfillmentConfig {
  routingJson: string | undefined;
  retryJson: string | undefined;
  provisionersJson: string | undefined;
  leaseMs: number | undefined;
  pollIntervalMs: number | undefined;
  batchSize: number | undefined;
  shutdownGraceMs: number | undefined;
  /** TENURE_IN_PROCESS_WORKER=0: `npm start` runs no fulfillment worker. */
  inProcessWorker: boolean;
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
    dbPoolMax: parseCount(env.TENURE_DB_POOL_MAX, 20, 1, 1000, 'TENURE_DB_POOL_MAX'),
    databaseStartWaitMs: parseCount(env.TENURE_DB_START_WAIT_SECONDS, 60, 0, 86_400, 'TENURE_DB_START_WAIT_SECONDS') * 1000,
    logLevel: nonEmpty(env.LOG_LEVEL) ?? 'info',
    relayEnabled: parseSwitch(env.TENURE_RELAY, false, 'TENURE_RELAY'),
    outboxStaleAfterMs: parsePositiveSeconds(env.TENURE_CHECK_OUTBOX_STALE_SECONDS, 300, 'TENURE_CHECK_OUTBOX_STALE_SECONDS') * 1000,
    quoteValidityHours: parseCount(env.TENURE_QUOTE_VALIDITY_HOURS, 720, 1, 87_600, 'TENURE_QUOTE_VALIDITY_HOURS'),
    installedBaseCacheMb: parseCount(env.TENURE_INSTALLED_BASE_CACHE_MB, 64, 0, 65_536, 'TENURE_INSTALLED_BASE_CACHE_MB'),
    fulfillment: {
      routingJson: nonEmpty(env.TENURE_FULFILLMENT_ROUTING),
      retryJson: nonEmpty(env.TENURE_FULFILLMENT_RETRY),
      provisionersJson: nonEmpty(env.TENURE_PROVISIONERS),
      leaseMs: optionalPositiveInt(env.TENURE_FULFILLMENT_LEASE_MS, 'TENURE_FULFILLMENT_LEASE_MS'),
      pollIntervalMs: optionalPositiveInt(env.TENURE_FULFILLMENT_POLL_MS, 'TENURE_FULFILLMENT_POLL_MS'),
      batchSize: optionalPositiveInt(env.TENURE_FULFILLMENT_BATCH, 'TENURE_FULFILLMENT_BATCH', 100),
      shutdownGraceMs: optionalPositiveInt(env.TENURE_FULFILLMENT_SHUTDOWN_GRACE_MS, 'TENURE_FULFILLMENT_SHUTDOWN_GRACE_MS'),
      inProcessWorker: env.TENURE_IN_PROCESS_WORKER?.trim() === '0' ? false : parseSwitch(env.TENURE_IN_PROCESS_WORKER, true, 'TENURE_IN_PROCESS_WORKER'),
    },
    testCrashPoints: env.NODE_ENV === 'test'
      ? { beforeCommit: nonEmpty(env.TENURE_TEST_CRASH_BEFORE_COMMIT), afterCommit: nonEmpty(env.TENURE_TEST_CRASH_AFTER_COMMIT) }
      : { beforeCommit: undefined, afterCommit: undefined },
    variable: (name: string) => env[name],
  };
}

function optionalPositiveInt(value: string | undefined, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (nonEmpty(value) === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ConfigError(`${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got "${value}"`);
  return n;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parsePort(value: string | undefined, fallback: number, name: string): number {
  if (nonEmpty(value) === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${name} must be a port number (0-65535), got "${value}"`);
  }
  return port;
}

function parseCount(value: string | undefined, fallback: number, min: number, max: number, name: string): number {
  if (nonEmpty(value) === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value!.trim()) || n < min || n > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

function parseSwitch(value: string | undefined, fallback: boolean, name: string): boolean {
  const v = nonEmpty(value)?.toLowerCase();
  if (v === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(v)) return true;
  if (['off', 'false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`${name} must be on or off, got "${value}"`);
}

function parsePositiveSeconds(value: string | undefined, fallback: number, name: string): number {
  if (nonEmpty(value) === undefined) return fallback;
  const seconds = Number(value);
  if (!/^\d+$/.test(value!.trim()) || seconds < 1 || seconds > 31_536_000) {
    throw new ConfigError(`${name} must be a whole number of seconds from 1 to 31536000, got "${value}"`);
  }
  return seconds;
}
