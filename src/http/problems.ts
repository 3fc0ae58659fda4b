/** Turns every error into an RFC 9457 problem+json response. A 500 is a bug. */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asDatabaseError } from '../platform/db.ts';
import { DatabaseUnavailableError, PROBLEM_TYPES, ProblemError, type FieldError } from '../platform/errors.ts';

export const PROBLEM_BASE = '/problems/';

export function problemBody(type: string, status: number, title: string, detail: string, instance: string, extensions: Record<string, unknown> = {}) {
  return { type: PROBLEM_BASE + type, title, status, detail, instance, ...extensions };
}

export function sendProblem(reply: FastifyReply, body: ReturnType<typeof problemBody>) {
  return reply.status(body.status).type('application/problem+json').send(body);
}

function fieldErrorsOf(error: FastifyError): FieldError[] {
  const where = (error as any).validationContext ?? 'body';
  // A union of literals (an enumeration written with TypeBox) fails once per literal and once
  // for the union: say it once, with the values allowed.
  const literals = new Map<string, unknown[]>();
  const unions = new Set(((error.validation ?? []) as any[]).filter((v) => v.keyword === 'anyOf').map((v) => v.instancePath));
  for (const v of (error.validation ?? []) as any[]) {
    if (v.keyword === 'const' && unions.has(v.instancePath)) literals.set(v.instancePath, [...(literals.get(v.instancePath) ?? []), v.params?.allowedValue]);
  }
  const errors = ((error.validation ?? []) as any[]).flatMap((v) => {
    if (!literals.has(v.instancePath) || (v.keyword !== 'const' && v.keyword !== 'anyOf')) return [v];
    if (v.keyword === 'anyOf') return [{ ...v, message: 'must be one of', params: { allowedValues: literals.get(v.instancePath) } }];
    return [];
  });
  return errors.map((v: any) => {
    let field = `${where === 'body' ? '' : '/' + where}${v.instancePath ?? ''}`;
    if (v.params?.missingProperty) field += '/' + v.params.missingProperty;
    if (v.params?.additionalProperty) field += '/' + v.params.additionalProperty;
    let message = v.message ?? 'is not valid';
    if (v.params?.allowedValues) message += `: ${v.params.allowedValues.join(', ')}`;
    if (v.params?.additionalProperty) message = 'is not a known field';
    return { field: field || '/', message };
  });
}

export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((raw: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // A connection-level failure of a query made outside a transaction (pool.query) is the
    // same retryable 503 as one inside (db.ts turns those into DatabaseUnavailableError).
    const error = asDatabaseError(raw) as FastifyError;
    if (error instanceof DatabaseUnavailableError) {
      request.log.warn({ err: error.cause ?? error }, 'database unavailable');
      reply.header('retry-after', String(DatabaseUnavailableError.RETRY_AFTER_SECONDS));
    }
    if (error instanceof ProblemError) {
      return sendProblem(reply, problemBody(error.type, error.status, error.title, error.message, request.id, error.extensions));
    }
    if (error.validation) {
      const errors = fieldErrorsOf(error);
      const detail = errors.map((e) => `${e.field} ${e.message}`).join('; ');
      return sendProblem(reply, problemBody('validation-error', 400, PROBLEM_TYPES['validation-error'].title, detail, request.id, { errors }));
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      // Fastify's own client errors: bad JSON, wrong content type, body too large.
      const type = ({ 404: 'not-found', 413: 'payload-too-large', 415: 'unsupported-media-type' } as Record<number, string>)[error.statusCode] ?? 'validation-error';
      return sendProblem(reply, problemBody(type, error.statusCode, PROBLEM_TYPES[type].title, error.message, request.id,
        type === 'validation-error' ? { errors: [{ field: '/', message: error.message }] } : {}));
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, problemBody('internal-error', 500, 'Internal error', 'An unexpected error occurred; nothing was changed.', request.id));
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problemBody('not-found', 404, 'Not found', `no route ${request.method} ${request.url.split('?')[0]}`, request.id)),
  );
}

/** Problems of requests Fastify refuses before routing: they never reach the error handler. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // Never echo the path: it is what was wrong, and it can be long.
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    sendProblem(reply, problemBody('uri-too-long', 414, PROBLEM_TYPES['uri-too-long'].title, `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`, request.id));
  } else if (error.code === 'FST_ERR_BAD_URL') {
    const message = 'is not a valid URL path (bad percent-encoding)';
    sendProblem(reply, problemBody('validation-error', 400, PROBLEM_TYPES['validation-error'].title, `the path ${message}`, request.id, { errors: [{ field: '/params', message }] }));
  } else {
    request.log.error({ err: error }, 'framework error');
    sendProblem(reply, problemBody('internal-error', 500, 'Internal error', 'An unexpected error occurred; nothing was changed.', request.id));
  }
}

/** Fastify's default: longer path parameters are refused. */
export const MAX_PARAM_LENGTH = 100;

/**
 * Node's HTTP parser refuses some requests before Fastify sees them (headers over
 * `maxHeaderSize`, a timeout, bytes that are not HTTP): they get a problem document too,
 * written on the socket, which is then closed.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, type, detail] =
    error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'headers-too-large', `the request line and headers exceed ${http.maxHeaderSize} bytes`]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request-timeout', 'the request was not received in time']
        : [400, 'malformed-request', 'the request is not valid HTTP/1.1'];
  this.log.debug({ err: error }, 'client error');
  const body = JSON.stringify(problemBody(type, status, PROBLEM_TYPES[type].title, detail, randomUUID()));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
