/**
 * Fault 1 of issue 9 point 5: PostgreSQL restarted (fast shutdown, down a few seconds, started
 * again on the same data folder and port) twice under a stream of orders, with the API (and
 * its in-process worker) and two `tenure worker` processes running. Every process must ride
 * it out by itself; the clients see 503s and connection errors and retry with their keys.
 */
import { after, before, describe, test } from 'node:test';
import { FaultEnv, LEASE_MS, sleep } from './harness.ts';

describe('PostgreSQL restarted under a stream of orders', () => {
  let env: FaultEnv;
  before(async () => {
    env = await FaultEnv.start({ label: 'postgres restarted', workers: 2, inProcessWorker: true });
  });
  after(() => env?.dispose());

  test('every acknowledged order exists once, completes within the bound, no process dies, tenure check is healthy', async () => {
    const outages: number[] = [];
    await env.streamOrders(async () => {
      for (let i = 0; i < 2; i++) {
        outages.push(await env.pg.restart(3_000));
        // More than a lease apart: an order lives through one restart at most.
        await sleep(LEASE_MS + 1_000);
      }
    });
    await env.verify({ outageMs: env.pg.longestOutageMs, notes: `PostgreSQL restarted ${env.pg.restarts} times (down ${outages.map((ms) => (ms / 1000).toFixed(1)).join(' s, ')} s)` });
  });
});
