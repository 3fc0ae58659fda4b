/**
 * The catalog's document rules, as pure functions that return every problem found, each
 * named by the JSON pointer of its field (`/priceLists/0/charges/1/tiers`). The schemas of
 * model.ts check shapes; these check what a schema cannot: counts, order, uniqueness and the
 * references between documents. No I/O: the service loads the referenced versions and passes
 * them in.
 */
import { Decimal } from 'decimal.js';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { UUID_PATTERN } from '../platform/ids.ts';
import { canonicalInstant, isInstant } from '../platform/instants.ts';
import type { FieldError } from '../platform/errors.ts';
import type { Characteristic, Charge, Duration, LifecycleStatus, PriceList, ProductOfferingBody, SpecRef } from './model.ts';

// The schemas use these formats; the HTTP layer checks them with ajv, and documents given to
// the services directly (demo data, imports) are checked here with the same meaning.
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (value) => UUID_PATTERN.test(value));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isInstant);

const MAX_REPORTED = 50;

/**
 * Fills the schema's defaults into a copy of `input` and checks it against the schema, so that
 * a document reaching the service by any road is exactly what the HTTP schema would accept.
 */
export function normalizeDocument<T>(schema: TSchema, input: unknown): { document: T; errors: FieldError[] } {
  const document = Value.Default(schema, structuredClone(input)) as T;
  const errors: FieldError[] = [];
  for (const error of Value.Errors(schema, document)) {
    errors.push({ field: error.path || '/', message: error.message });
    if (errors.length >= MAX_REPORTED) break;
  }
  return { document, errors };
}

/** validFrom/validTo in the one canonical UTC form, as stored and compared. */
export function canonicalValidity<T extends { validFrom?: string; validTo?: string }>(document: T): T {
  const copy = { ...document };
  if (typeof copy.validFrom === 'string' && isInstant(copy.validFrom)) copy.validFrom = canonicalInstant(copy.validFrom);
  if (typeof copy.validTo === 'string' && isInstant(copy.validTo)) copy.validTo = canonicalInstant(copy.validTo);
  return copy;
}

export function checkValidity(document: { validFrom?: string; validTo?: string }, errors: FieldError[]): void {
  if (document.validFrom && document.validTo && Date.parse(document.validTo) <= Date.parse(document.validFrom)) {
    errors.push({ field: '/validTo', message: `must be after validFrom (${document.validFrom})` });
  }
}

// ------------------------------------------------------------------ characteristics

const NUMERIC = new Set(['integer', 'decimal']);

function isNumberLike(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(value);
}

/** Does `value` fit the characteristic's type (and its enum values and bounds)? null = yes. */
export function valueProblem(c: Characteristic, value: unknown): string | null {
  switch (c.valueType) {
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be true or false';
    case 'string':
      if (typeof value !== 'string') return 'must be a string';
      return c.maxLength !== undefined && value.length > c.maxLength ? `must be at most ${c.maxLength} characters` : null;
    case 'enum':
      return (c.values ?? []).includes(String(value)) ? null : `must be one of ${(c.values ?? []).join(', ')}`;
    case 'integer':
    case 'decimal': {
      if (!isNumberLike(value)) return 'must be a number';
      const n = new Decimal(String(value));
      if (c.valueType === 'integer' && !n.isInteger()) return 'must be a whole number';
      if (c.min !== undefined && n.lessThan(c.min)) return `must be at least ${c.min}`;
      if (c.max !== undefined && n.greaterThan(c.max)) return `must be at most ${c.max}`;
      return null;
    }
  }
}

