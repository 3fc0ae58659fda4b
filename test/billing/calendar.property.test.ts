/**
 * Property tests of the billing calendar (issue 12 point 10, docs/billing.md), over every
 * period kind, every billing cycle day, dates from 1990 to 2060 and a set of time zones with
 * odd DST rules:
 *   - billing periods tile time: each ends where the next begins, every date lies in exactly
 *     the period periodIndexOf names, and splitting any range gives contiguous parts that cover
 *     it (also as instants in every zone: consecutive periods share their bound instant);
 *   - billing dates come from the anchor, clamped to the month's end (checked against
 *     temporal-polyfill's own month arithmetic), so BCD 29–31 land on Feb 28 or 29 and return;
 *   - the prorated parts of a period sum to its amount to the minor unit, whatever the split,
 *     each part within one minor unit of its exact share, none negative for a positive amount;
 *   - alignment: the first billing date is on or after the start, on the BCD for month and
 *     quarter, and the stub is measured against the whole period it falls in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Temporal } from 'temporal-polyfill';
import {
  addDays, alignSubscription, allocateMinor, billingAnchor, billingDate, clampedDay, daysBetween, daysInMonth, partAmountMinor, partOf,
  periodAt, periodContaining, periodIndexOf, periodInstants, splitByPeriods, startOfLocalDate, type BillingAnchor, type BillingCadence, type LocalDate,
} from '../../src/billing/index.ts';

const RUNS = { numRuns: 400 };
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'America/Sao_Paulo', 'Asia/Jakarta', 'Australia/Lord_Howe', 'Pacific/Apia', 'Pacific/Chatham', 'Asia/Kolkata'];

const dateArb: fc.Arbitrary<LocalDate> = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2060-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const bcdArb = fc.integer({ min: 1, max: 31 });
const cadenceArb: fc.Arbitrary<BillingCadence> = fc.oneof(
  fc.integer({ min: 1, max: 400 }).map((days): BillingCadence => ({ kind: 'days', days })),
  fc.constantFrom<BillingCadence>({ kind: 'week' }, { kind: 'month' }, { kind: 'quarter' }, { kind: 'year' }),
);
/** An anchor as a subscription gets it: any cadence, start and BCD, possibly as an add-on. */
const anchorArb: fc.Arbitrary<BillingAnchor> = fc.record({ cadence: cadenceArb, start: dateArb, bcd: bcdArb, baseCadence: fc.option(cadenceArb), baseStart: dateArb })
  .map(({ cadence, start, bcd, baseCadence, baseStart }) => {
    const base = baseCadence ? alignSubscription({ cadence: baseCadence, startDate: baseStart, billingCycleDay: bcd }).anchor : null;
    return alignSubscription({ cadence, startDate: start, billingCycleDay: bcd, base }).anchor;
  });
const amountArb = fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n });

test('billing periods tile time: no gap, no overlap, every date in the period its index names', () => {
  fc.assert(fc.property(anchorArb, fc.integer({ min: -30, max: 30 }), dateArb, (anchor, n, date) => {
    const period = periodAt(anchor, n);
    const next = periodAt(anchor, n + 1);
    assert.equal(period.end, next.start);
    assert.ok(period.start < period.end, `period ${n} is not empty`);
    assert.equal(period.days, daysBetween(period.start, period.end));
    const holding = periodContaining(anchor, date);
    assert.ok(holding.start <= date && date < holding.end, `${date} in [${holding.start}, ${holding.end})`);
    assert.equal(periodIndexOf(anchor, holding.start), holding.index);
    assert.equal(periodIndexOf(anchor, addDays(holding.end, -1)), holding.index);
    assert.equal(periodIndexOf(anchor, holding.end), holding.index + 1);
  }), RUNS);
});

test('a range split by periods: contiguous parts that cover it, each inside its period, factors = days / period days', () => {
  fc.assert(fc.property(anchorArb, dateArb, fc.integer({ min: 0, max: 1200 }), (anchor, from, length) => {
    const to = addDays(from, length);
    const parts = splitByPeriods(anchor, from, to);
    assert.equal(parts.reduce((sum, p) => sum + p.days, 0), length);
    let cursor = from;
    parts.forEach((part, i) => {
      assert.equal(part.start, cursor);
      assert.ok(part.start < part.end);
      assert.ok(part.period.start <= part.start && part.end <= part.period.end);
      assert.deepEqual(part.factor, { numerator: part.days, denominator: part.period.days });
      if (i > 0 && i < parts.length - 1) assert.deepEqual([part.start, part.end], [part.period.start, part.period.end], 'a middle part is a whole period');
      if (i > 0) assert.equal(part.period.index, parts[i - 1].period.index + 1);
      cursor = part.end;
    });
    assert.equal(cursor, length === 0 ? from : to);
  }), RUNS);
});

