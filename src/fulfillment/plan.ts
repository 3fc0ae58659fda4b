/**
 * Turning a submitted order into fulfillment tasks, inside the order's transaction: the
 * tasks are enqueued with the order or not at all.
 */
import { findCatalogDocuments, findOfferingVersion } from '../catalog/index.ts';
import { ConfigError } from '../platform/config.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { newId } from '../platform/ids.ts';
import { announcementPayload, listOrderTasks, TASKS_READY_CHANNEL, type TaskRow } from './queue.ts';
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

/**
 * The specification trees of offering versions, one per wanted (an empty tree where the catalog
 * does not know the offering, or it names no product specification). Laid out level by level
 * for every wanted at once — offerings, product specifications, service specifications,
 * resource specifications — from the catalog's documents (published ones are kept in process),
 * so that a whole order's trees take at most one statement per level, and none once the
 * documents are known.
 */
export async function specTreesOf(tx: Tx, tenantId: string, wanted: readonly { offeringId: string | null; offeringVersion: number | null }[]): Promise<SpecTree[]> {
  const empty = (): SpecTree => ({ product: null, services: [] });
  const refOf = (id: string, version: number) => ({ id, version });
  const key = (r: { id: string; version: number }) => `${r.id}@${r.version}`;
  // An offering named without a version is its current one: the catalog says which.
  const offerings = await Promise.all(wanted.map(async (w) => {
    if (!w.offeringId) return null;
    if (w.offeringVersion !== null) return refOf(w.offeringId, w.offeringVersion);
    const current = await findOfferingVersion(tx, w.offeringId);
    return current ? refOf(current.id, current.version) : null;
  }));
  const offeringDocs = await findCatalogDocuments(tx, tenantId, 'product_offering', offerings.filter((o) => o !== null));
  const productRefs = offerings.map((o) => (o ? offeringDocs.get(key(o))?.productSpecification ?? null : null));
  const productDocs = await findCatalogDocuments(tx, tenantId, 'product_specification', productRefs.filter((r) => r !== null));
  const serviceRefs = productRefs.flatMap((r) => (r ? productDocs.get(key(r))?.serviceSpecifications ?? [] : []));
  const serviceDocs = await findCatalogDocuments(tx, tenantId, 'service_specification', serviceRefs);
  const resourceRefs = serviceRefs.flatMap((r) => serviceDocs.get(key(r))?.resourceSpecifications ?? []);
  const resourceDocs = await findCatalogDocuments(tx, tenantId, 'resource_specification', resourceRefs);
  return productRefs.map((ref) => {
    const product = ref ? productDocs.get(key(ref)) : undefined;
    if (!ref || !product) return empty();
    const services: SpecTree['services'] = [];
    for (const s of product.serviceSpecifications) {
      const service = serviceDocs.get(key(s));
      if (!service) continue;
      const resources = [];
      for (const r of service.resourceSpecifications) {
        const resource = resourceDocs.get(key(r));
        if (resource) resources.push({ kind: 'resource' as const, id: r.id, version: r.version, code: resource.code });
      }
      services.push({ kind: 'service', id: s.id, version: s.version, code: service.code, resources });
    }
    return { product: { kind: 'product', id: ref.id, version: ref.version, code: product.code }, services };
  });
}

/** The specification tree of an offering version; an empty tree when the catalog does not know it. */
export async function specTreeOf(tx: Tx, tenantId: string, offeringId: string | null, offeringVersion: number | null): Promise<SpecTree> {
  return (await specTreesOf(tx, tenantId, [{ offeringId, offeringVersion }]))[0];
}

/**
 * Plans the items' tasks and enqueues them, in one statement for the whole order (the task
 * rows from arrays, in task order), with the workers' wake-up in the same statement when a
 * task is due now.
 */
export async function planAndEnqueueInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  order: { orderId: string; accountId: string },
  items: readonly ItemForPlanning[],
  routing: Routing,
): Promise<PlannedTask[]> {
  const replaces = (item: ItemForPlanning) => item.steps.kind === 'build' && item.steps.replaces === true;
  const trees = await specTreesOf(tx, ctx.tenantId, [
    ...items.map((item) => ({ offeringId: item.offeringId, offeringVersion: item.offeringVersion })),
    ...items.filter(replaces).map((item) => ({ offeringId: item.replacedOfferingId ?? null, offeringVersion: item.replacedOfferingVersion ?? null })),
  ]);
  let replaced = items.length;
  const toPlan: ItemToPlan[] = items.map((item, k) => ({
    itemId: item.itemId,
    steps: item.steps,
    tree: trees[k],
    replacedTree: replaces(item) ? trees[replaced++] : null,
    dependsOnItemIds: item.dependsOnItemIds,
  }));
  const planned = planOrder(toPlan, routing);
  const ids = planned.map(() => newId());
  const dueOf = new Map(items.map((item) => [item.itemId, item.notBefore && item.notBefore > now ? item.notBefore : now]));
  // Workers are woken when some task is due now, with the order named and its ready tasks'
  // provisioners (decision 0026); scheduled ones wait for a poll after their time.
  const provisioners: Record<string, number> = {};
  for (const task of planned) {
    if (task.dependsOn.length === 0 && dueOf.get(task.itemId) === now) provisioners[task.provisionerCode] = (provisioners[task.provisionerCode] ?? 0) + 1;
  }
  const correlationId = ctx.correlationId ?? order.orderId;
  const wake = Object.keys(provisioners).length > 0
    ? announcementPayload({ tenantId: ctx.tenantId, accountId: order.accountId, orderId: order.orderId, correlationId, provisioners })
    : null;
  await insertTasks(tx, {
    tenantId: ctx.tenantId,
    accountId: order.accountId,
    orderId: order.orderId,
    correlationId,
    now,
    wake,
    tasks: planned.map((task, i) => ({
      taskId: ids[i],
      itemId: task.itemId,
      taskNumber: task.taskNumber,
      step: task.step,
      spec: task.spec,
      provisionerCode: task.provisionerCode,
      dependsOn: task.dependsOn.map((n) => ids[n - 1]),
      pointOfNoReturn: task.pointOfNoReturn,
      idempotencyKey: `tenure-task-${ids[i]}`,
      maxAttempts: task.maxAttempts,
      nextRunAt: dueOf.get(task.itemId)!,
    })),
  });
  return planned;
}