export function checkCharacteristics(list: Characteristic[], base: string, errors: FieldError[]): void {
  const seen = new Set<string>();
  list.forEach((c, i) => {
    const at = `${base}/${i}`;
    if (seen.has(c.name)) errors.push({ field: `${at}/name`, message: `"${c.name}" is listed twice` });
    seen.add(c.name);
    if (c.valueType === 'enum' && !c.values) errors.push({ field: `${at}/values`, message: 'an enum characteristic lists its values' });
    if (c.valueType !== 'enum' && c.values) errors.push({ field: `${at}/values`, message: 'only enum characteristics have values' });
    if (c.values && new Set(c.values).size !== c.values.length) errors.push({ field: `${at}/values`, message: 'values must be distinct' });
    if (!NUMERIC.has(c.valueType) && (c.min !== undefined || c.max !== undefined)) {
      errors.push({ field: `${at}/${c.min !== undefined ? 'min' : 'max'}`, message: 'only integer and decimal characteristics have bounds' });
    }
    if (c.min !== undefined && c.max !== undefined && new Decimal(c.min).greaterThan(c.max)) {
      errors.push({ field: `${at}/min`, message: `must not exceed max (${c.max})` });
    }
    if (c.maxLength !== undefined && c.valueType !== 'string') errors.push({ field: `${at}/maxLength`, message: 'only string characteristics have a maxLength' });
    if (c.minCardinality > c.maxCardinality) errors.push({ field: `${at}/minCardinality`, message: `must not exceed maxCardinality (${c.maxCardinality})` });
    if (c.valueLabels !== undefined) {
      if (c.valueType !== 'enum') errors.push({ field: `${at}/valueLabels`, message: 'only enum characteristics have value labels' });
      else for (const value of Object.keys(c.valueLabels)) {
        if (!(c.values ?? []).includes(value)) errors.push({ field: `${at}/valueLabels/${value}`, message: `is not one of the values ${(c.values ?? []).join(', ')}` });
      }
    }
    if (!c.configurable && c.default === undefined) errors.push({ field: `${at}/default`, message: 'a fixed (not configurable) characteristic needs its default' });
    if (c.default !== undefined) {
      const problem = valueProblem(c, c.default);
      if (problem) errors.push({ field: `${at}/default`, message: problem });
    }
  });
}

export function checkDistinctRefs(refs: SpecRef[], base: string, errors: FieldError[]): void {
  const seen = new Set<string>();
  refs.forEach((ref, i) => {
    if (seen.has(ref.id)) errors.push({ field: `${base}/${i}/id`, message: `${ref.id} is listed twice` });
    seen.add(ref.id);
  });
}

// ------------------------------------------------------------------ offering document

/** The rules an offering document obeys on its own (no other document needed). */
export function checkOfferingDocument(body: ProductOfferingBody, selfId: string | null, errors: FieldError[]): void {
  checkValidity(body, errors);
  if (body.bundle) {
    if (body.productSpecification) errors.push({ field: '/productSpecification', message: 'a bundle sells its members; it has no product specification of its own' });
    checkCounts(body.bundle.members, '/bundle/members', 'bundle member', selfId, errors);
  } else if (!body.productSpecification) {
    errors.push({ field: '/productSpecification', message: 'is required (only a bundle has none)' });
  }
  checkCounts(body.addOns, '/addOns', 'add-on', selfId, errors);

  const currencies = new Set<string>();
  body.priceLists.forEach((list, i) => {
    if (currencies.has(list.currency)) errors.push({ field: `/priceLists/${i}/currency`, message: `there is already a price list in ${list.currency}` });
    currencies.add(list.currency);
    checkCharges(list.charges, `/priceLists/${i}/charges`, body, errors);
    checkPhases(list, `/priceLists/${i}`, body, errors);
  });
}

/** The charges of one price list (or of one of its phases): codes, periods, billing modes, tiers. */
function checkCharges(charges: Charge[], base: string, body: ProductOfferingBody, errors: FieldError[], where = 'price list'): void {
  const codes = new Set<string>();
  charges.forEach((charge, j) => {
    const at = `${base}/${j}`;
    if (codes.has(charge.code)) errors.push({ field: `${at}/code`, message: `charge code "${charge.code}" is used twice in this ${where}` });
    codes.add(charge.code);
    if (charge.kind === 'recurring' || charge.kind === 'rental') {
      if (charge.period === 'days' && charge.periodDays === undefined) errors.push({ field: `${at}/periodDays`, message: 'is required when period is "days"' });
      if (charge.period !== 'days' && charge.periodDays !== undefined) errors.push({ field: `${at}/periodDays`, message: 'is only for period "days"' });
    }
    // Usage is known only once the period is over; a one-time or prepaid charge is paid before.
    if (charge.kind === 'usage' && charge.billingMode === 'in_advance') errors.push({ field: `${at}/billingMode`, message: 'usage is billed in_arrear (its quantity is known only after the period)' });
    if ((charge.kind === 'one_time' || charge.kind === 'prepaid') && charge.billingMode === 'in_arrear') errors.push({ field: `${at}/billingMode`, message: `a ${charge.kind} charge is billed in_advance` });
    if (charge.kind === 'usage') {
      const problem = tierProblem(charge.tiers);
      if (problem) errors.push({ field: `${at}/tiers`, message: problem });
    }
    if (body.bundle && (charge.condition || charge.perUnitOf)) {
      errors.push({ field: `${at}/${charge.condition ? 'condition' : 'perUnitOf'}`, message: 'a bundle has no characteristics to depend on' });
    }
  });
}

