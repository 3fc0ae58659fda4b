/**
 * `npm run test:faults`: the fault-injection suite (issue 9, point 5), test/faults/*.fault.ts.
 * Not part of `npm test` (its files are not `*.test.ts`): each scenario starts its own
 * embedded PostgreSQL, the API and `tenure worker` processes, and breaks them for a while,
 * so the files run one after another (the machine has 2 cores). `.ci/run` runs it after the
 * two `npm test` runs. Run one scenario with `npm run test:faults -- test/faults/<name>.fault.ts`.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const dir = 'test/faults';
  const files = requested.length ? requested : (await readdir(dir)).filter((name) => name.endsWith('.fault.ts')).sort().map((name) => path.join(dir, name));
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  console.log(`test:faults: ${files.length} scenario file(s) in ${Math.round((Date.now() - started) / 1000)} s`);
  return code;
}

main().then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(1);
});
