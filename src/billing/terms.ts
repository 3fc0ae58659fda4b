/**
 * The catalog's billing terms on the calendar (docs/billing.md "Billing terms from the
 * catalog"): a charge's period as a cadence, and the dates a subscription's plan phases run.
 * Pure, like calendar.ts.
 */
import { planTermOf, type Duration, type PriceList, type RecurringPeriod } from '../catalog/index.ts';
import { addDays, billingAnchor, billingDate, CalendarError, periodIndexOf, type BillingAnchor, type BillingCadence, type BillingPeriodKind, type LocalDate } from './calendar.ts';

// The catalog's periods and the calendar's kinds are one list: this fails to compile if they part.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const periodsAgree: Same<RecurringPeriod, BillingPeriodKind> = true;
void periodsAgree;

/** The cadence of a recurring or rental charge (`period`, and `periodDays` for "days"). */
export function cadenceOf(charge: { period: RecurringPeriod; periodDays?: number }): BillingCadence {
  if (charge.period !== 'days') return { kind: charge.period };
  if (charge.periodDays === undefined) throw new CalendarError('a charge recurring every N days needs periodDays');
  return { kind: 'days', days: charge.periodDays };
}

const MONTHS = { month: 1, quarter: 3, year: 12 } as const;

/**
 * The date a duration that begins on `start` ends (exclusive). Days and weeks count days;
 * months, quarters and years count from `start`'s own day, clamped to the month's end (a month
 * from Jan 31 ends on Feb 28), like billing dates from an anchor. `period`s count whole billing
 * periods of `anchor`: N billing dates after `start`, and when `start` falls between two billing
 * dates the stub up to the first one comes on top — a "3 periods" discount covers three whole
 * billing periods, whatever day it begins.
 */
export function durationEnd(start: LocalDate, duration: Duration, anchor: BillingAnchor | null): LocalDate {
  switch (duration.unit) {
    case 'days':
      return addDays(start, duration.count);
    case 'week':
      return addDays(start, 7 * duration.count);
    case 'month':
    case 'quarter':
    case 'year':
      return billingDate(billingAnchor({ kind: 'month' }, start), MONTHS[duration.unit] * duration.count);
    case 'period': {
      if (!anchor) throw new CalendarError('a duration in billing periods needs the anchor of the charge it counts');
      const n = periodIndexOf(anchor, start);
      return billingDate(anchor, n + duration.count + (billingDate(anchor, n) === start ? 0 : 1));
    }
  }
}

/** One phase of a subscription's plan: [start, end), end null for an evergreen term. */
export interface PhaseSpan {
  type: 'trial' | 'discount' | 'evergreen' | 'fixed';
  /** The phase's index in the price list's `phases`; null for the term of the list's own charges. */
  phaseIndex: number | null;
  start: LocalDate;
  end: LocalDate | null;
}

/**
 * The phases of a plan sold on `startDate`, in order: each of the price list's `phases`, then
 * its term (evergreen: no end; fixed: ends after its duration). Each begins where the previous
 * one ends. `anchor` is the aligned anchor of the list's recurring charges (alignSubscription),
 * needed only when a duration counts billing periods.
 */
export function phaseTimeline(list: PriceList, startDate: LocalDate, anchor: BillingAnchor | null): PhaseSpan[] {
  const spans: PhaseSpan[] = [];
  let cursor = startDate;
  (list.phases ?? []).forEach((phase, phaseIndex) => {
    const end = durationEnd(cursor, phase.duration, anchor);
    spans.push({ type: phase.type, phaseIndex, start: cursor, end });
    cursor = end;
  });
  const term = planTermOf(list);
  spans.push({ type: term.type, phaseIndex: null, start: cursor, end: term.type === 'fixed' ? durationEnd(cursor, term.duration, anchor) : null });
  return spans;
}
