/**
 * Every error a user can see (RFC 9457). The table below is the one source of the problem types:
 * each slug's status and title, and what it means (served at /problems/{type}, listed in the
 * OpenAPI document). Each error class is made from its row by `problem(slug)`, so a class cannot
 * drift from what is documented. The `type` slug is part of the public contract: never rename one.
 */

export interface ProblemType {
  status: number;
  title: string;
  description: string;
}

const TABLE = {
  'validation-error': { status: 400, title: 'Request is not valid', description: 'A field of the body, path or query is missing or malformed. `errors[]` names each field (JSON pointer style) and what is wrong. Nothing was changed.' },
  unauthorized: { status: 401, title: 'Missing or invalid API key', description: 'Send `Authorization: Bearer <key>`. The key may be unknown or revoked.' },
  forbidden: { status: 403, title: 'The API key role may not do this', description: 'Viewer keys can only read; admin-only endpoints need an admin key.' },
  'not-found': { status: 404, title: 'Not found', description: 'The resource does not exist in your tenant.' },
  'concurrent-modification': { status: 409, title: 'The resource changed since the version you expected', description: 'The `expectedVersion` you sent is stale, or another transaction changed the row first. Reload, decide again, and retry with the current version. Nothing was written and no event was emitted.' },
  'operation-in-progress': { status: 409, title: 'Another operation is active on this asset', description: 'A different order item holds the operation guard of the product instance (`heldBy`). Wait for it to finish or amend that order.' },
  'illegal-transition': { status: 409, title: 'The command is not allowed in the current state', description: '`allowedCommands` lists what the resource accepts in its current `state`.' },
  'invalid-relationship': { status: 422, title: 'The relationship breaks a relationship rule', description: 'Self links, links across accounts, a second parent, and cycles of PARENT_OF/ADDON_OF are refused.' },
  'duplicate-relationship': { status: 409, title: 'The relationship already exists', description: 'A current relationship with the same source, target and type exists.' },
  'business-rule-violation': { status: 422, title: 'The request breaks a business rule', description: 'The request is well formed but a rule of the domain refuses it; `detail` says which.' },
  'duplicate-code': { status: 409, title: 'The code is already used', description: 'Catalog entities and price rules have a stable `code`, unique in your tenant; a new version keeps the code of its id. Pick another code, or create a new version of the entity that has it.' },
  'draft-exists': { status: 409, title: 'A draft version already exists', description: 'A catalog entity has at most one draft at a time (`draftVersion`). Edit it with PUT …/versions/{version}, or publish it, then create the next version.' },
  'promo-exhausted': { status: 422, title: 'The promotion has no redemptions left', description: 'The promo rule reached its `maxRedemptions`. Nothing was recorded; price without the promo code.' },
  'idempotency-key-reuse': { status: 422, title: 'Idempotency-Key was already used with a different request', description: 'Each Idempotency-Key belongs to one request body and path. Use a new key for a new request.' },
  'idempotency-in-progress': { status: 409, title: 'A request with this Idempotency-Key is still being processed', description: 'Retry after the first request has finished; you will then get its response.' },
  'payload-too-large': { status: 413, title: 'Request body too large', description: 'Request bodies are limited to 1 MiB.' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type', description: 'Send JSON bodies with `Content-Type: application/json`.' },
  'uri-too-long': { status: 414, title: 'A path parameter is too long', description: 'Path parameters are at most 100 characters (ids are uuids). Refused before authentication; nothing was changed.' },
  'headers-too-large': { status: 431, title: 'Request headers too large', description: 'The request line and headers together are limited to 16 KiB (Node\'s maxHeaderSize). Refused before authentication; the connection is closed.' },
  'request-timeout': { status: 408, title: 'Request timeout', description: 'The request was not received completely in time; the connection is closed. Nothing was changed.' },
  'malformed-request': { status: 400, title: 'The request is not valid HTTP', description: 'The bytes received are not an HTTP/1.1 request; the connection is closed. Nothing was changed.' },
  'stale-quote': { status: 409, title: 'The installed base changed since the quote was made', description: '`changedInstances` lists each product instance whose version moved since the quote\'s snapshot (quoted and current version). Make a new quote.' },
  'quote-expired': { status: 409, title: 'The quote has expired', description: 'Quotes are valid until `expiresAt` (configurable: TENURE_QUOTE_VALIDITY_HOURS, or less per quote with `validForHours`). Make a new quote.' },
  'point-of-no-return': { status: 409, title: 'Work past its point of no return would be affected', description: 'An amendment or cancellation of an order in flight would affect a fulfillment task (`task`) that has started and cannot be undone (activate, deactivate, release, move). Nothing was changed. Let the order finish, then place a new order.' },
  'bad-signature': { status: 401, title: 'The callback signature does not verify', description: 'Callbacks from external systems carry `X-Tenure-Timestamp` and `X-Tenure-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` made with the provisioner\'s shared secret, within 300 s of our clock. Nothing was changed.' },
  'database-unavailable': { status: 503, title: 'The database is unavailable', description: 'Tenure cannot reach its PostgreSQL (restarting, failing over, or out of connections). The request was not completed; retry after the `Retry-After` seconds. A write may have committed only if the connection broke during its commit: retry a POST with the same `Idempotency-Key` to get its one outcome. `GET /health` answers this type while the database is away.' },
  'test-clock-exists': { status: 409, title: 'The tenant is on a test clock already', description: 'A tenant has at most one test clock (`clockId`), for good: advance that one.' },
  'test-clock-advancing': { status: 409, title: 'The test clock is advancing', description: 'An advance of this clock is running (to `targetTime`). `GET /test-clocks/{id}` shows its progress; advance again once it is `ready`. Nothing was changed.' },
  'tenant-has-scheduled-work': { status: 409, title: 'The tenant has jobs scheduled on real time', description: 'A tenant is put on a test clock before its first date-driven change (a subscription with dates): jobs already scheduled on real time would otherwise fire on real time. Use a new tenant for testing. Nothing was changed.' },
  'internal-error': { status: 500, title: 'Internal error', description: 'A bug in Tenure. The transaction was rolled back. Please report it with the `instance` id.' },
} as const satisfies Record<string, ProblemType>;

export type ProblemTypeSlug = keyof typeof TABLE;

/** The documentation of every problem type, served at /problems/{type}. */
export const PROBLEM_TYPES: Readonly<Record<string, ProblemType>> = TABLE;

export abstract class ProblemError extends Error {
  abstract readonly type: string;
  abstract readonly status: number;
  abstract readonly title: string;
  /** Extra members of the problem document, e.g. `allowedCommands`. */
  readonly extensions: Record<string, unknown>;

  constructor(detail: string, extensions: Record<string, unknown> = {}) {
    super(detail);
    this.extensions = extensions;
  }
}

/** The base class of the errors of one problem type: its `type`, `status` and `title` come from the table. */
function problem<T extends ProblemTypeSlug>(slug: T) {
  const { status, title } = TABLE[slug];
  return class extends ProblemError {
    readonly type = slug;
    readonly status = status;
    readonly title = title;
  };
}

export interface FieldError {
  field: string;
  message: string;
}

export class ValidationError extends problem('validation-error') {
  constructor(detail: string, readonly errors: FieldError[]) {
    super(detail, { errors });
  }
  static field(field: string, message: string): ValidationError {
    return new ValidationError(`${field}: ${message}`, [{ field, message }]);
  }
}

export class UnauthorizedError extends problem('unauthorized') {}
export class ForbiddenError extends problem('forbidden') {}
export class InvalidRelationshipError extends problem('invalid-relationship') {}
export class DuplicateRelationshipError extends problem('duplicate-relationship') {}
export class BusinessRuleError extends problem('business-rule-violation') {}
export class IdempotencyKeyReuseError extends problem('idempotency-key-reuse') {}
export class IdempotencyInProgressError extends problem('idempotency-in-progress') {}
export class DuplicateCodeError extends problem('duplicate-code') {}
export class DraftExistsError extends problem('draft-exists') {}
export class PromoExhaustedError extends problem('promo-exhausted') {}
export class BadSignatureError extends problem('bad-signature') {}
export class TestClockExistsError extends problem('test-clock-exists') {}
export class TestClockAdvancingError extends problem('test-clock-advancing') {}
export class TenantHasScheduledWorkError extends problem('tenant-has-scheduled-work') {}
/** Made with `{ quoteId, expiresAt }` as extensions. */
export class QuoteExpiredError extends problem('quote-expired') {}

export class NotFoundError extends problem('not-found') {
  static of(kind: string, id: string): NotFoundError {
    return new NotFoundError(`${kind} ${id} does not exist`, { resource: kind, id });
  }
}

export class ConcurrentModificationError extends problem('concurrent-modification') {
  constructor(kind: string, id: string, expectedVersion: number, currentVersion: number | null) {
    super(
      currentVersion === null
        ? `${kind} ${id} was changed by another transaction while this one ran (expected version ${expectedVersion})`
        : `${kind} ${id} is at version ${currentVersion}, not the expected version ${expectedVersion}`,
      { resource: kind, id, expectedVersion, currentVersion },
    );
  }
}

export class OperationInProgressError extends problem('operation-in-progress') {
  constructor(productInstanceId: string, holder: { orderId: string | null; orderItemId: string | null; operationType: string }) {
    super(
      `product instance ${productInstanceId} is held by ${holder.operationType} of order ${holder.orderId ?? '(none)'}` +
        ` item ${holder.orderItemId ?? '(none)'}`,
      { productInstanceId, heldBy: { orderId: holder.orderId, orderItemId: holder.orderItemId, operationType: holder.operationType } },
    );
  }
}

export class IllegalTransitionError extends problem('illegal-transition') {
  /** `extra`: more members, e.g. the `field` of the order item that asked for it. */
  constructor(kind: string, id: string, state: string, command: string, allowedCommands: readonly string[], extra: Record<string, unknown> = {}) {
    super(
      `${kind} ${id} is ${state}: ${command} is not allowed; allowed: ${allowedCommands.length ? allowedCommands.join(', ') : 'none'}`,
      { resource: kind, id, state, command, allowedCommands, ...extra },
    );
  }
}

export class PointOfNoReturnError extends problem('point-of-no-return') {
  constructor(task: { taskId: string; taskNumber: number; step: string; status: string; orderId: string; itemId: string }) {
    super(
      `task ${task.taskNumber} (${task.step}, ${task.status}) of order ${task.orderId} is past its point of no return; the amendment would affect it`,
      { task: { taskId: task.taskId, taskNumber: task.taskNumber, step: task.step, status: task.status, orderId: task.orderId, itemId: task.itemId } },
    );
  }
}

export class StaleQuoteError extends problem('stale-quote') {
  /** `changed`: quotes/model.ts's stale instances, sent whole as `changedInstances`. */
  constructor(quoteId: string, changed: readonly { productInstanceId: string; quotedVersion: number | null; currentVersion: number | null }[]) {
    super(`quote ${quoteId} was made against versions that changed: ${changed.map((c) => `${c.productInstanceId} (quoted v${c.quotedVersion ?? '-'}, now v${c.currentVersion ?? 'gone'})`).join(', ')}; make a new quote`, { quoteId, changedInstances: changed });
  }
}

/**
 * The database cannot be reached or dropped the connection (server restarting, backend
 * terminated, pool timed out waiting for a connection). Retryable: the HTTP layer answers 503
 * with `Retry-After`. `reason` says what happened in a few words without addresses; `cause`
 * keeps the driver's error for the logs.
 */
export class DatabaseUnavailableError extends problem('database-unavailable') {
  /** What the Retry-After header says: the pool gives up on a connection within a few seconds. */
  static readonly RETRY_AFTER_SECONDS = 5;
  constructor(readonly reason: string, readonly cause?: unknown) {
    super(`the database is unavailable: ${reason}; retry in a few seconds`);
  }
}
