// The public surface of quotes/: other parts import from here only (eslint.config.js enforces it).
export { priceBasketInTx, type BasketAction, type BasketInput, type BasketLine, type PricedBasket, type PricedBasketLine } from './basket.ts';
export { checkComposition, liveAddOnCounter, type QuoteLine } from './model.ts';
export { registerQuoteRoutes } from './routes.ts';
export { QuoteService, convertQuoteInTx, type OrderDraft } from './service.ts';
