/**
 * MOVE: takes a product instance to a new place; its add-ons follow it there (and are refused
 * with it when they cannot). At submission the target's guard is held; when its tasks are done
 * the target is at the new place with the services and resources the tasks set up there, the
 * old ones released; when they fail, or it is withdrawn, the guard is released and the target
 * is as it was.
 */
import type { JsonObject } from '../../platform/context.ts';
import { servicesFromTasks, type OrderActionModule } from './action.ts';

export const move: OrderActionModule = {
  target: {
    command: 'move:apply',
    // Add-ons are where their base is: they move with it, after it.
    cascade: { follows: (status) => status !== 'DISCONNECTED' && status !== 'CANCELLED', addOns: 'after' },
  },
  steps: { kind: 'build', last: 'move' },

  validate: (item) => item.place ? [] : [{ field: '/place', message: 'a MOVE item names the new place' }],

  async apply({ tx, ctx, inventory, cause, details }, target, tasks) {
    // The services configured at the new place, with the resources reserved there; an
    // offering whose specification names no services keeps its services, copied to the new place.
    const services = await servicesFromTasks(tx, ctx.tenantId, tasks);
    await inventory.move(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version, place: details.place as JsonObject, ...(services.length ? { services } : {}) });
    return target.productInstanceId;
  },
};
