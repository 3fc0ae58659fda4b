/**
 * Model-based property test: random sequences of product-instance commands, from two order
 * items (and sometimes none), with stale versions mixed in, run against a real product
 * instance and against a small in-memory model (status, version, guard holder). After each
 * command the outcome class and the resulting status, version and guard must match the model;
 * after each sequence, history rows and outbox events must number exactly the version.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc, { type AsyncCommand } from 'fast-check';
import type { InventoryService } from '../../src/inventory/service.ts';
import { queryRows } from '../../src/platform/db.ts';
import { ConcurrentModificationError, IllegalTransitionError, OperationInProgressError } from '../../src/platform/errors.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createAccount, orderCause, productSnapshot } from '../helpers/fixtures.ts';

type Status = 'PENDING_ACTIVATION' | 'ACTIVE' | 'PENDING_MODIFICATION' | 'SUSPENDED' | 'PENDING_DISCONNECT' | 'DISCONNECTED' | 'CANCELLED' | 'ERROR';
type Actor = 'A' | 'B' | null;
type Outcome = 'ok' | 'illegal-transition' | 'concurrent-modification' | 'operation-in-progress';

/** The model's own idea of the lifecycle: from-states, target, and whether the command keeps the guard. */
const MODEL: Record<string, { from: Status[]; to: Status; holds: boolean }> = {
  'activation:start': { from: ['PENDING_ACTIVATION', 'ERROR'], to: 'PENDING_ACTIVATION', holds: true },
  'activation:complete': { from: ['PENDING_ACTIVATION'], to: 'ACTIVE', holds: false },
  'activation:fail': { from: ['PENDING_ACTIVATION'], to: 'ERROR', holds: false },
  'activation:cancel': { from: ['PENDING_ACTIVATION', 'ERROR'], to: 'CANCELLED', holds: false },
  'modification:start': { from: ['ACTIVE'], to: 'PENDING_MODIFICATION', holds: true },
  'modification:complete': { from: ['PENDING_MODIFICATION'], to: 'ACTIVE', holds: false },
  'modification:cancel': { from: ['PENDING_MODIFICATION'], to: 'ACTIVE', holds: false },
  'suspension:apply': { from: ['ACTIVE'], to: 'SUSPENDED', holds: false },
  'resumption:apply': { from: ['SUSPENDED'], to: 'ACTIVE', holds: false },
  'disconnect:start': { from: ['ACTIVE', 'SUSPENDED', 'ERROR'], to: 'PENDING_DISCONNECT', holds: true },
  'disconnect:complete': { from: ['PENDING_DISCONNECT'], to: 'DISCONNECTED', holds: false },
};
type Kind = keyof typeof MODEL;

interface Model {
  status: Status;
  version: number;
  guard: Actor;
}

interface Real {
  id: string;
  causes: { A: { orderId: string; orderItemId: string }; B: { orderId: string; orderItemId: string } };
}

const seen: Record<Outcome, number> = { ok: 0, 'illegal-transition': 0, 'concurrent-modification': 0, 'operation-in-progress': 0 };

function predict(m: Model, kind: Kind, actor: Actor, versionOffset: number): { outcome: Outcome; next: Model } {
  const rule = MODEL[kind];
  if (versionOffset !== 0) return { outcome: 'concurrent-modification', next: m };
  if (!rule.from.includes(m.status)) return { outcome: 'illegal-transition', next: m };
  if (m.guard !== null && m.guard !== actor) return { outcome: 'operation-in-progress', next: m };
  return { outcome: 'ok', next: { status: rule.to, version: m.version + 1, guard: rule.holds ? actor : null } };
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof ConcurrentModificationError) return 'concurrent-modification';
  if (error instanceof IllegalTransitionError) return 'illegal-transition';
  if (error instanceof OperationInProgressError) return 'operation-in-progress';
  throw error;
}

