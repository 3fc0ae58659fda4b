/**
 * `npm run bench:orders`: orders per second from submission to completion (see bench/README.md).
 *
 * One order is a 3-item ADD on the demo catalog (Business Fiber 1 Gbps with Static IP /29 and
 * SLA Gold as its add-ons), routed to the built-in `internal` provisioner, which succeeds at
 * once. Its fulfillment tasks are run by W separate `tenure worker` processes (W = 1 and 4),
 * started for the phase and stopped (SIGTERM) after it. The bench process submits the orders
 * through OrderService.submitOrder with several concurrent submitters, while the workers run.
 *
 *   orders/s = orders / (last order's completed_at − start of the first submission)
 *
 * In the same run, on the same database, the raw-SQL floor of the modification benchmark
 * (bench/raw-sql.ts) is measured: the ratio orders/s ÷ floor commands/s is the result, since
 * absolute rates on a shared machine are noise.
 *
 * The run stops with an error when an order does not complete, a task needed a retry or
 * recorded an error, or a worker process logs a warning or an error, writes to stderr, or
 * exits on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServices, type Services } from '../src/app.ts';
import { loadDemoCatalog } from '../src/demo/catalog.ts';
import { demoId } from '../src/demo/seed.ts';
import { fulfillmentSettingsOf } from '../src/fulfillment/worker.ts';
import { readConfig } from '../src/platform/config.ts';
import type { CommandContext } from '../src/platform/context.ts';
import type { OrderItemInput } from '../src/orders/service.ts';
import { systemClock } from '../src/platform/clock.ts';
import type { Pool } from '../src/platform/db.ts';
import { checkAllTenants } from '../src/inventory/check.ts';
import { createActiveProducts, rawStep } from './raw-sql.ts';
import { addPhase, countRoundTrips, emptyTotal, envNumber, fmt, backendsCpuDelta, machineCpuSeconds, median, postgresBackendsCpu, processCpuSeconds, openBenchDatabase, round1, round3, roundTripCount, runPhase, type PhaseResult, type Step, runBench, writeResults } from './support.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'bench', 'results', 'orders-latest.json');

/** Orders per measured phase (one phase = one worker count in one round). */
const ORDERS = Math.round(envNumber('BENCH_ORDERS', 100)!);
/**
 * Unmeasured orders per worker process, run through each phase's fresh workers first (JIT,
 * connections, plans): 10 orders are about 100 tasks for each process.
 */
const WARMUP_ORDERS = Math.round(envNumber('BENCH_WARMUP_ORDERS', 10)!);
const SUBMITTERS = Math.round(envNumber('BENCH_SUBMITTERS', 4)!);
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 2)!);
const WORKER_COUNTS = (process.env.BENCH_WORKERS?.trim() || '1,4').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new Error(`BENCH_WORKERS must be a comma-separated list of worker process counts (1-32), got "${process.env.BENCH_WORKERS}"`);
  return n;
});
const POLL_MS = Math.round(envNumber('BENCH_WORKER_POLL_MS', 20)!);
/**
 * Orders submitted one at a time to one idle worker process at the product's own poll interval
 * (TENURE_FULFILLMENT_POLL_MS unset: 500 ms), after the rounds: the latency an operator sees.
 */
const SINGLE_ORDERS = envCount('BENCH_SINGLE_ORDERS', 20);
const BATCH = Math.round(envNumber('BENCH_WORKER_BATCH', 10)!);
/** The floor: measured seconds, summed over the rounds, and its concurrency (as the modification benchmark). */
const FLOOR_SECONDS = envNumber('BENCH_FLOOR_SECONDS', 8)!;
const FLOOR_CONCURRENCY = Math.round(envNumber('BENCH_CONCURRENCY', 8)!);
const FLOOR_WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2)!;
/** An order phase that has not finished after this long fails the run. */
const PHASE_TIMEOUT_MS = 120_000;

/** The worker processes' routing: every step to the `internal` provisioner (always done at once). */
const ROUTING = JSON.stringify({ defaultProvisioner: 'internal', maxAttempts: 5 });
const TERMINAL = ['completed', 'failed', 'partial', 'cancelled'];

