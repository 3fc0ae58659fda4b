/**
 * Fault 3 of issue 9 point 5: the API process SIGKILLed in the middle of submission bursts
 * (at a moment when several clients have a request in flight) and started again on the same
 * port, three times, while one `tenure worker` process runs beside it. Its in-process worker
 * dies with it: the tasks it held wait out their lease. Every client retries its request with
 * the same Idempotency-Key until it is answered: a request that committed before the kill
 * is replayed, one that did not runs again, and none makes a second order.
 *
 * Whether a kill from outside falls between a commit and its answer is luck (that window is
 * short), so the first kill is the API's own: started with the test crash point
 * TENURE_TEST_CRASH_AFTER_COMMIT (NODE_ENV=test, src/http/idempotency.ts), it SIGKILLs itself
 * right after the first order commits, before answering, with the other clients' requests in
 * flight (it is stopped with SIGTERM first, under the stream, and started so). That request's
 * retry must be a replay. The next two kills come from the test, at a moment when several
 * requests are in flight.
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
      // The API stopped (SIGTERM) and started again with the crash point: it dies at its first committed order.
      let killedAt = Date.now();
      await env.api.stop();
      await env.api.start({ env: { NODE_ENV: 'test', TENURE_TEST_CRASH_AFTER_COMMIT: '/accounts/:accountId/orders' }, selfKill: true });
      await env.api.exited;
      inFlightAtKill.push(clients.inFlight);
      await env.api.start();
      longestRestartMs = Date.now() - killedAt;
      await sleep(LEASE_MS + 1_000);
      for (let i = 0; i < 2; i++) {
        await clients.waitForInFlight(3);
        inFlightAtKill.push(clients.inFlight);
        killedAt = Date.now();
        await env.api.kill('SIGKILL');
        await env.api.start();
        longestRestartMs = Math.max(longestRestartMs, Date.now() - killedAt);
        await sleep(LEASE_MS + 1_000);
      }
    });
    const replays = env.clients.submissions.filter((s) => s.replayed).length;
    await env.verify({
      outageMs: longestRestartMs,
      notes: `API killed ${env.api.kills} times (once by its crash point after a commit) with ${inFlightAtKill.join(', ')} requests in flight (back after at most ${(longestRestartMs / 1000).toFixed(1)} s)`,
      extraProblems: replays > 0 ? [] : ['no request was answered by a replay, though the API died after committing one'],
    });
  });
});
