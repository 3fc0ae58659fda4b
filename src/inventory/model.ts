/**
 * The installed base as pure data: states, the commands each state accepts, and the rules
 * of relationships. No I/O here; the commands (commands/, over pipeline.ts) apply these
 * rules inside transactions.
 */
import { allowedCommands, transition } from '../platform/state-machine.ts';

export const PRODUCT_INSTANCE_STATES = [
  'PENDING_ACTIVATION',
  'ACTIVE',
  'PENDING_MODIFICATION',
  'SUSPENDED',
  'PENDING_DISCONNECT',
  'DISCONNECTED',
  'CANCELLED',
  'ERROR',
] as const;
export type ProductInstanceState = (typeof PRODUCT_INSTANCE_STATES)[number];

/**
 * How a command treats the asset's operation guard (seed 000 §14.2):
 * - hold: acquire it (or reuse the one this order item already holds) and keep it;
 * - release: acquire-or-reuse, then release it: the operation ends here;
 * The guard is never taken from another order item: that is `operation-in-progress`.
 */
export type GuardPolicy = 'hold' | 'release';

export interface Transition<S extends string> {
  from: readonly S[];
  to: S;
  guard: GuardPolicy;
  /** Domain event written to the outbox for this transition. */
  event: string;
  /** change_type of the history row. */
  changeType: string;
}

/** Product instance lifecycle (seed 000 §7). Keys are the API's `{verb}:{phase}`. */
export const PRODUCT_INSTANCE_TRANSITIONS = {
  'activation:start': { from: ['PENDING_ACTIVATION', 'ERROR'], to: 'PENDING_ACTIVATION', guard: 'hold', event: 'ProductInstanceActivationPending', changeType: 'ACTIVATION_STARTED' },
  'activation:complete': { from: ['PENDING_ACTIVATION'], to: 'ACTIVE', guard: 'release', event: 'ProductInstanceActivated', changeType: 'ACTIVATED' },
  'activation:fail': { from: ['PENDING_ACTIVATION'], to: 'ERROR', guard: 'release', event: 'ProductInstanceActivationFailed', changeType: 'ACTIVATION_FAILED' },
  'activation:cancel': { from: ['PENDING_ACTIVATION', 'ERROR'], to: 'CANCELLED', guard: 'release', event: 'ProductInstanceCancelled', changeType: 'CANCELLED' },
  'modification:start': { from: ['ACTIVE'], to: 'PENDING_MODIFICATION', guard: 'hold', event: 'ProductInstanceModificationStarted', changeType: 'MODIFICATION_STARTED' },
  'modification:complete': { from: ['PENDING_MODIFICATION'], to: 'ACTIVE', guard: 'release', event: 'ProductInstanceModified', changeType: 'MODIFIED' },
  'modification:cancel': { from: ['PENDING_MODIFICATION'], to: 'ACTIVE', guard: 'release', event: 'ProductInstanceModificationCancelled', changeType: 'MODIFICATION_CANCELLED' },
  // Fulfillment could not apply the change: the instance keeps what it had, with the error recorded.
  'modification:fail': { from: ['PENDING_MODIFICATION'], to: 'ACTIVE', guard: 'release', event: 'ProductInstanceModificationFailed', changeType: 'MODIFICATION_FAILED' },
  'disconnect:start': { from: ['ACTIVE', 'SUSPENDED', 'ERROR'], to: 'PENDING_DISCONNECT', guard: 'hold', event: 'ProductInstanceDisconnectStarted', changeType: 'DISCONNECT_STARTED' },
  'disconnect:complete': { from: ['PENDING_DISCONNECT'], to: 'DISCONNECTED', guard: 'release', event: 'ProductInstanceDisconnected', changeType: 'DISCONNECTED' },
  'suspension:apply': { from: ['ACTIVE'], to: 'SUSPENDED', guard: 'release', event: 'ProductInstanceSuspended', changeType: 'SUSPENDED' },
  'resumption:apply': { from: ['SUSPENDED'], to: 'ACTIVE', guard: 'release', event: 'ProductInstanceResumed', changeType: 'RESUMED' },
  'move:apply': { from: ['ACTIVE'], to: 'ACTIVE', guard: 'release', event: 'ProductInstanceMoved', changeType: 'MOVED' },
  'replacement:apply': { from: ['ACTIVE', 'SUSPENDED'], to: 'DISCONNECTED', guard: 'release', event: 'ProductInstanceReplaced', changeType: 'REPLACED' },
} as const satisfies Record<string, Transition<ProductInstanceState>>;
export type ProductInstanceCommand = keyof typeof PRODUCT_INSTANCE_TRANSITIONS;
export const PRODUCT_INSTANCE_COMMANDS = Object.keys(PRODUCT_INSTANCE_TRANSITIONS) as ProductInstanceCommand[];

