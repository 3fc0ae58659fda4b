/**
 * Date-driven work (decision 0023, docs/scheduler-and-clocks.md): jobs scheduled in the
 * transaction of the change that causes them, run by graphile-worker for tenants on real time,
 * and by their test clock's advance for tenants on one (src/clocks). This file is the kernel's
 * half: the one statement that schedules, the registry of job kinds (filled by the parts at
 * assembly, src/app.ts) and the runner around graphile-worker. It knows no part.
 */
import { Logger as GraphileLogger, run, runMigrations, runOnce, type Runner, type TaskList } from 'graphile-worker';
import type { Json, JsonObject } from './context.ts';
import type { Pool, Tx } from './db.ts';
import type { Logger } from './logger.ts';

/** A job to run at `runAt`, for the current tenant's account. */
export interface ScheduledJob {
  /** A kind registered at assembly (`subscription.activate`…): which handler runs it. */
  kind: string;
  /**
   * Names the job within its kind and tenant: scheduling the same (kind, key) again moves the
   * pending job instead of adding one (a renewal moves the expiry of its subscription).
   */
  key: string;
  accountId: string | null;
  /** When it falls due (ISO instant), in the tenant's time: real time, or its test clock's. */
  runAt: string;
  /** What the handler needs to re-check that the job is still due (the version or dates it was scheduled for). */
  payload: JsonObject;
}

/**
 * What a part is given to schedule through: one statement in the transaction `tx` of the
 * change that causes the job (a tenant transaction). Idempotent by (kind, key).
 */
export interface JobScheduler {
  schedule(tx: Tx, job: ScheduledJob): Promise<void>;
}

/** The one implementation: tenure_schedule_job (migration 0017) decides real time or test clock. */
export const jobScheduler: JobScheduler = {
  async schedule(tx, job) {
    await tx.query('select tenure_schedule_job($1, $2, $3, $4, $5)', [job.kind, job.key, job.accountId, job.runAt, job.payload]);
  },
};

/** A due job, as its handler gets it. */
export interface DueJob {
  kind: string;
  key: string;
  tenantId: string;
  accountId: string | null;
  /** When it fell due, in the tenant's time. */
  runAt: string;
  payload: JsonObject;
}

/**
 * Runs a due job. It must re-check that the job is still due (the state or version it was
 * scheduled for) and do nothing otherwise: jobs run at least once, a crash or a second
 * worker can run one again. It runs in its own tenant transactions, whose time is the
 * tenant's clock (real, or its test clock set to `runAt` by the advance).
 */
export type JobHandler = (job: DueJob) => Promise<void>;

/** The job kinds, registered by the parts at assembly. */
export class JobRegistry {
  private readonly handlers = new Map<string, JobHandler>();

  register(kind: string, handler: JobHandler): this {
    if (this.handlers.has(kind)) throw new Error(`job kind ${kind} is registered twice`);
    this.handlers.set(kind, handler);
    return this;
  }

  kinds(): string[] {
    return [...this.handlers.keys()].sort();
  }

  handler(kind: string): JobHandler {
    const handler = this.handlers.get(kind);
    if (!handler) throw new Error(`no handler for job kind ${kind}`);
    return handler;
  }

  /** Runs a job from its stored payload (as tenure_schedule_job wrote it). */
  run(kind: string, stored: Json): Promise<void> {
    return this.handler(kind)(dueJobOf(kind, stored));
  }
}

export function dueJobOf(kind: string, stored: Json): DueJob {
  const { tenantId, accountId, key, runAt, ...payload } = stored as JsonObject;
  return { kind, key: String(key), tenantId: String(tenantId), accountId: (accountId as string | null) ?? null, runAt: new Date(String(runAt)).toISOString(), payload };
}

function taskListOf(registry: JobRegistry): TaskList {
  const taskList: TaskList = {};
  for (const kind of registry.kinds()) taskList[kind] = (payload) => registry.run(kind, payload as Json);
  return taskList;
}

/**
 * Runs every real-time job due now, then returns (graphile-worker's runOnce): for
 * `tenure worker --once` and tests. Jobs a run schedules that are due at once run too.
 */
export function runDueJobsOnce(pool: Pool, registry: JobRegistry, logger?: Logger): Promise<void> {
  return runOnce({ pgPool: pool, taskList: taskListOf(registry), noHandleSignals: true, logger: graphileLogger(logger) });
}

/** graphile-worker's log lines through Tenure's logger. */
function graphileLogger(logger: Logger | undefined): GraphileLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    if (!logger) return;
    const fields = { scheduler: true, ...(meta ?? {}) };
    if (level === 'error') logger.error(fields, message);
    else if (level === 'warning') logger.warn(fields, message);
    else logger.debug(fields, message);
  });
}

/**
 * graphile-worker's schema (graphile_worker), migrated by its library: run by migrate() after
 * Tenure's files, under the same advisory lock, so a fresh database, the embedded one and the
 * test template (cloned per test file) all have it.
 */
export function migrateScheduler(pool: Pool): Promise<void> {
  return runMigrations({ pgPool: pool, logger: graphileLogger(undefined) });
}

export interface SchedulerOptions {
  /** Jobs run at once by this process (default 4). */
  concurrency?: number;
  /** How often it looks for jobs that fell due, beside the LISTEN it is woken by (default 2 s). */
  pollIntervalMs?: number;
  logger?: Logger;
}

/**
 * Starts running due jobs in this process: N processes (npm start, tenure worker…) share them
 * through graphile-worker's SKIP LOCKED claim. It holds connections of `pool` (one listens):
 * give it a pool of its own.
 */
export async function startScheduler(pool: Pool, registry: JobRegistry, options: SchedulerOptions = {}): Promise<Runner> {
  return run({
    pgPool: pool,
    taskList: taskListOf(registry),
    concurrency: options.concurrency ?? 4,
    pollInterval: options.pollIntervalMs ?? 2_000,
    noHandleSignals: true,
    logger: graphileLogger(options.logger),
  });
}
