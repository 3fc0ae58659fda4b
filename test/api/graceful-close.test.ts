/**
 * The API stopped gracefully (SIGTERM: fastify.close) while a client still sends on its
 * keep-alive connection: the request that arrives while the server drains is served like any
 * other, with `Connection: close`, never Fastify's own plain-JSON 503 (found by the
 * fault-injection suite, test/faults/api-killed.fault.ts, which stops the API under load).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';

describe('a request that arrives while the server closes', () => {
  let app: TestApp;
  before(async () => {
    app = await createTestApp();
  });
  after(() => app?.close());

  test('is served (Connection: close), not refused with a bare 503', async () => {
    await app.server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.server.address() as net.AddressInfo;
    // Hold the customer table: the first request waits inside its transaction.
    const locker = await app.db.pool.connect();
    await locker.query('begin');
    await locker.query('lock table customer in access exclusive mode');
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    try {
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // One request waits inside its transaction on a keep-alive connection; the server starts closing; the client sends the next one on it.
      const auth = `Authorization: Bearer ${app.adminKey}\r\nHost: localhost\r\n`;
      socket.write(`GET /customers HTTP/1.1\r\n${auth}\r\n`);
      let waiting = 0;
      for (let i = 0; i < 100 && waiting === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        waiting = (await locker.query(`select count(*)::int as n from pg_locks where not granted and relation = 'customer'::regclass`)).rows[0].n;
      }
      assert.equal(waiting, 1, 'the first request waits for the lock');
      const closing = app.server.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.write(`GET /customers HTTP/1.1\r\n${auth}\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await locker.query('rollback');
      await closing;
      await ended;
    } finally {
      locker.release();
      socket.destroy();
    }
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 200], `both served:\n${received}`);
    assert.match(received, /connection: close/i, 'the client is told to reconnect');
    assert.doesNotMatch(received, /"error":"Service Unavailable"/);
  });
});