/** States in which the instance is no longer owned: nothing can change it any more. */
export const PRODUCT_INSTANCE_FINAL_STATES: readonly ProductInstanceState[] = ['DISCONNECTED', 'CANCELLED'];

export const SUBSCRIPTION_STATES = ['PENDING', 'ACTIVE', 'SUSPENDED', 'TERMINATED', 'EXPIRED'] as const;
export type SubscriptionState = (typeof SUBSCRIPTION_STATES)[number];

export interface SubscriptionTransition {
  from: readonly SubscriptionState[];
  to: SubscriptionState | 'SAME';
  event: string;
  changeType: string;
}

/** Subscription lifecycle (seed 000 §6.5, §11.6): it changes apart from its products. */
export const SUBSCRIPTION_TRANSITIONS = {
  'activation:apply': { from: ['PENDING'], to: 'ACTIVE', event: 'SubscriptionActivated', changeType: 'ACTIVATED' },
  'suspension:apply': { from: ['ACTIVE'], to: 'SUSPENDED', event: 'SubscriptionSuspended', changeType: 'SUSPENDED' },
  'resumption:apply': { from: ['SUSPENDED'], to: 'ACTIVE', event: 'SubscriptionResumed', changeType: 'RESUMED' },
  // A renewal keeps the state, and un-expires: before or after the end date (seed 004).
  'renewal:apply': { from: ['ACTIVE', 'SUSPENDED', 'EXPIRED'], to: 'SAME', event: 'SubscriptionRenewed', changeType: 'RENEWED' },
  'termination:apply': { from: ['PENDING', 'ACTIVE', 'SUSPENDED'], to: 'TERMINATED', event: 'SubscriptionTerminated', changeType: 'TERMINATED' },
  'expiry:apply': { from: ['ACTIVE', 'SUSPENDED'], to: 'EXPIRED', event: 'SubscriptionExpired', changeType: 'EXPIRED' },
  // An entered subscription cancelled before it started: its end becomes its start, it never runs (seed 004).
  'cancellation:apply': { from: ['PENDING'], to: 'TERMINATED', event: 'SubscriptionCancelled', changeType: 'CANCELLED' },
} as const satisfies Record<string, SubscriptionTransition>;
export type SubscriptionCommand = keyof typeof SUBSCRIPTION_TRANSITIONS;
export const SUBSCRIPTION_COMMANDS = Object.keys(SUBSCRIPTION_TRANSITIONS) as SubscriptionCommand[];

export function allowedProductInstanceCommands(state: ProductInstanceState): ProductInstanceCommand[] {
  return allowedCommands(PRODUCT_INSTANCE_TRANSITIONS, state);
}

export function allowedSubscriptionCommands(state: SubscriptionState): SubscriptionCommand[] {
  return allowedCommands(SUBSCRIPTION_TRANSITIONS, state);
}

export type TransitionResult<S> = { ok: true; to: S } | { ok: false; allowed: string[] };

