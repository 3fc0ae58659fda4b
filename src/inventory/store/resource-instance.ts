/** resource_instance: the resources (ports, addresses, numbers…) allocated to a service. */
import type { Tx } from '../../platform/db.ts';
import type { ResourceInstance } from '../types.ts';
import { iso, selectAll, selectOne, versionColumns, writesOne, type Statement } from './rows.ts';

function resourceInstanceFromRow(r: any): ResourceInstance {
  return {
    resourceInstanceId: r.resource_instance_id,
    accountId: r.account_id,
    serviceInstanceId: r.service_instance_id,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    externalResourceId: r.external_resource_id,
    status: r.status,
    allocationDate: iso(r.allocation_date),
    releaseDate: iso(r.release_date),
    attributes: r.attributes,
    ...versionColumns(r),
  };
}

export function findResourceInstance(tx: Tx, resourceInstanceId: string): Promise<ResourceInstance | undefined> {
  return selectOne(tx, resourceInstanceFromRow, 'select * from resource_instance where resource_instance_id = $1', [resourceInstanceId]);
}

export function listResourceInstancesOfService(tx: Tx, accountId: string, serviceInstanceId: string): Promise<ResourceInstance[]> {
  return selectAll(tx, resourceInstanceFromRow, 'select * from resource_instance where account_id = $1 and service_instance_id = $2 order by created_at, resource_instance_id', [accountId, serviceInstanceId]);
}

export function listResourceInstancesOfAccount(tx: Tx, accountId: string): Promise<ResourceInstance[]> {
  return selectAll(tx, resourceInstanceFromRow, 'select * from resource_instance where account_id = $1 order by created_at, resource_instance_id', [accountId]);
}

export async function insertResourceInstance(tx: Tx, tenantId: string, r: ResourceInstance): Promise<void> {
  await tx.query(
    `insert into resource_instance (tenant_id, account_id, resource_instance_id, service_instance_id, resource_type,
       resource_id, external_resource_id, status, allocation_date, release_date, attributes, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [tenantId, r.accountId, r.resourceInstanceId, r.serviceInstanceId, r.resourceType, r.resourceId, r.externalResourceId,
     r.status, r.allocationDate, r.releaseDate, r.attributes, r.version, r.createdAt, r.updatedAt],
  );
}

/** The optimistic write, as a statement: it changes the row only while it is still at `expectedVersion` (sent with the version's records). */
export function resourceInstanceUpdate(r: ResourceInstance, expectedVersion: number): Statement {
  return {
    text: `update resource_instance set status = $3, release_date = $4, attributes = $5, version = $6, updated_at = $7
     where account_id = $1 and resource_instance_id = $2 and version = $8`,
    params: [r.accountId, r.resourceInstanceId, r.status, r.releaseDate, r.attributes, r.version, r.updatedAt, expectedVersion],
  };
}

/** resourceInstanceUpdate, sent on its own: true when it changed the row. */
export async function updateResourceInstance(tx: Tx, r: ResourceInstance, expectedVersion: number): Promise<boolean> {
  const { text, params } = resourceInstanceUpdate(r, expectedVersion);
  return writesOne(tx, text, params);
}
