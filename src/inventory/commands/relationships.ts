/**
 * Relationships between product instances of one account, after the rules of model.ts (one
 * parent, no containment cycle, no duplicate). Changes are serialised per account by an
 * advisory lock, so two transactions cannot each add half of a cycle.
 */
import { appendToOutbox } from '../../events/index.ts';
import { isUniqueViolation } from '../../platform/db.ts';
import { ConcurrentModificationError, DuplicateRelationshipError, IllegalTransitionError, InvalidRelationshipError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { relationshipEvent } from '../events.ts';
import { checkNewRelationship, type RelationshipEdge, type RelationshipType } from '../model.ts';
import { audit, loadProduct, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { Cause, Relationship } from '../types.ts';

export async function createRelationship(
  u: Unit,
  input: Cause & { sourceProductInstanceId: string; targetProductInstanceId: string; type: RelationshipType; validFrom?: string | null },
): Promise<Relationship> {
  const source = await loadProduct(u, input.sourceProductInstanceId);
  const relationship = await addRelationship(u, {
    accountId: source.accountId,
    sourceProductInstanceId: input.sourceProductInstanceId,
    targetProductInstanceId: input.targetProductInstanceId,
    type: input.type,
    validFrom: input.validFrom ?? input.effectiveAt ?? u.now,
    orderId: input.orderId ?? null,
    orderItemId: input.orderItemId ?? null,
  });
  await audit(u, 'relationship.create', 'relationship', relationship.relationshipId, source.accountId, { type: input.type });
  return relationship;
}

export async function endRelationship(u: Unit, relationshipId: string, input: Cause & { validTo?: string | null }): Promise<Relationship> {
  const relationship = await store.findRelationship(u.tx, relationshipId);
  if (!relationship) throw NotFoundError.of('relationship', relationshipId);
  if (relationship.endedAt) throw new IllegalTransitionError('relationship', relationshipId, 'ENDED', 'end:apply', []);
  const validTo = input.validTo ?? input.effectiveAt ?? u.now;
  if (validTo < relationship.validFrom) throw ValidationError.field('/validTo', `must not be before validFrom ${relationship.validFrom}`);
  await store.lockAccountRelationships(u.tx, relationship.accountId);
  const ended = await endRelationshipNow(u, relationship, validTo, input);
  await audit(u, 'relationship.end', 'relationship', relationshipId, relationship.accountId);
  return ended;
}

// ----------------------------------------------------------------------- for the other commands

export const edgeOf = (r: Relationship): RelationshipEdge => ({ source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type });

/** Adds a relationship after the rules of model.ts, serialised per account. */
export async function addRelationship(
  u: Unit,
  r: { accountId: string; sourceProductInstanceId: string; targetProductInstanceId: string; type: RelationshipType; validFrom: string; orderId: string | null; orderItemId: string | null; alreadyLocked?: boolean },
): Promise<Relationship> {
  if (r.sourceProductInstanceId === r.targetProductInstanceId) {
    throw new InvalidRelationshipError(`a product instance cannot be related to itself (${r.type})`, { rule: 'self-link' });
  }
  for (const end of [r.sourceProductInstanceId, r.targetProductInstanceId]) {
    const product = await store.findProductInstance(u.tx, end);
    if (!product) throw NotFoundError.of('product instance', end);
    if (product.accountId !== r.accountId) {
      throw new InvalidRelationshipError(`product instance ${end} belongs to another account; relationships stay within one account`, { rule: 'cross-account' });
    }
  }
  if (!r.alreadyLocked) await store.lockAccountRelationships(u.tx, r.accountId);
  const current = await store.listCurrentRelationships(u.tx, r.accountId);
  const proposed = { source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type };
  if (current.some((c) => c.sourceProductInstanceId === proposed.source && c.targetProductInstanceId === proposed.target && c.type === proposed.type)) {
    throw new DuplicateRelationshipError(`${proposed.source} ${proposed.type} ${proposed.target} already exists`);
  }
  const problem = checkNewRelationship(current.map(edgeOf), proposed);
  if (problem?.kind === 'second-parent') {
    throw new InvalidRelationshipError(`product instance ${proposed.target} already has parent ${problem.existingParent}`, { rule: 'one-parent', existingParent: problem.existingParent });
  }
  if (problem?.kind === 'cycle') {
    throw new InvalidRelationshipError(`${proposed.source} ${proposed.type} ${proposed.target} would close a containment cycle: ${problem.path.join(' → ')}`, { rule: 'no-cycle', path: problem.path });
  }
  const relationship: Relationship = {
    relationshipId: newId(),
    accountId: r.accountId,
    sourceProductInstanceId: r.sourceProductInstanceId,
    targetProductInstanceId: r.targetProductInstanceId,
    type: r.type,
    validFrom: r.validFrom,
    validTo: null,
    createdByOrderId: r.orderId,
    createdByOrderItemId: r.orderItemId,
    createdAt: u.now,
    endedAt: null,
  };
  try {
    await store.insertRelationship(u.tx, u.ctx.tenantId, relationship);
  } catch (error) {
    if (isUniqueViolation(error)) throw new DuplicateRelationshipError(`${proposed.source} ${proposed.type} ${proposed.target} already exists`);
    throw error;
  }
  await appendToOutbox(u.tx, u.ctx.tenantId, relationshipEvent(u, 'ProductInstanceRelationshipCreated', relationship, r.orderItemId, { validFrom: r.validFrom }));
  return relationship;
}

/** Ends a current relationship (kept, with validTo and endedAt) and writes its event. The caller holds the account's relationship lock. */
export async function endRelationshipNow(u: Unit, relationship: Relationship, validTo: string, cause: Cause): Promise<Relationship> {
  const ended = await store.endRelationship(u.tx, relationship.accountId, relationship.relationshipId, { validTo, endedAt: u.now, orderItemId: cause.orderItemId ?? null });
  if (!ended) throw new ConcurrentModificationError('relationship', relationship.relationshipId, 1, null);
  await appendToOutbox(u.tx, u.ctx.tenantId, relationshipEvent(u, 'ProductInstanceRelationshipEnded', relationship, cause.orderItemId ?? null, { validTo }));
  return { ...relationship, validTo, endedAt: u.now };
}
