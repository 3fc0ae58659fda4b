/**
 * Fault 2 of issue 9 point 5: the application's backends terminated in the middle of their
 * transactions (pg_terminate_backend of every `tenure` session with a transaction open),
 * again and again while orders stream, under the API (and its in-process worker) and two
 * `tenure worker` processes. The transactions hit fail and roll back; nobody dies.
 */
import { after, before, describe, test } from 'node:test';
import { FaultEnv, sleep } from './harness.ts';

describe('backends terminated mid-transaction under a stream of orders', () => {
  let env: FaultEnv;
  before(async () => {
    env = await FaultEnv.start({ label: 'backends terminated', workers: 2, inProcessWorker: true });
  });
  after(() => env?.dispose());

  test('every acknowledged order exists once, completes within the bound, no process dies, tenure check is healthy', async () => {
    let rounds = 0;
    let terminated = 0;
    await env.streamOrders(async () => {
      const until = Date.now() + 14_000;
      while (Date.now() < until) {
        terminated += await env.terminateBackendsInTransaction();
        rounds++;
        await sleep(300 + Math.random() * 500);
      }
    });
    await env.verify({ outageMs: 0, notes: `${terminated} backends terminated mid-transaction in ${rounds} rounds`, extraProblems: terminated >= 10 ? [] : [`only ${terminated} backends were caught in a transaction`] });
  });
});
