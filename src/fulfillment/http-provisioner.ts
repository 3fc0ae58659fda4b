/**
 * A provisioner that reaches an external system over HTTP (seed 003 B1): one signed JSON POST
 * per task, the response mapped to a typed ProvisioningResult. Remote failures never throw;
 * they come back as `failed` with `retryable` telling the orchestrator whether to try again.
 *
 * Signature scheme (v1) — the same one Tenure uses for its webhooks and expects on callbacks:
 *
 *   X-Tenure-Timestamp: <unix seconds, decimal digits>
 *   X-Tenure-Signature: v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body bytes>")>
 *
 * The receiver recomputes the HMAC over the exact bytes it received (not a re-serialised
 * JSON), compares in constant time, and refuses a timestamp more than the tolerance (default
 * 300 s) away from its own clock, so a captured request cannot be replayed later. The
 * signature header may carry several comma-separated `v1=` values (e.g. while a secret is
 * rotated); one match is enough. Timestamps are wall-clock time, because the other side
 * checks them against its own wall clock: never sign with a tenant's test clock.
 *
 * Idempotency: every call carries `Idempotency-Key: <task.idempotencyKey>`, stable across
 * retries, and `X-Correlation-Id`. The body is the same on every retry apart from `attempt`
 * (and the headers apart from the timestamp and signature). A system that has already done
 * the work answers 409 `{ status: 'already-provisioned', externalId }`, which is `done`.
 *
 * Response mapping:
 *   200/201 { status: 'done', externalId?, data? }      → done
 *   202, or 2xx { status: 'accepted', externalId? }      → waiting (the system calls back later)
 *   2xx { status: 'already-provisioned', externalId? }   → done
 *   409 { status: 'already-provisioned', externalId? }   → done (idempotent replay on their side)
 *   2xx with invalid JSON or an unknown shape           → failed, retryable, `bad-response`
 *   3xx (redirects are not followed)                     → failed, not retryable, `http-<status>`
 *   408, 429                                             → failed, retryable, `http-<status>`
 *   other 4xx                                            → failed, not retryable, `http-<status>`
 *   5xx                                                  → failed, retryable, `http-<status>`
 *   connection refused/reset, DNS, TLS…                  → failed, retryable, `network-error`
 *   no complete answer within timeoutMs                  → failed, retryable, `timeout`
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../platform/clock.ts';
import type { Provisioner, ProvisioningResult, ProvisioningTask } from './provisioner.ts';

export const TIMESTAMP_HEADER = 'X-Tenure-Timestamp';
export const SIGNATURE_HEADER = 'X-Tenure-Signature';
export const CORRELATION_HEADER = 'X-Correlation-Id';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const SIGNATURE_VERSION = 'v1';
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_TOLERANCE_SECONDS = 300;
/** Longest remote error text copied into a result's message. */
const MAX_MESSAGE_LENGTH = 500;

export interface HttpProvisionerConfig {
  /** The provisioner's code in the registry. */
  code: string;
  /** Where provision calls are POSTed (http or https). */
  url: string;
  /** Where compensate calls are POSTed; `url` when not given. */
  compensateUrl?: string;
  /** The shared HMAC key; the external system signs its callbacks with the same key. */
  secret: string | Buffer;
  /** The whole exchange (connect, headers and body) must finish within this. Default 10000. */
  timeoutMs?: number;
  /** Injected for tests or a custom agent; the global fetch by default. */
  fetch?: typeof fetch;
  /** Wall clock for signature timestamps (see the comment at the top). Default: system clock. */
  clock?: Clock;
}

export class HttpProvisionerConfigError extends Error {}

/** The JSON body of every call: the task as the orchestrator gives it. */
export interface HttpProvisioningRequestBody extends ProvisioningTask {
  /** Only on compensate calls: the step being undone. */
  compensatedStep?: string;
}

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<rawBody>">`. */
export function signPayload(secret: string | Buffer, timestamp: number | string, rawBody: string | Buffer): string {
  return `${SIGNATURE_VERSION}=${hmacHex(secret, String(timestamp), rawBody)}`;
}

