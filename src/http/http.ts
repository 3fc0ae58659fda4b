/** Shared HTTP pieces: request context, pagination, common schemas, the route shapes every part repeats. */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../platform/errors.ts';
import { isInstant } from '../platform/instants.ts';
import { UUID_PATTERN } from '../platform/ids.ts';
import type { CommandContext, Principal } from '../platform/context.ts';
import type { IdempotencyRecord } from './idempotency.ts';

// Re-exported for the routes, which validate with them too.
export { canonicalInstant, isInstant } from '../platform/instants.ts';
export { UUID_PATTERN } from '../platform/ids.ts';

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

/** Where a page in creation order starts: after the row of this (createdAt, id). */
export interface CreationCursor {
  createdAt: string;
  id: string;
}

/** Keyset page over (createdAt, id): fetch one more than asked to know if there is a next page. */
export function keysetPage<T>(rows: T[], limit: number, key: (row: T) => CreationCursor) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(key(last)) : null };
}

/**
 * The answer of a list route paged in creation order: reads the `limit` and `cursor` of its
 * query (PageQuery), fetches one row more than asked, and answers `{ items, nextCursor }`.
 */
export async function pageByCreation<T extends { createdAt: string }>(
  query: { limit?: number; cursor?: string },
  idOf: (row: T) => string,
  fetch: (page: { after: CreationCursor | null; limit: number }) => Promise<T[]>,
) {
  const limit = query.limit ?? 50;
  const after = decodeCursor<CreationCursor>(query.cursor, isKeysetCursor);
  return keysetPage(await fetch({ after, limit: limit + 1 }), limit, (row) => ({ createdAt: row.createdAt, id: idOf(row) }));
}

/** `GET <url>/:id`: one resource by its id, read in the caller's tenant. */
export function getById(
  app: FastifyInstance,
  url: string,
  doc: { tags: string[]; summary: string; response: TSchema },
  read: (ctx: CommandContext, id: string) => Promise<unknown>,
): void {
  app.get<{ Params: { id: string } }>(url, { schema: { tags: doc.tags, summary: doc.summary, params: IdParams, response: { 200: doc.response } } },
    async (request) => read(contextOf(request), request.params.id));
}

/** Cursors are opaque but come back from clients: check every part before SQL sees it. */
export const isKeysetCursor = (v: any) =>
  v && typeof v.createdAt === 'string' && isInstant(v.createdAt) && typeof v.id === 'string' && UUID_PATTERN.test(v.id);