// ------------------------------------------------------------------------- worker processes

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Log lines at warn or above, stderr text, unparseable stdout, an unexpected exit. */
  problems: string[];
  /** From its `fulfillment workers stopped` line: the rounds its worker ran, those that ran no task, and those that looked at the queue (null: not logged). */
  rounds: { total: number; empty: number; looks: number | null } | null;
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** Starts `tenure worker --concurrency 1` as its own OS process (node with tsx, as `npm run tenure` does). */
function startWorkerProcess(databaseUrl: string, index: number, pollMs: number | null = POLL_MS): WorkerProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'info',
    TENURE_FULFILLMENT_ROUTING: ROUTING,
    TENURE_FULFILLMENT_POLL_MS: String(pollMs),
    TENURE_FULFILLMENT_BATCH: String(BATCH),
  };
  if (pollMs === null) delete env.TENURE_FULFILLMENT_POLL_MS;
  delete env.TENURE_PROVISIONERS;
  delete env.REDIS_URL;
  // BENCH_WORKER_NODE_ARGS: extra node flags for the worker processes, e.g. to profile them (--cpu-prof --cpu-prof-dir=DIR).
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/cli/index.ts', 'worker', '--concurrency', '1'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const problems: string[] = [];
  let stopping = false;
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => {
    exited = true;
    if (!stopping) problems.push(`worker ${index} exited on its own (code ${code}, signal ${signal})`);
    resolve(code);
  }));
  let markReady: () => void = () => {};
  let failReady: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  const timer = setTimeout(() => failReady(new Error(`worker ${index} did not start within 60 s: ${problems.join('\n')}`)), 60_000);
  void exit.then(() => failReady(new Error(`worker ${index} exited before it was ready:\n${problems.join('\n')}`)));

  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (!line) continue;
      let entry: { level?: number; msg?: string; rounds?: number; emptyRounds?: number; looks?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        problems.push(`worker ${index} stdout: ${line}`);
        continue;
      }
      // pino: 40 warn, 50 error, 60 fatal.
      if ((entry.level ?? 0) >= 40) problems.push(`worker ${index} logged: ${line}`);
      if (entry.msg === 'fulfillment workers stopped' && typeof entry.rounds === 'number') worker.rounds = { total: entry.rounds, empty: entry.emptyRounds ?? 0, looks: entry.looks ?? null };
      if (entry.msg === 'fulfillment workers started') {
        clearTimeout(timer);
        markReady();
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString().trim();
    if (text) problems.push(`worker ${index} stderr: ${text}`);
  });
  const worker: WorkerProcess = {
    child,
    pid: child.pid!,
    problems,
    rounds: null,
    ready,
    async stop() {
      clearTimeout(timer);
      if (exited) return;
      stopping = true;
      child.kill('SIGTERM');
      const killer = setTimeout(() => {
        problems.push(`worker ${index} did not stop within 15 s of SIGTERM; killed`);
        child.kill('SIGKILL');
      }, 15_000);
      const code = await exit;
      clearTimeout(killer);
      if (code !== 0 && code !== null) problems.push(`worker ${index} exited with code ${code} after SIGTERM`);
    },
  };
  return worker;
}

