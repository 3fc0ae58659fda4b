/**
 * Fault 3 of issue 9 point 5: the API process SIGKILLed in the middle of submission bursts
 * (at a moment when several clients have a request in flight) and started again on the same
 * port, three times, while one `tenure worker` process runs beside it. Its in-process worker
 * dies with it: the tasks it held wait out their lease. Every client retries its request with
 * the same Idempotency-Key until it is answered: a request that committed before the kill
 * is replayed, one that did not runs again, and none makes a second order. (Whether a kill
 * falls between a commit and its answer is luck: the summary counts the replays; the exact
 * moments are tested with crash points in test/api/idempotency-atomic.test.ts.)
 *
 * The kills are more than a lease apart, so that an order lives through one at most and the
 * bound on its completion is the lease, the restart and the margin.
 */
import { after, before, describe, test } from 'node:test';
import { FaultEnv, LEASE_MS, sleep } from './harness.ts';

describe('the API SIGKILLed in the middle of submission bursts', () => {
  let env: FaultEnv;
  before(async () => {
    env = await FaultEnv.start({ label: 'API killed', workers: 1, inProcessWorker: true, pauseMs: 50 });
  });
  after(() => env?.dispose());

  test('every acknowledged order exists once, every retried key made one order, orders complete within the bound, tenure check is healthy', async () => {
    const inFlightAtKill: number[] = [];
    let longestRestartMs = 0;
    await env.streamOrders(async (clients) => {
      for (let i = 0; i < 3; i++) {
        await clients.waitForInFlight(3);
        inFlightAtKill.push(clients.inFlight);
        const killedAt = Date.now();
        await env.api.kill('SIGKILL');
        await env.api.start();
        longestRestartMs = Math.max(longestRestartMs, Date.now() - killedAt);
        await sleep(LEASE_MS + 1_000);
      }
    });
    await env.verify({
      outageMs: longestRestartMs,
      notes: `API killed ${env.api.kills} times with ${inFlightAtKill.join(', ')} requests in flight (back after at most ${(longestRestartMs / 1000).toFixed(1)} s)`,
    });
  });
});
