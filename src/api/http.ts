/** Shared HTTP pieces: request context, pagination, common schemas. */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/service.ts';
import { ValidationError } from '../platform/errors.ts';
import type { CommandContext } from '../inventory/types.ts';
import type { IdempotencyRecord } from './idempotency.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    idempotency?: IdempotencyRecord;
  }
  interface FastifyContextConfig {
    /** Reachable without an API key. */
    public?: boolean;
    /** Only admin keys. */
    adminOnly?: boolean;
    /**
     * Top-level members of the response that hold a secret shown once (a new API key): the
     * Idempotency-Key record stores them as null, so a replay answers everything but the secret.
     */
    secretResponseMembers?: readonly string[];
  }
}

export function contextOf(request: FastifyRequest): CommandContext {
  const principal = request.principal!;
  const header = request.headers['x-correlation-id'];
  // The idempotency hook refuses a POST whose key is not 1 to 200 characters before this runs.
  const key = request.headers['idempotency-key'];
  return {
    tenantId: principal.tenantId,
    actor: { apiKeyId: principal.apiKeyId, role: principal.role },
    correlationId: typeof header === 'string' && header.length > 0 && header.length <= 200 ? header : request.id,
    idempotencyKey: request.method === 'POST' && typeof key === 'string' && key.length > 0 && key.length <= 200 ? key : null,
  };
}

export const Uuid = Type.String({ format: 'uuid' });
export const DateTime = Type.String({ format: 'date-time' });
export const JsonObjectSchema = Type.Record(Type.String(), Type.Unknown());
export const IdParams = Type.Object({ id: Uuid });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Page size (1-200).' })),
  cursor: Type.Optional(Type.String({ maxLength: 500, description: 'The nextCursor of the previous page.' })),
};

export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
  });
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (value: any) => boolean): T | null {
  if (!cursor) return null;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (check(value)) return value as T;
  } catch {
    // fall through to the error below
  }
  throw ValidationError.field('/cursor', 'is not a cursor this endpoint returned');
}

/** Keyset page over (createdAt, id): fetch one more than asked to know if there is a next page. */
export function keysetPage<T>(rows: T[], limit: number, key: (row: T) => { createdAt: string; id: string }) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(key(last)) : null };
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 date-time that JavaScript and PostgreSQL both read as the same instant: a real
 * calendar day, no leap second (`:60`), no hour 24, and a UTC year from 1 to 9999. The
 * `date-time` format of every schema uses this (see server.ts), so a value that passes
 * validation never turns into an Invalid Date or a database error later.
 */
export function isInstant(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (days === undefined || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return false;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return false;
  const time = Date.parse(value.toUpperCase());
  if (Number.isNaN(time)) return false;
  const utcYear = new Date(time).getUTCFullYear();
  return utcYear >= 1 && utcYear <= 9999;
}

/** The canonical form of an instant that passed `isInstant`: UTC, milliseconds, `Z`. */
export function canonicalInstant(value: string): string {
  return new Date(value.toUpperCase()).toISOString();
}

/** Cursors are opaque but come back from clients: check every part before SQL sees it. */
export const isKeysetCursor = (v: any) =>
  v && typeof v.createdAt === 'string' && isInstant(v.createdAt) && typeof v.id === 'string' && UUID_PATTERN.test(v.id);
