/** Turns every error into an RFC 9457 problem+json response. A 500 is a bug. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_TYPES, ProblemError, type FieldError } from '../platform/errors.ts';

export const PROBLEM_BASE = '/problems/';

export function problemBody(type: string, status: number, title: string, detail: string, instance: string, extensions: Record<string, unknown> = {}) {
  return { type: PROBLEM_BASE + type, title, status, detail, instance, ...extensions };
}

export function sendProblem(reply: FastifyReply, body: ReturnType<typeof problemBody>) {
  return reply.status(body.status).type('application/problem+json').send(body);
}

function fieldErrorsOf(error: FastifyError): FieldError[] {
  const where = (error as any).validationContext ?? 'body';
  return (error.validation ?? []).map((v: any) => {
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
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
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
