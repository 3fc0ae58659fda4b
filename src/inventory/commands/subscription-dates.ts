/**
 * A subscription's dates drive its state (seed 004): PENDING becomes ACTIVE when its start
 * date is reached; ACTIVE or SUSPENDED becomes EXPIRED when its end date passes without a
 * renewal (only the state changes); an auto-renewing one is renewed by its renewal policy
 * instead. Each change that sets a date schedules the job that acts on it, in the same
 * transaction (scheduleSubscriptionDates); each job re-checks, when it runs, that the
 * subscription is still in the state and at the date it was scheduled for, and does nothing
 * otherwise: a job that runs twice, or after a change that moved the date, changes nothing.
 */
import { Temporal } from 'temporal-polyfill';
import { findAccountInTx } from '../../customers/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import { ValidationError } from '../../platform/errors.ts';
import { loadSubscription, transitionSubscription, type CorrelatedCause, type TransitionInput, type Unit } from '../pipeline.ts';
import type { Subscription } from '../types.ts';
import { addMonths } from './subscriptions.ts';

/** The job kinds of subscriptions, registered at assembly (src/app.ts). */
export const SUBSCRIPTION_JOB_KINDS = {
  activate: 'subscription.activate',
  expire: 'subscription.expire',
  renew: 'subscription.renew',
} as const;

/**
 * How an auto-renewing subscription renews (its `renewalPolicy`): `same-term` (default) moves
 * the end by the subscription's term; `evergreen` by one billing period (monthly 1 month,
 * quarterly 3, annual 12), for ever; `noticeDays` (default 0) is how long before the end the
 * renewal is made (the customer's last day to cancel the coming term).
 */
export interface RenewalPolicy {
  type: 'same-term' | 'evergreen';
  noticeDays: number;
}

export function renewalPolicyOf(s: Subscription): RenewalPolicy {
  const p = s.renewalPolicy ?? {};
  return {
    type: p.type === 'evergreen' ? 'evergreen' : 'same-term',
    noticeDays: typeof p.noticeDays === 'number' && Number.isInteger(p.noticeDays) && p.noticeDays >= 0 ? p.noticeDays : 0,
  };
}

/** `renewalPolicy` as given on input: refused when it is not one this file reads. Fields: `/subscription/renewalPolicy`. */
export function checkRenewalPolicy(policy: JsonObject | undefined, field: string): void {
  if (!policy) return;
  const unknown = Object.keys(policy).filter((k) => k !== 'type' && k !== 'noticeDays');
  if (unknown.length) throw ValidationError.field(field, `unknown member ${unknown[0]}; a renewal policy has type (same-term or evergreen) and noticeDays`);
  if (policy.type !== undefined && policy.type !== 'same-term' && policy.type !== 'evergreen') throw ValidationError.field(`${field}/type`, 'must be same-term or evergreen');
  if (policy.noticeDays !== undefined && !(typeof policy.noticeDays === 'number' && Number.isInteger(policy.noticeDays) && policy.noticeDays >= 0 && policy.noticeDays <= 366)) {
    throw ValidationError.field(`${field}/noticeDays`, 'must be a whole number of days from 0 to 366');
  }
}

const PERIOD_MONTHS: Record<string, number> = { monthly: 1, quarterly: 3, 'semi-annual': 6, annual: 12, yearly: 12 };

/** The months one auto-renewal adds. */
export function renewalMonths(s: Subscription): number {
  const policy = renewalPolicyOf(s);
  if (policy.type === 'evergreen') return PERIOD_MONTHS[s.billingCycle ?? 'monthly'] ?? 1;
  return s.termMonths ?? PERIOD_MONTHS[s.billingCycle ?? 'monthly'] ?? 1;
}

/** When an auto-renewal of the current term is made: `noticeDays` calendar days before the end, in the account's zone. */
export function renewalDueAt(endDate: string, noticeDays: number, timeZone: string): string {
  if (noticeDays === 0) return endDate;
  const zoned = Temporal.Instant.from(endDate).toZonedDateTimeISO(timeZone);
  return new Date(zoned.subtract({ days: noticeDays }).epochMilliseconds).toISOString();
}

/**
 * The end `months` after `end`, counted from the start (the anchor), not chained from the
 * current end: a subscription started on Jan 31 ends on Feb 28, Mar 31, Apr 30… rather than
 * drifting to the 28th after February.
 */
export function anchoredEnd(start: string, end: string, months: number, timeZone: string): string {
  const from = Temporal.Instant.from(start).toZonedDateTimeISO(timeZone);
  const to = Temporal.Instant.from(end).toZonedDateTimeISO(timeZone);
  const elapsed = from.until(to, { largestUnit: 'months', smallestUnit: 'months', roundingMode: 'halfExpand' });
  const next = new Date(from.add({ months: elapsed.years * 12 + elapsed.months + months }).epochMilliseconds).toISOString();
  // An end that was moved by hand off the anchor's day still moves forward.
  return next > end ? next : addMonths(end, months, timeZone);
}

/**
 * Schedules what the subscription's dates call for now, in the transaction of the change:
 * its activation at the start date (PENDING), its renewal or its expiry at the end date
 * (ACTIVE, SUSPENDED). Scheduling the same kind again for the same subscription moves the
 * pending job (a renewal moves the expiry), so a job never acts on a date that changed.
 */
