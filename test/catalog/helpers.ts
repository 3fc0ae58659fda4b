/** Small catalog documents and HTTP steps shared by the catalog tests. */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { call } from '../helpers/app.ts';

let counter = 0;
export const uniqueCode = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

export function resourceSpec(code = uniqueCode('res')) {
  return { code, name: 'ONT', resourceType: 'ONT', characteristics: [] };
}

export function serviceSpec(resourceRefs: { id: string; version: number }[] = [], code = uniqueCode('svc')) {
  return { code, name: 'Internet Access Service', characteristics: [], resourceSpecifications: resourceRefs };
}

export function productSpec(serviceRefs: { id: string; version: number }[] = [], code = uniqueCode('spec')) {
  return {
    code,
    name: 'Business Fiber',
    characteristics: [
      { name: 'bandwidthMbps', valueType: 'enum', values: ['1000', '2000'], default: '1000', minCardinality: 1 },
      { name: 'extraIps', valueType: 'integer', min: '0', max: '64', default: 0 },
    ],
    serviceSpecifications: serviceRefs,
  };
}

export function offering(spec: { id: string; version: number }, overrides: Record<string, unknown> = {}) {
  return {
    code: uniqueCode('offer'),
    name: 'Business Fiber',
    category: 'connectivity',
    segment: 'enterprise',
    productSpecification: spec,
    priceLists: [{
      currency: 'IDR',
      charges: [
        { kind: 'recurring', code: 'fiber-1g', name: '1 Gbps monthly', amountMinor: '1500000000', period: 'month', condition: { characteristic: 'bandwidthMbps', equals: '1000' } },
        { kind: 'recurring', code: 'fiber-2g', name: '2 Gbps monthly', amountMinor: '2500000000', period: 'month', condition: { characteristic: 'bandwidthMbps', equals: '2000' } },
        { kind: 'one_time', code: 'installation', name: 'Installation', amountMinor: '500000000' },
      ],
    }],
    ...overrides,
  };
}

/** POST then publish: returns the published version 1. */
export async function createPublished(server: FastifyInstance, key: string, path: string, body: unknown) {
  const created = await call(server, key, 'POST', path, body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const published = await call(server, key, 'POST', `${path}/${created.body.id}/versions/1/publication:apply`);
  assert.equal(published.status, 200, JSON.stringify(published.body));
  return published.body;
}

/** A published product specification (with its service and resource specifications). */
export async function publishedProductSpec(server: FastifyInstance, key: string) {
  const res = await createPublished(server, key, '/resource-specifications', resourceSpec());
  const svc = await createPublished(server, key, '/service-specifications', serviceSpec([{ id: res.id, version: 1 }]));
  return createPublished(server, key, '/product-specifications', productSpec([{ id: svc.id, version: 1 }]));
}
