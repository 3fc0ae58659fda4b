/**
 * The installed base's commands, as routes and other parts call them. Each is one use case in
 * one transaction, written in commands/<operation>.ts over the one pipeline of pipeline.ts
 * (load → expected version → state → guard → mutate → persist → history → outbox); this class
 * only says which transaction a command runs in.
 */
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, type Pool, type Tx } from '../platform/db.ts';
import { jobScheduler, type JobScheduler } from '../platform/scheduler.ts';
import { activateSubscriptionWhenDue, autoRenewSubscriptionWhenDue, cancelSubscription, expireSubscriptionWhenDue } from './commands/subscription-dates.ts';
import { changeSubscriptionState, renewSubscription } from './commands/subscriptions.ts';
import { completeDisconnect, scheduleDisconnect, startDisconnect, unscheduleDisconnect } from './commands/disconnect.ts';
import { cancelActivation, completeActivation, completeActivationWithServices, createProductInstance, failActivation, resume, startActivation, suspend } from './commands/lifecycle.ts';
import { cancelModification, completeModification, failModification, startModification } from './commands/modification.ts';
import { move, replace } from './commands/move-and-replace.ts';
import { createPendingProductsForOrder } from './commands/order-add.ts';
import { releaseOrderItemHolds } from './commands/order-hold.ts';
import { createRelationship, endRelationship } from './commands/relationships.ts';
import { attachResourceInstance, attachServiceInstance, releaseResourceInstance, releaseServiceInstance } from './commands/services-and-resources.ts';
import type { Unit } from './pipeline.ts';
import type { CommandContext } from './types.ts';

// Imported from here by the test fixtures and scenarios.
export type { CreateProductInstanceInput } from './commands/lifecycle.ts';
export { addMonths } from './commands/subscriptions.ts';

export class InventoryService {
  constructor(private readonly deps: ({ pool: Pool; clock: Clock } | { tx: Tx; now: string }) & { jobs?: JobScheduler }) {}

  /**
   * The same commands inside a transaction the caller owns: orders and fulfillment change
   * the installed base through these commands (seed 000 §18), together with their own rows,
   * so that an order item and its assets change in one transaction or not at all.
   */
  static within(tx: Tx, now: string, jobs?: JobScheduler): InventoryService {
    return new InventoryService({ tx, now, jobs });
  }

  // A product instance's life: commands/lifecycle.ts, commands/disconnect.ts
  readonly createProductInstance = this.command(createProductInstance);
  readonly startActivation = this.command(startActivation);
  readonly completeActivation = this.command(completeActivation);
  readonly completeActivationWithServices = this.command(completeActivationWithServices);
  readonly failActivation = this.command(failActivation);
  readonly cancelActivation = this.command(cancelActivation);
  readonly suspend = this.command(suspend);
  readonly resume = this.command(resume);
  readonly startDisconnect = this.command(startDisconnect);
  readonly completeDisconnect = this.command(completeDisconnect);
  readonly scheduleDisconnect = this.command(scheduleDisconnect);
  readonly unscheduleDisconnect = this.command(unscheduleDisconnect);

  // Changes to what it is or where: commands/modification.ts, commands/move-and-replace.ts
  readonly startModification = this.command(startModification);
  readonly completeModification = this.command(completeModification);
  readonly cancelModification = this.command(cancelModification);
  readonly failModification = this.command(failModification);
  readonly move = this.command(move);
  readonly replace = this.command(replace);

  // An order's hold on its assets: commands/order-hold.ts (holdAssetsForOrderInTx takes them)
  // and the new instances of its ADD items: commands/order-add.ts
  readonly createPendingProductsForOrder = this.command(createPendingProductsForOrder);
  readonly releaseOrderItemHolds = this.command(releaseOrderItemHolds);

  // Subscriptions: commands/subscriptions.ts
  readonly renewSubscription = this.command(renewSubscription);
  readonly changeSubscriptionState = this.command(changeSubscriptionState);
  readonly cancelSubscription = this.command(cancelSubscription);
  // …and their dates, as the scheduler's jobs run them: commands/subscription-dates.ts
  readonly activateSubscriptionWhenDue = this.command(activateSubscriptionWhenDue);
  readonly expireSubscriptionWhenDue = this.command(expireSubscriptionWhenDue);
  readonly autoRenewSubscriptionWhenDue = this.command(autoRenewSubscriptionWhenDue);

  // Services, resources and relationships: commands/services-and-resources.ts, commands/relationships.ts
  readonly attachServiceInstance = this.command(attachServiceInstance);
  readonly releaseServiceInstance = this.command(releaseServiceInstance);
  readonly attachResourceInstance = this.command(attachResourceInstance);
  readonly releaseResourceInstance = this.command(releaseResourceInstance);
  readonly createRelationship = this.command(createRelationship);
  readonly endRelationship = this.command(endRelationship);

  /**
   * A use case as a command of this service: it runs in the caller's transaction (`within`),
   * else in a new tenant transaction at the clock's now.
   */
  private command<A extends unknown[], T>(useCase: (u: Unit, ...args: A) => Promise<T>): (ctx: CommandContext, ...args: A) => Promise<T> {
    return async (ctx, ...args) => {
      const jobs = this.deps.jobs ?? jobScheduler;
      if ('tx' in this.deps) return useCase({ tx: this.deps.tx, ctx, now: this.deps.now, jobs }, ...args);
      const { pool, clock } = this.deps;
      // The tenant's time: its test clock's when it is on one (TenantClocks), else real time.
      return inTenantTransaction(pool, ctx.tenantId, (tx) => useCase({ tx, ctx, now: clock.now(ctx.tenantId).toISOString(), jobs }, ...args));
    };
  }
}
