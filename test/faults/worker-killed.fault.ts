/**
 * Fault 4 of issue 9 point 5: a `tenure worker` process SIGKILLed while it holds tasks
 * (claimed, running under its lease), and started again; the other worker (or the restarted
 * one) takes the dead worker's tasks over once their lease has run out. Two workers, the
 * API's in-process worker off, so that every task is a worker process's. The kills are more
 * than a lease apart, and stop after three that left tasks behind. The tasks a kill can leave
 * behind are those of a provisioner that is not instant (configure, here): the others run in
 * their order's transaction, which the kill rolls back (decision 0019), and the check that
 * every order completes once with a clean `tenure check` covers them.
 */
import { after, before, describe, test } from 'node:test';
import path from 'node:path';
import { REPO } from '../helpers/tenure-process.ts';
import { FaultEnv, LEASE_MS, MARGIN_MS, sleep } from './harness.ts';

describe('a worker SIGKILLed while it holds tasks', () => {
  let env: FaultEnv;
  before(async () => {
    // The configure steps go to a provisioner that takes a moment (30-70 ms) outside any
    // transaction, under a lease: those are the tasks a kill leaves behind. The others are
    // `internal`'s, run inside their order's transaction, which a kill rolls back whole.
    // The clients pause 400 ms between orders (not 150): the stream is closed-loop on submission,
    // and a fast submission offers more orders than two workers, one of them killed three times,
    // complete; the bound on completion is about taking tasks over, not about a growing backlog.
    env = await FaultEnv.start({
      label: 'worker killed', workers: 2, inProcessWorker: false, pauseMs: 400,
      env: {
        TENURE_PROVISIONERS: JSON.stringify([{ module: path.join(REPO, 'test/faults/slow-internal-provisioner.ts') }]),
        TENURE_FULFILLMENT_ROUTING: JSON.stringify({ defaultProvisioner: 'internal', byStep: { configure: 'slow-internal' }, maxAttempts: 5 }),
      },
    });
  });
  after(() => env?.dispose());

  /** The tasks running under a lease of the worker process `pid` (its id, in every claim token, is host:pid:…). */
  const heldBy = async (pid: number) => (await env.pg.admin.query<{ task_id: string }>(
    `select task_id::text from fulfillment_task where status = 'running' and split_part(locked_by, ':', 2) = $1`, [String(pid)])).rows.map((r) => r.task_id);

  test('its tasks are taken over after the lease; every order exists once and completes within the bound; tenure check is healthy', async () => {
    const orphaned: { taskId: string; killedAt: number }[] = [];
    const heldAtKill: number[] = [];
    await env.streamOrders(async () => {
      for (let kill = 0; kill < 6 && heldAtKill.filter((n) => n > 0).length < 3; kill++) {
        const victim = env.workers[kill % env.workers.length];
        const pid = victim.pid!;
        // Wait until it holds a task, then kill it at once.
        const deadline = Date.now() + 10_000;
        while ((await heldBy(pid)).length === 0 && Date.now() < deadline) await sleep(5);
        await victim.kill('SIGKILL');
        const killedAt = Date.now();
        const held = await heldBy(pid);
        heldAtKill.push(held.length);
        orphaned.push(...held.map((taskId) => ({ taskId, killedAt })));
        await victim.start();
        await sleep(LEASE_MS + 1_000);
      }
    });
    // Each task the dead worker held was run again by a live one, and done within the lease and the margin of the kill.
    const problems: string[] = [];
    if (orphaned.length === 0) problems.push('no kill caught the worker holding a task');
    const tasks = (await env.pg.admin.query<{ task_id: string; status: string; attempts: number; finished_ms: number | null }>(
      `select task_id::text, status, attempts, (extract(epoch from finished_at) * 1000)::float8 as finished_ms
         from fulfillment_task where task_id = any ($1::uuid[])`, [orphaned.map((o) => o.taskId)])).rows;
    let slowest = 0;
    for (const o of orphaned) {
      const t = tasks.find((row) => row.task_id === o.taskId);
      if (!t || t.status !== 'done' || t.finished_ms === null) {
        problems.push(`task ${o.taskId}, held by the killed worker, is ${t?.status ?? 'missing'}`);
        continue;
      }
      if (t.attempts < 2) problems.push(`task ${o.taskId}, held by the killed worker, was not claimed again (attempts ${t.attempts})`);
      slowest = Math.max(slowest, t.finished_ms - o.killedAt);
      if (t.finished_ms - o.killedAt > LEASE_MS + MARGIN_MS) problems.push(`task ${o.taskId} was done ${Math.round(t.finished_ms - o.killedAt)} ms after its worker was killed (lease ${LEASE_MS} + margin ${MARGIN_MS})`);
    }
    await env.verify({
      outageMs: 0,
      notes: `workers killed ${env.workers.reduce((n, w) => n + w.kills, 0)} times holding ${heldAtKill.join(', ')} tasks; the ${orphaned.length} left behind were done again at most ${(slowest / 1000).toFixed(1)} s after the kill`,
      extraProblems: problems,
    });
  });
});
