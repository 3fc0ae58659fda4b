/**
 * The orchestrator (seed 003 B): the one entry point that runs fulfillment tasks through
 * their provisioners and turns outcomes into order progress. It never runs inside an HTTP
 * request: workers call `runOnce` in a loop (worker.ts); the HTTP API only records results
 * posted by operators and external systems. Re-runs and cancellations are orders' commands,
 * which change the tasks through order-tasks.ts.
 *
 * A task's life:  pending ──claim──▶ running ──done──▶ done
 *                                       │  └──waiting──▶ waiting ──result posted──▶ done | failed
 *                                       ├──failed, retryable, attempts left──▶ pending (next run after a backoff)
 *                                       └──failed otherwise──▶ failed (the item fails; items that depend on it fail)
 * Outcomes reach the order items through the outcome interface (outcomes.ts, decision 0015),
 * in the same transaction as the task's new state: an item whose provisioning tasks are all
 * done is completed there, one that failed fails there.
 */
import { recordAudit } from '../platform/audit.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Clock } from '../platform/clock.ts';
import { asDatabaseError, holdConnection, holdConnections, inTenantTransaction, unavailableReason, type Connection, type HeldConnection, type Pool, type Tx } from '../platform/db.ts';
import { IllegalTransitionError, NotFoundError, ProblemError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import { DEFAULT_ROUTING, type Routing } from './decompose.ts';
import type { FulfillmentOutcomes, ItemFailure, ItemToProvision, OrderOutcomes } from './outcomes.ts';
import type { ProvisionerRegistry, ProvisioningResult, ProvisioningTask } from './provisioner.ts';
import * as queue from './queue.ts';
import type { TaskRow } from './queue.ts';

export interface RetryPolicy {
  /** Delay before the second attempt; each later one is `multiplier` times longer, up to `maxDelayMs`. */
  initialDelayMs: number;
  multiplier: number;
  maxDelayMs: number;
  /** Up to this fraction of the delay is added at random, so that retries of many tasks spread out. */
  jitter: number;
}

export interface FulfillmentSettings {
  routing: Routing;
  retry: RetryPolicy;
  /**
   * How long a claimed task is a worker's before another may take it over. Undefined: sized
   * from the provisioners, the longest call any of them may take plus LEASE_MARGIN_MS.
   */
  leaseMs?: number;
  /** How long an idle worker waits before looking for work again. */
  pollIntervalMs: number;
  /**
   * Tasks claimed per round, and run at once: a worker's concurrency, and the connections it
   * holds (one per task in flight; a round claims only as many tasks as it got connections).
   */
  batchSize: number;
  /**
   * Orders whose ready tasks are all of instant provisioners that a round runs at once, at most
   * (their transactions are CPU work in the database and the worker, with nothing to wait for
   * outside). Undefined: the batch. The others are for the next round, which follows at once,
   * or another worker. Below the batch it saves backends and contention when several workers
   * share few cores, but bounds one worker's instant orders per round: a round also waits for
   * its orders' calls to other provisioners, so with slow ones a low bound starves the instant
   * orders (the SIGKILL fault scenario missed its completion bound with 2).
   */
  instantConcurrency?: number;
  /** On SIGTERM, how long a worker waits for the calls it has out before giving their tasks back. */
  shutdownGraceMs: number;
}

/**
 * A lease covers a task's provisioner call plus its two transactions (start and outcome), each
 * of which may wait CONNECTION_TIMEOUT_MS for a connection, and one retry of the outcome.
 */
export const LEASE_MARGIN_MS = 15_000;

/** At shutdown, how long a worker keeps trying to give a task back before leaving it to its lease. */
const GIVE_BACK_PATIENCE_MS = 2_000;

/** The lease a worker takes: the configured one, or the provisioners' longest call plus the margin. */
export function leaseMsOf(settings: FulfillmentSettings, registry: ProvisionerRegistry): number {
  return settings.leaseMs ?? registry.longestTimeoutMs() + LEASE_MARGIN_MS;
}

export const DEFAULT_SETTINGS: FulfillmentSettings = {
  routing: DEFAULT_ROUTING,
  retry: { initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 5 * 60_000, jitter: 0.1 },
  pollIntervalMs: 500,
  batchSize: 10,
  shutdownGraceMs: 5_000,
};

/** The delay before attempt `attempts + 1`, with its jitter (`random` in [0, 1)). */
export function retryDelayMs(policy: RetryPolicy, attempts: number, random = Math.random()): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, attempts - 1));
  return Math.round(base * (1 + policy.jitter * random));
}

