/**
 * Crash safety: a real `tenure worker` process is killed with SIGKILL in the middle of an
 * order with several tasks, while the external system has a request of it in hand (the work
 * is done outside, the answer never reaches Tenure). A second worker process takes the dead
 * worker's tasks over when their lease runs out, and the order completes with every task
 * provisioned exactly once (the replay of the cut-off task is answered `already-provisioned`)
 * and the installed base, its history and the outbox consistent (`tenure check` clean).
 *
 * The worker processes use the wall clock; the test's app (used only to submit the order and
 * read the result) is set to the wall clock before submitting, so the tasks are due at once.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { ServerResponse } from 'node:http';
import { ensureDemo } from '../../src/demo/seed.ts';
import { HttpProvisioner, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyCallbackSignature } from '../../src/fulfillment/http-provisioner.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { sendJson, startFlakyServer, type FlakyServer, type RecordedRequest } from './flaky-server.ts';

const KEY = 'tnr_crash-safety-demo-key-0123456789abc';
const SECRET = 'crash-safety-shared-secret';
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** How long the external system takes to answer: long enough for the kill to find a request in hand. */
const ANSWER_DELAY_MS = 250;
const LEASE_MS = 2_000;
const ROUTING = { defaultProvisioner: 'noc', byStep: { renew: 'internal' }, maxAttempts: 5 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs: number, diagnostics: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${diagnostics()}`);
    await sleep(25);
  }
}

/**
 * The external system: checks each request's signature, does the work of an idempotency key
 * the first time it sees it (at once, before answering: a crash of the caller after this
 * point leaves the work done outside), answers 200 `done` after a delay, and answers every
 * later request for the same key 409 `already-provisioned` with the same external id. While
 * `hold` is set it keeps the answers it owes, so the test knows which requests were never
 * answered.
 */
class ExternalSystem {
  readonly provisioned = new Map<string, { externalId: string; step: string; taskId: string }>();
  /** Every request per idempotency key, in order, with what it was answered (null: never). */
  readonly requests = new Map<string, { taskId: string; attempt: number; answer: number | null }[]>();
  readonly rejected: string[] = [];
  inFlight = 0;
  hold = false;
  readonly held: { key: string; taskId: string; res: ServerResponse }[] = [];
  server!: FlakyServer;

  async start(): Promise<void> {
    this.server = await startFlakyServer((request, res) => this.handle(request, res));
  }

  private async handle(request: RecordedRequest, res: ServerResponse): Promise<void> {
    const check = verifyCallbackSignature({
      secret: SECRET,
      timestampHeader: request.headers[TIMESTAMP_HEADER.toLowerCase()],
      signatureHeader: request.headers[SIGNATURE_HEADER.toLowerCase()],
      rawBody: request.rawBody,
      now: new Date(),
    });
    const key = request.headers[IDEMPOTENCY_HEADER.toLowerCase()];
    if (!check.ok || typeof key !== 'string' || !request.json || request.json.idempotencyKey !== key) {
      this.rejected.push(check.ok ? `bad request for key ${String(key)}` : check.reason);
      sendJson(res, 401, { message: check.ok ? 'bad request' : check.reason });
      return;
    }
    const seen = this.requests.get(key) ?? [];
    this.requests.set(key, seen);
    const entry = { taskId: request.json.taskId as string, attempt: request.json.attempt as number, answer: null as number | null };
    seen.push(entry);
    const first = !this.provisioned.has(key);
    if (first) this.provisioned.set(key, { externalId: `noc-${this.provisioned.size + 1}`, step: request.json.step, taskId: entry.taskId });
    const { externalId } = this.provisioned.get(key)!;
    this.inFlight++;
    await sleep(ANSWER_DELAY_MS);
    if (this.hold) {
      // Never answered: the caller is killed while it waits.
      this.held.push({ key, taskId: entry.taskId, res });
      return;
    }
    this.inFlight--;
    entry.answer = first ? 200 : 409;
    if (first) sendJson(res, 200, { status: 'done', externalId, data: { step: request.json.step } });
    else sendJson(res, 409, { status: 'already-provisioned', externalId });
  }

  /** Drops the answers kept while holding (their caller is dead) and answers normally again. */
  release(): void {
    this.hold = false;
    for (const h of this.held.splice(0)) {
      this.inFlight--;
      h.res.destroy();
    }
  }
}

interface WorkerProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('crash safety of the fulfillment worker', { timeout: 120_000 }, () => {
  let app: TestApp;
  let accountId: string;
  const external = new ExternalSystem();
  const offering: Record<string, string> = {};
  const workers: WorkerProcess[] = [];

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);

  /** `tenure worker` as its own node process (no wrapper shell: SIGKILL reaches the worker itself). */
  const startWorkerProcess = (): WorkerProcess => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'worker'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: app.db.url,
        LOG_LEVEL: 'info',
        TENURE_PROVISIONERS: JSON.stringify([{ type: 'http', code: 'noc', url: external.server.url, secret: SECRET, timeoutMs: 10_000 }]),
        TENURE_FULFILLMENT_ROUTING: JSON.stringify(ROUTING),
        TENURE_FULFILLMENT_LEASE_MS: String(LEASE_MS),
        TENURE_FULFILLMENT_POLL_MS: '100',
        TENURE_FULFILLMENT_RETRY: JSON.stringify({ initialDelayMs: 200, multiplier: 2, maxDelayMs: 1_000, jitter: 0 }),
      },
    });
    const output: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const worker = { child, output, exited };
    workers.push(worker);
    return worker;
  };

  const tasksOf = (orderId: string) => queryRows<any>(app.db.pool, 'select * from fulfillment_task where order_id = $1 order by task_number', [orderId]);
  const orderStatus = async (orderId: string) => (await queryRows<{ status: string }>(app.db.pool, 'select status from product_order where order_id = $1', [orderId]))[0].status;
  const describeState = async (orderId: string) =>
    JSON.stringify((await tasksOf(orderId)).map((t) => ({ n: t.task_number, step: t.step, status: t.status, attempts: t.attempts, lockedBy: t.locked_by, lastError: t.last_error })), null, 1);

  before(async () => {
    await external.start();
    app = await createTestApp({
      provisioners: [new HttpProvisioner({ code: 'noc', url: external.server.url, secret: SECRET })],
      fulfillment: { routing: ROUTING },
    });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });

  after(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGKILL');
        await w.exited;
      }
    }
    external.release();
    await external.server?.close();
    await app?.close();
  });

  test('SIGKILL mid-order: a new worker completes it, every task provisioned exactly once, tenure check clean', async () => {
    // The worker processes run on the wall clock: submit on it too, so the tasks are due now.
    app.clock.set(new Date());
    const submitted = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ],
    });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    const orderId: string = submitted.body.orderId;
    const planned = await tasksOf(orderId);
    assert.ok(planned.length >= 6, `an order with several tasks (${planned.length})`);
    assert.ok(planned.every((t) => t.provisioner_code === 'noc' && t.status === 'pending'));

    // 1. The first worker runs part of the order and is killed while the external system
    //    holds one of its requests: that work is done outside, its answer never arrives.
    const first = startWorkerProcess();
    const doneCount = async () => (await tasksOf(orderId)).filter((t) => t.status === 'done').length;
    await waitFor('two tasks done by the first worker', async () => (await doneCount()) >= 2, 30_000, () => first.output.join(''));
    external.hold = true;
    const cutOff = await waitFor('a request of the first worker held by the external system', async () => external.held[0], 10_000, () => first.output.join(''));
    first.child.kill('SIGKILL');
    const firstExit = await first.exited;
    assert.equal(firstExit.signal, 'SIGKILL');
    external.release();

    const afterKill = await tasksOf(orderId);
    assert.notEqual(await orderStatus(orderId), 'completed', 'the order is not finished when the worker dies');
    assert.ok(afterKill.some((t) => t.status === 'pending' || t.status === 'running'), 'work is left');
    const deadLease = new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${first.child.pid}:`);
    const cutOffTask = afterKill.find((t) => t.task_id === cutOff.taskId)!;
    assert.equal(cutOffTask.status, 'running', 'the cut-off task is still running');
    assert.match(cutOffTask.locked_by, deadLease, 'under the dead worker\'s lease');
    assert.equal(cutOffTask.attempts, 1);
    assert.ok(external.provisioned.has(cutOff.key), 'its work was done outside');
    const doneBeforeKill = afterKill.filter((t) => t.status === 'done').map((t) => t.task_id);
    assert.ok(doneBeforeKill.length >= 2);

    // 2. A second worker takes the dead worker's tasks over once their lease has run out.
    const second = startWorkerProcess();
    const finalStatus = await waitFor('the order to end', async () => {
      const status = await orderStatus(orderId);
      return ['completed', 'failed', 'partial', 'cancelled'].includes(status) ? status : undefined;
    }, 60_000, () => second.output.join(''));
    second.child.kill('SIGTERM');
    const secondExit = await second.exited;
    const state = await describeState(orderId);
    assert.equal(finalStatus, 'completed', `order ended ${finalStatus}\n${state}\nsecond worker:\n${second.output.join('')}`);
    assert.equal(secondExit.code, 0, `the second worker stops cleanly on SIGTERM\n${second.output.join('')}`);
    assert.deepEqual(external.rejected, [], 'every request was signed');

    // 3. Every task done, each provisioned exactly once outside; only the tasks the dead
    //    worker held were tried again, and the replay of the cut-off one was answered
    //    already-provisioned with the external id of the work done before the crash.
    const finalTasks = await tasksOf(orderId);
    assert.equal(finalTasks.length, planned.length);
    for (const t of finalTasks) {
      const label = `task ${t.task_number} (${t.step})`;
      assert.equal(t.status, 'done', `${label} is done\n${state}`);
      assert.equal(t.locked_by, null, `${label} holds no lease`);
      const work = external.provisioned.get(t.idempotency_key);
      assert.ok(work, `${label} was provisioned`);
      assert.equal(work.taskId, t.task_id);
      assert.equal(t.external_id, work.externalId, `${label} records the external id of the one provisioning`);
      const calls = external.requests.get(t.idempotency_key)!;
      assert.ok(calls.length >= 1 && calls.length <= 2, `${label}: ${calls.length} requests`);
      // At most one request did the work: the first; any other was a replay.
      assert.ok(calls.slice(1).every((c) => c.answer !== 200), `${label}: only the first request did the work`);
      if (doneBeforeKill.includes(t.task_id)) {
        assert.equal(t.attempts, 1, `${label} finished before the crash and was not run again`);
        assert.equal(calls.length, 1);
      }
      assert.ok(t.attempts === 1 || t.attempts === 2, `${label}: ${t.attempts} attempts`);
      assert.ok(calls.length <= t.attempts, `${label}: no more requests than attempts`);
    }
    assert.equal(external.provisioned.size, finalTasks.length, 'nothing else was provisioned');
    const replayed = finalTasks.find((t) => t.task_id === cutOff.taskId)!;
    assert.equal(replayed.attempts, 2, 'the cut-off task ran a second time');
    assert.deepEqual(external.requests.get(cutOff.key)!.map((c) => [c.attempt, c.answer]), [[1, null], [2, 409]],
      'first request cut off by the crash, the second answered already-provisioned');
    assert.equal(replayed.last_error, null, 'the takeover is not recorded as a failure');

    // 4. The installed base: every instance ACTIVE, the fiber's service and resources too.
    const order = (await api('GET', `/orders/${orderId}`)).body;
    assert.ok(order.items.every((i: any) => i.status === 'completed'), JSON.stringify(order.items));
    const products = (await api('GET', `/accounts/${accountId}/installed-base`)).body.products as any[];
    for (const item of order.items) {
      const p = products.find((x) => x.productInstanceId === item.productInstanceId);
      assert.ok(p, `item ${item.itemNumber}'s instance is in the installed base`);
      assert.equal(p.status, 'ACTIVE', `item ${item.itemNumber}'s instance is ACTIVE`);
      for (const s of p.serviceInstances ?? []) {
        assert.equal(s.status, 'ACTIVE');
        for (const r of s.resourceInstances ?? []) assert.notEqual(r.status, 'RELEASED');
      }
    }
    const fiber = products.find((x) => x.productInstanceId === order.items[0].productInstanceId);
    assert.equal(fiber.serviceInstances.length, 1);
    const subscription = (await api('GET', `/subscriptions/${fiber.subscriptionId}`)).body;
    assert.equal(subscription.status, 'ACTIVE');
    const orderHistory = (await api('GET', `/orders/${orderId}/history`)).body.items.filter((c: any) => c.itemId === null).map((c: any) => c.toStatus);
    assert.deepEqual(orderHistory, ['acknowledged', 'inProgress', 'completed'], 'each order transition recorded once');

    // 5. History and outbox: every versioned row of the account has versions 1..current,
    //    each with exactly one outbox event (the check proves "at least one"; a duplicate
    //    from a replayed completion would show here), and no guard is left.
    for (const [table, id] of [['product_instance', 'product_instance_id'], ['subscription', 'subscription_id'], ['service_instance', 'service_instance_id'], ['resource_instance', 'resource_instance_id']]) {
      const rows = await queryRows<any>(app.db.pool, `select ${id} as id, version from ${table} where account_id = $1`, [accountId]);
      for (const row of rows) {
        const versions = await queryRows<any>(app.db.pool,
          `select h.version, (select count(*)::int from outbox_event o where o.account_id = h.account_id and o.aggregate_id = h.${id} and o.aggregate_version = h.version) as events
             from ${table}_history h where h.account_id = $1 and h.${id} = $2 order by h.version`, [accountId, row.id]);
        assert.deepEqual(versions.map((v) => Number(v.version)), Array.from({ length: Number(row.version) }, (_, i) => i + 1), `${table} ${row.id}: versions 1..${row.version}`);
        assert.ok(versions.every((v) => v.events === 1), `${table} ${row.id}: one outbox event per version ${JSON.stringify(versions)}`);
      }
    }
    const guards = await queryRows(app.db.pool, `select * from asset_operation_guard where account_id = $1 and status in ('ACTIVE', 'PENDING_RELEASE')`, [accountId]);
    assert.deepEqual(guards, [], 'no guard is left held');
    const report = await checkAllTenants(app.db.pool, new Date());
    assert.deepEqual(report.findings, [], 'the consistency check is clean');

    // 6. The real `tenure check`, as an operator would run it after an incident.
    const cli = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'check', '--json'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: app.db.url, LOG_LEVEL: 'silent' },
    }).then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (e: any) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }));
    assert.equal(cli.code, 0, `tenure check exits 0\n${cli.stdout}${cli.stderr}`);
    assert.equal(JSON.parse(cli.stdout).healthy, true);
  });
});
