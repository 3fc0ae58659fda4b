/**
 * The served OpenAPI document: every operation's problem responses, the examples of the main
 * operations (each valid against its schema, and replayed against the real server), and
 * docs/api.md naming only routes that exist.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import * as ajvFormats from 'ajv-formats';
import { isInstant } from '../../src/http/http.ts';
import { EXAMPLE_IDS } from '../../src/api/openapi-examples.ts';
import { demoExampleIds, withIds } from '../helpers/example-ids.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { PROBLEM_TYPES } from '../../src/platform/errors.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_openapi-test-demo-key-0123456789';
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];
const ERROR_STATUSES = ['400', '401', '403', '404', '409', '413', '415', '422', '429'];

/** The operations whose request (if any) and success response must have examples. */
const MAIN_OPERATIONS = [
  'GET /accounts/{accountId}/installed-base',
  'POST /price-previews',
  'POST /accounts/{accountId}/quotes',
  'GET /quotes/{id}',
  'POST /quotes/{id}/acceptance:apply',
  'POST /quotes/{id}/order',
  'POST /accounts/{accountId}/orders',
  'GET /orders/{id}',
  'POST /internal/assets/product-instances',
  'POST /internal/assets/product-instances/{id}/activation:start',
  'POST /internal/assets/product-instances/{id}/activation:complete',
  'POST /internal/assets/product-instances/{id}/modification:start',
  'POST /internal/assets/product-instances/{id}/modification:complete',
  'POST /internal/assets/product-instances/{id}/suspension:apply',
  'POST /internal/assets/product-instances/{id}/resumption:apply',
  'POST /internal/assets/product-instances/{id}/disconnect:start',
  'POST /internal/assets/product-instances/{id}/disconnect:complete',
  'POST /internal/assets/product-instances/{id}/service-attachment:apply',
  'POST /internal/assets/service-instances/{id}/resource-attachment:apply',
  'POST /internal/assets/subscriptions/{id}/renewal:apply',
];

type Operation = { key: string; method: string; path: string; op: any };

function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) if (item[method]) ops.push({ key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, op: item[method] });
  }
  return ops;
}

/** The slugs a problem response's description lists (`/problems/<slug>`). */
const typesIn = (description: string) => [...description.matchAll(/`\/problems\/([a-z0-9-]+)`/g)].map((m) => m[1]);

/** An Ajv with the app's formats (server.ts replaces date-time with isInstant). */
function validatorFor(doc: any) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  // ajv-formats is CommonJS: its plugin is module.exports, and module.exports.default too.
  ajvFormats.default.default(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: isInstant });
  const cache = new Map<unknown, ReturnType<Ajv['compile']>>();
  // Component $refs (#/components/schemas/…) resolve against a root that carries the components.
  return (schema: unknown, value: unknown): string | null => {
    let validate = cache.get(schema);
    if (!validate) {
      validate = ajv.compile({ ...(schema as object), components: doc.components });
      cache.set(schema, validate);
    }
    return validate(value) ? null : ajv.errorsText(validate.errors);
  };
}

/** Every example in the document, with the schema it must satisfy. */
function examplesOf(doc: any): { where: string; schema: unknown; value: unknown }[] {
  const found: { where: string; schema: unknown; value: unknown }[] = [];
  const fromContent = (where: string, content: Record<string, any> | undefined) => {
    for (const [type, media] of Object.entries(content ?? {})) {
      if (media.example !== undefined) found.push({ where: `${where} ${type}`, schema: media.schema, value: media.example });
      for (const [name, example] of Object.entries<any>(media.examples ?? {})) found.push({ where: `${where} ${type} (${name})`, schema: media.schema, value: example.value });
    }
  };
  for (const { key, op } of operationsOf(doc)) {
    fromContent(`${key} request`, op.requestBody?.content);
    for (const [status, response] of Object.entries<any>(op.responses)) fromContent(`${key} ${status}`, response.content);
  }
  return found;
}

/**
 * Where `actual` differs from the example's shape: every member of the example is in the
 * answer with the same JSON type, arrays have as many elements (matched in any order), and
 * scalars are equal unless they hold an id the example could not know (one it does not name).
 */
