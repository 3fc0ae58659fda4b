/**
 * The state machines of the installed base, as an explicit table written here (not derived
 * from the table under test), checked pair by pair; the seed 000 §22.1 examples; the pure
 * relationship rules and changedKeys. Only the last describe block touches a database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PRODUCT_INSTANCE_COMMANDS,
  PRODUCT_INSTANCE_STATES,
  PRODUCT_INSTANCE_TRANSITIONS,
  SUBSCRIPTION_COMMANDS,
  SUBSCRIPTION_STATES,
  allowedProductInstanceCommands,
  allowedSubscriptionCommands,
  changedKeys,
  checkNewRelationship,
  containedChildren,
  containmentEdge,
  productInstanceTransition,
  serviceStateFor,
  subscriptionTransition,
  type ProductInstanceCommand,
  type ProductInstanceState,
  type RelationshipEdge,
  type SubscriptionCommand,
  type SubscriptionState,
} from '../../src/inventory/model.ts';
import { queryRows } from '../../src/platform/db.ts';
import { IllegalTransitionError } from '../../src/platform/errors.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, orderCause } from '../helpers/fixtures.ts';

// ------------------------------------------------------------------ the expected tables

/** For each state: the commands it accepts and the state each leads to. Everything else is illegal. */
const EXPECTED_PRODUCT: Record<ProductInstanceState, Partial<Record<ProductInstanceCommand, ProductInstanceState>>> = {
  PENDING_ACTIVATION: {
    'activation:start': 'PENDING_ACTIVATION',
    'activation:complete': 'ACTIVE',
    'activation:fail': 'ERROR',
    'activation:cancel': 'CANCELLED',
  },
  ACTIVE: {
    'modification:start': 'PENDING_MODIFICATION',
    'disconnect:start': 'PENDING_DISCONNECT',
    'suspension:apply': 'SUSPENDED',
    'move:apply': 'ACTIVE',
    'replacement:apply': 'DISCONNECTED',
  },
  PENDING_MODIFICATION: {
    'modification:complete': 'ACTIVE',
    'modification:cancel': 'ACTIVE',
    'modification:fail': 'ACTIVE',
  },
  SUSPENDED: {
    'disconnect:start': 'PENDING_DISCONNECT',
    'resumption:apply': 'ACTIVE',
    'replacement:apply': 'DISCONNECTED',
  },
  PENDING_DISCONNECT: {
    'disconnect:complete': 'DISCONNECTED',
  },
  DISCONNECTED: {},
  CANCELLED: {},
  ERROR: {
    'activation:start': 'PENDING_ACTIVATION',
    'activation:cancel': 'CANCELLED',
    'disconnect:start': 'PENDING_DISCONNECT',
  },
};

const EXPECTED_PRODUCT_COMMANDS: ProductInstanceCommand[] = [
  'activation:start', 'activation:complete', 'activation:fail', 'activation:cancel',
  'modification:start', 'modification:complete', 'modification:cancel', 'modification:fail',
  'disconnect:start', 'disconnect:complete',
  'suspension:apply', 'resumption:apply', 'move:apply', 'replacement:apply',
];

/** Commands that open an operation and keep the asset's guard; every other one ends its operation. */
const EXPECTED_HOLDING_COMMANDS: ProductInstanceCommand[] = ['activation:start', 'modification:start', 'disconnect:start'];

const EXPECTED_SUBSCRIPTION: Record<SubscriptionState, Partial<Record<SubscriptionCommand, SubscriptionState>>> = {
  PENDING: {
    'activation:apply': 'ACTIVE',
    'termination:apply': 'TERMINATED',
    'cancellation:apply': 'TERMINATED',
  },
  ACTIVE: {
    'suspension:apply': 'SUSPENDED',
    'renewal:apply': 'ACTIVE',
    'termination:apply': 'TERMINATED',
    'expiry:apply': 'EXPIRED',
  },
  SUSPENDED: {
    'resumption:apply': 'ACTIVE',
    'renewal:apply': 'SUSPENDED',
    'termination:apply': 'TERMINATED',
    'expiry:apply': 'EXPIRED',
  },
  TERMINATED: {},
  // A renewal after the end date un-expires (seed 004).
  EXPIRED: {
    'renewal:apply': 'ACTIVE',
  },
};

