/**
 * Two order submissions racing on one product instance, as real parallel HTTP requests to a
 * listening server (each on its own database connection). Exactly one wins (201); the other
 * is the documented 409 — `operation-in-progress` naming the winner, or
 * `concurrent-modification` when it read the version the winner had just moved — and the
 * installed base, the guards, the orders, the tasks, the history and the outbox show the
 * winner's effect only. Repeated over many rounds so that the interleavings really vary.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryOne, queryRows } from '../../src/platform/db.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, ensureFixtureCatalog } from '../helpers/fixtures.ts';

const ROUNDS = 20;

type Item = { action: 'MODIFY' | 'DISCONNECT' | 'SUSPEND'; configuration?: Record<string, unknown>; reason?: string };

/** The pairs raced, one per round in turn. */
const PAIRS: [Item, Item][] = [
  [{ action: 'MODIFY', configuration: { bandwidthMbps: 2000 } }, { action: 'MODIFY', configuration: { bandwidthMbps: 3000 } }],
  [{ action: 'DISCONNECT', reason: 'moving away' }, { action: 'SUSPEND', reason: 'non-payment' }],
  [{ action: 'MODIFY', configuration: { staticIp: true } }, { action: 'DISCONNECT' }],
  [{ action: 'SUSPEND' }, { action: 'SUSPEND' }],
];

