// The public surface of events/: other parts import from here only (eslint.config.js enforces it).
export { appendToOutbox, buildEvent, eventPayload, type OutboxEvent } from './outbox.ts';
