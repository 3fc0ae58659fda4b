/**
 * Migration 0010 (issue 8, point 12): a database that holds instances with text catalog
 * versions ("1") migrates to integer columns, and the JSON copies of those instances (history
 * states, a pending change, a quote's snapshot) get numbers too. A version that is not a
 * positive integer stops the migration with a message naming the rows, and changes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { queryOne, queryRows, type Pool } from '../../src/platform/db.ts';
import { migrate } from '../../src/platform/migrate.ts';
import { databaseMigratedBefore, type DatabaseBefore } from '../helpers/migrated-before.ts';

const T = '2026-07-02T10:30:00Z';

describe('migration 0010: catalog versions become integers', () => {
  let db: DatabaseBefore;
  let pool: Pool;

  before(async () => {
    // The schema as it was before 0010.
    db = await databaseMigratedBefore(10);
    pool = db.pool;
  });
  after(() => db?.drop());

  test('text versions become integers in the columns and in history, pending changes and quote snapshots; a non-number stops it', async () => {
    const tenant = randomUUID(), customer = randomUUID(), account = randomUUID();
    const product = randomUUID(), service = randomUUID(), quote = randomUUID(), bad = randomUUID();
    const offering = randomUUID(), spec = randomUUID(), serviceSpec = randomUUID();
    const state = { productInstanceId: product, productOfferingId: offering, productOfferingVersion: '2', productSpecificationId: spec, productSpecificationVersion: '1', name: 'Fiber' };
    await pool.query(`insert into tenant (tenant_id, name, created_at) values ($1, 'old', $2)`, [tenant, T]);
    await pool.query(`insert into customer (customer_id, tenant_id, name, created_at, updated_at) values ($1, $2, 'PT Lama', $3, $3)`, [customer, tenant, T]);
    await pool.query(`insert into account (account_id, tenant_id, customer_id, name, currency, time_zone, created_at, updated_at) values ($1, $2, $3, 'Main', 'IDR', 'Asia/Jakarta', $4, $4)`, [account, tenant, customer, T]);
    const insertProduct = (id: string, offeringVersion: string, pendingChange: unknown) => pool.query(
      `insert into product_instance (tenant_id, account_id, product_instance_id, customer_id, product_offering_id, product_offering_version,
         product_specification_id, product_specification_version, name, status, catalog_snapshot, configuration_snapshot, price_snapshot,
         pending_change, version, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, '1', 'Fiber', 'PENDING_MODIFICATION', '{}', '{}', '{"currency":"IDR","lines":[]}', $8, 2, $9, $9)`,
      [tenant, account, id, customer, offering, offeringVersion, spec, JSON.stringify(pendingChange), T]);
    await insertProduct(product, '2', { configuration: {}, productOfferingVersion: '3' });
    await pool.query(
      `insert into product_instance_history (tenant_id, account_id, product_instance_id, version, history_id, change_type, before_state, after_state, recorded_at, effective_at)
       values ($1, $2, $3, 1, $4, 'CREATED', null, $5, $7, $7), ($1, $2, $3, 2, $6, 'MODIFICATION_STARTED', $5, $5, $7, $7)`,
      [tenant, account, product, randomUUID(), JSON.stringify(state), randomUUID(), T]);
    await pool.query(
      `insert into service_instance (tenant_id, account_id, service_instance_id, product_instance_id, service_specification_id, service_specification_version, status, version, created_at, updated_at)
       values ($1, $2, $3, $4, $5, '4', 'ACTIVE', 1, $6, $6)`, [tenant, account, service, product, serviceSpec, T]);
    await pool.query(
      `insert into service_instance_history (tenant_id, account_id, service_instance_id, version, history_id, change_type, before_state, after_state, recorded_at, effective_at)
       values ($1, $2, $3, 1, $4, 'CREATED', null, $5, $6, $6)`,
      [tenant, account, service, randomUUID(), JSON.stringify({ serviceInstanceId: service, serviceSpecificationVersion: '4' }), T]);
    await pool.query(
      `insert into quote (tenant_id, account_id, quote_id, status, currency, snapshot_id, snapshot_time, asset_versions, subscription_versions, expires_at, version, created_at, updated_at)
       values ($1, $2, $3, 'PRICED', 'IDR', $4, $5, $6, '[]', $5, 1, $5, $5)`,
      [tenant, account, quote, randomUUID(), T, JSON.stringify([{ productInstanceId: product, version: 2, productOfferingVersion: '2' }, { productInstanceId: randomUUID(), version: 1, productOfferingVersion: '5' }])]);

    // A version that names no catalog version: the migration refuses, names the row, changes nothing.
    await insertProduct(bad, 'v1', null);
    await assert.rejects(migrate(pool), (error: Error) => error.message.includes('0010') && error.message.includes(bad) && /not a positive integer/.test(error.message));
    assert.equal((await queryOne<{ type: string }>(pool, `select data_type as type from information_schema.columns where table_name = 'product_instance' and column_name = 'product_offering_version'`))!.type, 'text');
    await pool.query('delete from product_instance where product_instance_id = $1', [bad]);

    const result = await migrate(pool);
    assert.deepEqual(result.applied.filter((f) => f.startsWith('0010')), ['0010_catalog_versions_integer.sql']);
    const columns = await queryRows<{ table_name: string; column_name: string; data_type: string }>(pool,
      `select table_name, column_name, data_type from information_schema.columns
       where column_name in ('product_offering_version', 'product_specification_version', 'service_specification_version') and table_schema = 'public' order by 1, 2`);
    assert.deepEqual(columns.map((c) => [c.table_name, c.column_name, c.data_type]), [
      ['product_instance', 'product_offering_version', 'integer'],
      ['product_instance', 'product_specification_version', 'integer'],
      ['service_instance', 'service_specification_version', 'integer'],
    ]);
    const row = (await queryOne<any>(pool, 'select product_offering_version, product_specification_version, pending_change from product_instance where product_instance_id = $1', [product]))!;
    assert.deepEqual([row.product_offering_version, row.product_specification_version, row.pending_change], [2, 1, { configuration: {}, productOfferingVersion: 3 }]);
    assert.equal((await queryOne<any>(pool, 'select service_specification_version as v from service_instance where service_instance_id = $1', [service]))!.v, 4);
    const history = await queryRows<any>(pool, 'select version, before_state, after_state from product_instance_history where product_instance_id = $1 order by version', [product]);
    const integerState = { ...state, productOfferingVersion: 2, productSpecificationVersion: 1 };
    assert.deepEqual(history.map((h) => [h.version, h.before_state, h.after_state]), [[1, null, integerState], [2, integerState, integerState]]);
    assert.deepEqual((await queryOne<any>(pool, 'select after_state from service_instance_history where service_instance_id = $1', [service]))!.after_state, { serviceInstanceId: service, serviceSpecificationVersion: 4 });
    const snapshot = (await queryOne<any>(pool, 'select asset_versions from quote where quote_id = $1', [quote]))!.asset_versions;
    assert.deepEqual(snapshot.map((a: any) => a.productOfferingVersion), [2, 5], 'in the same order');
    await assert.rejects(pool.query(`update product_instance set product_offering_version = 0 where product_instance_id = $1`, [product]), /product_instance_offering_version_positive/);
  });
});
