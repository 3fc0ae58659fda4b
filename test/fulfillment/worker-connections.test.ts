/**
 * A worker's connections (issue 9, point 3): a round claims only as many tasks as it holds
 * connections, records each outcome on the task's own connection (or, when that one died, on a
 * fresh one while the lease lasts), gives a claim back when the task could not start, and on
 * shutdown gives back what it still has out. The lease is sized from the provisioners' timeout.
 * Real connections are terminated by a real server (pg_terminate_backend).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOrchestrator } from '../../src/app.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { DEFAULT_SETTINGS, LEASE_MARGIN_MS, leaseMsOf, type FulfillmentSettings } from '../../src/fulfillment/orchestrator.ts';
import { ProvisionerRegistry, UNDECLARED_TIMEOUT_MS, type Provisioner, type ProvisioningResult, type ProvisioningTask } from '../../src/fulfillment/provisioner.ts';
import { HttpProvisioner } from '../../src/fulfillment/http-provisioner.ts';
import { InternalProvisioner, ManualProvisioner } from '../../src/fulfillment/provisioners.ts';
import { startWorker } from '../../src/fulfillment/worker.ts';
import { createPool, holdConnection, queryRows, type Pool } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { REPO } from '../helpers/tenure-process.ts';

const KEY = 'tnr_worker-connections-key-0123456789ab';

/** A provisioner under the test's control: it runs `during` while the call is out, then answers done. */
class ControlledProvisioner implements Provisioner {
  readonly timeoutMs = 1_000;
  during: (task: ProvisioningTask) => Promise<void> = async () => {};
  readonly calls: ProvisioningTask[] = [];
  code(): string {
    return 'controlled';
  }
  async provision(task: ProvisioningTask): Promise<ProvisioningResult> {
    this.calls.push(task);
    await this.during(task);
    return { outcome: 'done', externalId: `ext-${task.taskId.slice(0, 8)}` };
  }
}

interface TaskState {
  task_id: string;
  status: string;
  attempts: number;
  locked_by: string | null;
  locked_until: Date | null;
  last_error: unknown;
}

