import assert from 'node:assert/strict';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import {
  HttpProvisioner,
  HttpProvisionerConfigError,
  signPayload,
  verifyCallbackSignature,
  type HttpProvisionerConfig,
} from '../../src/fulfillment/http-provisioner.ts';
import { ProvisionerRegistry, ProvisionerRegistryError, type ProvisioningTask } from '../../src/fulfillment/provisioner.ts';
import { sendJson, sendText, startFlakyServer, type FlakyServer, type Handler, type RecordedRequest } from './flaky-server.ts';

const SECRET = 'whsec_test_3f9a1c';

function makeTask(overrides: Partial<ProvisioningTask> = {}): ProvisioningTask {
  return {
    taskId: randomUUID(),
    idempotencyKey: `task-${randomUUID()}`,
    correlationId: `corr-${randomUUID()}`,
    tenantId: randomUUID(),
    accountId: randomUUID(),
    orderId: randomUUID(),
    orderItemId: randomUUID(),
    action: 'ADD',
    step: 'activate',
    specification: { kind: 'service', id: randomUUID(), version: 2, code: 'CFS_FIBER_ACCESS' },
    productInstanceId: randomUUID(),
    // Non-ASCII on purpose: the signature must cover the UTF-8 bytes that went on the wire.
    parameters: { bandwidthMbps: 1000, siteAddress: 'Jl. Jend. Sudirman Kav. 52–53, Jakarta ✓', vlan: [101, 102] },
    attempt: 1,
    ...overrides,
  };
}

/** The body every call must carry, field by field, for a task. */
function expectedBody(task: ProvisioningTask) {
  return {
    taskId: task.taskId,
    idempotencyKey: task.idempotencyKey,
    correlationId: task.correlationId,
    tenantId: task.tenantId,
    accountId: task.accountId,
    orderId: task.orderId,
    orderItemId: task.orderItemId,
    action: task.action,
    step: task.step,
    specification: task.specification,
    productInstanceId: task.productInstanceId,
    parameters: task.parameters,
    attempt: task.attempt,
  };
}

/**
 * What the external system checks on every request, written independently of the code under
 * test: HMAC-SHA256 over "<timestamp>.<raw bytes>", constant-time comparison, a timestamp
 * within 5 minutes, and the correlation and idempotency headers present.
 */
