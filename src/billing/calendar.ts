/**
 * The billing calendar (docs/billing.md): billing dates, periods, alignment, proration and the
 * split of an amount into prorated parts. Pure: no I/O, no clock — "today" is an argument.
 *
 * Dates are the account's local calendar dates, as ISO strings (`2011-03-15`), so that they
 * compare as strings, go into a PostgreSQL `date` unchanged and read the same in every zone.
 * Periods are half-open: [start, end) — a period ends on the day the next one starts.
 *
 * Billing dates are always computed from the anchor (the n-th date is anchor + n periods,
 * clamped to the month's length), never from the previous date: a billing cycle day of 31 gives
 * Jan 31, Feb 28, Mar 31, Apr 30 — chaining would drift to the 28th after February.
 *
 * The date arithmetic is done on integer day numbers (days since 1970-01-01, the civil-calendar
 * algorithm of H. Hinnant) rather than on Temporal.PlainDate objects: an invoice run computes
 * several dates per subscription and PlainDate construction costs microseconds each. The
 * property tests check every result against temporal-polyfill, which is used here for what it
 * alone can do right: local dates ↔ instants in an IANA time zone, across DST transitions.
 *
 * Money is integer minor units as bigint; a proration factor is an exact fraction of days.
 */
import { Decimal } from 'decimal.js';
import { Temporal } from 'temporal-polyfill';

// ------------------------------------------------------------------ types

/** A local calendar date of the account, `YYYY-MM-DD` (years 0001–9999). */
export type LocalDate = string;

/** The billing periods a charge can recur in (the catalog's `period`). */
export const BILLING_PERIOD_KINDS = ['days', 'week', 'month', 'quarter', 'year'] as const;
export type BillingPeriodKind = (typeof BILLING_PERIOD_KINDS)[number];

/** How often billing recurs: every `days` days, or every week, month, quarter or year. */
export type BillingCadence =
  | { kind: 'days'; days: number }
  | { kind: 'week' | 'month' | 'quarter' | 'year' };

/**
 * What every billing date of one subscription charge is computed from. `date` is billing date
 * number 0 (a date a period starts on); billing date n is `date` + n cadences (n may be
 * negative). For month, quarter and year, `dayOfMonth` (1–31) is the day the dates fall on,
 * clamped to the month's last day — so an anchor of Feb 28 with dayOfMonth 31 goes on to Mar 31.
 * For days and week it is null.
 */
export interface BillingAnchor {
  cadence: BillingCadence;
  date: LocalDate;
  dayOfMonth: number | null;
}

/** Billing period number `index` of an anchor: [start, end), `days` long. */
export interface BillingPeriod {
  index: number;
  start: LocalDate;
  end: LocalDate;
  days: number;
}

/** A piece [start, end) of one billing period, and the exact share of the period it is. */
export interface PeriodPart {
  period: BillingPeriod;
  start: LocalDate;
  end: LocalDate;
  days: number;
  factor: Fraction;
}

/** An exact non-negative fraction; a proration factor is days of the part / days of its period. */
export interface Fraction {
  numerator: number;
  denominator: number;
}

/**
 * Which dates a subscription's charge is billed on (docs/billing.md "Alignment"):
 * - `account`: month and quarter — on the account's billing cycle day;
 * - `subscription`: year, week and N days — on the subscription's own start date;
 * - `base`: an add-on — on the anchor of its base product's subscription.
 */
export type AlignmentRule = 'account' | 'subscription' | 'base';

export interface Alignment {
  rule: AlignmentRule;
  anchor: BillingAnchor;
  /** The first billing date on or after the start: where the first full period begins. */
  firstBillingDate: LocalDate;
  /** The partial period from the start to the first billing date; null when the start is a billing date. */
  stub: PeriodPart | null;
}

export class CalendarError extends RangeError {
  override name = 'CalendarError';
}

