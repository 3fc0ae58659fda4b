/**
 * The error responses and examples of the OpenAPI document, added in one place.
 *
 * Every route's problem responses are derived from what the server assembly really does with
 * it (auth.ts, idempotency.ts, problems.ts) plus, for the 409s and 422s, the problem types its
 * commands throw (PER_ROUTE below). They are added to the generated document only
 * (`transformObject` of @fastify/swagger), never to the route's response schemas: those also
 * drive serialization, and the error handler must send every problem document as it is.
 */
import type { SwaggerTransformObject } from '@fastify/swagger';
import type { RouteOptions } from 'fastify';
import { PROBLEM_TYPES } from '../platform/errors.ts';
import { OPERATION_EXAMPLES, PROBLEM_EXAMPLES } from './openapi-examples.ts';
import { PROBLEM_BASE } from '../http/problems.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_SCHEMA_REF = '#/components/schemas/Problem';

const nullable = (schema: Record<string, unknown>) => ({ ...schema, nullable: true });

/**
 * RFC 9457 problem details with the extension members Tenure sends (see platform/errors.ts):
 * each is present only on the problem types named in its description.
 */
export const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details (`application/problem+json`). `type` is stable: GET it (`/problems/{type}`) for what it means and what to do. '
    + 'Besides the standard members, a problem carries the extension members of its type, listed below. A request that fails changed nothing.',
  required: ['type', 'title', 'status', 'detail', 'instance'],
  properties: {
    type: { type: 'string', enum: Object.keys(PROBLEM_TYPES).map((t) => PROBLEM_BASE + t), description: 'The stable problem type, a URI reference `/problems/<slug>`.' },
    title: { type: 'string', description: 'Short summary of the problem type; the same for every occurrence of a type.' },
    status: { type: 'integer', minimum: 400, maximum: 599, description: 'The HTTP status code.' },
    detail: { type: 'string', description: 'What went wrong with this request, for a human.' },
    instance: { type: 'string', description: 'The request id: quote it when reporting a problem.' },
    errors: {
      type: 'array',
      description: '`validation-error`: each field that is wrong.',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: {
          field: { type: 'string', description: 'JSON pointer into the body (`/items/0/expectedVersion`), or `/params/…`, `/querystring/…`, or a header name; `/` for the whole body.' },
          message: { type: 'string' },
        },
      },
    },
    resource: { type: 'string', description: '`not-found`, `concurrent-modification`, `illegal-transition`: the kind of resource, e.g. `product instance`.' },
    id: { type: 'string', description: '`not-found`, `concurrent-modification`, `illegal-transition`, `draft-exists`: its id.' },
    expectedVersion: { type: 'integer', description: '`concurrent-modification`: the version you sent.' },
    currentVersion: nullable({ type: 'integer', description: '`concurrent-modification`: the version it is at now; null when another transaction changed it while this one ran.' }),
    productInstanceId: { type: 'string', format: 'uuid', description: '`operation-in-progress`: the product instance whose guard is held.' },
    heldBy: {
      type: 'object',
      description: '`operation-in-progress`: the operation that holds the guard.',
      required: ['orderId', 'orderItemId', 'operationType'],
      properties: {
        orderId: nullable({ type: 'string', format: 'uuid' }),
        orderItemId: nullable({ type: 'string', format: 'uuid' }),
        operationType: { type: 'string' },
      },
    },
    state: { type: 'string', description: '`illegal-transition`: the current state of the resource.' },
    command: { type: 'string', description: '`illegal-transition`: the command that was refused.' },
    allowedCommands: { type: 'array', items: { type: 'string' }, description: '`illegal-transition`: the commands the resource accepts in its current state.' },
    rule: { type: 'string', description: '`invalid-relationship`: the rule that refused it (`self-link`, `one-parent`, `no-cycle`).' },
    existingParent: { type: 'string', description: '`invalid-relationship` (`one-parent`): the parent the target already has.' },
    path: { type: 'array', items: { type: 'string' }, description: '`invalid-relationship` (`no-cycle`): the product instances of the cycle.' },
    quoteId: { type: 'string', format: 'uuid', description: '`stale-quote`, `quote-expired`: the quote.' },
    expiresAt: { type: 'string', description: '`quote-expired`: when the quote expired.' },
    changedInstances: {
      type: 'array',
      description: '`stale-quote`: each product instance that changed since the quote\'s snapshot.',
      items: {
        type: 'object',
        required: ['productInstanceId', 'quotedVersion', 'currentVersion'],
        properties: {
          productInstanceId: { type: 'string', format: 'uuid' },
          quotedVersion: nullable({ type: 'integer' }),
          currentVersion: nullable({ type: 'integer' }),
          currentStatus: nullable({ type: 'string' }),
        },
      },
    },
    ruleId: { type: 'string', format: 'uuid', description: '`promo-exhausted`, some `business-rule-violation`s: the price rule.' },
    usedBy: {
      type: 'array',
      description: '`business-rule-violation` of a catalog retirement: the active catalog entries that still use it.',
      items: { type: 'object', properties: { kind: { type: 'string' }, id: { type: 'string', format: 'uuid' }, version: { type: 'integer' }, code: { type: 'string' } } },
    },
    code: { type: 'string', description: '`duplicate-code`: the code that is taken; `promo-exhausted`: the code of the price rule.' },
    draftVersion: { type: 'integer', description: '`draft-exists`: the draft version that exists.' },
    promoCode: nullable({ type: 'string', description: '`promo-exhausted`: the promo code.' }),
    maxRedemptions: { type: 'integer', description: '`promo-exhausted`: how many redemptions the promo allows.' },
    task: {
      type: 'object',
      description: '`point-of-no-return`: the started fulfillment task that cannot be undone.',
      required: ['taskId', 'taskNumber', 'step', 'status', 'orderId', 'itemId'],
      properties: {
        taskId: { type: 'string', format: 'uuid' },
        taskNumber: { type: 'integer' },
        step: { type: 'string' },
        status: { type: 'string' },
        orderId: { type: 'string', format: 'uuid' },
        itemId: { type: 'string', format: 'uuid' },
      },
    },
  },
  additionalProperties: true,
};

