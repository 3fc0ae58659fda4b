// Lint = Tenure's structure (docs/architecture.md), checked by `npm run lint` in CI.
// TypeScript itself is checked by `tsc`; this file holds only the rules a compiler cannot see.
import tsParser from '@typescript-eslint/parser';
import structure from './lint/structure.js';

/**
 * The layers, lowest first. A part imports only parts of a lower rank; src/platform and
 * src/http are the kernel, imported file by file; every other part only through its index.ts.
 */
const ranks = {
  platform: 0,
  http: 1,
  events: 2,
  clocks: 2,
  customers: 2,
  catalog: 3,
  pricing: 4,
  inventory: 5,
  quotes: 6,
  access: 6,
  billing: 6,
  fulfillment: 7,
  orders: 8,
  app: 9,
  demo: 10,
  api: 10,
  main: 11,
  cli: 12,
};
const kernel = ['platform', 'http'];

/** Each table and the part that owns it: only that part's SQL names it. */
const owners = {
  tenant: 'access',
  api_key: 'access',
  audit_log: 'platform',
  idempotency_key: 'http',
  outbox_event: 'events',
  customer: 'customers',
  account: 'customers',
  product_specification: 'catalog',
  catalog_revision: 'catalog',
  product_offering: 'catalog',
  service_specification: 'catalog',
  resource_specification: 'catalog',
  price_rule: 'pricing',
  account_price_term: 'pricing',
  promo_redemption: 'pricing',
  product_instance: 'inventory',
  product_instance_history: 'inventory',
  product_instance_relationship: 'inventory',
  service_instance: 'inventory',
  service_instance_history: 'inventory',
  resource_instance: 'inventory',
  resource_instance_history: 'inventory',
  subscription: 'inventory',
  subscription_history: 'inventory',
  asset_operation_guard: 'inventory',
  quote: 'quotes',
  quote_line: 'quotes',
  product_order: 'orders',
  order_item: 'orders',
  order_state_change: 'orders',
  fulfillment_task: 'fulfillment',
  test_clock: 'clocks',
  test_clock_job: 'clocks',
};

/**
 * Statements that name another part's tables on purpose, each with the decision that says why.
 * A new entry needs a decision record; the list is short on purpose.
 */
const shared = {
  // decision 0007: a version's row, its history, its audit row and its outbox event in one statement.
  'src/inventory/store/history.ts': ['audit_log', 'outbox_event'],
  // decision 0025: an order's rows with their state change rows and event in one statement.
  'src/orders/store.ts': ['outbox_event'],
  // decision 0016: the consistency check reads across the parts it checks, read-only.
  'src/inventory/check.ts': ['tenant', 'product_order', 'fulfillment_task', 'outbox_event'],
  // decision 0020: a price preview reads its inputs in one read-only statement (one round trip).
  'src/quotes/preview-store.ts': ['account', 'product_instance', 'product_instance_relationship', 'product_offering', 'product_specification', 'catalog_revision', 'price_rule', 'account_price_term', 'promo_redemption'],
};

export default [
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tsParser, ecmaVersion: 'latest', sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { structure },
    rules: {
      'structure/layers': ['error', { ranks, kernel }],
      'structure/own-tables': ['error', { owners, shared }],
    },
  },
];
