/** A whole Tenure (services + HTTP server) on a fresh real database, with a manual clock. */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.ts';
import { createServices, type Services } from '../../src/app.ts';
import { DEFAULT_SETTINGS, type FulfillmentSettings } from '../../src/fulfillment/orchestrator.ts';
import { ProvisionerRegistry } from '../../src/fulfillment/provisioner.ts';
import { InternalProvisioner, ManualProvisioner } from '../../src/fulfillment/provisioners.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import type { CommandContext } from '../../src/platform/context.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestApp {
  db: TestDatabase;
  clock: ManualClock;
  services: Services;
  server: FastifyInstance;
  tenantId: string;
  adminKey: string;
  ctx: CommandContext;
  close(): Promise<void>;
}

export interface TestAppOptions {
  poolSize?: number;
  /** Registered besides the built-in manual and internal provisioners. */
  provisioners?: unknown[];
  /** HTTP provisioners' callback secrets by code. */
  callbackSecrets?: Map<string, string>;
  fulfillment?: Partial<FulfillmentSettings>;
}

export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const db = await createTestDatabase(options.poolSize ?? 10);
  const clock = new ManualClock('2026-07-02T10:30:00Z');
  const services = createServices(db.pool, clock, {
    provisioners: {
      registry: new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner(), ...(options.provisioners ?? [])]),
      callbackSecrets: options.callbackSecrets ?? new Map(),
    },
    fulfillment: { ...DEFAULT_SETTINGS, ...options.fulfillment },
  });
  const tenant = await services.access.createTenant({ name: 'Test tenant' });
  const server = await buildServer(services);
  return {
    db,
    clock,
    services,
    server,
    tenantId: tenant.tenantId,
    adminKey: tenant.apiKey,
    ctx: { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' }, correlationId: 'test' },
    async close() {
      await server.close();
      await db.drop();
    },
  };
}

/** Sends a JSON request with the key; returns status and parsed body. */
export async function call(server: FastifyInstance, key: string, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await server.inject({
    method,
    url,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  let json: any = null;
  try {
    json = response.json();
  } catch {
    json = response.body;
  }
  return { status: response.statusCode, body: json, headers: response.headers };
}

/** A GET that must answer 200: its body. */
export async function getOk(server: FastifyInstance, key: string, url: string) {
  const response = await call(server, key, 'GET', url);
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

/** Runs the fulfillment orchestrator in this process until no task is left to run; returns how many ran. */
export async function drainFulfillment(app: TestApp, workerId = 'test-worker'): Promise<number> {
  let ran = 0;
  for (let round = 0; round < 200; round++) {
    const n = await app.services.orchestrator.runOnce(workerId);
    if (n === 0) return ran;
    ran += n;
  }
  throw new Error('fulfillment did not settle in 200 rounds');
}

/** A problem+json answer of this status and type, with its standard members. */
export function assertProblem(res: { status: number; body: any; headers: Record<string, unknown> }, status: number, type: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(res.body.type, `/problems/${type}`);
  assert.equal(res.body.status, status);
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.detail, 'string');
  assert.equal(typeof res.body.instance, 'string');
}
