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
