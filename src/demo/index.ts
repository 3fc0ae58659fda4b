// The public surface of demo/: other parts import from here only (eslint.config.js enforces it).
export { demoKey } from './key.ts';
export { ensureDemo } from './seed.ts';