function shapeMismatch(example: unknown, actual: unknown, path = ''): string | null {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(example) !== kind(actual)) return `${path || '/'}: the example has ${kind(example)} ${JSON.stringify(example)}, the server ${kind(actual)} ${JSON.stringify(actual)}`;
  if (Array.isArray(example)) {
    const rest = [...(actual as unknown[])];
    if (rest.length !== example.length) return `${path || '/'}: the example has ${example.length} elements, the server ${rest.length}`;
    for (let i = 0; i < example.length; i++) {
      const at = rest.findIndex((candidate) => shapeMismatch(example[i], candidate, `${path}/${i}`) === null);
      if (at < 0) return shapeMismatch(example[i], rest[0], `${path}/${i}`) ?? `${path}/${i}: no element of the answer matches`;
      rest.splice(at, 1);
    }
    return null;
  }
  if (example && typeof example === 'object') {
    for (const [k, v] of Object.entries(example)) {
      if (!(k in (actual as object))) return `${path}/${k}: in the example, not in the answer`;
      const mismatch = shapeMismatch(v, (actual as any)[k], `${path}/${k}`);
      if (mismatch) return mismatch;
    }
    return null;
  }
  const unknownId = typeof example === 'string' && /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i.test(example);
  if (!unknownId && example !== actual) return `${path}: the example says ${JSON.stringify(example)}, the server ${JSON.stringify(actual)}`;
  return null;
}

