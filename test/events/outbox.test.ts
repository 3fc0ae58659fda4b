/**
 * The transactional outbox (src/events/outbox.ts): every change writes its event in its own
 * transaction — one event per new version, with the seed 000 §17.1 payload — a change that
 * rolls back leaves no event, events of one aggregate are in version order, and Row-Level
 * Security hides other tenants' events from the application role.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { appendToOutbox, buildEvent, eventPayload } from '../../src/events/outbox.ts';
import { inTenantTransaction, queryOne, queryRows } from '../../src/platform/db.ts';
import { assertProblem, call, createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, ensureFixtureCatalog, orderCause, productSnapshot } from '../helpers/fixtures.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('the transactional outbox', () => {
  let app: TestApp;
  let accountId: string;
  let customerId: string;
  let tenantB: { tenantId: string; apiKey: string; apiKeyId: string };

  const send = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}, key = app.adminKey) =>
    call(app.server, key, method, url, body, headers);
  const command = async (id: string, verbPhase: string, body: unknown, correlationId: string) => {
    const res = await send('POST', `/internal/assets/product-instances/${id}/${verbPhase}`, body, { 'x-correlation-id': correlationId });
    assert.equal(res.status, 200, `${verbPhase}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const now = () => app.clock.now().toISOString();
  const outboxCount = async () => (await queryOne<{ n: number }>(app.db.pool, 'select count(*)::int as n from outbox_event'))!.n;
  const eventsOf = (aggregateId: string) => queryRows<any>(app.db.pool, 'select * from outbox_event where aggregate_id = $1 order by position', [aggregateId]);
  const newEventsSince = (position: number) => queryRows<any>(app.db.pool, 'select * from outbox_event where position > $1 order by position', [position]);
  const lastPosition = async () => (await queryOne<{ p: number }>(app.db.pool, 'select coalesce(max(position), 0)::int as p from outbox_event'))!.p;

  before(async () => {
    app = await createTestApp();
    ({ accountId, customerId } = await createAccount(app.services, app.ctx));
    tenantB = await app.services.access.createTenant({ name: 'Tenant B' });
    const ctxB = { tenantId: tenantB.tenantId, actor: null, correlationId: 'b-setup' };
    const b = await createAccount(app.services, ctxB, 'B customer');
    await activeProduct(app.services, ctxB, b.accountId);
  });
  after(() => app.close());

  test('a command writes exactly one event, in full: type, aggregate, account, tenant, correlation, causation, the clock\'s time, body', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    app.clock.advance(60_000);
    const at = now();
    const from = await lastPosition();
    const cause = orderCause();
    const started = await command(id, 'modification:start', { expectedVersion: 3, ...cause, requestedChange: { configuration: { bandwidthMbps: 2000 } } }, 'corr-outbox-modify');
    assert.equal(started.version, 4);

    const events = await newEventsSince(from);
    assert.equal(events.length, 1, `one event: ${events.map((e) => e.event_type).join(', ')}`);
    const [event] = events;
    assert.match(event.event_id, UUID);
    assert.deepEqual(event, {
      tenant_id: app.tenantId,
      account_id: accountId,
      event_id: event.event_id,
      position: event.position,
      event_type: 'ProductInstanceModificationStarted',
      event_version: 1,
      aggregate_type: 'product_instance',
      aggregate_id: id,
      aggregate_version: 4,
      payload: {
        eventId: event.event_id,
        eventType: 'ProductInstanceModificationStarted',
        eventVersion: 1,
        occurredAt: at,
        correlationId: 'corr-outbox-modify',
        causationId: cause.orderItemId,
        accountId,
        customerId,
        productInstanceId: id,
        subscriptionId: product.subscriptionId,
        orderId: cause.orderId,
        orderItemId: cause.orderItemId,
        previousVersion: 3,
        newVersion: 4,
        status: 'PENDING_MODIFICATION',
        changeSummary: { operation: 'MODIFY', command: 'modification:start', previousStatus: 'ACTIVE', changedCharacteristics: [], changedPrices: [] },
      },
      occurred_at: new Date(at),
      published_at: null,
    });
    assert.ok(event.position > from);

    // The event and the history row of the version are one change: same version, time, cause and correlation.
    const history = await queryOne<any>(app.db.pool, 'select * from product_instance_history where product_instance_id = $1 and version = 4', [id]);
    assert.equal(history.change_type, 'MODIFICATION_STARTED');
    assert.deepEqual(history.recorded_at, event.occurred_at);
    assert.equal(history.correlation_id, event.payload.correlationId);
    assert.equal(history.changed_by_order_item_id, event.payload.causationId);

    // Completing it: the changed characteristic is named in the next event.
    app.clock.advance(1_000);
    await command(id, 'modification:complete', { expectedVersion: 4, ...cause }, 'corr-outbox-modify');
    const [completed, ...more] = await newEventsSince(event.position);
    assert.deepEqual(more, []);
    assert.equal(completed.event_type, 'ProductInstanceModified');
    assert.equal(completed.aggregate_version, 5);
    assert.deepEqual(completed.payload.changeSummary, { operation: 'MODIFY', command: 'modification:complete', previousStatus: 'PENDING_MODIFICATION', changedCharacteristics: ['bandwidthMbps'], changedPrices: [] });
    assert.equal(completed.payload.occurredAt, now());
  });

  test('events of one aggregate come in version order, one per version, the same as its history', async () => {
    const cause = orderCause();
    const created = await send('POST', '/internal/assets/product-instances', {
      accountId, ...productSnapshot(), subscription: { termMonths: 12 }, ...cause,
    }, { 'x-correlation-id': 'corr-order' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.productInstance.productInstanceId;
    const steps: [string, Record<string, unknown>][] = [
      ['activation:start', cause],
      ['activation:complete', cause],
      ['suspension:apply', {}],
      ['resumption:apply', {}],
      ['modification:start', { ...cause, requestedChange: { configuration: { vlan: 7 } } }],
      ['modification:cancel', cause],
    ];
    const times = [now()];
    for (const [i, [step, extra]] of steps.entries()) {
      app.clock.advance(1_000);
      times.push(now());
      await command(id, step, { expectedVersion: i + 1, ...extra }, 'corr-order');
    }
    const events = await eventsOf(id);
    assert.deepEqual(events.map((e) => e.event_type), [
      'ProductInstanceCreated', 'ProductInstanceActivationPending', 'ProductInstanceActivated', 'ProductInstanceSuspended',
      'ProductInstanceResumed', 'ProductInstanceModificationStarted', 'ProductInstanceModificationCancelled',
    ]);
    assert.deepEqual(events.map((e) => e.aggregate_version), [1, 2, 3, 4, 5, 6, 7], 'positions follow versions');
    assert.deepEqual(events.map((e) => e.payload.newVersion), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(events.map((e) => e.payload.previousVersion), [null, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(events.map((e) => e.occurred_at.toISOString()), times, 'each at its command\'s clock time');
    assert.ok(events.every((e) => e.payload.correlationId === 'corr-order' && e.account_id === accountId && e.tenant_id === app.tenantId));
    const history = await queryRows<any>(app.db.pool, 'select version, recorded_at from product_instance_history where product_instance_id = $1 order by version', [id]);
    assert.deepEqual(history.map((h) => [h.version, h.recorded_at.toISOString()]), events.map((e) => [e.aggregate_version, e.occurred_at.toISOString()]));

    // Two aggregates changed in parallel: each one's events still in its version order.
    const [a, b] = await Promise.all([activeProduct(app.services, app.ctx, accountId), activeProduct(app.services, app.ctx, accountId)]);
    await Promise.all([a, b].map(async (p) => {
      for (let v = 3; v < 9; v += 2) {
        await app.services.inventory.suspend(app.ctx, p.productInstanceId, { expectedVersion: v });
        await app.services.inventory.resume(app.ctx, p.productInstanceId, { expectedVersion: v + 1 });
      }
    }));
    for (const p of [a, b]) {
      const versions = (await eventsOf(p.productInstanceId)).map((e) => e.aggregate_version);
      assert.deepEqual(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
  });

  test('across the tenant, every version of every entity has exactly one event and every event one version', async () => {
    const kinds = [
      ['product_instance', 'product_instance_history', 'product_instance_id'],
      ['subscription', 'subscription_history', 'subscription_id'],
      ['service_instance', 'service_instance_history', 'service_instance_id'],
      ['resource_instance', 'resource_instance_history', 'resource_instance_id'],
    ];
    for (const [aggregate, table, idColumn] of kinds) {
      const unmatched = await queryRows(app.db.pool, `
        select h.${idColumn} as id, h.version, e.event_id
          from ${table} h
          full join (select * from outbox_event where aggregate_type = $1) e
            on e.account_id = h.account_id and e.aggregate_id = h.${idColumn} and e.aggregate_version = h.version
         where h.${idColumn} is null or e.event_id is null`, [aggregate]);
      assert.deepEqual(unmatched, [], `${aggregate}: a version without event or an event without version`);
      const duplicates = await queryRows(app.db.pool, `
        select aggregate_id, aggregate_version, count(*)::int as n from outbox_event
         where aggregate_type = $1 group by aggregate_id, aggregate_version having count(*) > 1`, [aggregate]);
      assert.deepEqual(duplicates, [], `${aggregate}: one event per version`);
    }
  });

  test('a refused command writes no event (and no history)', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    const before = await outboxCount();
    const history = async () => (await queryOne<{ n: number }>(app.db.pool, 'select count(*)::int as n from product_instance_history where product_instance_id = $1', [id]))!.n;
    const versions = await history();
    const stale = await send('POST', `/internal/assets/product-instances/${id}/suspension:apply`, { expectedVersion: 2 });
    assertProblem(stale, 409, 'concurrent-modification');
    const illegal = await send('POST', `/internal/assets/product-instances/${id}/resumption:apply`, { expectedVersion: 3 });
    assertProblem(illegal, 409, 'illegal-transition');
    const invalid = await send('POST', `/internal/assets/product-instances/${id}/modification:start`, { expectedVersion: 3, ...orderCause(), requestedChange: { configuration: { bandwidthMbps: 'fast' } } });
    assertProblem(invalid, 400, 'validation-error');
    assert.equal(await outboxCount(), before);
    assert.equal(await history(), versions);
  });

  test('a change that fails after its events were appended rolls them back with it', async () => {
    // A real failure late in a real transaction: the order submission's audit row (its last
    // statement, after the instance's and the order's events) is refused by a trigger that
    // first counts the order's event, visible inside the transaction.
    const catalog = await ensureFixtureCatalog(app.services, app.ctx);
    await app.db.pool.query(`
      create function test_refuse_order_audit() returns trigger language plpgsql as $$
      begin
        if new.action = 'order.submit' then
          raise exception 'injected failure with % event(s) of order % in the transaction',
            (select count(*) from outbox_event where aggregate_id = new.target_id), new.target_id;
        end if;
        return new;
      end $$;
      create trigger test_refuse_order_audit before insert on audit_log for each row execute function test_refuse_order_audit();`);
    const counts = () => queryOne<Record<string, number>>(app.db.pool, `
      select (select count(*)::int from outbox_event) as outbox,
             (select count(*)::int from product_order) as orders,
             (select count(*)::int from order_item) as items,
             (select count(*)::int from fulfillment_task) as tasks,
             (select count(*)::int from product_instance) as products,
             (select count(*)::int from product_instance_history) as history,
             (select count(*)::int from subscription) as subscriptions,
             (select count(*)::int from asset_operation_guard) as guards,
             (select count(*)::int from audit_log) as audit`);
    const before = await counts();
    try {
      await assert.rejects(
        app.services.orders.submitOrder({ ...app.ctx, correlationId: 'corr-rolled-back' }, { accountId, items: [{ action: 'ADD', offeringId: catalog.productOfferingId }] }),
        /injected failure with 1 event\(s\) of order [0-9a-f-]{36} in the transaction/,
      );
    } finally {
      await app.db.pool.query('drop trigger test_refuse_order_audit on audit_log; drop function test_refuse_order_audit()');
    }
    assert.deepEqual(await counts(), before, 'no event, order, task, instance, history, guard or audit row');
    assert.deepEqual(await queryRows(app.db.pool, `select event_type from outbox_event where payload->>'correlationId' = 'corr-rolled-back'`), []);

    // The same submission without the failure commits its events: the instance's and the order's.
    const from = await lastPosition();
    app.clock.advance(1_000);
    const order = await app.services.orders.submitOrder({ ...app.ctx, correlationId: 'corr-committed' }, { accountId, items: [{ action: 'ADD', offeringId: catalog.productOfferingId }] });
    const events = await newEventsSince(from);
    const productInstanceId = order.items[0].productInstanceId!;
    assert.deepEqual(events.map((e) => [e.event_type, e.aggregate_id]), [
      ['SubscriptionCreated', events[0].aggregate_id],
      ['ProductInstanceCreated', productInstanceId],
      ['ProductInstanceActivationPending', productInstanceId],
      ['ProductOrderAcknowledged', order.orderId],
    ]);
    assert.ok(events.every((e) => e.payload.correlationId === 'corr-committed' && e.payload.occurredAt === now()));
    const acknowledged = events[3];
    assert.deepEqual(acknowledged, {
      tenant_id: app.tenantId,
      account_id: accountId,
      event_id: acknowledged.event_id,
      position: acknowledged.position,
      event_type: 'ProductOrderAcknowledged',
      event_version: 1,
      aggregate_type: 'product_order',
      aggregate_id: order.orderId,
      aggregate_version: 1,
      payload: {
        eventId: acknowledged.event_id,
        eventType: 'ProductOrderAcknowledged',
        eventVersion: 1,
        occurredAt: now(),
        correlationId: 'corr-committed',
        causationId: null,
        accountId,
        orderId: order.orderId,
        status: 'acknowledged',
        quoteId: null,
        supplementalOfOrderId: null,
        items: [{ itemId: order.items[0].itemId, action: 'ADD', productInstanceId }],
      },
      occurred_at: new Date(now()),
      published_at: null,
    });
  });

  test('appendToOutbox writes in the caller\'s transaction: a rollback leaves nothing, a commit the whole payload', async () => {
    const aggregateId = randomUUID();
    const fields = {
      eventType: 'TestHappened', occurredAt: now(), correlationId: 'corr-unit', causationId: null, accountId,
      aggregateType: 'test', aggregateId, aggregateVersion: 1, body: { answer: 42, nested: { list: [1, 'two'] } },
    };
    const event = buildEvent(fields);
    assert.match(event.eventId, UUID);
    assert.equal(event.eventVersion, 1);
    assert.equal(buildEvent({ ...fields, eventVersion: 3 }).eventVersion, 3);
    assert.notEqual(buildEvent(fields).eventId, event.eventId, 'each built event has its own id');

    await assert.rejects(inTenantTransaction(app.db.pool, app.tenantId, async (tx) => {
      await appendToOutbox(tx, app.tenantId, event);
      const inside = await queryRows(tx, 'select 1 from outbox_event where aggregate_id = $1', [aggregateId]);
      assert.equal(inside.length, 1, 'visible inside the transaction');
      throw new Error('the change failed');
    }), /the change failed/);
    assert.deepEqual(await eventsOf(aggregateId), [], 'gone with the rollback');

    await inTenantTransaction(app.db.pool, app.tenantId, (tx) => appendToOutbox(tx, app.tenantId, event));
    const [row] = await eventsOf(aggregateId);
    assert.deepEqual(row.payload, eventPayload(event));
    assert.deepEqual(row.payload, {
      eventId: event.eventId, eventType: 'TestHappened', eventVersion: 1, occurredAt: now(), correlationId: 'corr-unit', causationId: null, accountId,
      answer: 42, nested: { list: [1, 'two'] },
    });
    assert.equal(row.tenant_id, app.tenantId);
    assert.equal(row.aggregate_type, 'test');
    assert.equal(row.aggregate_version, 1);
    // An event id is written once per account: a second append of the same event is refused.
    await assert.rejects(inTenantTransaction(app.db.pool, app.tenantId, (tx) => appendToOutbox(tx, app.tenantId, event)), /duplicate key/);
    assert.equal((await eventsOf(aggregateId)).length, 1);
  });

  test('Row-Level Security: the application role sees, changes and writes only its tenant\'s events', async () => {
    const ofB = await queryRows<any>(app.db.pool, 'select * from outbox_event where tenant_id = $1', [tenantB.tenantId]);
    assert.ok(ofB.length > 0, 'tenant B has events (seen by the owner role)');
    await inTenantTransaction(app.db.pool, app.tenantId, async (tx) => {
      const visible = await queryRows<any>(tx, 'select tenant_id from outbox_event');
      assert.ok(visible.length > 0);
      assert.ok(visible.every((r) => r.tenant_id === app.tenantId), 'only tenant A\'s events');
      assert.deepEqual(await queryRows(tx, 'select * from outbox_event where event_id = $1', [ofB[0].event_id]), [], 'not even by id');
      const marked = await tx.query('update outbox_event set published_at = now() where tenant_id = $1', [tenantB.tenantId]);
      assert.equal(marked.rowCount, 0, 'B\'s events cannot be marked published by A');
    });
    await assert.rejects(inTenantTransaction(app.db.pool, app.tenantId, (tx) => appendToOutbox(tx, tenantB.tenantId, buildEvent({
      eventType: 'Forged', occurredAt: now(), correlationId: null, causationId: null, accountId: ofB[0].account_id,
      aggregateType: 'test', aggregateId: randomUUID(), aggregateVersion: null, body: {},
    }))), /row-level security/);
    // The application role without a tenant sees no event at all.
    const client = await app.db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local role tenure_app`);
      assert.deepEqual((await client.query('select count(*)::int as n from outbox_event')).rows, [{ n: 0 }]);
      await client.query('rollback');
    } finally {
      client.release();
    }
    assert.deepEqual((await queryRows<any>(app.db.pool, 'select published_at from outbox_event where tenant_id = $1 and published_at is not null', [tenantB.tenantId])), []);
  });
});
