/** Assembles the HTTP API: auth, idempotency, problem+json errors, OpenAPI, routes. */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Services } from '../app.ts';
import { registerAccessRoutes } from '../access/index.ts';
import { registerCatalogRoutes } from '../catalog/index.ts';
import { registerCustomerRoutes } from '../customers/index.ts';
import { registerInventoryRoutes } from '../inventory/index.ts';
import { PROBLEM_TYPES } from '../platform/errors.ts';
import { registerPriceRuleRoutes } from '../pricing/index.ts';
import { registerQuoteRoutes } from '../quotes/index.ts';
import { registerOrderRoutes } from '../orders/index.ts';
import { registerFulfillmentRoutes } from '../fulfillment/index.ts';
import { registerTestClockRoutes } from '../clocks/index.ts';
import { installAuth } from './auth.ts';
import { isInstant, UUID_PATTERN } from '../http/http.ts';
import { installIdempotency } from '../http/idempotency.ts';
import { openApiDecorations } from './openapi.ts';
import { checkStorable, parseJsonBody } from '../http/json-input.ts';
import { clientErrorHandler, frameworkErrors, installProblemHandlers, MAX_PARAM_LENGTH, problemBody, sendProblem } from '../http/problems.ts';
import { buildValidator, capRequestIntegers } from '../http/validation.ts';

export async function buildServer(services: Services, options: { logger?: boolean | object } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // Ids are uuids; a longer path parameter is 414 uri-too-long (problem+json, see problems.ts).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    // While the server drains (SIGTERM), Fastify would answer a request that arrives on an open
    // keep-alive connection with its own 503, plain JSON and no Retry-After (the fault suite
    // saw it when the API was stopped under load). Served instead, as any other request: the
    // database is still open until the server has closed, and the answer says Connection: close.
    return503OnClosing: false,
    // Bodies are validated without type coercion, queries and paths with it (validation.ts).
    schemaController: { compilersFactory: { buildValidator } },
    ajv: {
      customOptions: { removeAdditional: false, allErrors: true },
      // ajv-formats' date-time accepts leap seconds and year 0000, which become an Invalid
      // Date or a PostgreSQL error (a 500) later: every date-time is checked by isInstant.
      onCreate: (ajv) => {
        ajv.addFormat('date-time', { type: 'string', validate: isInstant });
        // ajv-formats' uuid also takes a `urn:uuid:` prefix, which PostgreSQL's uuid type does
        // not read (a 500 at the first query): only the 8-4-4-4-12 hex form is a uuid here.
        ajv.addFormat('uuid', { type: 'string', validate: (value: string) => UUID_PATTERN.test(value) });
      },
    },
  });

  // Error responses and examples are added to the document in one place (openapi.ts), from
  // what each route is: its config (public, adminOnly), its schemas and its command.
  // Integers without a maximum of their own get the database's (validation.ts), before the
  // document and the validators read the schemas.
  app.addHook('onRoute', capRequestIntegers);
  const openApi = openApiDecorations();
  app.addHook('onRoute', openApi.onRoute);
  await app.register(swagger, {
    transformObject: openApi.transformObject,
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tenure API',
        version: '0.1.0',
        description: 'Subscription, order and installed-base engine. Authenticate with `Authorization: Bearer <API key>`. '
          + 'Every POST accepts an `Idempotency-Key` header. Errors are RFC 9457 problem+json; their `type` is stable and documented under /problems/{type}.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  // Before the UI plugin: its routes must inherit the problem+json handlers, and they are
  // public like /openapi.json (the UI only renders that document).
  installProblemHandlers(app);
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...(route.config ?? {}), public: true };
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // JSON bodies: one parser with the depth and prototype-key limits (json-input.ts). The
  // fulfillment callback route keeps its raw body and uses the same functions itself.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  installAuth(app, services.access);
  installIdempotency(app, services);
  // After the Idempotency-Key is taken (its 400 is stored like a schema 400), before the
  // schema: a string PostgreSQL cannot store exactly (lone surrogate, U+0000) or a number
  // JSON cannot carry exactly, anywhere in the body, query or path, is a 400 naming it.
  app.addHook('preValidation', async (request) => {
    checkStorable(request.body, '');
    checkStorable(request.query, '/querystring');
    checkStorable(request.params, '/params');
  });

  // An answer means the process is up: 200 when the database answers too, 503
  // `database-unavailable` (problem+json, Retry-After) when it does not; no answer at all means
  // the process is down (docs/api.md, Health).
  app.get('/health', {
    config: { public: true },
    schema: {
      tags: ['meta'],
      summary: 'Liveness and database reachability',
      description: '200 `{status: "ok", database: "up"}` when the process and its database answer; 503 `database-unavailable` when the process is up but its database is not. No answer: the process is down.',
      security: [],
    },
  }, async () => {
    await services.pool.query('select 1');
    return { status: 'ok', database: 'up' };
  });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  app.get('/problems/:type', {
    config: { public: true },
    schema: { tags: ['meta'], summary: 'What a problem type means', security: [], params: Type.Object({ type: Type.String() }) },
  }, async (request, reply) => {
    const { type } = request.params as { type: string };
    const doc = PROBLEM_TYPES[type];
    if (!doc) return sendProblem(reply, problemBody('not-found', 404, 'Not found', `no problem type ${type}`, request.id));
    return { type: `/problems/${type}`, ...doc };
  });

  registerCustomerRoutes(app, services.customers);
  registerInventoryRoutes(app, services);
  registerAccessRoutes(app, services);
  registerCatalogRoutes(app, services.catalog);
  registerPriceRuleRoutes(app, services.priceRules);
  registerQuoteRoutes(app, services.quotes);
  registerOrderRoutes(app, services);
  registerFulfillmentRoutes(app, services);
  registerTestClockRoutes(app, services.testClocks);
  // The catalog cache's Redis connection (if any) closes with the server.
  app.addHook('onClose', async () => services.catalog.cache.close());
  await app.ready();
  // Build the document now: a mistake in its decorations (openapi.ts) fails the start, not the first GET /openapi.json.
  app.swagger();
  return app;
}
