// The public surface of quotes/: other parts import from here only (eslint.config.js enforces it).
export { checkComposition, liveAddOnCounter, type QuoteLine } from './model.ts';
export { registerQuoteRoutes } from './routes.ts';
export { QuoteService, convertQuoteInTx } from './service.ts';
