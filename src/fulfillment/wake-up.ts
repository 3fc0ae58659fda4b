/**
 * A worker's wake-up (decision 0017): a connection of its own that LISTENs for tasks-ready
 * notifications (queue.notifyTasksReady) and wakes the worker on each, so that an idle worker
 * claims a task as soon as the transaction that made it ready commits, not a poll interval
 * later. Polling stays as the fallback: whatever this listener misses (it was reconnecting, the
 * server restarted) is found by the next poll, and a reconnected listener wakes the worker once.
 */
import pg from 'pg';
import { unavailableReason, type Pool } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import { TASKS_READY_CHANNEL } from './queue.ts';

/** How long the listener waits before connecting again: from `initialMs`, doubling, up to `maxMs`. */
export const RECONNECT_DELAY = { initialMs: 250, maxMs: 30_000 };

/** What pg_stat_activity shows for a listener's connection. */
export const WAKE_UP_APPLICATION_NAME = 'tenure:wake-up';

export interface WakeUpListener {
  /** Stops listening and closes the connection (a reconnection under way is given up). */
  close(): Promise<void>;
}

/**
 * Listens on the database of `pool`, with the pool's connection settings, on a client of its
 * own: a worker's pool is sized to its batch, and a listening connection is never given back.
 * `wake` is called on every notification, and once after each (re)connection, since
 * notifications sent while the listener was not listening are lost.
 */
export function listenForTasksReady(pool: Pool, wake: () => void, options: { logger?: Logger; workerId?: string } = {}): WakeUpListener {
  let closed = false;
  let client: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let retry: NodeJS.Timeout | undefined;
  let delayMs = RECONNECT_DELAY.initialMs;
  // In trouble since the last successful LISTEN: logged once when it starts and once when it ends.
  let troubled = false;

  const connect = async () => {
    const c = new pg.Client({ ...pool.options, application_name: WAKE_UP_APPLICATION_NAME });
    client = c;
    let dropped = false;
    const drop = (error: unknown) => {
      if (dropped) return;
      dropped = true;
      if (client === c) client = null;
      c.end().catch(() => {});
      if (closed) return;
      if (!troubled) {
        troubled = true;
        options.logger?.info({ worker: options.workerId, reason: unavailableReason(error) ?? String(error), retryInMs: delayMs },
          'wake-up listener not connected; reconnecting, the worker polls meanwhile');
      }
      retry = setTimeout(() => { connecting = connect(); }, delayMs);
      delayMs = Math.min(delayMs * 2, RECONNECT_DELAY.maxMs);
    };
    // Before connecting: a connection that dies emits 'error', which kills the process with no listener.
    c.on('error', drop);
    c.on('end', () => drop(new Error('connection ended')));
    c.on('notification', () => wake());
    try {
      await c.connect();
      await c.query(`listen ${TASKS_READY_CHANNEL}`);
    } catch (error) {
      drop(error);
      return;
    }
    if (closed || dropped) return;
    delayMs = RECONNECT_DELAY.initialMs;
    if (troubled) {
      troubled = false;
      options.logger?.info({ worker: options.workerId }, 'wake-up listener listening again');
    }
    // What became ready while nobody listened is claimed now rather than at the next poll.
    wake();
  };
  connecting = connect();

  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await connecting;
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
