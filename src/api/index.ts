// The public surface of api/: other parts import from here only (eslint.config.js enforces it).
export { buildServer } from './server.ts';