function hmacHex(secret: string | Buffer, timestamp: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** A header value as node:http gives it (repeated headers arrive as arrays and are refused). */
type HeaderValue = string | readonly string[] | null | undefined;

/**
 * Checks a request signed with the v1 scheme (a callback from an external system, or a
 * webhook at its receiver). Refuses a missing or garbled header, a timestamp further than
 * `toleranceSeconds` from `now` in either direction, and a signature that does not match.
 */
export function verifyCallbackSignature(input: {
  secret: string | Buffer;
  timestampHeader: HeaderValue;
  signatureHeader: HeaderValue;
  rawBody: string | Buffer;
  now: Date;
  toleranceSeconds?: number;
}): SignatureCheck {
  const { secret, rawBody, now } = input;
  const toleranceSeconds = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (secret.length === 0) return { ok: false, reason: 'no secret is configured to check the signature with' };

  const timestamp = input.timestampHeader;
  if (timestamp === undefined || timestamp === null || timestamp === '') return { ok: false, reason: `${TIMESTAMP_HEADER} header is missing` };
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) {
    return { ok: false, reason: `${TIMESTAMP_HEADER} header is not unix seconds` };
  }

  const header = input.signatureHeader;
  if (header === undefined || header === null || header === '') return { ok: false, reason: `${SIGNATURE_HEADER} header is missing` };
  if (typeof header !== 'string') return { ok: false, reason: `${SIGNATURE_HEADER} header is repeated` };
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const match = /^\s*v1=([0-9a-fA-F]{64})\s*$/.exec(part);
    if (match) candidates.push(Buffer.from(match[1], 'hex'));
  }
  if (candidates.length === 0) return { ok: false, reason: `${SIGNATURE_HEADER} header has no v1=<64 hex digits> signature` };

  const ageSeconds = Math.floor(now.getTime() / 1000) - Number(timestamp);
  if (Math.abs(ageSeconds) > toleranceSeconds) {
    return {
      ok: false,
      reason: `${TIMESTAMP_HEADER} is ${Math.abs(ageSeconds)} s ${ageSeconds > 0 ? 'in the past' : 'in the future'}, beyond the tolerance of ${toleranceSeconds} s`,
    };
  }

  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  // Every candidate is compared (no early exit), each in constant time; all have 32 bytes.
  let matched = false;
  for (const candidate of candidates) matched = timingSafeEqual(candidate, expected) || matched;
  return matched ? { ok: true } : { ok: false, reason: `${SIGNATURE_HEADER} does not match the body and timestamp` };
}

export class HttpProvisioner implements Provisioner {
  private readonly provisionerCode: string;
  private readonly url: string;
  private readonly compensateUrl: string;
  private readonly secret: string | Buffer;
  readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly clock: Clock;

  constructor(config: HttpProvisionerConfig) {
    if (typeof config.code !== 'string' || config.code.trim() === '') throw new HttpProvisionerConfigError('HttpProvisioner needs a non-empty code');
    const label = `HttpProvisioner "${config.code}"`;
    this.url = checkUrl(label, 'url', config.url);
    this.compensateUrl = config.compensateUrl === undefined ? this.url : checkUrl(label, 'compensateUrl', config.compensateUrl);
    if ((typeof config.secret !== 'string' && !Buffer.isBuffer(config.secret)) || config.secret.length === 0) {
      throw new HttpProvisionerConfigError(`${label} needs a non-empty secret`);
    }
    const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new HttpProvisionerConfigError(`${label}: timeoutMs must be a positive integer, not ${timeoutMs}`);
    this.provisionerCode = config.code;
    this.secret = config.secret;
    this.timeoutMs = timeoutMs;
    this.fetchImpl = config.fetch ?? globalThis.fetch;
    this.clock = config.clock ?? systemClock;
  }

  code(): string {
    return this.provisionerCode;
  }

  provision(task: ProvisioningTask): Promise<ProvisioningResult> {
    return this.send(this.url, task, task.idempotencyKey, task.correlationId);
  }

  /**
   * Asks the system to undo the task: the same call with step `compensate` (the undone step
   * in `compensatedStep`). Its Idempotency-Key is the task's key + `:compensate`, so a system
   * that dedupes by key does not mistake the undo for a replay of the provision call.
   */
  compensate(task: ProvisioningTask): Promise<ProvisioningResult> {
    const body = { ...task, step: 'compensate', compensatedStep: task.step, idempotencyKey: `${task.idempotencyKey}:compensate` };
    return this.send(this.compensateUrl, body, body.idempotencyKey, task.correlationId);
  }

