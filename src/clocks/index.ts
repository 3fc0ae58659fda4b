// The public surface of clocks/: per-tenant test clocks (docs/scheduler-and-clocks.md).
export { registerTestClockRoutes } from './routes.ts';
export { TestClockService, type TestClockView } from './service.ts';
export { TenantClocks } from './tenant-clocks.ts';
export type { TestClock, PendingClockJob } from './store.ts';

/** The job kind of an advance (tenure_schedule_clock_advance, migration 0017). */
export const ADVANCE_JOB_KIND = 'test-clock.advance';
