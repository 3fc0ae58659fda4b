/**
 * Decimal arithmetic for prices (ARCHITECTURE rule 9): amounts are integer minor units carried
 * as strings, rates and percentages are decimal strings, and every rounding names its mode.
 * No JavaScript number ever holds money here: inputs are parsed straight into decimal.js.
 */
import { Decimal } from 'decimal.js';
import type { RoundingMode } from '../catalog/index.ts';

/** A private Decimal class: wide precision, so products of 18-digit amounts stay exact. */
export const Dec = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -100, toExpPos: 100 });
export type Dec = Decimal;

const MODES: Record<RoundingMode, Decimal.Rounding> = {
  // decimal.js HALF_UP rounds ties away from zero; DOWN truncates towards zero.
  HALF_UP: Decimal.ROUND_HALF_UP,
  HALF_EVEN: Decimal.ROUND_HALF_EVEN,
  DOWN: Decimal.ROUND_DOWN,
};

const DECIMAL = /^-?(0|[1-9][0-9]*|[0-9]+)(\.[0-9]+)?$/;

/** True when `value` is a plain decimal string ("12", "-3", "1.50"); no exponents, no spaces. */
export function isDecimalString(value: string): boolean {
  return DECIMAL.test(value);
}

/** Parses a decimal string (or a finite JS number that came from JSON) into a Decimal. */
export function dec(value: string | number | Dec): Dec {
  if (value instanceof Dec) return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
    return new Dec(value);
  }
  if (!isDecimalString(value)) throw new RangeError(`not a decimal string: ${JSON.stringify(value)}`);
  return new Dec(value);
}

/**
 * Rounds to whole minor units with the given mode. The three modes are symmetric around zero
 * (HALF_UP: ties away from zero, HALF_EVEN: ties to even, DOWN: towards zero), so rounding a
 * discount's magnitude and negating it gives the same result as rounding the signed amount.
 */
export function roundMinor(value: Dec, mode: RoundingMode): Dec {
  return value.toDecimalPlaces(0, MODES[mode]);
}

/** Whole minor units as a string of digits ("-" for negatives, never "-0", never an exponent). */
export function formatMinor(value: Dec): string {
  if (!value.isInteger()) throw new RangeError(`not a whole number of minor units: ${value.toFixed()}`);
  return value.isZero() ? '0' : value.toFixed(0);
}

/** Canonical decimal string without exponent ("1.50" → "1.5", 1e21 → "1000000000000000000000"). */
export function formatDecimal(value: Dec): string {
  return value.isZero() ? '0' : value.toFixed();
}

/** `percent` % of `amount`, exact (not rounded). */
export function percentOf(amount: Dec, percent: string | Dec): Dec {
  return amount.times(dec(percent)).dividedBy(100);
}

export function sumMinor(values: Iterable<string | Dec>): Dec {
  let total = new Dec(0);
  for (const v of values) total = total.plus(dec(v));
  return total;
}

export function minDec(a: Dec, b: Dec): Dec {
  return a.lessThanOrEqualTo(b) ? a : b;
}

export function maxDec(a: Dec, b: Dec): Dec {
  return a.greaterThanOrEqualTo(b) ? a : b;
}