  private async send(url: string, body: HttpProvisioningRequestBody, idempotencyKey: string, correlationId: string): Promise<ProvisioningResult> {
    const rawBody = JSON.stringify(body);
    const timestamp = Math.floor(this.clock.now().getTime() / 1000);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      const response = await this.fetchImpl(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          [IDEMPOTENCY_HEADER]: idempotencyKey,
          [CORRELATION_HEADER]: correlationId,
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signPayload(this.secret, timestamp, rawBody),
        },
        body: rawBody,
        redirect: 'manual',
        signal: controller.signal,
      });
      // Reading the body is inside the timeout too: a server that stalls mid-body times out.
      const text = await response.text();
      return mapResponse(response.status, response.statusText, text);
    } catch (error) {
      if (timedOut) return failed('timeout', `${describe(url)} did not answer within ${this.timeoutMs} ms`, true);
      return failed('network-error', `${describe(url)} could not be reached: ${errorText(error)}`, true);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Maps a complete HTTP answer to a result (pure; exported for the tests of edge cases). */
export function mapResponse(status: number, statusText: string, text: string): ProvisioningResult {
  const parsed = parseJson(text);
  if (status >= 200 && status < 300) {
    if (parsed === INVALID) return failed('bad-response', `HTTP ${status} with a body that is not JSON: ${truncate(text)}`, true);
    if (parsed === EMPTY) {
      if (status === 202) return { outcome: 'waiting', externalId: null };
      return failed('bad-response', `HTTP ${status} without a body; expected { "status": "done" | "accepted" }`, true);
    }
    if (!isObject(parsed)) return failed('bad-response', `HTTP ${status} with a JSON body that is not an object`, true);
    const externalId = readExternalId(parsed.externalId);
    if (externalId === INVALID) return failed('bad-response', `HTTP ${status}: externalId must be a string or a number`, true);
    const remoteStatus = parsed.status;
    if (status === 202 || remoteStatus === 'accepted') {
      const message = typeof parsed.message === 'string' ? parsed.message : undefined;
      return { outcome: 'waiting', externalId, ...(message !== undefined ? { message } : {}) };
    }
    if (remoteStatus === 'done' || remoteStatus === 'already-provisioned') {
      if (parsed.data !== undefined && parsed.data !== null && !isObject(parsed.data)) {
        return failed('bad-response', `HTTP ${status}: data must be a JSON object`, true);
      }
      return { outcome: 'done', externalId, ...(isObject(parsed.data) ? { data: parsed.data } : {}) };
    }
    return failed('bad-response', `HTTP ${status} with status ${JSON.stringify(remoteStatus ?? null)}; expected "done" or "accepted"`, true);
  }
  if (status === 409 && isObject(parsed) && parsed.status === 'already-provisioned') {
    const externalId = readExternalId(parsed.externalId);
    if (externalId !== INVALID) return { outcome: 'done', externalId };
  }
  const code = `http-${status}`;
  const message = `HTTP ${status}${statusText ? ' ' + statusText : ''}${remoteMessage(parsed, text)}`;
  if (status >= 300 && status < 400) return failed(code, `${message} (redirects are not followed: configure the final URL)`, false);
  if (status === 408 || status === 429 || status >= 500) return failed(code, message, true);
  return failed(code, message, false);
}

const INVALID = Symbol('invalid');
const EMPTY = Symbol('empty');

function parseJson(text: string): unknown {
  if (text.trim() === '') return EMPTY;
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readExternalId(value: unknown): string | null | typeof INVALID {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return INVALID;
}

/** The remote system's own words: `message`, `detail` (problem+json), `error` or `title`; else the raw text. */
function remoteMessage(parsed: unknown, text: string): string {
  if (isObject(parsed)) {
    for (const key of ['message', 'detail', 'error', 'title']) {
      const value = parsed[key];
      if (typeof value === 'string' && value.trim() !== '') return `: ${truncate(value)}`;
    }
  }
  return text.trim() === '' ? '' : `: ${truncate(text)}`;
}

function truncate(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > MAX_MESSAGE_LENGTH ? trimmed.slice(0, MAX_MESSAGE_LENGTH) + '…' : trimmed;
}

function failed(code: string, message: string, retryable: boolean): ProvisioningResult {
  return { outcome: 'failed', code, message, retryable };
}

/** The URL without credentials or query, for messages. */
function describe(url: string): string {
  const u = new URL(url);
  return `POST ${u.origin}${u.pathname}`;
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici wraps the real reason ("fetch failed") in `cause`.
  const cause = (error as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return error.message;
}

function checkUrl(label: string, field: string, value: unknown): string {
  if (typeof value !== 'string') throw new HttpProvisionerConfigError(`${label}: ${field} must be a URL`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new HttpProvisionerConfigError(`${label}: ${field} is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HttpProvisionerConfigError(`${label}: ${field} must be http or https`);
  return value;
}
