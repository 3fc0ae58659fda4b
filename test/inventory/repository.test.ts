/**
 * Store-level tests on real PostgreSQL (seed 000 §22.2): the SQL of src/inventory/store.ts and
 * the constraints of the schema that back the rules of the command pipeline.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { buildEvent } from '../../src/events/outbox.ts';
import * as store from '../../src/inventory/store/index.ts';
import type { JsonObject } from '../../src/platform/context.ts';
import type { Guard, ProductInstance, Relationship } from '../../src/inventory/types.ts';
import { inTenantTransaction, queryOne, queryRows, type Tx } from '../../src/platform/db.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createAccount, productSnapshot } from '../helpers/fixtures.ts';

/** A history row with its outbox event, the way the command pipeline writes a version. */
function insertHistory(tx: Tx, tenantId: string, h: store.HistoryInsert) {
  const event = buildEvent({ eventType: 'Test', occurredAt: h.recordedAt, correlationId: h.correlationId, causationId: null, accountId: h.accountId,
    aggregateType: 'product_instance', aggregateId: h.entityId, aggregateVersion: h.version, body: {} });
  return store.insertHistoryWithEvent(tx, tenantId, 'product_instance', h, event, { releaseGuardId: null, audit: null });
}

const NOW = '2026-07-02T10:30:00.000Z';
const LATER = '2026-07-02T11:00:00.000Z';

interface PgError {
  code?: string;
  constraint?: string;
  message: string;
}

/** Runs `work` in its own tenant transaction and returns the PostgreSQL error it fails with. */
async function pgErrorOf(app: TestApp, work: (tx: Tx) => Promise<unknown>): Promise<PgError> {
  return inTenantTransaction(app.db.pool, app.tenantId, work).then(
    () => assert.fail('expected the statement to fail'),
    (e: PgError) => e,
  );
}