/** What the document needs to know of a route, read when it is registered. */
export interface RouteFacts {
  method: string;
  /** OpenAPI form: `/quotes/{id}/pricing:apply`. */
  path: string;
  public: boolean;
  adminOnly: boolean;
  hasBody: boolean;
  hasQuery: boolean;
  hasParams: boolean;
  /** The body names another resource by id (which may not exist: 404). */
  bodyReferencesIds: boolean;
}

/** `/quotes/:id/pricing::apply` → `/quotes/{id}/pricing:apply` (`::` is Fastify's literal colon). */
export function openApiPath(url: string): string {
  return url.replace(/::/g, '\u0001').replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\u0001/g, ':');
}

function mentionsUuid(schema: unknown, depth = 0): boolean {
  if (!schema || typeof schema !== 'object' || depth > 12) return false;
  const s = schema as Record<string, unknown>;
  if (s.format === 'uuid') return true;
  return Object.values(s).some((v) => (Array.isArray(v) ? v.some((x) => mentionsUuid(x, depth + 1)) : mentionsUuid(v, depth + 1)));
}

export function routeFacts(route: RouteOptions): RouteFacts[] {
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  const config = (route.config ?? {}) as { public?: boolean; adminOnly?: boolean };
  return methods.map((method) => ({
    method: method.toUpperCase(),
    path: openApiPath(route.url ?? ''),
    public: config.public === true,
    adminOnly: config.adminOnly === true,
    hasBody: schema.body !== undefined,
    hasQuery: schema.querystring !== undefined,
    hasParams: schema.params !== undefined || /:[A-Za-z]/.test((route.url ?? '').replace(/::/g, '')),
    bodyReferencesIds: mentionsUuid(schema.body),
  }));
}

type Status = '400' | '401' | '403' | '404' | '409' | '413' | '415' | '422' | '503';
type ProblemMap = Partial<Record<Status, string[]>>;

const INVENTORY_COMMAND = ['concurrent-modification', 'illegal-transition', 'operation-in-progress'];
const QUOTE_COMMAND = ['concurrent-modification', 'illegal-transition', 'quote-expired'];

/**
 * The 409 and 422 problem types each route's command throws, besides the ones every POST may
 * get (idempotency). First match wins: put the specific patterns first.
 */
