/**
 * Real parallel connections racing on one asset (ARCHITECTURE "Concurrency"): exactly one
 * command wins, every loser gets a conflict error, and the database holds exactly the
 * winner's writes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { queryRows } from '../../src/platform/db.ts';
import { ConcurrentModificationError, OperationInProgressError } from '../../src/platform/errors.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, orderCause } from '../helpers/fixtures.ts';

const MODIFIERS = 50;
const SUSPENDERS = 20;

describe('races on one asset', () => {
  let app: TestApp;
  let accountId: string;

  before(async () => {
    app = await createTestApp({ poolSize: 60 });
    ({ accountId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  async function snapshot(id: string) {
    const [row] = await queryRows<{ version: number; status: string; history: number; events: number; active_guards: number; guards: number }>(app.db.pool, `
      select p.version, p.status,
             (select count(*)::int from product_instance_history h where h.product_instance_id = p.product_instance_id) as history,
             (select count(*)::int from outbox_event e where e.aggregate_id = p.product_instance_id) as events,
             (select count(*)::int from asset_operation_guard g where g.product_instance_id = p.product_instance_id and g.status in ('ACTIVE', 'PENDING_RELEASE')) as active_guards,
             (select count(*)::int from asset_operation_guard g where g.product_instance_id = p.product_instance_id) as guards
        from product_instance p where p.product_instance_id = $1`, [id]);
    return row;
  }

  /** Every outcome is a win or a conflict error; anything else fails the test. */
  function classify(results: PromiseSettledResult<unknown>[]) {
    const winners = results.filter((r) => r.status === 'fulfilled');
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    for (const reason of losers) {
      assert.ok(
        reason instanceof ConcurrentModificationError || reason instanceof OperationInProgressError,
        `a loser failed with something other than a conflict: ${reason instanceof Error ? reason.stack : String(reason)}`,
      );
    }
    return { winners, losers };
  }

  test(`${MODIFIERS} parallel modification:start from different order items: exactly one wins`, async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    const before = await snapshot(id);
    assert.equal(before.version, 3);

    const causes = Array.from({ length: MODIFIERS }, () => orderCause());
    const results = await Promise.allSettled(
      causes.map((cause, i) =>
        app.services.inventory.startModification(app.ctx, id, { ...cause, expectedVersion: 3, requestedChange: { configuration: { bandwidthMbps: 2000 + i } } }),
      ),
    );
    const { winners, losers } = classify(results);
    assert.equal(winners.length, 1, `exactly one winner, got ${winners.length}`);
    assert.equal(losers.length, MODIFIERS - 1);

    const winnerIndex = results.findIndex((r) => r.status === 'fulfilled');
    const winner = causes[winnerIndex];
    const afterwards = await snapshot(id);
    assert.equal(afterwards.version, before.version + 1);
    assert.equal(afterwards.status, 'PENDING_MODIFICATION');
    assert.equal(afterwards.history, before.history + 1);
    assert.equal(afterwards.events, before.events + 1);
    assert.equal(afterwards.active_guards, 1);
    assert.equal(afterwards.guards, before.guards + 1, 'no loser left a guard row behind');

    const [guard] = await queryRows<{ order_item_id: string }>(app.db.pool, `select order_item_id from asset_operation_guard where product_instance_id = $1 and status = 'ACTIVE'`, [id]);
    assert.equal(guard.order_item_id, winner.orderItemId);
    const events = await queryRows<{ payload: any }>(app.db.pool, 'select payload from outbox_event where aggregate_id = $1 and aggregate_version = $2', [id, 4]);
    assert.equal(events.length, 1);
    assert.equal(events[0].payload.causationId, winner.orderItemId);
    const [history] = await queryRows<{ changed_by_order_item_id: string; after_state: any }>(app.db.pool, 'select * from product_instance_history where product_instance_id = $1 and version = 4', [id]);
    assert.equal(history.changed_by_order_item_id, winner.orderItemId);
    assert.deepEqual(history.after_state.pendingChange, { configuration: { bandwidthMbps: 2000 + winnerIndex } });

    // Losers that saw the winner's guard name it.
    for (const loser of losers) {
      if (loser instanceof OperationInProgressError) {
        assert.equal((loser.extensions.heldBy as { orderItemId: string }).orderItemId, winner.orderItemId);
      }
    }
  });

  test(`${SUSPENDERS} parallel suspension:apply without order ids: exactly one wins`, async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    const before = await snapshot(id);

    const results = await Promise.allSettled(
      Array.from({ length: SUSPENDERS }, (_, i) => app.services.inventory.suspend(app.ctx, id, { expectedVersion: 3, reason: `racer ${i}` })),
    );
    const { winners, losers } = classify(results);
    assert.equal(winners.length, 1, `exactly one winner, got ${winners.length}`);
    assert.equal(losers.length, SUSPENDERS - 1);

    const afterwards = await snapshot(id);
    assert.equal(afterwards.version, before.version + 1);
    assert.equal(afterwards.status, 'SUSPENDED');
    assert.equal(afterwards.history, before.history + 1);
    assert.equal(afterwards.events, before.events + 1);
    assert.equal(afterwards.active_guards, 0, 'a suspension ends its operation');
    assert.equal(afterwards.guards, before.guards + 1, "only the winner's (released) guard row remains");
  });

  test('a race between different commands on one asset still has exactly one winner', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    const before = await snapshot(id);
    const inventory = app.services.inventory;
    const attempts = Array.from({ length: 10 }, () => [
      () => inventory.startModification(app.ctx, id, { ...orderCause(), expectedVersion: 3 }),
      () => inventory.startDisconnect(app.ctx, id, { ...orderCause(), expectedVersion: 3 }),
      () => inventory.suspend(app.ctx, id, { expectedVersion: 3 }),
      () => inventory.move(app.ctx, id, { ...orderCause(), expectedVersion: 3, place: { city: 'Bandung' } }),
    ]).flat();
    const results = await Promise.allSettled(attempts.map((run) => run()));
    const { winners } = classify(results);
    assert.equal(winners.length, 1);
    const afterwards = await snapshot(id);
    assert.equal(afterwards.version, before.version + 1);
    assert.equal(afterwards.history, before.history + 1);
    assert.equal(afterwards.events, before.events + 1);
    assert.ok(afterwards.active_guards <= 1);
    assert.equal(afterwards.guards, before.guards + 1);
  });
});
