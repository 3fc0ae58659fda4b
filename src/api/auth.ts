import type { FastifyInstance } from 'fastify';
import type { AccessService } from '../access/index.ts';
import { ForbiddenError, UnauthorizedError } from '../platform/errors.ts';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * API-key authentication (`Authorization: Bearer <key>` or `X-API-Key`) and the role rules:
 * viewers only read, admin-only routes need an admin key.
 */
export function installAuth(app: FastifyInstance, access: AccessService): void {
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config ?? {};
    if (config.public || !request.routeOptions.url) return;
    const header = request.headers.authorization;
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are Bearer too.
    const bearer = typeof header === 'string' ? /^bearer +(.*)$/i.exec(header) : null;
    const key = bearer ? bearer[1].trim() : request.headers['x-api-key'];
    if (typeof key !== 'string' || key.length === 0) throw new UnauthorizedError('send your API key as "Authorization: Bearer <key>"');
    const principal = await access.authenticate(key);
    if (!principal) throw new UnauthorizedError('the API key is unknown or revoked');
    request.principal = principal;
    if (config.adminOnly && principal.role !== 'admin') throw new ForbiddenError(`this endpoint needs an admin key; yours is ${principal.role}`);
    if (principal.role === 'viewer' && !READ_METHODS.has(request.method)) {
      throw new ForbiddenError('viewer keys can only read');
    }
  });
}