/** What an operator or an external system reports for a waiting task. */
export type PostedResult =
  | { outcome: 'done'; externalId?: string | null; data?: Record<string, unknown> | null }
  | { outcome: 'failed'; code: string; message: string };

const systemContext = (task: TaskRow): CommandContext => ({ tenantId: task.tenantId, actor: null, correlationId: task.correlationId });

/** A task a worker has claimed and not yet recorded, with the connection it holds for it. */
interface InFlight {
  task: TaskRow;
  claimToken: string;
  connection: HeldConnection;
  /** Given back at shutdown: whatever the call answers later is not recorded. */
  givenBack: boolean;
  /**
   * Its connection is in a transaction (the task's start, or its outcome): the task is not to be
   * given back then, as that would share the connection; it ends by itself.
   */
  busy: boolean;
}

export class Orchestrator {
  /** The lease this orchestrator's workers take on the tasks they claim. */
  readonly leaseMs: number;
  private readonly inFlight = new Map<string, InFlight>();
  /**
   * Orders this process leaves to others for a moment, by id, with until when: found locked by
   * another transaction (another worker runs their tasks), or announced to another worker
   * (leaveToOthers). The looks pass them (findReadyTasks' passOrders) instead of finding them
   * again: every worker's look walks the same oldest ready tasks, mostly those of the orders in
   * flight, whose claims are not committed yet.
   */
  private readonly passed = new Map<string, number>();
  /** Provisioners that answer at once (timeoutMs 0): their tasks run inside their order's transaction. */
  private readonly instantCodes: readonly string[];
  /**
   * Every provisioner answers at once (timeoutMs 0): a round never waits for a call, so an
   * announced order's owner is never busy for long (decision 0026: only then do the listening
   * workers split the announcements and the poll's turns between them).
   */
  readonly onlyInstant: boolean;
  /** Orders of only instant tasks run at once in a round (FulfillmentSettings.instantConcurrency). */
  private readonly instantConcurrency: number;
  /**
   * Rounds this orchestrator ran, how many of them ran no task (nothing ready, or others had
   * it), and how many looked at the queue (the others ran only announced orders): logged when
   * a `tenure worker` process stops, for the orders benchmark.
   */
  readonly rounds = { total: 0, empty: 0, looks: 0 };