export async function scheduleSubscriptionDates(u: Unit, s: Subscription, timeZone: string): Promise<void> {
  const base = { accountId: s.accountId, key: s.subscriptionId };
  if (s.status === 'PENDING' && s.startDate) {
    await u.jobs.schedule(u.tx, { ...base, kind: SUBSCRIPTION_JOB_KINDS.activate, runAt: s.startDate, payload: { subscriptionId: s.subscriptionId, startDate: s.startDate } });
  } else if ((s.status === 'ACTIVE' || s.status === 'SUSPENDED') && s.endDate) {
    if (s.autoRenew) {
      const runAt = renewalDueAt(s.endDate, renewalPolicyOf(s).noticeDays, timeZone);
      await u.jobs.schedule(u.tx, { ...base, kind: SUBSCRIPTION_JOB_KINDS.renew, runAt, payload: { subscriptionId: s.subscriptionId, endDate: s.endDate } });
    } else {
      await u.jobs.schedule(u.tx, { ...base, kind: SUBSCRIPTION_JOB_KINDS.expire, runAt: s.endDate, payload: { subscriptionId: s.subscriptionId, endDate: s.endDate } });
    }
  }
}

async function timeZoneOf(u: Unit, accountId: string): Promise<string> {
  return (await findAccountInTx(u.tx, accountId))!.timeZone;
}

/** What a date-driven job was scheduled for: the subscription and the date it acts on. */
export interface DueDate {
  subscriptionId: string;
  /** The start date (activation) or end date (expiry, renewal) it was scheduled for. */
  date: string;
}

/** The cause every date-driven change is recorded with: no order; effective at the date itself. */
function dateCause(date: string): CorrelatedCause {
  return { orderId: null, orderItemId: null, effectiveAt: date };
}

/**
 * PENDING → ACTIVE at its start date (job `subscription.activate`). The term starts: the
 * commitment starts at the start date, and a subscription with a term and no end date gets
 * one. Null when no longer due (not PENDING, its start moved, or not reached yet).
 */
export async function activateSubscriptionWhenDue(u: Unit, due: DueDate): Promise<Subscription | null> {
  const s = await loadSubscription(u, due.subscriptionId);
  if (s.status !== 'PENDING' || s.startDate !== due.date || s.startDate > u.now) return null;
  const timeZone = await timeZoneOf(u, s.accountId);
  const next = await transitionSubscription(u, s, 'activation:apply', s.version, dateCause(s.startDate), (n) => {
    n.commitmentStartDate = n.startDate;
    if (!n.endDate && n.termMonths) n.endDate = addMonths(n.startDate!, n.termMonths, timeZone);
    if (n.endDate) n.commitmentEndDate = n.commitmentEndDate ?? n.endDate;
  });
  await scheduleSubscriptionDates(u, next, timeZone);
  return next;
}

/**
 * ACTIVE or SUSPENDED → EXPIRED once its end date passed without a renewal (job
 * `subscription.expire`): only the state changes. Null when no longer due.
 */
export async function expireSubscriptionWhenDue(u: Unit, due: DueDate): Promise<Subscription | null> {
  const s = await loadSubscription(u, due.subscriptionId);
  if ((s.status !== 'ACTIVE' && s.status !== 'SUSPENDED') || s.endDate !== due.date || s.endDate > u.now) return null;
  return transitionSubscription(u, s, 'expiry:apply', s.version, dateCause(s.endDate), () => {});
}

/**
 * The auto-renewal of the current term (job `subscription.renew`), `noticeDays` before its
 * end: the end moves by renewalMonths, the id stays, and the next renewal is scheduled. Null
 * when no longer due (not auto-renewing any more, ended, or renewed otherwise meanwhile).
 */
export async function autoRenewSubscriptionWhenDue(u: Unit, due: DueDate): Promise<Subscription | null> {
  const s = await loadSubscription(u, due.subscriptionId);
  if ((s.status !== 'ACTIVE' && s.status !== 'SUSPENDED') || !s.autoRenew || s.endDate !== due.date) return null;
  const timeZone = await timeZoneOf(u, s.accountId);
  if (renewalDueAt(s.endDate, renewalPolicyOf(s).noticeDays, timeZone) > u.now) return null;
  const newEnd = anchoredEnd(s.startDate ?? s.endDate, s.endDate, renewalMonths(s), timeZone);
  const next = await transitionSubscription(u, s, 'renewal:apply', s.version, { orderId: null, orderItemId: null, effectiveAt: u.now }, (n) => {
    n.commitmentStartDate = n.endDate;
    n.endDate = newEnd;
    n.commitmentEndDate = newEnd;
  });
  await scheduleSubscriptionDates(u, next, timeZone);
  return next;
}

/**
 * Cancels an entered subscription (PENDING → TERMINATED, change type CANCELLED): its end
 * becomes its start and it never becomes ACTIVE (seed 004). One without a start date starts
 * and ends at the effective time. Its pending activation finds it TERMINATED and does nothing.
 */
export async function cancelSubscription(u: Unit, id: string, input: TransitionInput): Promise<Subscription> {
  const s = await loadSubscription(u, id);
  const at = input.effectiveAt ?? u.now;
  return transitionSubscription(u, s, 'cancellation:apply', input.expectedVersion, input, (n) => {
    n.startDate = n.startDate ?? at;
    n.endDate = n.startDate;
  });
}