const EXPECTED_SUBSCRIPTION_COMMANDS: SubscriptionCommand[] = [
  'activation:apply', 'suspension:apply', 'resumption:apply', 'renewal:apply', 'termination:apply', 'expiry:apply', 'cancellation:apply',
];

const sorted = (xs: readonly string[]) => [...xs].sort();

// ------------------------------------------------------------------ product instance

describe('product instance state machine', () => {
  test('the states and commands are exactly the ones this table covers', () => {
    assert.deepEqual(sorted(PRODUCT_INSTANCE_STATES), sorted(Object.keys(EXPECTED_PRODUCT)));
    assert.deepEqual(sorted(PRODUCT_INSTANCE_COMMANDS), sorted(EXPECTED_PRODUCT_COMMANDS));
  });

  for (const state of Object.keys(EXPECTED_PRODUCT) as ProductInstanceState[]) {
    const row = EXPECTED_PRODUCT[state];
    const allowed = sorted(Object.keys(row));
    for (const command of EXPECTED_PRODUCT_COMMANDS) {
      const to = row[command];
      test(`${state} × ${command} → ${to ?? 'illegal'}`, () => {
        const result = productInstanceTransition(state, command);
        if (to !== undefined) {
          assert.deepEqual(result, { ok: true, to });
        } else {
          assert.equal(result.ok, false);
          assert.ok(!result.ok);
          assert.deepEqual(sorted(result.allowed), allowed, `an illegal ${command} in ${state} must report what ${state} accepts`);
        }
      });
    }
    test(`${state}: allowedProductInstanceCommands lists exactly ${allowed.length ? allowed.join(', ') : 'nothing'}`, () => {
      assert.deepEqual(sorted(allowedProductInstanceCommands(state)), allowed);
    });
  }

  test('only the start commands hold the operation guard; every other command releases it', () => {
    for (const command of EXPECTED_PRODUCT_COMMANDS) {
      const expected = EXPECTED_HOLDING_COMMANDS.includes(command) ? 'hold' : 'release';
      assert.equal(PRODUCT_INSTANCE_TRANSITIONS[command].guard, expected, command);
    }
  });

  test('every transition names a domain event and a history change type', () => {
    for (const command of EXPECTED_PRODUCT_COMMANDS) {
      assert.match(PRODUCT_INSTANCE_TRANSITIONS[command].event, /^ProductInstance[A-Z]\w+$/, command);
      assert.match(PRODUCT_INSTANCE_TRANSITIONS[command].changeType, /^[A-Z_]+$/, command);
    }
  });

  test('final states accept nothing', () => {
    assert.deepEqual(allowedProductInstanceCommands('DISCONNECTED'), []);
    assert.deepEqual(allowedProductInstanceCommands('CANCELLED'), []);
  });
});

describe('seed 000 §22.1 examples', () => {
  test('ACTIVE can start MODIFY', () => {
    assert.deepEqual(productInstanceTransition('ACTIVE', 'modification:start'), { ok: true, to: 'PENDING_MODIFICATION' });
  });
  test('ACTIVE can start DISCONNECT', () => {
    assert.deepEqual(productInstanceTransition('ACTIVE', 'disconnect:start'), { ok: true, to: 'PENDING_DISCONNECT' });
  });
  test('PENDING_MODIFICATION cannot start DISCONNECT', () => {
    const result = productInstanceTransition('PENDING_MODIFICATION', 'disconnect:start');
    assert.ok(!result.ok);
    assert.deepEqual(sorted(result.allowed), ['modification:cancel', 'modification:complete', 'modification:fail']);
  });
  test('DISCONNECTED cannot start MODIFY', () => {
    const result = productInstanceTransition('DISCONNECTED', 'modification:start');
    assert.ok(!result.ok);
    assert.deepEqual(result.allowed, []);
  });
  test('SUSPENDED can resume', () => {
    assert.deepEqual(productInstanceTransition('SUSPENDED', 'resumption:apply'), { ok: true, to: 'ACTIVE' });
  });
  test('SUSPENDED can disconnect', () => {
    assert.deepEqual(productInstanceTransition('SUSPENDED', 'disconnect:start'), { ok: true, to: 'PENDING_DISCONNECT' });
  });
});

// ------------------------------------------------------------------ subscription

