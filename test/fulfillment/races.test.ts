/**
 * Outcomes racing on one fulfillment task — the last task of an ADD item, whose outcome
 * completes (or fails) the item and the order:
 *
 * 1. two results posted at once to POST /fulfillment/tasks/{id}/result for a waiting `manual`
 *    task (real parallel HTTP requests);
 * 2. a worker's outcome recorded at the moment a result is posted for its running task;
 * 3. two workers (two orchestrators on two pools, as two processes) recording one task after
 *    the first one's lease ran out and the second took the task over.
 *
 * Each time exactly one outcome is recorded, and the task, the item, the order and the
 * installed base end in the one state that outcome means: one history row per transition, one
 * outbox event per change, one service instance, no guard left, a clean `tenure check`.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createOrchestrator } from '../../src/app.ts';
import { DEFAULT_SETTINGS, type FulfillmentSettings } from '../../src/fulfillment/orchestrator.ts';
import { ProvisionerRegistry, type Provisioner, type ProvisioningResult, type ProvisioningTask } from '../../src/fulfillment/provisioner.ts';
import { InternalProvisioner, ManualProvisioner } from '../../src/fulfillment/provisioners.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { createPool, queryOne, queryRows, type Pool } from '../../src/platform/db.ts';
import { createTestApp, drainFulfillment, type TestApp } from '../helpers/app.ts';
import { createAccount, ensureFixtureCatalog } from '../helpers/fixtures.ts';

/**
 * A provisioner whose `activate` calls wait until the test answers them, so that the test
 * decides the moment each worker's outcome is recorded. Other steps are done at once.
 */
