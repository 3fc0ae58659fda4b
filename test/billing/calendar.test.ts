/**
 * The billing calendar against dates computed by hand — the worked examples of docs/billing.md
 * (keep the two in step): the 2011 stub, a BCD of 31 through a year, leap days, quarter and
 * year anchors, add-ons on their base, DST days in Europe/Berlin and America/New_York, the
 * rounding and allocation rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CalendarError, alignSubscription, allocateMinor, billingAnchor, billingDate, fractionToDecimal, isLocalDate, localDateAt, partAmountMinor, partOf,
  periodAt, periodContaining, periodInstants, roundHalfUp, splitByPeriods, startOfLocalDate, type BillingAnchor,
} from '../../src/billing/index.ts';

const dates = (anchor: BillingAnchor, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => billingDate(anchor, from + i));

test('2011: a monthly plan started Mar 10 with BCD 15 has a 5-day stub counted against Feb 15 → Mar 15 (28 days)', () => {
  const aligned = alignSubscription({ cadence: { kind: 'month' }, startDate: '2011-03-10', billingCycleDay: 15 });
  assert.equal(aligned.rule, 'account');
  assert.deepEqual(aligned.anchor, { cadence: { kind: 'month' }, date: '2011-03-15', dayOfMonth: 15 });
  assert.equal(aligned.firstBillingDate, '2011-03-15');
  assert.deepEqual(aligned.stub, {
    period: { index: -1, start: '2011-02-15', end: '2011-03-15', days: 28 },
    start: '2011-03-10', end: '2011-03-15', days: 5, factor: { numerator: 5, denominator: 28 },
  });
  assert.equal(fractionToDecimal(aligned.stub!.factor), '0.178571428571');
  // 100.00 a month: 5/28 of it is 17.857142… → 17.86; the rest of February's period is 82.14.
  assert.equal(partAmountMinor(10000n, aligned.stub!), 1786n);
  assert.equal(partAmountMinor(10000n, partOf(aligned.stub!.period, '2011-02-15', '2011-03-10')), 8214n);
  assert.deepEqual(dates(aligned.anchor, 0, 3), ['2011-03-15', '2011-04-15', '2011-05-15', '2011-06-15']);
});

test('2011: a range across billing dates splits into a stub, whole periods and a tail, each against its own period', () => {
  const { anchor } = alignSubscription({ cadence: { kind: 'month' }, startDate: '2011-03-10', billingCycleDay: 15 });
  const parts = splitByPeriods(anchor, '2011-03-10', '2011-04-20').map((p) => [p.start, p.end, `${p.factor.numerator}/${p.factor.denominator}`]);
  assert.deepEqual(parts, [['2011-03-10', '2011-03-15', '5/28'], ['2011-03-15', '2011-04-15', '31/31'], ['2011-04-15', '2011-04-20', '5/30']]);
});

test('a BCD of 31 through 2011 and into 2012: month ends, never chained, Feb 29 in the leap year', () => {
  const { anchor, stub } = alignSubscription({ cadence: { kind: 'month' }, startDate: '2011-01-31', billingCycleDay: 31 });
  assert.equal(stub, null);
  assert.deepEqual(dates(anchor, 0, 13), [
    '2011-01-31', '2011-02-28', '2011-03-31', '2011-04-30', '2011-05-31', '2011-06-30', '2011-07-31',
    '2011-08-31', '2011-09-30', '2011-10-31', '2011-11-30', '2011-12-31', '2012-01-31', '2012-02-29',
  ]);
  assert.deepEqual([0, 1, 2, 12].map((n) => periodAt(anchor, n).days), [28, 31, 30, 29]);
  assert.deepEqual(periodContaining(anchor, '2011-03-30'), { index: 1, start: '2011-02-28', end: '2011-03-31', days: 31 });
});

test('a BCD of 30 started on Feb 10: first billing date Feb 28, stub 18/29 against Jan 30 → Feb 28', () => {
  const aligned = alignSubscription({ cadence: { kind: 'month' }, startDate: '2011-02-10', billingCycleDay: 30 });
  assert.deepEqual(aligned.anchor, { cadence: { kind: 'month' }, date: '2011-02-28', dayOfMonth: 30 });
  assert.deepEqual(aligned.stub?.period, { index: -1, start: '2011-01-30', end: '2011-02-28', days: 29 });
  assert.deepEqual(aligned.stub?.factor, { numerator: 18, denominator: 29 });
  assert.equal(billingDate(aligned.anchor, 1), '2011-03-30');
});

test('a start after the BCD in its month: the first billing date is next month\'s', () => {
  const aligned = alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-12-20', billingCycleDay: 1 });
  assert.equal(aligned.firstBillingDate, '2027-01-01');
  assert.deepEqual(aligned.stub?.factor, { numerator: 12, denominator: 31 });
});

test('an annual plan started on Feb 29 renews on Feb 28 and comes back to Feb 29 in the next leap year', () => {
  const aligned = alignSubscription({ cadence: { kind: 'year' }, startDate: '2012-02-29', billingCycleDay: 15 });
  assert.equal(aligned.rule, 'subscription');
  assert.equal(aligned.stub, null);
  assert.deepEqual(dates(aligned.anchor, -1, 4), ['2011-02-28', '2012-02-29', '2013-02-28', '2014-02-28', '2015-02-28', '2016-02-29']);
  assert.deepEqual([0, 3].map((n) => periodAt(aligned.anchor, n).days), [365, 366]);
});

test('an annual plan aligns to its own start day and month, not to the account BCD', () => {
  const aligned = alignSubscription({ cadence: { kind: 'year' }, startDate: '2026-07-15', billingCycleDay: 1 });
  assert.equal(aligned.firstBillingDate, '2026-07-15');
  assert.deepEqual(periodAt(aligned.anchor, 0), { index: 0, start: '2026-07-15', end: '2027-07-15', days: 365 });
});

test('a quarterly plan: BCD 1, started Jan 20 → quarters from Feb 1; the 12-day stub counts against Nov 1 → Feb 1 (92 days)', () => {
  const aligned = alignSubscription({ cadence: { kind: 'quarter' }, startDate: '2026-01-20', billingCycleDay: 1 });
  assert.deepEqual(dates(aligned.anchor, -1, 4), ['2025-11-01', '2026-02-01', '2026-05-01', '2026-08-01', '2026-11-01', '2027-02-01']);
  assert.deepEqual(aligned.stub?.factor, { numerator: 12, denominator: 92 });
});

test('a quarterly plan with BCD 31: Jan 31, Apr 30, Jul 31, Oct 31 — computed from the anchor', () => {
  const { anchor } = alignSubscription({ cadence: { kind: 'quarter' }, startDate: '2026-01-31', billingCycleDay: 31 });
  assert.deepEqual(dates(anchor, -1, 4), ['2025-10-31', '2026-01-31', '2026-04-30', '2026-07-31', '2026-10-31', '2027-01-31']);
});

test('weekly and N-day plans align to their start', () => {
  const weekly = alignSubscription({ cadence: { kind: 'week' }, startDate: '2026-12-01', billingCycleDay: 15 });
  assert.equal(weekly.stub, null);
  assert.deepEqual(periodContaining(weekly.anchor, '2026-12-20'), { index: 2, start: '2026-12-15', end: '2026-12-22', days: 7 });
  const thirty = alignSubscription({ cadence: { kind: 'days', days: 30 }, startDate: '2026-01-01', billingCycleDay: 15 });
  assert.deepEqual(dates(thirty.anchor, 0, 2), ['2026-01-01', '2026-01-31', '2026-03-02']);
});

test('an add-on aligns to its base: a monthly add-on on an annual plan bills on the plan\'s day, its stub against the plan-aligned month', () => {
  const base = alignSubscription({ cadence: { kind: 'year' }, startDate: '2026-03-10', billingCycleDay: 1 });
  const addOn = alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-06-20', billingCycleDay: 1, base: base.anchor });
  assert.equal(addOn.rule, 'base');
  assert.deepEqual(addOn.anchor, { cadence: { kind: 'month' }, date: '2026-03-10', dayOfMonth: 10 });
  assert.equal(addOn.firstBillingDate, '2026-07-10');
  assert.deepEqual(addOn.stub?.period, { index: 3, start: '2026-06-10', end: '2026-07-10', days: 30 });
  assert.deepEqual(addOn.stub?.factor, { numerator: 20, denominator: 30 });
});

test('an add-on on a monthly plan with BCD 31 keeps the 31: started Feb 10, stub 18/28 to Feb 28, then Mar 31', () => {
  const base = alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-01-15', billingCycleDay: 31 });
  const addOn = alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-02-10', billingCycleDay: 31, base: base.anchor });
  assert.deepEqual(addOn.anchor, { cadence: { kind: 'month' }, date: '2026-01-31', dayOfMonth: 31 });
  assert.equal(addOn.firstBillingDate, '2026-02-28');
  assert.deepEqual(addOn.stub?.factor, { numerator: 18, denominator: 28 });
  assert.equal(billingDate(addOn.anchor, 2), '2026-03-31');
});

test('Europe/Berlin: the spring day has 23 hours, the autumn day 25; a period still counts its days', () => {
  const zone = 'Europe/Berlin';
  assert.equal(startOfLocalDate('2026-03-29', zone), '2026-03-28T23:00:00.000Z');
  assert.equal(startOfLocalDate('2026-03-30', zone), '2026-03-29T22:00:00.000Z');
  assert.equal(startOfLocalDate('2026-10-25', zone), '2026-10-24T22:00:00.000Z');
  assert.equal(startOfLocalDate('2026-10-26', zone), '2026-10-25T23:00:00.000Z');
  const { anchor } = alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-03-15', billingCycleDay: 15 });
  const march = periodAt(anchor, 0);
  assert.equal(march.days, 31);
  assert.deepEqual(periodInstants(march, zone), { from: '2026-03-14T23:00:00.000Z', to: '2026-04-14T22:00:00.000Z' });
  assert.equal(localDateAt('2026-03-29T22:30:00Z', zone), '2026-03-30');
});

test('America/New_York: DST from Mar 8 and back on Nov 1, 2026', () => {
  const zone = 'America/New_York';
  assert.equal(startOfLocalDate('2026-03-08', zone), '2026-03-08T05:00:00.000Z');
  assert.equal(startOfLocalDate('2026-03-09', zone), '2026-03-09T04:00:00.000Z');
  assert.equal(startOfLocalDate('2026-11-01', zone), '2026-11-01T04:00:00.000Z');
  assert.equal(startOfLocalDate('2026-11-02', zone), '2026-11-02T05:00:00.000Z');
  assert.equal(localDateAt('2026-03-29T22:30:00Z', zone), '2026-03-29');
  assert.equal(localDateAt('2026-12-31T23:30:00Z', 'Asia/Jakarta'), '2027-01-01');
});

test('a day whose midnight does not exist begins at 01:00 (America/Sao_Paulo, 2018-11-04)', () => {
  assert.equal(startOfLocalDate('2018-11-04', 'America/Sao_Paulo'), '2018-11-04T03:00:00.000Z');
});

test('rounding is HALF_UP: ties away from zero', () => {
  assert.deepEqual([[5n, 2n], [-5n, 2n], [7n, 4n], [5n, 4n], [-7n, 4n], [3n, 2n], [0n, 7n]].map(([n, d]) => roundHalfUp(n, d)), [3n, -3n, 2n, 1n, -2n, 2n, 0n]);
});

test('allocation by cumulative rounding: 1.00 over three equal days is 0.33 + 0.34 + 0.33, not 0.99', () => {
  const { anchor } = alignSubscription({ cadence: { kind: 'days', days: 3 }, startDate: '2026-01-01', billingCycleDay: 1 });
  const parts = splitByPeriods(anchor, '2026-01-01', '2026-01-04');
  assert.equal(parts.length, 1);
  const period = parts[0].period;
  const days = ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04'];
  assert.deepEqual(days.slice(1).map((end, i) => partAmountMinor(100n, partOf(period, days[i], end))), [33n, 34n, 33n]);
  assert.deepEqual(allocateMinor(100n, [1, 1, 1]), [33n, 34n, 33n]);
  assert.deepEqual(allocateMinor(1n, [1, 1]), [1n, 0n]);
  assert.deepEqual(allocateMinor(-1n, [1, 1]), [-1n, 0n]);
  assert.deepEqual(allocateMinor(9999n, [10, 8, 10]), [3571n, 2857n, 3571n]);
});

test('bad input is refused with a CalendarError', () => {
  for (const bcd of [0, 32, 5.5]) assert.throws(() => alignSubscription({ cadence: { kind: 'month' }, startDate: '2026-01-01', billingCycleDay: bcd }), CalendarError);
  assert.throws(() => alignSubscription({ cadence: { kind: 'days', days: 0 }, startDate: '2026-01-01', billingCycleDay: 1 }), CalendarError);
  assert.throws(() => billingAnchor({ kind: 'month' }, '2011-02-29'), CalendarError);
  assert.throws(() => splitByPeriods(billingAnchor({ kind: 'week' }, '2026-01-01'), '2026-01-10', '2026-01-09'), CalendarError);
  assert.throws(() => partOf(periodAt(billingAnchor({ kind: 'week' }, '2026-01-01'), 0), '2026-01-05', '2026-01-09'), CalendarError);
  assert.equal(isLocalDate('2011-02-29'), false);
  assert.equal(isLocalDate('2012-02-29'), true);
  assert.equal(isLocalDate('2012-2-29'), false);
});

test('every IANA zone the runtime knows (what an account may be opened with) converts local dates both ways', () => {
  const zones = Intl.supportedValuesOf('timeZone');
  assert.ok(zones.length > 300);
  for (const zone of [...zones, 'UTC']) {
    const instant = startOfLocalDate('2026-03-29', zone);
    assert.equal(localDateAt(instant, zone), '2026-03-29', zone);
  }
});