describe('subscription state machine', () => {
  test('the states and commands are exactly the ones this table covers', () => {
    assert.deepEqual(sorted(SUBSCRIPTION_STATES), sorted(Object.keys(EXPECTED_SUBSCRIPTION)));
    assert.deepEqual(sorted(SUBSCRIPTION_COMMANDS), sorted(EXPECTED_SUBSCRIPTION_COMMANDS));
  });

  for (const state of Object.keys(EXPECTED_SUBSCRIPTION) as SubscriptionState[]) {
    const row = EXPECTED_SUBSCRIPTION[state];
    const allowed = sorted(Object.keys(row));
    for (const command of EXPECTED_SUBSCRIPTION_COMMANDS) {
      const to = row[command];
      test(`${state} × ${command} → ${to ?? 'illegal'}`, () => {
        const result = subscriptionTransition(state, command);
        if (to !== undefined) {
          assert.deepEqual(result, { ok: true, to });
        } else {
          assert.ok(!result.ok);
          assert.deepEqual(sorted(result.allowed), allowed, `an illegal ${command} in ${state} must report what ${state} accepts`);
        }
      });
    }
    test(`${state}: allowedSubscriptionCommands lists exactly ${allowed.length ? allowed.join(', ') : 'nothing'}`, () => {
      assert.deepEqual(sorted(allowedSubscriptionCommands(state)), allowed);
    });
  }

  test('renewal keeps the state it starts from (a renewal is not a product change)', () => {
    assert.deepEqual(subscriptionTransition('ACTIVE', 'renewal:apply'), { ok: true, to: 'ACTIVE' });
    assert.deepEqual(subscriptionTransition('SUSPENDED', 'renewal:apply'), { ok: true, to: 'SUSPENDED' });
    assert.deepEqual(subscriptionTransition('EXPIRED', 'renewal:apply'), { ok: true, to: 'ACTIVE' });
  });
});

describe('services follow their product', () => {
  test('serviceStateFor', () => {
    assert.equal(serviceStateFor('ACTIVE', 'PENDING'), 'ACTIVE');
    assert.equal(serviceStateFor('ACTIVE', 'SUSPENDED'), 'ACTIVE');
    assert.equal(serviceStateFor('SUSPENDED', 'ACTIVE'), 'SUSPENDED');
    assert.equal(serviceStateFor('SUSPENDED', 'PENDING'), 'PENDING');
    assert.equal(serviceStateFor('DISCONNECTED', 'ACTIVE'), 'TERMINATED');
    assert.equal(serviceStateFor('CANCELLED', 'PENDING'), 'TERMINATED');
    assert.equal(serviceStateFor('PENDING_MODIFICATION', 'ACTIVE'), 'ACTIVE');
    assert.equal(serviceStateFor('PENDING_DISCONNECT', 'SUSPENDED'), 'SUSPENDED');
    for (const state of PRODUCT_INSTANCE_STATES) assert.equal(serviceStateFor(state, 'TERMINATED'), 'TERMINATED', state);
  });
});

// ------------------------------------------------------------------ relationships

const edge = (source: string, type: RelationshipEdge['type'], target: string): RelationshipEdge => ({ source, target, type });

/** A reported cycle must be a closed walk child → parent along containment, through the proposed edge. */
function assertIsContainmentCycle(current: RelationshipEdge[], proposed: RelationshipEdge, path: string[]) {
  const all = [...current, proposed].map(containmentEdge).filter((c) => c !== null);
  assert.ok(path.length >= 2, `cycle path too short: ${path.join(' → ')}`);
  assert.equal(path[0], path[path.length - 1], `cycle path is not closed: ${path.join(' → ')}`);
  for (let i = 0; i + 1 < path.length; i++) {
    assert.ok(all.some((c) => c.child === path[i] && c.parent === path[i + 1]), `${path[i]} → ${path[i + 1]} is not a containment edge`);
  }
  const added = containmentEdge(proposed)!;
  assert.ok(path.some((n, i) => n === added.child && path[i + 1] === added.parent), 'the cycle must run through the proposed edge');
}

