/**
 * Configuration validation against a product specification: every value type, enums, bounds,
 * cardinality, fixed characteristics, unknown names and defaults. Errors name the
 * characteristic (`/configuration/<name>`) and what it accepts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProductSpecificationBody } from '../../src/catalog/model.ts';
import { ValidationError } from '../../src/platform/errors.ts';
import { validateConfiguration } from '../../src/pricing/configuration.ts';
import { characteristic, fiberSpec } from './fixtures.ts';

function spec(...characteristics: ProductSpecificationBody['characteristics']): ProductSpecificationBody {
  return { code: 'test-product', name: 'Test product', characteristics, serviceSpecifications: [] };
}

/** Runs the validation and returns its field errors (fails when it passes). */
function errorsOf(s: ProductSpecificationBody | null, configuration: Record<string, unknown>) {
  try {
    validateConfiguration(s, configuration);
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
    assert.equal(error.type, 'validation-error');
    return error.errors;
  }
  assert.fail(`configuration ${JSON.stringify(configuration)} was accepted`);
}

function oneError(s: ProductSpecificationBody | null, configuration: Record<string, unknown>) {
  const errors = errorsOf(s, configuration);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  return errors[0];
}

describe('defaults and fixed characteristics', () => {
  test('an empty configuration gets every default, in characteristic order', () => {
    assert.deepEqual(validateConfiguration(fiberSpec, {}), { bandwidthMbps: '100', staticIps: 0, rentRouter: true, technology: 'gpon' });
  });

  test('given values are kept and normalized; optional characteristics without default stay absent', () => {
    const result = validateConfiguration(fiberSpec, { bandwidthMbps: 300, staticIps: 2, rentRouter: false, installNotes: 'Gate code 4411' });
    assert.deepEqual(result, { bandwidthMbps: '300', staticIps: 2, rentRouter: false, technology: 'gpon', installNotes: 'Gate code 4411' });
    assert.equal('installNotes' in validateConfiguration(fiberSpec, {}), false);
  });

  test('normalizing is idempotent: a normalized configuration validates to itself', () => {
    const once = validateConfiguration(fiberSpec, { bandwidthMbps: 1000, staticIps: 4 });
    assert.deepEqual(validateConfiguration(fiberSpec, once), once);
  });

  test('null counts as not given', () => {
    assert.deepEqual(validateConfiguration(fiberSpec, { staticIps: null }).staticIps, 0);
  });

  test('a fixed characteristic is forced to its default; the same value is accepted', () => {
    assert.equal(validateConfiguration(fiberSpec, {}).technology, 'gpon');
    assert.equal(validateConfiguration(fiberSpec, { technology: 'gpon' }).technology, 'gpon');
  });

  test('a different value for a fixed characteristic is refused, naming the fixed value', () => {
    const e = oneError(fiberSpec, { technology: 'xgspon' });
    assert.equal(e.field, '/configuration/technology');
    assert.match(e.message, /fixed at "gpon"/);
  });

  test('a fixed characteristic without a default cannot be set', () => {
    const s = spec(characteristic({ name: 'region', valueType: 'string', configurable: false }));
    assert.deepEqual(validateConfiguration(s, {}), {});
    assert.match(oneError(s, { region: 'JKT' }).message, /fixed/);
  });

  test('an integer default written as a string in the catalog is normalized to a number', () => {
    const s = spec(characteristic({ name: 'vlanCount', valueType: 'integer', default: '2' }));
    assert.deepEqual(validateConfiguration(s, {}), { vlanCount: 2 });
  });
});

describe('required characteristics and unknown names', () => {
  test('minCardinality 1 without a default is required, and the error says what it accepts', () => {
    const s = spec(characteristic({ name: 'ontSerial', valueType: 'string', maxLength: 16, minCardinality: 1 }));
    const e = oneError(s, {});
    assert.equal(e.field, '/configuration/ontSerial');
    assert.equal(e.message, 'is required: must be a string of at most 16 characters');
  });

  test('an unknown characteristic is refused, listing the known ones', () => {
    const e = oneError(fiberSpec, { bandwith: 300 });
    assert.equal(e.field, '/configuration/bandwith');
    assert.match(e.message, /bandwidthMbps, staticIps, rentRouter, technology, installNotes/);
  });

  test('without a specification no characteristic is known; an empty configuration is fine', () => {
    assert.deepEqual(validateConfiguration(null, {}), {});
    const e = oneError(null, { color: 'red' });
    assert.equal(e.field, '/configuration/color');
    assert.match(e.message, /no configurable characteristics/);
  });

  test('every problem is reported at once', () => {
    const errors = errorsOf(fiberSpec, { bandwidthMbps: 200, staticIps: 9, rentRouter: 'yes', extra: 1 });
    assert.deepEqual(errors.map((e) => e.field).sort(), ['/configuration/bandwidthMbps', '/configuration/extra', '/configuration/rentRouter', '/configuration/staticIps']);
  });
});

