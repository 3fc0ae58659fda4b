// The public surface of access/: other parts import from here only (eslint.config.js enforces it).
export { registerAccessRoutes } from './routes.ts';
export { AccessService, generateKey } from './service.ts';