  constructor(private readonly deps: { pool: Pool; clock: Clock; registry: ProvisionerRegistry; settings: FulfillmentSettings; outcomes: FulfillmentOutcomes; logger?: Logger }) {
    this.leaseMs = leaseMsOf(deps.settings, deps.registry);
    this.instantCodes = deps.registry.instantCodes();
    this.onlyInstant = deps.registry.codes().every((code) => this.instantCodes.includes(code));
    this.instantConcurrency = Math.max(1, Math.min(deps.settings.batchSize, deps.settings.instantConcurrency ?? deps.settings.batchSize));
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  /**
   * One round of a worker: holds up to a batch of connections, looks for ready tasks, and
   * works on their orders, each in a transaction of its own on its own connection (decision
   * 0019): it locks the order (passing one another transaction holds), claims the order's
   * ready tasks, runs those of instant provisioners to their outcome right there — and the
   * tasks they make ready, until none is left — and claims up to one task of another
   * provisioner per connection it was given, which then run as before (decision 0014): a
   * start transaction, the call, an outcome transaction, on that connection. Returns how many
   * tasks it ran (0: nothing was ready, or others had it).
   *
   * `announced`: orders named by tasks-ready notifications that this worker owns (decision
   * 0026), run first and without looking for them; `look` false: only those, no look at the
   * queue. The look passes the orders this process leaves to others for a moment (found
   * locked, announced to another worker) and those announced here, so that it finds the work
   * nobody has. An announced order that found no connection is left to the next look.
   * `tally`, when given, is told how many of the tasks run were of orders the look found.
   */
  async runOnce(workerId: string, work: { announced?: readonly queue.ReadyAnnouncement[]; look?: boolean; tally?: { fromLook: number } } = {}): Promise<number> {
    const look = work.look ?? true;
    if (!look && !work.announced?.length) return 0;
    const { ran, fromLook } = await this.round(workerId, work.announced ?? [], look);
    if (work.tally) work.tally.fromLook = fromLook;
    this.rounds.total++;
    if (look) this.rounds.looks++;
    if (ran === 0) this.rounds.empty++;
    return ran;
  }

  /**
   * Another worker owns this order's announcement (decision 0026): this process's looks pass it
   * for a moment, as one found locked; the owner runs it, or a look takes it after the moment.
   */
  leaveToOthers(orderId: string): void {
    const until = performance.now() + PASS_MS;
    if ((this.passed.get(orderId) ?? 0) < until) this.passed.set(orderId, until);
  }

  private async round(workerId: string, announced: readonly queue.ReadyAnnouncement[], look: boolean): Promise<{ ran: number; fromLook: number }> {
    const claimToken = `${workerId}:${newId()}`;
    const { batchSize } = this.deps.settings;
    // An announcement as the look would have found its order: a ready task per provisioner's task.
    const named = announced.flatMap((a) => {
      const codes = Object.entries(a.provisioners).flatMap(([code, n]) => Array.from({ length: n }, () => code));
      return (codes.length ? codes : ['']).map((provisionerCode) => ({ ...a, taskId: '', provisionerCode }));
    });
    let candidates: queue.ReadyTask[] = [];
    if (look) {
      for (const [orderId, until] of this.passed) if (until <= performance.now()) this.passed.delete(orderId);
      // Looking comes first, on one connection: an idle worker's round holds no batch of them.
      const looking = await holdConnection(this.deps.pool);
      try {
        const pass = [...this.passed.keys(), ...announced.map((a) => a.orderId)];
        candidates = await queue.findReadyTasks(looking.client, this.now(), batchSize * CANDIDATES_PER_CONNECTION, pass);
      } catch (error) {
        throw asDatabaseError(error, looking.lost);
      } finally {
        looking.release();
      }
    }
    if (named.length === 0 && candidates.length === 0) return { ran: 0, fromLook: 0 };
    // The announced orders first, then what the look found, with the connections left.
    const choose = (connections: number) => {
      const first = ordersOf(named, this.instantCodes, connections, this.instantConcurrency);
      const taken = new Set(first.map((o) => o.orderId));
      const rest = ordersOf(candidates.filter((t) => !taken.has(t.orderId)), this.instantCodes,
        connections - first.reduce((a, o) => a + o.slots, 0), this.instantConcurrency - first.filter((o) => o.instantOnly).length);
      return [...first, ...rest.map((o) => ({ ...o, fromLook: true }))];
    };
    const wanted = choose(batchSize).reduce((a, o) => a + o.slots, 0);
    const connections = await holdConnections(this.deps.pool, wanted);
    try {
      const free = [...connections];
      const work = choose(connections.length).map((order) => ({ order, connections: free.splice(0, order.slots) }));
      for (const spare of free) spare.release();
      const deadline = performance.now() + this.leaseMs;
      // Every order ends before the connections go back; an unavailable database fails the round
      // (the worker backs off and logs the outage once), after the others have ended.
      const ran = await Promise.allSettled(work.map(({ order, connections: mine }) => this.runOrder(order, mine, claimToken, deadline)));
      const failed = ran.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const counts = ran.map((r) => (r as PromiseFulfilledResult<number>).value);
      return { ran: counts.reduce((a, n) => a + n, 0), fromLook: counts.reduce((a, n, i) => a + ('fromLook' in work[i].order ? n : 0), 0) };
    } finally {
      for (const connection of connections) connection.release();
    }
  }

  /**
   * One order of a round, on the connections it was given (at least one): its transaction, then
   * the calls of the tasks of other provisioners it claimed, one per connection, at once.
   * When the transaction fails for another reason than the database being unavailable (a bug,
   * the installed base refusing a change), nothing of it stays, and the order's ready tasks
   * are claimed again as if no provisioner were instant: one per connection, each with its own
   * start and outcome transactions, which record a start or completion failure on the task.
   */
  private async runOrder(order: ReadyOrder, connections: HeldConnection[], claimToken: string, deadline: number): Promise<number> {
    const run = (instantCodes: readonly string[]) =>
      inTenantTransaction(connections[0], order.tenantId, (tx) => this.runOrderInTx(tx, order, claimToken, connections.length, instantCodes));
    let ran: { inline: number; claimed: TaskRow[] };
    try {
      try {
        ran = await run(this.instantCodes);
      } catch (error) {
        if (unavailableReason(error) !== null || this.instantCodes.length === 0) throw error;
        this.deps.logger?.warn({ err: error, orderId: order.orderId }, 'fulfillment: running the order\'s tasks in one transaction failed; running them one by one');
        ran = await run([]);
      }
    } catch (error) {
      // Nothing of it committed, or all of it: tasks claimed for a call come back after their lease.
      if (unavailableReason(error) !== null) throw asDatabaseError(error, connections[0].lost);
      this.deps.logger?.error({ err: error, orderId: order.orderId }, 'fulfillment: claiming the order\'s tasks failed');
      return 0;
    }
    await Promise.all(ran.claimed.map((task, i) => this.runFlight(task, claimToken, connections[i], deadline)));
    return ran.inline + ran.claimed.length;
  }

  /**
   * The order's transaction: lock the order (or pass it), claim its ready tasks, run the
   * instant ones in place, again for the tasks they made ready; returns how many ran here and
   * the tasks claimed for a call outside (at most `otherSlots`).
   *
   * After the first claim, the tasks that the instant ones made ready are found in what the
   * transaction knows of the order's tasks, not claimed again: under the order's lock no other
   * transaction changes them (decision 0015: every change to an order's tasks holds it), and the
   * first claim returning a task means the order is not held. Their outcomes, when done, are
   * written at the end in one statement (recordTasksDone) that refuses any row not as this
   * transaction saw it. The database is asked again (claimOrderTasks) only when a task that is
   * ready is not instant, or nothing known is ready while some task is still open.
   */
  private async runOrderInTx(tx: Tx, ref: ReadyOrder, claimToken: string, otherSlots: number, instantCodes: readonly string[]): Promise<{ inline: number; claimed: TaskRow[] }> {
    const now = this.now();
    const ctx: CommandContext = { tenantId: ref.tenantId, actor: null, correlationId: ref.correlationId };
    const order = await this.deps.outcomes.lockOrderIfFree(tx, ctx, now, ref);
    if (!order) {
      this.passed.set(ref.orderId, performance.now() + PASS_MS);
      return { inline: 0, claimed: [] };
    }
    // Under the order's lock no task of it ends but by this transaction: what it reads now stays
    // true, with what it changes itself. It saves reading an item's tasks at every outcome.
    const known = new Map((await queue.listOrderTasks(tx, ref.accountId, ref.orderId)).map((t) => [t.taskId, t]));
    const locked: LockedRun = { order, known, done: [], seenAs: new Map() };
    const claimed: TaskRow[] = [];
    let inline = 0;
    // Run here: as this transaction will record it, running this attempt under its claim.
    const runHere = (row: TaskRow): TaskRow => {
      locked.seenAs.set(row.taskId, { status: row.status, lockedBy: row.lockedBy });
      const task: TaskRow = { ...row, status: 'running', attempts: row.attempts + 1, lockedBy: claimToken, startedAt: row.startedAt ?? now };
      known.set(task.taskId, task);
      return task;
    };
    let instant: TaskRow[] = [];
    for (;;) {
      if (instant.length === 0) {
        if (![...known.values()].some((t) => t.status === 'pending' || (t.status === 'running' && t.lockedBy !== claimToken))) break;
        await this.recordDone(tx, locked, now);
        const tasks = await queue.claimOrderTasks(tx, ref, { claimToken, now, leaseMs: this.leaseMs, instantCodes, otherLimit: otherSlots - claimed.length });
        for (const { instant: here, ...row } of tasks) {
          if (here) instant.push(runHere(row));
          else {
            known.set(row.taskId, row);
            claimed.push(row);
          }
        }
        if (instant.length === 0) break;
      }
      for (const task of instant) await this.runInstantTask(tx, locked, task);
      inline += instant.length;
      instant = readyInstantTasks(known, instantCodes, now).map(runHere);
    }
    await this.recordDone(tx, locked, now);
    // What it could not take (no connection left for it) is for the next round, or another worker.
    if (claimed.length > 0 && claimed.length === otherSlots) await queue.notifyIfOrderReady(tx, ref, now);
    return { inline, claimed };
  }

  /** Writes the outcomes of the tasks done in this order's transaction that are not written yet, in one statement. */
  private async recordDone(tx: Tx, locked: LockedRun, now: string): Promise<void> {
    if (locked.done.length === 0) return;
    const done = locked.done.map((d) => ({ taskId: d.taskId, externalId: d.externalId, result: d.result, ...locked.seenAs.get(d.taskId)! }));
    const accountId = locked.done[0].accountId;
    locked.done = [];
    await queue.recordTasksDone(tx, accountId, done, now);
  }

  /** A task of an instant provisioner, in its order's transaction: start, call, outcome. */
  private async runInstantTask(tx: Tx, locked: LockedRun, task: TaskRow): Promise<void> {
    const ctx = systemContext(task);
    let result: ProvisioningResult;
    if (task.attempts > task.maxAttempts) {
      result = { outcome: 'failed', code: 'attempts-exhausted', message: `the worker running attempt ${task.maxAttempts} was lost; no attempts left`, retryable: false };
    } else {
      const item = await locked.order.taskStarting(task.itemId, task.kind);
      const original = task.compensatesTaskId ? locked.known.get(task.compensatesTaskId) ?? await queue.findTask(tx, task.compensatesTaskId) : undefined;
      result = await this.call(task, provisioningTaskOf(original ?? task, item, task.attempts));
    }
    await this.applyOutcomeInTx(tx, ctx, task, result, { runHere: true }, locked);
  }

  /** Calls the task's provisioner (or its compensation); a throw is a retryable failure. */
  private async call(task: TaskRow, request: ProvisioningTask): Promise<ProvisioningResult> {
    try {
      const provisioner = this.deps.registry.get(task.provisionerCode);
      if (task.kind === 'compensation') {
        return provisioner.compensate
          ? await provisioner.compensate(request)
          : { outcome: 'failed', code: 'not-compensable', message: `provisioner ${task.provisionerCode} cannot undo ${task.step}`, retryable: false };
      }
      return await provisioner.provision(request);
    } catch (error) {
      // A provisioner must return failures, not throw them; a throw is treated as a retryable failure.
      return { outcome: 'failed', code: 'provisioner-error', message: messageOf(error), retryable: true };
    }
  }

  /** A claimed task whose call is out of any transaction, on the connection it holds until its outcome is recorded. */
  private async runFlight(task: TaskRow, claimToken: string, connection: HeldConnection, deadline: number): Promise<void> {
    const flight: InFlight = { task, claimToken, connection, givenBack: false, busy: false };
    this.inFlight.set(task.taskId, flight);
    try {
      await this.runTask(flight, deadline);
    } catch (error) {
      // The outcome could not be recorded: the lease runs out and another worker takes the task.
      this.deps.logger?.error({ err: error, taskId: task.taskId }, 'fulfillment: recording the outcome failed');
    } finally {
      this.inFlight.delete(task.taskId);
    }
  }

  /**
   * Gives back the tasks a worker still has out (its calls have not answered): for a graceful
   * shutdown, so that other workers take them at once instead of after the lease. Returns how
   * many were given back; a task whose lease this worker no longer holds is not touched.
   */
  async giveBackInFlight(workerId: string): Promise<number> {
    let given = 0;
    for (const flight of this.inFlight.values()) {
      if (!flight.claimToken.startsWith(`${workerId}:`) || flight.givenBack || flight.busy) continue;
      flight.givenBack = true;
      // On the task's own connection, idle while its call is out: a full pool cannot stop it.
      if (await this.giveBack(flight, true, performance.now() + GIVE_BACK_PATIENCE_MS)) given++;
      // Its connection is closed, not kept for an answer that will not be recorded: the pool can end now.
      flight.connection.lost ??= new Error('given back at shutdown');
      flight.connection.release();
    }
    return given;
  }

  /**
   * Gives one claim back (queue.releaseClaim) on the task's connection, or a fresh one when that
   * was lost, trying again until `deadline`; false when it could not (the lease then takes over).
   */
  private async giveBack(flight: InFlight, attemptMade: boolean, deadline: number): Promise<boolean> {
    const { task, claimToken } = flight;
    try {
      return await this.whileUnavailable(deadline, () => (flight.connection.lost ? this.deps.pool : flight.connection), (on) =>
        inTenantTransaction(on, task.tenantId, (tx) => queue.releaseClaim(tx, task, claimToken, this.now(), attemptMade)));
    } catch (error) {
      this.deps.logger?.warn({ err: error, taskId: task.taskId }, 'fulfillment: could not give the task back; its lease will run out');
      return false;
    }
  }

  /**
   * Runs `work` on `connection()`, and again while the database is unavailable (a connection
   * that died, a server restarting) until `deadline`, on the process's monotonic clock: a
   * worker's patience, not business time. Other errors are thrown at once.
   */
  private async whileUnavailable<T>(deadline: number, connection: () => Connection, work: (connection: Connection) => Promise<T>): Promise<T> {
    let waitMs = 100;
    for (;;) {
      try {
        return await work(connection());
      } catch (error) {
        if (unavailableReason(error) === null || performance.now() + waitMs >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        waitMs = Math.min(waitMs * 2, 2_000);
      }
    }
  }

  private async runTask(flight: InFlight, deadline: number): Promise<void> {
    const { task, connection } = flight;
    const ctx = systemContext(task);
    if (task.attempts > task.maxAttempts) {
      // Taken over after its worker was lost on the last attempt: do not call out again.
      await this.record(flight, { outcome: 'failed', code: 'attempts-exhausted', message: `the worker running attempt ${task.maxAttempts} was lost; no attempts left`, retryable: false }, deadline);
      return;
    }
    let item: ItemToProvision;
    let original: TaskRow | undefined;
    flight.busy = true;
    try {
      ({ item, original } = await inTenantTransaction(connection, task.tenantId, async (tx) => ({
        item: await this.deps.outcomes.taskStarting(tx, ctx, this.now(), task, task.kind),
        original: task.compensatesTaskId ? await queue.findTask(tx, task.compensatesTaskId) : undefined,
      })));
    } catch (error) {
      if (unavailableReason(error) !== null) {
        // Nothing was called: the attempt does not count, and the task is due again at once.
        await this.giveBack(flight, false, deadline);
        return;
      }
      flight.busy = false;
      this.deps.logger?.error({ err: error, taskId: task.taskId }, 'fulfillment: could not start the task; it will be retried');
      await this.record(flight, { outcome: 'failed', code: 'start-failed', message: messageOf(error), retryable: true }, deadline);
      return;
    }
    flight.busy = false;
    if (flight.givenBack) return;
    const result = await this.call(task, provisioningTaskOf(original ?? task, item, task.attempts));
    await this.record(flight, result, deadline);
  }

  /**
   * Records a worker's outcome, if its lease still holds the task: on the task's own
   * connection, or, when that one was lost, on a fresh one, trying again while the lease
   * lasts (the outcome is known, so recording it beats calling the provisioner again).
   */
  private async record(flight: InFlight, result: ProvisioningResult, deadline: number): Promise<void> {
    const { task, claimToken } = flight;
    const ctx = systemContext(task);
    const connection = () => (flight.connection.lost ? this.deps.pool : flight.connection);
    try {
      if (flight.givenBack) return;
      flight.busy = true;
      await this.whileUnavailable(deadline, connection, async (on) => {
        await inTenantTransaction(on, task.tenantId, (tx) => this.applyOutcomeInTx(tx, ctx, task, result, { claimToken }));
      });
    } catch (error) {
      if (result.outcome !== 'done' || unavailableReason(error) !== null) throw error;
      // The work is done outside, but the installed base refused the change: the task is
      // done and the item fails with the reason, for an operator to look at and re-run.
      this.deps.logger?.warn({ err: error, taskId: task.taskId }, 'fulfillment: completing the item failed');
      await this.whileUnavailable(deadline, connection, (on) => inTenantTransaction(on, task.tenantId, async (tx) => {
        const now = this.now();
        const order = await this.deps.outcomes.lockOrder(tx, ctx, now, task);
        const updated = await queue.updateTask(tx, task, { status: 'done', externalId: result.externalId ?? null, result: result.data ?? null }, now, { claimToken });
        if (updated) await this.failItem(tx, now, order, updated, { code: 'completion-failed', message: messageOf(error) });
      }));
    }
  }

  /**
   * Applies one outcome inside the caller's transaction: the task's new state, and what it
   * means for its item and order. Returns the updated task, or undefined when the task was
   * no longer in a state to take the outcome (lease lost, cancelled by an amendment, already
   * answered).
   */
  private async applyOutcomeInTx(
    tx: Tx,
    ctx: CommandContext,
    task: TaskRow,
    result: ProvisioningResult,
    guard: queue.TaskGuard,
    /** In the transaction that runs the order's tasks (runOrderInTx): the order is locked already, its tasks known. */
    locked?: LockedRun,
  ): Promise<TaskRow | undefined> {
    const now = this.now();
    // The order lock first, always: outcomes of one order are applied one at a time.
    const order = locked?.order ?? await this.deps.outcomes.lockOrder(tx, ctx, now, task);
    const update = async (change: queue.TaskUpdate) => {
      // The outcomes held back for one statement are written first: what follows may read them.
      if (locked) await this.recordDone(tx, locked, now);
      const updated = await queue.updateTask(tx, task, change, now, guard);
      if (updated) locked?.known.set(updated.taskId, updated);
      return updated;
    };
    switch (result.outcome) {
      case 'waiting':
        return update({ status: 'waiting', externalId: result.externalId ?? null });
      case 'done': {
        const done = locked && 'runHere' in guard && task.kind === 'provision'
          ? doneHere(locked, task, result, now)
          : await update({ status: 'done', externalId: result.externalId ?? null, result: result.data ?? null });
        if (done) {
          await this.afterDone(tx, now, order, done, locked?.known);
          // The tasks that waited for it may be ready now (in the order's own run, it claims them itself).
          if (!locked) await queue.notifyDependentsReady(tx, done);
        }
        return done;
      }
      case 'failed': {
        const lastError = { code: result.code, message: result.message, retryable: result.retryable, at: now };
        if (result.retryable && task.attempts < task.maxAttempts) {
          const nextRunAt = new Date(Date.parse(now) + retryDelayMs(this.deps.settings.retry, task.attempts)).toISOString();
          return update({ status: 'pending', nextRunAt, lastError });
        }
        const failed = await update({ status: 'failed', lastError });
        if (failed) {
          const exhausted = result.retryable ? ` (after ${task.attempts} attempts)` : '';
          await this.failItem(tx, now, order, failed, { code: result.code, message: `${task.step} failed: ${result.message}${exhausted}` }, locked?.known);
        }
        return failed;
      }
    }
  }

  private async afterDone(tx: Tx, now: string, order: OrderOutcomes, task: TaskRow, known?: Map<string, TaskRow>): Promise<void> {
    const tasks = known
      ? [...known.values()].filter((t) => t.itemId === task.itemId && t.kind === task.kind).sort((a, b) => a.taskNumber - b.taskNumber)
      : await queue.listItemTasks(tx, task.accountId, task.itemId, task.kind);
    if (task.kind === 'compensation') {
      await queue.markCompensated(tx, task.accountId, task.compensatesTaskId!, now);
      const original = known?.get(task.compensatesTaskId!);
      if (original) known!.set(original.taskId, { ...original, status: 'compensated' });
      if (tasks.every((t) => t.status === 'done')) await order.itemWithdrawn(task.itemId);
      return;
    }
    if (tasks.every((t) => t.status === 'done')) await order.itemProvisioned(task.itemId, tasks.map(queue.outcomeOf));
  }

  /** The task's item fails, and the items that wait for it: their tasks not yet run are cancelled. */
  private async failItem(tx: Tx, now: string, order: OrderOutcomes, task: TaskRow, failure: ItemFailure, known?: Map<string, TaskRow>): Promise<void> {
    const failed = await order.itemFailed(task.itemId, { ...failure, taskId: task.taskId });
    for (const cancelled of await queue.cancelTasks(tx, task.accountId, failed, ['pending'], now)) known?.set(cancelled.taskId, cancelled);
  }

  /**
   * A result posted for a task that waits for it (the manual provisioner's operator, or an
   * external system's callback). Posting the same result again is a no-op; a different one
   * for a task that has ended is refused.
   */
  async postResult(ctx: CommandContext, taskId: string, posted: PostedResult): Promise<TaskRow> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const task = await queue.findTask(tx, taskId);
      if (!task) throw NotFoundError.of('fulfillment task', taskId);
      const result: ProvisioningResult = posted.outcome === 'done'
        ? { outcome: 'done', externalId: posted.externalId ?? null, data: posted.data ?? undefined }
        : { outcome: 'failed', code: posted.code, message: posted.message, retryable: false };
      const applied = await this.applyOutcomeInTx(tx, ctx, task, result, { fromStatuses: ['waiting', 'running'] });
      if (applied) {
        await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, this.now(), { action: 'fulfillment.task.result', targetType: 'fulfillment_task', targetId: taskId, subjectAccountId: task.accountId, details: { outcome: posted.outcome } });
        return applied;
      }
      const current = (await queue.findTask(tx, taskId))!;
      const same = (posted.outcome === 'done' && (current.status === 'done' || current.status === 'compensated')) || (posted.outcome === 'failed' && current.status === 'failed');
      if (same) return current;
      throw new IllegalTransitionError('fulfillment task', taskId, current.status, `result:${posted.outcome}`, current.status === 'waiting' || current.status === 'running' ? ['result:done', 'result:failed'] : []);
    });
  }

  /** Looks a task up across tenants by id, for a callback that names only the task. */
  async tenantOfTask(taskId: string): Promise<string | undefined> {
    const result = await this.deps.pool.query('select tenant_id from fulfillment_task where task_id = $1', [taskId]);
    return result.rows[0]?.tenant_id;
  }
}

