/**
 * What an instance names in the catalog must be there: the offering and specification
 * versions it was sold as, the service specifications of its services, and a price in the
 * account's currency. 400 naming the field otherwise.
 */
import { findCatalogDocuments, findOfferingVersion, findProductSpecificationVersion } from '../../catalog/index.ts';
import { ValidationError } from '../../platform/errors.ts';
import type { JsonObject } from '../types.ts';
import type { Unit } from '../pipeline.ts';
import type { ProductSnapshotInput } from './lifecycle.ts';

/**
 * A price snapshot is in the account's currency: billing charges the account in it. (Its shape,
 * `{currency, lines}`, is the route schema's check, src/pricing/snapshot.ts.)
 */
export function checkPriceCurrency(accountCurrency: string, price: JsonObject, field: string): void {
  if (price.currency !== undefined && price.currency !== accountCurrency) {
    throw ValidationError.field(`${field}/currency`, `the price is in ${String(price.currency)}, the account is billed in ${accountCurrency}`);
  }
}

/** A catalog version number: a positive integer the catalog's integer column can hold, or null. */
export function versionNumber(version: number): number | null {
  return Number.isSafeInteger(version) && version >= 1 && version <= 2147483647 ? version : null;
}

/**
 * The offering and specification a product instance names must exist in the tenant's catalog,
 * in those versions, and the offering must be sold with that specification: an instance never
 * points at nothing.
 */
export async function checkProductReferences(u: Unit, snapshot: Pick<ProductSnapshotInput, 'productOfferingId' | 'productOfferingVersion' | 'productSpecificationId' | 'productSpecificationVersion'>, prefix: string): Promise<void> {
  const offeringVersion = versionNumber(snapshot.productOfferingVersion);
  const offering = offeringVersion === null ? null : await findOfferingVersion(u.tx, snapshot.productOfferingId, offeringVersion);
  if (!offering) throw ValidationError.field(`${prefix}/productOfferingId`, `product offering ${snapshot.productOfferingId} version ${snapshot.productOfferingVersion} does not exist`);
  const specificationVersion = versionNumber(snapshot.productSpecificationVersion);
  const specification = specificationVersion === null ? null : await findProductSpecificationVersion(u.tx, snapshot.productSpecificationId, specificationVersion);
  if (!specification) throw ValidationError.field(`${prefix}/productSpecificationId`, `product specification ${snapshot.productSpecificationId} version ${snapshot.productSpecificationVersion} does not exist`);
  const sold = offering.body.productSpecification;
  if (!sold || sold.id !== specification.id || sold.version !== specification.version) {
    throw ValidationError.field(`${prefix}/productSpecificationId`, `offering ${offering.body.code} version ${offering.version} is sold with ${sold ? `product specification ${sold.id} version ${sold.version}` : 'no product specification'}, not ${specification.id} version ${specification.version}`);
  }
}

/**
 * A service instance names a service specification version that exists in the tenant's catalog.
 * A version exists when it has a document; a published one's is in process once read (no statement).
 */
export async function checkServiceSpecification(u: Unit, id: string, version: number, prefix: string): Promise<void> {
  const number = versionNumber(version);
  const found = number === null ? false : (await findCatalogDocuments(u.tx, u.ctx.tenantId, 'service_specification', [{ id, version: number }])).has(`${id}@${number}`);
  if (!found) throw ValidationError.field(`${prefix}/serviceSpecificationId`, `service specification ${id} version ${version} does not exist`);
}
