/**
 * Fault 5 of issue 9 point 5: the pool squeezed to a few connections. PostgreSQL allows 14
 * connections (as in the trial; one is the test's own), fewer than the API and two
 * `tenure worker` processes would open: the API's pool (TENURE_DB_POOL_MAX 6) and its
 * in-process worker's (one connection per task of its batch, 10) and each worker's batch
 * (TENURE_FULFILLMENT_BATCH 4) ask for 24 together; the test asserts the server was full.
 * Requests that find no connection are 503 and retried; workers must claim only what they can
 * run and give back what they cannot, so that no task waits out a lease for a connection and
 * every order completes within the bound.
 */
import { after, before, describe, test } from 'node:test';
import { FaultEnv, sleep } from './harness.ts';

const MAX_CONNECTIONS = 14;

describe('the pool squeezed to a few connections under a stream of orders', () => {
  let env: FaultEnv;
  before(async () => {
    env = await FaultEnv.start({
      label: 'pool squeezed',
      workers: 2,
      inProcessWorker: true,
      maxConnections: MAX_CONNECTIONS,
      apiEnv: { TENURE_DB_POOL_MAX: '6' },
      workerEnv: { TENURE_FULFILLMENT_BATCH: '4' },
    });
  });
  after(() => env?.dispose());

  test('every acknowledged order exists once, completes within the bound, no process dies, tenure check is healthy', async () => {
    // The squeeze holds for the whole stream: the sessions are sampled, to show the server was full.
    let peak = 0;
    await env.streamOrders(async () => {
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        const sessions = (await env.pg.admin.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`)).rows[0].n;
        peak = Math.max(peak, sessions);
        await sleep(200);
      }
    });
    await env.verify({
      outageMs: 0,
      notes: `max_connections ${MAX_CONNECTIONS}, peak ${peak} sessions`,
      extraProblems: peak >= MAX_CONNECTIONS ? [] : [`the server was never full (peak ${peak} of ${MAX_CONNECTIONS} sessions): nothing was squeezed`],
    });
  });
});