test('as instants in the account zone, consecutive periods share their bound and never run backwards (DST included)', () => {
  fc.assert(fc.property(anchorArb, fc.integer({ min: -5, max: 40 }), fc.constantFrom(...ZONES), (anchor, n, zone) => {
    const a = periodInstants(periodAt(anchor, n), zone);
    const b = periodInstants(periodAt(anchor, n + 1), zone);
    assert.equal(a.to, b.from);
    assert.ok(Date.parse(a.from) < Date.parse(a.to));
    // The bound is the first instant of the local date: its local date is that date, and
    // the instant just before it belongs to the day before.
    const zoned = Temporal.Instant.from(a.to).toZonedDateTimeISO(zone);
    assert.equal(zoned.toPlainDate().toString(), periodAt(anchor, n).end);
    assert.equal(Temporal.Instant.from(a.to).subtract({ milliseconds: 1 }).toZonedDateTimeISO(zone).toPlainDate().toString(), addDays(periodAt(anchor, n).end, -1));
  }), { numRuns: 200 });
});

test('month, quarter and year dates come from the anchor, clamped to the month end (as temporal-polyfill computes them)', () => {
  fc.assert(fc.property(fc.constantFrom('month', 'quarter', 'year' as const), dateArb, bcdArb, fc.integer({ min: -40, max: 40 }), (kind, start, bcd, n) => {
    const { anchor } = alignSubscription({ cadence: { kind }, startDate: start, billingCycleDay: bcd });
    const dom = anchor.dayOfMonth!;
    const months = { month: 1, quarter: 3, year: 12 }[kind] * n;
    const ym = Temporal.PlainYearMonth.from(anchor.date.slice(0, 7)).add({ months });
    const expected = Temporal.PlainDate.from({ year: ym.year, month: ym.month, day: dom }, { overflow: 'constrain' }).toString();
    assert.equal(billingDate(anchor, n), expected);
    // Clamping: the day is the BCD unless the month is shorter; February of a leap year has 29.
    const date = Temporal.PlainDate.from(expected);
    assert.equal(date.day, Math.min(dom, date.daysInMonth));
    if (date.month === 2 && dom >= 29) assert.equal(date.day, date.inLeapYear ? 29 : 28);
  }), RUNS);
});

