// The public surface of orders/: other parts import from here only (eslint.config.js enforces it).
export { InFlightOrders, fulfillmentOutcomes } from './in-flight.ts';
export { type OrderAction } from './model.ts';
export { registerOrderRoutes } from './routes.ts';
export { OrderService } from './service.ts';
