/** Small builders for installed-base test data, going through the real services. */
import { randomUUID } from 'node:crypto';
import type { Services } from '../../src/app.ts';
import type { CommandContext, JsonObject } from '../../src/inventory/types.ts';
import type { CreateProductInstanceInput } from '../../src/inventory/service.ts';

export async function createAccount(services: Services, ctx: CommandContext, name = 'PT Contoh Digital') {
  const customer = await services.customers.createCustomer(ctx, { name });
  const account = await services.customers.createAccount(ctx, { customerId: customer.customerId, name: name + ' account', currency: 'IDR', timeZone: 'Asia/Jakarta' });
  return { customerId: customer.customerId, accountId: account.accountId };
}

export function productSnapshot(name = 'Business Fiber 1Gbps', configuration: JsonObject = { bandwidthMbps: 1000 }) {
  return {
    productOfferingId: randomUUID(),
    productOfferingVersion: '1',
    productSpecificationId: randomUUID(),
    productSpecificationVersion: '1',
    name,
    catalogSnapshot: { offeringName: name },
    configuration,
    price: { currency: 'IDR', recurring: { period: 'month', amountMinor: '1500000000' } },
  };
}

export function orderCause() {
  return { orderId: randomUUID(), orderItemId: randomUUID() };
}

/** Creates a product instance and activates it: returns it at version 3, ACTIVE. */
export async function activeProduct(
  services: Services,
  ctx: CommandContext,
  accountId: string,
  extra: Partial<CreateProductInstanceInput> = {},
) {
  const cause = orderCause();
  const created = await services.inventory.createProductInstance(ctx, {
    accountId,
    ...productSnapshot(),
    subscription: extra.subscriptionId ? null : { termMonths: 24, billingCycle: 'monthly' },
    ...cause,
    ...extra,
  });
  const id = created.productInstance.productInstanceId;
  await services.inventory.startActivation(ctx, id, { ...cause, expectedVersion: 1 });
  const active = await services.inventory.completeActivation(ctx, id, { ...cause, expectedVersion: 2 });
  return active;
}
