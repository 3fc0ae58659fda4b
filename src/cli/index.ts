/** The `tenure` command line. */
import { Command } from 'commander';
import { createOrchestrator, createServices } from '../app.ts';
import { checkAllTenants } from '../inventory/index.ts';
import { systemClock } from '../platform/clock.ts';
import { readConfig } from '../platform/config.ts';
import { openDatabase as openAnyDatabase, type Database, type OpenOptions } from '../platform/database.ts';
import { isUuid } from '../platform/ids.ts';
import { describeError } from './errors.ts';
import { createLogger } from '../platform/logger.ts';
import { loadProvisioners, fulfillmentSettingsOf, startWorker } from '../fulfillment/index.ts';
import { runDueJobsOnce, startScheduler } from '../platform/scheduler.ts';
import { isInstant } from '../platform/instants.ts';
import type { CommandContext } from '../platform/context.ts';

/**
 * The CLI's database: DATABASE_URL's server; else the embedded PostgreSQL of the data folder,
 * the one `npm start` (or a `tenure worker`) already runs there when there is one.
 */
function openDatabase(options: Omit<OpenOptions, 'shareRunningEmbedded'> = {}): Promise<Database> {
  return openAnyDatabase(readConfig(), { ...options, shareRunningEmbedded: true });
}

/** A command-line argument that is not valid: said before anything is opened or changed. */
class UsageError extends Error {
  override name = 'UsageError';
}

const program = new Command();
program
  .name('tenure')
  .description('Tenure: subscription, order and installed-base engine.\nUses DATABASE_URL; when it is unset, the embedded PostgreSQL of TENURE_DATA_DIR (default .tenure/pgdata):\nthe one npm start runs there, or one of its own while the command runs.')
  .version('0.1.0');

program
  .command('start')
  .description('start the HTTP API (same as npm start): migrate, load demo data, listen on $PORT')
  .action(async () => {
    const { startServer } = await import('../main.ts');
    await startServer();
  });

program
  .command('migrate')
  .description('apply pending database migrations (re-running is a no-op)')
  .action(async () => {
    const db = await openDatabase({ migrate: true });
    try {
      const { applied, alreadyApplied } = db.migrations;
      console.log(applied.length ? `applied: ${applied.join(', ')}` : `nothing to apply (${alreadyApplied} already applied)`);
    } finally {
      await db.close();
    }
  });

const tenant = program.command('tenant').description('manage tenants');
tenant
  .command('create')
  .description('create a tenant and print its first admin API key (shown only once)')
  .requiredOption('--name <name>', 'tenant name')
  .option('--mode <mode>', 'live or test (test tenants get their own clock later)', 'live')
  .option('--json', 'print JSON')
  .action(async (options: { name: string; mode: string; json?: boolean }) => {
    if (options.mode !== 'live' && options.mode !== 'test') throw new UsageError(`--mode must be live or test, got "${options.mode}"`);
    if (options.name.trim() === '' || options.name.length > 200) throw new UsageError('--name must be 1 to 200 characters, not only spaces');
    const db = await openDatabase();
    try {
      const created = await createServices(db.pool, systemClock).access.createTenant({ name: options.name, mode: options.mode });
      if (options.json) console.log(JSON.stringify(created, null, 2));
      else console.log(`tenant ${created.tenantId} (${created.name}, ${created.mode})\nadmin API key: ${created.apiKey}\nkeep it safe: it is stored hashed and cannot be shown again`);
    } finally {
      await db.close();
    }
  });

