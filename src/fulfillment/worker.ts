/**
 * A fulfillment worker: a loop that asks the orchestrator for a round of work — the orders that
 * tasks-ready notifications announced to this loop (it is their owner among the listening
 * workers), and a look at the whole queue when one is due — and sleeps until a notification
 * wakes it or its turn to look comes (wake-up.ts, decisions 0017 and 0026). Stateless: run as
 * many as you like, in `npm start` (one, in the API process) or as `tenure worker` processes; a
 * killed worker's tasks come back to the others when their lease runs out, and its announced
 * orders to the others' looks.
 */
import { hostname } from 'node:os';
import { unavailableReason, type Pool } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import { DEFAULT_SETTINGS, type FulfillmentSettings, type Orchestrator } from './orchestrator.ts';
import { ConfigError, readConfig, type FulfillmentConfig } from '../platform/config.ts';
import { routingOf } from './plan.ts';
import { listenForTasksReady } from './wake-up.ts';
import type { ReadyAnnouncement } from './queue.ts';

export interface Worker {
  readonly id: string;
  /**
   * Stops claiming and waits for the round in flight; when its calls have not answered within
   * the shutdown grace, gives their tasks back (they are due again at once for other workers)
   * and resolves without waiting further. Resolves with how many tasks were given back.
   */
  stop(): Promise<{ gaveBack: number }>;
}

/** How a worker waits after a failed round: from the poll interval, doubling, up to `maxMs`. */
export interface WorkerBackoff {
  maxMs: number;
}

export const DEFAULT_BACKOFF: WorkerBackoff = { maxMs: 30_000 };

/**
 * Starts a worker loop. With `wakeUpFrom`, it listens for tasks-ready notifications on that
 * pool's database, on one connection of its own besides the pool's; without, it only polls.
 */
