/**
 * Tasks-ready notifications that name their order (issue 11, point 3; decision 0026): the one
 * listening worker that owns the order runs it without a look at the queue, and the others are
 * not woken for it; an order found locked is passed by the looks for a moment and run later,
 * not starved; and an order whose notification reached no worker that runs it (its owner is
 * gone) is found by a poll.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createOrchestrator } from '../../src/app.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { DEFAULT_SETTINGS, type FulfillmentSettings, type Orchestrator } from '../../src/fulfillment/orchestrator.ts';
import { announcementPayload, parseAnnouncement, type ReadyAnnouncement } from '../../src/fulfillment/queue.ts';
import { MEMBERS_REFRESH_MS, ownerOf, WAKE_UP_APPLICATION_NAME } from '../../src/fulfillment/wake-up.ts';
import { startWorker, type Worker } from '../../src/fulfillment/worker.ts';
import { createPool, queryRows, type Pool } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { sleep, until as waitUntil } from '../helpers/until.ts';

const KEY = 'tnr_announced-orders-test-key-0123456789';
const WITHIN_MS = 5_000;
/** The tasks of the test's order: three managed routers, three tasks each. */
const TASKS = 9;
/**
 * A poll of an hour: the poll's turns begin on multiples of it (decision 0026), so no turn's look
 * falls within a test that uses it, but for one in thousands of runs.
 */
const NO_POLL_MS = 3_600_000;

const until = <T>(what: string, probe: () => Promise<T | undefined | false>, withinMs = WITHIN_MS) => waitUntil(what, probe, withinMs);

/** A worker loop under test: its orchestrator's rounds, each with what it was given and what it ran. */
interface Loop {
  orchestrator: Orchestrator;
  pool: Pool;
  worker: Worker | null;
  rounds: { announced: string[]; look: boolean; ran: number }[];
}