test('day arithmetic agrees with temporal-polyfill (leap years, centuries)', () => {
  const wide = fc.date({ min: new Date('1600-01-01T00:00:00Z'), max: new Date('2400-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
  fc.assert(fc.property(wide, fc.integer({ min: -100000, max: 100000 }), (date, days) => {
    const later = Temporal.PlainDate.from(date).add({ days }).toString();
    assert.equal(addDays(date, days), later);
    assert.equal(daysBetween(date, later), days);
    const d = Temporal.PlainDate.from(date);
    assert.equal(daysInMonth(d.year, d.month), d.daysInMonth);
  }), RUNS);
});

test('the prorated parts of a period sum to its amount to the minor unit, whatever the split', () => {
  fc.assert(fc.property(anchorArb, fc.integer({ min: -10, max: 10 }), amountArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }), (anchor, n, amount, cutsAt) => {
    const period = periodAt(anchor, n);
    const cuts = [...new Set(cutsAt.map((c) => Math.floor(c * period.days)))].filter((c) => c > 0 && c < period.days).sort((a, b) => a - b);
    const bounds = [period.start, ...cuts.map((c) => addDays(period.start, c)), period.end];
    const parts = bounds.slice(1).map((end, i) => partOf(period, bounds[i], end));
    const amounts = parts.map((p) => partAmountMinor(amount, p));
    assert.equal(amounts.reduce((s, a) => s + a, 0n), amount);
    // The same numbers as allocating by days; each within one minor unit of its exact share.
    assert.deepEqual(amounts, allocateMinor(amount, parts.map((p) => p.days)));
    parts.forEach((p, i) => {
      const exactTimesDays = amount * BigInt(p.days);
      const diff = amounts[i] * BigInt(period.days) - exactTimesDays;
      assert.ok((diff < 0n ? -diff : diff) <= BigInt(period.days), `part ${i}: ${amounts[i]} vs ${amount}×${p.days}/${period.days}`);
      if (amount >= 0n) assert.ok(amounts[i] >= 0n);
    });
  }), RUNS);
});

test('a part costs the same however the rest of its period is split', () => {
  fc.assert(fc.property(anchorArb, amountArb, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (anchor, amount, x, y, z) => {
    const period = periodAt(anchor, 0);
    const [a, b, c] = [x, y, z].map((v) => v % (period.days + 1)).sort((p, q) => p - q);
    const at = (d: number) => addDays(period.start, d);
    const alone = partAmountMinor(amount, partOf(period, at(a), at(b)));
    // [a, b) and [b, c) together cost what [a, c) costs: credits of an unused rest reconcile.
    assert.equal(alone + partAmountMinor(amount, partOf(period, at(b), at(c))), partAmountMinor(amount, partOf(period, at(a), at(c))));
  }), RUNS);
});

test('allocateMinor: parts sum to the amount and stay within one minor unit of their share', () => {
  fc.assert(fc.property(amountArb, fc.array(fc.integer({ min: 0, max: 10000 }), { minLength: 1, maxLength: 12 }).filter((w) => w.some((v) => v > 0)), (amount, weights) => {
    const parts = allocateMinor(amount, weights);
    const total = BigInt(weights.reduce((s, w) => s + w, 0));
    assert.equal(parts.reduce((s, p) => s + p, 0n), amount);
    parts.forEach((p, i) => {
      const diff = p * total - amount * BigInt(weights[i]);
      assert.ok((diff < 0n ? -diff : diff) <= total);
      if (weights[i] === 0) assert.equal(p, 0n);
    });
  }), RUNS);
});

test('alignment: the first billing date is on or after the start, on the BCD for month and quarter; the stub is against its whole period', () => {
  fc.assert(fc.property(cadenceArb, dateArb, bcdArb, (cadence, start, bcd) => {
    const aligned = alignSubscription({ cadence, startDate: start, billingCycleDay: bcd });
    assert.ok(aligned.firstBillingDate >= start);
    assert.equal(periodIndexOf(aligned.anchor, aligned.firstBillingDate), 0);
    if (cadence.kind === 'month' || cadence.kind === 'quarter') {
      assert.equal(aligned.rule, 'account');
      const first = Temporal.PlainDate.from(aligned.firstBillingDate);
      assert.equal(first.day, clampedDay(first.year, first.month, bcd));
      assert.ok(daysBetween(start, aligned.firstBillingDate) <= 31, 'the stub is shorter than a month');
    } else {
      assert.equal(aligned.rule, 'subscription');
      assert.equal(aligned.firstBillingDate, start);
    }
    if (aligned.stub) {
      assert.equal(aligned.stub.start, start);
      assert.equal(aligned.stub.end, aligned.firstBillingDate);
      assert.deepEqual(aligned.stub.period, periodAt(aligned.anchor, -1));
      assert.ok(aligned.stub.factor.numerator < aligned.stub.factor.denominator);
    } else {
      assert.equal(aligned.firstBillingDate, start);
    }
  }), RUNS);
});

test('an add-on bills on its base subscription\'s dates when they share a cadence', () => {
  fc.assert(fc.property(cadenceArb, dateArb, bcdArb, fc.integer({ min: 0, max: 800 }), (cadence, baseStart, bcd, later) => {
    const base = alignSubscription({ cadence, startDate: baseStart, billingCycleDay: bcd });
    const addOnStart = addDays(baseStart, later);
    const addOn = alignSubscription({ cadence, startDate: addOnStart, billingCycleDay: bcd === 31 ? 1 : bcd + 1, base: base.anchor });
    assert.equal(addOn.rule, 'base');
    for (let n = -2; n <= 3; n++) assert.equal(billingDate(addOn.anchor, n), billingDate(base.anchor, n));
    assert.equal(addOn.firstBillingDate, billingDate(base.anchor, periodIndexOf(base.anchor, addOnStart) + (periodContaining(base.anchor, addOnStart).start === addOnStart ? 0 : 1)));
  }), RUNS);
});

test('a local date boundary is the first instant of that date in the zone', () => {
  fc.assert(fc.property(dateArb, fc.constantFrom(...ZONES), (date, zone) => {
    const instant = Temporal.Instant.from(startOfLocalDate(date, zone));
    assert.equal(instant.toZonedDateTimeISO(zone).toPlainDate().toString(), date);
    assert.equal(instant.subtract({ milliseconds: 1 }).toZonedDateTimeISO(zone).toPlainDate().toString(), addDays(date, -1));
  }), RUNS);
});

test('an anchor that is not a billing date of its day of month is refused', () => {
  assert.throws(() => billingAnchor({ kind: 'month' }, '2011-02-27', 31), /not a billing date of day 31 \(it would be 2011-02-28\)/);
  assert.doesNotThrow(() => billingAnchor({ kind: 'month' }, '2011-02-28', 31));
});
