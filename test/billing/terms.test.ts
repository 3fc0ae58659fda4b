/**
 * The catalog's billing terms on the calendar (src/billing/terms.ts, docs/billing.md "Billing
 * terms from the catalog"): charge periods as cadences, durations, and the dates a plan's phases
 * run — hand-computed tables, and properties over random starts, BCDs and durations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { PriceList } from '../../src/catalog/index.ts';
import { addDays, alignSubscription, billingDateOnOrAfter, cadenceOf, durationEnd, periodIndexOf, phaseTimeline, type BillingCadence } from '../../src/billing/index.ts';

const monthly = { kind: 'recurring' as const, code: 'fiber-monthly', name: 'Fiber monthly', amountMinor: '1500000000', period: 'month' as const };

test('a charge\'s period is its cadence', () => {
  assert.deepEqual(cadenceOf({ period: 'month' }), { kind: 'month' });
  assert.deepEqual(cadenceOf({ period: 'quarter' }), { kind: 'quarter' });
  assert.deepEqual(cadenceOf({ period: 'days', periodDays: 30 }), { kind: 'days', days: 30 });
  assert.throws(() => cadenceOf({ period: 'days' }), /needs periodDays/);
});

test('a trial of 14 days, a discount for 3 periods, then a 2-year fixed term: started 2026-03-10 with BCD 15', () => {
  const list: PriceList = {
    currency: 'IDR',
    charges: [monthly],
    phases: [
      { type: 'trial', duration: { unit: 'days', count: 14 } },
      { type: 'discount', duration: { unit: 'period', count: 3 }, discountPercent: '50' },
    ],
    term: { type: 'fixed', duration: { unit: 'year', count: 2 } },
  };
  const { anchor } = alignSubscription({ cadence: cadenceOf(monthly), startDate: '2026-03-10', billingCycleDay: 15 });
  // The discount begins on Mar 24, between billing dates: the stub to Apr 15, then three whole
  // periods (Apr 15 → May 15 → Jun 15 → Jul 15).
  assert.deepEqual(phaseTimeline(list, '2026-03-10', anchor), [
    { type: 'trial', phaseIndex: 0, start: '2026-03-10', end: '2026-03-24' },
    { type: 'discount', phaseIndex: 1, start: '2026-03-24', end: '2026-07-15' },
    { type: 'fixed', phaseIndex: null, start: '2026-07-15', end: '2028-07-15' },
  ]);
});

test('without phases or term: one evergreen phase from the start, without end', () => {
  assert.deepEqual(phaseTimeline({ currency: 'IDR', charges: [monthly] }, '2026-01-31', null), [{ type: 'evergreen', phaseIndex: null, start: '2026-01-31', end: null }]);
});

test('durations in months, quarters and years count from their own start, clamped to the month end', () => {
  assert.equal(durationEnd('2026-01-31', { unit: 'month', count: 1 }, null), '2026-02-28');
  assert.equal(durationEnd('2026-01-31', { unit: 'month', count: 2 }, null), '2026-03-31', 'from the start, not chained through Feb 28');
  assert.equal(durationEnd('2024-02-29', { unit: 'year', count: 1 }, null), '2025-02-28');
  assert.equal(durationEnd('2026-11-30', { unit: 'quarter', count: 1 }, null), '2027-02-28');
  assert.equal(durationEnd('2026-12-29', { unit: 'week', count: 2 }, null), '2027-01-12');
  assert.equal(durationEnd('2026-12-29', { unit: 'days', count: 3 }, null), '2027-01-01');
  assert.throws(() => durationEnd('2026-12-29', { unit: 'period', count: 3 }, null), /needs the anchor/);
});

test('a duration in periods that starts on a billing date is exactly N periods', () => {
  const { anchor } = alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-01-31', billingCycleDay: 31 });
  assert.equal(durationEnd('2026-01-31', { unit: 'period', count: 3 }, anchor), '2026-04-30');
});

const cadenceArb: fc.Arbitrary<BillingCadence> = fc.oneof(
  fc.integer({ min: 1, max: 120 }).map((days): BillingCadence => ({ kind: 'days', days })),
  fc.constantFrom<BillingCadence>({ kind: 'week' }, { kind: 'month' }, { kind: 'quarter' }, { kind: 'year' }),
);
const dateArb = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2050-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));

test('a duration in periods covers N whole billing periods after the start, ending on a billing date', () => {
  fc.assert(fc.property(cadenceArb, dateArb, fc.integer({ min: 1, max: 31 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 24 }), (cadence, subscriptionStart, bcd, later, count) => {
    const { anchor } = alignSubscription({ cadence, startDate: subscriptionStart, billingCycleDay: bcd });
    const start = addDays(subscriptionStart, later);
    const end = durationEnd(start, { unit: 'period', count }, anchor);
    assert.equal(billingDateOnOrAfter(anchor, end), end, 'it ends on a billing date');
    assert.equal(periodIndexOf(anchor, end) - periodIndexOf(anchor, billingDateOnOrAfter(anchor, start)), count, 'N whole periods after the first billing date');
  }), { numRuns: 300 });
});

test('phases follow each other without gap, each at least a day long', () => {
  const durationArb = fc.record({ unit: fc.constantFrom('days', 'week', 'month', 'quarter', 'year', 'period' as const), count: fc.integer({ min: 1, max: 36 }) });
  fc.assert(fc.property(dateArb, fc.integer({ min: 1, max: 31 }), fc.array(durationArb, { maxLength: 4 }), fc.option(durationArb), (start, bcd, durations, fixed) => {
    const list: PriceList = {
      currency: 'IDR',
      charges: [monthly],
      phases: durations.map((duration, i) => (i === 0 ? { type: 'trial', duration } : { type: 'discount', duration, discountPercent: '10' })),
      ...(fixed ? { term: { type: 'fixed', duration: fixed } } : {}),
    };
    const { anchor } = alignSubscription({ cadence: { kind: 'month' }, startDate: start, billingCycleDay: bcd });
    const spans = phaseTimeline(list, start, anchor);
    assert.equal(spans.length, durations.length + 1);
    assert.equal(spans[0].start, start);
    spans.forEach((span, i) => {
      if (i > 0) assert.equal(span.start, spans[i - 1].end);
      if (span.end !== null) assert.ok(span.end > span.start);
    });
    assert.equal(spans.at(-1)!.end === null, !fixed);
  }), { numRuns: 300 });
});