describe('checkNewRelationship', () => {
  test('a self link is refused, whatever the type', () => {
    for (const type of ['PARENT_OF', 'ADDON_OF', 'DEPENDS_ON', 'REPLACES'] as const) {
      assert.deepEqual(checkNewRelationship([], edge('a', type, 'a')), { kind: 'self-link' }, type);
    }
  });

  test('a second PARENT_OF parent is refused and names the existing parent', () => {
    const current = [edge('a', 'PARENT_OF', 'c')];
    assert.deepEqual(checkNewRelationship(current, edge('b', 'PARENT_OF', 'c')), { kind: 'second-parent', existingParent: 'a' });
  });

  test('a parent may have many children, and ADDON_OF is not a second parent', () => {
    const current = [edge('a', 'PARENT_OF', 'c')];
    assert.equal(checkNewRelationship(current, edge('a', 'PARENT_OF', 'd')), null);
    assert.equal(checkNewRelationship(current, edge('c', 'ADDON_OF', 'b')), null);
  });

  test('a PARENT_OF cycle is refused (two and three nodes)', () => {
    const two = [edge('a', 'PARENT_OF', 'b')];
    const back = edge('b', 'PARENT_OF', 'a');
    const r2 = checkNewRelationship(two, back);
    assert.equal(r2?.kind, 'cycle');
    assertIsContainmentCycle(two, back, (r2 as { path: string[] }).path);

    const three = [edge('a', 'PARENT_OF', 'b'), edge('b', 'PARENT_OF', 'c')];
    const close = edge('c', 'PARENT_OF', 'a');
    const r3 = checkNewRelationship(three, close);
    assert.equal(r3?.kind, 'cycle');
    const path = (r3 as { path: string[] }).path;
    assertIsContainmentCycle(three, close, path);
    assert.deepEqual(sorted([...new Set(path)]), ['a', 'b', 'c']);
  });

  test('a cycle mixing ADDON_OF and PARENT_OF is refused', () => {
    // a PARENT_OF b; c ADDON_OF b (b contains c); now "a ADDON_OF c" would make c contain a.
    const current = [edge('a', 'PARENT_OF', 'b'), edge('c', 'ADDON_OF', 'b')];
    const proposed = edge('a', 'ADDON_OF', 'c');
    const result = checkNewRelationship(current, proposed);
    assert.equal(result?.kind, 'cycle');
    assertIsContainmentCycle(current, proposed, (result as { path: string[] }).path);

    // b ADDON_OF a (a contains b); now "b PARENT_OF a" would make b contain a.
    const current2 = [edge('b', 'ADDON_OF', 'a')];
    const proposed2 = edge('b', 'PARENT_OF', 'a');
    const result2 = checkNewRelationship(current2, proposed2);
    assert.equal(result2?.kind, 'cycle');
    assertIsContainmentCycle(current2, proposed2, (result2 as { path: string[] }).path);
  });

  test('relationships outside containment never make a cycle', () => {
    const current = [edge('a', 'DEPENDS_ON', 'b'), edge('b', 'REPLACES', 'a'), edge('a', 'REQUIRES', 'b')];
    assert.equal(checkNewRelationship(current, edge('b', 'DEPENDS_ON', 'a')), null);
    assert.equal(checkNewRelationship(current, edge('a', 'REPLACES', 'b')), null);
    assert.equal(checkNewRelationship(current, edge('b', 'MIGRATED_FROM', 'a')), null);
    assert.equal(checkNewRelationship([edge('a', 'PARENT_OF', 'b')], edge('b', 'BUNDLES', 'a')), null);
  });

  test('a diamond (shared descendant through ADDON_OF) is not a cycle', () => {
    const current = [edge('a', 'PARENT_OF', 'b'), edge('a', 'PARENT_OF', 'c'), edge('d', 'ADDON_OF', 'b')];
    assert.equal(checkNewRelationship(current, edge('d', 'ADDON_OF', 'c')), null);
  });
});

describe('containedChildren', () => {
  test('children are PARENT_OF targets and ADDON_OF sources, each once, nothing else', () => {
    const current = [
      edge('x', 'PARENT_OF', 'a'),
      edge('b', 'ADDON_OF', 'x'),
      edge('a', 'ADDON_OF', 'x'),
      edge('x', 'DEPENDS_ON', 'c'),
      edge('d', 'PARENT_OF', 'x'),
      edge('x', 'ADDON_OF', 'e'),
      edge('f', 'REPLACES', 'x'),
      edge('a', 'PARENT_OF', 'g'),
    ];
    assert.deepEqual(sorted(containedChildren(current, 'x')), ['a', 'b']);
    assert.deepEqual(containedChildren(current, 'a'), ['g']);
    assert.deepEqual(containedChildren(current, 'zzz'), []);
    assert.deepEqual(containedChildren([], 'x'), []);
  });
});

