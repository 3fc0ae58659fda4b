/**
 * Per-tenant test clocks (ARCHITECTURE rule 8, docs/scheduler-and-clocks.md): a tenant is put
 * on a test clock, whose time stands still until it is advanced. An advance runs every job of
 * the tenant that falls due by its target, one at a time in time order (then in the order they
 * were scheduled), with the clock set to each job's time first: a job may schedule new ones,
 * which run in the same advance when they fall due by the target. There is no cap on how far:
 * the clock steps from job to job, then to the target.
 */
import { ConcurrentModificationError, NotFoundError, TenantHasScheduledWorkError, TestClockAdvancingError, TestClockExistsError, ValidationError } from '../platform/errors.ts';
import { canonicalInstant } from '../platform/instants.ts';
import type { CommandContext } from '../platform/context.ts';
import { inTenantTransaction, type Pool } from '../platform/db.ts';
import { newId } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { JobRegistry } from '../platform/scheduler.ts';
import * as store from './store.ts';
import type { PendingClockJob, TestClock } from './store.ts';
import type { TenantClocks } from './tenant-clocks.ts';

/** A clock as the API shows it: with what its advance has left to run. */
export interface TestClockView extends TestClock {
  /** Jobs due by the target that have not run yet (while advancing); jobs pending at all otherwise. */
  jobsRemaining: number;
  /** The next pending job's time, if any. */
  nextJobAt: string | null;
}

export interface TestClockDeps {
  pool: Pool;
  clocks: TenantClocks;
  /** Job kinds by name: the advance runs a clock's jobs through the same handlers as the workers. */
  jobs: JobRegistry;
  logger?: Logger;
}

export class TestClockService {
  constructor(private readonly deps: TestClockDeps) {}

  /** Transaction time of the clock's own rows: real time (the clocks' base clock), not the test clock's. */
  private realNow(): string {
    return this.deps.clocks.now().toISOString();
  }