const PER_ROUTE: { match: RegExp; problems: ProblemMap }[] = [
  // installed base commands (inventory/service.ts)
  { match: /^POST \/internal\/assets\/product-instances$/, problems: { 409: ['concurrent-modification'], 422: ['invalid-relationship', 'business-rule-violation'] } },
  { match: /^POST \/internal\/assets\/relationships$/, problems: { 409: ['duplicate-relationship', 'concurrent-modification'], 422: ['invalid-relationship'] } },
  { match: /^POST \/internal\/assets\/relationships\/\{id\}\/end:apply$/, problems: { 409: ['illegal-transition', 'concurrent-modification'] } },
  { match: /^POST \/internal\/assets\/product-instances\/\{id\}\/replacement:apply$/, problems: { 409: INVENTORY_COMMAND, 422: ['invalid-relationship', 'business-rule-violation'] } },
  { match: /^POST \/internal\/assets\//, problems: { 409: INVENTORY_COMMAND, 422: ['business-rule-violation'] } },
  // test clocks (clocks/service.ts)
  { match: /^POST \/test-clocks$/, problems: { 409: ['test-clock-exists', 'tenant-has-scheduled-work'] } },
  { match: /^POST \/test-clocks\/\{id\}\/advance$/, problems: { 409: ['test-clock-advancing', 'concurrent-modification'] } },
  // catalog (catalog/service.ts)
  { match: /^POST \/(product-offerings|product-specifications|service-specifications|resource-specifications)$/, problems: { 409: ['duplicate-code'] } },
  { match: /^POST \/[a-z-]+\/\{id\}\/versions$/, problems: { 409: ['draft-exists', 'illegal-transition'] } },
  { match: /^PUT \/[a-z-]+\/\{id\}\/versions\/\{version\}$/, problems: { 409: ['illegal-transition'] } },
  { match: /^POST \/[a-z-]+\/\{id\}\/versions\/\{version\}\/publication:apply$/, problems: { 409: ['illegal-transition'], 422: ['business-rule-violation'] } },
  // price rules and terms (pricing/rule-service.ts)
  { match: /^POST \/price-rules$/, problems: { 409: ['duplicate-code'] } },
  { match: /^POST \/price-rules\/\{id\}\/retirement:apply$/, problems: { 409: ['illegal-transition'] } },
  { match: /^POST \/[a-z-]+\/\{id\}\/retirement:apply$/, problems: { 409: ['illegal-transition'], 422: ['business-rule-violation'] } },
  { match: /^POST \/accounts\/\{accountId\}\/price-terms\/\{termId\}\/end:apply$/, problems: { 409: ['illegal-transition'] } },
  // quotes (quotes/service.ts, pricing/engine.ts)
  { match: /^POST \/(price-previews|accounts\/\{accountId\}\/quotes)$/, problems: { 422: ['business-rule-violation'] } },
  { match: /^POST \/quotes\/\{id\}\/acceptance:apply$/, problems: { 409: QUOTE_COMMAND, 422: ['promo-exhausted', 'business-rule-violation'] } },
  { match: /^POST \/quotes\/\{id\}\/pricing:apply$/, problems: { 409: QUOTE_COMMAND, 422: ['business-rule-violation'] } },
  { match: /^POST \/quotes\/\{id\}\/conversion:apply$/, problems: { 409: [...QUOTE_COMMAND, 'stale-quote'] } },
  { match: /^POST \/quotes\/\{id\}\/cancellation:apply$/, problems: { 409: QUOTE_COMMAND } },
  // orders (orders/service.ts, fulfillment/orchestrator.ts)
  { match: /^POST \/accounts\/\{accountId\}\/orders$/, problems: { 409: ['concurrent-modification', 'operation-in-progress', 'illegal-transition', 'point-of-no-return'], 422: ['business-rule-violation'] } },
  { match: /^POST \/quotes\/\{id\}\/order$/, problems: { 409: [...QUOTE_COMMAND, 'stale-quote', 'operation-in-progress'], 422: ['business-rule-violation'] } },
  { match: /^POST \/orders\/\{id\}\/(hold|release-hold|rerun)$/, problems: { 409: ['illegal-transition'] } },
  { match: /^POST \/orders\/\{id\}\/cancel$/, problems: { 409: ['illegal-transition', 'point-of-no-return'] } },
  { match: /^POST \/fulfillment\/(tasks\/\{id\}\/result|callbacks\/\{provisionerCode\})$/, problems: { 409: ['illegal-transition'] } },
];

/** The problem types, by status, that a request to this route can get. */
export function problemsOf(route: RouteFacts): ProblemMap {
  const map: ProblemMap = {};
  const add = (status: Status, ...types: string[]) => {
    const list = (map[status] ??= []);
    for (const t of types) if (!list.includes(t)) list.push(t);
  };
  const writes = route.method !== 'GET';
  // Fastify parses a JSON body of any POST/PUT; the Idempotency-Key header is checked on every authenticated POST.
  if (route.hasBody || route.hasQuery || route.hasParams || writes) add('400', 'validation-error');
  if (route.path.startsWith('/fulfillment/callbacks/')) add('401', 'bad-signature');
  else if (!route.public) add('401', 'unauthorized');
  if (!route.public && (route.adminOnly || writes)) add('403', 'forbidden');
  if (route.hasParams || route.bodyReferencesIds) add('404', 'not-found');
  const key = `${route.method} ${route.path}`;
  const specific = PER_ROUTE.find((r) => r.match.test(key));
  for (const [status, types] of Object.entries(specific?.problems ?? {})) add(status as Status, ...types);
  if (route.method === 'POST' && !route.public) {
    add('409', 'idempotency-in-progress');
    add('422', 'idempotency-key-reuse');
  }
  if (writes) {
    add('413', 'payload-too-large');
    add('415', 'unsupported-media-type');
  }
  if (touchesDatabase(route)) add('503', 'database-unavailable');
  return map;
}

/** The few routes that answer without the database: the problem catalogue and the API document. */
const WITHOUT_DATABASE = /^\/(problems\/|openapi\.json$|docs(\/|$))/;

/** Every route but those reads the database (authentication alone does), so it may be 503. */
function touchesDatabase(route: RouteFacts): boolean {
  return !WITHOUT_DATABASE.test(route.path);
}

const STATUS_NAMES: Record<string, string> = {
  400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 409: 'Conflict',
  413: 'Payload too large', 415: 'Unsupported media type', 422: 'Unprocessable content',
  503: 'Service unavailable (retry after `Retry-After` seconds)',
};

function problemResponse(status: string, types: string[], route: RouteFacts) {
  const lines = types.map((t) => {
    const doc = PROBLEM_TYPES[t];
    let line = `- \`${PROBLEM_BASE}${t}\`: ${doc.title}.`;
    if (t === 'forbidden') line += route.adminOnly ? ' This endpoint needs an admin key.' : ' Viewer keys can only read.';
    return line;
  });
  const examples: Record<string, { summary: string; value: unknown }> = {};
  for (const t of types) {
    const value = PROBLEM_EXAMPLES[t];
    if (value) examples[t] = { summary: PROBLEM_TYPES[t].title, value };
  }
  return {
    description: `${STATUS_NAMES[status] ?? 'Problem'}: a problem of one of these types:\n\n${lines.join('\n')}`,
    ...(status === '503' ? { headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } } } } : {}),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: PROBLEM_SCHEMA_REF }, ...(Object.keys(examples).length ? { examples } : {}) } },
  };
}

