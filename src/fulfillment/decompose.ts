/**
 * Decomposition (seed 000 §3): an order item becomes fulfillment tasks for the service and
 * resource specifications its product specification names, with dependencies between them
 * (reserve resources → configure the service → activate the product). Pure: no I/O.
 */
export interface SpecRef {
  kind: 'product' | 'service' | 'resource';
  id: string;
  version: number;
  code: string;
}

/** A product specification with the services that realise it and the resources they use. */
export interface SpecTree {
  product: SpecRef | null;
  services: (SpecRef & { resources: SpecRef[] })[];
}

/** Which provisioner runs which task: by specification code first, then by step, else the default. */
export interface Routing {
  defaultProvisioner: string;
  byStep?: Record<string, string>;
  bySpecCode?: Record<string, string>;
  maxAttempts: number;
}

export const DEFAULT_ROUTING: Routing = {
  defaultProvisioner: 'manual',
  // A renewal is commercial only: nothing to do in the network.
  byStep: { renew: 'internal' },
  maxAttempts: 5,
};

/**
 * Steps whose effect cannot be undone once started: activating or deactivating a service,
 * releasing a resource, moving. An amendment that would affect one of them is refused.
 */
export const POINT_OF_NO_RETURN_STEPS: readonly string[] = ['activate', 'deactivate', 'release', 'move'];

export interface PlannedTask {
  taskNumber: number;
  itemId: string;
  step: string;
  spec: SpecRef | null;
  provisionerCode: string;
  dependsOn: number[];
  pointOfNoReturn: boolean;
  maxAttempts: number;
}

/**
 * The steps an order item needs, as its order action names them (orders/actions/): a small
 * vocabulary that planItemSteps lays out on the item's specification tree, so that this part
 * plans without knowing the order actions.
 */
export type StepPlan =
  /**
   * Reserve each service's resources → configure the service → `last` on the product
   * (activate, move); `replaces`: then deactivate the services of the product it replaces.
   */
  | { kind: 'build'; last: 'activate' | 'move'; replaces?: boolean }
  /** Deactivate each service, then release its resources; the product itself when it has no services. */
  | { kind: 'teardown' }
  /** `step` on each service (modify, suspend, resume); on the product when it has no services. */
  | { kind: 'each-service'; step: string }
  /** `step` on the product only (renew). */
  | { kind: 'product'; step: string };

export interface ItemToPlan {
  itemId: string;
  steps: StepPlan;
  tree: SpecTree;
  /** For a replacement: the tree of the instance being replaced (its services are deactivated). */
  replacedTree?: SpecTree | null;
  /** Items this item waits for: every first task of this item depends on their last tasks. */
  dependsOnItemIds: string[];
}

interface LocalTask {
  step: string;
  spec: SpecRef | null;
  /** Indexes into the item's own task list. */
  after: number[];
}

/** The tasks of one item, in order, with dependencies local to the item. */
export function planItemSteps(plan: StepPlan, tree: SpecTree, replacedTree: SpecTree | null = null): LocalTask[] {
  const tasks: LocalTask[] = [];
  const add = (step: string, spec: SpecRef | null, after: number[]) => tasks.push({ step, spec, after }) - 1;

  switch (plan.kind) {
    case 'build': {
      const configured: number[] = [];
      for (const service of tree.services) {
        const reserved = service.resources.map((r) => add('reserve', r, []));
        configured.push(add('configure', service, reserved));
      }
      const done = add(plan.last, tree.product, configured);
      // The new product is up before the old one's services go away.
      if (plan.replaces) for (const service of replacedTree?.services ?? []) add('deactivate', service, [done]);
      return tasks;
    }
    case 'teardown': {
      for (const service of tree.services) {
        const deactivated = add('deactivate', service, []);
        service.resources.forEach((r) => add('release', r, [deactivated]));
      }
      if (tree.services.length === 0) add('deactivate', tree.product, []);
      return tasks;
    }
    case 'each-service':
      if (tree.services.length === 0) add(plan.step, tree.product, []);
      for (const service of tree.services) add(plan.step, service, []);
      return tasks;
    case 'product':
      add(plan.step, tree.product, []);
      return tasks;
  }
}

/** By specification code, then by step, then the default; a task with no specification has nothing to provision outside, unless routed by step. */
function provisionerFor(step: string, spec: SpecRef | null, routing: Routing): string {
  if (!spec) return routing.byStep?.[step] ?? 'internal';
  return routing.bySpecCode?.[spec.code] ?? routing.byStep?.[step] ?? routing.defaultProvisioner;
}

/**
 * The whole order's tasks, numbered 1..n. An item that depends on other items (an add-on on
 * its parent, or an explicit dependency) starts only after their last tasks are done.
 */
export function planOrder(items: readonly ItemToPlan[], routing: Routing): PlannedTask[] {
  const planned: PlannedTask[] = [];
  const lastTasksOf = new Map<string, number[]>();
  const pending = [...items];
  const placed = new Set<string>();
  // Items are planned after the items they depend on (the order part refuses cycles).
  while (pending.length) {
    const index = pending.findIndex((i) => i.dependsOnItemIds.every((d) => placed.has(d) || !items.some((x) => x.itemId === d)));
    if (index < 0) throw new Error('item dependencies form a cycle');
    const item = pending.splice(index, 1)[0];
    const local = planItemSteps(item.steps, item.tree, item.replacedTree ?? null);
    const base = planned.length;
    const waitFor = item.dependsOnItemIds.flatMap((d) => lastTasksOf.get(d) ?? []);
    local.forEach((t) => {
      planned.push({
        taskNumber: planned.length + 1,
        itemId: item.itemId,
        step: t.step,
        spec: t.spec,
        provisionerCode: provisionerFor(t.step, t.spec, routing),
        dependsOn: [...t.after.map((i) => base + i + 1), ...(t.after.length === 0 ? waitFor : [])],
        pointOfNoReturn: POINT_OF_NO_RETURN_STEPS.includes(t.step),
        maxAttempts: routing.maxAttempts,
      });
    });
    const localNumbers = local.map((_, i) => base + i + 1);
    const dependedOn = new Set(local.flatMap((t) => t.after.map((i) => base + i + 1)));
    lastTasksOf.set(item.itemId, localNumbers.filter((n) => !dependedOn.has(n)));
    placed.add(item.itemId);
  }
  return planned;
}
