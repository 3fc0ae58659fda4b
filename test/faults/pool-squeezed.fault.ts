/**
 * Fault 5 of issue 9 point 5: the pool squeezed to a few connections. The processes start on
 * a server of 40 connections (the API with its pool of 6 and its in-process worker's 10, two
 * `tenure worker` processes with a batch of 4: 24 wanted); then, while the orders stream, the
 * test takes slots for itself until only APP_SLOTS are left for all of them together, holds
 * them for SQUEEZE_MS, and gives them back. Busy processes never let a connection go, so the
 * test closes their idle ones (pg_terminate_backend of sessions in no transaction, as a
 * server's idle_session_timeout or a proxy does) and takes the slot. Requests that find no
 * connection are 503 and retried; workers claim only what they hold connections for and give
 * back what they cannot run, so that no task waits out a lease for a connection and every
 * order completes within the bound. (A server that is already full when a process starts is
 * another matter: the process waits for it at start-up and then refuses to start.)
 */
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { FaultEnv, sleep } from './harness.ts';

const MAX_CONNECTIONS = 40;
/** What the API and the two workers have together while squeezed. */
const APP_SLOTS = 8;
const SQUEEZE_MS = 16_000;

describe('the pool squeezed to a few connections under a stream of orders', () => {
  let env: FaultEnv;
  const hog: pg.Client[] = [];
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
  after(async () => {
    await Promise.all(hog.map((c) => c.end().catch(() => {})));
    await env?.dispose();
  });

  test('every acknowledged order exists once, completes within the bound, no process dies, tenure check is healthy', async () => {
    // Every slot but the test's own connection and APP_SLOTS.
    const hogSize = MAX_CONNECTIONS - 1 - APP_SLOTS;
    let squeezedMs = 0;
    let fewestForApp = Infinity;
    await env.streamOrders(async () => {
      const started = Date.now();
      let fullAt: number | null = null;
      while (Date.now() - started < SQUEEZE_MS) {
        const sessions = (await env.pg.admin.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`)).rows[0].n;
        fewestForApp = Math.min(fewestForApp, sessions - 1 - hog.length);
        if (hog.length < hogSize) {
          // Full: close one of the application's idle connections (no transaction open) to free a slot.
          if (sessions >= MAX_CONNECTIONS) {
            await env.pg.admin.query(`select pg_terminate_backend(pid) from pg_stat_activity
              where application_name = 'tenure' and state = 'idle' and xact_start is null order by state_change limit 1`);
          }
          const client = new pg.Client({ connectionString: env.pg.url, application_name: 'fault-suite-squeeze' });
          client.on('error', () => {});
          try {
            await client.connect();
            hog.push(client);
          } catch {
            // The application took it back first (53300): again.
          }
          continue;
        }
        if (hog.length === hogSize) fullAt ??= Date.now();
        await sleep(50);
      }
      squeezedMs = fullAt === null ? 0 : Date.now() - fullAt;
      await Promise.all(hog.splice(0).map((c) => c.end().catch(() => {})));
    });
    await env.verify({
      outageMs: 0,
      notes: `the application squeezed to ${APP_SLOTS} of ${MAX_CONNECTIONS} connections for ${(squeezedMs / 1000).toFixed(1)} s (it had ${fewestForApp} at the fewest)`,
      // The squeeze must have bitten: the test held every slot but APP_SLOTS for a while.
      extraProblems: squeezedMs >= 5_000 ? [] : [`the application was squeezed to ${APP_SLOTS} connections for only ${squeezedMs} ms`],
    });
  });
});