  /**
   * Puts the caller's tenant on a test clock at `frozenTime`. Refused when the tenant has a
   * clock already, or real-time jobs pending: those would fire on real time (a tenant goes on
   * a test clock before its first date-driven change, as Stripe's customers join a clock at creation).
   */
  async create(ctx: CommandContext, input: { frozenTime: string; name?: string }): Promise<TestClockView> {
    const frozenTime = canonicalInstant(input.frozenTime);
    const created = await inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const existing = await store.findClockOfTenant(tx);
      if (existing) throw new TestClockExistsError(`tenant is on test clock ${existing.clockId} already`, { clockId: existing.clockId });
      if (await store.tenantHasRealtimeJobs(tx)) {
        throw new TenantHasScheduledWorkError('the tenant has date-driven jobs scheduled on real time; a tenant is put on a test clock before its first date-driven change');
      }
      const now = this.realNow();
      const clock: TestClock = {
        clockId: newId(), name: input.name ?? 'test clock', frozenTime, status: 'ready', targetTime: null,
        jobsRun: 0, lastError: null, version: 1, createdAt: now, updatedAt: now,
      };
      await store.insertClock(tx, ctx.tenantId, clock);
      return clock;
    });
    this.deps.clocks.set(ctx.tenantId, created.frozenTime);
    return { ...created, jobsRemaining: 0, nextJobAt: null };
  }

  async get(ctx: CommandContext, clockId: string): Promise<TestClockView> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const clock = await store.findClock(tx, clockId);
      if (!clock) throw NotFoundError.of('test clock', clockId);
      const [next] = await store.listPendingJobs(tx, clockId, 1);
      const jobsRemaining = clock.status === 'advancing' && clock.targetTime ? await store.countDueJobs(tx, clockId, clock.targetTime) : await store.countDueJobs(tx, clockId, '9999-12-31T23:59:59Z');
      return { ...clock, jobsRemaining, nextJobAt: next?.runAt ?? null };
    });
  }

  /** The jobs waiting for the clock, in the order an advance would run them. */
  async pendingJobs(ctx: CommandContext, clockId: string, limit = 100): Promise<PendingClockJob[]> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      if (!(await store.findClock(tx, clockId))) throw NotFoundError.of('test clock', clockId);
      return store.listPendingJobs(tx, clockId, limit);
    });
  }

  /**
   * Starts moving the clock to `to` (not before its time): the clock is `advancing` and the
   * advance runs as a real-time job (any worker: `npm start`'s or `tenure worker`'s). Refused
   * while another advance runs. A clock whose advance failed may be advanced again: the job
   * that failed runs first.
   */
  async advance(ctx: CommandContext, clockId: string, input: { frozenTime: string; expectedVersion?: number }): Promise<TestClockView> {
    const target = canonicalInstant(input.frozenTime);
    await inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const clock = await store.findClock(tx, clockId, true);
      if (!clock) throw NotFoundError.of('test clock', clockId);
      if (input.expectedVersion !== undefined && input.expectedVersion !== clock.version) {
        throw new ConcurrentModificationError('test clock', clockId, input.expectedVersion, clock.version);
      }
      if (clock.status === 'advancing') throw new TestClockAdvancingError(`test clock ${clockId} is advancing to ${clock.targetTime}; wait until it is ready`, { clockId, targetTime: clock.targetTime });
      if (target < clock.frozenTime) throw ValidationError.field('/frozenTime', `must not be before the clock's time ${clock.frozenTime}: a clock only moves forward`);
      const now = this.realNow();
      await store.updateClock(tx, { ...clock, status: 'advancing', targetTime: target, jobsRun: 0, lastError: null, version: clock.version + 1, updatedAt: now });
      await store.scheduleAdvance(tx, clockId, now);
    });
    return this.get(ctx, clockId);
  }

  /**
   * The advance itself (job kind `test-clock.advance`): step to the next due job's time, run
   * it, repeat; then the target. Each step commits on its own, so a crash resumes where it
   * was (the job that was running runs again: handlers re-check that they are still due).
   * A job that fails stops the advance: the clock is `failed` at that job's time, with its error.
   */
  async runAdvance(tenantId: string, clockId: string): Promise<void> {
    const { pool, clocks, jobs } = this.deps;
    for (;;) {
      const step = await inTenantTransaction(pool, tenantId, async (tx) => {
        const clock = await store.findClock(tx, clockId, true);
        if (!clock || clock.status !== 'advancing' || !clock.targetTime) return { done: true as const, clock };
        const job = await store.nextDueJob(tx, clockId, clock.targetTime);
        const frozenTime = job ? (job.runAt > clock.frozenTime ? job.runAt : clock.frozenTime) : clock.targetTime;
        const next: TestClock = { ...clock, frozenTime, status: job ? 'advancing' : 'ready', version: clock.version + 1, updatedAt: this.realNow() };
        await store.updateClock(tx, next);
        return job ? { done: false as const, clock: next, job } : { done: true as const, clock: next };
      });
      if (step.clock) clocks.set(tenantId, step.clock.frozenTime);
      if (step.done) return;
      try {
        await jobs.run(step.job.kind, step.job.payload);
      } catch (error) {
        this.deps.logger?.warn({ tenantId, clockId, kind: step.job.kind, key: step.job.jobKey, error: String(error) }, 'a job of a test clock failed; the advance stops');
        await inTenantTransaction(pool, tenantId, async (tx) => {
          const clock = (await store.findClock(tx, clockId, true))!;
          await store.updateClock(tx, { ...clock, status: 'failed', lastError: `${step.job.kind} ${step.job.jobKey}: ${error instanceof Error ? error.message : String(error)}`, version: clock.version + 1, updatedAt: this.realNow() });
        });
        return;
      }
      await inTenantTransaction(pool, tenantId, async (tx) => {
        await store.deleteRanJob(tx, clockId, step.job);
        const clock = (await store.findClock(tx, clockId, true))!;
        await store.updateClock(tx, { ...clock, jobsRun: clock.jobsRun + 1, version: clock.version + 1, updatedAt: this.realNow() });
      });
    }
  }
}