export function startWorker(
  orchestrator: Orchestrator,
  settings: FulfillmentSettings,
  options: { id?: string; logger?: Logger; backoff?: WorkerBackoff; wakeUpFrom?: Pool } = {},
): Worker {
  const id = options.id ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let stopping = false;
  let wake: (() => void) | null = null;
  // Orders named by notifications this loop owns (decision 0026) that came while it was idle,
  // not yet run, by id; one that comes during a round makes the loop look after it instead.
  const announced = new Map<string, ReadyAnnouncement>();
  // Whether the next round is to look at the whole queue: at start, after a notification that
  // names no order, after the listener (re)connected, after a look that ran something (more may
  // wait), and in this loop's turn of the poll, busy or not (what no notification announces: a
  // retry due, a lease run out, an owner that died).
  let lookWanted = true;
  let lookedInTurn = -1;
  let inRound = false;
  const listener = options.wakeUpFrom
    ? listenForTasksReady(options.wakeUpFrom, {
      announced(announcement, owner) {
        if (!orchestrator.onlyInstant) {
          // A provisioner that may keep a round waiting for its calls: as before decision 0026,
          // every worker looks (an owner would hold its orders behind its round's slowest call).
          lookWanted = true;
          wake?.();
          return;
        }
        if (!owner) return orchestrator.leaveToOthers(announcement.orderId);
        if (inRound) {
          // Busy (a round waits for its orders' calls): a look after the round finds the order,
          // unless another worker ran it meanwhile; kept here, it would be tried when it may be
          // done, and wait behind the round's slowest call (the SIGKILL fault scenario's
          // completion bound, with a slow provisioner, missed by 30 s under load).
          lookWanted = true;
          return;
        }
        announced.set(announcement.orderId, announcement);
        wake?.();
      },
      look() {
        lookWanted = true;
        wake?.();
      },
    }, { logger: options.logger, workerId: id })
    : null;
  const loop = (async () => {
    // Consecutive failed rounds, and whether the current run of failures is a database outage
    // (logged once when it starts and once when it ends, not at every attempt).
    let failures = 0;
    let outage = false;
    while (!stopping) {
      let ran = 0;
      let waitMs = settings.pollIntervalMs;
      const turn = turns();
      const look = lookWanted || (turn.now !== lookedInTurn && turn.mine);
      // Up to a batch of the announced orders, oldest first; the rest for the next round.
      const mine = [...announced.values()].slice(0, settings.batchSize);
      for (const a of mine) announced.delete(a.orderId);
      try {
        if (look) {
          lookWanted = false;
          lookedInTurn = turn.now;
        }
        const tally = { fromLook: 0 };
        inRound = true;
        try {
          ran = await orchestrator.runOnce(id, { announced: mine, look, tally });
        } finally {
          inRound = false;
        }
        if (tally.fromLook > 0) lookWanted = true;
        if (outage) options.logger?.info({ worker: id, failedRounds: failures }, 'database reachable again; fulfillment worker resumed');
        failures = 0;
        outage = false;
      } catch (error) {
        // The database went away or a bug: wait longer each time, and look again; leases protect the tasks.
        failures++;
        lookWanted = true;
        waitMs = Math.min(backoff.maxMs, settings.pollIntervalMs * 2 ** Math.min(failures - 1, 20));
        const reason = unavailableReason(error);
        if (reason === null) {
          options.logger?.error({ err: error, worker: id, retryInMs: waitMs }, 'fulfillment worker round failed');
        } else if (!outage) {
          outage = true;
          options.logger?.warn({ worker: id, reason }, 'database unavailable; fulfillment worker backing off until it answers');
        }
      }
      if (stopping) break;
      if (failures > 0) {
        // After a failure the backoff, whatever was announced: the next round looks anyway.
        await sleep(waitMs);
      } else if (announced.size === 0 && !lookWanted) {
        // Until a notification, or this loop's next turn to look.
        await sleep(turns().nextInMs);
      }
    }
  })();
  /**
   * The poll's turns: the listening workers take turns of a poll interval each, in the order of
   * their listeners' pids (decision 0026), so that together they look about once per interval;
   * alone, while its listener does not know its place, or when some provisioner is not instant
   * (each worker then looks every interval, as its rounds may wait), every turn is this loop's. Returns the
   * current turn, whether it is this loop's, and how long until this loop's next one begins.
   */
  function turns(): { now: number; mine: boolean; nextInMs: number } {
    const poll = Math.max(1, settings.pollIntervalMs);
    const place = orchestrator.onlyInstant ? listener?.place() ?? null : null;
    const of = place?.of ?? 1;
    const rank = place?.rank ?? 0;
    const at = Date.now();
    const now = Math.floor(at / poll);
    const ahead = (rank - (now % of) + of) % of || of;
    // A millisecond late: a timer that fires on the boundary finds the new turn begun.
    return { now, mine: now % of === rank, nextInMs: (now + ahead) * poll - at + 1 };
  }

  /** Waits `ms`, or until woken (a notification, or stop). */
  function sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => { wake = null; });
  }
  return {
    id,
    async stop() {
      stopping = true;
      wake?.();
      const closing = listener?.close();
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        loop.then(() => true),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), settings.shutdownGraceMs); }),
      ]);
      clearTimeout(timer);
      await closing;
      if (ended) return { gaveBack: 0 };
      const gaveBack = await orchestrator.giveBackInFlight(id);
      options.logger?.warn({ worker: id, gaveBack, graceMs: settings.shutdownGraceMs }, 'fulfillment worker stopped with calls still out; their tasks were given back');
      return { gaveBack };
    },
  };
}

/**
 * The fulfillment settings as configured (platform/config.ts reads them, each documented in the
 * README): TENURE_FULFILLMENT_ROUTING (JSON), TENURE_FULFILLMENT_RETRY (JSON: initialDelayMs,
 * multiplier, maxDelayMs, jitter), TENURE_FULFILLMENT_LEASE_MS, TENURE_FULFILLMENT_POLL_MS,
 * TENURE_FULFILLMENT_BATCH, TENURE_FULFILLMENT_SHUTDOWN_GRACE_MS. With no lease set, the
 * orchestrator sizes it from the provisioners (leaseMsOf).
 */
export function fulfillmentSettingsOf(config: FulfillmentConfig = readConfig().fulfillment): FulfillmentSettings {
  const retry = config.retryJson ? { ...DEFAULT_SETTINGS.retry, ...parseJson(config.retryJson, 'TENURE_FULFILLMENT_RETRY') } : DEFAULT_SETTINGS.retry;
  for (const [key, value] of Object.entries(retry)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigError(`TENURE_FULFILLMENT_RETRY.${key} must be a non-negative number`);
  }
  return {
    routing: routingOf(config.routingJson),
    retry,
    leaseMs: config.leaseMs,
    pollIntervalMs: config.pollIntervalMs ?? DEFAULT_SETTINGS.pollIntervalMs,
    batchSize: config.batchSize ?? DEFAULT_SETTINGS.batchSize,
    shutdownGraceMs: config.shutdownGraceMs ?? DEFAULT_SETTINGS.shutdownGraceMs,
  };
}

function parseJson(text: string, name: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
  } catch {
    // reported below
  }
  throw new ConfigError(`${name} must be a JSON object`);
}
