/**
 * Request validation with two Ajv instances, chosen by the part of the request a schema is
 * for. Fastify's default Ajv coerces types (`coerceTypes: 'array'`), so `{"name": 123}` became
 * the name "123" and `"expectedVersion": "20"` the version 20. JSON bodies carry their types:
 * they are validated without coercion. Query strings, path parameters and headers arrive as
 * text, so there `?limit=10` is still read as the integer 10.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type ValidatorFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
interface RouteSchema {
  schema: unknown;
  method: string;
  url: string;
  httpPart?: string;
}
type Compile = (route: RouteSchema) => unknown;

/**
 * The `schemaController.compilersFactory.buildValidator` of the server: Fastify's own compiler
 * (with the server's `ajv` options: formats, allErrors…) twice, once without coercion.
 */
export const buildValidator = ((externalSchemas: Record<string, unknown>, options: { customOptions?: Record<string, unknown> } = {}) => {
  const fromPool = AjvCompiler() as unknown as (schemas: Record<string, unknown>, options: object) => Compile;
  const forBodies = fromPool(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } });
  const forText = fromPool(externalSchemas, options);
  return (route: RouteSchema) => (route.httpPart === 'body' ? forBodies : forText)(route);
}) as unknown as ValidatorFactory;

/** PostgreSQL's `integer`: the largest value any integer field of a request can be stored as. */
export const MAX_REQUEST_INTEGER = 2_147_483_647;

/**
 * Gives every integer in a route's request schemas (body, query string, path) that has no
 * maximum of its own the database's: a version, count or number of hours past 2^31 − 1 would
 * otherwise pass validation and fail in PostgreSQL as a 500. Runs on each route as it is
 * added, before the OpenAPI document reads it, so the document shows the limit too.
 */
export function capRequestIntegers(route: { schema?: Record<string, unknown> }): void {
  for (const part of ['body', 'querystring', 'params']) {
    const schema = route.schema?.[part];
    if (schema && typeof schema === 'object') capIntegers(schema as Record<string, unknown>);
  }
}

function capIntegers(root: Record<string, unknown>): void {
  // An explicit walk (no recursion): schemas are shared between routes and may be deep.
  const pending: unknown[] = [root];
  const seen = new Set<unknown>();
  while (pending.length) {
    const node = pending.pop();
    if (!node || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    const schema = node as Record<string, unknown>;
    if (schema.type === 'integer' && schema.maximum === undefined && schema.exclusiveMaximum === undefined) schema.maximum = MAX_REQUEST_INTEGER;
    for (const value of Object.values(schema)) if (value && typeof value === 'object') pending.push(value);
  }
}
