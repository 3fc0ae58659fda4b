/** Time comes from here, never from `new Date()` or the database's now(). */
export interface Clock {
  /**
   * Now, for `tenantId` when given: a tenant on a test clock has its own time (src/clocks,
   * TenantClocks); a command of a tenant passes its id. Without one: real time.
   */
  now(tenantId?: string): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to: for tests and tenants in test mode. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: Date | string = '2026-07-02T10:30:00Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  set(to: Date | string): void {
    this.current = new Date(to).getTime();
  }
  advance(milliseconds: number): void {
    this.current += milliseconds;
  }
}
