/** Shared HTTP pieces: request context, pagination, common schemas. */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/service.ts';
import { ValidationError } from '../platform/errors.ts';
import type { CommandContext } from '../inventory/types.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    idempotency?: { tenantId: string; key: string };
  }
  interface FastifyContextConfig {
    /** Reachable without an API key. */
    public?: boolean;
    /** Only admin keys. */
    adminOnly?: boolean;
  }
}

export function contextOf(request: FastifyRequest): CommandContext {
  const principal = request.principal!;
  const header = request.headers['x-correlation-id'];
  return {
    tenantId: principal.tenantId,
    actor: { apiKeyId: principal.apiKeyId, role: principal.role },
    correlationId: typeof header === 'string' && header.length > 0 && header.length <= 200 ? header : request.id,
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

export const isKeysetCursor = (v: any) =>
  v && typeof v.createdAt === 'string' && !Number.isNaN(Date.parse(v.createdAt)) && typeof v.id === 'string' && /^[0-9a-f-]{36}$/i.test(v.id);