/** Every route docs/api.md names (`` `METHOD /path` ``), with `{a|b}` alternatives and `[…]` optional parts expanded. */
function routesInDocs(markdown: string): string[] {
  const routes = new Set<string>();
  const expand = (text: string): string[] => {
    const optional = /\[([^\[\]]*)\]/.exec(text);
    if (optional) return [...expand(text.replace(optional[0], '')), ...expand(text.replace(optional[0], optional[1]))];
    const choice = /\{([^{}]*\|[^{}]*)\}/.exec(text);
    if (choice) return choice[1].split(/\\?\|/).flatMap((alt) => expand(text.replace(choice[0], alt)));
    return [text];
  };
  for (const [, method, path] of markdown.matchAll(/`(GET|POST|PUT|DELETE|PATCH) (\/[^`\s]*)`/g)) {
    for (const p of expand(path.replace(/\\\|/g, '|'))) routes.add(`${method} ${p.split('?')[0]}`);
  }
  return [...routes];
}
/** Path parameters are matched by position, not by name. */
const normalized = (route: string) => route.replace(/\{[^}]+\}/g, '{}');

describe('OpenAPI document', () => {
  let app: TestApp;
  let doc: any;
  let accountId: string;
  const keys: Record<string, string> = {};

  before(async () => {
    app = await createTestApp();
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    keys.admin = KEY;
    for (const role of ['operator', 'viewer'] as const) {
      const created = await call(app.server, KEY, 'POST', '/api-keys', { name: `openapi test ${role}`, role });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      keys[role] = created.body.apiKey;
    }
    const res = await app.server.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    doc = res.json();
  });
  after(() => app.close());

  test('the Problem component is RFC 9457 with Tenure\'s extension members and every stable type', () => {
    const problem = doc.components.schemas.Problem;
    assert.ok(problem, 'components.schemas.Problem');
    assert.deepEqual(problem.required, ['type', 'title', 'status', 'detail', 'instance']);
    assert.deepEqual([...problem.properties.type.enum].sort(), Object.keys(PROBLEM_TYPES).map((t) => `/problems/${t}`).sort());
    for (const member of ['errors', 'resource', 'id', 'expectedVersion', 'currentVersion', 'heldBy', 'state', 'allowedCommands', 'changedInstances', 'task']) {
      assert.ok(problem.properties[member], `Problem documents ${member}`);
    }
    assert.deepEqual(problem.properties.errors.items.required, ['field', 'message']);
    assert.deepEqual(problem.properties.heldBy.required, ['orderId', 'orderItemId', 'operationType']);
  });

  test('every operation lists its problem responses as application/problem+json with the Problem schema', () => {
    const ops = operationsOf(doc);
    assert.ok(ops.length >= 113, `${ops.length} operations`);
    for (const { key, method, path, op } of ops) {
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const statuses = Object.keys(op.responses);
      const expected = new Set<string>();
      if (!isPublic || path.startsWith('/fulfillment/callbacks/')) expected.add('401');
      if (!isPublic && method !== 'GET') expected.add('403');
      if (path.includes('{')) expected.add('404');
      if (op.parameters?.length || op.requestBody || method !== 'GET') expected.add('400');
      if (method !== 'GET') expected.add('413').add('415');
      if (method === 'POST' && !isPublic) expected.add('409').add('422');
      // Everything but the problem catalogue reads the database: 503 database-unavailable.
      if (!path.startsWith('/problems/')) expected.add('503');
      for (const status of expected) assert.ok(statuses.includes(status), `${key} documents ${status}; it has ${statuses.join(', ')}`);
      assert.ok(!statuses.includes('429'), `${key}: Tenure has no rate limiting, so no 429`);
      assert.ok(op.responses.default, `${key} documents the default (internal-error) response`);

      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (status.startsWith('2')) continue;
        assert.deepEqual(Object.keys(response.content ?? {}), ['application/problem+json'], `${key} ${status} is problem+json only`);
        assert.deepEqual(response.content['application/problem+json'].schema, { $ref: '#/components/schemas/Problem' }, `${key} ${status}`);
        if (status === 'default') continue;
        const types = typesIn(response.description);
        assert.ok(types.length > 0, `${key} ${status} lists its problem types`);
        for (const type of types) {
          assert.ok(PROBLEM_TYPES[type], `${key} ${status}: ${type} is a problem type`);
          assert.equal(String(PROBLEM_TYPES[type].status), status, `${key}: ${type} is a ${PROBLEM_TYPES[type].status}, listed under ${status}`);
        }
        const examples = response.content['application/problem+json'].examples ?? {};
        assert.deepEqual(Object.keys(examples).sort(), [...types].sort(), `${key} ${status} has an example of each type it lists`);
      }
      const conflicts = typesIn(op.responses['409']?.description ?? '');
      if (method === 'POST' && !isPublic) assert.ok(conflicts.includes('idempotency-in-progress'), `${key}: 409 idempotency-in-progress`);
      const bodyProperties = Object.keys(op.requestBody?.content?.['application/json']?.schema?.properties ?? {});
      if (bodyProperties.some((p) => p === 'expectedVersion' || p === 'expectedQuoteVersion')) {
        assert.ok(conflicts.includes('concurrent-modification'), `${key} takes a version: 409 concurrent-modification`);
      }
    }
    // Per-route types of the main commands.
    const typesOf = (key: string, status: string) => {
      const [method, path] = key.split(' ');
      return typesIn(doc.paths[path][method.toLowerCase()].responses[status]?.description ?? '');
    };
    assert.ok(typesOf('POST /quotes/{id}/order', '409').includes('stale-quote'));
    assert.ok(typesOf('POST /quotes/{id}/order', '409').includes('quote-expired'));
    assert.ok(typesOf('POST /accounts/{accountId}/orders', '409').includes('operation-in-progress'));
    assert.ok(typesOf('POST /orders/{id}/cancel', '409').includes('point-of-no-return'));
    assert.ok(typesOf('POST /quotes/{id}/acceptance:apply', '422').includes('promo-exhausted'));
    assert.ok(typesOf('POST /internal/assets/relationships', '409').includes('duplicate-relationship'));
    assert.ok(typesOf('POST /internal/assets/relationships', '422').includes('invalid-relationship'));
    assert.ok(typesOf('POST /product-offerings', '409').includes('duplicate-code'));
    assert.ok(typesOf('POST /product-offerings/{id}/versions', '409').includes('draft-exists'));
    assert.deepEqual(typesOf('POST /fulfillment/callbacks/{provisionerCode}', '401'), ['bad-signature']);
    assert.equal(typesOf('GET /api-keys', '403').length, 1, 'admin-only reads are 403 for other roles');
    assert.match(doc.paths['/api-keys'].get.responses['403'].description, /admin key/);
    assert.deepEqual(Object.keys(doc.paths['/health'].get.responses).sort(), ['200', '503', 'default']);
  });

  test('every status the server answers to a wrong or unauthorized request is documented for that operation', async () => {
    const uuid = '7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b';
    const answered: string[] = [];
    for (const { key, method, path, op } of operationsOf(doc)) {
      const url = path.replace(/\{version\}/g, '1').replace(/\{(provisionerCode|type)\}/g, 'no-such-thing').replace(/\{[^}]+\}/g, uuid);
      const send = async (key: string | null) => {
        const res = await app.server.inject({
          method: method as 'GET' | 'POST' | 'PUT',
          url,
          headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
          payload: method === 'GET' ? undefined : '{}',
        });
        return res;
      };
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const asked: [string, string | null][] = [['operator', keys.operator], ['admin', keys.admin]];
      if (!isPublic) asked.push(['nobody', null]);
      if (method !== 'GET') asked.push(['viewer', keys.viewer]);
      for (const [who, k] of asked) {
        const res = await send(k);
        assert.ok(res.statusCode < 500, `${key} as ${who}: ${res.statusCode} ${res.body}`);
        if (res.statusCode < 400) continue;
        assert.match(String(res.headers['content-type']), /^application\/problem\+json/, `${key} as ${who}`);
        const status = String(res.statusCode);
        assert.ok(op.responses[status], `${key} as ${who} answered ${status} (${res.json().type}), which it does not document`);
        const type = String(res.json().type).replace('/problems/', '');
        assert.ok(typesIn(op.responses[status].description).includes(type), `${key} as ${who}: ${type} is listed under ${status}`);
        answered.push(`${key} ${who} ${status}`);
      }
      if (!isPublic) assert.ok(answered.includes(`${key} nobody 401`), `${key} without a key is 401`);
      if (!isPublic && method !== 'GET') assert.ok(answered.includes(`${key} viewer 403`), `${key} with a viewer key is 403`);
    }
    assert.ok(answered.length > 250, `${answered.length} refusals checked`);
  });

  test('the main operations have request and response examples', () => {
    for (const key of MAIN_OPERATIONS) {
      const [method, path] = key.split(' ');
      const op = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(op, `${key} exists`);
      if (op.requestBody) assert.ok(op.requestBody.content['application/json'].example !== undefined, `${key} has a request example`);
      const success = Object.keys(op.responses).find((s) => s.startsWith('2'))!;
      assert.ok(op.responses[success].content['application/json'].example !== undefined, `${key} has a ${success} response example`);
    }
  });

  test('every example of the document validates against its own schema', () => {
    const check = validatorFor(doc);
    const examples = examplesOf(doc);
    assert.ok(examples.length > 200, `${examples.length} examples`);
    for (const { where, schema, value } of examples) {
      const error = check(schema, value);
      assert.equal(error, null, `${where}: ${error}`);
    }
    // The check can fail: a version sent as a string, or a problem without its detail, does not validate.
    const order = doc.paths['/quotes/{id}/order'].post;
    const requestSchema = order.requestBody.content['application/json'].schema;
    assert.notEqual(check(requestSchema, { expectedQuoteVersion: '2' }), null);
    assert.notEqual(check(requestSchema, { expectedVersion: 2 }), null, 'the quote order takes expectedQuoteVersion, not expectedVersion');
    const problem = order.responses['409'].content['application/problem+json'];
    const { detail, ...withoutDetail } = problem.examples['stale-quote'].value;
    assert.ok(detail);
    assert.notEqual(check(problem.schema, withoutDetail), null);
  });

  test('replayed against the server, the examples get answers of the example\'s shape', async () => {
    const ops = new Map(operationsOf(doc).map((o) => [o.key, o]));
    const ids = new Map<string, string>();
    const replay = async (key: string, pathIds: Record<string, string> = {}) => {
      const { method, path, op } = ops.get(key)!;
      const success = Object.keys(op.responses).find((s) => s.startsWith('2'))!;
      const exampleRequest = op.requestBody?.content['application/json'].example;
      const exampleResponse = op.responses[success].content['application/json'].example;
      const url = path.replace(/\{([^}]+)\}/g, (_, name) => pathIds[name]);
      const res = await call(app.server, KEY, method as 'GET' | 'POST', url, exampleRequest === undefined ? undefined : withIds(exampleRequest, ids));
      assert.equal(String(res.status), success, `${key}: ${JSON.stringify(res.body)}`);
      const mismatch = shapeMismatch(withIds(exampleResponse, ids), res.body);
      assert.equal(mismatch, null, `${key}: ${mismatch}`);
      return res.body;
    };
    const learn = (exampleId: string, liveId: string) => {
      assert.ok(liveId, `a live id for ${exampleId}`);
      ids.set(exampleId, liveId);
    };

    // The demo's ids, by what they are.
    for (const [exampleId, liveId] of await demoExampleIds(app.server, KEY, accountId)) learn(exampleId, liveId);

    await replay('GET /accounts/{accountId}/installed-base', { accountId });
    await replay('POST /price-previews');
    const quote = await replay('POST /accounts/{accountId}/quotes', { accountId });
    learn(EXAMPLE_IDS.quote, quote.quoteId);
    await replay('GET /quotes/{id}', { id: quote.quoteId });
    await replay('POST /quotes/{id}/acceptance:apply', { id: quote.quoteId });
    const fromQuote = await replay('POST /quotes/{id}/order', { id: quote.quoteId });
    learn(EXAMPLE_IDS.quoteOrder, fromQuote.orderId);
    const order = await replay('POST /accounts/{accountId}/orders', { accountId });
    learn(EXAMPLE_IDS.modifyOrder, order.orderId);
    await replay('GET /orders/{id}', { id: order.orderId });

    // The internal commands, one after the other on the Surabaya branch's fiber.
    const created = await replay('POST /internal/assets/product-instances');
    const id = created.productInstance.productInstanceId;
    learn(EXAMPLE_IDS.branch.fiber, id);
    learn(EXAMPLE_IDS.branch.subscription, created.subscription.subscriptionId);
    await replay('POST /internal/assets/product-instances/{id}/activation:start', { id });
    const service = await replay('POST /internal/assets/product-instances/{id}/service-attachment:apply', { id });
    learn(EXAMPLE_IDS.branch.service, service.serviceInstanceId);
    const vlan = await replay('POST /internal/assets/service-instances/{id}/resource-attachment:apply', { id: service.serviceInstanceId });
    learn(EXAMPLE_IDS.branch.vlan, vlan.resourceInstanceId);
    for (const command of ['activation:complete', 'modification:start', 'modification:complete', 'suspension:apply', 'resumption:apply']) {
      await replay(`POST /internal/assets/product-instances/{id}/${command}`, { id });
    }
    await replay('POST /internal/assets/subscriptions/{id}/renewal:apply', { id: created.subscription.subscriptionId });
    await replay('GET /product-instances/{id}', { id });
    await replay('POST /internal/assets/product-instances/{id}/disconnect:start', { id });
    await replay('POST /internal/assets/product-instances/{id}/disconnect:complete', { id });

    // The check can fail: an answer that lost a member, or changed a type, does not have the example's shape.
    const example = withIds(ops.get('POST /quotes/{id}/order')!.op.responses['201'].content['application/json'].example, ids);
    assert.match(shapeMismatch(example, { ...fromQuote, quoteId: undefined }) ?? '', /quoteId/);
    assert.match(shapeMismatch(example, { ...fromQuote, version: '1' }) ?? '', /version/);
  });

  test('docs/api.md names only routes that exist, and every route of the document', async () => {
    const markdown = await readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const documented = operationsOf(doc).map((o) => normalized(o.key));
    // Served but kept out of the document: the document itself and its browsable UI.
    const served = [...documented, 'GET /openapi.json', 'GET /docs'];
    const named = routesInDocs(markdown);
    assert.ok(named.length > 80, `${named.length} routes named`);
    for (const route of named) assert.ok(served.includes(normalized(route)), `docs/api.md names ${route}, which does not exist`);
    const namedNormalized = new Set(named.map(normalized));
    for (const route of documented) assert.ok(namedNormalized.has(route), `docs/api.md does not name ${route}`);
    for (const type of Object.keys(PROBLEM_TYPES)) assert.ok(markdown.includes(`\`${type}\``), `docs/api.md explains problem type ${type}`);
  });

  test('docs/api.md names each asset command\'s body fields as the route\'s schema has them', async () => {
    const markdown = await readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const rows = markdown.split('\n').filter((line) => line.startsWith('| `POST /internal/assets/'));
    assert.ok(rows.length >= 15, `${rows.length} asset command rows`);
    for (const row of rows) {
      const [, routesCell, fieldsCell] = row.split(/(?<!\\)\|/).map((c) => c.trim());
      const fields = [...fieldsCell.matchAll(/`([a-z][A-Za-z]*)/g)].map((m) => m[1]);
      for (const route of routesInDocs(routesCell)) {
        const [method, path] = route.split(' ');
        const op = doc.paths[path]?.[method.toLowerCase()];
        assert.ok(op, `${route} exists`);
        const schema = op.requestBody.content['application/json'].schema;
        for (const field of fields) assert.ok(field in schema.properties, `${route}: docs/api.md names body field ${field}, which it does not take`);
      }
    }
  });
});
