/**
 * Changing a product instance in place (order action MODIFY, seed 000 §11.2): same instance
 * id, a new version with the new configuration, price, name or offering version. Started
 * (PENDING_MODIFICATION, the change held as pendingChange), then completed, cancelled or failed.
 */
import { findOfferingVersion, findProductSpecificationVersion, instanceNameAfterChange, type ProductSpecificationBody } from '../../catalog/index.ts';
import { findAccountInTx } from '../../customers/index.ts';
import type { Tx } from '../../platform/db.ts';
import { ValidationError } from '../../platform/errors.ts';
import { validateConfiguration } from '../../pricing/index.ts';
import { changedKeys, mergeConfiguration } from '../model.ts';
import { loadProduct, transitionProduct, type TransitionInput, type Unit } from '../pipeline.ts';
import type { JsonObject, ProductInstance } from '../types.ts';
import { checkPriceCurrency, versionNumber } from './catalog-references.ts';

export interface ModificationChange {
  /** Characteristics to change; a null value removes the characteristic. */
  configuration?: JsonObject;
  /** The new price snapshot, replacing the old one. */
  price?: JsonObject;
  name?: string;
  productOfferingVersion?: number;
  catalogSnapshot?: JsonObject;
}

/**
 * Puts the instance in PENDING_MODIFICATION with the requested change. A configuration change
 * is checked here, as the whole configuration it leaves, against the instance's specification
 * (400 naming `/requestedChange/configuration/<name>`), and kept normalized: whatever road it
 * comes by (an order, the internal route), an instance never holds a configuration its
 * specification refuses.
 */
export async function startModification(u: Unit, id: string, input: TransitionInput & { requestedChange?: ModificationChange }): Promise<ProductInstance> {
  const requested = await checkedChange(u, id, input.requestedChange, '/requestedChange');
  return transitionProduct(u, id, 'modification:start', input, (p) => {
    p.pendingChange = (requested ?? {}) as JsonObject;
  });
}

/**
 * Applies the change (the one given here, else the one requested at start): same product
 * instance id, new version (seed 000 §11.2).
 */
export async function completeModification(u: Unit, id: string, input: TransitionInput & { change?: ModificationChange }): Promise<ProductInstance> {
  // A change given here is checked like one given at start (`/change/configuration/<name>`).
  const given = await checkedChange(u, id, input.change, '/change');
  return transitionProduct(u, id, 'modification:complete', input, (p) => {
    const change = (given ?? p.pendingChange ?? {}) as ModificationChange;
    if (change.configuration) p.configuration = mergeConfiguration(p.configuration, change.configuration);
    if (change.price) p.price = change.price;
    if (change.name) p.name = change.name;
    if (change.productOfferingVersion) p.productOfferingVersion = change.productOfferingVersion;
    if (change.catalogSnapshot) p.catalogSnapshot = change.catalogSnapshot;
    p.pendingChange = null;
    p.effectiveFrom = input.effectiveAt ?? u.now;
  });
}

export function cancelModification(u: Unit, id: string, input: TransitionInput): Promise<ProductInstance> {
  return transitionProduct(u, id, 'modification:cancel', input, (p) => {
    p.pendingChange = null;
  });
}

/** Fulfillment could not apply the change: back to ACTIVE unchanged, the error recorded, the guard released. */
export function failModification(u: Unit, id: string, input: TransitionInput & { error: { code: string; message: string } }): Promise<ProductInstance> {
  return transitionProduct(u, id, 'modification:fail', input, (p) => {
    p.pendingChange = null;
    p.lastError = { code: input.error.code, message: input.error.message, at: u.now };
  }, { error: input.error });
}

/**
 * Checks a configuration change of a product instance as the whole configuration it leaves,
 * against the instance's own specification version: the one check, used by the modification
 * commands and by order submission (which names its fields `/items/<n>/configuration/…`).
 * Returns the normalized configuration and the change that leads to it from the current one
 * (a removed characteristic as null). Field errors are `/configuration/<name>`.
 *
 * An instance whose specification version is not in the tenant's catalog (recorded through the
 * internal route before references were checked) has nothing to check against: its change is
 * taken as given.
 */
export async function checkConfigurationChange(tx: Tx, product: ProductInstance, delta: Record<string, unknown>): Promise<{ configuration: JsonObject; change: JsonObject; specification: ProductSpecificationBody | null }> {
  const merged = mergeConfiguration(product.configuration, delta);
  const version = versionNumber(product.productSpecificationVersion);
  const spec = version !== null ? await findProductSpecificationVersion(tx, product.productSpecificationId, version) : null;
  if (!spec) return { configuration: merged, change: delta as JsonObject, specification: null };
  const configuration = validateConfiguration(spec.body, merged) as JsonObject;
  const change: JsonObject = {};
  for (const key of new Set([...Object.keys(product.configuration), ...Object.keys(configuration)])) {
    if (!(key in configuration)) change[key] = null;
    else if (changedKeys({ [key]: product.configuration[key] }, { [key]: configuration[key] }).length) change[key] = configuration[key];
  }
  return { configuration, change, specification: spec.body };
}

/** A requested modification with its configuration checked and normalized; fields prefixed with `at`. */
async function checkedChange(u: Unit, id: string, change: ModificationChange | undefined, at: string): Promise<ModificationChange | undefined> {
  if (!change || (!change.price && change.productOfferingVersion === undefined && !change.configuration)) return change;
  const product = await loadProduct(u, id);
  if (change.price) checkPriceCurrency((await findAccountInTx(u.tx, product.accountId))!.currency, change.price, `${at}/price`);
  // The version the instance moves to is a version of its own offering, in the catalog.
  const offeringVersion = versionNumber(change.productOfferingVersion ?? product.productOfferingVersion);
  const offering = offeringVersion !== null ? await findOfferingVersion(u.tx, product.productOfferingId, offeringVersion) : null;
  if (change.productOfferingVersion !== undefined && !offering) {
    throw ValidationError.field(`${at}/productOfferingVersion`, `product offering ${product.productOfferingId} version ${change.productOfferingVersion} does not exist`);
  }
  if (!change.configuration) return change;
  try {
    const checked = await checkConfigurationChange(u.tx, product, change.configuration);
    if (change.name) return { ...change, configuration: checked.change };
    // A name made from the configuration follows it, whoever changes it (an order names it
    // the same way at submission); a fixed or chosen name stays.
    const name = offering ? instanceNameAfterChange(offering.body, checked.specification, product, checked.configuration) : product.name;
    return { ...change, configuration: checked.change, ...(name !== product.name ? { name } : {}) };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const errors = error.errors.map((e) => ({ field: `${at}${e.field}`, message: e.message }));
    throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
  }
}
