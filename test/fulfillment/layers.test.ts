/**
 * Fulfillment does not know orders (decision 0015): no file of src/fulfillment imports
 * orders/ or names one of its tables, checked by the project's own lint rules
 * (eslint.config.js) run over the real files.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = path.resolve(import.meta.dirname, '..', '..');

test('src/fulfillment passes the structure rules: it imports nothing of orders/ and names no table of orders', async () => {
  const results = await new ESLint({ cwd: root }).lintFiles(['src/fulfillment/**/*.ts']);
  assert.ok(results.some((r) => r.filePath.endsWith(path.join('src', 'fulfillment', 'orchestrator.ts'))), 'the fulfillment files were linted');
  const problems = results.flatMap((r) => r.messages.map((m) => `${path.relative(root, r.filePath)}:${m.line} ${m.ruleId}: ${m.message}`));
  assert.deepEqual(problems, []);
});
