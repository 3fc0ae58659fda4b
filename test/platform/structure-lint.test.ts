/**
 * The structure rules of eslint.config.js (lint/structure.js): imports run down the layers and
 * into another part only through its index.ts, and a part's SQL names only its own tables.
 * Each rule is shown failing on a made-up file at a real path, and the whole of src/ passing.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const root = path.resolve(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

async function messagesOf(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('structure lint', () => {
  test('a part imports another part only through its index.ts', async () => {
    assert.deepEqual(await messagesOf('src/orders/x.ts', "import { InventoryService } from '../inventory/service.ts';\n"), [
      'structure/layers: import inventory/ through inventory/index.ts, its public surface, not inventory/service.ts',
    ]);
    assert.deepEqual(await messagesOf('src/orders/actions/x.ts', "export { InventoryService } from '../../inventory/index.ts';\nimport { x } from '../model.ts';\n"), []);
    // The kernel is imported file by file.
    assert.deepEqual(await messagesOf('src/orders/x.ts', "import { newId } from '../platform/ids.ts';\nimport { ok } from '../http/http.ts';\n"), []);
  });

  test('imports run down the layers, never up or sideways', async () => {
    assert.deepEqual(await messagesOf('src/catalog/x.ts', "import { OrderService } from '../orders/index.ts';\n"), [
      'structure/layers: catalog (layer 3) may not import orders (layer 8): imports run down the layers',
    ]);
    assert.deepEqual(await messagesOf('src/quotes/x.ts', "const m = await import('../access/index.ts');\n"), [
      'structure/layers: quotes (layer 6) may not import access (layer 6): imports run down the layers',
    ]);
    assert.deepEqual(await messagesOf('src/platform/x.ts', "import type { Services } from '../app.ts';\n"), [
      'structure/layers: platform (layer 0) may not import app (layer 9): imports run down the layers',
    ]);
    assert.deepEqual(await messagesOf('src/dunning/x.ts', "import { x } from '../catalog/index.ts';\n"), [
      'structure/layers: src/dunning has no layer: add it to the ranks in eslint.config.js',
    ]);
    // billing (layer 6) reads the parts below it; inventory (5) may not import it.
    assert.deepEqual(await messagesOf('src/billing/x.ts', "import { x } from '../inventory/index.ts';\n"), []);
    assert.deepEqual(await messagesOf('src/inventory/x.ts', "import { x } from '../billing/index.ts';\n"), [
      'structure/layers: inventory (layer 5) may not import billing (layer 6): imports run down the layers',
    ]);
  });

  test("a part's SQL names only its own tables, unless listed as shared", async () => {
    assert.deepEqual(await messagesOf('src/fulfillment/x.ts', "const q = `select status\n  from product_order o join fulfillment_task t on true`;\n"), [
      'structure/own-tables: fulfillment/ names product_order, a table of orders/: call the surface of orders/, or list the statement as shared in eslint.config.js with its decision record',
    ]);
    assert.deepEqual(await messagesOf('src/orders/x.ts', "const q = 'insert into quote_line (x) values (1)';\n"), [
      'structure/own-tables: orders/ names quote_line, a table of quotes/: call the surface of quotes/, or list the statement as shared in eslint.config.js with its decision record',
    ]);
    // Prose is not SQL; the shared statements of decision 0007 are allowed where they are listed.
    assert.deepEqual(await messagesOf('src/orders/x.ts', "const reason = 'from quote 1: update subscription';\n"), []);
    assert.deepEqual(await messagesOf('src/inventory/store/history.ts', "const q = 'with v as (select 1) insert into outbox_event select * from v';\n"), []);
    assert.deepEqual(await messagesOf('src/inventory/other.ts', "const q = 'insert into outbox_event (x) values (1)';\n"), [
      'structure/own-tables: inventory/ names outbox_event, a table of events/: call the surface of events/, or list the statement as shared in eslint.config.js with its decision record',
    ]);
  });

  test('the whole of src/ passes: no import up the layers or into internals, no SQL on tables of other parts (fulfillment knows nothing of orders: decision 0015)', async () => {
    const results = await eslint.lintFiles(['src/**/*.ts']);
    for (const file of ['src/fulfillment/orchestrator.ts', 'src/orders/submit.ts', 'src/inventory/pipeline.ts']) {
      assert.ok(results.some((r) => r.filePath === path.join(root, file)), `${file} was linted`);
    }
    const problems = results.flatMap((r) => r.messages.map((m) => `${path.relative(root, r.filePath)}:${m.line} ${m.ruleId}: ${m.message}`));
    assert.deepEqual(problems, []);
  });
});
