// The public surface of customers/: other parts import from here only (eslint.config.js enforces it).
export { registerCustomerRoutes } from './routes.ts';
export { CustomerService, findAccountInTx, type Account, type AccountSegment } from './service.ts';