class GatedProvisioner implements Provisioner {
  // Not 0: its calls wait for the test, so its tasks must not run inside their order's transaction (decision 0019).
  readonly timeoutMs = 1_000;
  readonly waiting: { task: ProvisioningTask; answer: (result: ProvisioningResult) => void }[] = [];
  code(): string {
    return 'gated';
  }
  async provision(task: ProvisioningTask): Promise<ProvisioningResult> {
    if (task.step !== 'activate') return { outcome: 'done', externalId: `svc-${task.taskId.slice(0, 8)}`, data: { vlan: 100 } };
    return new Promise((answer) => this.waiting.push({ task, answer }));
  }
  /** Resolves when `count` activate calls are waiting for an answer. */
  async calls(count: number): Promise<ProvisioningTask[]> {
    for (let i = 0; i < 1_000 && this.waiting.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(this.waiting.length, count, `${count} activate call(s) waiting`);
    return this.waiting.map((w) => w.task);
  }
  /** After a failed round: answers whatever still waits, so that its worker ends. */
  abandon(): void {
    for (const c of this.waiting.splice(0)) c.answer({ outcome: 'failed', code: 'abandoned', message: 'the test ended', retryable: false });
  }
  /** Answers every waiting call, all at once; call i gets results[i]. */
  answerAll(results: ProvisioningResult[]): void {
    const calls = this.waiting.splice(0);
    assert.equal(calls.length, results.length);
    calls.forEach((c, i) => c.answer(results[i]));
  }
}

type Outcome = { outcome: 'done'; externalId: string } | { outcome: 'failed'; code: string };

/** The shared checks: an app with the fixture catalog, an account, real HTTP, and what an ADD item leaves. */
function harness(options: Parameters<typeof createTestApp>[0]) {
  const h = {
    app: undefined as unknown as TestApp,
    accountId: '',
    offeringId: '',
    baseUrl: '',

    async start() {
      h.app = await createTestApp(options);
      h.offeringId = (await ensureFixtureCatalog(h.app.services, h.app.ctx)).productOfferingId;
      h.accountId = (await createAccount(h.app.services, h.app.ctx)).accountId;
      await h.app.server.listen({ port: 0, host: '127.0.0.1' });
      h.baseUrl = `http://127.0.0.1:${(h.app.server.addresses()[0] as AddressInfo).port}`;
    },

    /** A real HTTP request to the listening server. */
    async http(method: 'GET' | 'POST', path: string, body?: unknown) {
      const response = await fetch(h.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${h.app.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.json() as any };
    },

    async submitAdd() {
      const res = await h.http('POST', `/accounts/${h.accountId}/orders`, { items: [{ action: 'ADD', offeringId: h.offeringId, configuration: { bandwidthMbps: 1000 } }] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { orderId: string; items: { itemId: string; productInstanceId: string }[] };
    },

    async tasks(orderId: string) {
      const res = await h.http('GET', `/orders/${orderId}/tasks`);
      assert.equal(res.status, 200);
      return res.body.items as any[];
    },

    /** Result audit rows of one task: one per posted result that was applied. */
    async resultAudits(taskId: string) {
      return (await queryOne<{ n: number }>(h.app.db.pool, `select count(*)::int as n from audit_log where action = 'fulfillment.task.result' and target_id = $1`, [taskId]))!.n;
    },

    /** Everything the ADD item of `orderId` left, checked against the one recorded outcome of its activate task. */
    async assertSettled(orderId: string, recorded: Outcome, label: string) {
      const pool = h.app.db.pool;
      const done = recorded.outcome === 'done';
      const order = (await h.http('GET', `/orders/${orderId}`)).body;
      assert.equal(order.status, done ? 'completed' : 'failed', label);
      assert.equal(order.items.length, 1);
      const [item] = order.items;
      assert.equal(item.status, done ? 'completed' : 'failed', label);
      if (!done) assert.equal(item.error.code, recorded.code, label);
      const productId = item.productInstanceId;

      const tasks = await h.tasks(orderId);
      assert.deepEqual(tasks.map((t) => [t.step, t.status]), [['configure', 'done'], ['activate', done ? 'done' : 'failed']], label);
      const [configure, activate] = tasks;
      if (done) assert.equal(activate.externalId, recorded.externalId, `${label}: the recorded outcome is the winner's`);
      else assert.equal(activate.lastError.code, recorded.code, label);
      assert.deepEqual(await queryOne(pool, 'select locked_by, locked_until from fulfillment_task where task_id = $1', [activate.taskId]), { locked_by: null, locked_until: null }, 'no lease left on an ended task');

      // The instance: created, activation pending, then activated or failed — once each.
      const product = await queryOne<any>(pool, 'select status, version from product_instance where product_instance_id = $1', [productId]);
      assert.deepEqual(product, { status: done ? 'ACTIVE' : 'ERROR', version: 3 }, label);
      const history = await queryRows<any>(pool, 'select version, change_type from product_instance_history where product_instance_id = $1 order by version', [productId]);
      assert.deepEqual(history.map((r) => r.change_type), ['CREATED', 'ACTIVATION_STARTED', done ? 'ACTIVATED' : 'ACTIVATION_FAILED'], label);
      const productEvents = await queryRows<any>(pool, 'select event_type, aggregate_version from outbox_event where aggregate_id = $1 order by position', [productId]);
      assert.deepEqual(productEvents.map((e) => [e.event_type, e.aggregate_version]), [
        ['ProductInstanceCreated', 1], ['ProductInstanceActivationPending', 2], [done ? 'ProductInstanceActivated' : 'ProductInstanceActivationFailed', 3],
      ], label);

      // Services: the configured one, attached once at completion (with its task's external id); none after a failure.
      const services = await queryRows<any>(pool, 'select service_instance_id, external_service_id, status from service_instance where product_instance_id = $1', [productId]);
      if (done) {
        assert.equal(services.length, 1, `${label}: one service instance`);
        assert.equal(services[0].external_service_id, configure.externalId);
        assert.equal(services[0].status, 'ACTIVE');
        const serviceHistory = await queryRows<any>(pool, 'select version from service_instance_history where service_instance_id = $1 order by version', [services[0].service_instance_id]);
        const serviceEvents = await queryRows<any>(pool, 'select aggregate_version from outbox_event where aggregate_id = $1 order by position', [services[0].service_instance_id]);
        assert.deepEqual(serviceEvents.map((e) => e.aggregate_version), serviceHistory.map((r) => r.version), 'one event per service version');
      } else {
        assert.deepEqual(services, [], label);
      }
      assert.deepEqual(await queryRows(pool, 'select 1 from resource_instance r join service_instance s on s.service_instance_id = r.service_instance_id where s.product_instance_id = $1', [productId]), []);
      assert.deepEqual(await queryRows(pool, `select 1 from asset_operation_guard where product_instance_id = $1 and status <> 'RELEASED'`, [productId]), [], 'the guard is released');

      // The order and its item moved once through each state (rows of one instant have no
      // order among themselves, so they are compared as sets); one event per order change.
      const final = done ? 'completed' : 'failed';
      const changes = await queryRows<any>(pool, 'select item_id, from_status, to_status from order_state_change where order_id = $1', [orderId]);
      const of = (itemId: string | null) => changes.filter((c) => c.item_id === itemId).map((c) => `${c.from_status}>${c.to_status}`).sort();
      const once = ['null>acknowledged', 'acknowledged>inProgress', `inProgress>${final}`].sort();
      assert.deepEqual(of(null), once, label);
      assert.deepEqual(of(item.itemId), once, label);
      const orderEvents = await queryRows<any>(pool, 'select event_type, aggregate_version, payload from outbox_event where aggregate_id = $1 order by position', [orderId]);
      assert.deepEqual(orderEvents.map((e) => [e.event_type, e.payload.status, e.aggregate_version]), [
        ['ProductOrderAcknowledged', 'acknowledged', 1], ['ProductOrderStateChanged', 'inProgress', 2], ['ProductOrderStateChanged', final, 3],
      ], label);
      return { activate };
    },

    async assertClean() {
      const report = await checkAllTenants(h.app.db.pool, h.app.clock.now());
      assert.deepEqual(report.findings, [], 'tenure check is clean');
    },
  };
  return h;
}

describe('two results posted at once for a waiting manual task', () => {
  const h = harness({ poolSize: 12 });
  before(() => h.start());
  after(() => h.app.close());

  const ROUNDS = 12;
  test(`${ROUNDS} rounds: one result is recorded; a different second one is 409, the same one a no-op`, { timeout: 120_000 }, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await h.submitAdd();
      // The manual configure task waits; its operator answers; then the activate task waits.
      await drainFulfillment(h.app);
      const [configure] = (await h.tasks(order.orderId)).filter((t) => t.status === 'waiting');
      assert.equal(configure.step, 'configure');
      assert.equal((await h.http('POST', `/fulfillment/tasks/${configure.taskId}/result`, { outcome: 'done', externalId: `svc-${round}`, data: { vlan: round } })).status, 200);
      await drainFulfillment(h.app);
      const activate = (await h.tasks(order.orderId)).find((t) => t.step === 'activate');
      assert.equal(activate.status, 'waiting');

      type Posted = { outcome: 'done'; externalId: string } | { outcome: 'failed'; code: string; message: string };
      const failed: Posted = { outcome: 'failed', code: `no-port-${round}`, message: 'no port free at the exchange' };
      const doneA: Posted = { outcome: 'done', externalId: `act-a-${round}` };
      const doneB: Posted = { outcome: 'done', externalId: `act-b-${round}` };
      const pair = ([[doneA, failed], [failed, doneA], [doneA, doneB]] as [Posted, Posted][])[round % 3];
      const answers = await Promise.all(pair.map((body) => h.http('POST', `/fulfillment/tasks/${activate.taskId}/result`, body)));
      const label = `round ${round}: ${answers.map((a) => `${a.status} ${a.body.status ?? a.body.type}`).join(', ')}`;

      // Which one was recorded: the task says, and only one posted outcome may match it.
      const after = (await h.tasks(order.orderId)).find((t) => t.step === 'activate');
      const matches = (p: Posted) => (p.outcome === 'done' ? after.status === 'done' && after.externalId === p.externalId : after.status === 'failed' && after.lastError?.code === p.code);
      assert.equal(pair.filter(matches).length, 1, `${label}: exactly one posted outcome is the task's`);
      const recordedIndex = pair.findIndex(matches);
      const other = 1 - recordedIndex;
      assert.equal(answers[recordedIndex].status, 200, label);
      assert.equal(answers[recordedIndex].body.status, after.status);
      if (pair[other].outcome === pair[recordedIndex].outcome) {
        // The same outcome again: answered with the task as recorded, changing nothing.
        assert.equal(answers[other].status, 200, label);
        assert.equal(answers[other].body.externalId, after.externalId, `${label}: the no-op answers the first result`);
      } else {
        assert.equal(answers[other].status, 409, label);
        assert.match(answers[other].contentType, /^application\/problem\+json/);
        assert.equal(answers[other].body.type, '/problems/illegal-transition');
        assert.equal(answers[other].body.id, activate.taskId);
        assert.equal(answers[other].body.state, after.status);
      }
      assert.equal(await h.resultAudits(activate.taskId), 1, `${label}: one posted result applied`);
      const recorded = pair[recordedIndex];
      await h.assertSettled(order.orderId, recorded.outcome === 'done' ? { outcome: 'done', externalId: recorded.externalId } : { outcome: 'failed', code: recorded.code }, label);
    }
    await h.assertClean();
  });
});

describe('a worker\'s outcome and a posted result for its running task, at the same moment', () => {
  const gated = new GatedProvisioner();
  const h = harness({ poolSize: 12, provisioners: [gated], fulfillment: { routing: { defaultProvisioner: 'gated', byStep: { renew: 'internal' }, maxAttempts: 5 } } });
  before(() => h.start());
  after(async () => {
    gated.abandon();
    await h.app.close();
  });

  const ROUNDS = 16;
  test(`${ROUNDS} rounds: exactly one of the two is recorded, the other dropped or refused`, { timeout: 120_000 }, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await h.submitAdd();
      // The worker runs configure (done at once), then claims activate and calls out.
      const worker = drainFulfillment(h.app, `worker-${round}`);
      const [call] = await gated.calls(1);
      const running = (await h.tasks(order.orderId)).find((t) => t.step === 'activate');
      assert.equal(running.taskId, call.taskId);
      assert.equal(running.status, 'running');

      const fromWorker: Outcome = round % 2 === 0 ? { outcome: 'done', externalId: `worker-${round}` } : { outcome: 'failed', code: `worker-failed-${round}` };
      const posted: Outcome = round % 4 < 2 ? { outcome: 'done', externalId: `posted-${round}` } : { outcome: 'failed', code: `posted-failed-${round}` };
      const [answer] = await Promise.all([
        h.http('POST', `/fulfillment/tasks/${call.taskId}/result`, posted.outcome === 'done' ? posted : { ...posted, message: 'the operator says it failed' }),
        // The worker's answer 0 to 10 ms after the post leaves (each delay with the four pairs
        // of outcomes): an HTTP request takes about that long, so either may take the order lock first.
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, [0, 2, 5, 10][Math.floor(round / 4) % 4]));
          gated.answerAll([fromWorker.outcome === 'done'
            ? { outcome: 'done', externalId: fromWorker.externalId }
            : { outcome: 'failed', code: fromWorker.code, message: 'the network refused', retryable: false }]);
        })(),
      ]);
      await worker;
      const label = `round ${round} (worker ${fromWorker.outcome}, posted ${posted.outcome}): ${answer.status} ${answer.body.status ?? answer.body.type}`;

