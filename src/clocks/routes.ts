/** The test clocks' HTTP API (docs/scheduler-and-clocks.md): create, read, advance, list pending jobs. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { contextOf, DateTime, IdParams, JsonObjectSchema, Uuid } from '../http/http.ts';
import type { TestClockService } from './service.ts';

const TestClockSchema = Type.Object({
  clockId: Uuid,
  name: Type.String(),
  frozenTime: Type.String({ description: 'The time every command and job of the tenant sees.' }),
  status: Type.Union([Type.Literal('ready'), Type.Literal('advancing'), Type.Literal('failed')], { description: '`advancing` while an advance runs; `failed` when one of its jobs failed (`lastError`); else `ready`.' }),
  targetTime: Type.Union([Type.String(), Type.Null()], { description: 'Where the last advance goes (or went).' }),
  jobsRun: Type.Integer({ description: 'Jobs the last advance has run so far.' }),
  jobsRemaining: Type.Integer({ description: 'While advancing: jobs due by the target not yet run (new ones may still be scheduled by those that run). Otherwise: jobs pending.' }),
  nextJobAt: Type.Union([Type.String(), Type.Null()], { description: 'When the next pending job falls due.' }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const PendingJobSchema = Type.Object({
  kind: Type.String(),
  jobKey: Type.String(),
  accountId: Type.Union([Uuid, Type.Null()]),
  runAt: Type.String(),
  seq: Type.Integer(),
  payload: JsonObjectSchema,
});

export function registerTestClockRoutes(app: FastifyInstance, clocks: TestClockService): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['test clocks'];
  const adminOnly = { adminOnly: true };

  r.post('/test-clocks', {
    config: adminOnly,
    schema: {
      tags,
      summary: 'Put your tenant on a test clock',
      description: 'From now on every command and date-driven job of the tenant sees the clock\'s `frozenTime` instead of real time, until the clock is advanced. '
        + 'One clock per tenant, for good; refused while the tenant has jobs scheduled on real time (`tenant-has-scheduled-work`): use a new tenant for testing.',
      body: Type.Object({
        frozenTime: DateTime,
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      }, { additionalProperties: false }),
      response: { 201: TestClockSchema },
    },
  }, async (request, reply) => reply.status(201).send(await clocks.create(contextOf(request), request.body)));

  r.get('/test-clocks/:id', { schema: { tags, summary: 'A test clock: its time, status and the progress of its advance', params: IdParams, response: { 200: TestClockSchema } } },
    async (request) => clocks.get(contextOf(request), request.params.id));

  r.get('/test-clocks/:id/jobs', {
    schema: {
      tags, summary: 'The jobs waiting for the clock, in the order an advance runs them', params: IdParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) }),
      response: { 200: Type.Object({ items: Type.Array(PendingJobSchema) }) },
    },
  }, async (request) => ({ items: await clocks.pendingJobs(contextOf(request), request.params.id, request.query.limit ?? 100) }));

  r.post('/test-clocks/:id/advance', {
    config: adminOnly,
    schema: {
      tags,
      summary: 'Advance a test clock: run every job that falls due, in time order',
      description: 'Answers 202 with the clock `advancing`; the advance runs in a worker: it sets the clock to each due job\'s time in turn, runs the job (which may schedule more), '
        + 'and ends at `frozenTime` with the clock `ready`. No cap on how far. Poll `GET /test-clocks/{id}` for `status`, `jobsRun` and `jobsRemaining`. '
        + 'A clock never goes back (`validation-error`); one advance at a time (`test-clock-advancing`).',
      params: IdParams,
      body: Type.Object({
        frozenTime: DateTime,
        expectedVersion: Type.Optional(Type.Integer({ minimum: 1 })),
      }, { additionalProperties: false }),
      response: { 202: TestClockSchema },
    },
  }, async (request, reply) => reply.status(202).send(await clocks.advance(contextOf(request), request.params.id, request.body)));
}