describe('notifications that name their order', { timeout: 120_000 }, () => {
  let app: TestApp;
  let accountId: string;
  let router: string;
  const loops: Loop[] = [];
  const settingsOf = (pollIntervalMs: number): FulfillmentSettings => ({
    ...DEFAULT_SETTINGS, routing: { defaultProvisioner: 'internal', maxAttempts: 5 }, pollIntervalMs, batchSize: 10,
  });

  /** An orchestrator on a pool of its own, its rounds recorded; with `pollIntervalMs`, a worker loop listening. */
  const startLoop = (pollIntervalMs?: number): Loop => {
    const settings = settingsOf(pollIntervalMs ?? NO_POLL_MS);
    const pool = createPool(app.db.url, settings.batchSize);
    const orchestrator = createOrchestrator(pool, app.clock, { fulfillment: settings });
    const loop: Loop = { orchestrator, pool, worker: null, rounds: [] };
    const runOnce = orchestrator.runOnce.bind(orchestrator);
    orchestrator.runOnce = async (workerId, work) => {
      const ran = await runOnce(workerId, work);
      loop.rounds.push({ announced: (work?.announced ?? []).map((a) => a.orderId), look: work?.look ?? true, ran });
      return ran;
    };
    if (pollIntervalMs !== undefined) loop.worker = startWorker(orchestrator, settings, { wakeUpFrom: pool });
    loops.push(loop);
    return loop;
  };
  const stopLoop = async (loop: Loop) => {
    await loop.worker?.stop();
    loop.worker = null;
    await loop.pool.end();
    loops.splice(loops.indexOf(loop), 1);
  };
  const listenerPids = async () => (await queryRows<{ pid: number }>(app.db.pool,
    'select pid from pg_stat_activity where datname = current_database() and application_name = $1', [WAKE_UP_APPLICATION_NAME])).map((r) => r.pid);
  /** Until `n` listeners are connected, and then long enough for each to have read the others. */
  const listenersSettled = async (n: number) => {
    await until(`${n} listeners`, async () => (await listenerPids()).length === n);
    await sleep(MEMBERS_REFRESH_MS + 300);
  };
  /** An order of three managed routers (TASKS tasks, all `internal`): its id. */
  const submit = async (): Promise<string> => {
    const res = await call(app.server, KEY, 'POST', `/accounts/${accountId}/orders`, { items: [1, 2, 3].map(() => ({ action: 'ADD', offeringId: router })) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.orderId;
  };
  const orderState = async (orderId: string) => {
    const [order] = await queryRows<{ status: string }>(app.db.pool, 'select status from product_order where order_id = $1', [orderId]);
    const tasks = await queryRows<{ status: string; attempts: number }>(app.db.pool, 'select status, attempts from fulfillment_task where order_id = $1 order by task_number', [orderId]);
    const items = await queryRows<{ status: string }>(app.db.pool, 'select status from order_item where order_id = $1 order by item_number', [orderId]);
    return { status: order.status, items: items.map((i) => i.status), tasks };
  };
  const completed = (orderId: string) => until(`order ${orderId} completed`, async () => {
    const state = await orderState(orderId);
    return state.status === 'completed' ? state : undefined;
  });
  const assertCompletedOnce = (state: Awaited<ReturnType<typeof orderState>>) => {
    assert.deepEqual(state, { status: 'completed', items: ['completed', 'completed', 'completed'], tasks: state.tasks.map(() => ({ status: 'done', attempts: 1 })) });
    assert.equal(state.tasks.length, TASKS);
  };

  before(async () => {
    app = await createTestApp({ fulfillment: settingsOf(NO_POLL_MS) });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const offerings = (await call(app.server, KEY, 'GET', '/product-offerings?limit=200')).body.items;
    router = offerings.find((o: any) => o.body.code === 'managed-router').id;
  });
  after(async () => {
    for (const loop of [...loops]) await stopLoop(loop);
    await app.close();
  });

  test('the payload names the order; a payload that names none is a look', () => {
    const a: ReadyAnnouncement = { tenantId: 't1', accountId: 'a1', orderId: 'o1', correlationId: 'c 1', provisioners: { internal: 3, http: 1 } };
    assert.deepEqual(parseAnnouncement(announcementPayload(a)), a);
    assert.equal(parseAnnouncement(''), null);
    assert.equal(parseAnnouncement(undefined), null);
    assert.equal(parseAnnouncement('{"o":"x"}'), null);
    assert.equal(parseAnnouncement('not json'), null);
  });

  test('every listener picks the same owner for an order, and orders spread over the listeners', () => {
    const members = [30, 10, 20];
    const owners = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const orderId = `0190a1b2-0000-7000-8000-${String(i).padStart(12, '0')}`;
      const owner = ownerOf(orderId, members)!;
      assert.equal(ownerOf(orderId, [...members].reverse()), owner, 'the members in any order');
      owners.set(owner, (owners.get(owner) ?? 0) + 1);
    }
    assert.deepEqual([...owners.keys()].sort(), [10, 20, 30]);
    for (const n of owners.values()) assert.ok(n > 60, `an owner of ${n} of 300 orders`);
    assert.equal(ownerOf('x', []), undefined);
  });

  test('a notification naming the order lets its worker run it without a look, in one round', async () => {
    const loop = startLoop(NO_POLL_MS);
    try {
      await listenersSettled(1);
      // At start and when its listener listens, the worker looks: nothing.
      const seen = loop.rounds.length;
      assert.ok(seen >= 1);
      assert.deepEqual(loop.rounds, loop.rounds.map(() => ({ announced: [], look: true, ran: 0 })));
      const looksBefore = loop.orchestrator.rounds.looks;

      const orderId = await submit();
      assertCompletedOnce(await completed(orderId));
      await sleep(100);
      assert.deepEqual(loop.rounds.slice(seen), [{ announced: [orderId], look: false, ran: TASKS }], 'one round, given the order, no look');
      assert.equal(loop.orchestrator.rounds.looks, looksBefore, 'the queue was not looked at');
    } finally {
      await stopLoop(loop);
    }
  });

  test('with two workers, each order wakes only its owner, which runs it without a look', async () => {
    const [first, second] = [startLoop(NO_POLL_MS), startLoop(NO_POLL_MS)];
    try {
      await listenersSettled(2);
      const seen = [first.rounds.length, second.rounds.length];
      const orders: string[] = [];
      for (let i = 0; i < 8; i++) {
        const orderId = await submit();
        assertCompletedOnce(await completed(orderId));
        orders.push(orderId);
      }
      await sleep(100);
      const [mine, theirs] = [first.rounds.slice(seen[0]), second.rounds.slice(seen[1])];
      // Each order once, in a round of its owner that looked at nothing; no round for nothing.
      assert.deepEqual([...mine, ...theirs].map((r) => r.announced).flat().sort(), [...orders].sort());
      assert.deepEqual([...mine, ...theirs].filter((r) => r.look || r.ran !== TASKS || r.announced.length !== 1), []);
      assert.ok(mine.length > 0 && theirs.length > 0, `both workers owned orders (${mine.length} and ${theirs.length} of 8)`);
    } finally {
      await stopLoop(first);
      await stopLoop(second);
    }
  });

  test('an order found locked is passed by the next looks for a moment, then run: not starved', async () => {
    const loop = startLoop();
    await until('no listener is left', async () => (await listenerPids()).length === 0);
    while ((await loop.orchestrator.runOnce('drain')) > 0);
    const held = await submit();
    const other = await submit();
    // Another transaction holds the first order's lock (an amendment, another worker's run).
    const blocker = new pg.Client({ connectionString: app.db.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select 1 from product_order where order_id = $1 for update', [held]);
      assert.equal(await loop.orchestrator.runOnce('passing'), TASKS, 'the other order ran; the held one was passed');
      assert.equal((await orderState(other)).status, 'completed');
      assert.equal(await loop.orchestrator.runOnce('passing'), 0, 'within the moment, the look passes it (and does not try its lock)');
      await blocker.query('commit');
      assert.deepEqual((await orderState(held)).tasks, Array.from({ length: TASKS }, () => ({ status: 'pending', attempts: 0 })), 'nothing of it ran yet');
      await sleep(250);
      assert.equal(await loop.orchestrator.runOnce('passing'), TASKS, 'after the moment, the next look runs it');
    } finally {
      await blocker.end();
    }
    assertCompletedOnce(await orderState(held));
    assertCompletedOnce(await orderState(other));
    await stopLoop(loop);
  });

  test('an order whose owner does not run it (a listener that died, a lost notification) is run by a poll', async () => {
    // A listener that never runs anything: it owns about half the orders, as a worker that died
    // would until the others read the listeners again.
    const ghost = new pg.Client({ connectionString: app.db.url, application_name: WAKE_UP_APPLICATION_NAME });
    await ghost.connect();
    await ghost.query('listen tenure_tasks_ready');
    const loop = startLoop(400);
    try {
      await listenersSettled(2);
      const members = await listenerPids();
      const ghostOwns: string[] = [];
      const loopOwns: string[] = [];
      for (let i = 0; i < 6 || ghostOwns.length === 0 || loopOwns.length === 0; i++) {
        const orderId = await submit();
        const started = Date.now();
        const state = await completed(orderId);
        assertCompletedOnce(state);
        (ownerOf(orderId, members) === (ghost as unknown as { processID: number }).processID ? ghostOwns : loopOwns).push(orderId);
        assert.ok(Date.now() - started < 400 + 3_000, `completed ${Date.now() - started} ms after submission (poll 400 ms)`);
        assert.ok(i < 40, 'both listeners owned some orders');
      }
      // The loop was given its own orders, never the ghost's: those ran in its looks (the poll).
      const given = new Set(loop.rounds.flatMap((r) => r.announced));
      for (const orderId of loopOwns) assert.ok(given.has(orderId), `order ${orderId} was given to its owner`);
      for (const orderId of ghostOwns) assert.ok(!given.has(orderId), `order ${orderId}, the ghost's, was left to it`);
      assert.ok(loop.rounds.filter((r) => r.look && r.ran > 0).length >= ghostOwns.length, 'the ghost\'s orders ran in looks');
    } finally {
      await ghost.end();
      await stopLoop(loop);
    }
  });
});
