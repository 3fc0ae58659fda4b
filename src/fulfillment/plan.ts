/**
 * Turning a submitted order into fulfillment tasks, inside the order's transaction: the
 * tasks are enqueued with the order or not at all.
 */
import { findCatalogVersion, findOfferingVersion } from '../catalog/index.ts';
import { ConfigError } from '../platform/config.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { newId } from '../platform/ids.ts';
import { listOrderTasks, notifyTasksReady, type TaskRow } from './queue.ts';
import { DEFAULT_ROUTING, planOrder, type ItemToPlan, type PlannedTask, type Routing, type SpecTree, type StepPlan } from './decompose.ts';

export interface ItemForPlanning {
  itemId: string;
  steps: StepPlan;
  /** The offering whose specification tree the steps are laid on. */
  offeringId: string | null;
  offeringVersion: number | null;
  /** The offering of the instance the item changes: a plan that replaces it deactivates that tree's services. */
  replacedOfferingId?: string | null;
  replacedOfferingVersion?: number | null;
  dependsOnItemIds: string[];
  /** The item's tasks are not due before this instant (a scheduled disconnect); null: now. */
  notBefore?: string | null;
}

/** The routing in force: TENURE_FULFILLMENT_ROUTING (its JSON text, from platform/config.ts) over the defaults. */
export function routingOf(json: string | undefined): Routing {
  if (!json) return DEFAULT_ROUTING;
  let parsed: Partial<Routing>;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`TENURE_FULFILLMENT_ROUTING is not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('TENURE_FULFILLMENT_ROUTING must be a JSON object');
  return { ...DEFAULT_ROUTING, ...parsed, byStep: { ...DEFAULT_ROUTING.byStep, ...(parsed.byStep ?? {}) } };
}

/** The specification tree of an offering version; an empty tree when the catalog does not know it. */
export async function specTreeOf(tx: Tx, offeringId: string | null, offeringVersion: number | null): Promise<SpecTree> {
  if (!offeringId) return { product: null, services: [] };
  const offering = await findOfferingVersion(tx, offeringId, offeringVersion ?? undefined);
  const ref = offering?.body.productSpecification;
  if (!ref) return { product: null, services: [] };
  const product = await findCatalogVersion(tx, 'product_specification', ref.id, ref.version);
  if (!product) return { product: null, services: [] };
  const services: SpecTree['services'] = [];
  for (const s of product.body.serviceSpecifications) {
    const service = await findCatalogVersion(tx, 'service_specification', s.id, s.version);
    if (!service) continue;
    const resources = [];
    for (const r of service.body.resourceSpecifications) {
      const resource = await findCatalogVersion(tx, 'resource_specification', r.id, r.version);
      if (resource) resources.push({ kind: 'resource' as const, id: resource.id, version: resource.version, code: resource.body.code });
    }
    services.push({ kind: 'service', id: service.id, version: service.version, code: service.body.code, resources });
  }
  return { product: { kind: 'product', id: product.id, version: product.version, code: product.body.code }, services };
}

export async function planAndEnqueueInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  order: { orderId: string; accountId: string },
  items: readonly ItemForPlanning[],
  routing: Routing,
): Promise<PlannedTask[]> {
  const toPlan: ItemToPlan[] = [];
  for (const item of items) {
    toPlan.push({
      itemId: item.itemId,
      steps: item.steps,
      tree: await specTreeOf(tx, item.offeringId, item.offeringVersion),
      replacedTree: item.steps.kind === 'build' && item.steps.replaces ? await specTreeOf(tx, item.replacedOfferingId ?? null, item.replacedOfferingVersion ?? null) : null,
      dependsOnItemIds: item.dependsOnItemIds,
    });
  }
  const planned = planOrder(toPlan, routing);
  const ids = planned.map(() => newId());
  const dueOf = new Map(items.map((item) => [item.itemId, item.notBefore && item.notBefore > now ? item.notBefore : now]));
  for (const [i, task] of planned.entries()) {
    await tx.query(
      `insert into fulfillment_task (tenant_id, account_id, task_id, order_id, item_id, task_number, step, spec_kind, spec_id,
         spec_version, spec_code, provisioner_code, status, depends_on, point_of_no_return, idempotency_key, correlation_id,
         max_attempts, next_run_at, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14, $15, $16, $17, $19, $18, $18)`,
      [ctx.tenantId, order.accountId, ids[i], order.orderId, task.itemId, task.taskNumber, task.step, task.spec?.kind ?? null,
       task.spec?.id ?? null, task.spec?.version ?? null, task.spec?.code ?? null, task.provisionerCode,
       task.dependsOn.map((n) => ids[n - 1]), task.pointOfNoReturn, `tenure-task-${ids[i]}`,
       ctx.correlationId ?? order.orderId, task.maxAttempts, now, dueOf.get(task.itemId)],
    );
  }
  // Workers are woken when some task is due now; scheduled ones wait for a poll after their time.
  if (planned.some((task) => dueOf.get(task.itemId) === now)) await notifyTasksReady(tx);
  return planned;
}

/** A task as the API shows it: everything but the worker's lease and the raw provisioner data. */
export type TaskView = Omit<TaskRow, 'tenantId' | 'accountId' | 'orderId' | 'lockedBy' | 'lockedUntil' | 'result'>;

/** The tasks of an order with what makes each observable: attempts, next run, last error. */
export async function listOrderTasksInTx(tx: Tx, accountId: string, orderId: string): Promise<TaskView[]> {
  return (await listOrderTasks(tx, accountId, orderId)).map(({ tenantId, accountId: _account, orderId: _order, lockedBy, lockedUntil, result, ...view }) => view);
}