describe('changedKeys', () => {
  test('reports changed, added and removed keys, sorted', () => {
    assert.deepEqual(changedKeys({ bandwidth: 100, vlan: 7, ip: 'a' }, { bandwidth: 1000, vlan: 7, sla: 'gold' }), ['bandwidth', 'ip', 'sla']);
  });
  test('equal objects have no changed keys', () => {
    assert.deepEqual(changedKeys({ a: 1, b: 'x', c: [1, 2], d: { e: true } }, { d: { e: true }, c: [1, 2], b: 'x', a: 1 }), []);
    assert.deepEqual(changedKeys({}, {}), []);
  });
  test('null and undefined sides count as empty', () => {
    assert.deepEqual(changedKeys(null, { a: 1, b: 2 }), ['a', 'b']);
    assert.deepEqual(changedKeys({ a: 1 }, undefined), ['a']);
    assert.deepEqual(changedKeys(undefined, null), []);
  });
  test('nested values are compared by value', () => {
    assert.deepEqual(changedKeys({ recurring: { amountMinor: '1', period: 'month' } }, { recurring: { amountMinor: '2', period: 'month' } }), ['recurring']);
    assert.deepEqual(changedKeys({ list: [1, 2] }, { list: [2, 1] }), ['list']);
    assert.deepEqual(changedKeys({ a: null }, { a: 0 }), ['a']);
    assert.deepEqual(changedKeys({ a: null }, {}), ['a']);
  });
  test('the key order inside a nested object does not make it "changed" (jsonb reorders keys)', () => {
    assert.deepEqual(
      changedKeys({ recurring: { period: 'month', amountMinor: '1500000000' } }, { recurring: { amountMinor: '1500000000', period: 'month' } }),
      [],
    );
  });
});

// ------------------------------------------------------------------ through the service, on a database

describe('illegal commands through the service', () => {
  let app: TestApp;
  let accountId: string;

  before(async () => {
    app = await createTestApp();
    ({ accountId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  async function tableCounts() {
    const [row] = await queryRows<{ history: number; outbox: number; guards: number; audit: number }>(app.db.pool, `
      select (select count(*)::int from product_instance_history) as history,
             (select count(*)::int from outbox_event) as outbox,
             (select count(*)::int from asset_operation_guard) as guards,
             (select count(*)::int from audit_log) as audit`);
    return row;
  }

  test('an illegal command gets IllegalTransitionError with allowedCommands and writes nothing', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    const before = await tableCounts();

    const error = await app.services.inventory.resume(app.ctx, id, { ...orderCause(), expectedVersion: product.version }).then(
      () => assert.fail('resume of an ACTIVE instance must be refused'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof IllegalTransitionError, String(error));
    assert.equal(error.type, 'illegal-transition');
    assert.equal(error.extensions.state, 'ACTIVE');
    assert.equal(error.extensions.command, 'resumption:apply');
    assert.deepEqual(sorted(error.extensions.allowedCommands as string[]), sorted(Object.keys(EXPECTED_PRODUCT.ACTIVE)));

    await assert.rejects(
      app.services.inventory.completeModification(app.ctx, id, { ...orderCause(), expectedVersion: product.version }),
      (e: unknown) => e instanceof IllegalTransitionError && (e.extensions.allowedCommands as string[]).includes('modification:start'),
    );

    assert.deepEqual(await tableCounts(), before);
    const [row] = await queryRows<{ status: string; version: number }>(app.db.pool, 'select status, version from product_instance where product_instance_id = $1', [id]);
    assert.deepEqual(row, { status: 'ACTIVE', version: product.version });
  });

  test('a DISCONNECTED instance refuses MODIFY, and reports that it accepts nothing', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const id = product.productInstanceId;
    const cause = orderCause();
    app.clock.advance(60_000);
    await app.services.inventory.startDisconnect(app.ctx, id, { ...cause, expectedVersion: 3 });
    await app.services.inventory.completeDisconnect(app.ctx, id, { ...cause, expectedVersion: 4 });
    const before = await tableCounts();
    await assert.rejects(
      app.services.inventory.startModification(app.ctx, id, { ...orderCause(), expectedVersion: 5 }),
      (e: unknown) => e instanceof IllegalTransitionError && e.extensions.state === 'DISCONNECTED' && (e.extensions.allowedCommands as string[]).length === 0,
    );
    assert.deepEqual(await tableCounts(), before);
  });
});
