/**
 * What orders does to an order's tasks (decision 0015): hold them, re-run them, withdraw them.
 * Each runs inside the caller's transaction, which holds the order's lock; the order side of
 * each operation (its items, their assets, its audit) is orders' own.
 */
import type { Tx } from '../platform/db.ts';
import { PointOfNoReturnError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import type { TaskOutcome } from './outcomes.ts';
import * as queue from './queue.ts';
import type { TaskRow } from './queue.ts';

/** A fulfillment task as fulfillment stores it. */
export type FulfillmentTask = TaskRow;

/** The order is held, or its hold released: while it is held, its tasks not yet claimed wait. */
export async function setOrderTasksHeldInTx(tx: Tx, now: string, accountId: string, orderId: string, held: boolean): Promise<void> {
  await queue.setOrderHeld(tx, accountId, orderId, held, now);
}

/** Every task of the order, in task order. */
export async function orderTasksInTx(tx: Tx, accountId: string, orderId: string): Promise<FulfillmentTask[]> {
  return queue.listOrderTasks(tx, accountId, orderId);
}

/**
 * A manual re-run of failed items (seed 003 B2): their failed and cancelled provisioning tasks
 * are due again with fresh attempts. Returns those tasks, and the items whose provisioning
 * tasks were all done already (the item failed while completing), with the tasks' outcomes.
 */
export async function rerunItemTasksInTx(
  tx: Tx,
  now: string,
  accountId: string,
  itemIds: readonly string[],
): Promise<{ due: FulfillmentTask[]; provisioned: { itemId: string; tasks: TaskOutcome[] }[] }> {
  const due = await queue.resetTasksForRerun(tx, accountId, [...itemIds], now);
  const provisioned: { itemId: string; tasks: TaskOutcome[] }[] = [];
  for (const itemId of itemIds) {
    const tasks = await queue.listItemTasks(tx, accountId, itemId, 'provision');
    if (tasks.every((t) => t.status === 'done')) provisioned.push({ itemId, tasks: tasks.map(queue.outcomeOf) });
  }
  return { due, provisioned };
}

/**
 * The task side of withdrawing items of an order in flight (an amendment or a cancellation).
 * Refused with `point-of-no-return`, changing nothing, when a task of theirs past its point of
 * no return has started. Otherwise their tasks not started are cancelled, and done (or started)
 * work gets compensation tasks that run in the reverse order. Returns the items that have
 * compensations to wait for.
 */
export async function withdrawItemTasksInTx(tx: Tx, now: string, accountId: string, orderId: string, itemIds: readonly string[]): Promise<string[]> {
  // Locked before they are read: a claim under way finishes first, so every status is real.
  const tasks = (await queue.lockItemTasks(tx, accountId, [...itemIds])).filter((t) => t.kind === 'provision');
  const started = (t: TaskRow) => t.status === 'running' || t.status === 'waiting' || t.status === 'done';
  const pastReturn = tasks.find((t) => t.pointOfNoReturn && started(t));
  if (pastReturn) throw new PointOfNoReturnError(pastReturn);
  const toUndo = tasks.filter(started);
  await queue.cancelTasks(tx, accountId, [...itemIds], ['pending', 'running', 'waiting'], now);
  const maxNumber = Math.max(0, ...(await queue.listOrderTasks(tx, accountId, orderId)).map((t) => t.taskNumber));
  const compensations = toUndo.map((t, i) => ({ taskId: newId(), compensates: t, taskNumber: maxNumber + i + 1, dependsOn: [] as string[] }));
  // Undo in reverse: a task's compensation waits for the compensations of the tasks that built on it.
  for (const c of compensations) {
    c.dependsOn = compensations.filter((other) => other.compensates.dependsOn.includes(c.compensates.taskId)).map((other) => other.taskId);
  }
  await queue.insertCompensations(tx, compensations, now);
  return [...new Set(compensations.map((c) => c.compensates.itemId))];
}