export function productInstanceTransition(state: ProductInstanceState, command: ProductInstanceCommand): TransitionResult<ProductInstanceState> {
  return transition(PRODUCT_INSTANCE_TRANSITIONS, state, command);
}

/** A renewal keeps the state (`to: 'SAME'`), except that an EXPIRED subscription renewed is ACTIVE again. */
export function subscriptionTransition(state: SubscriptionState, command: SubscriptionCommand): TransitionResult<SubscriptionState> {
  const verdict = transition(SUBSCRIPTION_TRANSITIONS, state, command);
  if (!verdict.ok) return verdict;
  if (verdict.to === 'SAME') return { ok: true, to: state === 'EXPIRED' ? 'ACTIVE' : state };
  return { ok: true, to: verdict.to };
}

export const SERVICE_INSTANCE_STATES = ['PENDING', 'ACTIVE', 'SUSPENDED', 'TERMINATED'] as const;
export type ServiceInstanceState = (typeof SERVICE_INSTANCE_STATES)[number];
export const RESOURCE_INSTANCE_STATES = ['ALLOCATED', 'RELEASED'] as const;
export type ResourceInstanceState = (typeof RESOURCE_INSTANCE_STATES)[number];

/**
 * What a product instance's services become when the product changes state. Services follow
 * their product; a service that is already TERMINATED stays so.
 */
export function serviceStateFor(productState: ProductInstanceState, current: ServiceInstanceState): ServiceInstanceState {
  if (current === 'TERMINATED') return current;
  switch (productState) {
    case 'ACTIVE':
      return 'ACTIVE';
    case 'SUSPENDED':
      return current === 'ACTIVE' ? 'SUSPENDED' : current;
    case 'DISCONNECTED':
    case 'CANCELLED':
      return 'TERMINATED';
    default:
      return current;
  }
}

// ------------------------------------------------------------------------- relationships

/**
 * What an operation guard is held for. A caller names one of the order actions (orders/model.ts
 * ORDER_ACTIONS, the same list; the orders part builds on this one, not the other way round);
 * the one-shot service and resource commands take a guard of their own kind. Migration 0008
 * checks GUARD_OPERATION_TYPES in the database too.
 */
export const OPERATION_TYPES = ['ADD', 'MODIFY', 'DISCONNECT', 'SUSPEND', 'RESUME', 'MOVE', 'REPLACE', 'RENEW'] as const;
export const GUARD_OPERATION_TYPES = [...OPERATION_TYPES, 'ATTACH_SERVICE', 'RELEASE_SERVICE', 'ATTACH_RESOURCE', 'RELEASE_RESOURCE'] as const;

export const RELATIONSHIP_TYPES = ['BUNDLES', 'DEPENDS_ON', 'REQUIRES', 'ADDON_OF', 'REPLACES', 'MIGRATED_FROM', 'PARENT_OF'] as const;
export type RelationshipType = (typeof RELATIONSHIP_TYPES)[number];

/**
 * The one direction rule: a relationship reads as the sentence "source TYPE target".
 *   fiber PARENT_OF static-ip   (source is the parent)
 *   sla ADDON_OF fiber          (source is the add-on)
 *   new REPLACES old, new MIGRATED_FROM old, bundle BUNDLES member,
 *   app DEPENDS_ON db, a REQUIRES b
 * Containment (what a disconnect cascades to) follows from it: the children of X are the
 * targets of "X PARENT_OF _" and the sources of "_ ADDON_OF X".
 */
export interface RelationshipEdge {
  source: string;
  target: string;
  type: RelationshipType;
}

/** The containment edge of a relationship as (parent, child), or null if it is not one. */
export function containmentEdge(edge: RelationshipEdge): { parent: string; child: string } | null {
  if (edge.type === 'PARENT_OF') return { parent: edge.source, child: edge.target };
  if (edge.type === 'ADDON_OF') return { parent: edge.target, child: edge.source };
  return null;
}

