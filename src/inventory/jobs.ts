/**
 * The installed base's date-driven job kinds, as the assembly registers them with the
 * scheduler (src/app.ts): each runs one command of commands/subscription-dates.ts in its own
 * tenant transaction, at the tenant's time (real, or its test clock's).
 */
import type { CommandContext } from '../platform/context.ts';
import type { DueJob, JobHandler } from '../platform/scheduler.ts';
import { SUBSCRIPTION_JOB_KINDS } from './commands/subscription-dates.ts';
import type { InventoryService } from './service.ts';

/** Who a job acts as: no API key; the job's kind and key as the correlation id (history, outbox). */
function jobContext(job: DueJob): CommandContext {
  return { tenantId: job.tenantId, actor: null, correlationId: `job:${job.kind}:${job.key}` };
}

export function subscriptionJobHandlers(inventory: InventoryService): Record<string, JobHandler> {
  const due = (job: DueJob, field: 'startDate' | 'endDate') => ({ subscriptionId: String(job.payload.subscriptionId), date: new Date(String(job.payload[field])).toISOString() });
  return {
    [SUBSCRIPTION_JOB_KINDS.activate]: async (job) => { await inventory.activateSubscriptionWhenDue(jobContext(job), due(job, 'startDate')); },
    [SUBSCRIPTION_JOB_KINDS.expire]: async (job) => { await inventory.expireSubscriptionWhenDue(jobContext(job), due(job, 'endDate')); },
    [SUBSCRIPTION_JOB_KINDS.renew]: async (job) => { await inventory.autoRenewSubscriptionWhenDue(jobContext(job), due(job, 'endDate')); },
  };
}