program
  .command('worker')
  .description('run fulfillment workers and the scheduler of date-driven jobs (activation, expiry, renewals, test clocks\' advances) until stopped (SIGINT/SIGTERM: the calls out get TENURE_FULFILLMENT_SHUTDOWN_GRACE_MS to answer, then their tasks are given back); each loop holds up to TENURE_FULFILLMENT_BATCH connections; the provisioners and routing come from TENURE_PROVISIONERS and TENURE_FULFILLMENT_*')
  .option('--concurrency <n>', 'worker loops in this process', '1')
  .action(async (options: { concurrency: string }) => {
    const concurrency = Number(options.concurrency);
    if (!/^\d+$/.test(options.concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError(`--concurrency must be an integer from 1 to 64, got "${options.concurrency}"`);
    const config = readConfig();
    const fulfillment = fulfillmentSettingsOf(config.fulfillment);
    const provisioners = await loadProvisioners(config, fulfillment.routing);
    const logger = createLogger(config.logLevel);
    // One connection per task in flight: every loop can hold a whole batch (and listens for
    // tasks-ready notifications on one more, of its own).
    const db = await openDatabase({
      poolMax: concurrency * fulfillment.batchSize,
      waitForServer: { onWaiting: (reason, waitMs) => logger.warn({ reason, waitMs }, 'database unavailable at start-up; waiting for it') },
    });
    const orchestrator = createOrchestrator(db.pool, systemClock, { provisioners, fulfillment, logger });
    const workers = Array.from({ length: concurrency }, () => startWorker(orchestrator, fulfillment, { logger, wakeUpFrom: db.pool }));
    // Listened for before anything else is awaited: a signal during the scheduler's start stops the workers too.
    const signalled = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    logger.info({ workers: workers.map((w) => w.id), provisioners: provisioners.registry.codes(), leaseMs: orchestrator.leaseMs, connections: concurrency * fulfillment.batchSize }, 'fulfillment workers started');
    // Date-driven jobs (decision 0023) on a pool of their own; their commands on another.
    const services = createServices(db.pool, systemClock, { provisioners, fulfillment, logger, redisUrl: null });
    await services.clock.start(db.pool, logger);
    const schedulerDb = await openDatabase({ poolMax: 6, migrate: false });
    const scheduler = await startScheduler(schedulerDb.pool, services.jobs, { logger });
    logger.info({ jobKinds: services.jobs.kinds() }, 'scheduler started');
    // Workers may all be waiting on the pool, whose timers do not hold the event loop: without
    // this the process would end by itself, silently, in the middle of an outage.
    const keepAlive = setInterval(() => {}, 60_000);
    const signal = await signalled;
    clearInterval(keepAlive);
    logger.info({ signal }, 'fulfillment workers stopping');
    const stopped = await Promise.all(workers.map((w) => w.stop()));
    const gaveBack = stopped.reduce((sum, s) => sum + s.gaveBack, 0);
    await scheduler.stop();
    await services.clock.stop();
    await schedulerDb.close();
    await db.close();
    logger.info({ gaveBack, rounds: orchestrator.rounds.total, emptyRounds: orchestrator.rounds.empty, looks: orchestrator.rounds.looks }, 'fulfillment workers stopped');
    process.exit(0);
  });

const clockCommand = program.command('clock').description('per-tenant test clocks (docs/scheduler-and-clocks.md): a tenant on one sees its time, and its date-driven jobs run only when it is advanced');
const tenantContext = (tenantId: string): CommandContext => {
  if (!isUuid(tenantId)) throw new UsageError(`--tenant must be a tenant id (a UUID), got "${tenantId}"`);
  return { tenantId, actor: null, correlationId: `cli-clock-${Date.now()}` };
};
const instantOption = (value: string, name: string): string => {
  if (!isInstant(value)) throw new UsageError(`${name} must be an ISO 8601 date-time with a zone, e.g. 2027-01-01T00:00:00Z, got "${value}"`);
  return value;
};
const printClock = (clock: object, json: boolean | undefined) => {
  const c = clock as { clockId: string; name: string; frozenTime: string; status: string; jobsRun: number; jobsRemaining: number; nextJobAt: string | null; lastError: string | null };
  if (json) console.log(JSON.stringify(c, null, 2));
  else console.log(`test clock ${c.clockId} (${c.name}): ${c.frozenTime}, ${c.status}; jobs run ${c.jobsRun}, remaining ${c.jobsRemaining}${c.nextJobAt ? `, next at ${c.nextJobAt}` : ''}${c.lastError ? `\nlast error: ${c.lastError}` : ''}`);
};
clockCommand
  .command('create')
  .description('put a tenant on a test clock at --at (refused when it has a clock already, or jobs scheduled on real time)')
  .requiredOption('--tenant <id>', 'the tenant id')
  .requiredOption('--at <time>', 'the clock\'s time, ISO 8601 (e.g. 2027-01-01T00:00:00Z)')
  .option('--name <name>', 'a name for the clock', 'test clock')
  .option('--json', 'print JSON')
  .action(async (options: { tenant: string; at: string; name: string; json?: boolean }) => {
    const ctx = tenantContext(options.tenant);
    const at = instantOption(options.at, '--at');
    const db = await openDatabase();
    try {
      printClock(await createServices(db.pool, systemClock, { redisUrl: null }).testClocks.create(ctx, { frozenTime: at, name: options.name }), options.json);
    } finally {
      await db.close();
    }
  });
clockCommand
  .command('show')
  .description('a test clock: its time, status (ready, advancing, failed) and the progress of its advance')
  .requiredOption('--tenant <id>', 'the tenant id')
  .requiredOption('--clock <id>', 'the clock id')
  .option('--json', 'print JSON')
  .action(async (options: { tenant: string; clock: string; json?: boolean }) => {
    const ctx = tenantContext(options.tenant);
    if (!isUuid(options.clock)) throw new UsageError(`--clock must be a clock id (a UUID), got "${options.clock}"`);
    const db = await openDatabase();
    try {
      printClock(await createServices(db.pool, systemClock, { redisUrl: null }).testClocks.get(ctx, options.clock), options.json);
    } finally {
      await db.close();
    }
  });
clockCommand
  .command('advance')
  .description('advance a test clock to --to: every job of the tenant that falls due runs, in time order; no cap on how far. Runs the advance in this process (or waits for the worker that took it) and prints the clock when it is ready')
  .requiredOption('--tenant <id>', 'the tenant id')
  .requiredOption('--clock <id>', 'the clock id')
  .requiredOption('--to <time>', 'the new time, ISO 8601, not before the clock\'s')
  .option('--json', 'print JSON')
  .action(async (options: { tenant: string; clock: string; to: string; json?: boolean }) => {
    const ctx = tenantContext(options.tenant);
    if (!isUuid(options.clock)) throw new UsageError(`--clock must be a clock id (a UUID), got "${options.clock}"`);
    const to = instantOption(options.to, '--to');
    const db = await openDatabase();
    try {
      const services = createServices(db.pool, systemClock, { redisUrl: null });
      await services.testClocks.advance(ctx, options.clock, { frozenTime: to });
      await runDueJobsOnce(db.pool, services.jobs);
      // Another worker may have taken the advance: wait for it.
      let clock = await services.testClocks.get(ctx, options.clock);
      while (clock.status === 'advancing') {
        await new Promise((resolve) => setTimeout(resolve, 500));
        clock = await services.testClocks.get(ctx, options.clock);
      }
      printClock(clock, options.json);
      if (clock.status === 'failed') process.exitCode = 1;
    } finally {
      await db.close();
    }
  });

const fulfillmentCommand = program.command('fulfillment').description('operate fulfillment');
fulfillmentCommand
  .command('rerun')
  .description('re-run the failed work of an order (seed 003 B2): failed items take their assets again and their failed tasks run again; audited; a second run with nothing failed changes nothing')
  .requiredOption('--order <id>', 'the order id')
  .option('--json', 'print JSON')
  .action(async (options: { order: string; json?: boolean }) => {
    if (!isUuid(options.order)) throw new UsageError(`--order must be an order id (a UUID such as 0b6f2c1e-8d4a-4f5e-9c3b-2a1d0e9f8c7b), got "${options.order}"`);
    const db = await openDatabase();
    try {
      const services = createServices(db.pool, systemClock, { redisUrl: null });
      const tenantId = await services.inFlightOrders.tenantOfOrder(options.order);
      if (!tenantId) throw new Error(`order ${options.order} does not exist`);
      const result = await services.inFlightOrders.rerunOrder({ tenantId, actor: null, correlationId: `cli-rerun-${Date.now()}` }, options.order);
      if (options.json) console.log(JSON.stringify(result, null, 2));
      else if (result.rerunItemIds.length === 0) console.log(`order ${options.order}: nothing failed, nothing to re-run`);
      else console.log(`order ${options.order}: re-running ${result.rerunItemIds.length} item(s); tasks due: ${result.tasks.filter((t) => t.status === 'pending').map((t) => t.taskNumber).join(', ')}`);
    } finally {
      await db.close();
    }
  });

program
  .command('check')
  .description('consistency check of every tenant, tenant by tenant, read-only: versions without history, stale guards, versions without outbox events, duplicated orders and subscriptions, tasks under an expired or missing lease, old unpublished outbox events (with TENURE_RELAY=on); exits 1 when something is found')
  .option('--json', 'print the report as JSON')
  .action(async (options: { json?: boolean }) => {
    const db = await openDatabase();
    try {
      const report = await checkAllTenants(db.pool, systemClock.now());
      const outbox = report.information.outbox;
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else {
        if (report.healthy) console.log('healthy: 0 findings');
        else {
          console.log(`${report.findings.length} finding(s):`);
          for (const f of report.findings) console.log(`  ${f.kind}  ${f.entity} ${f.id}${f.version !== null ? ' v' + f.version : ''}  account ${f.accountId}: ${f.detail}\n    what to do: ${f.action}`);
        }
        console.log(`outbox: ${outbox.unpublished} unpublished event(s), ${outbox.olderThanThreshold} older than ${outbox.staleAfterSeconds} s; publishing ${outbox.publishing}${outbox.publishing === 'disabled' ? ' (TENURE_RELAY off: information, not a finding)' : ''}`);
      }
      process.exitCode = report.healthy ? 0 : 1;
    } finally {
      await db.close();
    }
  });

// Exit explicitly: the embedded PostgreSQL package's exit hook would otherwise turn a
// non-zero process.exitCode into 0. `start` keeps running and exits on its own signals.
program.parseAsync(process.argv).then(() => {
  if (program.args[0] !== 'start') process.exit(process.exitCode ?? 0);
}, (error) => {
  process.stderr.write(`tenure: ${describeError(error)}\n`);
  process.exit(2);
});