interface NewTask {
  taskId: string;
  itemId: string;
  taskNumber: number;
  step: string;
  spec: { kind: string; id: string; version: number; code: string } | null;
  provisionerCode: string;
  dependsOn: string[];
  pointOfNoReturn: boolean;
  idempotencyKey: string;
  maxAttempts: number;
  nextRunAt: string;
}

/**
 * The tasks of an order, pending, in one statement from arrays (a task's dependencies are a
 * uuid[] each, so they travel as array literals); with `wake` (a notification's payload naming
 * the order), the same statement tells the workers (queue.ts, notifyTasksReady: delivered at
 * commit, folded into one per transaction).
 */
async function insertTasks(tx: Tx, o: { tenantId: string; accountId: string; orderId: string; correlationId: string; now: string; wake: string | null; tasks: readonly NewTask[] }): Promise<void> {
  const t = o.tasks;
  if (t.length === 0) return;
  await tx.query(
    `with inserted as (
       insert into fulfillment_task (tenant_id, account_id, task_id, order_id, item_id, task_number, step, spec_kind, spec_id,
         spec_version, spec_code, provisioner_code, status, depends_on, point_of_no_return, idempotency_key, correlation_id,
         max_attempts, next_run_at, created_at, updated_at)
       select $1, $2, w.task_id, $3, w.item_id, w.task_number, w.step, w.spec_kind, w.spec_id, w.spec_version, w.spec_code,
              w.provisioner_code, 'pending', w.depends_on::uuid[], w.point_of_no_return, w.idempotency_key, $4, w.max_attempts,
              w.next_run_at, $5, $5
         from unnest($6::uuid[], $7::uuid[], $8::int[], $9::text[], $10::text[], $11::uuid[], $12::int[], $13::text[], $14::text[],
                     $15::text[], $16::boolean[], $17::text[], $18::int[], $19::timestamptz[])
              with ordinality as w (task_id, item_id, task_number, step, spec_kind, spec_id, spec_version, spec_code, provisioner_code,
                                    depends_on, point_of_no_return, idempotency_key, max_attempts, next_run_at, n)
        order by w.n
       returning 1
     )
     select pg_notify($20, $21) where $21 is not null and exists (select 1 from inserted)`,
    [o.tenantId, o.accountId, o.orderId, o.correlationId, o.now,
     t.map((x) => x.taskId), t.map((x) => x.itemId), t.map((x) => x.taskNumber), t.map((x) => x.step),
     t.map((x) => x.spec?.kind ?? null), t.map((x) => x.spec?.id ?? null), t.map((x) => x.spec?.version ?? null),
     t.map((x) => x.spec?.code ?? null), t.map((x) => x.provisionerCode), t.map((x) => uuidArrayLiteral(x.dependsOn)),
     t.map((x) => x.pointOfNoReturn), t.map((x) => x.idempotencyKey), t.map((x) => x.maxAttempts), t.map((x) => x.nextRunAt),
     TASKS_READY_CHANNEL, o.wake],
  );
}

/** A uuid[] as PostgreSQL's array literal (uuids need no quoting). */
const uuidArrayLiteral = (ids: readonly string[]) => `{${ids.join(',')}}`;

/** A task as the API shows it: everything but the worker's lease and the raw provisioner data. */
export type TaskView = Omit<TaskRow, 'tenantId' | 'accountId' | 'orderId' | 'lockedBy' | 'lockedUntil' | 'result'>;

/** The tasks of an order with what makes each observable: attempts, next run, last error. */
export async function listOrderTasksInTx(tx: Tx, accountId: string, orderId: string): Promise<TaskView[]> {
  return (await listOrderTasks(tx, accountId, orderId)).map(({ tenantId, accountId: _account, orderId: _order, lockedBy, lockedUntil, result, ...view }) => view);
}