/**
 * Plan phases: at most one trial, and first; discount phases after it, each with either a
 * discountPercent or charges of its own; a trial charges nothing or one-time fees only. A
 * duration in billing periods needs the list's recurring and rental charges to share one period.
 */
function checkPhases(list: PriceList, base: string, body: ProductOfferingBody, errors: FieldError[]): void {
  const phases = list.phases ?? [];
  const durations: [string, Duration][] = [];
  phases.forEach((phase, k) => {
    const at = `${base}/phases/${k}`;
    durations.push([`${at}/duration`, phase.duration]);
    if (phase.type === 'trial') {
      if (k > 0) errors.push({ field: `${at}/type`, message: phases.slice(0, k).some((p) => p.type === 'trial') ? 'a price list has at most one trial' : 'a trial is the first phase' });
      (phase.charges ?? []).forEach((charge, j) => {
        if (charge.kind !== 'one_time') errors.push({ field: `${at}/charges/${j}/kind`, message: `a trial charges nothing or a one-time fee; got ${charge.kind}` });
      });
    } else if ((phase.discountPercent === undefined) === (phase.charges === undefined)) {
      errors.push({ field: `${at}/${phase.charges ? 'charges' : 'discountPercent'}`, message: 'a discount phase gives either discountPercent (off the list\'s charges) or charges of its own: one of the two, not both' });
    }
    if (phase.charges) checkCharges(phase.charges, `${at}/charges`, body, errors, 'phase');
  });
  if (list.term?.type === 'fixed') durations.push([`${base}/term/duration`, list.term.duration]);
  if (!durations.some(([, d]) => d.unit === 'period')) return;
  const periods = new Set(list.charges.flatMap((c) => (c.kind === 'recurring' || c.kind === 'rental' ? [`${c.period}:${c.periodDays ?? ''}`] : [])));
  if (periods.size === 1) return;
  const why = periods.size === 0 ? 'the price list has no recurring or rental charge to take the period from' : 'the price list\'s recurring and rental charges have different periods';
  for (const [field, d] of durations) if (d.unit === 'period') errors.push({ field: `${field}/unit`, message: `a duration in billing periods needs one billing period: ${why}` });
}

function checkCounts(rules: { offeringId: string; minCount: number; maxCount: number }[], base: string, what: string, selfId: string | null, errors: FieldError[]): void {
  const seen = new Set<string>();
  rules.forEach((rule, i) => {
    if (rule.minCount > rule.maxCount) errors.push({ field: `${base}/${i}/minCount`, message: `must not exceed maxCount (${rule.maxCount})` });
    if (seen.has(rule.offeringId)) errors.push({ field: `${base}/${i}/offeringId`, message: `${rule.offeringId} is listed twice` });
    if (rule.offeringId === selfId) errors.push({ field: `${base}/${i}/offeringId`, message: `an offering cannot be its own ${what}` });
    seen.add(rule.offeringId);
  });
}

/** Usage tiers: ascending upper bounds, only the last one open (null). */
export function tierProblem(tiers: { upTo: string | null }[]): string | null {
  let previous = new Decimal(0);
  for (let k = 0; k < tiers.length; k++) {
    const upTo = tiers[k].upTo;
    const last = k === tiers.length - 1;
    if (upTo === null) {
      if (!last) return `tier ${k}: only the last tier may have upTo null`;
      continue;
    }
    if (last) return `tier ${k}: the last tier must have upTo null (no upper bound)`;
    if (!new Decimal(upTo).greaterThan(previous)) return `tier ${k}: upTo ${upTo} must be greater than ${k === 0 ? '0' : `the previous tier's ${previous.toString()}`}`;
    previous = new Decimal(upTo);
  }
  return null;
}

// ------------------------------------------------------------------ references

/** What the service found about one referenced id: its versions and their states. */
export interface Referenced {
  versions: Map<number, { status: LifecycleStatus; published: boolean; body: any }>;
  /** Every version retired: the id was retired as a whole. */
  retired: boolean;
  /** The body of its newest published version, else of its draft. */
  headBody: any;
  /** Its active version, if it has one. */
  active: { version: number; body: any } | null;
}

