/** service_instance: the services that realise a product instance, at a place. */
import type { Tx } from '../../platform/db.ts';
import type { ServiceInstance } from '../types.ts';
import { iso, selectAll, selectOne, versionColumns, writesOne, type Statement } from './rows.ts';

function serviceInstanceFromRow(r: any): ServiceInstance {
  return {
    serviceInstanceId: r.service_instance_id,
    accountId: r.account_id,
    productInstanceId: r.product_instance_id,
    serviceSpecificationId: r.service_specification_id,
    serviceSpecificationVersion: r.service_specification_version,
    name: r.name,
    status: r.status,
    externalServiceId: r.external_service_id,
    place: r.place,
    activationDate: iso(r.activation_date),
    terminationDate: iso(r.termination_date),
    technicalParameters: r.technical_parameters,
    ...versionColumns(r),
  };
}

export function findServiceInstance(tx: Tx, serviceInstanceId: string): Promise<ServiceInstance | undefined> {
  return selectOne(tx, serviceInstanceFromRow, 'select * from service_instance where service_instance_id = $1', [serviceInstanceId]);
}

export function listServiceInstancesOfProduct(tx: Tx, accountId: string, productInstanceId: string): Promise<ServiceInstance[]> {
  return selectAll(tx, serviceInstanceFromRow, 'select * from service_instance where account_id = $1 and product_instance_id = $2 order by created_at, service_instance_id', [accountId, productInstanceId]);
}

export function listServiceInstancesOfAccount(tx: Tx, accountId: string): Promise<ServiceInstance[]> {
  return selectAll(tx, serviceInstanceFromRow, 'select * from service_instance where account_id = $1 order by created_at, service_instance_id', [accountId]);
}

export async function insertServiceInstance(tx: Tx, tenantId: string, s: ServiceInstance): Promise<void> {
  await tx.query(
    `insert into service_instance (tenant_id, account_id, service_instance_id, product_instance_id, service_specification_id,
       service_specification_version, name, status, external_service_id, place, activation_date, termination_date,
       technical_parameters, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [tenantId, s.accountId, s.serviceInstanceId, s.productInstanceId, s.serviceSpecificationId, s.serviceSpecificationVersion,
     s.name, s.status, s.externalServiceId, s.place, s.activationDate, s.terminationDate, s.technicalParameters,
     s.version, s.createdAt, s.updatedAt],
  );
}

/** The optimistic write, as a statement: it changes the row only while it is still at `expectedVersion` (sent with the version's records). */
export function serviceInstanceUpdate(s: ServiceInstance, expectedVersion: number): Statement {
  return {
    text: `update service_instance set status = $3, external_service_id = $4, place = $5, activation_date = $6,
       termination_date = $7, technical_parameters = $8, version = $9, updated_at = $10
     where account_id = $1 and service_instance_id = $2 and version = $11`,
    params: [s.accountId, s.serviceInstanceId, s.status, s.externalServiceId, s.place, s.activationDate, s.terminationDate,
     s.technicalParameters, s.version, s.updatedAt, expectedVersion],
  };
}

/** serviceInstanceUpdate, sent on its own: true when it changed the row. */
export async function updateServiceInstance(tx: Tx, s: ServiceInstance, expectedVersion: number): Promise<boolean> {
  const { text, params } = serviceInstanceUpdate(s, expectedVersion);
  return writesOne(tx, text, params);
}
