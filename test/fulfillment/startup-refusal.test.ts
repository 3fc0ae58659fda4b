/**
 * The provisioner registry refuses a broken configuration at start-up (seed 003 B1
 * guardrails): `npm start` and `tenure worker` print why and exit non-zero before anything
 * else happens. Real processes, as a user starts them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { loadProvisioners } from '../../src/fulfillment/provisioners.ts';
import { readConfig } from '../../src/platform/config.ts';
import { DEFAULT_ROUTING } from '../../src/fulfillment/decompose.ts';

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    // A database URL nobody listens on: the refusal must come before any connection.
    env: { ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', PORT: '0', LOG_LEVEL: 'warn', ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

const entry = (module: string) => JSON.stringify([{ module: `test/fulfillment/fixtures/${module}` }]);

describe('provisioner registry refusals at start-up', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a provisioner without provision()', { TENURE_PROVISIONERS: entry('no-provision.ts') }, /does not implement the Provisioner contract/],
    ['an empty code', { TENURE_PROVISIONERS: entry('empty-code.ts') }, /has an empty code\(\)/],
    ['a code registered twice', { TENURE_PROVISIONERS: JSON.stringify([{ module: 'test/fulfillment/fixtures/good.ts' }, { module: 'test/fulfillment/fixtures/good.ts' }]) }, /"good" is registered twice/],
    ['a built-in code repeated', { TENURE_PROVISIONERS: JSON.stringify([{ module: 'test/fulfillment/fixtures/good.ts', options: { code: 'manual' } }]) }, /"manual" is registered twice/],
    ['a routing to an unknown provisioner', { TENURE_FULFILLMENT_ROUTING: JSON.stringify({ defaultProvisioner: 'noc' }) }, /names provisioner "noc", which is not registered/],
    ['an http provisioner without its secret', { TENURE_PROVISIONERS: JSON.stringify([{ type: 'http', code: 'noc', url: 'http://127.0.0.1:9/x', secretEnv: 'UNSET_SECRET_FOR_TEST' }]) }, /needs code, url and secret/],
  ];
  for (const [name, env, message] of cases) {
    test(`the registry refuses ${name}`, async () => {
      await assert.rejects(loadProvisioners(readConfig(env), env.TENURE_FULFILLMENT_ROUTING ? JSON.parse(env.TENURE_FULFILLMENT_ROUTING) : DEFAULT_ROUTING), message);
    });
  }

  test('npm start refuses a broken provisioner: a clear message and exit code 1, before anything starts', async () => {
    const { code, output } = await run(['src/main.ts'], { TENURE_PROVISIONERS: entry('no-provision.ts') });
    assert.equal(code, 1, output);
    assert.match(output, /provisioner configuration refused: provisioner #3 does not implement the Provisioner contract/);
    assert.doesNotMatch(output, /Tenure is running/);
  });

  test('tenure worker refuses too', async () => {
    const { code, output } = await run(['src/cli/index.ts', 'worker'], { TENURE_PROVISIONERS: entry('no-provision.ts') });
    assert.notEqual(code, 0, output);
    assert.match(output, /does not implement the Provisioner contract/);
  });

  test('a setting that cannot be used is one line naming it, and exit code 1 (npm start) or 2 (tenure worker)', async () => {
    for (const [args, env, exit, line] of [
      [['src/main.ts'], { TENURE_FULFILLMENT_BATCH: '500' }, 1, 'tenure failed to start: TENURE_FULFILLMENT_BATCH must be a positive integer up to 100, got "500"'],
      [['src/main.ts'], { TENURE_FULFILLMENT_ROUTING: '[1]' }, 1, 'tenure failed to start: TENURE_FULFILLMENT_ROUTING must be a JSON object'],
      [['src/cli/index.ts', 'worker'], { TENURE_FULFILLMENT_ROUTING: '{bad' }, 2, `tenure: TENURE_FULFILLMENT_ROUTING is not valid JSON: Expected property name or '}' in JSON at position 1`],
      [['src/cli/index.ts', 'worker'], { TENURE_IN_PROCESS_WORKER: 'maybe' }, 2, 'tenure: TENURE_IN_PROCESS_WORKER must be on or off, got "maybe"'],
    ] as [string[], Record<string, string>, number, string][]) {
      const { code, output } = await run(args, env);
      assert.equal(code, exit, output);
      assert.equal(output.trim(), line, 'one line, no stack trace');
    }
  });

  test('a valid module entry is registered, with the built-ins', async () => {
    const { registry } = await loadProvisioners(readConfig({ TENURE_PROVISIONERS: JSON.stringify([{ module: 'test/fulfillment/fixtures/good.ts', options: { code: 'noc' } }]) }), { ...DEFAULT_ROUTING, defaultProvisioner: 'noc' });
    assert.deepEqual(registry.codes().sort(), ['internal', 'manual', 'noc']);
  });
});
