/** The live ids of the demo data that the OpenAPI examples name (src/api/openapi-examples.ts EXAMPLE_IDS). */
import type { FastifyInstance } from 'fastify';
import { EXAMPLE_IDS } from '../../src/api/openapi-examples.ts';
import { call } from './app.ts';

/** Example id → the live id of the same demo entity, read through the API. */
export async function demoExampleIds(server: FastifyInstance, key: string, accountId: string): Promise<[string, string][]> {
  const offerings = await call(server, key, 'GET', '/product-offerings?limit=200');
  const offering = (code: string) => offerings.body.items.find((o: any) => o.body.code === code);
  const services = await call(server, key, 'GET', '/service-specifications?limit=200');
  const base = await call(server, key, 'GET', `/accounts/${accountId}/installed-base`);
  const product = (name: string) => base.body.products.find((p: any) => p.name === name)?.productInstanceId;
  return [
    [EXAMPLE_IDS.account, accountId],
    [EXAMPLE_IDS.offering.businessFiber, offering('business-fiber')?.id],
    [EXAMPLE_IDS.offering.staticIp29, offering('static-ip-29')?.id],
    [EXAMPLE_IDS.offering.managedRouter, offering('managed-router')?.id],
    [EXAMPLE_IDS.offering.slaGold, offering('sla-gold')?.id],
    [EXAMPLE_IDS.productSpecification.businessFiber, offering('business-fiber')?.body.productSpecification.id],
    [EXAMPLE_IDS.serviceSpecification.internetAccess, services.body.items.find((s: any) => s.body.code === 'internet-access')?.id],
    [EXAMPLE_IDS.customer, base.body.customerId],
    [EXAMPLE_IDS.demo.fiber, product('Business Fiber 1Gbps')],
    [EXAMPLE_IDS.demo.staticIp, product('Static IP /29')],
    [EXAMPLE_IDS.demo.managedRouter, product('Managed Router')],
    [EXAMPLE_IDS.demo.slaGold, product('SLA Gold')],
    [EXAMPLE_IDS.demo.subscription, base.body.subscriptions[0]?.subscriptionId],
  ];
}

/** Replaces each id of `map` (example id → live id) wherever it occurs, also inside strings. */
export function withIds<T>(value: T, map: Map<string, string>): T {
  if (typeof value === 'string') {
    let s: string = value;
    for (const [from, to] of map) s = s.split(from).join(to);
    return s as T;
  }
  if (Array.isArray(value)) return value.map((v) => withIds(v, map)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withIds(v, map)])) as T;
  return value;
}
