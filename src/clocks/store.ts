/** test_clock and test_clock_job: a tenant's test clock and the jobs that wait for it. */
import type { JsonObject } from '../platform/context.ts';
import { queryOne, queryRows, type Tx } from '../platform/db.ts';

export type TestClockStatus = 'ready' | 'advancing' | 'failed';

export interface TestClock {
  clockId: string;
  name: string;
  frozenTime: string;
  status: TestClockStatus;
  targetTime: string | null;
  jobsRun: number;
  lastError: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface PendingClockJob {
  kind: string;
  jobKey: string;
  accountId: string | null;
  runAt: string;
  seq: number;
  payload: JsonObject;
}

const iso = (v: Date | null) => (v ? v.toISOString() : null);

function clockFromRow(r: any): TestClock {
  return {
    clockId: r.clock_id,
    name: r.name,
    frozenTime: r.frozen_time.toISOString(),
    status: r.status,
    targetTime: iso(r.target_time),
    jobsRun: r.jobs_run,
    lastError: r.last_error,
    version: r.version,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export async function insertClock(tx: Tx, tenantId: string, c: TestClock): Promise<void> {
  await tx.query(
    `insert into test_clock (tenant_id, clock_id, name, frozen_time, status, target_time, jobs_run, last_error, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [tenantId, c.clockId, c.name, c.frozenTime, c.status, c.targetTime, c.jobsRun, c.lastError, c.version, c.createdAt, c.updatedAt],
  );
}

/** The tenant's clock (RLS shows only the current tenant's), locked when `forUpdate`. */
export async function findClock(tx: Tx, clockId: string, forUpdate = false): Promise<TestClock | undefined> {
  const row = await queryOne(tx, `select * from test_clock where clock_id = $1${forUpdate ? ' for update' : ''}`, [clockId]);
  return row ? clockFromRow(row) : undefined;
}

export async function findClockOfTenant(tx: Tx): Promise<TestClock | undefined> {
  const row = await queryOne(tx, 'select * from test_clock where tenant_id = tenure_current_tenant()');
  return row ? clockFromRow(row) : undefined;
}

/** Every test clock's tenant and time, read by each process at start (owner role: all tenants). */
export async function listClockTimes(tx: Tx): Promise<{ tenantId: string; frozenTime: string }[]> {
  const rows = await queryRows<{ tenant_id: string; frozen_time: Date }>(tx, 'select tenant_id, frozen_time from test_clock');
  return rows.map((r) => ({ tenantId: r.tenant_id, frozenTime: r.frozen_time.toISOString() }));
}

export async function updateClock(tx: Tx, c: TestClock): Promise<void> {
  await tx.query(
    `update test_clock set frozen_time = $2, status = $3, target_time = $4, jobs_run = $5, last_error = $6, version = $7, updated_at = $8
     where clock_id = $1`,
    [c.clockId, c.frozenTime, c.status, c.targetTime, c.jobsRun, c.lastError, c.version, c.updatedAt],
  );
}

/** The next job due by `through`, in time order, then in the order it was scheduled. */
export async function nextDueJob(tx: Tx, clockId: string, through: string): Promise<PendingClockJob | undefined> {
  const row = await queryOne<any>(tx,
    `select kind, job_key, account_id, run_at, seq, payload from test_clock_job
      where clock_id = $1 and run_at <= $2 order by run_at, seq limit 1`, [clockId, through]);
  return row ? { kind: row.kind, jobKey: row.job_key, accountId: row.account_id, runAt: row.run_at.toISOString(), seq: row.seq, payload: row.payload } : undefined;
}

/** How many jobs are due by `through` (the advance's progress: what is left). */
export async function countDueJobs(tx: Tx, clockId: string, through: string): Promise<number> {
  const row = await queryOne<{ n: number }>(tx, 'select count(*)::int as n from test_clock_job where clock_id = $1 and run_at <= $2', [clockId, through]);
  return row?.n ?? 0;
}

export async function listPendingJobs(tx: Tx, clockId: string, limit: number): Promise<PendingClockJob[]> {
  const rows = await queryRows<any>(tx,
    'select kind, job_key, account_id, run_at, seq, payload from test_clock_job where clock_id = $1 order by run_at, seq limit $2', [clockId, limit]);
  return rows.map((row) => ({ kind: row.kind, jobKey: row.job_key, accountId: row.account_id, runAt: row.run_at.toISOString(), seq: row.seq, payload: row.payload }));
}

/** Removes a job that ran, unless it was scheduled again meanwhile (then seq moved and it stays). */
export async function deleteRanJob(tx: Tx, clockId: string, job: PendingClockJob): Promise<void> {
  await tx.query('delete from test_clock_job where clock_id = $1 and kind = $2 and job_key = $3 and seq = $4', [clockId, job.kind, job.jobKey, job.seq]);
}

export async function tenantHasRealtimeJobs(tx: Tx): Promise<boolean> {
  const row = await queryOne<{ has: boolean }>(tx, 'select tenure_tenant_has_realtime_jobs() as has');
  return row?.has ?? false;
}

/** The advance as a real-time job (never a job of the clock it advances): tenure_schedule_clock_advance. */
export async function scheduleAdvance(tx: Tx, clockId: string, now: string): Promise<void> {
  await tx.query('select tenure_schedule_clock_advance($1, $2)', [clockId, now]);
}