describe('a worker and its connections', { timeout: 120_000 }, () => {
  let app: TestApp;
  let accountId: string;
  let router: string;
  const controlled = new ControlledProvisioner();
  const settings: FulfillmentSettings = { ...DEFAULT_SETTINGS, routing: { defaultProvisioner: 'controlled', maxAttempts: 5 }, leaseMs: 60_000, batchSize: 10 };
  const registry = new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner(), controlled]);
  const pools: Pool[] = [];
  /** The backends each worker pool opened, by pool: the test terminates them. */
  const backends = new Map<Pool, Set<number>>();

  const workerPool = (max: number): Pool => {
    const pool = createPool(app.db.url, max);
    const pids = new Set<number>();
    pool.on('connect', (client) => pids.add((client as unknown as { processID: number }).processID));
    backends.set(pool, pids);
    pools.push(pool);
    return pool;
  };
  const tasksOf = (orderId: string) =>
    queryRows<TaskState>(app.db.pool, 'select task_id, status, attempts, locked_by, locked_until, last_error from fulfillment_task where order_id = $1 order by task_number', [orderId]);
  /** An order of three managed routers: three tasks ready at once. */
  const submitThree = async () => {
    const res = await call(app.server, KEY, 'POST', `/accounts/${accountId}/orders`, { items: [1, 2, 3].map(() => ({ action: 'ADD', offeringId: router })) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const orderOf = (orderId: string) => call(app.server, KEY, 'GET', `/orders/${orderId}`).then((r) => r.body);

  before(async () => {
    app = await createTestApp({ provisioners: [controlled], fulfillment: settings });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const offerings = (await call(app.server, KEY, 'GET', '/product-offerings?limit=200')).body.items;
    router = offerings.find((o: any) => o.body.code === 'managed-router').id;
  });
  after(async () => {
    for (const pool of pools) await pool.end().catch(() => {});
    await app.close();
  });

  test('a round claims only as many tasks as it holds connections, and records every outcome on them', async () => {
    const pool = workerPool(2);
    const orchestrator = createOrchestrator(pool, app.clock, { provisioners: { registry, callbackSecrets: new Map() }, fulfillment: settings });
    const order = await submitThree();
    const ready = (await tasksOf(order.orderId)).filter((t) => t.status === 'pending');
    assert.ok(ready.length >= 3, `three tasks ready, got ${ready.length}`);

    // Something else holds one of the pool's two connections for the whole round.
    const other = await holdConnection(pool);
    let seenDuringCall: TaskState[] = [];
    controlled.during = async () => {
      seenDuringCall = await tasksOf(order.orderId);
    };
    try {
      assert.equal(await orchestrator.runOnce('squeezed-worker'), 1, 'one connection free: one task claimed, not a batch of ten');
    } finally {
      other.release();
      controlled.during = async () => {};
    }
    assert.deepEqual(seenDuringCall.filter((t) => t.status !== 'pending').map((t) => t.status), ['running'], 'one task out while the round runs');
    const after1 = await tasksOf(order.orderId);
    const done = after1.filter((t) => t.status === 'done');
    assert.equal(done.length, 1, 'its outcome was recorded on the connection the round held');
    assert.deepEqual({ attempts: done[0].attempts, lockedBy: done[0].locked_by, lockedUntil: done[0].locked_until }, { attempts: 1, lockedBy: null, lockedUntil: null });
    assert.ok(after1.filter((t) => t.status !== 'done').every((t) => t.status === 'pending' && t.attempts === 0 && t.locked_by === null), 'the others were never claimed');

    // With both connections free, a round takes two; the pool never opens a third.
    assert.equal(await orchestrator.runOnce('squeezed-worker'), 2);
    assert.ok(pool.totalCount <= 2);
    while ((await orchestrator.runOnce('squeezed-worker')) > 0);
    const final = await orderOf(order.orderId);
    assert.equal(final.status, 'completed');
    assert.deepEqual(final.items.map((i: any) => i.status), ['completed', 'completed', 'completed']);
    assert.ok((await tasksOf(order.orderId)).every((t) => t.status === 'done' && t.attempts === 1 && t.last_error === null), 'no attempt burnt');
  });

  test('when a task\'s connection dies during the call, the outcome is recorded on a fresh one: no lease to wait out, no attempt burnt', async () => {
    const pool = workerPool(10);
    const logged: unknown[] = [];
    const logger = { error: (o: unknown) => logged.push(o), warn: (o: unknown) => logged.push(o), info: () => {} } as any;
    const orchestrator = createOrchestrator(pool, app.clock, { provisioners: { registry, callbackSecrets: new Map() }, fulfillment: settings, logger });
    const order = await submitThree();
    let terminated = 0;
    controlled.during = async () => {
      if (terminated) return;
      // The server ends every connection this worker holds while its calls are out.
      const pids = [...backends.get(pool)!];
      terminated = (await queryRows<{ ok: boolean }>(app.db.pool, 'select pg_terminate_backend(pid) as ok from unnest($1::int[]) as pid', [pids])).filter((r) => r.ok).length;
      await new Promise((resolve) => setTimeout(resolve, 200));
    };
    try {
      assert.equal(await orchestrator.runOnce('unlucky-worker'), 3);
    } finally {
      controlled.during = async () => {};
    }
    assert.ok(terminated >= 3, `the held connections were terminated (${terminated})`);
    // Every claimed task was either recorded in the round or, when the connection died before it
    // started, given back with its attempt uncounted: none is left running under the lease.
    const tasks = await tasksOf(order.orderId);
    assert.deepEqual(tasks.filter((t) => t.status === 'running'), [], logged.map((l: any) => String(l.err?.stack ?? l.err)).join('\n'));
    assert.ok(tasks.filter((t) => t.status === 'done').length >= 1);
    assert.ok(tasks.every((t) => (t.status === 'done' && t.attempts === 1) || (t.status === 'pending' && t.attempts === 0)) && tasks.every((t) => t.locked_by === null && t.last_error === null), JSON.stringify(tasks));
    while ((await orchestrator.runOnce('unlucky-worker')) > 0);
    assert.equal((await orderOf(order.orderId)).status, 'completed');
    assert.ok((await tasksOf(order.orderId)).every((t) => t.status === 'done' && t.attempts === 1), 'no attempt burnt');
  });

  test('a task that cannot start because the server says it is unavailable is given back at once, its attempt not counted', async () => {
    const pool = workerPool(10);
    const orchestrator = createOrchestrator(pool, app.clock, { provisioners: { registry, callbackSecrets: new Map() }, fulfillment: settings });
    const order = await submitThree();
    // The server answers the start of an item (its first status change) as a server that is
    // shutting down does: SQLSTATE 57P01, raised by a trigger for this test.
    await app.db.pool.query(`create function fault_57p01() returns trigger language plpgsql as $$
      begin raise exception 'terminating connection due to administrator command' using errcode = '57P01'; end $$`);
    await app.db.pool.query(`create trigger fault_57p01 before update on product_order for each row execute function fault_57p01()`);
    const callsBefore = controlled.calls.length;
    try {
      assert.equal(await orchestrator.runOnce('refused-worker'), 3);
    } finally {
      await app.db.pool.query('drop trigger fault_57p01 on product_order');
      await app.db.pool.query('drop function fault_57p01()');
    }
    assert.equal(controlled.calls.length, callsBefore, 'no provisioner was called');
    const given = await tasksOf(order.orderId);
    assert.ok(given.filter((t) => t.attempts === 0).length >= 3);
    assert.ok(given.every((t) => t.status === 'pending' && t.attempts === 0 && t.locked_by === null && t.locked_until === null && t.last_error === null), JSON.stringify(given));
    // Due again at once: the next round takes them, without waiting for the 60 s lease.
    while ((await orchestrator.runOnce('refused-worker')) > 0);
    const final = await orderOf(order.orderId);
    assert.equal(final.status, 'completed');
    assert.ok((await tasksOf(order.orderId)).every((t) => t.status === 'done' && t.attempts === 1));
  });

  test('a worker stopped with calls still out gives their tasks back after the grace, and another worker takes them at once', async () => {
    const pool = workerPool(10);
    const graceSettings: FulfillmentSettings = { ...settings, shutdownGraceMs: 300, pollIntervalMs: 50 };
    const orchestrator = createOrchestrator(pool, app.clock, { provisioners: { registry, callbackSecrets: new Map() }, fulfillment: graceSettings });
    const order = await submitThree();
    let release!: () => void;
    const hung = new Promise<void>((resolve) => { release = resolve; });
    let calls = 0;
    let givenBackIds: string[] = [];
    controlled.during = async () => {
      calls++;
      await hung;
    };
    const worker = startWorker(orchestrator, graceSettings);
    try {
      for (let i = 0; i < 200 && calls < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(calls, 3, 'the worker has three calls out');
      const running = (await tasksOf(order.orderId)).filter((t) => t.status === 'running');
      assert.equal(running.length, 3);
      givenBackIds = running.map((t) => t.task_id);
      const stopped = await worker.stop();
      assert.equal(stopped.gaveBack, 3);
      const given = await tasksOf(order.orderId);
      assert.ok(given.filter((t) => t.attempts === 1).length >= 3);
      assert.ok(given.every((t) => t.status === 'pending' && t.locked_by === null), JSON.stringify(given));
      assert.equal(pool.totalCount - pool.idleCount, 0, 'the given-back calls\' connections were closed: none is checked out');
    } finally {
      controlled.during = async () => {};
      release();
    }
    // The calls answer late: their answers are not recorded.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok((await tasksOf(order.orderId)).every((t) => t.status === 'pending'), 'late answers after giving back are dropped');
    const next = createOrchestrator(workerPool(10), app.clock, { provisioners: { registry, callbackSecrets: new Map() }, fulfillment: settings });
    while ((await next.runOnce('next-worker')) > 0);
    assert.equal((await orderOf(order.orderId)).status, 'completed');
    const final = await tasksOf(order.orderId);
    assert.ok(final.every((t) => t.status === 'done'));
    assert.deepEqual(final.map((t) => t.attempts), final.map((t) => (givenBackIds.includes(t.task_id) ? 2 : 1)), 'the second worker made the given-back tasks\' second attempt');
  });

  test('the default lease is the longest provisioner call plus the margin; a configured one wins', () => {
    const noLease = { ...settings, leaseMs: undefined };
    assert.equal(leaseMsOf(noLease, new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner()])), LEASE_MARGIN_MS);
    const http = new HttpProvisioner({ code: 'noc', url: 'http://127.0.0.1:9/provision', secret: 's', timeoutMs: 20_000 });
    assert.equal(leaseMsOf(noLease, new ProvisionerRegistry([new InternalProvisioner(), http])), 20_000 + LEASE_MARGIN_MS);
    const undeclared = { code: () => 'plugin', provision: async () => ({ outcome: 'done' as const }) };
    assert.equal(leaseMsOf(noLease, new ProvisionerRegistry([http, undeclared])), UNDECLARED_TIMEOUT_MS + LEASE_MARGIN_MS);
    assert.equal(leaseMsOf({ ...settings, leaseMs: 4_000 }, new ProvisionerRegistry([http])), 4_000);
    assert.ok(LEASE_MARGIN_MS < 5 * 60_000);
  });
});