/** A count from the environment: a non-negative integer (0 allowed: "skip"), or the fallback when unset. */
function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, 0 or more, got "${raw}"`);
  return value;
}

/**
 * Makes pg_stat_statements countable in the bench database, when the server has it loaded
 * (shared_preload_libraries, as the machine's PostgreSQL does; the embedded one does not):
 * true when it answers.
 */
async function enableStatementCounts(pool: Pool): Promise<boolean> {
  try {
    await pool.query('create extension if not exists pg_stat_statements');
    await pool.query('select 1 from pg_stat_statements limit 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Statements executed so far in this database, from pg_stat_statements (every process: the
 * bench's submitters and the workers; begin, commit and set included), leaving out the
 * bench's own watching: its completion polls and these CPU and statement samples. Not reset
 * (other sessions' runs on the same server stay out by dbid); `epoch` changes when someone
 * resets the counts or the server evicts entries, which makes a difference meaningless.
 */
async function statementsSoFar(pool: Pool, enabled: boolean): Promise<{ count: number; epoch: string } | null> {
  if (!enabled) return null;
  const { rows } = await pool.query<{ n: string; epoch: string }>(
    `select coalesce(sum(calls), 0)::bigint as n,
            (select stats_reset::text || ' ' || dealloc::text from pg_stat_statements_info) as epoch
       from pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database())
        and query not like '%as open from product_order%' and query not like '%pg_stat_%'`,
  );
  return { count: Number(rows[0].n), epoch: rows[0].epoch };
}

/** Statements per order between two samples; null when either is missing or the counts were reset or evicted in between. */
function statementsPerOrder(before: { count: number; epoch: string } | null, after: { count: number; epoch: string } | null, orders: number): number | null {
  if (!before || !after || before.epoch !== after.epoch) return null;
  return round1((after.count - before.count) / orders);
}

// ------------------------------------------------------------------------- orders

interface BenchCatalog {
  fiber: string;
  staticIp: string;
  slaGold: string;
}

/** The 3-item ADD order of test/fulfillment/orders-e2e.test.ts. */
function orderItems(c: BenchCatalog): OrderItemInput[] {
  return [
    { action: 'ADD', offeringId: c.fiber, configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
    { action: 'ADD', offeringId: c.staticIp, parentItemNumber: 1 },
    { action: 'ADD', offeringId: c.slaGold, parentItemNumber: 1 },
  ];
}

/** Runs `work` over `count` indexes with `concurrency` loops. */
async function parallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await work(next++);
  }));
}

/** One fresh account per order: orders of different customers, as a real day's orders are. */
async function createAccounts(services: Services, ctx: CommandContext, count: number): Promise<string[]> {
  const customer = await services.customers.createCustomer(ctx, { name: 'Bench customer' });
  const accounts: string[] = new Array(count);
  await parallel(count, 8, async (i) => {
    const account = await services.customers.createAccount(ctx, { customerId: customer.customerId, name: `Bench account ${i + 1}`, currency: 'IDR', timeZone: 'Asia/Jakarta' });
    accounts[i] = account.accountId;
  });
  return accounts;
}

interface OrderPhase {
  workers: number;
  round: number;
  orders: number;
  tasks: number;
  /** From the start of the first submission to the last order's completed_at. */
  seconds: number;
  /** From the start of the first submission to the return of the last one. */
  submitSeconds: number;
  ordersPerSecond: number;
  tasksPerSecond: number;
  /** Per order, completed_at − created_at (created in the submitting transaction), ms. */
  latencyMs: { p50: number; p95: number; max: number };
  /** Starting the worker processes and running the warm-up orders, before the measurement. */
  prepareSeconds: number;
  /**
   * CPU milliseconds per order: the bench process (submitters, polling), the worker processes,
   * this database's PostgreSQL backends, and the rest of the machine (other load).
   */
  cpuMsPerOrder: { submitter: number; workers: number | null; postgres: number | null; rest: number | null };
  /** SQL statements per order, every process, from pg_stat_statements (null: not loaded); the submitting process's round trips per order. */
  statementsPerOrder: number | null;
  submissionRoundTripsPerOrder: number;
  /** The worker processes' rounds per order, warm-up included (null: a process did not log them), and those that ran no task. */
  roundsPerOrder: { total: number; empty: number; looks: number | null } | null;
}

/** pg_stat_statements answers in the bench database (set in main). */
let statementsCounted = false;

/** Statements per order over the phases that could count them (another session may reset the counts during one). */
function statementsOver(phases: readonly OrderPhase[]): number | null {
  const counted = phases.filter((p) => p.statementsPerOrder !== null);
  if (counted.length === 0) return null;
  return round1(counted.reduce((a, p) => a + p.statementsPerOrder! * p.orders, 0) / counted.reduce((a, p) => a + p.orders, 0));
}

/**
 * Submits `accounts.length` orders (one per account) with SUBMITTERS concurrent submitters and
 * waits until every one has ended. Returns the order ids and the submission's start and end.
 */
async function submitAndWait(services: Services, ctx: CommandContext, catalog: BenchCatalog, accounts: string[], label: string) {
  const orderIds: string[] = new Array(accounts.length);
  const started = Date.now();
  let polls = 0;
  await parallel(accounts.length, SUBMITTERS, async (i) => {
    const order = await services.orders.submitOrder(ctx, { accountId: accounts[i], items: orderItems(catalog), externalReference: `${label}-${i + 1}` });
    orderIds[i] = order.orderId;
  });
  const submitted = Date.now();
  const deadline = started + PHASE_TIMEOUT_MS;
  for (;;) {
    polls++;
    const { rows } = await services.pool.query<{ open: number }>(
      'select count(*)::int as open from product_order where order_id = any ($1::uuid[]) and not (status = any ($2::text[]))',
      [orderIds, TERMINAL],
    );
    if (rows[0].open === 0) break;
    if (Date.now() > deadline) throw new Error(`${label}: ${rows[0].open} of ${orderIds.length} orders not ended after ${PHASE_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { orderIds, started, submitted, polls };
}