describe('model-based: random command sequences against a real product instance', () => {
  let app: TestApp;
  let inventory: InventoryService;
  let accountId: string;

  before(async () => {
    app = await createTestApp();
    inventory = app.services.inventory;
    ({ accountId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  function execute(r: Real, kind: Kind, actor: Actor, expectedVersion: number): Promise<unknown> {
    const input = { ...(actor ? r.causes[actor] : {}), expectedVersion };
    switch (kind) {
      case 'activation:start': return inventory.startActivation(app.ctx, r.id, input);
      case 'activation:complete': return inventory.completeActivation(app.ctx, r.id, input);
      case 'activation:fail': return inventory.failActivation(app.ctx, r.id, { ...input, error: { code: 'E', message: 'failed' } });
      case 'activation:cancel': return inventory.cancelActivation(app.ctx, r.id, input);
      case 'modification:start': return inventory.startModification(app.ctx, r.id, { ...input, requestedChange: { configuration: { bandwidthMbps: expectedVersion * 100 } } });
      case 'modification:complete': return inventory.completeModification(app.ctx, r.id, input);
      case 'modification:cancel': return inventory.cancelModification(app.ctx, r.id, input);
      case 'suspension:apply': return inventory.suspend(app.ctx, r.id, input);
      case 'resumption:apply': return inventory.resume(app.ctx, r.id, input);
      case 'disconnect:start': return inventory.startDisconnect(app.ctx, r.id, input);
      case 'disconnect:complete': return inventory.completeDisconnect(app.ctx, r.id, input);
    }
    throw new Error(`unknown command ${kind}`);
  }

  async function observe(r: Real): Promise<Model> {
    const [row] = await queryRows<{ status: Status; version: number; holder: string | null; active_guards: number }>(app.db.pool, `
      select p.status, p.version,
             (select g.order_item_id::text from asset_operation_guard g where g.product_instance_id = p.product_instance_id and g.status = 'ACTIVE' limit 1) as holder,
             (select count(*)::int from asset_operation_guard g where g.product_instance_id = p.product_instance_id and g.status in ('ACTIVE', 'PENDING_RELEASE')) as active_guards
        from product_instance p where p.product_instance_id = $1`, [r.id]);
    assert.ok(row.active_guards <= 1, 'never two active guards');
    const guard: Actor = row.active_guards === 0 ? null : row.holder === r.causes.A.orderItemId ? 'A' : row.holder === r.causes.B.orderItemId ? 'B' : (assert.fail(`unknown guard holder ${row.holder}`) as never);
    return { status: row.status, version: row.version, guard };
  }

  /** The commands the model accepts in a state. */
  const legalIn = (status: Status) => (Object.keys(MODEL) as Kind[]).filter((k) => MODEL[k].from.includes(status));

  /**
   * One command: either a fixed kind (often illegal in the current state) or "the n-th command
   * the model accepts now", which keeps sequences going deep into the lifecycle.
   */
  class ProductCommand implements AsyncCommand<Model, Real> {
    private ran = '';
    constructor(readonly choice: Kind | number, readonly actor: Actor, readonly versionOffset: number) {}
    check(m: Readonly<Model>): boolean {
      return typeof this.choice !== 'number' || legalIn(m.status).length > 0;
    }
    async run(m: Model, r: Real): Promise<void> {
      const kind = typeof this.choice === 'number' ? legalIn(m.status)[this.choice % legalIn(m.status).length] : this.choice;
      // Commands that open an operation always come from an order item.
      const actor = MODEL[kind].holds && this.actor === null ? 'B' : this.actor;
      const predicted = predict(m, kind, actor, this.versionOffset);
      this.ran = `${kind} by ${actor ?? 'no order item'}${this.versionOffset === 0 ? '' : ` (version ${this.versionOffset > 0 ? '+' : ''}${this.versionOffset})`}`;
      let outcome: Outcome;
      try {
        await execute(r, kind, actor, m.version + this.versionOffset);
        outcome = 'ok';
      } catch (error) {
        outcome = outcomeOf(error);
      }
      seen[outcome]++;
      assert.equal(outcome, predicted.outcome, `${this.ran} from ${JSON.stringify(m)}`);
      Object.assign(m, predicted.next);
      assert.deepEqual(await observe(r), m, `state after ${this.ran}`);
    }
    toString(): string {
      return this.ran || (typeof this.choice === 'number' ? `legal#${this.choice}` : this.choice);
    }
  }

  /** How often each fixed command is drawn: the ones that end a life (cancel, disconnect) rarely. */
  const WEIGHTS: Record<Kind, number> = {
    'activation:start': 3, 'activation:complete': 3, 'activation:fail': 1, 'activation:cancel': 1,
    'modification:start': 3, 'modification:complete': 3, 'modification:cancel': 2,
    'suspension:apply': 2, 'resumption:apply': 2, 'disconnect:start': 2, 'disconnect:complete': 1,
  };
  const fixedKind = fc.oneof(...(Object.keys(WEIGHTS) as Kind[]).map((k) => ({ arbitrary: fc.constant(k), weight: WEIGHTS[k] })));
  const actor = fc.constantFrom<Actor>('A', 'B', 'A', 'B', null);
  const versionOffset = fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.constantFrom(-1, 1), weight: 1 });
  const commandArbitraries = [
    fc.tuple(fixedKind, actor, versionOffset).map(([k, a, o]) => new ProductCommand(k, a, o)),
    fc.tuple(fc.nat(11), actor, versionOffset).map(([n, a, o]) => new ProductCommand(n, a, o)),
  ];

  test('outcome, status, version and guard follow the model; history and outbox match the version', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commandArbitraries, { maxCommands: 15, size: 'max' }), async (commands) => {
        let model: Model | null = null;
        let real: Real | null = null;
        await fc.asyncModelRun(async () => {
          const created = await inventory.createProductInstance(app.ctx, { accountId, ...productSnapshot(), ...orderCause() });
          real = { id: created.productInstance.productInstanceId, causes: { A: orderCause(), B: orderCause() } };
          model = { status: 'PENDING_ACTIVATION', version: 1, guard: null };
          return { model, real };
        }, commands);

        const m = model as unknown as Model;
        const r = real as unknown as Real;
        const [counts] = await queryRows<{ history: number; events: number; history_versions: number }>(app.db.pool, `
          select (select count(*)::int from product_instance_history where product_instance_id = $1) as history,
                 (select count(distinct version)::int from product_instance_history where product_instance_id = $1 and version between 1 and $2) as history_versions,
                 (select count(*)::int from outbox_event where aggregate_type = 'product_instance' and aggregate_id = $1) as events`, [r.id, m.version]);
        assert.equal(counts.history, m.version, 'one history row per version');
        assert.equal(counts.history_versions, m.version, 'history rows are versions 1..version');
        assert.equal(counts.events, m.version, 'one outbox event per version');
      }),
      { numRuns: 40 },
    );
    for (const outcome of Object.keys(seen) as Outcome[]) {
      assert.ok(seen[outcome] > 0, `no command ended with ${outcome}: the generator no longer explores it (${JSON.stringify(seen)})`);
    }
  });
});
