/**
 * Property (issue 8, "What it must show"): for every POST/PUT/PATCH operation of the served
 * OpenAPI document, bodies generated from the operation's own schema, with one boundary value
 * put somewhere (lone surrogates, deep nesting, huge strings and numbers, wrong types, null,
 * arrays for objects, `__proto__` keys), sent over a real socket with path parameters that are
 * real ids of the demo tenant or other valid-looking uuids, never give a 5xx, and every 4xx is
 * `application/problem+json` with `type`, `title` and the response's `status`.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryRows } from '../../src/platform/db.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_openapi-boundaries-demo-key-0123456789';
const RUNS_PER_OPERATION = 15;

/** JSON text spliced in as it is: what JSON.stringify cannot write (or would recurse on). */
class Raw {
  constructor(readonly text: string) {}
}

function serialize(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return '[' + value.map(serialize).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    return '{' + Object.entries(value).map(([k, v]) => JSON.stringify(k) + ':' + serialize(v)).join(',') + '}';
  }
  return JSON.stringify(value) ?? 'null';
}

const nested = (levels: number, open = '{"a":', close = '}') => open.repeat(levels) + '1' + close.repeat(levels);

/** The values every field gets tried with. */
const BOUNDARY_VALUES: unknown[] = [
  'lone high \ud800 surrogate', '\udc00', 'pair 😀 ok', 'nul \u0000 char',
  new Raw(nested(20_000)), new Raw(nested(5_000)), new Raw(nested(40, '[', ']')), new Raw(nested(31)),
  'x'.repeat(100_000), 'y'.repeat(1_100_000),
  new Raw('1e400'), new Raw('-1e400'), new Raw('123456789012345678901234567890'), 2 ** 53, -0, 1.5, Number.MAX_VALUE, Number.MIN_VALUE,
  null, true, '20', 20, '', [], {}, [{}], [null], { a: null },
  new Raw('{"__proto__":{"polluted":true}}'), new Raw('{"constructor":{"prototype":{"polluted":true}}}'),
];

type Schema = Record<string, any>;

// node:test needs the tests declared before `before` runs: one test per operation of the
// document of a first app; each test then reads its operation from the served document.
const probe = await createTestApp();
const declared = (await probe.server.inject({ method: 'GET', url: '/openapi.json' })).json();
await probe.close();

