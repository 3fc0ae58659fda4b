/**
 * The outcome interface (decision 0015): how the orchestrator reports the outcomes of its
 * tasks, and asks what it needs about the order items they work for, without knowing orders.
 * Orders implements it; the assembly (src/app.ts) gives the implementation to the orchestrator.
 * Every method runs inside the orchestrator's transaction, which it is handed.
 */
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';

/** The order item a task works for. */
export interface ItemRef {
  accountId: string;
  orderId: string;
  itemId: string;
}

/** What a provisioner is told about the item, besides its task (ProvisioningTask). */
export interface ItemToProvision {
  action: string;
  productInstanceId: string | null;
  /** The item's configuration and everything else its action carries. */
  parameters: Record<string, unknown>;
}

/** A done provisioning task of an item, with what its provisioner answered. */
export interface TaskOutcome {
  taskId: string;
  step: string;
  specification: { kind: string; id: string; version: number; code: string } | null;
  dependsOn: string[];
  externalId: string | null;
  result: Record<string, unknown> | null;
}

/** Why an item failed. */
export interface ItemFailure {
  code: string;
  message: string;
  /** The task that failed for good, if a task did. */
  taskId?: string | null;
}

export interface FulfillmentOutcomes {
  /**
   * A task of the item is about to call its provisioner (the task's start transaction): a
   * provisioning task starts the item, and its order; a compensation does not.
   */
  taskStarting(tx: Tx, ctx: CommandContext, now: string, item: ItemRef, kind: 'provision' | 'compensation'): Promise<ItemToProvision>;
  /**
   * Locks the order for the rest of the transaction, first in every outcome transaction, so
   * that the outcomes of one order are applied one at a time; the outcome is then reported
   * through what it returns, which holds the lock: an outcome locks its order once.
   */
  lockOrder(tx: Tx, ctx: CommandContext, now: string, order: { accountId: string; orderId: string }): Promise<OrderOutcomes>;
  /**
   * lockOrder, unless another transaction holds the order: null then, at once. A worker that
   * would run the order's tasks in its transaction passes an order another one is working on.
   */
  lockOrderIfFree(tx: Tx, ctx: CommandContext, now: string, order: { accountId: string; orderId: string }): Promise<OrderOutcomes | null>;
}

/** The outcomes of a locked order's tasks (FulfillmentOutcomes.lockOrder). */
export interface OrderOutcomes {
  /** taskStarting, on the locked order: a task run in the transaction that holds the lock (decision 0019). */
  taskStarting(itemId: string, kind: 'provision' | 'compensation'): Promise<ItemToProvision>;
  /** Every provisioning task of the item is done: its change is applied to the installed base and it completes. */
  itemProvisioned(itemId: string, tasks: readonly TaskOutcome[]): Promise<void>;
  /**
   * The item cannot be provisioned: it fails, and so do the items that wait for it. Returns
   * the ids of all of them: their tasks not yet run are cancelled.
   */
  itemFailed(itemId: string, failure: ItemFailure): Promise<string[]>;
  /** Every compensation of a withdrawn item is done: its withdrawal ends. */
  itemWithdrawn(itemId: string): Promise<void>;
}