const DEFAULT_RESPONSE = {
  description: `Any other error, as a problem: \`${PROBLEM_BASE}internal-error\` (500) is a bug in Tenure; the transaction was rolled back.`,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: PROBLEM_SCHEMA_REF } } },
};

type OpenApiDocument = {
  paths: Record<string, Record<string, any>>;
  components?: { schemas?: Record<string, unknown> } & Record<string, unknown>;
};

/**
 * Collects the routes as they are registered (`onRoute`) and, once the document is built,
 * adds the Problem component, every operation's problem responses and the examples.
 */
export function openApiDecorations() {
  const routes = new Map<string, RouteFacts>();
  return {
    onRoute(route: RouteOptions) {
      for (const facts of routeFacts(route)) routes.set(`${facts.method} ${facts.path}`, facts);
    },
    transformObject: ((documentObject) => {
      if (!('openapiObject' in documentObject)) return documentObject.swaggerObject;
      const doc = documentObject.openapiObject as unknown as OpenApiDocument;
      doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, Problem: PROBLEM_SCHEMA } };
      for (const [path, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          const key = `${method.toUpperCase()} ${path}`;
          const facts = routes.get(key);
          // Every documented operation was registered through onRoute; a miss is a bug here.
          if (!facts) throw new Error(`openapi: no route facts for ${key}`);
          for (const [status, types] of Object.entries(problemsOf(facts))) {
            operation.responses[status] = problemResponse(status, types, facts);
          }
          operation.responses.default = DEFAULT_RESPONSE;
          addExamples(operation, OPERATION_EXAMPLES[key]);
        }
      }
      return documentObject.openapiObject;
    }) satisfies SwaggerTransformObject,
  };
}

function addExamples(operation: Record<string, any>, example: (typeof OPERATION_EXAMPLES)[string] | undefined) {
  if (!example) return;
  if (example.request !== undefined) {
    const media = operation.requestBody?.content?.['application/json'];
    if (!media) throw new Error(`openapi: a request example for an operation without a JSON body (${operation.summary})`);
    media.example = example.request;
  }
  if (example.response !== undefined) {
    const success = Object.keys(operation.responses).find((s) => s.startsWith('2'));
    const media = success ? operation.responses[success].content?.['application/json'] : undefined;
    if (!media) throw new Error(`openapi: a response example for an operation without a JSON success response (${operation.summary})`);
    media.example = example.response;
  }
}