export type RelationshipProblem =
  | { kind: 'self-link' }
  | { kind: 'cycle'; path: string[] }
  | { kind: 'second-parent'; existingParent: string };

/**
 * Checks a new relationship against the current ones of the same account: no self links,
 * at most one PARENT_OF parent, and no cycle in containment (PARENT_OF and ADDON_OF together),
 * because a disconnect cascades along containment and must end.
 */
export function checkNewRelationship(current: readonly RelationshipEdge[], proposed: RelationshipEdge): RelationshipProblem | null {
  if (proposed.source === proposed.target) return { kind: 'self-link' };
  if (proposed.type === 'PARENT_OF') {
    const existing = current.find((e) => e.type === 'PARENT_OF' && e.target === proposed.target);
    if (existing && existing.source !== proposed.source) return { kind: 'second-parent', existingParent: existing.source };
  }
  const added = containmentEdge(proposed);
  if (!added) return null;
  const parentsOf = new Map<string, string[]>();
  for (const edge of current) {
    const c = containmentEdge(edge);
    if (!c) continue;
    parentsOf.set(c.child, [...(parentsOf.get(c.child) ?? []), c.parent]);
  }
  // A cycle appears iff the new child is already an ancestor of the new parent.
  const path = findAncestorPath(parentsOf, added.parent, added.child);
  return path ? { kind: 'cycle', path: [added.child, ...path.reverse()] } : null;
}

function findAncestorPath(parentsOf: Map<string, string[]>, from: string, wanted: string): string[] | null {
  const seen = new Set<string>();
  const walk = (node: string): string[] | null => {
    if (node === wanted) return [node];
    if (seen.has(node)) return null;
    seen.add(node);
    for (const parent of parentsOf.get(node) ?? []) {
      const found = walk(parent);
      if (found) return [...found, node];
    }
    return null;
  };
  return walk(from);
}

/** The children of `parent` along containment, among the current relationships. */
export function containedChildren(current: readonly RelationshipEdge[], parent: string): string[] {
  const children: string[] = [];
  for (const edge of current) {
    const c = containmentEdge(edge);
    if (c && c.parent === parent && !children.includes(c.child)) children.push(c.child);
  }
  return children;
}

// ------------------------------------------------------------------------- change summary

/** The keys whose values differ between two flat JSON objects (seed 000 §17.1 changeSummary). */
export function changedKeys(before: Record<string, unknown> | null | undefined, after: Record<string, unknown> | null | undefined): string[] {
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...keys].filter((k) => canonicalJson((before ?? {})[k]) !== canonicalJson((after ?? {})[k])).sort();
}

/**
 * The prices a change moved, for changeSummary.changedPrices. A price snapshot's `lines` (the
 * pricing engine's itemized lines) compare one by one under their charge code — a line that
 * only moved to another order item is not a change; every other member compares by its key.
 */
export function changedPriceKeys(before: Record<string, unknown> | null | undefined, after: Record<string, unknown> | null | undefined): string[] {
  const flat = (price: Record<string, unknown> | null | undefined): Record<string, unknown> => {
    const { lines, ...rest } = price ?? {};
    if (!Array.isArray(lines)) return price ?? {};
    const byCharge: Record<string, unknown> = { ...rest };
    for (const line of lines as Record<string, unknown>[]) {
      const { lineId, itemId, ...terms } = line ?? {};
      byCharge[String(line?.chargeCode ?? lineId)] = terms;
    }
    return byCharge;
  };
  const changed = changedKeys(flat(before), flat(after));
  // A new price (a created instance) lists its charges; its currency is news only when it changes.
  return before && 'currency' in before ? changed : changed.filter((key) => key !== 'currency');
}

/** JSON with object keys sorted, so that equal values compare equal whatever their key order (jsonb reorders keys). */
function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Applies a configuration change: given characteristics replace, `null` removes one. */
export function mergeConfiguration<T extends Record<string, unknown>>(current: T, delta: Record<string, unknown>): T {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(delta)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged as T;
}
