/** HTTP → fulfillment: results of waiting tasks, and signed callbacks (re-runs and cancellations are orders' routes). */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, IdParams, JsonObjectSchema, Uuid } from '../http/http.ts';
import { checkStorable, parseJsonBody } from '../http/json-input.ts';
import { BadSignatureError, NotFoundError, ValidationError } from '../platform/errors.ts';
import { Value } from '@sinclair/typebox/value';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyCallbackSignature } from './http-provisioner.ts';
import type { Orchestrator, PostedResult } from './orchestrator.ts';
import type { CallbackSecrets } from './provisioners.ts';

const AnyObject = Type.Object({}, { additionalProperties: true });

const ResultBody = Type.Union([
  Type.Object({
    outcome: Type.Literal('done'),
    externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    data: Type.Optional(JsonObjectSchema),
  }, { additionalProperties: false }),
  Type.Object({
    outcome: Type.Literal('failed'),
    code: Type.String({ minLength: 1, maxLength: 80 }),
    message: Type.String({ minLength: 1, maxLength: 2000 }),
  }, { additionalProperties: false }),
]);

/** What an external system posts back: the task it answers, and the same result shape. */
const CallbackBody = Type.Object({
  taskId: Uuid,
  status: Type.Union([Type.Literal('done'), Type.Literal('failed')]),
  externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  data: Type.Optional(JsonObjectSchema),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
  message: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
}, { additionalProperties: true });

function postedOf(body: Static<typeof ResultBody>): PostedResult {
  return body.outcome === 'done'
    ? { outcome: 'done', externalId: body.externalId ?? null, data: (body.data ?? null) as Record<string, unknown> | null }
    : { outcome: 'failed', code: body.code, message: body.message };
}

export function registerFulfillmentRoutes(app: FastifyInstance, deps: { orchestrator: Orchestrator; callbackSecrets: CallbackSecrets }): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['fulfillment'];
  const { orchestrator } = deps;

  r.post('/fulfillment/tasks/:id/result', {
    schema: {
      tags,
      summary: 'Post the result of a waiting task (the manual provisioner\'s operator, or an external system with an API key)',
      description: 'The task must be waiting (or running). Posting the same outcome again returns the task unchanged; a different outcome for an ended task is 409 illegal-transition. A done result may complete the item and the order; a failed one fails the item.',
      params: IdParams,
      body: ResultBody,
      response: { 200: AnyObject },
    },
  }, async (request) => orchestrator.postResult(contextOf(request), request.params.id, postedOf(request.body)));

  // Callbacks are authenticated by their signature over the exact bytes received, so this
  // route keeps the raw body and parses it only after the signature holds.
  app.register(async (child) => {
    child.removeContentTypeParser('application/json');
    child.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    child.withTypeProvider<TypeBoxTypeProvider>().post('/fulfillment/callbacks/:provisionerCode', {
      config: { public: true },
      schema: {
        tags,
        summary: 'Signed callback of an HTTP provisioner\'s external system',
        description: `Authenticated by ${TIMESTAMP_HEADER} and ${SIGNATURE_HEADER} (v1 HMAC-SHA256 over "<timestamp>.<raw body>" with the provisioner's secret). Body: { taskId, status: done|failed, externalId?, data?, code?, message? }. A repeated callback is answered like the first.`,
        security: [],
        params: Type.Object({ provisionerCode: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 200: AnyObject },
      },
    }, async (request) => {
      const secret = deps.callbackSecrets.get(request.params.provisionerCode);
      if (!secret) throw new NotFoundError(`no HTTP provisioner "${request.params.provisionerCode}" is configured`);
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const check = verifyCallbackSignature({
        secret,
        timestampHeader: request.headers[TIMESTAMP_HEADER.toLowerCase()],
        signatureHeader: request.headers[SIGNATURE_HEADER.toLowerCase()],
        rawBody: raw,
        // Signatures carry wall-clock time (see http-provisioner.ts), never a test clock.
        now: new Date(),
      });
      if (!check.ok) throw new BadSignatureError(check.reason);
      // The same limits as every other JSON body (http/json-input.ts).
      const body = parseJsonBody(raw.toString('utf8'));
      checkStorable(body);
      if (!Value.Check(CallbackBody, body)) throw ValidationError.field('/', 'expected { taskId, status: "done" | "failed", externalId?, data?, code?, message? }');
      const tenantId = await orchestrator.tenantOfTask(body.taskId);
      if (!tenantId) throw NotFoundError.of('fulfillment task', body.taskId);
      const posted: PostedResult = body.status === 'done'
        ? { outcome: 'done', externalId: body.externalId ?? null, data: (body.data ?? null) as Record<string, unknown> | null }
        : { outcome: 'failed', code: body.code ?? 'external-failure', message: body.message ?? 'the external system reported a failure' };
      return orchestrator.postResult({ tenantId, actor: null, correlationId: request.headers['x-correlation-id']?.toString() ?? null }, body.taskId, posted);
    });
  });
}