/** Every order completed, every task done on its first attempt with no error recorded; else throws with the details. */
async function checkOutcome(pool: Pool, orderIds: string[], label: string): Promise<{ tasks: number; lastCompleted: number; latencies: number[] }> {
  const orders = (await pool.query(
    `select order_id, status, extract(epoch from created_at) * 1000 as created_ms, extract(epoch from completed_at) * 1000 as completed_ms
       from product_order where order_id = any ($1::uuid[])`,
    [orderIds],
  )).rows;
  const notCompleted = orders.filter((o) => o.status !== 'completed');
  const problems: string[] = [];
  if (orders.length !== orderIds.length) problems.push(`${orderIds.length - orders.length} orders are missing`);
  if (notCompleted.length) problems.push(`${notCompleted.length} orders did not complete: ${JSON.stringify(countBy(notCompleted.map((o) => o.status)))}`);
  const tasks = (await pool.query(
    `select status, attempts, last_error from fulfillment_task where order_id = any ($1::uuid[])`,
    [orderIds],
  )).rows;
  const notDone = tasks.filter((t) => t.status !== 'done');
  if (notDone.length) problems.push(`${notDone.length} tasks not done: ${JSON.stringify(countBy(notDone.map((t) => t.status)))}`);
  const retried = tasks.filter((t) => t.attempts !== 1 || t.last_error);
  if (retried.length) {
    const errors = countBy(retried.map((t) => (t.last_error ? `${t.last_error.code}: ${t.last_error.message}` : `attempts ${t.attempts}`)));
    problems.push(`${retried.length} tasks needed more than one attempt or recorded an error: ${JSON.stringify(errors, null, 1)}`);
  }
  if (problems.length) throw new Error(`${label}: ${problems.join('\n')}`);
  const completed = orders.map((o) => Number(o.completed_ms));
  return {
    tasks: tasks.length,
    lastCompleted: Math.max(...completed),
    latencies: orders.map((o) => Number(o.completed_ms) - Number(o.created_ms)),
  };
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** One phase: start W worker processes, warm them up, then measure ORDERS orders from first submission to last completion. */
async function runOrderPhase(services: Services, ctx: CommandContext, databaseUrl: string, catalog: BenchCatalog,
  workerCount: number, round: number, accounts: { warmup: string[]; measured: string[] }): Promise<OrderPhase> {
  const label = `round ${round + 1}, ${workerCount} worker${workerCount > 1 ? 's' : ''}`;
  const prepareStarted = Date.now();
  const workers = Array.from({ length: workerCount }, (_, i) => startWorkerProcess(databaseUrl, i + 1));
  const failIfProblems = () => {
    const problems = workers.flatMap((w) => w.problems);
    if (problems.length) throw new Error(`${label}: the worker processes reported problems:\n${problems.join('\n')}`);
  };
  try {
    await Promise.all(workers.map((w) => w.ready));
    // Warm-up: the fresh processes run a few orders first (JIT, pools, plans), unmeasured.
    if (accounts.warmup.length) {
      const warm = await submitAndWait(services, ctx, catalog, accounts.warmup, `${label} warm-up`);
      await checkOutcome(services.pool, warm.orderIds, `${label} warm-up`);
    }
    failIfProblems();
    // Every phase starts from a vacuumed database (the dead row versions of the previous one would slow it).
    await services.pool.query('vacuum');

    const prepareSeconds = (Date.now() - prepareStarted) / 1000;
    const cpuBefore = process.cpuUsage();
    const workersCpuBefore = workers.map((w) => processCpuSeconds(w.pid));
    const postgresBefore = await postgresBackendsCpu(services.pool);
    const machineBefore = machineCpuSeconds();
    const statementsBefore = await statementsSoFar(services.pool, statementsCounted);
    const tripsBefore = roundTripCount();
    const { orderIds, started, submitted, polls } = await submitAndWait(services, ctx, catalog, accounts.measured, label);
    const submissionTrips = roundTripCount() - tripsBefore - polls;
    const cpu = process.cpuUsage(cpuBefore);
    const workersCpuAfter = workers.map((w) => processCpuSeconds(w.pid));
    const machineSeconds = machineCpuSeconds() - machineBefore;
    const postgresCpu = backendsCpuDelta(postgresBefore, await postgresBackendsCpu(services.pool));
    const statementsAfter = await statementsSoFar(services.pool, statementsCounted);
    failIfProblems();
    const outcome = await checkOutcome(services.pool, orderIds, label);

    const seconds = (outcome.lastCompleted - started) / 1000;
    const n = orderIds.length;
    const submitterCpu = (cpu.user + cpu.system) / 1e6;
    const workersCpu = workersCpuBefore.every((v) => v !== null) && workersCpuAfter.every((v) => v !== null)
      ? workersCpuAfter.reduce((a, v, i) => a + v! - workersCpuBefore[i]!, 0)
      : null;
    await Promise.all(workers.map((w) => w.stop()));
    failIfProblems();
    const allOrders = n + accounts.warmup.length;
    const roundsPerOrder = workers.every((w) => w.rounds !== null)
      ? {
        total: round1(workers.reduce((a, w) => a + w.rounds!.total, 0) / allOrders),
        empty: round1(workers.reduce((a, w) => a + w.rounds!.empty, 0) / allOrders),
        looks: workers.every((w) => w.rounds!.looks !== null) ? round1(workers.reduce((a, w) => a + w.rounds!.looks!, 0) / allOrders) : null,
      }
      : null;
    const sorted = [...outcome.latencies].sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return {
      workers: workerCount,
      round: round + 1,
      orders: n,
      tasks: outcome.tasks,
      seconds,
      submitSeconds: (submitted - started) / 1000,
      ordersPerSecond: n / seconds,
      tasksPerSecond: outcome.tasks / seconds,
      latencyMs: { p50: at(0.5), p95: at(0.95), max: Math.round(sorted[sorted.length - 1]) },
      prepareSeconds: round1(prepareSeconds),
      cpuMsPerOrder: {
        submitter: round3((submitterCpu / n) * 1000),
        workers: workersCpu === null ? null : round3((workersCpu / n) * 1000),
        postgres: postgresCpu === null ? null : round3((postgresCpu / n) * 1000),
        // The four are sampled from different sources at slightly different moments: on an idle
        // machine the rest can come out a little below zero; it is shown as 0.
        rest: workersCpu === null || postgresCpu === null ? null : round3((Math.max(0, machineSeconds - submitterCpu - workersCpu - postgresCpu) / n) * 1000),
      },
      statementsPerOrder: statementsPerOrder(statementsBefore, statementsAfter, n),
      submissionRoundTripsPerOrder: round1(submissionTrips / n),
      roundsPerOrder,
    };
  } catch (error) {
    // Stop the workers first: what they logged is often the reason.
    await Promise.all(workers.map((w) => w.stop()));
    const problems = workers.flatMap((w) => w.problems);
    if (problems.length && !(error instanceof Error && error.message.includes(problems[0]))) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${label}: the worker processes reported:\n${problems.join('\n')}`);
    }
    throw error;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/**
 * Single orders: one worker process at the default poll interval, warmed up, then SINGLE_ORDERS
 * orders one at a time, each after the previous one completed and a pause of 100–300 ms (at
 * random, so that submissions do not fall in step with the worker's polls). Returns the
 * latencies' p50, p95 and max, ms.
 */
async function runSingleOrders(services: Services, ctx: CommandContext, databaseUrl: string, catalog: BenchCatalog, accounts: { warmup: string[]; measured: string[] }) {
  const label = 'single orders, 1 worker';
  const worker = startWorkerProcess(databaseUrl, 1, null);
  const failIfProblems = () => {
    if (worker.problems.length) throw new Error(`${label}: the worker process reported problems:\n${worker.problems.join('\n')}`);
  };
  try {
    await worker.ready;
    if (accounts.warmup.length) {
      const warm = await submitAndWait(services, ctx, catalog, accounts.warmup, `${label} warm-up`);
      await checkOutcome(services.pool, warm.orderIds, `${label} warm-up`);
    }
    const latencies: number[] = [];
    for (const [i, account] of accounts.measured.entries()) {
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      const { orderIds } = await submitAndWait(services, ctx, catalog, [account], `${label} ${i + 1}`);
      latencies.push(...(await checkOutcome(services.pool, orderIds, `${label} ${i + 1}`)).latencies);
    }
    failIfProblems();
    const sorted = latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return { orders: sorted.length, p50: at(0.5), p95: at(0.95), max: Math.round(sorted[sorted.length - 1]) };
  } finally {
    await worker.stop();
    failIfProblems();
  }
}

// ------------------------------------------------------------------------- the floor

// ------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const runStarted = Date.now();
  console.log(`bench: orders (3-item ADD, internal provisioner), ${WORKER_COUNTS.join(' and ')} worker processes, ${ORDERS} orders per phase `
    + `(+${WARMUP_ORDERS} warm-up per worker), ${SUBMITTERS} submitters, ${ROUNDS} rounds; floor ${FLOOR_SECONDS} s at concurrency ${FLOOR_CONCURRENCY}`);
  const db = await openBenchDatabase(Math.max(SUBMITTERS, FLOOR_CONCURRENCY) + 4);
  process.once('SIGINT', () => void db.close().finally(() => process.exit(130)));
  try {
    console.log(`bench: PostgreSQL ${db.postgresVersion} (${db.source === 'embedded' ? 'throw-away embedded, fsync off' : 'DATABASE_URL server, fresh database'}), Node ${process.version}, ${os.cpus().length} CPUs`);
    // The submitting process plans the tasks with the same routing as the workers run them.
    const fulfillment = fulfillmentSettingsOf(readConfig({ ...process.env, TENURE_FULFILLMENT_ROUTING: ROUTING, TENURE_FULFILLMENT_POLL_MS: String(POLL_MS), TENURE_FULFILLMENT_BATCH: String(BATCH) }).fulfillment);
    const services = createServices(db.pool, systemClock, { fulfillment, redisUrl: null });
    statementsCounted = await enableStatementCounts(db.pool);
    countRoundTrips();
    const tenant = await services.access.createTenant({ name: 'Bench tenant' });
    const ctx: CommandContext = { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' }, correlationId: 'bench-orders' };
    const demo = await loadDemoCatalog(services, ctx, (name) => demoId(`${tenant.tenantId}:${name}`));
    const catalog: BenchCatalog = { fiber: demo.offerings['business-fiber'].id, staticIp: demo.offerings['static-ip-29'].id, slaGold: demo.offerings['sla-gold'].id };

    // One account per order, for every phase: its warm-up orders (per worker process) and its measured ones.
    const perRound = WORKER_COUNTS.reduce((a, w) => a + w * WARMUP_ORDERS + ORDERS, 0);
    const allAccounts = await createAccounts(services, ctx, ROUNDS * perRound + (SINGLE_ORDERS > 0 ? WARMUP_ORDERS + SINGLE_ORDERS : 0));
    let nextAccount = 0;
    const take = (n: number) => allAccounts.slice(nextAccount, (nextAccount += n));
    const accountsFor = (workers: number) => ({ warmup: take(workers * WARMUP_ORDERS), measured: take(ORDERS) });
    console.log(`  set-up: demo catalog, ${allAccounts.length} accounts (one per order) in ${fmt((Date.now() - runStarted) / 1000, 1)} s since start`);
    const floorSteps = (await createActiveProducts(services, ctx, FLOOR_CONCURRENCY)).map((p) => rawStep(db.pool, tenant.tenantId, p));
    const warm = await runPhase(floorSteps, { seconds: FLOOR_WARMUP_SECONDS });
    console.log(`  warm-up floor ${fmt(warm.commands / warm.seconds)} commands/s`);

    const floorTotal: PhaseResult = emptyTotal();
    const floorPerRound: number[] = [];
    const orderPhases: OrderPhase[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Each round: the floor, then every worker count, in an order that rotates between rounds.
      await db.pool.query('vacuum');
      const floor = await runPhase(floorSteps, { seconds: FLOOR_SECONDS / ROUNDS });
      addPhase(floorTotal, floor);
      floorPerRound.push(floor.commands / floor.seconds);
      const parts = [`floor ${fmt(floor.commands / floor.seconds)} commands/s`];
      const order = WORKER_COUNTS.map((_, i) => WORKER_COUNTS[(i + round) % WORKER_COUNTS.length]);
      for (const w of order) {
        const result = await runOrderPhase(services, ctx, db.url, catalog, w, round, accountsFor(w));
        orderPhases.push(result);
        parts.push(`${w}w ${fmt(result.ordersPerSecond, 1)} orders/s (all submitted after ${fmt(result.submitSeconds, 1)} s, all completed after ${fmt(result.seconds, 1)} s; workers started and warmed up in ${fmt(result.prepareSeconds, 1)} s)`);
      }
      console.log(`  round ${round + 1}: ${parts.join('\n           ')}`);
    }

    const single = SINGLE_ORDERS > 0 ? await runSingleOrders(services, ctx, db.url, catalog, { warmup: take(WARMUP_ORDERS), measured: take(SINGLE_ORDERS) }) : null;

    // Totals per worker count over the rounds: orders / summed seconds.
    const floorRate = floorTotal.commands / floorTotal.seconds;
    const byWorkers = WORKER_COUNTS.map((w) => {
      const mine = orderPhases.filter((p) => p.workers === w);
      const orders = mine.reduce((a, p) => a + p.orders, 0);
      const tasks = mine.reduce((a, p) => a + p.tasks, 0);
      const seconds = mine.reduce((a, p) => a + p.seconds, 0);
      const submitSeconds = mine.reduce((a, p) => a + p.submitSeconds, 0);
      const cpu = (k: keyof OrderPhase['cpuMsPerOrder']) => mine.some((p) => p.cpuMsPerOrder[k] === null) ? null
        : round3(mine.reduce((a, p) => a + p.cpuMsPerOrder[k]! * p.orders, 0) / orders);
      return {
        workers: w,
        orders,
        tasks,
        tasksPerOrder: round3(tasks / orders),
        seconds: round3(seconds),
        ordersPerSecond: orders / seconds,
        tasksPerSecond: tasks / seconds,
        submitOrdersPerSecond: orders / submitSeconds,
        vsFloor: orders / seconds / floorRate,
        medianRoundVsFloor: median(mine.map((p) => p.ordersPerSecond / floorPerRound[p.round - 1])),
        latencyMsP50: median(mine.map((p) => p.latencyMs.p50)),
        latencyMsP95: median(mine.map((p) => p.latencyMs.p95)),
        cpuMsPerOrder: { submitter: cpu('submitter'), workers: cpu('workers'), postgres: cpu('postgres'), rest: cpu('rest') },
        statementsPerOrder: statementsOver(mine),
        submissionRoundTripsPerOrder: round1(mine.reduce((a, p) => a + p.submissionRoundTripsPerOrder * p.orders, 0) / orders),
        roundsPerOrder: mine.some((p) => p.roundsPerOrder === null) ? null
          : {
            total: round1(mine.reduce((a, p) => a + p.roundsPerOrder!.total, 0) / mine.length),
            empty: round1(mine.reduce((a, p) => a + p.roundsPerOrder!.empty, 0) / mine.length),
            looks: mine.some((p) => p.roundsPerOrder!.looks === null) ? null : round1(mine.reduce((a, p) => a + p.roundsPerOrder!.looks!, 0) / mine.length),
          },
      };
    });
    const one = byWorkers.find((b) => b.workers === 1);
    const four = byWorkers.find((b) => b.workers === 4);
    const speedup = one && four ? four.ordersPerSecond / one.ordersPerSecond : null;

    console.log('');
    console.log(`  floor (raw SQL, ${FLOOR_CONCURRENCY} concurrent): ${fmt(floorRate)} commands/s (${fmt(floorTotal.commands)} commands)`);
    console.log('');
    console.log('  workers   orders/s   tasks/s   orders   tasks/order   submitted orders/s   latency p50 / p95 ms   orders/s ÷ floor');
    for (const b of byWorkers) {
      console.log(`  ${String(b.workers).padStart(7)} ${fmt(b.ordersPerSecond, 1).padStart(10)} ${fmt(b.tasksPerSecond).padStart(9)} ${fmt(b.orders).padStart(8)}`
        + ` ${fmt(b.tasksPerOrder, 1).padStart(13)} ${fmt(b.submitOrdersPerSecond, 1).padStart(20)} ${`${fmt(b.latencyMsP50)} / ${fmt(b.latencyMsP95)}`.padStart(22)}`
        + ` ${fmt(b.vsFloor, 3).padStart(18)}`);
    }
    console.log('');
    console.log('  CPU ms per order   bench process   worker processes   PostgreSQL   rest of the machine');
    const ms = (v: number | null) => (v === null ? '–' : fmt(v, 1));
    for (const b of byWorkers) {
      const cpu = b.cpuMsPerOrder;
      console.log(`  ${`${b.workers} worker${b.workers > 1 ? 's' : ''}`.padEnd(16)} ${ms(cpu.submitter).padStart(15)} ${ms(cpu.workers).padStart(18)} ${ms(cpu.postgres).padStart(12)} ${ms(cpu.rest).padStart(21)}`);
    }
    console.log('');
    for (const b of byWorkers) {
      console.log(`  SQL statements per order with ${b.workers} worker${b.workers > 1 ? 's' : ' '}: ${b.statementsPerOrder === null ? `n/a (${statementsCounted ? 'the counts were reset during every phase' : 'pg_stat_statements not loaded'})` : fmt(b.statementsPerOrder, 1)}`
        + ` (pg_stat_statements, every process); the submitting process's round trips per order: ${fmt(b.submissionRoundTripsPerOrder, 1)}`);
    }
    for (const b of byWorkers) {
      console.log(`  worker rounds per order with ${b.workers} worker${b.workers > 1 ? 's' : ' '}: ${b.roundsPerOrder === null ? 'n/a' : `${fmt(b.roundsPerOrder.total, 1)}, of which ran no task: ${fmt(b.roundsPerOrder.empty, 1)}${b.roundsPerOrder.looks === null ? '' : `, looked at the queue: ${fmt(b.roundsPerOrder.looks, 1)}`}`} (all processes, warm-up included)`);
    }
    console.log('');
    for (const b of byWorkers) {
      console.log(`  orders/s with ${b.workers} worker${b.workers > 1 ? 's' : ' '} ÷ floor commands/s = ${fmt(b.vsFloor, 3)}  (median of rounds ${fmt(b.medianRoundVsFloor, 3)}; one order costs the time of ${fmt(1 / b.vsFloor, 1)} floor commands)`);
    }
    if (speedup !== null) console.log(`  speed-up 4 workers vs 1 = ${fmt(speedup, 2)}×  (this machine has ${os.cpus().length} CPUs for the bench, the workers and PostgreSQL together)`);
    if (single) console.log(`  single orders (one at a time, 1 idle worker, default poll interval): latency p50 ${fmt(single.p50)} ms, p95 ${fmt(single.p95)} ms, max ${fmt(single.max)} ms over ${single.orders} orders`);

    // The consistency check (`tenure check`) over everything the run did: it must be clean.
    const check = await checkAllTenants(db.pool, new Date(), { relayEnabled: false, outboxStaleAfterMs: 300_000 });
    if (!check.healthy) throw new Error(`tenure check after the run: ${check.findings.length} findings:\n${check.findings.slice(0, 20).map((f) => `${f.kind} ${f.entity} ${f.id}: ${f.detail}`).join('\n')}`);
    console.log(`  tenure check after the run: clean (${fmt(allAccounts.length)} accounts)`);

    const report = {
      date: new Date().toISOString(),
      node: process.version,
      postgres: db.postgresVersion,
      database: db.source,
      cpus: os.cpus().length,
      settings: {
        ordersPerPhase: ORDERS, warmupOrdersPerWorker: WARMUP_ORDERS, submitters: SUBMITTERS, rounds: ROUNDS, workerCounts: WORKER_COUNTS,
        workerPollMs: POLL_MS, workerBatch: BATCH, singleOrders: SINGLE_ORDERS, routing: JSON.parse(ROUTING),
        floorSecondsMeasured: FLOOR_SECONDS, floorConcurrency: FLOOR_CONCURRENCY, floorWarmupSeconds: FLOOR_WARMUP_SECONDS,
      },
      order: { items: ['business-fiber (bandwidthMbps 1000)', 'static-ip-29 (add-on of item 1)', 'sla-gold (add-on of item 1)'] },
      floor: { commandsPerSecond: round1(floorRate), commands: floorTotal.commands, perRound: floorPerRound.map(round1) },
      results: Object.fromEntries(byWorkers.map((b) => [`workers${b.workers}`, {
        workers: b.workers, orders: b.orders, tasks: b.tasks, tasksPerOrder: b.tasksPerOrder, seconds: b.seconds,
        ordersPerSecond: round1(b.ordersPerSecond), tasksPerSecond: round1(b.tasksPerSecond), submitOrdersPerSecond: round1(b.submitOrdersPerSecond),
        latencyMs: { p50: b.latencyMsP50, p95: b.latencyMsP95 }, cpuMsPerOrder: b.cpuMsPerOrder,
        statementsPerOrder: b.statementsPerOrder, submissionRoundTripsPerOrder: b.submissionRoundTripsPerOrder, roundsPerOrder: b.roundsPerOrder,
      }])),
      ...(single ? { singleOrders: { orders: single.orders, latencyMs: { p50: single.p50, p95: single.p95, max: single.max } } } : {}),
      ratios: {
        ...Object.fromEntries(byWorkers.map((b) => [`workers${b.workers}VsFloor`, round3(b.vsFloor)])),
        ...(speedup !== null ? { speedup4vs1: round3(speedup) } : {}),
      },
      medianRoundRatios: Object.fromEntries(byWorkers.map((b) => [`workers${b.workers}VsFloor`, round3(b.medianRoundVsFloor)])),
      perPhase: orderPhases.map((p) => ({ ...p, seconds: round3(p.seconds), submitSeconds: round3(p.submitSeconds), ordersPerSecond: round1(p.ordersPerSecond), tasksPerSecond: round1(p.tasksPerSecond), vsFloor: round3(p.ordersPerSecond / floorPerRound[p.round - 1]) })),
    };
    console.log(`\n  written to ${await writeResults(RESULTS_FILE, report)}; the run took ${fmt((Date.now() - runStarted) / 1000)} s`);
  } finally {
    await db.close();
  }
}

runBench(main);