// ------------------------------------------------------------------ local dates as day numbers

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days in a month (1–12) of a year. */
export function daysInMonth(year: number, month: number): number {
  return month === 2 ? (isLeap(year) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

/** Is `value` a real calendar date `YYYY-MM-DD` of years 0001–9999? */
export function isLocalDate(value: unknown): value is LocalDate {
  if (typeof value !== 'string') return false;
  const m = ISO_DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

interface Ymd { year: number; month: number; day: number }

function parse(date: LocalDate): Ymd {
  if (!isLocalDate(date)) throw new CalendarError(`not a local date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  return { year: Number(date.slice(0, 4)), month: Number(date.slice(5, 7)), day: Number(date.slice(8, 10)) };
}

function format({ year, month, day }: Ymd): LocalDate {
  if (year < 1 || year > 9999) throw new CalendarError(`date out of range (years 0001–9999): ${year}-${month}-${day}`);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "days_from_civil"). */
function dayNumber({ year, month, day }: Ymd): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The date of a day number ("civil_from_days"). */
function fromDayNumber(n: number): Ymd {
  const z = n + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** Days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: LocalDate, to: LocalDate): number {
  return dayNumber(parse(to)) - dayNumber(parse(from));
}

/** `date` plus `days` days. */
export function addDays(date: LocalDate, days: number): LocalDate {
  return format(fromDayNumber(dayNumber(parse(date)) + days));
}

// ------------------------------------------------------------------ anchors and billing dates

function checkCadence(cadence: BillingCadence): void {
  if (!(BILLING_PERIOD_KINDS as readonly string[]).includes(cadence.kind)) throw new CalendarError(`unknown billing period ${JSON.stringify(cadence.kind)}`);
  if (cadence.kind === 'days' && !(Number.isInteger(cadence.days) && cadence.days >= 1 && cadence.days <= 3660)) {
    throw new CalendarError(`a period of N days needs 1 ≤ N ≤ 3660; got ${cadence.days}`);
  }
}

function isMonthBased(cadence: BillingCadence): boolean {
  return cadence.kind === 'month' || cadence.kind === 'quarter' || cadence.kind === 'year';
}

const MONTHS_PER_PERIOD = { month: 1, quarter: 3, year: 12 } as const;

/** Is `day` a billing cycle day (an integer 1–31)? */
export function isBillingCycleDay(day: unknown): day is number {
  return typeof day === 'number' && Number.isInteger(day) && day >= 1 && day <= 31;
}

/** The day of month a date of month `year-month` falls on for a billing cycle day: clamped to the month's end. */
export function clampedDay(year: number, month: number, dayOfMonth: number): number {
  return Math.min(dayOfMonth, daysInMonth(year, month));
}

/**
 * An anchor, checked: `date` must itself be a billing date of it (for month-based cadences its
 * day is `dayOfMonth` clamped to its month). `dayOfMonth` defaults to the date's day.
 */
export function billingAnchor(cadence: BillingCadence, date: LocalDate, dayOfMonth?: number | null): BillingAnchor {
  checkCadence(cadence);
  const ymd = parse(date);
  if (!isMonthBased(cadence)) return { cadence, date, dayOfMonth: null };
  const dom = dayOfMonth ?? ymd.day;
  if (!isBillingCycleDay(dom)) throw new CalendarError(`a billing day of month is an integer 1–31; got ${JSON.stringify(dom)}`);
  if (ymd.day !== clampedDay(ymd.year, ymd.month, dom)) throw new CalendarError(`${date} is not a billing date of day ${dom} (it would be ${format({ ...ymd, day: clampedDay(ymd.year, ymd.month, dom) })})`);
  return { cadence, date, dayOfMonth: dom };
}

/** Billing date number `n` of an anchor (0 = the anchor's date; negative = before it). */
export function billingDate(anchor: BillingAnchor, n: number): LocalDate {
  if (!Number.isInteger(n)) throw new CalendarError(`a period index is an integer; got ${n}`);
  const a = parse(anchor.date);
  const { cadence } = anchor;
  if (cadence.kind === 'days' || cadence.kind === 'week') {
    const step = cadence.kind === 'days' ? cadence.days : 7;
    return format(fromDayNumber(dayNumber(a) + n * step));
  }
  // From the anchor: month index + n periods, then the billing day clamped to that month.
  const monthIndex = a.year * 12 + (a.month - 1) + n * MONTHS_PER_PERIOD[cadence.kind];
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  return format({ year, month, day: clampedDay(year, month, anchor.dayOfMonth ?? a.day) });
}

/** Billing period number `n` of an anchor: [billing date n, billing date n + 1). */
export function periodAt(anchor: BillingAnchor, n: number): BillingPeriod {
  const start = billingDate(anchor, n);
  const end = billingDate(anchor, n + 1);
  return { index: n, start, end, days: daysBetween(start, end) };
}

/** The number of the billing period that holds `date` (start ≤ date < end). */
export function periodIndexOf(anchor: BillingAnchor, date: LocalDate): number {
  const a = parse(anchor.date);
  const d = parse(date);
  const { cadence } = anchor;
  if (cadence.kind === 'days' || cadence.kind === 'week') {
    const step = cadence.kind === 'days' ? cadence.days : 7;
    return Math.floor((dayNumber(d) - dayNumber(a)) / step);
  }
  // A first guess from the months between them; the clamped day can put it one period out.
  const months = (d.year - a.year) * 12 + (d.month - a.month);
  let n = Math.floor(months / MONTHS_PER_PERIOD[cadence.kind]);
  while (billingDate(anchor, n) > date) n--;
  while (billingDate(anchor, n + 1) <= date) n++;
  return n;
}

/** The billing period that holds `date`. */
export function periodContaining(anchor: BillingAnchor, date: LocalDate): BillingPeriod {
  return periodAt(anchor, periodIndexOf(anchor, date));
}

/** The first billing date on or after `date`. */
export function billingDateOnOrAfter(anchor: BillingAnchor, date: LocalDate): LocalDate {
  const period = periodContaining(anchor, date);
  return period.start === date ? date : period.end;
}

/**
 * The parts of the range [from, to) in each billing period it touches, in order: a whole period
 * is a part with factor n/n. An empty range (from = to) has no parts.
 */
export function splitByPeriods(anchor: BillingAnchor, from: LocalDate, to: LocalDate): PeriodPart[] {
  const length = daysBetween(from, to);
  if (length < 0) throw new CalendarError(`a range ends on or after its start: [${from}, ${to})`);
  const parts: PeriodPart[] = [];
  if (length === 0) return parts;
  let n = periodIndexOf(anchor, from);
  let cursor = from;
  while (cursor < to) {
    const period = periodAt(anchor, n);
    const end = period.end < to ? period.end : to;
    parts.push(partOf(period, cursor, end));
    cursor = end;
    n++;
  }
  return parts;
}

/** The part [start, end) of `period`, with its factor: its days over the period's days. */
export function partOf(period: BillingPeriod, start: LocalDate, end: LocalDate): PeriodPart {
  if (start < period.start || end > period.end || end < start) {
    throw new CalendarError(`[${start}, ${end}) is not inside the billing period [${period.start}, ${period.end})`);
  }
  const days = daysBetween(start, end);
  return { period, start, end, days, factor: { numerator: days, denominator: period.days } };
}

// ------------------------------------------------------------------ alignment

/**
 * The anchor of a subscription's charge and its stub (docs/billing.md "Alignment"):
 * month and quarter align to the account's billing cycle day (the first such date on or after
 * the start is billing date 0, so a quarter's months follow the subscription's first billing
 * date); year, week and N days align to the subscription's own start (no stub); an add-on
 * aligns to its base subscription's anchor — its own cadence, the base's date and day of month.
 * A start before the first aligned billing date gives a stub, prorated against the whole
 * period it falls in (the billing date before it to the one after it, from the anchor).
 */
export function alignSubscription(input: {
  cadence: BillingCadence;
  startDate: LocalDate;
  /** The account's billing cycle day (1–31). */
  billingCycleDay: number;
  /** An add-on: the anchor of its base product's subscription. */
  base?: BillingAnchor | null;
}): Alignment {
  const { cadence, startDate } = input;
  checkCadence(cadence);
  const start = parse(startDate);
  let rule: AlignmentRule;
  let anchor: BillingAnchor;
  if (input.base) {
    rule = 'base';
    const base = input.base;
    anchor = isMonthBased(cadence)
      ? billingAnchor(cadence, base.date, base.dayOfMonth ?? parse(base.date).day)
      : billingAnchor(cadence, base.date);
  } else if (cadence.kind === 'month' || cadence.kind === 'quarter') {
    rule = 'account';
    if (!isBillingCycleDay(input.billingCycleDay)) throw new CalendarError(`a billing cycle day is an integer 1–31; got ${JSON.stringify(input.billingCycleDay)}`);
    // Billing date 0: the cycle day of the start's month if not passed yet, else of the next month.
    const bcd = input.billingCycleDay;
    let { year, month } = start;
    if (start.day > clampedDay(year, month, bcd)) {
      month += 1;
      if (month === 13) { month = 1; year += 1; }
    }
    anchor = billingAnchor(cadence, format({ year, month, day: clampedDay(year, month, bcd) }), bcd);
  } else {
    rule = 'subscription';
    anchor = billingAnchor(cadence, startDate);
  }
  const firstBillingDate = billingDateOnOrAfter(anchor, startDate);
  const stub = firstBillingDate === startDate ? null : partOf(periodContaining(anchor, startDate), startDate, firstBillingDate);
  return { rule, anchor, firstBillingDate, stub };
}

// ------------------------------------------------------------------ money: rounding and allocation

/** numerator / denominator rounded to an integer, ties away from zero (HALF_UP). */
export function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new CalendarError('a denominator is positive');
  const quotient = numerator / denominator; // truncates towards zero
  const remainder = numerator % denominator;
  const twice = (remainder < 0n ? -remainder : remainder) * 2n;
  if (twice >= denominator) return quotient + (numerator < 0n ? -1n : 1n);
  return quotient;
}

/**
 * Splits `amountMinor` into parts by integer `weights`, so that the parts sum to the amount
 * exactly. Cumulative rounding: part i = round(A × W(≤ i) / W) − round(A × W(< i) / W), with
 * round = HALF_UP. Each part is within one minor unit of its exact share, parts of a
 * non-negative amount are never negative, and — what makes it right for billing — a part's
 * amount depends only on the weights before and up to it, never on how the rest is split.
 */
export function allocateMinor(amountMinor: bigint, weights: readonly number[]): bigint[] {
  let total = 0;
  for (const w of weights) {
    if (!Number.isSafeInteger(w) || w < 0) throw new CalendarError(`a weight is a non-negative integer; got ${w}`);
    total += w;
  }
  if (total === 0) throw new CalendarError('the weights sum to more than 0');
  const whole = BigInt(total);
  const parts: bigint[] = [];
  let cumulative = 0n;
  let allocated = 0n;
  for (const w of weights) {
    cumulative += BigInt(w);
    const upTo = roundHalfUp(amountMinor * cumulative, whole);
    parts.push(upTo - allocated);
    allocated = upTo;
  }
  return parts;
}

/**
 * The amount of a part of a billing period whose whole amount is `periodAmountMinor`: the
 * period's amount accrued up to the part's end less the amount accrued up to its start, each
 * rounded HALF_UP to the minor unit (accrued to day d = A × days(period start, d) / days(period)).
 * The parts of any split of a period therefore sum to its amount exactly (allocateMinor with
 * the parts' days as weights gives the same numbers), and the unused rest of a period credited
 * today equals what any later split of that rest will charge.
 */
export function partAmountMinor(periodAmountMinor: bigint, part: PeriodPart): bigint {
  const whole = BigInt(part.period.days);
  const before = BigInt(daysBetween(part.period.start, part.start));
  const upToEnd = BigInt(daysBetween(part.period.start, part.end));
  return roundHalfUp(periodAmountMinor * upToEnd, whole) - roundHalfUp(periodAmountMinor * before, whole);
}

const FactorDecimal = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });

/**
 * A fraction as a decimal string rounded HALF_UP to `places` (default 12) — for showing a
 * factor on an invoice line next to its exact form; amounts are never computed from it.
 */
export function fractionToDecimal(fraction: Fraction, places = 12): string {
  return new FactorDecimal(fraction.numerator).dividedBy(fraction.denominator).toFixed(places);
}

// ------------------------------------------------------------------ local dates ↔ instants

/**
 * The instant a local date begins in `timeZone`, as an ISO string in UTC with milliseconds.
 * The start of a day is its first instant, so on a day whose midnight does not exist (a DST
 * change at 00:00, e.g. America/Sao_Paulo in 2018) it is 01:00 local. A period [start, end) of
 * local dates is the instants [startOfLocalDate(start), startOfLocalDate(end)): a day of 23 or
 * 25 hours is still one day of the period.
 */
export function startOfLocalDate(date: LocalDate, timeZone: string): string {
  const key = `${timeZone} ${date}`;
  const known = dayStarts.get(key);
  if (known !== undefined) return known;
  parse(date);
  const zoned = Temporal.PlainDate.from(date).toZonedDateTime({ timeZone });
  const instant = new Date(zoned.epochMilliseconds).toISOString();
  // Remembered: a zone lookup costs ~40 µs with temporal-polyfill, and an invoice run asks for
  // the same few dates in the same few zones for every subscription. The answer never changes
  // within a process (its tz data is fixed), so the cache changes no result; it is bounded.
  if (dayStarts.size >= DAY_STARTS_KEPT) dayStarts.clear();
  dayStarts.set(key, instant);
  return instant;
}

const DAY_STARTS_KEPT = 20_000;
const dayStarts = new Map<string, string>();

/** The local date of an instant in `timeZone` (what "today" is for the account). */
export function localDateAt(instant: string | Date, timeZone: string): LocalDate {
  const epochMilliseconds = typeof instant === 'string' ? Date.parse(instant) : instant.getTime();
  if (Number.isNaN(epochMilliseconds)) throw new CalendarError(`not an instant: ${JSON.stringify(instant)}`);
  return Temporal.Instant.fromEpochMilliseconds(epochMilliseconds).toZonedDateTimeISO(timeZone).toPlainDate().toString();
}

/** A period's bounds as instants in the account's zone: [from, to). */
export function periodInstants(period: { start: LocalDate; end: LocalDate }, timeZone: string): { from: string; to: string } {
  return { from: startOfLocalDate(period.start, timeZone), to: startOfLocalDate(period.end, timeZone) };
}
