/**
 * The kernel's two tables: the problem types (every error class is made from its row) and the
 * transition helper every lifecycle reads its table with, checked on the catalog's version
 * lifecycle pair by pair against a table written out here. Pure: no database.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LIFECYCLE_STATUSES, VERSION_TRANSITIONS, type LifecycleStatus, type VersionCommand } from '../../src/catalog/model.ts';
import * as errors from '../../src/platform/errors.ts';
import { allowedCommands, transition } from '../../src/platform/state-machine.ts';

describe('problem types', () => {
  /** Arguments that construct each error class (most take a detail and extensions). */
  const ARGS: Record<string, unknown[]> = {
    ValidationError: ['d', []],
    ConcurrentModificationError: ['k', 'i', 1, 2],
    OperationInProgressError: ['p', { orderId: null, orderItemId: null, operationType: 'ADD' }],
    IllegalTransitionError: ['k', 'i', 's', 'c', []],
    PointOfNoReturnError: [{ taskId: 't', taskNumber: 1, step: 's', status: 'running', orderId: 'o', itemId: 'i' }],
    StaleQuoteError: ['q', []],
    DatabaseUnavailableError: ['reason'],
  };
  const classes = Object.entries(errors).filter(([name, value]) => typeof value === 'function' && name.endsWith('Error') && name !== 'ProblemError' && name !== 'ConfigError');

  test('every error class has the type, status and title of its row of the table', () => {
    assert.ok(classes.length >= 20, `found ${classes.length} error classes`);
    for (const [name, Class] of classes) {
      const error = new (Class as new (...args: unknown[]) => errors.ProblemError)(...(ARGS[name] ?? ['detail']));
      assert.ok(error instanceof errors.ProblemError, name);
      const row = errors.PROBLEM_TYPES[error.type];
      assert.ok(row, `${name}: ${error.type} is a problem type`);
      assert.equal(error.status, row.status, name);
      assert.equal(error.title, row.title, name);
    }
  });

  test('the quote errors keep their types and titles', () => {
    const stale = new errors.StaleQuoteError('q1', [{ productInstanceId: 'p1', quotedVersion: 3, currentVersion: null }]);
    assert.deepEqual([stale.type, stale.status, stale.title], ['stale-quote', 409, 'The installed base changed since the quote was made']);
    assert.equal(stale.message, 'quote q1 was made against versions that changed: p1 (quoted v3, now vgone); make a new quote');
    assert.deepEqual(stale.extensions, { quoteId: 'q1', changedInstances: [{ productInstanceId: 'p1', quotedVersion: 3, currentVersion: null }] });
    const expired = new errors.QuoteExpiredError('gone', { quoteId: 'q1' });
    assert.deepEqual([expired.type, expired.status, expired.title], ['quote-expired', 409, 'The quote has expired']);
  });
});

describe('transition tables (the catalog version lifecycle)', () => {
  /** For each state: the commands it accepts and where each leads. Everything else is refused. */
  const EXPECTED: Record<LifecycleStatus, Partial<Record<VersionCommand, LifecycleStatus>>> = {
    draft: { 'draft:replace': 'draft', 'publication:apply': 'active', 'retirement:apply': 'retired' },
    active: { 'retirement:apply': 'retired' },
    retired: {},
  };
  const COMMANDS = Object.keys(VERSION_TRANSITIONS) as VersionCommand[];

  for (const state of LIFECYCLE_STATUSES) {
    for (const command of COMMANDS) {
      const to = EXPECTED[state][command];
      test(`${state} + ${command} → ${to ?? 'refused'}`, () => {
        const allowed = COMMANDS.filter((c) => EXPECTED[state][c] !== undefined);
        assert.deepEqual(transition(VERSION_TRANSITIONS, state, command), to ? { ok: true, to } : { ok: false, allowed });
        assert.deepEqual(allowedCommands(VERSION_TRANSITIONS, state), allowed);
      });
    }
  }
});