describe('inventory store on PostgreSQL', () => {
  let app: TestApp;
  let accountId: string;
  let customerId: string;

  before(async () => {
    app = await createTestApp();
    ({ accountId, customerId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  const inTenant = <T>(work: (tx: Tx) => Promise<T>) => inTenantTransaction(app.db.pool, app.tenantId, work);

  function newProduct(overrides: Partial<ProductInstance> = {}): ProductInstance {
    return {
      productInstanceId: randomUUID(),
      accountId,
      customerId,
      subscriptionId: null,
      ...productSnapshot(),
      status: 'ACTIVE',
      actionOriginOrderId: randomUUID(),
      actionOriginOrderItemId: randomUUID(),
      activationDate: NOW,
      terminationDate: null,
      effectiveFrom: NOW,
      effectiveTo: null,
      place: { street: 'Jl. Sudirman 1', city: 'Jakarta' },
      pendingChange: null,
      lastError: null,
      version: 1,
      createdAt: NOW,
      updatedAt: NOW,
      ...overrides,
    };
  }

  async function insertedProduct(overrides: Partial<ProductInstance> = {}): Promise<ProductInstance> {
    const p = newProduct(overrides);
    await inTenant((tx) => store.insertProductInstance(tx, app.tenantId, p));
    return p;
  }

  function guardRow(productInstanceId: string, overrides: Partial<Guard> = {}): Guard {
    return {
      guardId: randomUUID(),
      accountId,
      productInstanceId,
      orderId: randomUUID(),
      orderItemId: randomUUID(),
      operationType: 'MODIFY',
      status: 'ACTIVE',
      acquiredAt: NOW,
      releasedAt: null,
      ...overrides,
    };
  }

  async function rawInsertGuard(tx: Tx, g: Guard) {
    await tx.query(
      `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id,
         operation_type, status, acquired_at, released_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [app.tenantId, g.accountId, g.guardId, g.productInstanceId, g.orderId, g.orderItemId, g.operationType, g.status, g.acquiredAt, g.releasedAt],
    );
  }

  function relationshipRow(source: string, target: string, type: Relationship['type']): Relationship {
    return {
      relationshipId: randomUUID(),
      accountId,
      sourceProductInstanceId: source,
      targetProductInstanceId: target,
      type,
      validFrom: NOW,
      validTo: null,
      createdByOrderId: null,
      createdByOrderItemId: null,
      createdAt: NOW,
      endedAt: null,
    };
  }

  // ---------------------------------------------------------------- product instance rows

  test('insert product instance, then read it back exactly', async () => {
    const p = await insertedProduct({ pendingChange: { configuration: { bandwidthMbps: 2000 } }, lastError: null });
    const found = await inTenant((tx) => store.findProductInstance(tx, p.productInstanceId));
    assert.deepEqual(found, p);
    const listed = await inTenant((tx) => store.listProductInstancesOfAccount(tx, accountId));
    assert.ok(listed.some((x) => x.productInstanceId === p.productInstanceId));
  });

  test('the same product instance id cannot be inserted twice in an account', async () => {
    const p = await insertedProduct();
    const error = await pgErrorOf(app, (tx) => store.insertProductInstance(tx, app.tenantId, p));
    assert.equal(error.code, '23505');
  });

  test('updateProductInstance with the correct version returns true and writes the row', async () => {
    const p = await insertedProduct();
    const next: ProductInstance = { ...p, status: 'PENDING_MODIFICATION', pendingChange: { configuration: { bandwidthMbps: 2000 } }, version: 2, updatedAt: LATER };
    const written = await inTenant((tx) => store.updateProductInstance(tx, next, 1));
    assert.equal(written, true);
    assert.deepEqual(await inTenant((tx) => store.findProductInstance(tx, p.productInstanceId)), next);
  });

  test('updateProductInstance with a stale version returns false and changes nothing', async () => {
    const p = await insertedProduct();
    const v2: ProductInstance = { ...p, name: 'second', version: 2, updatedAt: LATER };
    assert.equal(await inTenant((tx) => store.updateProductInstance(tx, v2, 1)), true);
    const rowBefore = await queryOne(app.db.pool, 'select * from product_instance where product_instance_id = $1', [p.productInstanceId]);

    // A writer that still believes the row is at version 1.
    const stale: ProductInstance = { ...p, status: 'SUSPENDED', name: 'stale writer', version: 2, updatedAt: '2026-07-02T12:00:00.000Z' };
    assert.equal(await inTenant((tx) => store.updateProductInstance(tx, stale, 1)), false);
    // Nor may it "skip ahead" with a version it never saw.
    assert.equal(await inTenant((tx) => store.updateProductInstance(tx, { ...stale, version: 4 }, 3)), false);

    const rowAfter = await queryOne(app.db.pool, 'select * from product_instance where product_instance_id = $1', [p.productInstanceId]);
    assert.deepEqual(rowAfter, rowBefore);
  });

  test('updateProductInstance does not reach another tenant\'s row (RLS), even with the right version', async () => {
    const p = await insertedProduct();
    const other = await app.services.access.createTenant({ name: 'Other tenant' });
    const written = await inTenantTransaction(app.db.pool, other.tenantId, (tx) => store.updateProductInstance(tx, { ...p, status: 'ERROR', version: 2 }, 1));
    assert.equal(written, false);
    const [row] = await queryRows<{ status: string; version: number }>(app.db.pool, 'select status, version from product_instance where product_instance_id = $1', [p.productInstanceId]);
    assert.deepEqual(row, { status: 'ACTIVE', version: 1 });
  });

  test('subscription: insert, update with correct version, stale update returns false', async () => {
    const s = {
      subscriptionId: randomUUID(), accountId, customerId, agreementId: null, billingAccountId: null, status: 'PENDING' as const,
      startDate: null, endDate: null, commitmentStartDate: null, commitmentEndDate: null, termMonths: 12, billingCycle: 'monthly',
      autoRenew: true, renewalPolicy: { noticeDays: 30 }, version: 1, createdAt: NOW, updatedAt: NOW,
    };
    await inTenant((tx) => store.insertSubscription(tx, app.tenantId, s));
    assert.deepEqual(await inTenant((tx) => store.findSubscription(tx, s.subscriptionId)), s);
    const active = { ...s, status: 'ACTIVE' as const, startDate: NOW, endDate: '2027-07-02T10:30:00.000Z', version: 2, updatedAt: LATER };
    assert.equal(await inTenant((tx) => store.updateSubscription(tx, active, 1)), true);
    assert.equal(await inTenant((tx) => store.updateSubscription(tx, { ...s, status: 'TERMINATED', version: 2 }, 1)), false);
    assert.deepEqual(await inTenant((tx) => store.findSubscription(tx, s.subscriptionId)), active);
  });

  // ---------------------------------------------------------------- history

  test('a history row is inserted and read back; (entity, version) is unique', async () => {
    const p = await insertedProduct();
    const entry = {
      historyId: randomUUID(),
      accountId,
      entityId: p.productInstanceId,
      version: 1,
      changeType: 'CREATED',
      orderId: p.actionOriginOrderId,
      orderItemId: p.actionOriginOrderItemId,
      beforeState: null,
      afterState: p as unknown as JsonObject,
      recordedAt: NOW,
      effectiveAt: '2026-07-01T00:00:00.000Z',
      actorApiKeyId: null,
      correlationId: 'corr-1',
    };
    await inTenant((tx) => insertHistory(tx, app.tenantId, entry));
    const history = await inTenant((tx) => store.listHistory(tx, 'product_instance', accountId, p.productInstanceId, 0, 10));
    assert.equal(history.length, 1);
    const { historyId: _h, accountId: _a, entityId: _e, ...expected } = entry;
    assert.deepEqual(history[0], expected);

    const duplicate = await pgErrorOf(app, (tx) => insertHistory(tx, app.tenantId, { ...entry, historyId: randomUUID() }));
    assert.equal(duplicate.code, '23505');
  });

  test('history tables are append-only for the application role: UPDATE and DELETE are refused', async () => {
    const p = await insertedProduct();
    await inTenant((tx) => insertHistory(tx, app.tenantId, {
      historyId: randomUUID(), accountId, entityId: p.productInstanceId, version: 1, changeType: 'CREATED', orderId: null, orderItemId: null,
      beforeState: null, afterState: { status: 'ACTIVE' }, recordedAt: NOW, effectiveAt: NOW, actorApiKeyId: null, correlationId: null,
    }));
    const update = await pgErrorOf(app, (tx) => tx.query(`update product_instance_history set change_type = 'TAMPERED' where product_instance_id = $1`, [p.productInstanceId]));
    assert.equal(update.code, '42501');
    assert.match(update.message, /permission denied/);
    const del = await pgErrorOf(app, (tx) => tx.query('delete from product_instance_history where product_instance_id = $1', [p.productInstanceId]));
    assert.equal(del.code, '42501');
    assert.match(del.message, /permission denied/);
    for (const table of ['subscription_history', 'service_instance_history', 'resource_instance_history']) {
      const u = await pgErrorOf(app, (tx) => tx.query(`update ${table} set change_type = 'TAMPERED'`));
      assert.equal(u.code, '42501', table);
      const d = await pgErrorOf(app, (tx) => tx.query(`delete from ${table}`));
      assert.equal(d.code, '42501', table);
    }
    const [row] = await queryRows<{ change_type: string }>(app.db.pool, 'select change_type from product_instance_history where product_instance_id = $1', [p.productInstanceId]);
    assert.equal(row.change_type, 'CREATED');
  });

  // ---------------------------------------------------------------- operation guard

  test('asset_operation_guard_active refuses a second ACTIVE guard on the same asset, allows one after RELEASED', async () => {
    const p = await insertedProduct();
    const first = guardRow(p.productInstanceId);
    await inTenant((tx) => rawInsertGuard(tx, first));

    const second = await pgErrorOf(app, (tx) => rawInsertGuard(tx, guardRow(p.productInstanceId)));
    assert.equal(second.code, '23505');
    assert.equal(second.constraint, 'asset_operation_guard_active');
    // PENDING_RELEASE still counts as active.
    const pending = await pgErrorOf(app, (tx) => rawInsertGuard(tx, guardRow(p.productInstanceId, { status: 'PENDING_RELEASE' })));
    assert.equal(pending.constraint, 'asset_operation_guard_active');
    // Released guards never conflict.
    await inTenant((tx) => rawInsertGuard(tx, guardRow(p.productInstanceId, { status: 'RELEASED', releasedAt: NOW })));

    await inTenant((tx) => store.releaseGuard(tx, accountId, first.guardId, LATER));
    const third = guardRow(p.productInstanceId);
    await inTenant((tx) => rawInsertGuard(tx, third));
    const active = await queryRows<{ guard_id: string }>(app.db.pool, `select guard_id from asset_operation_guard where product_instance_id = $1 and status = 'ACTIVE'`, [p.productInstanceId]);
    assert.deepEqual(active.map((r) => r.guard_id), [third.guardId]);

    // Another asset of the same account is independent.
    const other = await insertedProduct();
    await inTenant((tx) => rawInsertGuard(tx, guardRow(other.productInstanceId)));
  });

  test('a RELEASED guard must carry released_at, and an active one must not', async () => {
    const p = await insertedProduct();
    const e1 = await pgErrorOf(app, (tx) => rawInsertGuard(tx, guardRow(p.productInstanceId, { status: 'RELEASED', releasedAt: null })));
    assert.equal(e1.code, '23514');
    const e2 = await pgErrorOf(app, (tx) => rawInsertGuard(tx, guardRow(p.productInstanceId, { status: 'ACTIVE', releasedAt: NOW })));
    assert.equal(e2.code, '23514');
  });

  test('tryInsertGuard returns the guard, or undefined while another is active; findActiveGuard and releaseGuard', async () => {
    const p = await insertedProduct();
    const g = guardRow(p.productInstanceId);
    const inserted = await inTenant((tx) => store.tryInsertGuard(tx, app.tenantId, g, 'corr'));
    assert.deepEqual(inserted, g);
    const refused = await inTenant((tx) => store.tryInsertGuard(tx, app.tenantId, guardRow(p.productInstanceId), 'corr'));
    assert.equal(refused, undefined);
    assert.deepEqual(await inTenant((tx) => store.findActiveGuard(tx, accountId, p.productInstanceId)), g);

    await inTenant((tx) => store.releaseGuard(tx, accountId, g.guardId, LATER));
    assert.equal(await inTenant((tx) => store.findActiveGuard(tx, accountId, p.productInstanceId)), undefined);
    const [released] = await queryRows<{ status: string; released_at: Date }>(app.db.pool, 'select status, released_at from asset_operation_guard where guard_id = $1', [g.guardId]);
    assert.equal(released.status, 'RELEASED');
    assert.equal(released.released_at.toISOString(), LATER);
    // Releasing again changes nothing (released_at stays).
    await inTenant((tx) => store.releaseGuard(tx, accountId, g.guardId, '2026-07-03T00:00:00.000Z'));
    const [again] = await queryRows<{ released_at: Date }>(app.db.pool, 'select released_at from asset_operation_guard where guard_id = $1', [g.guardId]);
    assert.equal(again.released_at.toISOString(), LATER);

    const next = await inTenant((tx) => store.tryInsertGuard(tx, app.tenantId, guardRow(p.productInstanceId), null));
    assert.ok(next);
  });

  // ---------------------------------------------------------------- relationships

  test('product_instance_relationship_current refuses a duplicate current relationship; an ended one does not count', async () => {
    const a = await insertedProduct();
    const b = await insertedProduct();
    const first = relationshipRow(a.productInstanceId, b.productInstanceId, 'DEPENDS_ON');
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, first));
    const dup = await pgErrorOf(app, (tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(a.productInstanceId, b.productInstanceId, 'DEPENDS_ON')));
    assert.equal(dup.code, '23505');
    assert.equal(dup.constraint, 'product_instance_relationship_current');

    // Another type between the same two, or the reverse direction, is a different relationship.
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(a.productInstanceId, b.productInstanceId, 'REQUIRES')));
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(b.productInstanceId, a.productInstanceId, 'DEPENDS_ON')));

    assert.equal(await inTenant((tx) => store.endRelationship(tx, accountId, first.relationshipId, { validTo: LATER, endedAt: LATER, orderItemId: null })), true);
    assert.equal(await inTenant((tx) => store.endRelationship(tx, accountId, first.relationshipId, { validTo: LATER, endedAt: LATER, orderItemId: null })), false, 'ending twice');
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(a.productInstanceId, b.productInstanceId, 'DEPENDS_ON')));
    const current = await inTenant((tx) => store.listCurrentRelationships(tx, accountId));
    assert.equal(current.filter((r) => r.sourceProductInstanceId === a.productInstanceId && r.targetProductInstanceId === b.productInstanceId && r.type === 'DEPENDS_ON').length, 1);
  });

  test('product_instance_relationship_one_parent refuses a second current PARENT_OF parent', async () => {
    const p1 = await insertedProduct();
    const p2 = await insertedProduct();
    const child = await insertedProduct();
    const first = relationshipRow(p1.productInstanceId, child.productInstanceId, 'PARENT_OF');
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, first));
    const second = await pgErrorOf(app, (tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(p2.productInstanceId, child.productInstanceId, 'PARENT_OF')));
    assert.equal(second.code, '23505');
    assert.equal(second.constraint, 'product_instance_relationship_one_parent');
    // ADDON_OF to another product is not a parent.
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(child.productInstanceId, p2.productInstanceId, 'ADDON_OF')));
    // After the first parent link ends, a new parent may be set.
    await inTenant((tx) => store.endRelationship(tx, accountId, first.relationshipId, { validTo: LATER, endedAt: LATER, orderItemId: null }));
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(p2.productInstanceId, child.productInstanceId, 'PARENT_OF')));
  });

  test('a self link is refused by the schema too', async () => {
    const a = await insertedProduct();
    const error = await pgErrorOf(app, (tx) => store.insertRelationship(tx, app.tenantId, relationshipRow(a.productInstanceId, a.productInstanceId, 'DEPENDS_ON')));
    assert.equal(error.code, '23514');
  });

  test('relationships as of a past instant', async () => {
    const a = await insertedProduct();
    const b = await insertedProduct();
    const r = { ...relationshipRow(a.productInstanceId, b.productInstanceId, 'BUNDLES'), createdAt: '2026-07-02T10:00:00.000Z' };
    await inTenant((tx) => store.insertRelationship(tx, app.tenantId, r));
    await inTenant((tx) => store.endRelationship(tx, accountId, r.relationshipId, { validTo: '2026-07-02T12:00:00.000Z', endedAt: '2026-07-02T12:00:00.000Z', orderItemId: null }));
    const ids = async (at: string) => (await inTenant((tx) => store.listRelationshipsAsOf(tx, accountId, at))).map((x) => x.relationshipId);
    assert.ok(!(await ids('2026-07-02T09:59:59.000Z')).includes(r.relationshipId));
    assert.ok((await ids('2026-07-02T11:00:00.000Z')).includes(r.relationshipId));
    assert.ok(!(await ids('2026-07-02T12:00:00.000Z')).includes(r.relationshipId));
  });
});