      const after = (await h.tasks(order.orderId)).find((t) => t.step === 'activate');
      const matches = (o: Outcome) => (o.outcome === 'done' ? after.status === 'done' && after.externalId === o.externalId : after.status === 'failed' && after.lastError?.code === o.code);
      assert.ok(matches(fromWorker) !== matches(posted), `${label}: exactly one outcome recorded (task: ${after.status} ${after.externalId ?? after.lastError?.code})`);
      const recorded = matches(posted) ? posted : fromWorker;
      const audits = await h.resultAudits(call.taskId);
      if (recorded === posted) {
        assert.equal(answer.status, 200, label);
        assert.equal(audits, 1, 'the posted result was applied, once');
      } else if (posted.outcome === fromWorker.outcome) {
        assert.equal(answer.status, 200, `${label}: the same outcome after the worker's is a no-op`);
        assert.equal(audits, 0);
      } else {
        assert.equal(answer.status, 409, label);
        assert.equal(answer.body.type, '/problems/illegal-transition');
        assert.equal(audits, 0);
      }
      assert.equal(after.attempts, 1, 'one attempt');
      await h.assertSettled(order.orderId, recorded, label);
    }
    await h.assertClean();
  });
});

describe('two workers recording one task after a lease takeover', () => {
  const gated = new GatedProvisioner();
  const settings: FulfillmentSettings = { ...DEFAULT_SETTINGS, routing: { defaultProvisioner: 'gated', byStep: { renew: 'internal' }, maxAttempts: 5 }, leaseMs: 10_000 };
  const h = harness({ poolSize: 12, provisioners: [gated], fulfillment: settings });
  let secondPool: Pool;
  before(async () => {
    await h.start();
    secondPool = createPool(h.app.db.url, 10);
  });
  after(async () => {
    gated.abandon();
    await secondPool.end();
    await h.app.close();
  });

  const ROUNDS = 8;
  test(`${ROUNDS} rounds: only the lease holder's outcome is recorded; the first worker's late one is dropped`, { timeout: 120_000 }, async () => {
    // The second worker is another process: its own orchestrator and pool, the same provisioners.
    const second = createOrchestrator(secondPool, h.app.clock, {
      provisioners: { registry: new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner(), gated]), callbackSecrets: new Map() },
      fulfillment: settings,
    });
    for (let round = 0; round < ROUNDS; round++) {
      const order = await h.submitAdd();
      const first = drainFulfillment(h.app, `first-${round}`);
      const [firstCall] = await gated.calls(1);
      assert.equal(firstCall.attempt, 1);

      // The first worker stalls past its lease: the second takes the task over and calls out too.
      h.app.clock.advance(settings.leaseMs! + 1_000);
      const secondRuns = (async () => {
        let ran = 0;
        while ((await second.runOnce(`second-${round}`)) > 0) ran++;
        return ran;
      })();
      const calls = await gated.calls(2);
      assert.equal(calls[1].taskId, firstCall.taskId, 'the same task');
      assert.equal(calls[1].attempt, 2);
      assert.equal(calls[1].idempotencyKey, firstCall.idempotencyKey, 'with the same idempotency key');
      const taken = await queryOne<any>(h.app.db.pool, 'select status, locked_by from fulfillment_task where task_id = $1', [firstCall.taskId]);
      assert.equal(taken.status, 'running');
      assert.match(taken.locked_by, new RegExp(`^second-${round}:`), 'the lease is the second worker\'s now');

      // Both answer at once; the outcomes differ so that the recorded one is recognisable.
      const firstResult: ProvisioningResult = round % 2 === 0 ? { outcome: 'done', externalId: `first-${round}` } : { outcome: 'failed', code: `first-failed-${round}`, message: 'late', retryable: false };
      const secondOutcome: Outcome = round % 4 < 2 ? { outcome: 'done', externalId: `second-${round}` } : { outcome: 'failed', code: `second-failed-${round}` };
      gated.answerAll([firstResult, secondOutcome.outcome === 'done'
        ? { outcome: 'done', externalId: secondOutcome.externalId }
        : { outcome: 'failed', code: secondOutcome.code, message: 'refused', retryable: false }]);
      await Promise.all([first, secondRuns]);

      const label = `round ${round} (first ${firstResult.outcome}, second ${secondOutcome.outcome})`;
      const { activate } = await h.assertSettled(order.orderId, secondOutcome, label);
      assert.equal(activate.attempts, 2, 'the takeover was a second attempt');
      assert.equal(await h.resultAudits(firstCall.taskId), 0);
    }
    await h.assertClean();
  });

  test('a worker\'s outcome for a task it no longer holds changes nothing, even without a race', { timeout: 60_000 }, async () => {
    const order = await h.submitAdd();
    const first = drainFulfillment(h.app, 'stalled');
    const [call] = await gated.calls(1);
    h.app.clock.advance(settings.leaseMs! + 1_000);
    // Taken over and finished by the second worker before the first one answers.
    const second = createOrchestrator(secondPool, h.app.clock, {
      provisioners: { registry: new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner(), gated]), callbackSecrets: new Map() },
      fulfillment: settings,
    });
    const secondRuns = second.runOnce('takeover');
    await gated.calls(2);
    const [stalled, takeover] = gated.waiting.splice(0);
    takeover.answer({ outcome: 'done', externalId: 'takeover' });
    await secondRuns;
    const before = await h.assertSettled(order.orderId, { outcome: 'done', externalId: 'takeover' }, 'taken over');
    const snapshot = async () => queryRows(h.app.db.pool, `
      select (select count(*)::int from outbox_event) as outbox, (select count(*)::int from product_instance_history) as history,
             (select count(*)::int from order_state_change) as changes, (select count(*)::int from service_instance) as services`);
    const counts = await snapshot();
    stalled.answer({ outcome: 'failed', code: 'stalled-late', message: 'too late', retryable: false });
    await first;
    assert.deepEqual(await snapshot(), counts, 'the late outcome wrote nothing');
    const { activate } = await h.assertSettled(order.orderId, { outcome: 'done', externalId: 'takeover' }, 'after the late answer');
    assert.deepEqual(activate, before.activate);
    assert.equal(call.taskId, activate.taskId);
    await h.assertClean();
  });
});
