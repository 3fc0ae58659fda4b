/**
 * The order actions (seed 000 §11–13), one module each (the shape is in action.ts).
 *
 * Adding an action is a new module in this folder plus its line below: nothing else in the
 * code switches on an action's name — the submission pipeline (orders/submit.ts), the item
 * lifecycle (orders/lifecycle.ts) and fulfillment's planner ask the module, and the API's list
 * of actions is this registry's. Only data names them: the database checks order_item.action
 * and the guard's operation type (migrations 0004, 0008; inventory's OPERATION_TYPES), so a
 * new action also comes with its migration; a new input field goes into the item's schema
 * (orders/routes.ts, OrderItemInput).
 *
 * What an item does to its assets, by action:
 *
 *   action      at submission              when its tasks are done                 when it fails
 *   ADD         instance PENDING_ACTIVATION services, resources attached; ACTIVE  ERROR, error recorded
 *   MODIFY      PENDING_MODIFICATION        change applied, new version, ACTIVE     ACTIVE unchanged, error recorded
 *   DISCONNECT  guard held (future date:    DISCONNECTED (start + complete) at the    previous state, schedule withdrawn,
 *               scheduled on the product)   requested date, else now                  guard released
 *   SUSPEND     guard held                  SUSPENDED                                previous state, guard released
 *   RESUME      guard held                  ACTIVE                                   previous state, guard released
 *   MOVE        guard held                  moved; new services and resources from   previous state, guard released
 *                                           the tasks, old ones released
 *   REPLACE     guard held                  new instance ACTIVE with the tasks'      previous state, guard released
 *                                           services, relationships re-pointed, old
 *                                           DISCONNECTED
 *   RENEW       guard held                  subscription end date moved              previous state, guard released
 *
 * Withdrawn (an amendment or a cancellation), an item leaves its assets as before submission:
 * a new instance CANCELLED, a modification or a scheduled disconnect withdrawn, the guard released.
 */
import { productInstanceTransition, type ProductInstanceState } from '../../inventory/index.ts';
import type { OrderActionModule } from './action.ts';
import { add } from './add.ts';
import { disconnect } from './disconnect.ts';
import { modify } from './modify.ts';
import { move } from './move.ts';
import { renew } from './renew.ts';
import { replace } from './replace.ts';
import { resume } from './resume.ts';
import { suspend } from './suspend.ts';

export const ORDER_ACTION_MODULES = {
  ADD: add,
  MODIFY: modify,
  DISCONNECT: disconnect,
  SUSPEND: suspend,
  RESUME: resume,
  MOVE: move,
  REPLACE: replace,
  RENEW: renew,
} satisfies Record<string, OrderActionModule>;

export type OrderAction = keyof typeof ORDER_ACTION_MODULES;
export const ORDER_ACTIONS = Object.keys(ORDER_ACTION_MODULES) as OrderAction[];

/** The actions a product instance in `state` can be the target of. */
export function actionsAllowedOn(state: ProductInstanceState): OrderAction[] {
  return ORDER_ACTIONS.filter((action) => {
    const target = ORDER_ACTION_MODULES[action].target;
    if (!target) return false;
    return target.command ? productInstanceTransition(state, target.command).ok : !['DISCONNECTED', 'CANCELLED'].includes(state);
  });
}

export type { DraftItem, ItemEnv, OrderActionModule, Submission } from './action.ts';
