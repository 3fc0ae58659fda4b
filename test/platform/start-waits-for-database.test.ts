/**
 * `npm start` with a DATABASE_URL server that is not there yet (still starting, failing over)
 * waits for it instead of exiting, and starts once it answers; one that never comes is said
 * in one line, with no stack trace, after TENURE_DB_START_WAIT_SECONDS.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { anyFreePort } from '../../src/platform/embedded.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTenure, runProcess, REPO } from '../helpers/tenure-process.ts';

/**
 * A TCP forwarder to the real server that drops the first `refuse` connections at once (as a
 * server that is still starting does), then forwards.
 */
async function lateForwarder(target: URL, refuse: number) {
  const sockets = new Set<net.Socket>();
  let refused = 0;
  const server = net.createServer((client) => {
    if (refused < refuse) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    refused: () => refused,
    close: () => new Promise<void>((resolve) => { sockets.forEach((s) => s.destroy()); server.close(() => resolve()); }),
  };
}

describe('start-up with the database away', { timeout: 120_000 }, () => {
  test('npm start waits for a DATABASE_URL server that comes up later, and then serves', async () => {
    const db = await createTestDatabase(1);
    const forwarder = await lateForwarder(new URL(db.url), 3);
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(forwarder.port);
    const tenure = await startTenure({ DATABASE_URL: url.toString(), LOG_LEVEL: 'warn', TENURE_IN_PROCESS_WORKER: '0', TENURE_DB_START_WAIT_SECONDS: '60' });
    try {
      assert.equal(forwarder.refused(), 3);
      assert.match(tenure.output(), /database unavailable at start-up; waiting for it/);
      const health = await fetch(`${tenure.url}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok', database: 'up' });
    } finally {
      assert.equal(await tenure.stop(), 0);
      await forwarder.close();
      await db.drop();
    }
  });

  test('a server that never answers: one clear line and exit 1 after the wait', async () => {
    const port = await anyFreePort();
    const started = Date.now();
    const result = await runProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: REPO,
      env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`, PORT: '0', LOG_LEVEL: 'warn', TENURE_DB_START_WAIT_SECONDS: '2' },
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.ok(Date.now() - started >= 2_000, 'it waited');
    assert.match(result.stderr, /^tenure failed to start: the database is unavailable: connection refused \(waited 2 s for it at start-up\); retry in a few seconds\n$/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });
});
