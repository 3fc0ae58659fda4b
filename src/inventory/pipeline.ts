/**
 * The one command pipeline of the installed base (seed 000 §16). Every command runs its steps
 * in this order, in one transaction:
 *
 *   1 load → 2 expected version → 3 state transition → 4 operation guard → 5 mutate →
 *   6 persist with optimistic lock → 7 history row → 8 outbox event (→ audit)
 *
 * transitionProduct and transitionSubscription are the whole pipeline. A change that keeps the
 * state (a scheduled disconnect) revises a version instead; services and resources follow
 * their product through writeVersion, steps 6–8 for any entity.
 */
import { recordAudit } from '../platform/audit.ts';
import type { OutboxEvent } from '../events/index.ts';
import type { Tx } from '../platform/db.ts';
import type { JobScheduler } from '../platform/scheduler.ts';
import { ConcurrentModificationError, IllegalTransitionError, NotFoundError, OperationInProgressError, ValidationError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import { productEvent, subscriptionEvent } from './events.ts';
import {
  PRODUCT_INSTANCE_TRANSITIONS,
  SUBSCRIPTION_TRANSITIONS,
  changedKeys,
  productInstanceTransition,
  subscriptionTransition,
  type ProductInstanceCommand,
  type SubscriptionCommand,
} from './model.ts';
import * as store from './store/index.ts';
import type { Cause, CommandContext, EntityKind, Guard, JsonObject, ProductInstance, ResourceInstance, ServiceInstance, Subscription } from './types.ts';

/** One transaction's working set: who, when, and where to write. */
export interface Unit {
  tx: Tx;
  ctx: CommandContext;
  now: string;
  /** Where date-driven jobs are scheduled, in `tx` (the subscription's dates: commands/subscription-dates.ts). */
  jobs: JobScheduler;
}

/** The cause of a change, with the correlation id of the caller's flow (an order's) when it has one. */
export type CorrelatedCause = Cause & { correlationId?: string | null };

/** What a command on a versioned entity is given: the version it read, and why it changes it. */
export interface TransitionInput extends CorrelatedCause {
  expectedVersion: number;
  operationType?: string;
}

/** The correlation id a change is recorded under: the caller's flow, else the request's. */
export function correlationOf(u: Unit, cause: CorrelatedCause): string | null {
  return cause.correlationId ?? u.ctx.correlationId;
}

/** The operation a command belongs to, as named on guards and in changeSummary. */
const OPERATION_OF: Record<string, string> = {
  activation: 'ADD',
  modification: 'MODIFY',
  disconnect: 'DISCONNECT',
  suspension: 'SUSPEND',
  resumption: 'RESUME',
  move: 'MOVE',
  replacement: 'REPLACE',
};
const operationOf = (command: ProductInstanceCommand) => OPERATION_OF[command.split(':')[0]];

// ----------------------------------------------------------------------- 1 load, 2 expected version

export async function loadProduct(u: Unit, id: string): Promise<ProductInstance> {
  const product = await store.findProductInstance(u.tx, id);
  if (!product) throw NotFoundError.of('product instance', id);
  return product;
}

/** A product instance and the guard of its active operation (null: none), read together. */
export interface ProductWithGuard {
  product: ProductInstance;
  activeGuard: Guard | null;
}

/**
 * loadProduct with the product's active guard, read in the same statement: for a command that
 * takes the guard (underGuard's `seenHolder`), which then needs no statement of its own when
 * the cause's order item holds it already (an order's fulfillment attaching what it set up).
 */
export async function loadProductWithGuard(u: Unit, id: string): Promise<ProductWithGuard> {
  const loaded = await store.findProductInstanceWithGuard(u.tx, id);
  if (!loaded) throw NotFoundError.of('product instance', id);
  return loaded;
}

export async function loadSubscription(u: Unit, id: string): Promise<Subscription> {
  const subscription = await store.findSubscription(u.tx, id);
  if (!subscription) throw NotFoundError.of('subscription', id);
  return subscription;
}

export function checkExpectedVersion(kind: string, id: string, current: number, expected: number): void {
  if (current !== expected) throw new ConcurrentModificationError(kind, id, expected, current);
}

// ----------------------------------------------------------------------- 4 the operation guard

/**
 * Takes the asset's operation guard for this order item, or reuses the one it already
 * holds. Another holder means `operation-in-progress`: the guard is never taken over.
 */
export async function acquireGuard(u: Unit, product: ProductInstance, cause: Cause, operationType: string, seenHolder?: Guard | null): Promise<Guard & { reused: boolean }> {
  const orderItemId = cause.orderItemId ?? null;
  // When the caller already read the active guard with the product (same snapshot), decide
  // from it: reuse it, or refuse; a guard that was held when we read is a valid refusal.
  if (seenHolder) {
    if (orderItemId !== null && seenHolder.orderItemId === orderItemId) return { ...seenHolder, reused: true };
    throw new OperationInProgressError(product.productInstanceId, seenHolder);
  }
  // Two tries: the holder seen by the first may have been released before we looked.
  for (let attempt = 0; attempt < 2; attempt++) {
    const inserted = await store.tryInsertGuard(u.tx, u.ctx.tenantId, {
      guardId: newId(),
      accountId: product.accountId,
      productInstanceId: product.productInstanceId,
      orderId: cause.orderId ?? null,
      orderItemId,
      operationType,
      status: 'ACTIVE',
      acquiredAt: u.now,
      releasedAt: null,
    }, u.ctx.correlationId);
    if (inserted) return { ...inserted, reused: false };
    const holder = await store.findActiveGuard(u.tx, product.accountId, product.productInstanceId);
    if (!holder) continue;
    if (orderItemId !== null && holder.orderItemId === orderItemId) return { ...holder, reused: true };
    throw new OperationInProgressError(product.productInstanceId, holder);
  }
  throw new ConcurrentModificationError('product instance', product.productInstanceId, product.version, null);
}

/**
 * A one-command operation on the product's services or resources, under the product's guard.
 * A guard taken only for this command is released with it; a guard the order item already
 * held stays with the order, which releases it when its operation ends.
 */
export async function underGuard<T>(u: Unit, product: ProductInstance, cause: Cause, operationType: string, work: () => Promise<T>, seenHolder?: Guard | null): Promise<T> {
  const guard = await acquireGuard(u, product, cause, operationType, seenHolder);
  const result = await work();
  if (!guard.reused) await store.releaseGuard(u.tx, guard.accountId, guard.guardId, u.now);
  return result;
}

// ----------------------------------------------------------------------- the whole pipeline

/** The generic product-instance transition, every step of seed 000 §16 in order. */
export async function transitionProduct(
  u: Unit,
  id: string,
  command: ProductInstanceCommand,
  input: TransitionInput,
  mutate: (next: ProductInstance) => void,
  summaryExtra: Record<string, unknown> = {},
  /** The product and its guard as this transaction read them, by a command that wrote neither since: not read again. */
  read?: ProductWithGuard,
): Promise<ProductInstance> {
  const transition = PRODUCT_INSTANCE_TRANSITIONS[command];
  // 1. load (with the active guard, read for step 4)
  const loaded = read ?? await store.findProductInstanceWithGuard(u.tx, id);
  if (!loaded) throw NotFoundError.of('product instance', id);
  const current = loaded.product;
  // 2. expected version
  checkExpectedVersion('product instance', id, current.version, input.expectedVersion);
  // 3. state
  const verdict = productInstanceTransition(current.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('product instance', id, current.status, command, verdict.allowed);
  // An operation that spans two commands is owned by an order item: without one, nothing
  // could ever end it and release the guard.
  if (transition.guard === 'hold' && !input.orderItemId) {
    throw ValidationError.field('/orderItemId', `${command} starts an operation that an order item must own; give orderId and orderItemId`);
  }
  // 4. guard
  const guard = await acquireGuard(u, current, input, input.operationType ?? operationOf(command), loaded.activeGuard);
  // 5. mutate
  const next = nextProductVersion(u, current, mutate);
  next.status = verdict.to;
  // 6. optimistic persist, 7. history, 8. outbox — and, when the operation ends here, release
  // its guard (whether just taken or held since the start) in the same statement.
  await writeVersion(u, 'product_instance', current, next, {
    changeType: transition.changeType,
    cause: input,
    effectiveAt: input.effectiveAt ?? u.now,
    event: productEvent(u, transition.event, current, next, input, {
      operation: input.operationType ?? operationOf(command),
      command,
      previousStatus: current.status,
      ...summaryExtra,
    }),
    releaseGuardId: transition.guard === 'release' ? guard.guardId : null,
    // Who did it: every product-instance transition, cascaded ones included, is audited.
    audit: { action: `product-instance.${command.replace(':', '.')}`, details: summaryExtra },
  });
  return next;
}

/**
 * A new version of a product instance that keeps its state (a scheduled change, not a state
 * transition): steps 5–8. The caller has done 1–4 and holds the guard.
 */
export async function reviseProduct(u: Unit, current: ProductInstance, changeType: string, eventType: string, cause: CorrelatedCause, mutate: (next: ProductInstance) => void, summaryExtra: Record<string, unknown>): Promise<ProductInstance> {
  const next = nextProductVersion(u, current, mutate);
  await writeVersion(u, 'product_instance', current, next, {
    changeType,
    cause,
    effectiveAt: u.now,
    event: productEvent(u, eventType, current, next, cause, { operation: 'DISCONNECT', previousStatus: current.status, ...summaryExtra }),
    audit: { action: `product-instance.${changeType.toLowerCase().replace(/_/g, '-')}`, details: summaryExtra },
  });
  return next;
}

/**
 * Step 5 for a product instance. A shallow copy: mutate functions replace fields and never
 * edit nested values in place, so `current` stays the exact before-state, and an untouched
 * snapshot is the same object (which is how updateProductInstance sees it is unchanged).
 */
function nextProductVersion(u: Unit, current: ProductInstance, mutate: (next: ProductInstance) => void): ProductInstance {
  const next: ProductInstance = { ...current };
  mutate(next);
  next.version = current.version + 1;
  next.updatedAt = u.now;
  return next;
}

/** The subscription's transition: steps 2, 3 and 5–8 (the caller loaded it; subscriptions have no guard). */
export async function transitionSubscription(
  u: Unit,
  current: Subscription,
  command: SubscriptionCommand,
  expectedVersion: number,
  cause: CorrelatedCause,
  mutate: (next: Subscription) => void,
): Promise<Subscription> {
  const transition = SUBSCRIPTION_TRANSITIONS[command];
  checkExpectedVersion('subscription', current.subscriptionId, current.version, expectedVersion);
  const verdict = subscriptionTransition(current.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('subscription', current.subscriptionId, current.status, command, verdict.allowed);
  return writeSubscriptionVersion(u, current, (next) => {
    mutate(next);
    next.status = verdict.to;
  }, transition.changeType, transition.event, cause, cause.effectiveAt ?? u.now, {
    operation: command.split(':')[0].toUpperCase(),
    previousStatus: current.status,
  });
}

/** A new version of a subscription that keeps its state (a scheduled end, or its withdrawal). */
export function reviseSubscription(u: Unit, current: Subscription, changeType: string, eventType: string, cause: CorrelatedCause, mutate: (next: Subscription) => void, summary: Record<string, unknown>): Promise<Subscription> {
  return writeSubscriptionVersion(u, current, mutate, changeType, eventType, cause, u.now, summary);
}

/** Steps 5–8 for a subscription; its event names the fields the version changed. */
async function writeSubscriptionVersion(u: Unit, current: Subscription, mutate: (next: Subscription) => void, changeType: string, eventType: string, cause: CorrelatedCause, effectiveAt: string, summary: Record<string, unknown>): Promise<Subscription> {
  const next: Subscription = structuredClone(current);
  mutate(next);
  next.version = current.version + 1;
  next.updatedAt = u.now;
  const changedFields = changedKeys(current as unknown as JsonObject, next as unknown as JsonObject).filter((k) => k !== 'version' && k !== 'updatedAt');
  await writeVersion(u, 'subscription', current, next, {
    changeType,
    cause,
    effectiveAt,
    event: subscriptionEvent(u, eventType, current, next, cause, { ...summary, changedFields }),
  });
  return next;
}

// ----------------------------------------------------------------------- 6–8 for any entity

interface Entities {
  product_instance: ProductInstance;
  subscription: Subscription;
  service_instance: ServiceInstance;
  resource_instance: ResourceInstance;
}

interface Table<T> {
  /** As errors name it. */
  noun: string;
  idOf(entity: T): string;
  insert(tx: Tx, tenantId: string, entity: T): Promise<void>;
  /** The optimistic update of the entity's row from `before` (store's `…Update` statements). */
  update(entity: T, expectedVersion: number, before: T): store.Statement;
}

const TABLES: { [K in EntityKind]: Table<Entities[K]> } = {
  product_instance: { noun: 'product instance', idOf: (p) => p.productInstanceId, insert: store.insertProductInstance, update: store.productInstanceUpdate },
  subscription: { noun: 'subscription', idOf: (s) => s.subscriptionId, insert: store.insertSubscription, update: store.subscriptionUpdate },
  service_instance: { noun: 'service instance', idOf: (s) => s.serviceInstanceId, insert: store.insertServiceInstance, update: store.serviceInstanceUpdate },
  resource_instance: { noun: 'resource instance', idOf: (r) => r.resourceInstanceId, insert: store.insertResourceInstance, update: store.resourceInstanceUpdate },
};

/** What a version records besides its row. */
export interface VersionRecord {
  /** change_type of the history row. */
  changeType: string;
  cause: CorrelatedCause;
  /** When the version holds in the business (the history row's effective_at). */
  effectiveAt: string;
  event: OutboxEvent;
  /** The guard of the operation this version ends, released in the same statement. */
  releaseGuardId?: string | null;
  /** The command's audit row, written in the same statement. */
  audit?: { action: string; details: Record<string, unknown> };
}

/**
 * Steps 6–8 for a version of any entity: its row — inserted when there is no `before`, else
 * written only while still at before's version (0 rows is a conflict, never an overwrite) —
 * then its history row and outbox event, with the guard release and audit row the version
 * carries, in one statement (decision 0007).
 */
export async function writeVersion<K extends EntityKind>(u: Unit, kind: K, before: Entities[K] | null, after: Entities[K], record: VersionRecord): Promise<void> {
  const table: Table<Entities[K]> = TABLES[kind];
  const history: store.HistoryInsert = {
    historyId: newId(),
    accountId: after.accountId,
    entityId: table.idOf(after),
    version: after.version,
    changeType: record.changeType,
    orderId: record.cause.orderId ?? null,
    orderItemId: record.cause.orderItemId ?? null,
    beforeState: before as unknown as JsonObject | null,
    afterState: after as unknown as JsonObject,
    recordedAt: u.now,
    effectiveAt: record.effectiveAt,
    actorApiKeyId: u.ctx.actor?.apiKeyId ?? null,
    correlationId: correlationOf(u, record.cause),
  };
  const side: store.VersionSideEffects = {
    releaseGuardId: record.releaseGuardId ?? null,
    audit: record.audit ? { ...record.audit, targetType: kind, actorRole: u.ctx.actor?.role ?? null } : null,
  };
  if (before === null) {
    await table.insert(u.tx, u.ctx.tenantId, after);
    await store.insertHistoryWithEvent(u.tx, u.ctx.tenantId, kind, history, record.event, side);
  } else if (!(await store.updateWithHistoryAndEvent(u.tx, u.ctx.tenantId, kind, table.update(after, before.version, before), history, record.event, side))) {
    throw new ConcurrentModificationError(table.noun, table.idOf(after), before.version, null);
  }
}

// ----------------------------------------------------------------------- audit

/** The audit row of a command whose versions did not carry it (it creates or releases, or ends a relationship). */
export async function audit(u: Unit, action: string, targetType: string, targetId: string, accountId: string, details: Record<string, unknown> = {}): Promise<void> {
  await recordAudit(u.tx, u.ctx.tenantId, u.ctx.actor, u.ctx.correlationId, u.now, { action, targetType, targetId, subjectAccountId: accountId, details });
}