describe('value types', () => {
  test('enum: one of the values; a number is accepted by its text', () => {
    assert.equal(validateConfiguration(fiberSpec, { bandwidthMbps: '1000' }).bandwidthMbps, '1000');
    assert.equal(validateConfiguration(fiberSpec, { bandwidthMbps: 1000 }).bandwidthMbps, '1000');
    const e = oneError(fiberSpec, { bandwidthMbps: 200 });
    assert.equal(e.field, '/configuration/bandwidthMbps');
    assert.equal(e.message, 'must be one of 100, 300, 1000; got 200');
    assert.match(oneError(fiberSpec, { bandwidthMbps: true }).message, /must be one of 100, 300, 1000/);
  });

  test('integer: a JSON integer within bounds', () => {
    const s = spec(characteristic({ name: 'vlans', valueType: 'integer', min: '1', max: '64' }));
    assert.deepEqual(validateConfiguration(s, { vlans: 64 }), { vlans: 64 });
    assert.deepEqual(validateConfiguration(s, { vlans: 1 }), { vlans: 1 });
    for (const bad of [0, 65, 2.5, '8', Number.NaN, true]) {
      const e = oneError(s, { vlans: bad });
      assert.equal(e.field, '/configuration/vlans');
      assert.match(e.message, /^must be an integer between 1 and 64/);
    }
  });

  test('integer bounds, one sided', () => {
    assert.match(oneError(spec(characteristic({ name: 'n', valueType: 'integer', min: '2' })), { n: 1 }).message, /must be an integer of at least 2/);
    assert.match(oneError(spec(characteristic({ name: 'n', valueType: 'integer', max: '5' })), { n: 6 }).message, /must be an integer of at most 5/);
    assert.match(oneError(spec(characteristic({ name: 'n', valueType: 'integer' })), { n: 'x' }).message, /must be an integer/);
  });

  test('decimal: a number or a decimal string, normalized to a canonical string', () => {
    const s = spec(characteristic({ name: 'contentionRatio', valueType: 'decimal', min: '0.5', max: '20' }));
    assert.deepEqual(validateConfiguration(s, { contentionRatio: 1.5 }), { contentionRatio: '1.5' });
    assert.deepEqual(validateConfiguration(s, { contentionRatio: '8.250' }), { contentionRatio: '8.25' });
    assert.deepEqual(validateConfiguration(s, { contentionRatio: '20' }), { contentionRatio: '20' });
    for (const bad of ['0.4', 21, '1e3', 'abc', ' 2', false]) {
      const e = oneError(s, { contentionRatio: bad });
      assert.match(e.message, /^must be a decimal number between 0.5 and 20/, `value ${JSON.stringify(bad)}`);
    }
  });

  test('boolean: true or false only', () => {
    assert.equal(validateConfiguration(fiberSpec, { rentRouter: false }).rentRouter, false);
    for (const bad of ['true', 1, 0]) assert.match(oneError(fiberSpec, { rentRouter: bad }).message, /^must be true or false/);
  });

  test('string: a string within maxLength (counted in characters)', () => {
    assert.equal(validateConfiguration(fiberSpec, { installNotes: 'x'.repeat(40) }).installNotes, 'x'.repeat(40));
    assert.equal(validateConfiguration(fiberSpec, { installNotes: '🏠'.repeat(40) }).installNotes, '🏠'.repeat(40));
    const e = oneError(fiberSpec, { installNotes: 'x'.repeat(41) });
    assert.equal(e.field, '/configuration/installNotes');
    assert.match(e.message, /must be a string of at most 40 characters/);
    assert.match(oneError(fiberSpec, { installNotes: 42 }).message, /must be a string/);
  });
});

describe('cardinality', () => {
  const channels = characteristic({ name: 'tvPackages', valueType: 'enum', values: ['sports', 'kids', 'news', 'movies'], minCardinality: 1, maxCardinality: 3 });

  test('maxCardinality > 1: a list of 1..max distinct values, each checked', () => {
    assert.deepEqual(validateConfiguration(spec(channels), { tvPackages: ['sports', 'kids'] }), { tvPackages: ['sports', 'kids'] });
    assert.deepEqual(validateConfiguration(spec(channels), { tvPackages: ['news'] }), { tvPackages: ['news'] });
  });

  test('too many, too few, a single value instead of a list, a repeated value, a wrong element', () => {
    const s = spec(channels);
    assert.match(oneError(s, { tvPackages: ['sports', 'kids', 'news', 'movies'] }).message, /list of 1 to 3 distinct values, each of which must be one of sports, kids, news, movies; got 4 values/);
    assert.match(oneError(s, { tvPackages: [] }).message, /got 0 values/);
    assert.match(oneError(s, { tvPackages: 'sports' }).message, /got a single value/);
    assert.match(oneError(s, { tvPackages: ['kids', 'kids'] }).message, /repeats "kids"/);
    const e = oneError(s, { tvPackages: ['kids', 'adult'] });
    assert.equal(e.field, '/configuration/tvPackages');
    assert.equal(e.message, 'value 1 must be one of sports, kids, news, movies; got "adult"');
  });

  test('required list (minCardinality 2)', () => {
    const s = spec(characteristic({ name: 'dnsServers', valueType: 'string', maxLength: 45, minCardinality: 2, maxCardinality: 4 }));
    assert.match(oneError(s, {}).message, /^is required: must be a list of 2 to 4 distinct values/);
    assert.match(oneError(s, { dnsServers: ['1.1.1.1'] }).message, /got 1 value$/);
  });

  test('a single-valued characteristic refuses a list', () => {
    assert.match(oneError(fiberSpec, { staticIps: [1, 2] }).message, /single value, not a list/);
  });

  test('a multi-valued default becomes a list of one', () => {
    const s = spec({ ...channels, default: 'news' });
    assert.deepEqual(validateConfiguration(s, {}), { tvPackages: ['news'] });
  });
});