/** The provisioner's request: the task, for its item, at this attempt. */
function provisioningTaskOf(task: TaskRow, item: ItemToProvision, attempt: number): ProvisioningTask {
  const { taskId, idempotencyKey, correlationId, tenantId, accountId, orderId, itemId, step, specification } = task;
  return { taskId, idempotencyKey, correlationId, tenantId, accountId, orderId, orderItemId: itemId, action: item.action, step, specification, productInstanceId: item.productInstanceId, parameters: item.parameters, attempt };
}

function messageOf(error: unknown): string {
  if (error instanceof ProblemError) return `${error.type}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** Ready tasks looked at per connection of a round: enough to find work past an order another worker has. */
const CANDIDATES_PER_CONNECTION = 2;

/**
 * How long a worker passes an order it found locked: about the time a transaction that runs
 * an order's instant tasks takes on a loaded machine; a lock held longer (an amendment, a
 * slow outcome) only delays the order's next tasks by this much at most, or until it notifies.
 */
const PASS_MS = 200;

/** An order with ready tasks, as a round found it, and how many connections it gets. */
interface ReadyOrder {
  tenantId: string;
  accountId: string;
  orderId: string;
  correlationId: string;
  /** One connection per ready task of a provisioner that is not instant (each holds one while its call is out), at least one. */
  slots: number;
  /** Every ready task found of it is of an instant provisioner. */
  instantOnly: boolean;
}

/** The order's lock and its tasks, in the transaction that runs them (runOrderInTx). */
interface LockedRun {
  order: OrderOutcomes;
  known: Map<string, TaskRow>;
  /** Provisioning tasks done here whose outcome is not written yet (recordDone writes them in one statement). */
  done: { accountId: string; taskId: string; externalId: string | null; result: Record<string, unknown> | null }[];
  /** Each task run here as the transaction found it: its outcome is written only while the row is still so. */
  seenAs: Map<string, { status: queue.TaskStatus; lockedBy: string | null }>;
}

/**
 * A provisioning task run here is done: the row updateTask would return (status, external id
 * and result as its coalesces make them, finished now, the lease cleared; the attempt and the
 * start were counted when it was taken), known at once, written by recordDone later.
 */
function doneHere(locked: LockedRun, task: TaskRow, result: ProvisioningResult & { outcome: 'done' }, now: string): TaskRow {
  const externalId = result.externalId ?? null;
  const data = result.data ?? null;
  const done: TaskRow = { ...task, status: 'done', externalId: externalId ?? task.externalId, result: data ?? task.result, finishedAt: now, lockedBy: null, lockedUntil: null };
  locked.known.set(done.taskId, done);
  locked.done.push({ accountId: task.accountId, taskId: task.taskId, externalId, result: data });
  return done;
}

/**
 * The order's tasks that are ready now by what its transaction knows (claimOrderTasks' rule:
 * pending, due, every dependency done), in task order, when all of them are of instant
 * provisioners; none otherwise, so that the database claims the others (with their lease).
 */
function readyInstantTasks(known: Map<string, TaskRow>, instantCodes: readonly string[], now: string): TaskRow[] {
  const ready = [...known.values()].filter((t) => t.status === 'pending' && Date.parse(t.nextRunAt) <= Date.parse(now) && t.dependsOn.every((d) => known.get(d)?.status === 'done'));
  if (ready.some((t) => !instantCodes.includes(t.provisionerCode))) return [];
  return ready.sort((a, b) => a.taskNumber - b.taskNumber);
}

/**
 * The orders of the ready tasks, each with its connections, as many as `connections` allow and
 * at most `instantOrders` of only instant tasks, starting at a random one: workers that found
 * the same ready tasks mostly take different orders.
 */
function ordersOf(ready: readonly queue.ReadyTask[], instantCodes: readonly string[], connections: number, instantOrders: number): ReadyOrder[] {
  const byOrder = new Map<string, ReadyOrder>();
  for (const t of ready) {
    const order = byOrder.get(t.orderId) ?? { tenantId: t.tenantId, accountId: t.accountId, orderId: t.orderId, correlationId: t.correlationId, slots: 0, instantOnly: true };
    if (!instantCodes.includes(t.provisionerCode)) {
      order.slots++;
      order.instantOnly = false;
    }
    byOrder.set(t.orderId, order);
  }
  const all = [...byOrder.values()];
  const start = Math.floor(Math.random() * all.length);
  const chosen: ReadyOrder[] = [];
  let left = connections;
  let instantLeft = instantOrders;
  for (let i = 0; i < all.length && left > 0; i++) {
    const order = all[(start + i) % all.length];
    if (order.instantOnly) {
      if (instantLeft === 0) continue;
      instantLeft--;
    }
    const slots = Math.min(Math.max(1, order.slots), left);
    chosen.push({ ...order, slots });
    left -= slots;
  }
  return chosen;
}
