/**
 * Which time each tenant's commands see (ARCHITECTURE rule 8): a tenant on a test clock sees
 * its clock's frozen time, every other tenant the base clock (real time). Read from memory, so
 * that no command pays a round trip for it: each process loads the test clocks once at start
 * and follows their changes by LISTEN (test_clock's trigger, migration 0017). The process that
 * moves a clock (its advance) sets its own copy first, so the jobs it runs see the new time at
 * once; another process sees it when the notification arrives (milliseconds after COMMIT).
 */
import pg from 'pg';
import type { Clock } from '../platform/clock.ts';
import { inSystemTransaction, type Pool } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';
import { listClockTimes } from './store.ts';

export const TEST_CLOCK_CHANNEL = 'tenure_test_clock';

export class TenantClocks implements Clock {
  private readonly frozen = new Map<string, number>();
  private listener: pg.Client | null = null;
  private closed = false;

  constructor(private readonly base: Clock) {}

  /** The tenant's time: its test clock's when it has one, else the base clock's. */
  now(tenantId?: string): Date {
    const time = tenantId === undefined ? undefined : this.frozen.get(tenantId);
    return time === undefined ? this.base.now(tenantId) : new Date(time);
  }

  /** Whether the tenant is on a test clock (as this process knows). */
  onTestClock(tenantId: string): boolean {
    return this.frozen.has(tenantId);
  }

  /** This process's copy of a clock's time (the advance and the clock's commands call it after COMMIT). */
  set(tenantId: string, frozenTime: string): void {
    const time = new Date(frozenTime).getTime();
    // Clocks only move forward: a late notification of an earlier time is not a step back.
    if ((this.frozen.get(tenantId) ?? -Infinity) < time) this.frozen.set(tenantId, time);
  }

  /**
   * Listens first, then loads every clock: a change committed between the two is then seen by
   * one or the other. Reconnects after a lost connection (and reloads, since notifications
   * sent meanwhile are lost); until then the copies may lag.
   */
  async start(pool: Pool, logger?: Logger): Promise<void> {
    const connect = async (): Promise<void> => {
      const client = new pg.Client({ ...pool.options, application_name: 'tenure:test-clocks' });
      const retry = () => {
        if (this.listener === client) this.listener = null;
        client.end().catch(() => {});
        if (!this.closed) setTimeout(() => void connect().catch(() => {}), 1_000).unref();
      };
      client.on('error', (error) => {
        logger?.warn({ error: String(error) }, 'test clock listener lost its connection; reconnecting');
        retry();
      });
      client.on('notification', (message) => {
        if (!message.payload) return;
        const { tenantId, frozenTime } = JSON.parse(message.payload) as { tenantId: string; frozenTime: string };
        this.set(tenantId, frozenTime);
      });
      await client.connect();
      await client.query(`listen ${TEST_CLOCK_CHANNEL}`);
      this.listener = client;
      for (const { tenantId, frozenTime } of await inSystemTransaction(pool, (tx) => listClockTimes(tx))) this.set(tenantId, frozenTime);
    };
    await connect();
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.listener?.end().catch(() => {});
    this.listener = null;
  }
}
