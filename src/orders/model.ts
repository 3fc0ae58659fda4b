/**
 * Orders as pure data (seed 000 §11–13, TMF622 states): an item's input, the order and item
 * lifecycles, and the order's own consistency rules. What each action needs and does to the
 * installed base is its module's (orders/actions/).
 */
import { transition } from '../platform/state-machine.ts';
import type { OrderAction } from './actions/index.ts';

export type { OrderAction } from './actions/index.ts';

/** An item of an order as submitted: which fields an action needs is its module's to check. */
export interface OrderItemInput {
  action: OrderAction;
  /** MODIFY … RENEW: the product instance, and the version you read. */
  productInstanceId?: string;
  expectedVersion?: number;
  /** ADD */
  offeringId?: string;
  offeringVersion?: number;
  /** ADD, REPLACE: the availability zone it is sold in (an offering that lists zones is refused outside them). */
  zone?: string;
  /** ADD, REPLACE: the configuration; MODIFY: the change (null removes a characteristic). */
  configuration?: Record<string, unknown>;
  quantity?: number;
  subscriptionId?: string;
  subscription?: { termMonths?: number; billingCycle?: string; autoRenew?: boolean; renewalPolicy?: { type?: 'same-term' | 'evergreen'; noticeDays?: number }; startDate?: string };
  /** ADD: an add-on of another item of this order (1-based), or of an owned instance. */
  parentItemNumber?: number;
  parentProductInstanceId?: string;
  /** Items (1-based numbers) that must complete before this one starts. */
  dependsOn?: number[];
  /** ADD, MOVE: where. */
  place?: Record<string, unknown>;
  reason?: string;
  /** DISCONNECT: at a future date instead of now. */
  requestedTerminationDate?: string;
  /** REPLACE: the offering that replaces the target. */
  replacementOfferingId?: string;
  /** RENEW */
  termMonths?: number;
  newEndDate?: string;
}

// ---------------------------------------------------------------------------- lifecycles

/** TMF622 order states, plus pendingCancellation while an amendment unwinds work in flight. */
export const ORDER_STATES = ['acknowledged', 'inProgress', 'held', 'pendingCancellation', 'cancelled', 'completed', 'failed', 'partial'] as const;
export type OrderState = (typeof ORDER_STATES)[number];
export const ORDER_FINAL_STATES: readonly OrderState[] = ['cancelled', 'completed', 'failed', 'partial'];

/** The lifecycle an order and its items share; an order adds partial completion and its re-run. */
const COMMON_TRANSITIONS = {
  start: { from: ['acknowledged', 'held'], to: 'inProgress' },
  hold: { from: ['acknowledged', 'inProgress'], to: 'held' },
  requestCancellation: { from: ['acknowledged', 'inProgress', 'held'], to: 'pendingCancellation' },
  cancel: { from: ['acknowledged', 'held', 'pendingCancellation'], to: 'cancelled' },
  complete: { from: ['inProgress'], to: 'completed' },
  fail: { from: ['inProgress', 'pendingCancellation'], to: 'failed' },
} as const;

export const ORDER_TRANSITIONS = {
  ...COMMON_TRANSITIONS,
  completePartially: { from: ['inProgress', 'pendingCancellation'], to: 'partial' },
  /** Manual re-run of failed work (seed 003 B2). */
  rerun: { from: ['failed', 'partial'], to: 'inProgress' },
} as const satisfies Record<string, { from: readonly OrderState[]; to: OrderState }>;
export type OrderCommand = keyof typeof ORDER_TRANSITIONS;

export const ITEM_STATES = ['acknowledged', 'inProgress', 'held', 'pendingCancellation', 'cancelled', 'completed', 'failed'] as const;
export type ItemState = (typeof ITEM_STATES)[number];

export const ITEM_TRANSITIONS = {
  ...COMMON_TRANSITIONS,
  rerun: { from: ['failed'], to: 'inProgress' },
} as const satisfies Record<string, { from: readonly ItemState[]; to: ItemState }>;
export type ItemCommand = keyof typeof ITEM_TRANSITIONS;

export function orderTransition(state: OrderState, command: OrderCommand): { ok: true; to: OrderState } | { ok: false; allowed: OrderCommand[] } {
  return transition(ORDER_TRANSITIONS, state, command);
}

export function itemTransition(state: ItemState, command: ItemCommand): { ok: true; to: ItemState } | { ok: false; allowed: ItemCommand[] } {
  return transition(ITEM_TRANSITIONS, state, command);
}

/** The order's state once every item has ended: all completed, none completed, or a mix. */
export function settledOrderState(items: readonly ItemState[]): OrderState | null {
  if (items.some((s) => !['completed', 'failed', 'cancelled'].includes(s))) return null;
  if (items.every((s) => s === 'cancelled')) return 'cancelled';
  if (items.every((s) => s === 'completed' || s === 'cancelled')) return 'completed';
  if (items.some((s) => s === 'completed')) return 'partial';
  return 'failed';
}

// ---------------------------------------------------------------------------- item dependencies

export interface ItemDependencies {
  itemNumber: number;
  dependsOn: readonly number[];
}

/** Item dependencies must name other items of the order and form no cycle. Returns the problem, or null. */
export function checkItemDependencies(items: readonly ItemDependencies[]): string | null {
  const numbers = new Set(items.map((i) => i.itemNumber));
  for (const item of items) {
    for (const d of item.dependsOn) {
      if (d === item.itemNumber) return `item ${item.itemNumber} depends on itself`;
      if (!numbers.has(d)) return `item ${item.itemNumber} depends on item ${d}, which is not in the order`;
    }
  }
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (n: number, path: number[]): string | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'visiting') return `items depend on each other in a cycle: ${[...path, n].join(' → ')}`;
    state.set(n, 'visiting');
    for (const d of items.find((i) => i.itemNumber === n)!.dependsOn) {
      const problem = visit(d, [...path, n]);
      if (problem) return problem;
    }
    state.set(n, 'done');
    return null;
  };
  for (const item of items) {
    const problem = visit(item.itemNumber, []);
    if (problem) return problem;
  }
  return null;
}