describe('every write operation of the OpenAPI document, with boundary values', () => {
  let app: TestApp;
  let base: string;
  let doc: any;
  /** Real ids by the collection named before a path parameter (`/orders/{id}` → orders). */
  const ids = new Map<string, string[]>();

  before(async () => {
    app = await createTestApp();
    const demo = await ensureDemo(app.services, KEY);
    await app.server.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
    doc = await (await fetch(`${base}/openapi.json`)).json();

    // An order with fulfillment tasks, and an API key that may be revoked (not ours).
    const router = (await (await fetch(`${base}/product-offerings?limit=200`, { headers: { authorization: `Bearer ${KEY}` } })).json())
      .items.find((o: any) => o.body.code === 'managed-router').id;
    const order = await fetch(`${base}/accounts/${demo.accountId}/orders`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ action: 'ADD', offeringId: router }] }) });
    assert.equal(order.status, 201);
    const spare = await fetch(`${base}/api-keys`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'spare', role: 'viewer' }) });
    assert.equal(spare.status, 201);
    ids.set('api-keys', [(await spare.json()).apiKeyId]);

    const tables: Record<string, string> = {
      accounts: 'account', customers: 'customer', 'product-instances': 'product_instance', 'service-instances': 'service_instance',
      'resource-instances': 'resource_instance', subscriptions: 'subscription', relationships: 'product_instance_relationship',
      'product-offerings': 'product_offering', 'product-specifications': 'product_specification', 'service-specifications': 'service_specification',
      'resource-specifications': 'resource_specification', 'price-rules': 'price_rule', 'price-terms': 'account_price_term',
      quotes: 'quote', orders: 'product_order', tasks: 'fulfillment_task',
    };
    for (const [collection, table] of Object.entries(tables)) {
      // The table's own id: the primary-key column that is not the tenant or the account.
      const [key] = await queryRows<{ attname: string }>(app.db.pool, `
        select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
         where i.indrelid = $1::regclass and i.indisprimary and a.attname not in ('tenant_id', 'version')
         order by a.attname = 'account_id' and $1::text <> 'account'`, [table]);
      const rows = await queryRows<{ id: string }>(app.db.pool, `select distinct ${key.attname}::text as id from ${table} where tenant_id = $1 limit 5`, [demo.tenantId]);
      ids.set(collection, [...(ids.get(collection) ?? []), ...rows.map((r) => r.id)]);
    }
  });
  after(() => app?.close());

  const resolve = (schema: Schema): Schema => {
    if (!schema?.$ref) return schema ?? {};
    return schema.$ref.replace(/^#\//, '').split('/').reduce((node: any, part: string) => node[part], doc);
  };

  /** A value the schema accepts (mostly: patterns and formats are approximated). */
  function valid(schemaIn: Schema, depth = 0): fc.Arbitrary<unknown> {
    const schema = resolve(schemaIn);
    const alternatives = schema.anyOf ?? schema.oneOf;
    let arbitrary: fc.Arbitrary<unknown>;
    if (alternatives) arbitrary = fc.oneof(...alternatives.map((s: Schema) => valid(s, depth)));
    else if (schema.allOf) arbitrary = valid(schema.allOf[0], depth);
    else if ('const' in schema) arbitrary = fc.constant(schema.const);
    else if (schema.enum) arbitrary = fc.constantFrom(...schema.enum);
    else arbitrary = byType(schema, depth);
    return schema.nullable ? fc.option(arbitrary, { nil: null, freq: 5 }) : arbitrary;
  }

  function byType(schema: Schema, depth: number): fc.Arbitrary<unknown> {
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    switch (type) {
      case 'object': {
        const properties: Record<string, Schema> = schema.properties ?? {};
        const required: string[] = schema.required ?? [];
        if (Object.keys(properties).length === 0 || depth > 4) {
          // Free-form: a small JSON object.
          return fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()), { maxKeys: 3 });
        }
        const record: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [name, s] of Object.entries(properties)) record[name] = valid(s, depth + 1);
        return fc.record(record, { requiredKeys: required.filter((r) => r in properties) });
      }
      case 'array':
        return fc.array(valid(schema.items ?? {}, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)) });
      case 'integer':
        return fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 1000, (schema.minimum ?? 0) + 1000) });
      case 'number':
        return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'string':
        if (schema.format === 'uuid') return fc.oneof(fc.constantFrom(...[...ids.values()].flat()), fc.uuid());
        if (schema.format === 'date-time') return fc.date({ min: new Date('2020-01-01'), max: new Date('2030-12-31'), noInvalidDate: true }).map((d) => d.toISOString());
        if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? Infinity));
        return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.max(schema.minLength ?? 0, Math.min(schema.maxLength ?? 20, 20)) });
      default:
        return fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null));
    }
  }

  /** Every place in a value: the paths of its objects' keys and arrays' items. */
  function places(value: unknown, path: (string | number)[] = []): (string | number)[][] {
    const found = [path];
    if (Array.isArray(value)) value.forEach((v, i) => found.push(...places(v, [...path, i])));
    else if (value !== null && typeof value === 'object' && !(value instanceof Raw)) for (const [k, v] of Object.entries(value)) found.push(...places(v, [...path, k]));
    return found;
  }

  /** The value with `replacement` at `path` (or added under a new key there, if `add`). */
  function put(value: unknown, path: (string | number)[], replacement: unknown, add: boolean): unknown {
    if (path.length === 0) {
      if (add && value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Raw)) return { ...value, extra: replacement };
      return replacement;
    }
    const [head, ...rest] = path;
    if (Array.isArray(value)) return value.map((v, i) => (i === head ? put(v, rest, replacement, add) : v));
    return { ...(value as object), [head]: put((value as any)[head], rest, replacement, add) };
  }

  const body = (schema: Schema | undefined) => {
    const validBody = schema ? valid(schema) : fc.constant({});
    return validBody.chain((good) => fc.oneof(
      { weight: 1, arbitrary: fc.constant(good) },
      {
        weight: 5,
        arbitrary: fc.tuple(fc.constantFrom(...places(good)), fc.constantFrom(...BOUNDARY_VALUES), fc.boolean())
          .map(([path, replacement, add]) => put(good, path, replacement, add)),
      },
    ));
  };

  const pathValue = (collection: string, schema: Schema) => {
    const known = ids.get(collection) ?? [];
    const boundary = fc.constantFrom('not-a-uuid', 'z'.repeat(150), '%00', '%ED%A0%80', '%E0%A4%A', '0', '-1', '99999999999999999999');
    if (resolve(schema).type === 'integer') return fc.oneof({ weight: 4, arbitrary: fc.constantFrom('1', '2') }, { weight: 1, arbitrary: boundary });
    if (collection === 'callbacks') return fc.oneof(fc.constantFrom('manual', 'internal'), boundary);
    return fc.oneof(
      { weight: known.length ? 6 : 0, arbitrary: known.length ? fc.constantFrom(...known) : fc.uuid() },
      { weight: 2, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: boundary },
    );
  };

  test('the document has write operations to try', () => {
    assert.ok(operations().length >= 60, `found ${operations().length}`);
  });

  function operations() {
    const found: { method: string; path: string; op: any }[] = [];
    for (const [path, item] of Object.entries<any>(doc?.paths ?? {})) {
      for (const method of ['post', 'put', 'patch']) if (item[method]) found.push({ method: method.toUpperCase(), path, op: item[method] });
    }
    return found;
  }

  for (const [path, item] of Object.entries<any>(declared.paths)) {
    for (const method of ['post', 'put', 'patch']) {
      if (!item[method]) continue;
      test(`${method.toUpperCase()} ${path}: no 5xx, every 4xx problem+json`, async () => {
        const op = doc.paths[path][method];
        const params: { name: string; schema: Schema }[] = (op.parameters ?? []).filter((p: any) => p.in === 'path');
        const segments = path.split('/');
        const paramArbs = Object.fromEntries(params.map((p) => {
          const at = segments.indexOf(`{${p.name}}`);
          return [p.name, pathValue(segments[at - 1] ?? '', p.schema)];
        }));
        const bodySchema = op.requestBody?.content?.['application/json']?.schema;
        await fc.assert(
          fc.asyncProperty(fc.record(paramArbs), body(bodySchema), fc.option(fc.uuid(), { freq: 2 }), fc.constantFrom('application/json', 'application/json', 'application/json', 'text/plain'),
            async (values, payload, idempotencyKey, contentType) => {
              const url = base + path.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
              const headers: Record<string, string> = { authorization: `Bearer ${KEY}`, 'content-type': contentType };
              if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
              const res = await fetch(url, { method: method.toUpperCase(), headers, body: serialize(payload) });
              const text = await res.text();
              const what = `${method.toUpperCase()} ${url} → ${res.status} ${text.slice(0, 300)}`;
              assert.ok(res.status < 500, what);
              if (res.status >= 400) {
                assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/, what);
                const problem = JSON.parse(text);
                assert.equal(typeof problem.type, 'string', what);
                assert.match(problem.type, /^\/problems\/[a-z-]+$/, what);
                assert.equal(typeof problem.title, 'string', what);
                assert.equal(problem.status, res.status, what);
              }
            }),
          { numRuns: RUNS_PER_OPERATION, endOnFailure: true, includeErrorInReport: true },
        );
      });
    }
  }

  test('the database took no value it cannot hold exactly', async () => {
    // Lone surrogates in text columns would have become U+FFFD.
    const rows = await queryRows(app.db.pool, `select name from customer where name like '%' || chr(65533) || '%'
      union all select name from product_instance where name like '%' || chr(65533) || '%'`);
    assert.deepEqual(rows, []);
  });
});
