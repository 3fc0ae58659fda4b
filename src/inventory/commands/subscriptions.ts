/**
 * Subscription commands (order action RENEW, and the subscription's own states): a renewal
 * moves the end date; suspension, resumption, termination and expiry change its state. Product
 * instances are not touched; a subscription whose products have all ended ends with them.
 */
import { Temporal } from 'temporal-polyfill';
import { findAccountInTx } from '../../customers/index.ts';
import { BusinessRuleError, ValidationError } from '../../platform/errors.ts';
import { PRODUCT_INSTANCE_FINAL_STATES, allowedSubscriptionCommands, type SubscriptionCommand } from '../model.ts';
import { audit, checkExpectedVersion, loadSubscription, transitionSubscription, type CorrelatedCause, type TransitionInput, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import { scheduleSubscriptionDates } from './subscription-dates.ts';
import type { ProductInstance, Subscription } from '../types.ts';

/**
 * Moves the end date (seed 000 §11.6, §21.4): a new subscription version; product
 * instances are not touched. The new end is `newEndDate`, or the current end plus
 * `termMonths` (default: the subscription's own term) in the account's time zone.
 */
export async function renewSubscription(u: Unit, id: string, input: TransitionInput & { termMonths?: number | null; newEndDate?: string | null }): Promise<Subscription> {
  const subscription = await loadSubscription(u, id);
  checkExpectedVersion('subscription', id, subscription.version, input.expectedVersion);
  const account = await findAccountInTx(u.tx, subscription.accountId);
  const newEnd = renewalEndDate(subscription, input, account!.timeZone);
  const result = await transitionSubscription(u, subscription, 'renewal:apply', input.expectedVersion, input, (s) => {
    s.commitmentStartDate = s.endDate ?? s.commitmentStartDate;
    s.endDate = newEnd;
    s.commitmentEndDate = newEnd;
    if (input.termMonths) s.termMonths = input.termMonths;
  });
  // The expiry (or the next auto-renewal) moves to the new end; an EXPIRED subscription renewed is ACTIVE again.
  await scheduleSubscriptionDates(u, result, account!.timeZone);
  await audit(u, 'subscription.renew', 'subscription', id, result.accountId, { newEndDate: newEnd });
  return result;
}

export async function changeSubscriptionState(u: Unit, id: string, command: Exclude<SubscriptionCommand, 'renewal:apply' | 'activation:apply'>, input: TransitionInput): Promise<Subscription> {
  const subscription = await loadSubscription(u, id);
  checkExpectedVersion('subscription', id, subscription.version, input.expectedVersion);
  const effectiveAt = input.effectiveAt ?? u.now;
  const ends = command === 'termination:apply' || command === 'expiry:apply';
  if (ends && subscription.startDate && effectiveAt < subscription.startDate) {
    throw new BusinessRuleError(`subscription ${id} started at ${subscription.startDate}; it cannot end before that (effectiveAt ${effectiveAt})`);
  }
  const result = await transitionSubscription(u, subscription, command, input.expectedVersion, input, (s) => {
    if (ends) s.endDate = effectiveAt;
  });
  await audit(u, `subscription.${command.split(':')[0]}`, 'subscription', id, result.accountId);
  return result;
}

/** A subscription whose products have all ended is terminated with them. */
export async function endSubscriptionIfEmpty(u: Unit, product: ProductInstance, cause: CorrelatedCause): Promise<void> {
  if (!product.subscriptionId) return;
  const subscription = await loadSubscription(u, product.subscriptionId);
  if (!allowedSubscriptionCommands(subscription.status).includes('termination:apply')) return;
  const products = await store.listProductInstancesOfSubscription(u.tx, product.accountId, product.subscriptionId);
  if (products.some((p) => !PRODUCT_INSTANCE_FINAL_STATES.includes(p.status))) return;
  const effectiveAt = cause.effectiveAt ?? u.now;
  await transitionSubscription(u, subscription, 'termination:apply', subscription.version, cause, (s) => {
    // A product ended with an effective time before the subscription started ends it at its start.
    s.endDate = s.startDate && effectiveAt < s.startDate ? s.startDate : effectiveAt;
  });
}

/** Adds calendar months in the account's time zone (a month is not a fixed duration). */
export function addMonths(instant: string, months: number, timeZone: string): string {
  const zoned = Temporal.Instant.from(new Date(instant).toISOString()).toZonedDateTimeISO(timeZone);
  return new Date(zoned.add({ months }).epochMilliseconds).toISOString();
}

/**
 * The end date a renewal moves a subscription to: `newEndDate`, or the current end plus
 * `termMonths` (default: the subscription's own term) in the account's time zone. It must be
 * after the current end. The one rule, used by the renewal command and by order submission
 * (which checks a RENEW item before it takes any guard). Fields: `/newEndDate`.
 */
export function renewalEndDate(subscription: Subscription, input: { termMonths?: number | null; newEndDate?: string | null }, timeZone: string): string {
  const months = input.termMonths ?? subscription.termMonths;
  let newEnd: string;
  if (input.newEndDate) newEnd = new Date(input.newEndDate).toISOString();
  else if (subscription.endDate && months) newEnd = addMonths(subscription.endDate, months, timeZone);
  else throw ValidationError.field('/newEndDate', 'the subscription has no end date or term; give newEndDate or termMonths');
  if (subscription.endDate && newEnd <= subscription.endDate) {
    throw ValidationError.field('/newEndDate', `must be after the current end date ${subscription.endDate}`);
  }
  return newEnd;
}
