/**
 * The README's tour, run as a new user would paste it (issue 8 point 13): every ```bash block
 * of its "A tour" section, in order, in one bash, in the folder of a freshly started
 * `npm start` (fresh database, demo key in .tenure/demo-key), with only curl and node: jq and
 * uuidgen are shadowed by functions that fail. The only change made to the text is the
 * address: `localhost:3000` becomes the test server's. Every command must succeed (errexit,
 * pipefail, nounset), every HTTP answer is logged by a curl wrapper and checked, and the key
 * outputs are the ones the README describes.
 */
import assert from 'node:assert/strict';
import { readFile, chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { REPO, runProcess, startTenure, type StartedTenure } from './helpers/tenure-process.ts';

/** The ```bash blocks of the README section `## A tour`, in order. */
function tourBlocks(readme: string): string[] {
  const start = readme.indexOf('\n## A tour\n');
  assert.ok(start >= 0, 'README has a "## A tour" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

const PRELUDE = `set -euo pipefail
trap 'echo "tour command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
jq() { echo "jq is not installed on a fresh machine" >&2; return 127; }
uuidgen() { echo "uuidgen is not installed on a fresh machine" >&2; return 127; }
# Every HTTP answer, on its own line in the status log: code, method, URL.
curl() { command curl "$@" --write-out "%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n"; }
`;

describe('README tour', () => {
  let db: TestDatabase;
  let dir: string;
  let server: StartedTenure;
  before(async () => {
    db = await createTestDatabase(2);
    dir = await mkdtemp(path.join(os.tmpdir(), 'tenure-tour-'));
    await chmod(dir, 0o755);
    // No TENURE_DEMO_KEY: the demo key is generated and kept in <dir>/.tenure/demo-key, as on a fresh clone.
    server = await startTenure({ DATABASE_URL: db.url, TENURE_DEMO_KEY: undefined }, { cwd: dir });
  });
  after(async () => {
    await server?.stop();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every command of the tour runs as pasted and answers what the README says', async () => {
    const blocks = tourBlocks(await readFile(path.join(REPO, 'README.md'), 'utf8'));
    assert.ok(blocks.length >= 4, `the tour has its bash blocks (found ${blocks.length})`);
    const address = new URL(server.url).host;
    const script = PRELUDE + blocks.join('\n').replaceAll('localhost:3000', address);
    assert.doesNotMatch(script, /localhost:\d+/, 'every address of the tour is localhost:3000');

    const run = await runProcess('bash', ['-s'], { cwd: dir, input: script, timeoutMs: 180_000 });
    const calls = run.stderr.split('\n').filter((l) => l.startsWith('HTTP ')).map((l) => {
      const [, status, method, url] = l.split(' ');
      return { status: Number(status), method, path: new URL(url).pathname.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id') };
    });
    const other = run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('HTTP '));
    assert.equal(run.code, 0, `the tour failed:\n${other.join('\n')}\n--- stdout:\n${run.stdout}`);
    assert.deepEqual(other, [], 'nothing but the status log on stderr');

    // Every answer is a success, except the one stale command the README says is refused.
    const refused = calls.filter((c) => c.status >= 300);
    assert.deepEqual(refused, [{ status: 409, method: 'POST', path: '/internal/assets/product-instances/:id/suspension:apply' }]);
    const created = calls.filter((c) => c.status === 201).map((c) => c.path);
    assert.deepEqual(created, ['/accounts/:id/quotes', '/accounts/:id/orders']);
    assert.ok(calls.some((c) => c.path.endsWith('/modification:start')) && calls.some((c) => c.path.endsWith('/modification:complete')));
    assert.ok(calls.filter((c) => c.path.startsWith('/fulfillment/tasks/')).length >= 2, 'the tasks were answered');

    const out = run.stdout;
    // The installed base at the start: the four demo products, active, version 3 each.
    for (const name of ['Business Fiber 1Gbps', 'Static IP /29', 'Managed Router', 'SLA Gold']) {
      assert.ok(out.includes(`{\n    "name": "${name}",\n    "status": "ACTIVE",\n    "version": 3\n  }`), `${name} listed as ACTIVE v3`);
    }
    // The upgrade completed: active again, version 5, 2 Gbit/s.
    assert.ok(out.includes('"status": "ACTIVE",\n  "version": 5,\n  "configuration": {\n    "accessType": "FTTx",\n    "bandwidthMbps": "2000"\n  }'), 'upgrade completed at v5');
    // The stale version was refused as a problem+json concurrent-modification.
    assert.match(out, /"status": 409,\n {2}"type": "\/problems\/concurrent-modification",\n {2}"detail": "[^"]+"/);
    // The history has every version, and asOf before the upgrade shows the 1 Gbit/s fiber at version 3.
    for (const [version, changeType] of [[1, 'CREATED'], [5, 'MODIFIED']] as const) {
      assert.ok(out.includes(`"version": ${version},\n    "changeType": "${changeType}"`), `history v${version} ${changeType}\n${out}`);
    }
    assert.ok(out.includes('"name": "Business Fiber 1Gbps",\n    "version": 3,\n    "configuration": {\n      "accessType": "FTTx",\n      "bandwidthMbps": "1000"\n    }'), 'asOf before the upgrade');
    // The catalog lists triple-play, whose preview itemizes its members with the bundle discount and WELCOME10.
    assert.match(out, /^[0-9a-f-]{36} {2}triple-play$/m);
    assert.ok(out.includes('"chargeCode": "monthly-fee",\n    "listAmountMinor": "35000000",\n    "adjustments": [\n      "welcome10 -3500000",\n      "bundle:triple-play -4725000"\n    ],\n    "finalAmountMinor": "26775000"'), 'WELCOME10 and the bundle discount on the monthly fee');
    // The quote was priced against the snapshot.
    assert.match(out, /"quoteId": "[0-9a-f-]{36}",\n {2}"status": "PRICED"/);
    // The order completed, every item done: the fiber, its children and its add-on suspended.
    assert.match(out, /"status": "completed",\n {2}"items": \[\n(\s+"SUSPEND completed",?\n)+\s+\]/);
    assert.match(out, /^order {2}null → acknowledged$/m);
    assert.match(out, /^order {2}\S+ → completed$/m);
    assert.match(out, /^Business Fiber \S+ SUSPENDED v\d+$/m);
    for (const name of ['Static IP /29', 'Managed Router', 'SLA Gold']) assert.match(out, new RegExp(`^${name} SUSPENDED v4$`, 'm'));
    // And nothing is inconsistent.
    assert.ok(out.includes('{\n  "healthy": true,\n  "findings": 0\n}'), 'consistency check healthy');
  });

  test('the tour shadows what a fresh machine lacks: a jq in it would fail the run', async () => {
    const run = await runProcess('bash', ['-s'], { cwd: dir, input: PRELUDE + 'echo \'{"a":1}\' | jq .a\n' });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /jq is not installed on a fresh machine/);
  });
});
