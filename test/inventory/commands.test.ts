/**
 * Service-level command tests (seed 000 §22.3): each installed-base command on a real
 * PostgreSQL, checking the state it leaves, the guard, the history rows and the outbox
 * events, and that a refused command writes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { InventoryService } from '../../src/inventory/service.ts';
import type { JsonObject } from '../../src/platform/context.ts';
import { queryOne, queryRows } from '../../src/platform/db.ts';
import { ConcurrentModificationError, IllegalTransitionError, OperationInProgressError } from '../../src/platform/errors.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, orderCause, priceSnapshot, productSnapshot, serviceSpecRef } from '../helpers/fixtures.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MINUTE = 60_000;

describe('inventory commands', () => {
  let app: TestApp;
  let inventory: InventoryService;
  let accountId: string;
  let customerId: string;

  before(async () => {
    app = await createTestApp();
    inventory = app.services.inventory;
    ({ accountId, customerId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  // ---------------------------------------------------------------- reading the database as the owner

  const rows = <R = any>(sql: string, params: unknown[] = []) => queryRows<R>(app.db.pool, sql, params);

  async function productRow(id: string) {
    return (await queryOne<any>(app.db.pool, 'select * from product_instance where product_instance_id = $1', [id]))!;
  }

  async function guardsOf(id: string) {
    return rows<{ guard_id: string; status: string; order_id: string | null; order_item_id: string | null; operation_type: string; released_at: Date | null }>(
      'select * from asset_operation_guard where product_instance_id = $1 order by acquired_at, status', [id]);
  }

  async function activeGuardsOf(id: string) {
    return (await guardsOf(id)).filter((g) => g.status === 'ACTIVE' || g.status === 'PENDING_RELEASE');
  }

  async function historyOf(id: string) {
    return rows<{ version: number; change_type: string; changed_by_order_item_id: string | null; recorded_at: Date; before_state: any; after_state: any }>(
      'select * from product_instance_history where product_instance_id = $1 order by version', [id]);
  }

  async function eventsOf(aggregateId: string) {
    return rows<{ event_id: string; event_type: string; aggregate_version: number | null; payload: any }>(
      'select * from outbox_event where aggregate_id = $1 order by position', [aggregateId]);
  }

  /** Everything a command could write about one asset, and the totals of the tables it writes to. */
  async function footprint(id: string) {
    const [totals] = await rows(`
      select (select count(*)::int from product_instance_history) as history,
             (select count(*)::int from subscription_history) as subscription_history,
             (select count(*)::int from service_instance_history) as service_history,
             (select count(*)::int from outbox_event) as outbox,
             (select count(*)::int from asset_operation_guard) as guards,
             (select count(*)::int from product_instance_relationship) as relationships,
             (select count(*)::int from audit_log) as audit`);
    return { row: await productRow(id), guards: await guardsOf(id), totals };
  }

  // ---------------------------------------------------------------- modification

  describe('modification', () => {
    test('modification:start acquires the guard and writes a seed 000 §17.1 outbox event', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const cause = orderCause();
      const requestedChange = { configuration: { bandwidthMbps: 2000 } };
      const started = await inventory.startModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3, correlationId: 'corr-123', requestedChange });
      assert.equal(started.status, 'PENDING_MODIFICATION');
      assert.equal(started.version, 4);
      assert.deepEqual(started.pendingChange, requestedChange);

      const active = await activeGuardsOf(p.productInstanceId);
      assert.equal(active.length, 1);
      assert.equal(active[0].status, 'ACTIVE');
      assert.equal(active[0].order_id, cause.orderId);
      assert.equal(active[0].order_item_id, cause.orderItemId);
      assert.equal(active[0].operation_type, 'MODIFY');

      const history = await historyOf(p.productInstanceId);
      assert.deepEqual(history.map((h) => h.version), [1, 2, 3, 4]);
      assert.equal(history[3].change_type, 'MODIFICATION_STARTED');
      assert.equal(history[3].changed_by_order_item_id, cause.orderItemId);
      assert.equal(history[3].before_state.version, 3);
      assert.equal(history[3].after_state.status, 'PENDING_MODIFICATION');

      const events = (await eventsOf(p.productInstanceId)).filter((e) => e.aggregate_version === 4);
      assert.equal(events.length, 1);
      const event = events[0];
      assert.equal(event.event_type, 'ProductInstanceModificationStarted');
      const payload = event.payload;
      for (const field of ['eventId', 'eventType', 'eventVersion', 'occurredAt', 'correlationId', 'causationId', 'customerId', 'accountId',
        'productInstanceId', 'subscriptionId', 'previousVersion', 'newVersion', 'status', 'changeSummary']) {
        assert.ok(field in payload, `payload lacks ${field}`);
      }
      assert.match(payload.eventId, UUID);
      assert.equal(payload.eventId, event.event_id);
      assert.equal(payload.eventType, 'ProductInstanceModificationStarted');
      assert.equal(payload.eventVersion, 1);
      assert.equal(payload.occurredAt, app.clock.now().toISOString());
      assert.equal(payload.correlationId, 'corr-123');
      assert.equal(payload.causationId, cause.orderItemId);
      assert.equal(payload.customerId, customerId);
      assert.equal(payload.accountId, accountId);
      assert.equal(payload.productInstanceId, p.productInstanceId);
      assert.equal(payload.subscriptionId, p.subscriptionId);
      assert.ok(p.subscriptionId);
      assert.equal(payload.previousVersion, 3);
      assert.equal(payload.newVersion, 4);
      assert.equal(payload.status, 'PENDING_MODIFICATION');
      assert.equal(payload.changeSummary.operation, 'MODIFY');
      assert.deepEqual(payload.changeSummary.changedCharacteristics, []);
      assert.deepEqual(payload.changeSummary.changedPrices, []);
    });

    test('modification:complete keeps the id, bumps the version, applies the configuration delta and releases the guard', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId, { configuration: { bandwidthMbps: 1000, staticIp: true, vlan: 120 } });
      const id = p.productInstanceId;
      const cause = orderCause();
      const newPrice = priceSnapshot('2500000000');
      await inventory.startModification(app.ctx, id, { ...cause, expectedVersion: 3, requestedChange: { configuration: { bandwidthMbps: 2000, staticIp: null, sla: 'gold' }, price: newPrice } });
      app.clock.advance(MINUTE);
      const done = await inventory.completeModification(app.ctx, id, { ...cause, expectedVersion: 4, correlationId: 'corr-done' });

      assert.equal(done.productInstanceId, id);
      assert.equal(done.status, 'ACTIVE');
      assert.equal(done.version, 5);
      assert.deepEqual(done.configuration, { bandwidthMbps: 2000, vlan: 120, sla: 'gold' });
      assert.deepEqual(done.price, newPrice);
      assert.equal(done.pendingChange, null);
      assert.equal(done.subscriptionId, p.subscriptionId);
      const { relationships: _relationships, activeOperation, ...stored } = await app.services.queries.productInstance(app.ctx, id);
      assert.deepEqual(stored, done, 'what the command returned is what was stored');
      assert.equal(activeOperation, null);

      const count = await rows<{ n: number }>('select count(*)::int as n from product_instance where product_instance_id = $1', [id]);
      assert.equal(count[0].n, 1, 'a modification never creates a second product instance');

      const guards = await guardsOf(id);
      assert.equal((await activeGuardsOf(id)).length, 0);
      const modifyGuard = guards.find((g) => g.order_item_id === cause.orderItemId)!;
      assert.equal(modifyGuard.status, 'RELEASED');
      assert.equal(modifyGuard.released_at!.toISOString(), app.clock.now().toISOString());
      assert.equal(guards.filter((g) => g.order_item_id === cause.orderItemId).length, 1, 'start and complete share one guard');

      const history = await historyOf(id);
      assert.deepEqual(history.map((h) => [h.version, h.change_type]).slice(3), [[4, 'MODIFICATION_STARTED'], [5, 'MODIFIED']]);
      const [event] = (await eventsOf(id)).filter((e) => e.aggregate_version === 5);
      assert.equal(event.event_type, 'ProductInstanceModified');
      assert.equal(event.payload.previousVersion, 4);
      assert.equal(event.payload.newVersion, 5);
      assert.equal(event.payload.status, 'ACTIVE');
      assert.equal(event.payload.correlationId, 'corr-done');
      assert.equal(event.payload.changeSummary.operation, 'MODIFY');
      assert.deepEqual(event.payload.changeSummary.changedCharacteristics, ['bandwidthMbps', 'sla', 'staticIp']);
      assert.deepEqual(event.payload.changeSummary.changedPrices, ['fixture-monthly']);
    });

    test('modification:complete applies the change given at completion over the one requested at start', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const cause = orderCause();
      await inventory.startModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3, requestedChange: { configuration: { bandwidthMbps: 2000 } } });
      const done = await inventory.completeModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 4, change: { configuration: { bandwidthMbps: 500 }, name: 'Business Fiber 500' } });
      assert.deepEqual(done.configuration, { bandwidthMbps: 500 });
      assert.equal(done.name, 'Business Fiber 500');
    });

    test('an unchanged price sent with its keys in another order is not reported as a changed price', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const cause = orderCause();
      await inventory.startModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3 });
      // Same value as the fixture's price; jsonb stores the nested keys in its own order.
      const reversed = (o: object) => Object.fromEntries(Object.entries(o).reverse()) as JsonObject;
      const fixture = priceSnapshot();
      const samePrice = { lines: fixture.lines.map(reversed), currency: fixture.currency };
      await inventory.completeModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 4, change: { price: samePrice, configuration: { bandwidthMbps: 2000 } } });
      const [event] = (await eventsOf(p.productInstanceId)).filter((e) => e.aggregate_version === 5);
      assert.deepEqual(event.payload.changeSummary.changedPrices, []);
      assert.deepEqual(event.payload.changeSummary.changedCharacteristics, ['bandwidthMbps']);
    });

    test('modification:cancel returns to ACTIVE with the configuration untouched and releases the guard', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const cause = orderCause();
      await inventory.startModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3, requestedChange: { configuration: { bandwidthMbps: 2000 } } });
      const cancelled = await inventory.cancelModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 4 });
      assert.equal(cancelled.status, 'ACTIVE');
      assert.equal(cancelled.version, 5);
      assert.deepEqual(cancelled.configuration, p.configuration);
      assert.equal(cancelled.pendingChange, null);
      assert.equal((await activeGuardsOf(p.productInstanceId)).length, 0);
    });

    test('a stale expectedVersion gets ConcurrentModificationError and writes nothing', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const before = await footprint(p.productInstanceId);
      const error = await inventory.startModification(app.ctx, p.productInstanceId, { ...orderCause(), expectedVersion: 2 }).then(
        () => assert.fail('a stale version must be refused'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ConcurrentModificationError, String(error));
      assert.equal(error.type, 'concurrent-modification');
      assert.deepEqual(error.extensions, { resource: 'product instance', id: p.productInstanceId, expectedVersion: 2, currentVersion: 3 });
      await assert.rejects(inventory.suspend(app.ctx, p.productInstanceId, { expectedVersion: 4 }), ConcurrentModificationError);
      assert.deepEqual(await footprint(p.productInstanceId), before);
      assert.equal((await productRow(p.productInstanceId)).version, 3);
    });

    test('another order item cannot act on an asset whose guard the first one holds', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const id = p.productInstanceId;
      const first = orderCause();
      const second = orderCause();
      await inventory.startModification(app.ctx, id, { ...first, expectedVersion: 3, requestedChange: { configuration: { bandwidthMbps: 2000 } } });
      const before = await footprint(id);

      // Starting a second modification: the state already says no.
      await assert.rejects(
        inventory.startModification(app.ctx, id, { ...second, expectedVersion: 4 }),
        (e: unknown) => e instanceof IllegalTransitionError && e.extensions.state === 'PENDING_MODIFICATION',
      );
      // Commands the state allows are refused by the guard, naming the holder.
      for (const attempt of [
        () => inventory.completeModification(app.ctx, id, { ...second, expectedVersion: 4 }),
        () => inventory.cancelModification(app.ctx, id, { ...second, expectedVersion: 4 }),
        () => inventory.completeModification(app.ctx, id, { expectedVersion: 4 }),
        () => inventory.attachServiceInstance(app.ctx, id, { ...second, ...serviceSpecRef() }),
      ]) {
        const error = await attempt().then(() => assert.fail('must be refused'), (e: unknown) => e);
        assert.ok(error instanceof OperationInProgressError, String(error));
        assert.equal(error.type, 'operation-in-progress');
        const heldBy = error.extensions.heldBy as { orderId: string; orderItemId: string; operationType: string };
        assert.deepEqual({ orderId: heldBy.orderId, orderItemId: heldBy.orderItemId, operationType: heldBy.operationType }, { ...first, operationType: 'MODIFY' });
        assert.equal(error.extensions.productInstanceId, id);
        assert.match(error.message, new RegExp(`MODIFY of order ${first.orderId} item ${first.orderItemId}`));
      }
      assert.deepEqual(await footprint(id), before);

      // The holder finishes its operation; then the second order item may start one.
      await inventory.completeModification(app.ctx, id, { ...first, expectedVersion: 4 });
      const started = await inventory.startModification(app.ctx, id, { ...second, expectedVersion: 5 });
      assert.equal(started.version, 6);
      assert.deepEqual((await activeGuardsOf(id)).map((g) => g.order_item_id), [second.orderItemId]);
    });

    test('modification:start on an ACTIVE asset whose guard another order item holds → OperationInProgressError naming the holder', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const id = p.productInstanceId;
      // An order that reserved the asset before changing it (a guard with no state change yet).
      const holder = orderCause();
      await rows(
        `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id, operation_type, status, acquired_at)
         values ($1, $2, $3, $4, $5, $6, 'MOVE', 'ACTIVE', $7)`,
        [app.tenantId, accountId, randomUUID(), id, holder.orderId, holder.orderItemId, app.clock.now()],
      );
      const before = await footprint(id);
      const error = await inventory.startModification(app.ctx, id, { ...orderCause(), expectedVersion: 3 }).then(() => assert.fail('must be refused'), (e: unknown) => e);
      assert.ok(error instanceof OperationInProgressError, String(error));
      const heldBy = error.extensions.heldBy as { orderId: string; orderItemId: string; operationType: string };
      assert.equal(heldBy.orderId, holder.orderId);
      assert.equal(heldBy.orderItemId, holder.orderItemId);
      assert.equal(heldBy.operationType, 'MOVE');
      assert.deepEqual(await footprint(id), before);
      // The holder itself may go on: it reuses its guard and keeps holding it.
      const started = await inventory.startModification(app.ctx, id, { ...holder, expectedVersion: 3 });
      assert.equal(started.status, 'PENDING_MODIFICATION');
      assert.deepEqual((await activeGuardsOf(id)).map((g) => g.order_item_id), [holder.orderItemId]);
    });

    test('optimistic lock: a transaction that changed the row while the command waited makes it fail, writing nothing', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const id = p.productInstanceId;
      const historyBefore = (await historyOf(id)).length;
      const eventsBefore = (await eventsOf(id)).length;
      const guardsBefore = await guardsOf(id);
      const auditBefore = (await rows<{ n: number }>('select count(*)::int as n from audit_log'))[0].n;

      const other = new pg.Client({ connectionString: app.db.url });
      await other.connect();
      try {
        await other.query('begin');
        await other.query('update product_instance set version = version + 1 where product_instance_id = $1', [id]);
        // Keep the tampering writer honest: its version gets its history row too.
        await other.query(
          `insert into product_instance_history (tenant_id, account_id, product_instance_id, version, history_id, change_type, before_state, after_state, recorded_at, effective_at)
           select tenant_id, account_id, product_instance_id, version, gen_random_uuid(), 'TAMPERED', null, jsonb_build_object('version', version), now(), now()
             from product_instance where product_instance_id = $1`,
          [id],
        );

        // The command reads version 3 (the change above is not committed), passes its checks
        // and then waits on the row lock in its optimistic UPDATE (the first part of the statement
        // that writes the version with its records).
        const outcome = inventory.suspend(app.ctx, id, { ...orderCause(), expectedVersion: 3, reason: 'non-payment' }).then(() => null, (e: unknown) => e);
        await waitForLockWait(app, 'with written as (%update product_instance');
        await other.query('commit');

        const error = await outcome;
        assert.ok(error instanceof ConcurrentModificationError, String(error));
        assert.equal(error.extensions.expectedVersion, 3);
      } finally {
        await other.end();
      }

      const row = await productRow(id);
      assert.equal(row.version, 4, 'only the other transaction changed the row');
      assert.equal(row.status, 'ACTIVE');
      const history = await historyOf(id);
      assert.equal(history.length, historyBefore + 1);
      assert.equal(history[history.length - 1].change_type, 'TAMPERED');
      assert.equal((await eventsOf(id)).length, eventsBefore, 'no outbox event');
      assert.deepEqual(await guardsOf(id), guardsBefore, 'no guard row');
      assert.equal((await rows<{ n: number }>('select count(*)::int as n from audit_log'))[0].n, auditBefore, 'no audit row');
    });
  });

  // ---------------------------------------------------------------- disconnect with containment

  describe('disconnect', () => {
    /** parent ⊃ child (PARENT_OF) ⊃ grandchild (PARENT_OF), parent ⊃ addon (ADDON_OF); all in one subscription; plus an unrelated DEPENDS_ON neighbour. */
    async function family() {
      const parent = await activeProduct(app.services, app.ctx, accountId);
      const sub = { subscriptionId: parent.subscriptionId };
      const child = await activeProduct(app.services, app.ctx, accountId, { ...sub, name: 'Static IP', relationships: [{ type: 'PARENT_OF', sourceProductInstanceId: parent.productInstanceId }] });
      const addon = await activeProduct(app.services, app.ctx, accountId, { ...sub, name: 'SLA Gold', relationships: [{ type: 'ADDON_OF', targetProductInstanceId: parent.productInstanceId }] });
      const grandchild = await activeProduct(app.services, app.ctx, accountId, { ...sub, name: 'Reverse DNS', relationships: [{ type: 'PARENT_OF', sourceProductInstanceId: child.productInstanceId }] });
      const neighbour = await activeProduct(app.services, app.ctx, accountId, { name: 'Managed router', relationships: [{ type: 'DEPENDS_ON', targetProductInstanceId: parent.productInstanceId }] });
      return { parent, child, addon, grandchild, neighbour };
    }

    test('disconnect:start cascades to PARENT_OF and ADDON_OF children, recursively, in one transaction, held by the same order item; disconnect:complete completes them all', async () => {
      const { parent, child, addon, grandchild, neighbour } = await family();
      const familyIds = [parent, child, addon, grandchild].map((p) => p.productInstanceId);
      const childIds = [child, addon, grandchild].map((p) => p.productInstanceId);

      // Services and resources to be terminated and released.
      const services = [];
      for (const p of [parent, child, grandchild]) {
        const s = await inventory.attachServiceInstance(app.ctx, p.productInstanceId, { ...orderCause(), ...serviceSpecRef(), name: `svc of ${p.name}` });
        services.push(s);
      }
      const resource = await inventory.attachResourceInstance(app.ctx, services[1].serviceInstanceId, { ...orderCause(), resourceType: 'ipv4-address', resourceId: '203.0.113.7' });

      app.clock.advance(MINUTE);
      const cause = orderCause();
      const started = await inventory.startDisconnect(app.ctx, parent.productInstanceId, { ...cause, expectedVersion: 3, reason: 'customer request', requestedTerminationDate: '2026-08-01T00:00:00.000Z' });
      assert.equal(started.productInstance.status, 'PENDING_DISCONNECT');
      assert.deepEqual(started.cascaded.map((c) => c.productInstanceId).sort(), [...childIds].sort());
      assert.ok(started.cascaded.every((c) => c.status === 'PENDING_DISCONNECT' && c.version === 4));

      const familyRows = await rows<{ product_instance_id: string; status: string; xmin: string }>(
        'select product_instance_id, status, xmin::text as xmin from product_instance where product_instance_id = any($1)', [familyIds]);
      assert.ok(familyRows.every((r) => r.status === 'PENDING_DISCONNECT'));
      assert.equal(new Set(familyRows.map((r) => r.xmin)).size, 1, 'all four rows were written by one transaction');

      for (const id of familyIds) {
        const guards = await activeGuardsOf(id);
        assert.equal(guards.length, 1, id);
        assert.equal(guards[0].order_item_id, cause.orderItemId);
        assert.equal(guards[0].order_id, cause.orderId);
        assert.equal(guards[0].operation_type, 'DISCONNECT');
      }
      const grandchildEvent = (await eventsOf(grandchild.productInstanceId)).find((e) => e.aggregate_version === 4)!;
      assert.equal(grandchildEvent.event_type, 'ProductInstanceDisconnectStarted');
      assert.equal(grandchildEvent.payload.changeSummary.cascadedFrom, child.productInstanceId);
      assert.equal(grandchildEvent.payload.causationId, cause.orderItemId);

      assert.equal((await productRow(neighbour.productInstanceId)).status, 'ACTIVE', 'DEPENDS_ON is not containment');
      assert.equal((await productRow(neighbour.productInstanceId)).version, 3);

      // Another order item cannot complete what this one started.
      await assert.rejects(inventory.completeDisconnect(app.ctx, parent.productInstanceId, { ...orderCause(), expectedVersion: 4 }), OperationInProgressError);

      app.clock.advance(MINUTE);
      const completed = await inventory.completeDisconnect(app.ctx, parent.productInstanceId, { ...cause, expectedVersion: 4 });
      assert.equal(completed.productInstance.status, 'DISCONNECTED');
      assert.equal(completed.productInstance.terminationDate, '2026-08-01T00:00:00.000Z', 'the requested termination date');
      assert.deepEqual(completed.cascaded.map((c) => c.productInstanceId).sort(), [...childIds].sort());

      for (const id of familyIds) {
        const row = await productRow(id);
        assert.equal(row.status, 'DISCONNECTED', id);
        assert.equal(row.version, 5, id);
        assert.ok(row.termination_date, id);
        assert.equal((await activeGuardsOf(id)).length, 0, id);
        const history = await historyOf(id);
        assert.equal(history.length, 5, id);
        assert.deepEqual(history.slice(3).map((h) => h.change_type), ['DISCONNECT_STARTED', 'DISCONNECTED']);
        assert.equal((await eventsOf(id)).length, 5, id);
      }
      for (const s of services) {
        const [row] = await rows<{ status: string; version: number }>('select status, version from service_instance where service_instance_id = $1', [s.serviceInstanceId]);
        assert.equal(row.status, 'TERMINATED');
        const [h] = await rows<{ n: number }>('select count(*)::int as n from service_instance_history where service_instance_id = $1', [s.serviceInstanceId]);
        assert.equal(h.n, row.version);
      }
      const [res] = await rows<{ status: string; release_date: Date | null }>('select status, release_date from resource_instance where resource_instance_id = $1', [resource.resourceInstanceId]);
      assert.equal(res.status, 'RELEASED');
      assert.ok(res.release_date);

      const subscription = await app.services.queries.subscription(app.ctx, parent.subscriptionId!);
      assert.equal(subscription.status, 'TERMINATED', 'no live product remains in the subscription');
      const subHistory = await rows<{ change_type: string }>('select change_type from subscription_history where subscription_id = $1 order by version', [parent.subscriptionId]);
      assert.deepEqual(subHistory.map((h) => h.change_type), ['CREATED', 'ACTIVATED', 'TERMINATED']);
      const neighbourSub = await app.services.queries.subscription(app.ctx, neighbour.subscriptionId!);
      assert.equal(neighbourSub.status, 'ACTIVE');
    });

    test('the subscription stays while one of its products lives', async () => {
      const first = await activeProduct(app.services, app.ctx, accountId);
      const second = await activeProduct(app.services, app.ctx, accountId, { subscriptionId: first.subscriptionId });
      app.clock.advance(MINUTE);
      const cause = orderCause();
      await inventory.startDisconnect(app.ctx, first.productInstanceId, { ...cause, expectedVersion: 3 });
      await inventory.completeDisconnect(app.ctx, first.productInstanceId, { ...cause, expectedVersion: 4 });
      assert.equal((await app.services.queries.subscription(app.ctx, first.subscriptionId!)).status, 'ACTIVE');
      const cause2 = orderCause();
      await inventory.startDisconnect(app.ctx, second.productInstanceId, { ...cause2, expectedVersion: 3 });
      await inventory.completeDisconnect(app.ctx, second.productInstanceId, { ...cause2, expectedVersion: 4 });
      assert.equal((await app.services.queries.subscription(app.ctx, first.subscriptionId!)).status, 'TERMINATED');
    });

    test('a child held by another order (modification in progress) makes the whole disconnect:start fail, writing nothing', async () => {
      const { parent, child, addon, grandchild } = await family();
      const other = orderCause();
      await inventory.startModification(app.ctx, grandchild.productInstanceId, { ...other, expectedVersion: 3 });
      const before = await Promise.all([parent, child, addon, grandchild].map((p) => footprint(p.productInstanceId)));

      const error = await inventory.startDisconnect(app.ctx, parent.productInstanceId, { ...orderCause(), expectedVersion: 3 }).then(() => assert.fail('must be refused'), (e: unknown) => e);
      assert.ok(error instanceof IllegalTransitionError, String(error));
      assert.equal(error.extensions.id, grandchild.productInstanceId);
      assert.equal(error.extensions.state, 'PENDING_MODIFICATION');

      const afterwards = await Promise.all([parent, child, addon, grandchild].map((p) => footprint(p.productInstanceId)));
      assert.deepEqual(afterwards, before);
      assert.equal(afterwards[0].row.status, 'ACTIVE');
      assert.equal(afterwards[1].row.status, 'ACTIVE', 'the child visited before the failure is rolled back too');
    });

    test('a child whose guard another order item holds makes the whole disconnect:start fail with OperationInProgressError, writing nothing', async () => {
      const { parent, child, addon, grandchild } = await family();
      const holder = orderCause();
      await rows(
        `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id, operation_type, status, acquired_at)
         values ($1, $2, $3, $4, $5, $6, 'MODIFY', 'ACTIVE', $7)`,
        [app.tenantId, accountId, randomUUID(), addon.productInstanceId, holder.orderId, holder.orderItemId, app.clock.now()],
      );
      const before = await Promise.all([parent, child, addon, grandchild].map((p) => footprint(p.productInstanceId)));
      const error = await inventory.startDisconnect(app.ctx, parent.productInstanceId, { ...orderCause(), expectedVersion: 3 }).then(() => assert.fail('must be refused'), (e: unknown) => e);
      assert.ok(error instanceof OperationInProgressError, String(error));
      assert.equal(error.extensions.productInstanceId, addon.productInstanceId);
      assert.equal((error.extensions.heldBy as { orderItemId: string }).orderItemId, holder.orderItemId);
      assert.deepEqual(await Promise.all([parent, child, addon, grandchild].map((p) => footprint(p.productInstanceId))), before);
    });

    test('children already DISCONNECTED are skipped by the cascade', async () => {
      const { parent, child, grandchild } = await family();
      app.clock.advance(MINUTE);
      const first = orderCause();
      await inventory.startDisconnect(app.ctx, grandchild.productInstanceId, { ...first, expectedVersion: 3 });
      await inventory.completeDisconnect(app.ctx, grandchild.productInstanceId, { ...first, expectedVersion: 4 });
      const started = await inventory.startDisconnect(app.ctx, parent.productInstanceId, { ...orderCause(), expectedVersion: 3 });
      assert.ok(started.cascaded.some((c) => c.productInstanceId === child.productInstanceId));
      assert.ok(!started.cascaded.some((c) => c.productInstanceId === grandchild.productInstanceId));
      assert.equal((await productRow(grandchild.productInstanceId)).version, 5);
    });
  });

  // ---------------------------------------------------------------- suspend / resume / move / replace

  describe('suspend, resume, move, replace', () => {
    test('suspend and resume: the product and its services follow; each releases its own guard', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const id = p.productInstanceId;
      const service = await inventory.attachServiceInstance(app.ctx, id, { ...orderCause(), ...serviceSpecRef() });
      assert.equal(service.status, 'ACTIVE');

      const suspended = await inventory.suspend(app.ctx, id, { expectedVersion: 3, reason: 'non-payment' });
      assert.equal(suspended.status, 'SUSPENDED');
      assert.equal(suspended.version, 4);
      assert.equal((await app.services.queries.serviceInstance(app.ctx, service.serviceInstanceId)).status, 'SUSPENDED');
      const [suspendEvent] = (await eventsOf(id)).filter((e) => e.aggregate_version === 4);
      assert.equal(suspendEvent.event_type, 'ProductInstanceSuspended');
      assert.equal(suspendEvent.payload.changeSummary.operation, 'SUSPEND');
      assert.equal(suspendEvent.payload.changeSummary.reason, 'non-payment');
      assert.equal(suspendEvent.payload.causationId, null);
      assert.equal((await activeGuardsOf(id)).length, 0);

      await assert.rejects(inventory.suspend(app.ctx, id, { expectedVersion: 4 }), IllegalTransitionError);
      const resumed = await inventory.resume(app.ctx, id, { ...orderCause(), expectedVersion: 4 });
      assert.equal(resumed.status, 'ACTIVE');
      assert.equal(resumed.version, 5);
      assert.equal((await app.services.queries.serviceInstance(app.ctx, service.serviceInstanceId)).status, 'ACTIVE');
      assert.equal((await activeGuardsOf(id)).length, 0);
      assert.deepEqual((await historyOf(id)).map((h) => h.change_type).slice(3), ['SUSPENDED', 'RESUMED']);
      // The subscription is not suspended with a product (it changes apart from its products).
      assert.equal((await app.services.queries.subscription(app.ctx, p.subscriptionId!)).status, 'ACTIVE');
    });

    test('move: same product instance and subscription; old service TERMINATED, new one ACTIVE at the new place; old resources RELEASED', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId, { place: { street: 'Jl. Sudirman 1', city: 'Jakarta' } });
      const id = p.productInstanceId;
      const service = await inventory.attachServiceInstance(app.ctx, id, { ...orderCause(), ...serviceSpecRef(), technicalParameters: { ont: 'A1', vlan: 10 } });
      const resource = await inventory.attachResourceInstance(app.ctx, service.serviceInstanceId, { ...orderCause(), resourceType: 'ont', resourceId: 'ONT-1' });
      const newPlace = { street: 'Jl. Thamrin 9', city: 'Jakarta' };
      const cause = orderCause();

      const result = await inventory.move(app.ctx, id, { ...cause, expectedVersion: 3, place: newPlace, technicalParameters: { ont: 'B7' } });
      assert.equal(result.productInstance.productInstanceId, id);
      assert.equal(result.productInstance.subscriptionId, p.subscriptionId);
      assert.equal(result.productInstance.status, 'ACTIVE');
      assert.equal(result.productInstance.version, 4);
      assert.deepEqual(result.productInstance.place, newPlace);
      assert.equal(result.moved.length, 1);
      assert.equal(result.moved[0].from.serviceInstanceId, service.serviceInstanceId);
      assert.equal(result.moved[0].from.status, 'TERMINATED');
      assert.notEqual(result.moved[0].to.serviceInstanceId, service.serviceInstanceId);

      const services = await rows<{ service_instance_id: string; status: string; place: JsonObject; technical_parameters: JsonObject }>(
        'select * from service_instance where product_instance_id = $1', [id]);
      assert.equal(services.length, 2);
      const old = services.find((s) => s.service_instance_id === service.serviceInstanceId)!;
      const fresh = services.find((s) => s.service_instance_id !== service.serviceInstanceId)!;
      assert.equal(old.status, 'TERMINATED');
      assert.equal(fresh.status, 'ACTIVE');
      assert.deepEqual(fresh.place, newPlace);
      assert.deepEqual(fresh.technical_parameters, { ont: 'B7', vlan: 10 });
      const [res] = await rows<{ status: string }>('select status from resource_instance where resource_instance_id = $1', [resource.resourceInstanceId]);
      assert.equal(res.status, 'RELEASED');

      const [event] = (await eventsOf(id)).filter((e) => e.aggregate_version === 4);
      assert.equal(event.event_type, 'ProductInstanceMoved');
      assert.deepEqual(event.payload.changeSummary.toPlace, newPlace);
      assert.equal((await activeGuardsOf(id)).length, 0);
      assert.equal((await app.services.queries.subscription(app.ctx, p.subscriptionId!)).version, 2, 'the subscription is untouched');
    });

    test('replace: the new instance REPLACES the old, the old is DISCONNECTED, children move to the new one', async () => {
      const old = await activeProduct(app.services, app.ctx, accountId);
      const oldId = old.productInstanceId;
      const child = await activeProduct(app.services, app.ctx, accountId, { subscriptionId: old.subscriptionId, relationships: [{ type: 'PARENT_OF', sourceProductInstanceId: oldId }] });
      const addon = await activeProduct(app.services, app.ctx, accountId, { subscriptionId: old.subscriptionId, relationships: [{ type: 'ADDON_OF', targetProductInstanceId: oldId }] });
      const service = await inventory.attachServiceInstance(app.ctx, oldId, { ...orderCause(), ...serviceSpecRef() });
      app.clock.advance(MINUTE);
      const cause = orderCause();

      const result = await inventory.replace(app.ctx, oldId, { ...cause, expectedVersion: 3, replacement: productSnapshot('Business Fiber 2Gbps', { bandwidthMbps: 2000 }) });
      assert.equal(result.replaced.productInstanceId, oldId);
      assert.equal(result.replaced.status, 'DISCONNECTED');
      assert.equal(result.replaced.version, 4);
      const newId = result.productInstance.productInstanceId;
      assert.notEqual(newId, oldId);
      assert.equal(result.productInstance.status, 'ACTIVE');
      assert.equal(result.productInstance.version, 1);
      assert.equal(result.productInstance.subscriptionId, old.subscriptionId);
      assert.deepEqual(result.productInstance.configuration, { bandwidthMbps: 2000 });
      assert.equal(result.productInstance.actionOriginOrderItemId, cause.orderItemId);

      assert.equal((await productRow(oldId)).status, 'DISCONNECTED');
      assert.deepEqual((await historyOf(newId)).map((h) => [h.version, h.change_type]), [[1, 'CREATED']]);
      assert.equal((await eventsOf(newId)).length, 1);
      assert.equal((await app.services.queries.serviceInstance(app.ctx, service.serviceInstanceId)).status, 'TERMINATED');

      const current = await rows<{ source_product_instance_id: string; target_product_instance_id: string; relationship_type: string }>(
        'select * from product_instance_relationship where account_id = $1 and ended_at is null and (source_product_instance_id = any($2) or target_product_instance_id = any($2))',
        [accountId, [oldId, newId]]);
      const sentences = current.map((r) => `${r.source_product_instance_id} ${r.relationship_type} ${r.target_product_instance_id}`).sort();
      assert.deepEqual(sentences, [
        `${newId} REPLACES ${oldId}`,
        `${newId} PARENT_OF ${child.productInstanceId}`,
        `${addon.productInstanceId} ADDON_OF ${newId}`,
      ].sort());
      const ended = await rows('select * from product_instance_relationship where ended_at is not null and (source_product_instance_id = $1 or target_product_instance_id = $1)', [oldId]);
      assert.equal(ended.length, 2);
      assert.equal((await productRow(child.productInstanceId)).status, 'ACTIVE', 'children are re-parented, not disconnected');
      assert.equal((await app.services.queries.subscription(app.ctx, old.subscriptionId!)).status, 'ACTIVE');
      assert.equal((await activeGuardsOf(oldId)).length, 0);
    });

    test('an illegal replace writes nothing (not even the new instance)', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const cause = orderCause();
      await inventory.startModification(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3 });
      const [before] = await rows<{ n: number }>('select count(*)::int as n from product_instance');
      const fp = await footprint(p.productInstanceId);
      await assert.rejects(inventory.replace(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 4, replacement: productSnapshot() }), IllegalTransitionError);
      const [afterwards] = await rows<{ n: number }>('select count(*)::int as n from product_instance');
      assert.equal(afterwards.n, before.n);
      assert.deepEqual(await footprint(p.productInstanceId), fp);
    });
  });

  // ---------------------------------------------------------------- subscription renewal

  describe('renewal', () => {
    test('renew moves the end date by termMonths in the account time zone; the product instance is untouched (seed 000 §21.4)', async () => {
      // 2026-02-28T20:00Z is 1 March 03:00 in Jakarta: calendar months are counted there.
      const cause = orderCause();
      const created = await inventory.createProductInstance(app.ctx, { accountId, ...productSnapshot(), subscription: { termMonths: 12, billingCycle: 'monthly' }, ...cause });
      const id = created.productInstance.productInstanceId;
      await inventory.startActivation(app.ctx, id, { ...cause, expectedVersion: 1 });
      await inventory.completeActivation(app.ctx, id, { ...cause, expectedVersion: 2, effectiveAt: '2026-02-28T20:00:00.000Z' });
      const subscriptionId = created.subscription!.subscriptionId;
      const activated = await app.services.queries.subscription(app.ctx, subscriptionId);
      assert.equal(activated.status, 'ACTIVE');
      assert.equal(activated.version, 2);
      assert.equal(activated.startDate, '2026-02-28T20:00:00.000Z');
      assert.equal(activated.endDate, '2027-02-28T20:00:00.000Z', '1 March 2027 03:00 Jakarta');

      const productBefore = await productRow(id);
      const productHistoryBefore = (await historyOf(id)).length;
      const productEventsBefore = (await eventsOf(id)).length;
      const productCount = (await rows<{ n: number }>('select count(*)::int as n from product_instance'))[0].n;

      // Default term (12 months): 1 March 2027 03:00 Jakarta + 12 months = 1 March 2028 = 29 Feb 20:00 UTC (a leap year),
      // where UTC arithmetic would give 28 Feb.
      const renewed = await inventory.renewSubscription(app.ctx, subscriptionId, { ...orderCause(), expectedVersion: 2 });
      assert.equal(renewed.version, 3);
      assert.equal(renewed.status, 'ACTIVE');
      assert.equal(renewed.endDate, '2028-02-29T20:00:00.000Z');
      assert.equal(renewed.commitmentStartDate, '2027-02-28T20:00:00.000Z');
      assert.equal(renewed.commitmentEndDate, '2028-02-29T20:00:00.000Z');

      // One month: 1 April 03:00 Jakarta = 31 March 20:00 UTC (UTC arithmetic: 29 March).
      const again = await inventory.renewSubscription(app.ctx, subscriptionId, { ...orderCause(), expectedVersion: 3, termMonths: 1 });
      assert.equal(again.version, 4);
      assert.equal(again.endDate, '2028-03-31T20:00:00.000Z');
      assert.equal(again.termMonths, 1);

      const subHistory = await rows<{ version: number; change_type: string; after_state: any }>('select * from subscription_history where subscription_id = $1 order by version', [subscriptionId]);
      assert.deepEqual(subHistory.map((h) => [h.version, h.change_type]), [[1, 'CREATED'], [2, 'ACTIVATED'], [3, 'RENEWED'], [4, 'RENEWED']]);
      assert.equal(subHistory[3].after_state.endDate, '2028-03-31T20:00:00.000Z');
      const subEvents = await eventsOf(subscriptionId);
      const renewedEvents = subEvents.filter((e) => e.event_type === 'SubscriptionRenewed');
      assert.deepEqual(renewedEvents.map((e) => e.aggregate_version), [3, 4]);
      assert.equal(renewedEvents[1].payload.endDate, '2028-03-31T20:00:00.000Z');
      assert.equal(renewedEvents[1].payload.previousVersion, 3);

      // The product instance: same row, same version, no history, no event; no new product instance.
      assert.deepEqual(await productRow(id), productBefore);
      assert.equal((await historyOf(id)).length, productHistoryBefore);
      assert.equal((await eventsOf(id)).length, productEventsBefore);
      assert.equal((await rows<{ n: number }>('select count(*)::int as n from product_instance'))[0].n, productCount);

      // Stale version: refused, nothing written.
      const subHistoryCount = subHistory.length;
      await assert.rejects(inventory.renewSubscription(app.ctx, subscriptionId, { expectedVersion: 3 }), ConcurrentModificationError);
      assert.equal((await rows('select 1 from subscription_history where subscription_id = $1', [subscriptionId])).length, subHistoryCount);
      assert.equal((await app.services.queries.subscription(app.ctx, subscriptionId)).endDate, '2028-03-31T20:00:00.000Z');
    });

    test('a terminated subscription cannot be renewed; the error lists what TERMINATED allows (nothing)', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      app.clock.advance(MINUTE);
      const s = await app.services.queries.subscription(app.ctx, p.subscriptionId!);
      await inventory.changeSubscriptionState(app.ctx, s.subscriptionId, 'termination:apply', { expectedVersion: s.version });
      await assert.rejects(
        inventory.renewSubscription(app.ctx, s.subscriptionId, { expectedVersion: s.version + 1, termMonths: 12 }),
        (e: unknown) => e instanceof IllegalTransitionError && e.extensions.state === 'TERMINATED' && (e.extensions.allowedCommands as string[]).length === 0,
      );
    });
  });

  // ---------------------------------------------------------------- services and resources

  describe('service and resource instances', () => {
    test('attach and release a service instance and a resource instance', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const id = p.productInstanceId;
      const cause = orderCause();
      const service = await inventory.attachServiceInstance(app.ctx, id, { ...cause, ...serviceSpecRef(), name: 'Internet access', externalServiceId: 'CFS-1' });
      assert.equal(service.status, 'ACTIVE');
      assert.equal(service.version, 1);
      assert.equal(service.productInstanceId, id);
      assert.deepEqual(service.place, p.place);
      const guards = await guardsOf(id);
      const attachGuard = guards.find((g) => g.order_item_id === cause.orderItemId)!;
      assert.equal(attachGuard.operation_type, 'ATTACH_SERVICE');
      assert.equal(attachGuard.status, 'RELEASED', 'a guard taken for one command is released with it');
      assert.equal((await productRow(id)).version, 3, 'attaching a service does not change the product instance');

      const r1 = await inventory.attachResourceInstance(app.ctx, service.serviceInstanceId, { ...orderCause(), resourceType: 'ipv4-address', resourceId: '198.51.100.1' });
      const r2 = await inventory.attachResourceInstance(app.ctx, service.serviceInstanceId, { ...orderCause(), resourceType: 'vlan', resourceId: '120' });
      assert.equal(r1.status, 'ALLOCATED');

      const released = await inventory.releaseResourceInstance(app.ctx, r1.resourceInstanceId, { ...orderCause(), expectedVersion: 1 });
      assert.equal(released.status, 'RELEASED');
      assert.equal(released.version, 2);
      await assert.rejects(inventory.releaseResourceInstance(app.ctx, r1.resourceInstanceId, { expectedVersion: 2 }), IllegalTransitionError);
      await assert.rejects(inventory.releaseServiceInstance(app.ctx, service.serviceInstanceId, { expectedVersion: 7 }), ConcurrentModificationError);

      const terminated = await inventory.releaseServiceInstance(app.ctx, service.serviceInstanceId, { ...orderCause(), expectedVersion: 1 });
      assert.equal(terminated.status, 'TERMINATED');
      assert.equal(terminated.version, 2);
      assert.ok(terminated.terminationDate);
      const [r2row] = await rows<{ status: string; version: number }>('select status, version from resource_instance where resource_instance_id = $1', [r2.resourceInstanceId]);
      assert.deepEqual(r2row, { status: 'RELEASED', version: 2 });
      await assert.rejects(
        inventory.attachResourceInstance(app.ctx, service.serviceInstanceId, { ...orderCause(), resourceType: 'vlan' }),
        IllegalTransitionError,
      );

      for (const [table, column, entity, version] of [
        ['service_instance_history', 'service_instance_id', service.serviceInstanceId, 2],
        ['resource_instance_history', 'resource_instance_id', r1.resourceInstanceId, 2],
        ['resource_instance_history', 'resource_instance_id', r2.resourceInstanceId, 2],
      ] as const) {
        const h = await rows<{ version: number }>(`select version from ${table} where ${column} = $1 order by version`, [entity]);
        assert.deepEqual(h.map((x) => x.version), Array.from({ length: version }, (_, i) => i + 1), entity);
        assert.equal((await eventsOf(entity)).length, version, entity);
      }
      assert.equal((await activeGuardsOf(id)).length, 0);
    });

    test('the order item holding the guard may attach during its operation, and keeps holding the guard', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      const id = p.productInstanceId;
      const cause = orderCause();
      await inventory.startModification(app.ctx, id, { ...cause, expectedVersion: 3 });
      const service = await inventory.attachServiceInstance(app.ctx, id, { ...cause, ...serviceSpecRef() });
      assert.equal(service.status, 'PENDING', 'services of a product that is not ACTIVE start PENDING');
      const active = await activeGuardsOf(id);
      assert.equal(active.length, 1);
      assert.equal(active[0].order_item_id, cause.orderItemId);
      assert.equal(active[0].operation_type, 'MODIFY');
      await inventory.completeModification(app.ctx, id, { ...cause, expectedVersion: 4 });
      assert.equal((await app.services.queries.serviceInstance(app.ctx, service.serviceInstanceId)).status, 'PENDING', 'services follow only on activation/suspension/disconnect commands');
      assert.equal((await activeGuardsOf(id)).length, 0);
    });

    test('no service can be attached to a DISCONNECTED product instance', async () => {
      const p = await activeProduct(app.services, app.ctx, accountId);
      app.clock.advance(MINUTE);
      const cause = orderCause();
      await inventory.startDisconnect(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3 });
      await assert.rejects(
        inventory.attachServiceInstance(app.ctx, p.productInstanceId, { ...orderCause(), ...serviceSpecRef() }),
        IllegalTransitionError,
      );
      await inventory.completeDisconnect(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 4 });
      await assert.rejects(
        inventory.attachServiceInstance(app.ctx, p.productInstanceId, { ...cause, ...serviceSpecRef() }),
        IllegalTransitionError,
      );
    });
  });

  // ---------------------------------------------------------------- activation

  describe('activation', () => {
    async function pendingProduct() {
      const created = await inventory.createProductInstance(app.ctx, { accountId, ...productSnapshot(), subscription: { termMonths: 24 }, ...orderCause() });
      return created;
    }

    test('activation:fail → ERROR with lastError; activation:start again (another order item) works', async () => {
      const { productInstance, subscription } = await pendingProduct();
      const id = productInstance.productInstanceId;
      const first = orderCause();
      const started = await inventory.startActivation(app.ctx, id, { ...first, expectedVersion: 1 });
      assert.equal(started.status, 'PENDING_ACTIVATION');
      assert.equal(started.version, 2);
      assert.deepEqual((await activeGuardsOf(id)).map((g) => [g.order_item_id, g.operation_type]), [[first.orderItemId, 'ADD']]);

      const failed = await inventory.failActivation(app.ctx, id, { ...first, expectedVersion: 2, error: { code: 'OLT_TIMEOUT', message: 'the OLT did not answer' } });
      assert.equal(failed.status, 'ERROR');
      assert.equal(failed.version, 3);
      assert.deepEqual(failed.lastError, { code: 'OLT_TIMEOUT', message: 'the OLT did not answer', at: app.clock.now().toISOString() });
      assert.equal((await activeGuardsOf(id)).length, 0);
      assert.deepEqual((await productRow(id)).last_error, failed.lastError);

      const retry = orderCause();
      app.clock.advance(MINUTE);
      const restarted = await inventory.startActivation(app.ctx, id, { ...retry, expectedVersion: 3 });
      assert.equal(restarted.status, 'PENDING_ACTIVATION');
      assert.equal(restarted.version, 4);
      assert.equal(restarted.lastError, null);
      const active = await inventory.completeActivation(app.ctx, id, { ...retry, expectedVersion: 4 });
      assert.equal(active.status, 'ACTIVE');
      assert.equal(active.activationDate, app.clock.now().toISOString());
      assert.equal((await app.services.queries.subscription(app.ctx, subscription!.subscriptionId)).status, 'ACTIVE');
      assert.deepEqual((await historyOf(id)).map((h) => h.change_type), ['CREATED', 'ACTIVATION_STARTED', 'ACTIVATION_FAILED', 'ACTIVATION_STARTED', 'ACTIVATED']);
      assert.deepEqual((await eventsOf(id)).map((e) => e.event_type), [
        'ProductInstanceCreated', 'ProductInstanceActivationPending', 'ProductInstanceActivationFailed', 'ProductInstanceActivationPending', 'ProductInstanceActivated',
      ]);
    });

    test('activation:cancel → CANCELLED; the subscription that never started is terminated with it', async () => {
      const { productInstance, subscription } = await pendingProduct();
      const id = productInstance.productInstanceId;
      const cause = orderCause();
      await inventory.startActivation(app.ctx, id, { ...cause, expectedVersion: 1 });
      const cancelled = await inventory.cancelActivation(app.ctx, id, { ...cause, expectedVersion: 2 });
      assert.equal(cancelled.status, 'CANCELLED');
      assert.equal(cancelled.version, 3);
      assert.ok(cancelled.terminationDate);
      assert.equal((await activeGuardsOf(id)).length, 0);
      const s = await app.services.queries.subscription(app.ctx, subscription!.subscriptionId);
      assert.equal(s.status, 'TERMINATED');
      await assert.rejects(inventory.startActivation(app.ctx, id, { ...orderCause(), expectedVersion: 3 }), IllegalTransitionError);
    });

    test('activation:cancel from ERROR', async () => {
      const { productInstance } = await pendingProduct();
      const id = productInstance.productInstanceId;
      const cause = orderCause();
      await inventory.startActivation(app.ctx, id, { ...cause, expectedVersion: 1 });
      await inventory.failActivation(app.ctx, id, { ...cause, expectedVersion: 2, error: { code: 'X', message: 'x' } });
      const cancelled = await inventory.cancelActivation(app.ctx, id, { ...orderCause(), expectedVersion: 3 });
      assert.equal(cancelled.status, 'CANCELLED');
    });
  });

  // ---------------------------------------------------------------- regressions

  // subscription_check once required end_date > start_date, so this was a 500.
  test('disconnect completed at the very instant of activation terminates the subscription', async () => {
    const p = await activeProduct(app.services, app.ctx, accountId);
    const cause = orderCause();
    await inventory.startDisconnect(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 3 });
    await inventory.completeDisconnect(app.ctx, p.productInstanceId, { ...cause, expectedVersion: 4 });
    assert.equal((await app.services.queries.subscription(app.ctx, p.subscriptionId!)).status, 'TERMINATED');
  });
});

/** Waits until some backend of this test's database waits on a lock while running `queryPrefix`. */
async function waitForLockWait(app: TestApp, queryPrefix: string): Promise<void> {
  for (let attempt = 0; attempt < 2000; attempt++) {
    const waiting = await queryRows<{ n: number }>(
      app.db.pool,
      `select count(*)::int as n from pg_stat_activity
        where datname = $1 and wait_event_type = 'Lock' and ltrim(query) ilike $2`,
      [app.db.name, queryPrefix + '%'],
    );
    if (waiting[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no backend ever waited on a lock in "${queryPrefix}"`);
}