export function groupReferenced(rows: { id: string; version: number; status: LifecycleStatus; publishedAt: string | null; body: any }[]): Map<string, Referenced> {
  const byId = new Map<string, Referenced>();
  for (const row of rows) {
    let entry = byId.get(row.id);
    if (!entry) {
      entry = { versions: new Map(), retired: true, headBody: null, active: null };
      byId.set(row.id, entry);
    }
    entry.versions.set(row.version, { status: row.status, published: row.publishedAt !== null, body: row.body });
    if (row.status !== 'retired') entry.retired = false;
    if (row.status === 'active') entry.active = { version: row.version, body: row.body };
  }
  for (const entry of byId.values()) {
    const versions = [...entry.versions.entries()].sort((a, b) => b[0] - a[0]);
    entry.headBody = (versions.find(([, v]) => v.published) ?? versions[0])[1].body;
  }
  return byId;
}

/**
 * A pinned reference (id + version) to a specification. When publishing, the version must be
 * published and its specification not retired as a whole.
 */
export function checkSpecRef(field: string, ref: SpecRef, found: Map<string, Referenced>, label: string, publishing: boolean, errors: FieldError[]): void {
  const entry = found.get(ref.id);
  const version = entry?.versions.get(ref.version);
  if (!entry || !version) {
    errors.push({ field, message: entry ? `${label} ${ref.id} has no version ${ref.version}` : `${label} ${ref.id} does not exist` });
    return;
  }
  if (!publishing) return;
  if (!version.published) errors.push({ field, message: `version ${ref.version} of ${label} ${ref.id} is a draft; publish it first` });
  else if (entry.retired) errors.push({ field, message: `${label} ${ref.id} is retired` });
}

/** An add-on or bundle member: an offering (no version: whichever is sold when quoting). */
export function checkOfferingRef(field: string, offeringId: string, found: Map<string, Referenced>, what: string, publishing: boolean, errors: FieldError[]): void {
  const entry = found.get(offeringId);
  if (!entry) {
    errors.push({ field, message: `product offering ${offeringId} does not exist` });
    return;
  }
  if (publishing && !entry.active) {
    errors.push({ field, message: `product offering ${offeringId} is ${entry.retired ? 'retired' : 'not published yet'}; an ${what} must be sellable` });
    return;
  }
  const body = entry.active?.body ?? entry.headBody;
  if (body?.bundle) errors.push({ field, message: `product offering ${offeringId} is a bundle; a bundle cannot be an ${what}` });
}

/** Charge conditions and per-unit multipliers name real characteristics of the specification. */
export function checkChargeCharacteristics(body: ProductOfferingBody, characteristics: Characteristic[], errors: FieldError[]): void {
  const byName = new Map(characteristics.map((c) => [c.name, c]));
  for (const name of nameTemplatePlaceholders(body.nameTemplate ?? '')) {
    if (!byName.has(name)) errors.push({ field: '/nameTemplate', message: `{${name}} is not a characteristic of the product specification` });
  }
  const lists = body.priceLists.flatMap((list, i) => [
    { charges: list.charges, base: `/priceLists/${i}/charges` },
    ...(list.phases ?? []).map((phase, k) => ({ charges: phase.charges ?? [], base: `/priceLists/${i}/phases/${k}/charges` })),
  ]);
  lists.forEach(({ charges, base }) => {
    charges.forEach((charge, j) => {
      const at = `${base}/${j}`;
      if (charge.condition) {
        const c = byName.get(charge.condition.characteristic);
        if (!c) {
          errors.push({ field: `${at}/condition/characteristic`, message: `the product specification has no characteristic "${charge.condition.characteristic}"` });
        } else {
          const problem = valueProblem(c, charge.condition.equals);
          if (problem) errors.push({ field: `${at}/condition/equals`, message: `${c.name} ${problem}` });
        }
      }
      if (charge.perUnitOf !== undefined) {
        const c = byName.get(charge.perUnitOf);
        if (!c) errors.push({ field: `${at}/perUnitOf`, message: `the product specification has no characteristic "${charge.perUnitOf}"` });
        else if (!NUMERIC.has(c.valueType)) errors.push({ field: `${at}/perUnitOf`, message: `${c.name} is ${c.valueType}; a per-unit charge needs an integer or decimal characteristic` });
      }
    });
  });
}

/** The `{characteristic}` placeholders of an offering's nameTemplate. */
export function nameTemplatePlaceholders(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
}
