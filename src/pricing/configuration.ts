/**
 * A buyer's configuration of a product against its specification's characteristics: checked,
 * defaulted and normalized, so that pricing (charge conditions, per-unit multipliers) and
 * fulfillment see one canonical shape. Pure.
 *
 * Accepted values per type (JSON as the buyer sends it):
 *   string   a string of at most `maxLength` characters (Unicode code points)
 *   integer  a JSON integer (a safe integer number); bounds `min`/`max` inclusive
 *   decimal  a finite number or a decimal string ("1.5"); normalized to a canonical string
 *   boolean  true or false
 *   enum     one of `values`; a number is accepted when its text is one of them (300 → "300")
 * With maxCardinality > 1 the value is an array of distinct values, between max(1, minCardinality)
 * and maxCardinality of them, each checked as above. `null` counts as "not given".
 *
 * Normalization is idempotent: a normalized configuration validates to itself, so it can be
 * validated again by the engine or when repricing a stored quote.
 */
import type { Characteristic, ProductSpecificationBody } from '../catalog/index.ts';
import { ValidationError, type FieldError } from '../platform/errors.ts';
import { Dec, dec, formatDecimal, isDecimalString } from './money.ts';

type Scalar = string | number | boolean;

/** Checks and normalizes `configuration`; throws ValidationError listing every problem. */
export function validateConfiguration(spec: ProductSpecificationBody | null, configuration: Record<string, unknown>): Record<string, unknown> {
  const characteristics = spec?.characteristics ?? [];
  const errors: FieldError[] = [];
  const result: Record<string, unknown> = {};
  const byName = new Map(characteristics.map((c) => [c.name, c]));

  if (configuration === null || typeof configuration !== 'object' || Array.isArray(configuration)) {
    throw ValidationError.field('/configuration', 'must be an object of characteristic values');
  }

  for (const name of Object.keys(configuration).sort()) {
    if (byName.has(name)) continue;
    if (configuration[name] === undefined) continue;
    errors.push({
      field: `/configuration/${name}`,
      message: characteristics.length === 0
        ? `is not a characteristic: ${spec ? `product ${spec.code}` : 'this offering'} has no configurable characteristics`
        : `is not a characteristic of product ${spec!.code}; its characteristics are ${characteristics.map((c) => c.name).join(', ')}`,
    });
  }

  for (const c of characteristics) {
    const field = `/configuration/${c.name}`;
    const raw = Object.prototype.hasOwnProperty.call(configuration, c.name) ? configuration[c.name] : undefined;
    const given = raw !== undefined && raw !== null;
    const hasDefault = c.default !== undefined;

    if (!c.configurable) {
      if (!hasDefault) {
        // A fixed characteristic without a default has no value at all.
        if (given) errors.push({ field, message: `is fixed by the product and cannot be set` });
        continue;
      }
      const fixed = normalizeDefault(c);
      if (fixed === undefined) {
        errors.push({ field, message: `is fixed by the product, but its default ${JSON.stringify(c.default)} is not valid: ${describe(c)}` });
        continue;
      }
      if (given) {
        const supplied = normalizeValue(c, raw);
        if (!supplied.ok || !sameValue(supplied.value, fixed)) {
          errors.push({ field, message: `is fixed at ${show(fixed)} and cannot be changed` });
          continue;
        }
      }
      result[c.name] = fixed;
      continue;
    }

    if (!given) {
      if (hasDefault) {
        const value = normalizeDefault(c);
        if (value === undefined) errors.push({ field, message: `has an invalid default ${JSON.stringify(c.default)} in the product; ${describe(c)}` });
        else result[c.name] = value;
      } else if (c.minCardinality >= 1) {
        errors.push({ field, message: `is required: ${describe(c)}` });
      }
      continue;
    }

    const normalized = normalizeValue(c, raw);
    if (!normalized.ok) {
      errors.push({ field, message: normalized.message });
      continue;
    }
    result[c.name] = normalized.value;
  }

  if (errors.length > 0) {
    throw new ValidationError(
      `configuration is not valid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
      errors,
    );
  }
  return result;
}

/** What a characteristic accepts, in words, e.g. "must be one of 100, 300, 1000". */
export function describe(c: Characteristic): string {
  const one = describeScalar(c);
  if (c.maxCardinality <= 1) return one;
  const least = Math.max(1, c.minCardinality);
  return `must be a list of ${least === c.maxCardinality ? `${least}` : `${least} to ${c.maxCardinality}`} distinct values, each of which ${one}`;
}

function describeScalar(c: Characteristic): string {
  switch (c.valueType) {
    case 'enum':
      return `must be one of ${(c.values ?? []).join(', ') || '(no values defined)'}`;
    case 'boolean':
      return 'must be true or false';
    case 'string':
      return c.maxLength !== undefined ? `must be a string of at most ${c.maxLength} characters` : 'must be a string';
    case 'integer':
    case 'decimal': {
      const noun = c.valueType === 'integer' ? 'an integer' : 'a decimal number';
      if (c.min !== undefined && c.max !== undefined) return `must be ${noun} between ${c.min} and ${c.max}`;
      if (c.min !== undefined) return `must be ${noun} of at least ${c.min}`;
      if (c.max !== undefined) return `must be ${noun} of at most ${c.max}`;
      return `must be ${noun}`;
    }
  }
}

type Normalized = { ok: true; value: Scalar | Scalar[] } | { ok: false; message: string };

function normalizeValue(c: Characteristic, raw: unknown): Normalized {
  if (c.maxCardinality <= 1) {
    if (Array.isArray(raw)) return { ok: false, message: `must be a single value, not a list: ${describe(c)}` };
    const one = normalizeScalar(c, raw);
    return one === undefined ? { ok: false, message: `${describe(c)}; got ${show(raw)}` } : { ok: true, value: one };
  }
  if (!Array.isArray(raw)) return { ok: false, message: `${describe(c)}; got a single value ${show(raw)}` };
  const least = Math.max(1, c.minCardinality);
  if (raw.length < least || raw.length > c.maxCardinality) {
    return { ok: false, message: `${describe(c)}; got ${raw.length} value${raw.length === 1 ? '' : 's'}` };
  }
  const values: Scalar[] = [];
  for (const [i, item] of raw.entries()) {
    const one = normalizeScalar(c, item);
    if (one === undefined) return { ok: false, message: `value ${i} ${describeScalar(c)}; got ${show(item)}` };
    if (values.some((v) => sameValue(v, one))) return { ok: false, message: `value ${i} repeats ${show(one)}; ${describe(c)}` };
    values.push(one);
  }
  return { ok: true, value: values };
}

/** A catalog default: a scalar, which for a multi-valued characteristic means a list of one. */
function normalizeDefault(c: Characteristic): Scalar | Scalar[] | undefined {
  if (c.default === undefined) return undefined;
  const one = normalizeScalar(c, c.default, true);
  if (one === undefined) return undefined;
  return c.maxCardinality > 1 ? [one] : one;
}

/** The normalized scalar, or undefined when it is not acceptable. */
function normalizeScalar(c: Characteristic, raw: unknown, fromCatalog = false): Scalar | undefined {
  switch (c.valueType) {
    case 'boolean':
      return typeof raw === 'boolean' ? raw : undefined;
    case 'string':
      if (typeof raw !== 'string') return undefined;
      if (c.maxLength !== undefined && [...raw].length > c.maxLength) return undefined;
      return raw;
    case 'enum': {
      const text = typeof raw === 'string' ? raw : typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : undefined;
      return text !== undefined && (c.values ?? []).includes(text) ? text : undefined;
    }
    case 'integer': {
      let n: number | undefined;
      if (typeof raw === 'number' && Number.isSafeInteger(raw)) n = raw;
      // A catalog default of an integer may have been written as a string ("8").
      else if (fromCatalog && typeof raw === 'string' && /^-?[0-9]{1,15}$/.test(raw)) n = Number(raw);
      if (n === undefined || !withinBounds(c, new Dec(n))) return undefined;
      return n === 0 ? 0 : n; // never -0
    }
    case 'decimal': {
      let d: Dec;
      if (typeof raw === 'number' && Number.isFinite(raw)) d = new Dec(raw);
      else if (typeof raw === 'string' && isDecimalString(raw)) d = dec(raw);
      else return undefined;
      return withinBounds(c, d) ? formatDecimal(d) : undefined;
    }
  }
}

function withinBounds(c: Characteristic, value: Dec): boolean {
  if (c.min !== undefined && value.lessThan(dec(c.min))) return false;
  if (c.max !== undefined && value.greaterThan(dec(c.max))) return false;
  return true;
}

function sameValue(a: Scalar | Scalar[], b: Scalar | Scalar[]): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  return valuesEqual(a, b);
}

/**
 * Equality of characteristic values as pricing sees it (charge conditions, fixed values):
 * booleans by identity, numbers and numeric strings by decimal value ("1.50" = 1.5), other
 * strings exactly.
 */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'boolean' || typeof b === 'boolean') return a === b;
  const na = numeric(a);
  const nb = numeric(b);
  if (na && nb) return na.equals(nb);
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return false;
}

/** The numeric value of a characteristic value (number or decimal string), else null. */
export function numericValue(value: unknown): Dec | null {
  return numeric(value);
}

function numeric(value: unknown): Dec | null {
  if (typeof value === 'number' && Number.isFinite(value)) return new Dec(value);
  if (typeof value === 'string' && isDecimalString(value)) return dec(value);
  return null;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
