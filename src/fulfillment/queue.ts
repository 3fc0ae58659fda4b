/**
 * The SQL of the fulfillment queue. The task table is the queue (decision 0009): a worker
 * claims ready tasks with FOR UPDATE SKIP LOCKED, so any number of workers on any number of
 * machines share the work, and marks each claimed task `running` under a lease (a claim
 * token and an expiry). Only the holder of the lease may record the task's outcome: a worker
 * that stalls past its lease loses the task to another worker, and its late answer is
 * dropped (the external system saw the same idempotency key twice and did the work once).
 * "Now" is always a parameter: tests and tenants' test clocks control it, not the database.
 */
import { queryOne, queryRows, type Pool, type Tx } from '../platform/db.ts';
import type { TaskOutcome } from './outcomes.ts';

/** The channel of tasks-ready notifications: workers LISTEN on it (wake-up.ts). */
export const TASKS_READY_CHANNEL = 'tenure_tasks_ready';

/**
 * What a tasks-ready notification names (decision 0026): the order whose tasks became ready,
 * with what a worker needs to run it without looking at the queue, and how many of the ready
 * tasks each provisioner has (empty when the sender does not know: one connection is given).
 * A notification with an empty payload names nothing: every worker looks at the whole queue.
 */
export interface ReadyAnnouncement {
  tenantId: string;
  accountId: string;
  orderId: string;
  correlationId: string;
  provisioners: Record<string, number>;
}

/** The payload of a notification that names an order (parseAnnouncement reads it). */
export function announcementPayload(a: ReadyAnnouncement): string {
  return JSON.stringify({ t: a.tenantId, a: a.accountId, o: a.orderId, c: a.correlationId, p: a.provisioners });
}

/** A notification's payload as the order it names; null when it names none (empty, or not ours). */
export function parseAnnouncement(payload: string | undefined): ReadyAnnouncement | null {
  if (!payload) return null;
  try {
    const p = JSON.parse(payload);
    if (typeof p?.t !== 'string' || typeof p.a !== 'string' || typeof p.o !== 'string' || typeof p.c !== 'string') return null;
    const provisioners: Record<string, number> = {};
    if (p.p && typeof p.p === 'object') for (const [code, n] of Object.entries(p.p)) if (typeof n === 'number' && n > 0) provisioners[code] = n;
    return { tenantId: p.t, accountId: p.a, orderId: p.o, correlationId: p.c, provisioners };
  } catch {
    return null;
  }
}

/**
 * The payload of a notification naming an order, built in SQL from the order's ready tasks in
 * `ready` (columns `code`, `n`: a provisioner and how many), for a statement that ends with
 * `select ${NOTIFY_READY_ORDER} from ready having count(*) > 0`: no ready task, no notification.
 * $1 is the channel; the order's tenant, account, order and correlation ids are $2..$5.
 */
const NOTIFY_READY_ORDER = `pg_notify($1, json_build_object('t', $2::text, 'a', $3::text, 'o', $4::text, 'c', $5::text, 'p', json_object_agg(code, n))::text)`;

/**
 * Tells the listening workers that tasks may have become ready (decision 0017). PostgreSQL
 * delivers the notification when the transaction commits, and not at all when it rolls back,
 * and folds identical notifications of one transaction into one. A notification only wakes
 * workers up to claim: a lost one costs a poll interval, nothing else. With `announcement`, it
 * names the order (decision 0026): one worker runs that order, without looking at the queue;
 * without, every worker looks.
 */
export async function notifyTasksReady(tx: Tx, announcement?: ReadyAnnouncement): Promise<void> {
  await tx.query('select pg_notify($1, $2)', [TASKS_READY_CHANNEL, announcement ? announcementPayload(announcement) : '']);
}

/**
 * notifyTasksReady for a task done just now, in the same statement, naming its order, when a
 * pending task of the order that waits for it is now ready (every task it depends on done, not
 * held): the last tasks of an order, and a task whose dependents still wait for another, wake
 * nobody (a worker would claim for nothing). The caller holds the order's lock, so no other
 * task of it is done meanwhile.
 */