describe('two orders racing on one product instance', () => {
  let app: TestApp;
  let baseUrl: string;
  let accountId: string;

  /** A real HTTP POST to the listening server. */
  async function post(path: string, body: unknown, idempotencyKey: string) {
    const response = await fetch(baseUrl + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.adminKey}`, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      body: JSON.stringify(body),
    });
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', replayed: response.headers.get('idempotent-replayed'), body: await response.json() as any };
  }

  before(async () => {
    app = await createTestApp({ poolSize: 12 });
    await ensureFixtureCatalog(app.services, app.ctx);
    ({ accountId } = await createAccount(app.services, app.ctx));
    await app.server.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(app.server.addresses()[0] as AddressInfo).port}`;
  });
  after(() => app.close());

  test(`${ROUNDS} rounds: exactly one submission wins, the other is 409, and only the winner's effect exists`, async () => {
    const seen = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const product = await activeProduct(app.services, app.ctx, accountId);
      const id = product.productInstanceId;
      assert.equal(product.version, 3);
      app.clock.advance(1_000);
      const from = (await queryOne<{ p: number }>(app.db.pool, 'select coalesce(max(position), 0)::int as p from outbox_event'))!.p;
      const auditFrom = (await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from audit_log where action = 'order.submit'`))!.n;

      const pair = PAIRS[round % PAIRS.length];
      const keys = [randomUUID(), randomUUID()];
      const bodies = pair.map((item) => ({ items: [{ ...item, productInstanceId: id, expectedVersion: 3 }] }));
      const answers = await Promise.all(bodies.map((body, i) => post(`/accounts/${accountId}/orders`, body, keys[i])));
      const label = `round ${round} (${pair.map((p) => p.action).join(' vs ')}): ${answers.map((a) => `${a.status} ${a.body.type ?? a.body.orderId}`).join(', ')}`;

      assert.deepEqual(answers.map((a) => a.status).sort(), [201, 409], label);
      const w = answers.findIndex((a) => a.status === 201);
      const winner = answers[w].body;
      const winning = pair[w];
      const loser = answers[1 - w];
      const winnerItem = winner.items[0];

      // The loser's answer: a problem document of one of the two documented conflicts.
      assert.match(loser.contentType, /^application\/problem\+json/, label);
      assert.equal(loser.body.status, 409);
      seen.set(loser.body.type, (seen.get(loser.body.type) ?? 0) + 1);
      if (loser.body.type === '/problems/operation-in-progress') {
        assert.equal(loser.body.productInstanceId, id, label);
        assert.deepEqual(loser.body.heldBy, { orderId: winner.orderId, orderItemId: winnerItem.itemId, operationType: winning.action }, label);
      } else {
        assert.equal(loser.body.type, '/problems/concurrent-modification', label);
        assert.equal(loser.body.id, id);
        assert.equal(loser.body.expectedVersion, 3);
        assert.ok(loser.body.currentVersion === 4 || loser.body.currentVersion === null, label);
      }

      // The winner's order, and no other, targets the instance.
      assert.equal(winner.status, 'acknowledged');
      assert.deepEqual(winner.items.map((i: any) => [i.action, i.productInstanceId, i.status]), [[winning.action, id, 'acknowledged']]);
      const items = await queryRows<any>(app.db.pool, 'select order_id, item_id, action from order_item where product_instance_id = $1', [id]);
      assert.deepEqual(items, [{ order_id: winner.orderId, item_id: winnerItem.itemId, action: winning.action }], label);
      const tasks = await queryRows<any>(app.db.pool, 'select distinct order_id, item_id from fulfillment_task where item_id = any ($1)', [items.map((i) => i.item_id)]);
      assert.deepEqual(tasks, [{ order_id: winner.orderId, item_id: winnerItem.itemId }], 'the winner\'s tasks only');
      const orderChanges = await queryRows<any>(app.db.pool, 'select item_id, to_status from order_state_change where order_id = $1 order by item_id nulls first', [winner.orderId]);
      assert.deepEqual(orderChanges, [{ item_id: null, to_status: 'acknowledged' }, { item_id: winnerItem.itemId, to_status: 'acknowledged' }]);

      // One active guard, the winner's.
      const guards = await queryRows<any>(app.db.pool, `select order_id, order_item_id, operation_type from asset_operation_guard where product_instance_id = $1 and status <> 'RELEASED'`, [id]);
      assert.deepEqual(guards, [{ order_id: winner.orderId, order_item_id: winnerItem.itemId, operation_type: winning.action }], label);

      // The instance: a MODIFY puts it in PENDING_MODIFICATION with the winner's change (one
      // new version); a DISCONNECT or SUSPEND only holds it until fulfillment runs.
      const instance = await queryOne<any>(app.db.pool, 'select * from product_instance where product_instance_id = $1', [id]);
      const history = await queryRows<any>(app.db.pool, 'select version, change_type, changed_by_order_item_id from product_instance_history where product_instance_id = $1 and version > 3', [id]);
      const events = await queryRows<any>(app.db.pool, 'select event_type, aggregate_id, aggregate_version, payload from outbox_event where position > $1 order by position', [from]);
      if (winning.action === 'MODIFY') {
        assert.equal(instance.status, 'PENDING_MODIFICATION');
        assert.equal(instance.version, 4);
        assert.deepEqual(instance.pending_change.configuration, winning.configuration, 'the winner\'s change, not the loser\'s');
        assert.deepEqual(instance.configuration_snapshot, { bandwidthMbps: 1000 }, 'not applied before fulfillment');
        assert.deepEqual(history, [{ version: 4, change_type: 'MODIFICATION_STARTED', changed_by_order_item_id: winnerItem.itemId }]);
        assert.deepEqual(events.map((e) => [e.event_type, e.aggregate_id, e.aggregate_version]), [
          ['ProductInstanceModificationStarted', id, 4],
          ['ProductOrderAcknowledged', winner.orderId, 1],
        ], label);
        assert.equal(events[0].payload.orderItemId, winnerItem.itemId);
      } else {
        assert.equal(instance.status, 'ACTIVE');
        assert.equal(instance.version, 3);
        assert.equal(instance.pending_change, null);
        assert.deepEqual(history, []);
        assert.deepEqual(events.map((e) => [e.event_type, e.aggregate_id, e.aggregate_version]), [['ProductOrderAcknowledged', winner.orderId, 1]], label);
      }
      assert.deepEqual(events.at(-1)!.payload.items, [{ itemId: winnerItem.itemId, action: winning.action, productInstanceId: id }]);
      const audits = (await queryOne<{ n: number }>(app.db.pool, `select count(*)::int as n from audit_log where action = 'order.submit'`))!.n;
      assert.equal(audits - auditFrom, 1, 'one submission audited');

      // Each key keeps its own answer: the winner's order, the loser's refusal.
      const again = await Promise.all(bodies.map((body, i) => post(`/accounts/${accountId}/orders`, body, keys[i])));
      assert.deepEqual(again.map((a) => a.replayed), ['true', 'true']);
      assert.deepEqual(again[w].body, winner);
      assert.deepEqual(again[1 - w].body, loser.body);
      assert.equal((await queryRows(app.db.pool, 'select 1 from order_item where product_instance_id = $1', [id])).length, 1, 'replays add nothing');
    }
    // Which conflict the loser saw depends on the interleaving; both are documented 409s.
    assert.equal([...seen.values()].reduce((a, b) => a + b, 0), ROUNDS);
    assert.ok([...seen.keys()].every((t) => t === '/problems/operation-in-progress' || t === '/problems/concurrent-modification'), JSON.stringify([...seen]));
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean after the races');
  });
});
