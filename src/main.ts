/** `npm start`: database (embedded unless DATABASE_URL), migrations, demo data, HTTP API. */
import { buildServer } from './api/index.ts';
import { createOrchestrator, createServices } from './app.ts';
import { demoKey, ensureDemo } from './demo/index.ts';
import { systemClock } from './platform/clock.ts';
import { ConfigError, readConfig } from './platform/config.ts';
import { openDatabase } from './platform/database.ts';
import { createPool } from './platform/db.ts';
import { EmbeddedInUseError, EmbeddedStartError } from './platform/embedded.ts';
import { createLogger } from './platform/logger.ts';
import { DatabaseUnavailableError } from './platform/errors.ts';
import { loadProvisioners, ProvisionerRegistryError, fulfillmentSettingsOf, startWorker } from './fulfillment/index.ts';
import { startScheduler } from './platform/scheduler.ts';

export async function startServer(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  // The provisioner registry refuses a broken configuration before anything starts.
  const fulfillment = fulfillmentSettingsOf(config.fulfillment);
  const provisioners = await loadProvisioners(config, fulfillment.routing);
  const db = await openDatabase(config, {
    waitForServer: { onWaiting: (reason, waitMs) => logger.warn({ reason, waitMs }, 'database unavailable at start-up; waiting for it') },
  });
  logger.info({ embedded: db.embedded, applied: db.migrations.applied }, db.embedded ? `embedded PostgreSQL at ${db.url}` : 'using DATABASE_URL');
  const services = createServices(db.pool, systemClock, { provisioners, fulfillment, logger });
  // Test clocks' times in memory, kept fresh by LISTEN (src/clocks/tenant-clocks.ts).
  await services.clock.start(db.pool, logger);
  const demo = await ensureDemo(services, await demoKey(config.demoKey));
  const server = await buildServer(services, { logger: { level: config.logLevel } });
  await server.listen({ port: config.port, host: config.host });
  // One fulfillment worker in the API process (never inside a request); more run as `tenure worker`.
  // It holds a connection per task in flight, from a pool of its own: the API's stays the API's;
  // and one more, outside the pool, to be woken when tasks become ready.
  const workerPool = config.fulfillment.inProcessWorker ? createPool(db.url, fulfillment.batchSize) : null;
  const worker = workerPool ? startWorker(createOrchestrator(workerPool, systemClock, { provisioners, fulfillment, logger }), fulfillment, { logger, wakeUpFrom: workerPool }) : null;
  // Date-driven jobs (decision 0023): graphile-worker on a pool of its own; more run as `tenure worker`.
  const schedulerPool = config.fulfillment.inProcessWorker ? createPool(db.url, 6) : null;
  const scheduler = schedulerPool ? await startScheduler(schedulerPool, services.jobs, { logger }) : null;
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  process.stdout.write([
    '',
    `Tenure is running at ${url}`,
    `  API docs:      ${url}/docs   (OpenAPI: ${url}/openapi.json)`,
    `  Demo API key:  ${demo.apiKey}   (admin of tenant "Tenure Demo"${demo.created ? ', just created' : ''})`,
    `  Demo account:  ${demo.accountId}   (PT Contoh Digital, enterprise)`,
    ...(demo.residentialAccountId ? [`                 ${demo.residentialAccountId}   (Budi Santoso, residential)`] : []),
    `  Try:           curl -H "Authorization: Bearer ${demo.apiKey}" ${url}/accounts/${demo.accountId}/installed-base`,
    '',
  ].join('\n') + '\n');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await worker?.stop();
    await scheduler?.stop();
    await services.clock.stop();
    await server.close();
    await schedulerPool?.end();
    await workerPool?.end();
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  startServer().catch((error) => {
    // A refused configuration or a busy data folder is the user's to fix: say what, without a stack trace.
    const refused = error instanceof ProvisionerRegistryError;
    const told = error instanceof EmbeddedInUseError || error instanceof EmbeddedStartError || error instanceof DatabaseUnavailableError || error instanceof ConfigError;
    process.stderr.write(`tenure failed to start: ${refused ? `provisioner configuration refused: ${error.message}` : told ? error.message : error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
