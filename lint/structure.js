// Tenure's structure rules for ESLint (see docs/architecture.md). Two rules:
//   structure/layers     — a file imports from its own part, from a part on a lower layer, and
//                          from another part only through that part's index.ts;
//   structure/own-tables — SQL in a part names only the tables that part owns, unless the
//                          statement is listed as deliberately shared (with its decision record).
// Both read their settings from eslint.config.js, so the picture of the code lives in one place.
import path from 'node:path';

const SRC = path.resolve(import.meta.dirname, '..', 'src');

/** 'orders' for src/orders/service.ts; 'app' for src/app.ts; null outside src/. */
function partOf(file) {
  const rel = path.relative(SRC, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  const segments = rel.split(path.sep);
  return segments.length === 1 ? segments[0].replace(/\.ts$/, '') : segments[0];
}

const layers = {
  meta: {
    type: 'problem',
    docs: { description: 'imports run down the layers, and into another part only through its index.ts' },
    schema: [{ type: 'object', properties: { ranks: { type: 'object' }, kernel: { type: 'array' } }, additionalProperties: false }],
  },
  create(context) {
    const { ranks, kernel } = context.options[0];
    const file = context.filename;
    const own = partOf(file);
    if (own === null) return {};
    function check(node, spec) {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), spec);
      const other = partOf(target);
      if (other === null || other === own) return;
      if (!(own in ranks)) return context.report({ node, message: `src/${own} has no layer: add it to the ranks in eslint.config.js` });
      if (!(other in ranks)) return context.report({ node, message: `src/${other} has no layer: add it to the ranks in eslint.config.js` });
      if (ranks[other] >= ranks[own]) {
        return context.report({ node, message: `${own} (layer ${ranks[own]}) may not import ${other} (layer ${ranks[other]}): imports run down the layers` });
      }
      const isFolderPart = path.relative(SRC, target).includes(path.sep);
      if (isFolderPart && !kernel.includes(other) && path.basename(target) !== 'index.ts') {
        context.report({ node, message: `import ${other}/ through ${other}/index.ts, its public surface, not ${path.relative(SRC, target)}` });
      }
    }
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};

// A table named after FROM, JOIN, INTO, UPDATE or TABLE in SQL: a string or template literal
// that begins with a statement's first word (so prose such as 'from quote …' is not SQL).
const SQL_START = /^\s*\(?\s*(?:select|insert|update|delete|with|lock|create|alter|truncate)\b/i;
const TABLE_MENTION = /\b(?:from|join|into|update|table)\s+([a-z_][a-z0-9_]*)/gi;

const ownTables = {
  meta: {
    type: 'problem',
    docs: { description: "a part's SQL names only the tables it owns" },
    schema: [{ type: 'object', properties: { owners: { type: 'object' }, shared: { type: 'object' } }, additionalProperties: false }],
  },
  create(context) {
    const { owners, shared } = context.options[0];
    const own = partOf(context.filename);
    if (own === null) return {};
    const relative = path.relative(path.dirname(SRC), context.filename).split(path.sep).join('/');
    const allowedHere = new Set(shared[relative] ?? []);
    function check(node, text) {
      if (!SQL_START.test(text)) return;
      for (const match of text.matchAll(TABLE_MENTION)) {
        const table = match[1].toLowerCase();
        const owner = owners[table];
        if (owner === undefined || owner === own || allowedHere.has(table)) continue;
        context.report({ node, message: `${own}/ names ${table}, a table of ${owner}/: call the surface of ${owner}/, or list the statement as shared in eslint.config.js with its decision record` });
      }
    }
    return {
      Literal: (node) => typeof node.value === 'string' && check(node, node.value),
      TemplateLiteral: (node) => check(node, node.quasis.map((q) => q.value.raw).join(' ')),
    };
  },
};

export default { rules: { layers, 'own-tables': ownTables } };
