/**
 * A worker's wake-up (decisions 0017 and 0026): a connection of its own that LISTENs for
 * tasks-ready notifications (queue.notifyTasksReady) and wakes the worker, so that an idle
 * worker claims a task as soon as the transaction that made it ready commits, not a poll
 * interval later. A notification that names its order is for one of the listening workers
 * only, the order's owner (ownerOf: the order's hash over the listeners' backends), which runs
 * that order without looking at the queue; the others leave it to the owner for a moment.
 * Polling stays as the fallback: whatever this listener misses (it was reconnecting, the
 * server restarted, the owner died) is found by a poll, and a reconnected listener has its
 * worker look once.
 */
import pg from 'pg';
import { unavailableReason, type Pool } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import { parseAnnouncement, TASKS_READY_CHANNEL, type ReadyAnnouncement } from './queue.ts';

/** How long the listener waits before connecting again: from `initialMs`, doubling, up to `maxMs`. */
export const RECONNECT_DELAY = { initialMs: 250, maxMs: 30_000 };

/** What pg_stat_activity shows for a listener's connection. */
export const WAKE_UP_APPLICATION_NAME = 'tenure:wake-up';

/**
 * How often a listener reads who else listens (the backends of WAKE_UP_APPLICATION_NAME on its
 * database): a worker that starts or stops is counted in, or out, within this long; meanwhile an
 * order may have two owners (one finds it locked) or none (a poll finds it).
 */
export const MEMBERS_REFRESH_MS = 1_000;

/** What a listener tells its worker. */
export interface WakeUp {
  /**
   * A notification naming an order; `mine` when this listener is the order's owner among the
   * listening workers (ownerOf), which is to run it.
   */
  announced(announcement: ReadyAnnouncement, mine: boolean): void;
  /** A notification naming no order, or the listener (re)connected: look at the whole queue. */
  look(): void;
}

export interface WakeUpListener {
  /**
   * This listener's place among the listening backends (by pid) and their number, as last read;
   * null while it is not connected, or not on the list it read.
   */
  place(): { rank: number; of: number } | null;
  /** Stops listening and closes the connection (a reconnection under way is given up). */
  close(): Promise<void>;
}

/**
 * The listener backend (by pid) of `members` (every listening backend, any order) that owns the
 * order: the order id's FNV-1a hash modulo their number, over the pids sorted, so that every
 * listener that read the same members picks the same one.
 */
export function ownerOf(orderId: string, members: readonly number[]): number | undefined {
  if (members.length === 0) return undefined;
  let hash = 0x811c9dc5;
  for (let i = 0; i < orderId.length; i++) hash = Math.imul(hash ^ orderId.charCodeAt(i), 0x01000193);
  return [...members].sort((a, b) => a - b)[(hash >>> 0) % members.length];
}

/** The listeners of this database (this one included), and this one. */
const MEMBERS_SQL = `select array(select pid from pg_stat_activity where datname = current_database() and application_name = $1) as members,
                            pg_backend_pid() as self`;

/**
 * Listens on the database of `pool`, with the pool's connection settings, on a client of its
 * own: a worker's pool is sized to its batch, and a listening connection is never given back.
 * `wake` is told of every notification, and to look once after each (re)connection, since
 * notifications sent while the listener was not listening are lost. Until the listener has read
 * the members, or when it is not among them, every order is its own.
 */
export function listenForTasksReady(pool: Pool, wake: WakeUp, options: { logger?: Logger; workerId?: string } = {}): WakeUpListener {
  let closed = false;
  let client: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let retry: NodeJS.Timeout | undefined;
  let delayMs = RECONNECT_DELAY.initialMs;
  // In trouble since the last successful LISTEN: logged once when it starts and once when it ends.
  let troubled = false;
  let members: number[] = [];
  let self = 0;
  let membersTimer: NodeJS.Timeout | undefined;

  const connect = async () => {
    const c = new pg.Client({ ...pool.options, application_name: WAKE_UP_APPLICATION_NAME });
    client = c;
    let dropped = false;
    const drop = (error: unknown) => {
      if (dropped) return;
      dropped = true;
      if (client === c) client = null;
      clearInterval(membersTimer);
      members = [];
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
    c.on('notification', (message) => {
      const announcement = parseAnnouncement(message.payload);
      if (!announcement) return wake.look();
      const owner = members.includes(self) ? ownerOf(announcement.orderId, members) : undefined;
      wake.announced(announcement, owner === undefined || owner === self);
    });
    const readMembers = async () => {
      const [row] = (await c.query<{ members: number[]; self: number }>(MEMBERS_SQL, [WAKE_UP_APPLICATION_NAME])).rows;
      members = row.members;
      self = row.self;
    };
    try {
      await c.connect();
      await c.query(`listen ${TASKS_READY_CHANNEL}`);
      await readMembers();
    } catch (error) {
      drop(error);
      return;
    }
    if (closed || dropped) return;
    // A failure here is the connection's: its 'error' or 'end' handler reconnects.
    membersTimer = setInterval(() => { readMembers().catch(() => {}); }, MEMBERS_REFRESH_MS);
    membersTimer.unref();
    delayMs = RECONNECT_DELAY.initialMs;
    if (troubled) {
      troubled = false;
      options.logger?.info({ worker: options.workerId }, 'wake-up listener listening again');
    }
    // What became ready while nobody listened is claimed now rather than at the next poll.
    wake.look();
  };
  connecting = connect();

  return {
    place() {
      const rank = [...members].sort((a, b) => a - b).indexOf(self);
      return rank < 0 ? null : { rank, of: members.length };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(membersTimer);
      await connecting;
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
