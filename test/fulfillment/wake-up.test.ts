/**
 * Workers woken by tasks-ready notifications (issue 11, point 2; decision 0017): with a poll
 * interval of a minute, an idle worker completes an order within seconds, because the
 * submission and every finished task notify it; its listener survives the server terminating
 * its connection; and stopping the worker closes the listener.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createOrchestrator } from '../../src/app.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { DEFAULT_SETTINGS, type FulfillmentSettings } from '../../src/fulfillment/orchestrator.ts';
import { WAKE_UP_APPLICATION_NAME } from '../../src/fulfillment/wake-up.ts';
import { startWorker, type Worker } from '../../src/fulfillment/worker.ts';
import { createPool, queryRows, type Pool } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { sleep, until as waitUntil } from '../helpers/until.ts';

const KEY = 'tnr_wake-up-test-key-0123456789abcdefgh';
/** Far longer than any wait below: an order completed in time was not found by a poll. */
const POLL_MS = 60_000;
const WITHIN_MS = 5_000;

const until = <T>(what: string, probe: () => Promise<T | undefined | false>, withinMs = WITHIN_MS) => waitUntil(what, probe, withinMs);

describe('workers woken by tasks-ready notifications', { timeout: 120_000 }, () => {
  let app: TestApp;
  let accountId: string;
  let router: string;
  let fiber: string;
  let staticIp: string;
  let pool: Pool;
  let worker: Worker | null = null;
  /** What each of the worker's rounds ran. */
  const rounds: number[] = [];
  const logLines: { level: number; msg: string }[] = [];
  // The fiber's internet-access service is configured by a person (the manual provisioner): the
  // worker is idle while that task waits, and the result posted for it must wake the worker.
  const settings: FulfillmentSettings = {
    ...DEFAULT_SETTINGS, routing: { defaultProvisioner: 'internal', maxAttempts: 5, bySpecCode: { 'internet-access': 'manual' } }, pollIntervalMs: POLL_MS, batchSize: 10,
  };

  const listeners = () => queryRows<{ pid: number; query: string }>(app.db.pool,
    'select pid, query from pg_stat_activity where datname = current_database() and application_name = $1', [WAKE_UP_APPLICATION_NAME]);
  /** A listener's last statement is its LISTEN, or the read of the listeners that follows it (every second). */
  const listening = (l: { query: string }) => /^listen |pg_stat_activity/i.test(l.query);
  /**
   * The worker's rounds once it has gone idle: no round for a while (a round that ran an
   * announced order is not followed by a look until the poll interval has passed).
   */
  const idle = async () => {
    let seen = -1;
    await until('the worker goes idle', async () => {
      const settled = rounds.length === seen;
      seen = rounds.length;
      if (!settled) await sleep(150);
      return settled;
    });
    return rounds.length;
  };
  /** A 3-item order through the API, waited for until it has ended. */
  const submitAndWait = async () => {
    const started = Date.now();
    const res = await call(app.server, KEY, 'POST', `/accounts/${accountId}/orders`, { items: [1, 2, 3].map(() => ({ action: 'ADD', offeringId: router })) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const orderId: string = res.body.orderId;
    const order = await until('the order ends', async () => {
      const body = (await call(app.server, KEY, 'GET', `/orders/${orderId}`)).body;
      return ['completed', 'failed', 'partial', 'cancelled'].includes(body.status) ? body : undefined;
    });
    const tasks = await queryRows<{ status: string; attempts: number }>(app.db.pool, 'select status, attempts from fulfillment_task where order_id = $1 order by task_number', [orderId]);
    return { order, tasks, ms: Date.now() - started };
  };

  before(async () => {
    app = await createTestApp({ fulfillment: settings });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const offerings = (await call(app.server, KEY, 'GET', '/product-offerings?limit=200')).body.items;
    router = offerings.find((o: any) => o.body.code === 'managed-router').id;
    fiber = offerings.find((o: any) => o.body.code === 'business-fiber').id;
    staticIp = offerings.find((o: any) => o.body.code === 'static-ip-29').id;
    pool = createPool(app.db.url, settings.batchSize);
    const orchestrator = createOrchestrator(pool, app.clock, { fulfillment: settings });
    const runOnce = orchestrator.runOnce.bind(orchestrator);
    orchestrator.runOnce = async (workerId, work) => {
      const ran = await runOnce(workerId, work);
      rounds.push(ran);
      return ran;
    };
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    worker = startWorker(orchestrator, settings, { logger: pino({ level: 'info' }, sink), wakeUpFrom: pool });
  });
  after(async () => {
    await worker?.stop();
    await pool.end();
    await app.close();
  });

  test('an idle worker completes a 3-item order within seconds, with a poll interval of a minute', async () => {
    await until('the listener listens', async () => (await listeners()).some(listening));
    await idle();
    assert.deepEqual(rounds.slice(0, 1), [0], 'the first round found nothing');

    const { order, tasks, ms } = await submitAndWait();
    assert.equal(order.status, 'completed', JSON.stringify(order));
    assert.ok(order.items.every((item: any) => item.status === 'completed'), JSON.stringify(order.items));
    assert.ok(tasks.length >= 3, `tasks: ${tasks.length}`);
    assert.deepEqual(tasks, tasks.map(() => ({ status: 'done', attempts: 1 })));
    assert.ok(ms < WITHIN_MS, `completed after ${ms} ms`);
  });

  test('a listener whose backend is terminated reconnects, and the next order is still completed without waiting for a poll', async () => {
    const [before] = await listeners();
    assert.ok(before, 'a listener is connected');
    await idle();
    const { rows } = await app.db.pool.query('select pg_terminate_backend($1) as ok', [before.pid]);
    assert.equal(rows[0].ok, true);
    await until('the listener listens again on a new connection', async () => {
      const now = await listeners();
      return now.length === 1 && now[0].pid !== before.pid && listening(now[0]);
    });
    await idle();

    const { order, tasks, ms } = await submitAndWait();
    assert.equal(order.status, 'completed', JSON.stringify(order));
    assert.deepEqual(tasks, tasks.map(() => ({ status: 'done', attempts: 1 })));
    assert.ok(ms < WITHIN_MS, `completed after ${ms} ms`);
    // The trouble is told once, at info: warnings and errors are for what an operator must act on.
    assert.deepEqual(logLines.filter((l) => l.level >= 40), []);
    assert.equal(logLines.filter((l) => l.msg.startsWith('wake-up listener not connected')).length, 1, JSON.stringify(logLines));
  });

  test('a result posted for a waiting task wakes the worker for the tasks that waited for it', async () => {
    const res = await call(app.server, KEY, 'POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: fiber, configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: staticIp, parentItemNumber: 1 },
      ],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const orderId: string = res.body.orderId;
    const tasksOf = () => queryRows<{ task_id: string; step: string; status: string; attempts: number; provisioner_code: string }>(app.db.pool,
      'select task_id, step, status, attempts, provisioner_code from fulfillment_task where order_id = $1 order by task_number', [orderId]);
    const waiting = await until('the configure task waits for its operator', async () => (await tasksOf()).find((t) => t.status === 'waiting'));
    assert.deepEqual({ step: waiting.step, provisioner: waiting.provisioner_code }, { step: 'configure', provisioner: 'manual' });
    await idle();
    assert.ok((await tasksOf()).some((t) => t.status === 'pending'), 'tasks wait for the configure task');

    const started = Date.now();
    const posted = await call(app.server, KEY, 'POST', `/fulfillment/tasks/${waiting.task_id}/result`, { outcome: 'done', externalId: 'ticket-7' });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    const order = await until('the order ends', async () => {
      const body = (await call(app.server, KEY, 'GET', `/orders/${orderId}`)).body;
      return ['completed', 'failed', 'partial', 'cancelled'].includes(body.status) ? body : undefined;
    });
    assert.equal(order.status, 'completed', JSON.stringify(order));
    assert.ok(Date.now() - started < WITHIN_MS);
    assert.deepEqual((await tasksOf()).map((t) => ({ status: t.status, attempts: t.attempts })), (await tasksOf()).map(() => ({ status: 'done', attempts: 1 })));
  });

  test('stopping the worker closes its listener', async () => {
    assert.equal((await listeners()).length, 1);
    const stopped = await worker!.stop();
    worker = null;
    assert.deepEqual(stopped, { gaveBack: 0 });
    await until('no listener backend is left', async () => (await listeners()).length === 0);
  });
});
