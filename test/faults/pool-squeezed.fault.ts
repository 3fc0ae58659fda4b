/**
 * Fault 5 of issue 9 point 5: the pool squeezed to a few connections. PostgreSQL allows 14
 * connections (as in the trial; one is the test's own), fewer than the API and two
 * `tenure worker` processes would open: each process's pool (TENURE_DB_POOL_MAX) and each
 * worker's batch (TENURE_FULFILLMENT_BATCH, one connection per claimed task) are set so that
 * together they ask for more than the server has. Requests that find no connection are 503
 * and retried; workers must claim only what they can run and give back what they cannot, so
 * that no task waits out a lease for a connection and every order completes within the bound.
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
      workerEnv: { TENURE_DB_POOL_MAX: '4', TENURE_FULFILLMENT_BATCH: '4' },
    });
  });
  after(() => env?.dispose());

  test('every acknowledged order exists once, completes within the bound, no process dies, tenure check is healthy', async () => {
    // The squeeze holds for the whole stream.
    await env.streamOrders(() => sleep(20_000));
    const busiest = (await env.pg.admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = current_database()')).rows[0].n;
    await env.verify({ outageMs: 0, notes: `max_connections ${MAX_CONNECTIONS} (${busiest} sessions at the end)` });
  });
});