function externalSystemCheck(request: RecordedRequest, secret = SECRET): string | null {
  const timestamp = request.headers['x-tenure-timestamp'];
  const signature = request.headers['x-tenure-signature'];
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp)) return 'no timestamp';
  if (typeof signature !== 'string' || !signature.startsWith('v1=')) return 'no signature';
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return 'stale timestamp';
  const expected = createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${timestamp}.`), request.rawBody])).digest();
  const got = Buffer.from(signature.slice(3), 'hex');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return 'bad signature';
  if (request.headers['content-type'] !== 'application/json') return 'not json';
  if (typeof request.headers['idempotency-key'] !== 'string') return 'no idempotency key';
  if (typeof request.headers['x-correlation-id'] !== 'string') return 'no correlation id';
  return null;
}

/** A handler that refuses (401) anything the external system's check rejects. */
function checked(handler: Handler): Handler {
  return (request, response) => {
    const problem = externalSystemCheck(request);
    if (problem) return sendJson(response, 401, { message: problem });
    return handler(request, response);
  };
}

describe('HttpProvisioner against a real HTTP server', () => {
  const servers: FlakyServer[] = [];
  async function server(handler: Handler): Promise<FlakyServer> {
    const s = await startFlakyServer(handler);
    servers.push(s);
    return s;
  }
  function provisioner(url: string, extra: Partial<HttpProvisionerConfig> = {}): HttpProvisioner {
    return new HttpProvisioner({ code: 'fiber-noc', url, secret: SECRET, ...extra });
  }
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  test('200 done: a signed POST with the whole task, the correlation id and the idempotency key → done', async () => {
    const fake = await server(checked((_req, res) => sendJson(res, 200, { status: 'done', externalId: 'svc-42', data: { ontSerial: 'ZTEG1234' } })));
    const task = makeTask();
    const result = await provisioner(fake.url).provision(task);

    assert.deepEqual(result, { outcome: 'done', externalId: 'svc-42', data: { ontSerial: 'ZTEG1234' } });
    assert.equal(fake.requests.length, 1);
    const [request] = fake.requests;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/provision');
    assert.equal(externalSystemCheck(request), null);
    assert.equal(request.headers['idempotency-key'], task.idempotencyKey);
    assert.equal(request.headers['x-correlation-id'], task.correlationId);
    assert.match(String(request.headers['x-tenure-signature']), /^v1=[0-9a-f]{64}$/);
    assert.deepEqual(request.json, expectedBody(task));
  });

  test('201 done is done too; a numeric externalId becomes a string', async () => {
    const fake = await server(checked((_req, res) => sendJson(res, 201, { status: 'done', externalId: 12345 })));
    assert.deepEqual(await provisioner(fake.url).provision(makeTask()), { outcome: 'done', externalId: '12345' });
  });

  test('a server checking with another secret refuses the request (401, not retryable)', async () => {
    const fake = await server((req, res) => {
      const problem = externalSystemCheck(req, 'another-secret');
      sendJson(res, problem ? 401 : 200, problem ? { message: problem } : { status: 'done' });
    });
    const result = await provisioner(fake.url).provision(makeTask());
    assert.deepEqual(result, { outcome: 'failed', code: 'http-401', message: 'HTTP 401 Unauthorized: bad signature', retryable: false });
  });

  test('202 → waiting with the externalId; the later callback is accepted only when signed with the secret', async () => {
    const fake = await server(checked((_req, res) => sendJson(res, 202, { status: 'accepted', externalId: 'wo-7781', message: 'queued for the field team' })));
    const task = makeTask();
    const result = await provisioner(fake.url).provision(task);
    assert.deepEqual(result, { outcome: 'waiting', externalId: 'wo-7781', message: 'queued for the field team' });

    // Later the external system calls Tenure back, signing with the same secret and scheme.
    const now = new Date();
    const timestamp = String(Math.floor(now.getTime() / 1000));
    const rawBody = JSON.stringify({ taskId: task.taskId, idempotencyKey: task.idempotencyKey, status: 'done', externalId: 'wo-7781', data: { port: 'ge-0/0/7' } });
    const signatureHeader = signPayload(SECRET, timestamp, rawBody);
    const check = (overrides: Partial<Parameters<typeof verifyCallbackSignature>[0]>) =>
      verifyCallbackSignature({ secret: SECRET, timestampHeader: timestamp, signatureHeader, rawBody, now, ...overrides });

    assert.deepEqual(check({}), { ok: true });
    assert.deepEqual(check({ rawBody: Buffer.from(rawBody) }), { ok: true }, 'the raw bytes as a Buffer verify the same');

    const tampered = check({ rawBody: rawBody.replace('wo-7781', 'wo-9999') });
    assert.equal(tampered.ok, false);
    assert.match((tampered as { reason: string }).reason, /does not match/);
    assert.match((check({ secret: 'wrong-secret' }) as { reason: string }).reason, /does not match/);
    assert.match((check({ timestampHeader: String(Number(timestamp) + 1) }) as { reason: string }).reason, /does not match/, 'the timestamp is signed too');
  });

  test('202 with an empty body → waiting without externalId; 200 {status: accepted} → waiting', async () => {
    const empty = await server((_req, res) => {
      res.writeHead(202);
      res.end();
    });
    assert.deepEqual(await provisioner(empty.url).provision(makeTask()), { outcome: 'waiting', externalId: null });
    const accepted = await server((_req, res) => sendJson(res, 200, { status: 'accepted', externalId: 'wo-1' }));
    assert.deepEqual(await provisioner(accepted.url).provision(makeTask()), { outcome: 'waiting', externalId: 'wo-1' });
  });

  test('500 → failed, retryable, with the remote message; 503 with a text body too', async () => {
    const fake = await server((_req, res) => sendJson(res, 500, { message: 'NOC database unavailable' }));
    assert.deepEqual(await provisioner(fake.url).provision(makeTask()), {
      outcome: 'failed', code: 'http-500', message: 'HTTP 500 Internal Server Error: NOC database unavailable', retryable: true,
    });
    const text = await server((_req, res) => sendText(res, 503, 'maintenance until 02:00'));
    assert.deepEqual(await provisioner(text.url).provision(makeTask()), {
      outcome: 'failed', code: 'http-503', message: 'HTTP 503 Service Unavailable: maintenance until 02:00', retryable: true,
    });
  });

  test('400 → failed, not retryable, with the remote message (problem+json detail)', async () => {
    const fake = await server((_req, res) =>
      sendText(res, 400, JSON.stringify({ type: 'about:blank', title: 'Bad Request', detail: 'vlan 101 is reserved' }), 'application/problem+json'));
    assert.deepEqual(await provisioner(fake.url).provision(makeTask()), {
      outcome: 'failed', code: 'http-400', message: 'HTTP 400 Bad Request: vlan 101 is reserved', retryable: false,
    });
  });

  test('other 4xx are not retryable, except 408 and 429 (try again later)', async () => {
    for (const [status, retryable] of [[404, false], [409, false], [422, false], [408, true], [429, true]] as const) {
      const fake = await server((_req, res) => sendJson(res, status, { error: 'nope' }));
      const result = await provisioner(fake.url).provision(makeTask());
      assert.equal(result.outcome, 'failed');
      assert.equal((result as any).code, `http-${status}`);
      assert.equal((result as any).retryable, retryable, `status ${status}`);
      assert.match((result as any).message, /: nope$/);
    }
  });

  test('a 2xx with invalid JSON, no body, or an unknown status → bad-response, retryable', async () => {
    const answers: Array<(res: import('node:http').ServerResponse) => void> = [
      (res) => sendText(res, 200, '<html>ok</html>', 'text/html'),
      (res) => sendText(res, 200, '{"status": "done",', 'application/json'),
      (res) => { res.writeHead(200); res.end(); },
      (res) => { res.writeHead(204); res.end(); },
      (res) => sendJson(res, 200, { status: 'maybe' }),
      (res) => sendJson(res, 200, ['done']),
      (res) => sendJson(res, 200, { status: 'done', data: 'not an object' }),
      (res) => sendJson(res, 200, { status: 'done', externalId: { id: 1 } }),
    ];
    for (const answer of answers) {
      const fake = await server((_req, res) => answer(res));
      const result = await provisioner(fake.url).provision(makeTask());
      assert.equal(result.outcome, 'failed');
      assert.equal((result as any).code, 'bad-response');
      assert.equal((result as any).retryable, true);
    }
  });

  test('a server that never answers → failed timeout, retryable (and its sockets do not outlive the test)', async () => {
    const fake = await server(() => {
      /* never answers */
    });
    const result = await provisioner(fake.url, { timeoutMs: 200 }).provision(makeTask());
    assert.equal(result.outcome, 'failed');
    assert.equal((result as any).code, 'timeout');
    assert.equal((result as any).retryable, true);
    assert.match((result as any).message, /did not answer within 200 ms/);
    assert.equal(fake.requests.length, 1, 'the request did arrive');
  });

  test('a server that sends headers and then stalls the body → timeout too', async () => {
    const fake = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"status":');
    });
    const result = await provisioner(fake.url, { timeoutMs: 200 }).provision(makeTask());
    assert.equal((result as any).code, 'timeout');
    assert.equal((result as any).retryable, true);
  });

  test('connection refused and a dropped connection → network-error, retryable; nothing throws', async () => {
    const gone = await startFlakyServer(() => {});
    await gone.close();
    const refused = await provisioner(gone.url).provision(makeTask());
    assert.equal(refused.outcome, 'failed');
    assert.equal((refused as any).code, 'network-error');
    assert.equal((refused as any).retryable, true);
    assert.match((refused as any).message, /ECONNREFUSED/);

    const dropping = await server((req, res) => {
      res.socket?.destroy();
    });
    const dropped = await provisioner(dropping.url).provision(makeTask());
    assert.equal((dropped as any).code, 'network-error');
    assert.equal((dropped as any).retryable, true);

    const throwing = provisioner('http://127.0.0.1:9/never', { fetch: async () => { throw new TypeError('fetch failed'); } });
    assert.equal(((await throwing.provision(makeTask())) as any).code, 'network-error');
  });

  test('redirects are not followed: 307 → failed, not retryable, and the target sees nothing', async () => {
    const target = await server((_req, res) => sendJson(res, 200, { status: 'done' }));
    const redirecting = await server((_req, res) => {
      res.writeHead(307, { location: target.url });
      res.end();
    });
    const result = await provisioner(redirecting.url).provision(makeTask());
    assert.equal((result as any).code, 'http-307');
    assert.equal((result as any).retryable, false);
    assert.equal(target.requests.length, 0);
  });

  describe('a task retried against a system that dedupes by Idempotency-Key never provisions twice', () => {
    /** A fake external system: the first request with a key provisions; later ones get 409 already-provisioned. */
    function dedupingSystem(options: { loseFirstResponse?: boolean } = {}) {
      const provisioned = new Map<string, string>();
      let provisionCount = 0;
      const handler: Handler = checked((req, res) => {
        const key = String(req.headers['idempotency-key']);
        const existing = provisioned.get(key);
        if (existing) return sendJson(res, 409, { status: 'already-provisioned', externalId: existing });
        provisionCount += 1;
        const externalId = `svc-${provisionCount}`;
        provisioned.set(key, externalId);
        if (options.loseFirstResponse && provisionCount === 1) {
          res.socket?.destroy(); // the work is done, but the answer never reaches Tenure
          return;
        }
        sendJson(res, 200, { status: 'done', externalId });
      });
      return { handler, provisionCount: () => provisionCount };
    }

    function assertSameCallApartFromAttempt(first: RecordedRequest, second: RecordedRequest, task: ProvisioningTask) {
      for (const header of ['idempotency-key', 'x-correlation-id', 'content-type']) {
        assert.equal(second.headers[header], first.headers[header], header);
      }
      assert.equal(first.headers['idempotency-key'], task.idempotencyKey);
      assert.equal(first.headers['x-correlation-id'], task.correlationId);
      const { attempt: attempt1, ...rest1 } = first.json;
      const { attempt: attempt2, ...rest2 } = second.json;
      assert.deepEqual(rest2, rest1);
      assert.deepEqual([attempt1, attempt2], [1, 2]);
    }

    test('second call (attempt 2) → 409 already-provisioned → done with the same externalId', async () => {
      const system = dedupingSystem();
      const fake = await server(system.handler);
      const p = provisioner(fake.url);
      const task = makeTask();

      const first = await p.provision(task);
      const second = await p.provision({ ...task, attempt: 2 });

      assert.deepEqual(first, { outcome: 'done', externalId: 'svc-1' });
      assert.deepEqual(second, { outcome: 'done', externalId: 'svc-1' });
      assert.equal(system.provisionCount(), 1);
      assert.equal(fake.requests.length, 2);
      assertSameCallApartFromAttempt(fake.requests[0], fake.requests[1], task);
    });

    test('the first answer is lost (network-error, retryable); the retry gets done with the externalId of the first', async () => {
      const system = dedupingSystem({ loseFirstResponse: true });
      const fake = await server(system.handler);
      const p = provisioner(fake.url);
      const task = makeTask();

      const first = await p.provision(task);
      assert.equal(first.outcome, 'failed');
      assert.equal((first as any).code, 'network-error');
      assert.equal((first as any).retryable, true);

      const retry = await p.provision({ ...task, attempt: 2 });
      assert.deepEqual(retry, { outcome: 'done', externalId: 'svc-1' });
      assert.equal(system.provisionCount(), 1);
      assertSameCallApartFromAttempt(fake.requests[0], fake.requests[1], task);
    });

    test('compensate is its own call (step compensate, own key), not mistaken for a replay of provision', async () => {
      const system = dedupingSystem();
      const fake = await server(system.handler);
      const undo = await server(checked((_req, res) => sendJson(res, 200, { status: 'done' })));
      const task = makeTask();

      assert.deepEqual(await provisioner(fake.url).provision(task), { outcome: 'done', externalId: 'svc-1' });
      const compensated = await provisioner(fake.url).compensate(task);
      assert.deepEqual(compensated, { outcome: 'done', externalId: 'svc-2' }, 'the system did the undo instead of answering 409');
      const request = fake.requests[1];
      assert.equal(request.headers['idempotency-key'], `${task.idempotencyKey}:compensate`);
      assert.equal(request.headers['x-correlation-id'], task.correlationId);
      assert.deepEqual(request.json, { ...expectedBody(task), step: 'compensate', compensatedStep: 'activate', idempotencyKey: `${task.idempotencyKey}:compensate` });

      // A retried compensation is deduplicated like any call.
      assert.deepEqual(await provisioner(fake.url).compensate({ ...task, attempt: 2 }), { outcome: 'done', externalId: 'svc-2' });
      assert.equal(system.provisionCount(), 2);

      // With compensateUrl, compensation goes there.
      const separate = provisioner(fake.url, { compensateUrl: undo.url });
      assert.deepEqual(await separate.compensate(task), { outcome: 'done', externalId: null });
      assert.equal(undo.requests.length, 1);
      assert.equal(undo.requests[0].json.step, 'compensate');
      assert.equal(fake.requests.length, 3);
    });
  });

  test('configuration is checked at construction', () => {
    const ok = { code: 'x', url: 'http://127.0.0.1:1/p', secret: SECRET };
    assert.throws(() => new HttpProvisioner({ ...ok, code: ' ' }), HttpProvisionerConfigError);
    assert.throws(() => new HttpProvisioner({ ...ok, url: 'not a url' }), /url is not a valid URL/);
    assert.throws(() => new HttpProvisioner({ ...ok, url: 'ftp://127.0.0.1/p' }), /must be http or https/);
    assert.throws(() => new HttpProvisioner({ ...ok, compensateUrl: '::' }), /compensateUrl is not a valid URL/);
    assert.throws(() => new HttpProvisioner({ ...ok, secret: '' }), /non-empty secret/);
    assert.throws(() => new HttpProvisioner({ ...ok, timeoutMs: 0 }), /timeoutMs must be a positive integer/);
    assert.equal(new HttpProvisioner(ok).code(), 'x');
  });
});

describe('signature helpers', () => {
  const now = new Date('2026-07-02T10:30:00Z');
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const rawBody = '{"status":"done","externalId":"svc-1"}';

  test('signPayload is v1=hex HMAC-SHA256 of "<timestamp>.<body>"', () => {
    const expected = createHmac('sha256', SECRET).update(`${timestamp}.${rawBody}`).digest('hex');
    assert.equal(signPayload(SECRET, timestamp, rawBody), `v1=${expected}`);
    assert.equal(signPayload(SECRET, Number(timestamp), Buffer.from(rawBody)), `v1=${expected}`);
  });

  test('verifyCallbackSignature accepts a fresh, matching signature (also among several, for secret rotation)', () => {
    const signatureHeader = signPayload(SECRET, timestamp, rawBody);
    assert.deepEqual(verifyCallbackSignature({ secret: SECRET, timestampHeader: timestamp, signatureHeader, rawBody, now }), { ok: true });
    const rotated = `${signPayload('old-secret', timestamp, rawBody)}, ${signatureHeader}`;
    assert.deepEqual(verifyCallbackSignature({ secret: SECRET, timestampHeader: timestamp, signatureHeader: rotated, rawBody, now }), { ok: true });
    // At the edge of the tolerance, both ways.
    for (const skew of [-300, 300]) {
      const ts = String(Number(timestamp) + skew);
      assert.deepEqual(verifyCallbackSignature({ secret: SECRET, timestampHeader: ts, signatureHeader: signPayload(SECRET, ts, rawBody), rawBody, now }), { ok: true });
    }
  });

  test('verifyCallbackSignature refuses tampering, a wrong secret, replays, and missing or garbled headers', () => {
    const good = { secret: SECRET, timestampHeader: timestamp, signatureHeader: signPayload(SECRET, timestamp, rawBody), rawBody, now };
    const old = String(Number(timestamp) - 301);
    const future = String(Number(timestamp) + 3600);
    const cases: Array<[string, Partial<Parameters<typeof verifyCallbackSignature>[0]>, RegExp]> = [
      ['tampered body', { rawBody: rawBody.replace('svc-1', 'svc-2') }, /does not match/],
      ['wrong secret', { secret: 'not-the-secret' }, /does not match/],
      ['old timestamp (replay)', { timestampHeader: old, signatureHeader: signPayload(SECRET, old, rawBody) }, /in the past, beyond the tolerance of 300 s/],
      ['future timestamp', { timestampHeader: future, signatureHeader: signPayload(SECRET, future, rawBody) }, /in the future/],
      ['tighter tolerance', { toleranceSeconds: 10, timestampHeader: String(Number(timestamp) - 11), signatureHeader: signPayload(SECRET, Number(timestamp) - 11, rawBody) }, /tolerance of 10 s/],
      ['timestamp swapped', { timestampHeader: String(Number(timestamp) - 1) }, /does not match/],
      ['missing timestamp', { timestampHeader: undefined }, /X-Tenure-Timestamp header is missing/],
      ['empty timestamp', { timestampHeader: '' }, /X-Tenure-Timestamp header is missing/],
      ['garbled timestamp', { timestampHeader: '2026-07-02T10:30:00Z' }, /not unix seconds/],
      ['negative timestamp', { timestampHeader: '-5' }, /not unix seconds/],
      ['repeated timestamp', { timestampHeader: [timestamp, timestamp] }, /not unix seconds/],
      ['missing signature', { signatureHeader: undefined }, /X-Tenure-Signature header is missing/],
      ['repeated signature', { signatureHeader: [good.signatureHeader, good.signatureHeader] }, /repeated/],
      ['unknown scheme', { signatureHeader: good.signatureHeader.replace('v1=', 'v0=') }, /no v1=/],
      ['short hex', { signatureHeader: good.signatureHeader.slice(0, -2) }, /no v1=/],
      ['not hex', { signatureHeader: 'v1=' + 'z'.repeat(64) }, /no v1=/],
      ['empty secret', { secret: '' }, /no secret/],
    ];
    for (const [name, overrides, reason] of cases) {
      const result = verifyCallbackSignature({ ...good, ...overrides });
      assert.equal(result.ok, false, name);
      assert.match((result as { reason: string }).reason, reason, name);
    }
  });
});

describe('ProvisionerRegistry', () => {
  const valid = (code: string) => ({ code: () => code, provision: async () => ({ outcome: 'done' as const }) });

  test('refuses an object without provision(), and things that are not objects', () => {
    assert.throws(() => new ProvisionerRegistry([valid('a'), { code: () => 'b' }]), (error: unknown) => {
      assert.ok(error instanceof ProvisionerRegistryError);
      assert.equal(error.message, 'provisioner #2 does not implement the Provisioner contract (code() and provision(task))');
      return true;
    });
    for (const bad of [null, undefined, 'fiber', 42, { provision: async () => ({}) }, { code: 'fiber', provision: async () => ({}) }]) {
      assert.throws(() => new ProvisionerRegistry([bad]), /#1 does not implement the Provisioner contract/);
    }
  });

  test('refuses an empty code', () => {
    assert.throws(() => new ProvisionerRegistry([valid('')]), { message: 'provisioner #1 has an empty code()' });
    assert.throws(() => new ProvisionerRegistry([valid('a'), valid('   ')]), /provisioner #2 has an empty code\(\)/);
    assert.throws(() => new ProvisionerRegistry([{ code: () => 7, provision: async () => ({}) }]), ProvisionerRegistryError);
  });

  test('refuses a duplicate code', () => {
    const http = new HttpProvisioner({ code: 'fiber-noc', url: 'http://127.0.0.1:1/p', secret: SECRET });
    assert.throws(() => new ProvisionerRegistry([http, valid('fiber-noc')]), { message: 'provisioner code "fiber-noc" is registered twice' });
  });

  test('accepts valid provisioners, HTTP ones included, and finds them by code', () => {
    const http = new HttpProvisioner({ code: 'fiber-noc', url: 'http://127.0.0.1:1/p', secret: SECRET });
    const manual = valid('manual');
    const registry = new ProvisionerRegistry([http, manual]);
    assert.deepEqual(registry.codes(), ['fiber-noc', 'manual']);
    assert.equal(registry.get('fiber-noc'), http);
    assert.equal(registry.get('manual'), manual);
    assert.equal(registry.has('manual'), true);
    assert.equal(registry.has('crm'), false);
    assert.throws(() => registry.get('crm'), { message: 'no provisioner registered with code "crm"' });
    assert.deepEqual(new ProvisionerRegistry([]).codes(), []);
  });
});