describe('`tenure worker` on SIGTERM', { timeout: 120_000 }, () => {
  let app: TestApp;

  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 5 } } });
  });
  after(() => app.close());

  test('exits 0 within the grace, giving back the tasks whose calls are out; another worker takes them at once', async () => {
    const key = 'tnr_worker-sigterm-key-0123456789abcdef';
    const accountId = (await ensureDemo(app.services, key)).accountId;
    const offerings = (await call(app.server, key, 'GET', '/product-offerings?limit=200')).body.items;
    const router = offerings.find((o: any) => o.body.code === 'managed-router').id;
    const order = (await call(app.server, key, 'POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: router }, { action: 'ADD', offeringId: router }] })).body;
    // The order's tasks were routed to `internal` at submission; this worker's registry answers them with a call that hangs.
    await app.db.pool.query(`update fulfillment_task set provisioner_code = 'hanging' where order_id = $1`, [order.orderId]);

    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'worker'], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: app.db.url,
        LOG_LEVEL: 'info',
        TENURE_PROVISIONERS: JSON.stringify([{ module: path.join(REPO, 'test/fulfillment/fixtures/hanging.ts') }]),
        TENURE_FULFILLMENT_ROUTING: JSON.stringify({ defaultProvisioner: 'internal' }),
        TENURE_FULFILLMENT_POLL_MS: '100',
        TENURE_FULFILLMENT_SHUTDOWN_GRACE_MS: '500',
      },
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      let running: TaskState[] = [];
      for (let i = 0; i < 600 && running.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        running = (await queryRows<TaskState>(app.db.pool, `select task_id, status, attempts, locked_by, locked_until, last_error from fulfillment_task where order_id = $1 and status = 'running'`, [order.orderId]));
      }
      assert.equal(running.length, 2, `the worker has both first tasks out\n${output}`);
      // The lease is sized from the provisioner's declared 60 s timeout, not 5 minutes.
      const leaseMs = running[0].locked_until!.getTime() - Date.now();
      assert.ok(leaseMs > 60_000 && leaseMs <= 60_000 + LEASE_MARGIN_MS, `lease of ${leaseMs} ms`);
      assert.match(output, new RegExp(`"leaseMs":${60_000 + LEASE_MARGIN_MS}`));

      const signalled = Date.now();
      child.kill('SIGTERM');
      const { code, signal } = await exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, output);
      assert.ok(Date.now() - signalled < 10_000, 'it did not wait for the hanging calls');
      assert.match(output, /their tasks were given back/);
      const given = await queryRows<TaskState>(app.db.pool, 'select task_id, status, attempts, locked_by, locked_until, last_error from fulfillment_task where task_id = any ($1::uuid[])', [running.map((t) => t.task_id)]);
      assert.deepEqual(given.map((t) => [t.status, t.attempts, t.locked_by, t.locked_until]), [['pending', 1, null, null], ['pending', 1, null, null]]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    // Another worker takes them at once, not after a lease.
    await app.db.pool.query(`update fulfillment_task set provisioner_code = 'internal' where order_id = $1`, [order.orderId]);
    while ((await app.services.orchestrator.runOnce('next-worker')) > 0);
    const final = (await call(app.server, key, 'GET', `/orders/${order.orderId}`)).body;
    assert.equal(final.status, 'completed');
  });
});
