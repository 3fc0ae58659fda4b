// The public surface of orders/: other parts import from here only (eslint.config.js enforces it).
export { completeItemInTx, failItemInTx, finishWithdrawalInTx, lockOrderInTx, markItemStartedInTx, orderViewInTx, requestOrderCancellationInTx, rerunFailedItemsInTx, withdrawItemInTx, type TaskOutcome } from './lifecycle.ts';
export { ORDER_FINAL_STATES, type OrderAction } from './model.ts';
export { registerOrderRoutes } from './routes.ts';
export { OrderService } from './service.ts';
export { type OrderItemRecord } from './store.ts';
