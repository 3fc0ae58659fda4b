/**
 * `npm start` as a new user runs it: a real process, on DATABASE_URL's server and on an
 * embedded PostgreSQL whose data is kept and reused on the next start.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTenure as startProcess, type StartedTenure } from './helpers/tenure-process.ts';

const DEMO_KEY = 'tnr_demo-key-for-tests-0123456789';

function startTenure(env: Record<string, string | undefined>): Promise<StartedTenure> {
  return startProcess({ TENURE_DEMO_KEY: DEMO_KEY, ...env });
}

async function installedBase(url: string) {
  const accounts = await (await fetch(`${url}/accounts`, { headers: { authorization: `Bearer ${DEMO_KEY}` } })).json();
  const accountId = accounts.items[0].accountId;
  const response = await fetch(`${url}/accounts/${accountId}/installed-base`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
  assert.equal(response.status, 200);
  return response.json();
}

function checkDemo(base: any) {
  const byName = Object.fromEntries(base.products.map((p: any) => [p.name, p]));
  assert.deepEqual(Object.keys(byName).sort(), ['Business Fiber 1Gbps', 'Managed Router', 'SLA Gold', 'Static IP /29']);
  for (const p of base.products) assert.equal(p.status, 'ACTIVE');
  const fiber = byName['Business Fiber 1Gbps'];
  const parentOf = fiber.relationships.filter((r: any) => r.type === 'PARENT_OF').map((r: any) => r.targetProductInstanceId).sort();
  assert.deepEqual(parentOf, [byName['Static IP /29'].productInstanceId, byName['Managed Router'].productInstanceId].sort());
  assert.deepEqual(byName['SLA Gold'].relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', fiber.productInstanceId]]);
  assert.equal(base.subscriptions.length, 1);
  assert.equal(base.subscriptions[0].status, 'ACTIVE');
  assert.equal(base.subscriptions[0].termMonths, 24);
  for (const p of base.products) {
    assert.equal(p.subscriptionId, base.subscriptions[0].subscriptionId);
    assert.equal(p.serviceInstances.length, 1);
    assert.equal(p.serviceInstances[0].status, 'ACTIVE');
  }
  assert.deepEqual(fiber.serviceInstances[0].resourceInstances.map((r: any) => r.resourceType), ['ONT', 'PORT', 'VLAN']);
}

describe('npm start', () => {
  let db: TestDatabase;
  let dataDir: string;
  before(async () => {
    db = await createTestDatabase(2);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenure-start-'));
    await chmod(dataDir, 0o755);
  });
  after(async () => {
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('with DATABASE_URL: migrates, loads the demo, serves the API with TENURE_DEMO_KEY', async () => {
    const started = await startTenure({ DATABASE_URL: db.url });
    try {
      assert.match(started.output(), new RegExp(`Demo API key:\\s+${DEMO_KEY}`));
      checkDemo(await installedBase(started.url));
      const docs = await fetch(`${started.url}/openapi.json`);
      assert.equal(docs.status, 200);
    } finally {
      assert.equal(await started.stop(), 0);
    }
    // A second start reuses the demo instead of loading it again.
    const again = await startTenure({ DATABASE_URL: db.url });
    try {
      assert.doesNotMatch(again.output(), /just created/);
      checkDemo(await installedBase(again.url));
    } finally {
      await again.stop();
    }
  });

  test('without DATABASE_URL: embedded PostgreSQL, data kept for the next start', async () => {
    const env = { DATABASE_URL: undefined, TENURE_DATA_DIR: path.join(dataDir, 'pgdata'), TENURE_EMBEDDED_PG_PORT: '0' };
    const first = await startTenure(env);
    try {
      assert.match(first.output(), /just created/);
      checkDemo(await installedBase(first.url));
    } finally {
      await first.stop();
    }
    const second = await startTenure(env);
    try {
      assert.doesNotMatch(second.output(), /just created/);
      checkDemo(await installedBase(second.url));
    } finally {
      await second.stop();
    }
  });
});