export async function notifyDependentsReady(tx: Tx, task: { tenantId: string; accountId: string; orderId: string; taskId: string; correlationId: string }): Promise<void> {
  await tx.query(
    `with ready as (
       select t.provisioner_code as code, count(*)::int as n
         from fulfillment_task t
        where t.account_id = $3 and t.order_id = $4 and t.status = 'pending' and not t.held and $6 = any (t.depends_on)
          and not exists (select 1 from fulfillment_task d
                           where d.account_id = t.account_id and d.task_id = any (t.depends_on) and d.status <> 'done')
        group by t.provisioner_code
     )
     select ${NOTIFY_READY_ORDER} from ready having count(*) > 0`,
    [TASKS_READY_CHANNEL, task.tenantId, task.accountId, task.orderId, task.correlationId, task.taskId],
  );
}

export type TaskStatus = 'pending' | 'running' | 'waiting' | 'done' | 'failed' | 'cancelled' | 'compensated';

export interface TaskRow {
  tenantId: string;
  accountId: string;
  taskId: string;
  orderId: string;
  itemId: string;
  taskNumber: number;
  kind: 'provision' | 'compensation';
  compensatesTaskId: string | null;
  step: string;
  specification: { kind: 'product' | 'service' | 'resource'; id: string; version: number; code: string } | null;
  provisionerCode: string;
  status: TaskStatus;
  dependsOn: string[];
  pointOfNoReturn: boolean;
  idempotencyKey: string;
  correlationId: string;
  attempts: number;
  maxAttempts: number;
  nextRunAt: string;
  lastError: { code: string; message: string; retryable?: boolean; at: string } | null;
  externalId: string | null;
  result: Record<string, unknown> | null;
  lockedBy: string | null;
  lockedUntil: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A done task as the outcome interface reports it (outcomes.ts). */
export function outcomeOf(t: TaskRow): TaskOutcome {
  return { taskId: t.taskId, step: t.step, specification: t.specification, dependsOn: t.dependsOn, externalId: t.externalId, result: t.result };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function taskFromRow(r: any): TaskRow {
  return {
    tenantId: r.tenant_id,
    accountId: r.account_id,
    taskId: r.task_id,
    orderId: r.order_id,
    itemId: r.item_id,
    taskNumber: r.task_number,
    kind: r.kind,
    compensatesTaskId: r.compensates_task_id,
    step: r.step,
    specification: r.spec_id ? { kind: r.spec_kind, id: r.spec_id, version: r.spec_version, code: r.spec_code } : null,
    provisionerCode: r.provisioner_code,
    status: r.status,
    dependsOn: r.depends_on,
    pointOfNoReturn: r.point_of_no_return,
    idempotencyKey: r.idempotency_key,
    correlationId: r.correlation_id,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    nextRunAt: r.next_run_at.toISOString(),
    lastError: r.last_error,
    externalId: r.external_id,
    result: r.result,
    lockedBy: r.locked_by,
    lockedUntil: iso(r.locked_until),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}

/** A task that was ready when a worker looked (findReadyTasks): not locked, not claimed. */
export interface ReadyTask {
  tenantId: string;
  accountId: string;
  orderId: string;
  taskId: string;
  provisionerCode: string;
  correlationId: string;
}

/**
 * Up to `limit` tasks of any tenant that are ready to run: pending, due, not held, and every
 * task they depend on done; and running tasks whose lease ran out (their worker died or
 * stalled), which are taken over as they are. A plain read, which locks nothing: the claim
 * is per order (claimOrderTasks), so no statement locks rows across accounts (rule 12). Each
 * branch walks its own partial index in order and stops at `limit`: the dependency check is a
 * primary-key probe per candidate, not an anti-join over the table. Tasks of `passOrders` are
 * not looked at (orders the caller leaves to others for a moment: found locked, or announced to
 * another worker): the walk goes on past them to the work nobody has.
 */
export async function findReadyTasks(pool: Pool | Tx, now: string, limit: number, passOrders: readonly string[] = []): Promise<ReadyTask[]> {
  const rows = await queryRows<any>(
    pool,
    `(select t.tenant_id, t.account_id, t.order_id, t.task_id, t.provisioner_code, t.correlation_id
        from fulfillment_task t
       where t.status = 'pending' and not t.held and t.next_run_at <= $1 and t.order_id <> all ($3::uuid[])
         and not exists (select 1 from fulfillment_task d
                          where d.account_id = t.account_id and d.task_id = any (t.depends_on) and d.status <> 'done')
       order by t.next_run_at
       limit $2)
     union all
     (select t.tenant_id, t.account_id, t.order_id, t.task_id, t.provisioner_code, t.correlation_id
        from fulfillment_task t
       where t.status = 'running' and t.locked_until < $1 and not t.held and t.order_id <> all ($3::uuid[])
       order by t.locked_until
       limit $2)`,
    [now, limit, passOrders],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, accountId: r.account_id, orderId: r.order_id, taskId: r.task_id, provisionerCode: r.provisioner_code, correlationId: r.correlation_id }));
}

/**
 * Claims the ready tasks of one order (as findReadyTasks defines ready, running ones whose
 * lease ran out included), in task order: up to `otherLimit` whose provisioner is not in
 * `instantCodes` are marked running under the claim token and the lease, their attempt
 * counted, for calls outside this transaction; every one whose provisioner is instant is
 * only locked, and returned as it is (`instant` true): the caller runs it in this
 * transaction and records its outcome, attempt and start in one update (guard
 * `{ runHere: true }`), so that a task run here is written once. SKIP LOCKED passes rows
 * another transaction has claimed and not yet committed. The caller holds the order's lock.
 */
export async function claimOrderTasks(
  tx: Pool | Tx,
  order: { accountId: string; orderId: string },
  claim: { claimToken: string; now: string; leaseMs: number; instantCodes: readonly string[]; otherLimit: number },
): Promise<(TaskRow & { instant: boolean })[]> {
  const rows = await queryRows<any>(
    tx,
    `with ready as (
       select t.account_id, t.task_id, t.task_number, t.provisioner_code = any ($5::text[]) as instant
         from fulfillment_task t
        where t.account_id = $1 and t.order_id = $2 and not t.held
          and ((t.status = 'pending' and t.next_run_at <= $3) or (t.status = 'running' and t.locked_until < $3))
          and not exists (select 1 from fulfillment_task d
                           where d.account_id = t.account_id and d.task_id = any (t.depends_on) and d.status <> 'done')
        order by t.task_number
        for update of t skip locked
     ), chosen as (
       select account_id, task_id
         from (select r.account_id, r.task_id, row_number() over (order by r.task_number) as n from ready r where not r.instant) numbered
        where n <= $6
     ), claimed as (
       update fulfillment_task t
          set status = 'running', attempts = t.attempts + 1, locked_by = $4,
              locked_until = $3::timestamptz + make_interval(secs => $7::double precision / 1000),
              started_at = coalesce(t.started_at, $3), updated_at = $3
         from chosen
        where t.account_id = chosen.account_id and t.task_id = chosen.task_id
       returning t.*
     )
     select claimed.*, false as instant from claimed
     union all
     select t.*, true as instant from fulfillment_task t join ready r on r.account_id = t.account_id and r.task_id = t.task_id where r.instant`,
    [order.accountId, order.orderId, claim.now, claim.claimToken, claim.instantCodes, claim.otherLimit, claim.leaseMs],
  );
  return rows.map((r) => ({ ...taskFromRow(r), instant: r.instant as boolean })).sort((a, b) => a.taskNumber - b.taskNumber);
}

/**
 * Claims up to `limit` ready tasks of any orders, oldest first, for calls outside (no
 * provisioner counts as instant), order by order, without taking the orders' locks: what a
 * worker's claim leaves behind when it dies before running anything. For tests and tools; a
 * worker runs its orders through the orchestrator.
 */
export async function claimReadyTasks(pool: Pool | Tx, claimToken: string, now: string, leaseMs: number, limit: number): Promise<TaskRow[]> {
  const claimed: TaskRow[] = [];
  const orders = [...new Map((await findReadyTasks(pool, now, limit)).map((t) => [t.orderId, t])).values()];
  for (const order of orders) {
    if (claimed.length >= limit) break;
    for (const { instant: _, ...task } of await claimOrderTasks(pool, order, { claimToken, now, leaseMs, instantCodes: [], otherLimit: limit - claimed.length })) claimed.push(task);
  }
  return claimed;
}

/**
 * notifyTasksReady when a task of the order is ready and not taken, naming the order with its
 * ready tasks' provisioners: at the end of a transaction that ran the order's tasks, for what it
 * left (no connection was left for it) to the next round or another worker.
 */
export async function notifyIfOrderReady(tx: Tx, order: { tenantId: string; accountId: string; orderId: string; correlationId: string }, now: string): Promise<void> {
  await tx.query(
    `with ready as (
       select t.provisioner_code as code, count(*)::int as n
         from fulfillment_task t
        where t.account_id = $3 and t.order_id = $4 and t.status = 'pending' and not t.held and t.next_run_at <= $6
          and not exists (select 1 from fulfillment_task d
                           where d.account_id = t.account_id and d.task_id = any (t.depends_on) and d.status <> 'done')
        group by t.provisioner_code
     )
     select ${NOTIFY_READY_ORDER} from ready having count(*) > 0`,
    [TASKS_READY_CHANNEL, order.tenantId, order.accountId, order.orderId, order.correlationId, now],
  );
}

/**
 * Gives a claimed task back before its lease runs out, so that the next claim takes it at once
 * instead of after the lease: when its worker could not start it (`attemptMade` false: the
 * attempt is not counted, no provisioner was called) or is shutting down with the call still
 * out (`attemptMade` true). Only the lease's holder can give it back; a late answer of the
 * call is then dropped by updateTask's claim-token guard.
 */
export async function releaseClaim(tx: Tx, task: Pick<TaskRow, 'tenantId' | 'accountId' | 'orderId' | 'taskId' | 'correlationId' | 'provisionerCode'>, claimToken: string, now: string, attemptMade: boolean): Promise<boolean> {
  const result = await tx.query(
    `update fulfillment_task
        set status = 'pending', attempts = attempts - $5, locked_by = null, locked_until = null, updated_at = $4
      where account_id = $1 and task_id = $2 and status = 'running' and locked_by = $3`,
    [task.accountId, task.taskId, claimToken, now, attemptMade ? 0 : 1],
  );
  if (result.rowCount !== 1) return false;
  await notifyTasksReady(tx, { tenantId: task.tenantId, accountId: task.accountId, orderId: task.orderId, correlationId: task.correlationId, provisioners: { [task.provisionerCode]: 1 } });
  return true;
}

/** Who may record a task's outcome (updateTask). */
export type TaskGuard = { claimToken: string } | { fromStatuses: TaskStatus[] } | { runHere: true };

export type TaskUpdate =
  | { status: 'done'; externalId: string | null; result: Record<string, unknown> | null }
  | { status: 'waiting'; externalId: string | null }
  | { status: 'pending'; nextRunAt: string; lastError: TaskRow['lastError'] }
  | { status: 'failed'; lastError: TaskRow['lastError'] };

/**
 * Records a task's outcome. With a claim token, only while that lease still holds the task
 * (running, same token); without one (a callback or an operator), only from `fromStatuses`;
 * `runHere`: a task this transaction locked with claimOrderTasks and ran in place, whose
 * attempt and start are counted by this same update.
 * Returns the updated task, or undefined when the task was not in a state to take it.
 */
export async function updateTask(
  tx: Tx,
  task: { accountId: string; taskId: string },
  update: TaskUpdate,
  now: string,
  guard: TaskGuard,
): Promise<TaskRow | undefined> {
  const ended = update.status === 'done' || update.status === 'failed';
  const runHere = 'runHere' in guard;
  const row = await queryOne(
    tx,
    `update fulfillment_task
        set status = $3,
            external_id = coalesce($4, external_id),
            result = coalesce($5, result),
            last_error = case when $3 in ('pending', 'failed') then $6::jsonb else last_error end,
            next_run_at = coalesce($7, next_run_at),
            finished_at = case when $8 then $9::timestamptz else finished_at end,
            locked_by = null, locked_until = null, updated_at = $9,
            attempts = attempts + case when $12 then 1 else 0 end,
            started_at = case when $12 then coalesce(started_at, $9) else started_at end
      where account_id = $1 and task_id = $2
        and (case when $10::text is not null then status = 'running' and locked_by = $10
                  when $12 then status in ('pending', 'running')
                  else status = any ($11::text[]) end)
      returning *`,
    [task.accountId, task.taskId, update.status,
     'externalId' in update ? update.externalId : null,
     update.status === 'done' ? update.result : null,
     'lastError' in update ? update.lastError : null,
     update.status === 'pending' ? update.nextRunAt : null,
     ended, now,
     'claimToken' in guard ? guard.claimToken : null,
     'fromStatuses' in guard ? guard.fromStatuses : [],
     runHere],
  );
  return row ? taskFromRow(row) : undefined;
}

/**
 * updateTask's `done` for several tasks run in their order's transaction (guard `runHere`), in
 * one statement: each row as updateTask writes it — status, external id and result (kept when
 * none is given), finished now, the lease cleared, the attempt and the start counted. Each task
 * is written only while it is as the transaction found it (`fromStatus`, `fromLockedBy`); a
 * task that is not is an error, which rolls the transaction back.
 */
export async function recordTasksDone(
  tx: Tx,
  accountId: string,
  done: readonly { taskId: string; externalId: string | null; result: Record<string, unknown> | null; status: TaskStatus; lockedBy: string | null }[],
  now: string,
): Promise<void> {
  const result = await tx.query(
    `update fulfillment_task t
        set status = 'done', external_id = coalesce(d.external_id, t.external_id), result = coalesce(d.result, t.result),
            finished_at = $3, locked_by = null, locked_until = null, updated_at = $3,
            attempts = t.attempts + 1, started_at = coalesce(t.started_at, $3)
       from unnest($2::uuid[], $4::text[], $5::jsonb[], $6::text[], $7::text[]) as d (task_id, external_id, result, from_status, from_locked_by)
      where t.account_id = $1 and t.task_id = d.task_id
        and t.status = d.from_status and t.locked_by is not distinct from d.from_locked_by`,
    [accountId, done.map((d) => d.taskId), now, done.map((d) => d.externalId), done.map((d) => d.result), done.map((d) => d.status), done.map((d) => d.lockedBy)],
  );
  if (result.rowCount !== done.length) throw new Error(`${done.length - (result.rowCount ?? 0)} of ${done.length} tasks changed while their order's transaction ran them`);
}

export async function findTask(tx: Tx, taskId: string): Promise<TaskRow | undefined> {
  const row = await queryOne(tx, 'select * from fulfillment_task where task_id = $1', [taskId]);
  return row ? taskFromRow(row) : undefined;
}

export async function listOrderTasks(tx: Tx, accountId: string, orderId: string): Promise<TaskRow[]> {
  const rows = await queryRows(tx, 'select * from fulfillment_task where account_id = $1 and order_id = $2 order by task_number', [accountId, orderId]);
  return rows.map(taskFromRow);
}

export async function listItemTasks(tx: Tx, accountId: string, itemId: string, kind: TaskRow['kind']): Promise<TaskRow[]> {
  const rows = await queryRows(tx, 'select * from fulfillment_task where account_id = $1 and item_id = $2 and kind = $3 order by task_number', [accountId, itemId, kind]);
  return rows.map(taskFromRow);
}

/** Cancels an item's tasks that have not started (or waiting ones, for an amendment); returns them. */
export async function cancelTasks(tx: Tx, accountId: string, itemIds: string[], statuses: TaskStatus[], now: string): Promise<TaskRow[]> {
  const rows = await queryRows(
    tx,
    `update fulfillment_task set status = 'cancelled', finished_at = $4, locked_by = null, locked_until = null, updated_at = $4
      where account_id = $1 and item_id = any ($2::uuid[]) and status = any ($3::text[])
      returning *`,
    [accountId, itemIds, statuses, now],
  );
  return rows.map(taskFromRow);
}

/**
 * Holds an order's tasks, or releases them: the claim skips held tasks, so those not yet
 * claimed wait while their order is held; running ones finish.
 */
export async function setOrderHeld(tx: Tx, accountId: string, orderId: string, held: boolean, now: string): Promise<void> {
  const result = await tx.query(
    'update fulfillment_task set held = $3, updated_at = $4 where account_id = $1 and order_id = $2 and held <> $3',
    [accountId, orderId, held, now],
  );
  if (!held && result.rowCount) await notifyTasksReady(tx);
}

export async function markCompensated(tx: Tx, accountId: string, taskId: string, now: string): Promise<void> {
  await tx.query(`update fulfillment_task set status = 'compensated', updated_at = $3 where account_id = $1 and task_id = $2`, [accountId, taskId, now]);
}

/** A manual re-run: failed and cancelled provisioning tasks of the items are due again with fresh attempts. */
export async function resetTasksForRerun(tx: Tx, accountId: string, itemIds: string[], now: string): Promise<TaskRow[]> {
  const rows = await queryRows(
    tx,
    `update fulfillment_task set status = 'pending', attempts = 0, next_run_at = $3, finished_at = null, updated_at = $3
      where account_id = $1 and item_id = any ($2::uuid[]) and kind = 'provision' and status in ('failed', 'cancelled')
      returning *`,
    [accountId, itemIds, now],
  );
  if (rows.length) await notifyTasksReady(tx);
  return rows.map(taskFromRow);
}

export interface NewCompensation {
  taskId: string;
  compensates: TaskRow;
  taskNumber: number;
  dependsOn: string[];
}

export async function insertCompensations(tx: Tx, compensations: NewCompensation[], now: string): Promise<void> {
  for (const c of compensations) {
    const t = c.compensates;
    await tx.query(
      `insert into fulfillment_task (tenant_id, account_id, task_id, order_id, item_id, task_number, kind, compensates_task_id,
         step, spec_kind, spec_id, spec_version, spec_code, provisioner_code, status, depends_on, point_of_no_return,
         idempotency_key, correlation_id, max_attempts, next_run_at, created_at, updated_at, held)
       values ($1, $2, $3, $4, $5, $6, 'compensation', $7, $8, $9, $10, $11, $12, $13, 'pending', $14, false, $15, $16, $17, $18, $18, $18,
               -- Held with its order, like the task it undoes.
               (select held from fulfillment_task where account_id = $2 and task_id = $7))`,
      [t.tenantId, t.accountId, c.taskId, t.orderId, t.itemId, c.taskNumber, t.taskId, t.step, t.specification?.kind ?? null,
       t.specification?.id ?? null, t.specification?.version ?? null, t.specification?.code ?? null, t.provisionerCode,
       c.dependsOn, `${t.idempotencyKey}:compensate`, t.correlationId, t.maxAttempts, now],
    );
  }
  if (compensations.length) await notifyTasksReady(tx);
}

/**
 * Locks the tasks of some items of an order before an amendment reads them: a worker's claim
 * skips locked rows, and a claim already under way finishes first, so the amendment sees
 * every task's real status.
 */
export async function lockItemTasks(tx: Tx, accountId: string, itemIds: string[]): Promise<TaskRow[]> {
  const rows = await queryRows(
    tx,
    'select * from fulfillment_task where account_id = $1 and item_id = any ($2::uuid[]) order by task_number for update',
    [accountId, itemIds],
  );
  return rows.map(taskFromRow);
}
