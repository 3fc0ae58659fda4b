/**
 * `npm run bench:pricing`: pricing and catalog reads, measured in one process, against one
 * database, in one run (see bench/README.md):
 *
 *   (a) price previews of one 10-line quote (a bundle with its members and router rental,
 *       Business Fiber 2Gbps with its three add-ons, Internet 100 with promo WELCOME10):
 *         engine    priceItems on inputs loaded once: the engine's own throughput, no I/O
 *         service   QuoteService.previewPrice: account, installed base, catalog rows and rules
 *                   read from PostgreSQL on every preview, in one statement and one round trip
 *                   (published catalog documents from the in-process cache), then the same engine
 *         http      POST /price-previews on a listening Fastify server (buildServer), called
 *                   with fetch over keep-alive connections: the service plus auth and JSON
 *   (b) ListProducts (CatalogService.listOfferings, the demo catalog, one page):
 *         uncached  straight from PostgreSQL ({ cache: false })
 *         memory    through the in-process catalog cache
 *         redis     through the Redis catalog cache (only when REDIS_URL is set)
 *
 * The ratios service/engine, http/engine, memory/uncached and redis/uncached are the result; absolute
 * rates on a shared machine are noise. PostgreSQL CPU is that of this database's backends (/proc,
 * when the server runs on this machine); "other CPU" is every other process, other load included.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { buildServer } from '../src/api/server.ts';
import { createServices, type Services } from '../src/app.ts';
import type { ProductSpecificationBody } from '../src/catalog/model.ts';
import { findOfferingVersion, findProductSpecificationVersion, publishedDocuments, type OfferingListQuery } from '../src/catalog/service.ts';
import { findAccountInTx } from '../src/customers/service.ts';
import { ensureDemo } from '../src/demo/seed.ts';
import { assetVersionsInTx } from '../src/inventory/queries.ts';
import type { CommandContext } from '../src/platform/context.ts';
import { systemClock } from '../src/platform/clock.ts';
import { inTenantTransaction } from '../src/platform/db.ts';
import { validateConfiguration } from '../src/pricing/configuration.ts';
import { priceItems } from '../src/pricing/engine.ts';
import { countPromoRedemptions, loadPricingRules } from '../src/pricing/rule-service.ts';
import type { PriceResult, PricingContext, PricingItem } from '../src/pricing/types.ts';
import { DEFAULT_QUOTE_SETTINGS, type QuoteLineInput } from '../src/quotes/service.ts';
import { PROMO_CODES, quoteLines } from './pricing-quote.ts';
import { addPhase, backendsCpuDelta, countRoundTrips, postgresBackendsCpu, emptyTotal, envNumber, fmt, median, openBenchDatabase, round1, round3, runPhase, type PhaseResult, type Step, runBench, writeResults } from './support.ts';

const ALL_VARIANTS = ['engine', 'service', 'http', 'uncached', 'memory', 'redis'] as const;
type Variant = (typeof ALL_VARIANTS)[number];
const PREVIEW_VARIANTS: readonly Variant[] = ['engine', 'service', 'http'];

const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 8)!;
/** Measured time per variant, summed over the rounds. */
const BENCH_SECONDS = envNumber('BENCH_SECONDS', 8)!;
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 4)!);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2)!;
const REDIS_URL = process.env.REDIS_URL?.trim() || null;

/** Engine previews per step: the engine is synchronous, so one worker runs them in batches. */
const ENGINE_BATCH = 20;
const DEMO_KEY = 'tnr_bench-pricing-demo-key-0123456789';
/** ListProducts as the API's default page asks for it: every offering of the demo catalog fits. */
const LIST_QUERY: OfferingListQuery = { limit: 50, after: null };

const RESULTS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'pricing-latest.json');

// ------------------------------------------------------------------------- the quote (pricing-quote.ts)

/**
 * The engine's inputs for the same quote, read once, the way QuoteService.previewPrice reads
 * them: each offering's current version and its product specification, the configuration
 * validated and defaulted, the rules in force, promo redemptions and the customer's tenure.
 */
async function loadEngineInputs(services: Services, ctx: CommandContext, accountId: string, lines: QuoteLineInput[], at: string): Promise<{ items: PricingItem[]; context: PricingContext }> {
  return inTenantTransaction(services.pool, ctx.tenantId, async (tx) => {
    const account = (await findAccountInTx(tx, accountId))!;
    const itemId = (i: number) => `line-${i + 1}`;
    const items: PricingItem[] = [];
    for (const [i, line] of lines.entries()) {
      const offering = (await findOfferingVersion(tx, line.offeringId!))!;
      const specRef = offering.body.productSpecification;
      const spec = specRef ? (await findProductSpecificationVersion(tx, specRef.id, specRef.version))!.body as ProductSpecificationBody : null;
      const parent = line.parentLineNumber ? lines[line.parentLineNumber - 1] : undefined;
      const parentIsBundle = parent ? Boolean((await findOfferingVersion(tx, parent.offeringId!))!.body.bundle) : false;
      items.push({
        itemId: itemId(i),
        offering: { id: offering.id, version: offering.version, body: offering.body },
        specification: spec,
        configuration: validateConfiguration(spec, line.configuration ?? {}),
        quantity: line.quantity ?? 1,
        usageEstimate: line.usageEstimate,
        bundleItemId: parentIsBundle ? itemId(line.parentLineNumber! - 1) : null,
      });
    }
    const rules = await loadPricingRules(tx, accountId, at);
    const promoRedemptions = await countPromoRedemptions(tx, rules.filter((r) => r.type === 'promo').map((r) => r.id));
    const assets = (await assetVersionsInTx(tx, accountId)).products;
    const customerSince = assets.map((a) => a.activationDate).filter((d): d is string => d !== null).sort()[0] ?? null;
    return {
      items,
      context: { accountId, currency: account.currency, at, customerSince, promoCodes: PROMO_CODES, rules, promoRedemptions, rounding: DEFAULT_QUOTE_SETTINGS.rounding },
    };
  });
}

/** Both variants must price the same quote: same lines, amounts, totals and rule decisions. */
function assertSamePrice(engine: PriceResult, service: PriceResult): void {
  const lineKey = (r: PriceResult) => r.lines.map((l) => `${l.chargeCode} ${l.listAmountMinor}→${l.finalAmountMinor} [${l.adjustments.map((a) => a.ruleCode).join(',')}]`);
  const ruleKey = (r: PriceResult) => r.rules.map((d) => `${d.ruleCode}:${d.applied}`).sort();
  const same = JSON.stringify([lineKey(engine), ruleKey(engine), engine.totals]) === JSON.stringify([lineKey(service), ruleKey(service), service.totals]);
  if (!same) {
    throw new Error(`the engine variant does not price the quote like previewPrice:\n engine  ${JSON.stringify([lineKey(engine), ruleKey(engine), engine.totals])}\n service ${JSON.stringify([lineKey(service), ruleKey(service), service.totals])}`);
  }
}

// ------------------------------------------------------------------------- steps

function engineStep(items: PricingItem[], context: PricingContext): Step {
  return async () => {
    for (let i = 0; i < ENGINE_BATCH; i++) priceItems(items, context);
    return ENGINE_BATCH;
  };
}

function serviceStep(services: Services, ctx: CommandContext, accountId: string, lines: QuoteLineInput[]): Step {
  return async () => {
    await services.quotes.previewPrice(ctx, { accountId, lines, promoCodes: PROMO_CODES });
    return 1;
  };
}

function httpStep(baseUrl: string, apiKey: string, accountId: string, lines: QuoteLineInput[]): Step {
  const body = JSON.stringify({ accountId, lines, promoCodes: PROMO_CODES });
  return async () => {
    // Node's fetch (undici) keeps connections alive by default: one connection per worker.
    const response = await fetch(`${baseUrl}/price-previews`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body,
    });
    const json = await response.json();
    if (response.status !== 200) throw new Error(`POST /price-previews → ${response.status}: ${JSON.stringify(json)}`);
    return 1;
  };
}

function listStep(services: Services, ctx: CommandContext, cache: boolean): Step {
  return async () => {
    const page = await services.catalog.listOfferings(ctx, LIST_QUERY, { cache });
    if (page.items.length === 0) throw new Error('ListProducts answered an empty page');
    return 1;
  };
}

// ------------------------------------------------------------------------- Redis

async function redisInfo(url: string): Promise<{ version: string; client: Redis }> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = await client.info('server');
    return { version: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown', client };
  } catch (error) {
    client.disconnect();
    throw new Error(`REDIS_URL is set but Redis does not answer (${(error as Error).message}); unset REDIS_URL to skip the Redis variant`);
  }
}

/** The run's cache entries and revision counter (the tenant is new, so they are all ours). */
async function dropTenantKeys(client: Redis, tenantId: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `tenure:catalog:${tenantId}:*`, 'COUNT', 1000);
    if (keys.length) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

// ------------------------------------------------------------------------- main

async function main(): Promise<void> {
  console.log(`bench: pricing and ListProducts, ${CONCURRENCY} concurrent workers (engine: 1), ${BENCH_SECONDS} s per variant in ${ROUNDS} interleaved rounds, ${WARMUP_SECONDS} s warm-up each`);
  const redis = REDIS_URL ? await redisInfo(REDIS_URL) : null;
  // One connection per service and http worker, plus room for the http variant's API-key lookup.
  const db = await openBenchDatabase(CONCURRENCY * 2);
  process.once('SIGINT', () => void db.close().finally(() => process.exit(130)));
  // The default services read the catalog through the in-process cache, whatever REDIS_URL says;
  // the Redis variant gets its own CatalogService on a Redis cache.
  const services = createServices(db.pool, systemClock, { redisUrl: null });
  const redisServices = REDIS_URL ? createServices(db.pool, systemClock, { redisUrl: REDIS_URL }) : null;
  let tenantId: string | null = null;
  let server: Awaited<ReturnType<typeof buildServer>> | null = null;
  try {
    console.log(`bench: PostgreSQL ${db.postgresVersion} (${db.source === 'embedded' ? 'throw-away embedded, fsync off' : 'DATABASE_URL server, fresh database'}), `
      + `${redis ? `Redis ${redis.version}` : 'no Redis'}, Node ${process.version}, ${os.cpus().length} CPUs`);
    if (!redis) console.log('bench: REDIS_URL is not set: the Redis variant of ListProducts is skipped (set REDIS_URL=redis://host:6379 to run it)');

    const demo = await ensureDemo(services, DEMO_KEY);
    tenantId = demo.tenantId;
    const principal = (await services.access.authenticate(DEMO_KEY))!;
    const ctx: CommandContext = { tenantId: principal.tenantId, actor: { apiKeyId: principal.apiKeyId, role: 'admin' }, correlationId: 'bench-pricing' };

    const catalogPage = await services.catalog.listOfferings(ctx, LIST_QUERY, { cache: false });
    if (catalogPage.nextCursor !== null) throw new Error(`the demo catalog no longer fits one page of ${LIST_QUERY.limit}`);
    const offeringIds = new Map(catalogPage.items.map((o) => [o.code, o.id]));
    const offering = (code: string) => offeringIds.get(code) ?? (() => { throw new Error(`demo offering ${code} is missing`); })();
    const lines = quoteLines(offering);
    // The quote mixes residential and business offerings: priced for an account without a
    // segment, which may buy both (the demo's accounts are each one segment).
    const enterprise = await services.customers.getAccount(ctx, demo.accountId);
    const { accountId } = await services.customers.createAccount(ctx, {
      customerId: enterprise.customerId, name: 'bench: pricing (no segment)', currency: enterprise.currency, timeZone: enterprise.timeZone, segment: null,
    });

    // The engine's inputs, read once; checked against a preview of the same quote at the same instant.
    const at = new Date().toISOString();
    const { items, context } = await loadEngineInputs(services, ctx, accountId, lines, at);
    const engineResult = priceItems(items, context);
    const serviceResult = await services.quotes.previewPrice(ctx, { accountId, lines, promoCodes: PROMO_CODES, at });
    assertSamePrice(engineResult, serviceResult);
    const priceLines = serviceResult.lines.length;
    const applied = serviceResult.rules.filter((r) => r.applied).map((r) => r.ruleCode.replace(/^bundle:.*/, 'bundle'));
    console.log(`bench: the quote: ${lines.length} lines (${items.filter((i) => i.offering.body.bundle).length} bundle, ${items.filter((i) => i.bundleItemId).length} bundle members), `
      + `${priceLines} price lines, rules applied: ${applied.join(', ')}; ListProducts page: ${catalogPage.items.length} offerings`);

    server = await buildServer(services, { logger: false });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const address = server.server.address();
    const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

    const variants: Variant[] = ALL_VARIANTS.filter((v) => v !== 'redis' || redisServices);
    const steps: Record<Variant, Step[]> = {
      engine: [engineStep(items, context)],
      service: Array.from({ length: CONCURRENCY }, () => serviceStep(services, ctx, accountId, lines)),
      http: Array.from({ length: CONCURRENCY }, () => httpStep(baseUrl, DEMO_KEY, accountId, lines)),
      uncached: Array.from({ length: CONCURRENCY }, () => listStep(services, ctx, false)),
      memory: Array.from({ length: CONCURRENCY }, () => listStep(services, ctx, true)),
      redis: redisServices ? Array.from({ length: CONCURRENCY }, () => listStep(redisServices, ctx, true)) : [],
    };

    countRoundTrips();
    for (const v of variants) {
      const warm = await runPhase(steps[v], { seconds: WARMUP_SECONDS });
      console.log(`  warm-up ${v.padEnd(8)} ${fmt(warm.commands / warm.seconds).padStart(8)} /s`);
    }
    const documentsBefore = { ...publishedDocuments.stats };
    const cacheStatsBefore = { memory: { ...services.catalog.cache.stats }, redis: redisServices ? { ...redisServices.catalog.cache.stats } : null };

    const totals = Object.fromEntries(variants.map((v) => [v, emptyTotal()])) as Record<Variant, PhaseResult>;
    // CPU of this database's PostgreSQL backends, per variant (null when /proc cannot tell).
    const postgresCpu = Object.fromEntries(variants.map((v) => [v, 0])) as Record<Variant, number | null>;
    const perRound: Array<Partial<Record<Variant, number>>> = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so that no variant always runs first.
      const order = variants.map((_, i) => variants[(i + round) % variants.length]);
      const rates: Partial<Record<Variant, number>> = {};
      for (const v of order) {
        const backendsBefore = await postgresBackendsCpu(db.pool);
        const r = await runPhase(steps[v], { seconds: BENCH_SECONDS / ROUNDS });
        const backends = backendsCpuDelta(backendsBefore, await postgresBackendsCpu(db.pool));
        postgresCpu[v] = backends === null || postgresCpu[v] === null ? null : postgresCpu[v]! + backends;
        addPhase(totals[v], r);
        rates[v] = r.commands / r.seconds;
      }
      perRound.push(rates);
      console.log(`  round ${round + 1}: ${variants.map((v) => `${v} ${fmt(rates[v]!)}/s`).join(', ')}`);
    }

    const rate = (v: Variant) => totals[v].commands / totals[v].seconds;
    const results = Object.fromEntries(variants.map((v) => [v, rate(v)])) as Partial<Record<Variant, number>>;
    const ratioPairs: Array<{ name: string; label: string; of: Variant; to: Variant }> = [
      { name: 'serviceVsEngine', label: 'service / engine ', of: 'service', to: 'engine' },
      { name: 'httpVsEngine', label: 'http / engine    ', of: 'http', to: 'engine' },
      { name: 'memoryVsUncached', label: 'memory / uncached', of: 'memory', to: 'uncached' },
      { name: 'redisVsUncached', label: 'redis / uncached ', of: 'redis', to: 'uncached' },
    ].filter((p) => variants.includes(p.of as Variant)) as Array<{ name: string; label: string; of: Variant; to: Variant }>;
    const ratios = Object.fromEntries(ratioPairs.map((p) => [p.name, round3(results[p.of]! / results[p.to]!)]));
    // The median of the rounds' own ratios: a burst of load from another process hurts one
    // round, not the median. Shown next to the overall ratio as a check on the noise.
    const medianRoundRatios = Object.fromEntries(ratioPairs.map((p) => [p.name, round3(median(perRound.map((r) => r[p.of]! / r[p.to]!)))]));
    const perOp = (f: (t: PhaseResult) => number, scale = 1) =>
      Object.fromEntries(variants.map((v) => [v, Math.round((f(totals[v]) / totals[v].commands) * scale * 1000) / 1000])) as Partial<Record<Variant, number>>;
    const roundTripsPerOp = perOp((t) => t.roundTrips);
    const nodeCpuMs = perOp((t) => t.nodeCpuSeconds, 1000);
    const otherCpuMs = perOp((t) => t.machineCpuSeconds - t.nodeCpuSeconds, 1000);
    const postgresCpuMs = Object.fromEntries(variants.map((v) => [v, postgresCpu[v] === null ? null : round3((postgresCpu[v]! / totals[v].commands) * 1000)])) as Partial<Record<Variant, number | null>>;
    const workers = (v: Variant) => steps[v].length;

    const documentStats = { hits: publishedDocuments.stats.hits - documentsBefore.hits, misses: publishedDocuments.stats.misses - documentsBefore.misses };
    const cacheStats = {
      memory: diffStats(services.catalog.cache.stats, cacheStatsBefore.memory),
      redis: redisServices && cacheStatsBefore.redis ? diffStats(redisServices.catalog.cache.stats, cacheStatsBefore.redis) : null,
    };

    const table = (title: string, unit: string, vs: Variant[]) => {
      console.log('');
      console.log(`  ${title}`);
      console.log(`  variant   ${unit.padStart(10)}   ${'count'.padStart(9)}   workers   round trips/op   Node CPU ms/op   PostgreSQL CPU ms/op   other CPU ms/op`);
      for (const v of vs) {
        console.log(`  ${v.padEnd(8)} ${fmt(results[v]!).padStart(11)} ${fmt(totals[v].commands).padStart(11)} ${String(workers(v)).padStart(9)} ${fmt(roundTripsPerOp[v]!, 1).padStart(16)}`
          + ` ${fmt(nodeCpuMs[v]!, 3).padStart(16)} ${(postgresCpuMs[v] === null ? 'n/a' : fmt(postgresCpuMs[v]!, 3)).padStart(22)} ${fmt(otherCpuMs[v]!, 3).padStart(17)}`);
      }
    };
    table(`(a) price preview: ${lines.length} quote lines, ${priceLines} price lines (bundle + add-ons + promo)`, 'previews/s', variants.filter((v) => PREVIEW_VARIANTS.includes(v)));
    table(`(b) ListProducts: one page of ${catalogPage.items.length} offerings`, 'reads/s', variants.filter((v) => !PREVIEW_VARIANTS.includes(v)));
    console.log('');
    for (const p of ratioPairs) console.log(`  ${p.label} = ${fmtRatio(ratios[p.name])}  (median of rounds ${fmtRatio(medianRoundRatios[p.name])})`);
    if (!redisServices) console.log('  redis / uncached  = skipped (REDIS_URL not set)');
    console.log(`  cache: memory ${cacheStats.memory.hits} hits, ${cacheStats.memory.misses} misses`
      + (cacheStats.redis ? `; redis ${cacheStats.redis.hits} hits, ${cacheStats.redis.misses} misses, ${cacheStats.redis.errors} errors` : ''));
    console.log(`  published catalog documents (previews): ${documentStats.hits} hits, ${documentStats.misses} misses`);
    if (cacheStats.redis && cacheStats.redis.errors > 0) console.log('  WARNING: Redis failed some reads (they went to PostgreSQL): the redis rate is not a pure cache rate');

    const report = {
      date: new Date().toISOString(),
      node: process.version,
      postgres: db.postgresVersion,
      database: db.source,
      redis: redis ? redis.version : null,
      cpus: os.cpus().length,
      concurrency: CONCURRENCY,
      secondsPerVariant: BENCH_SECONDS,
      rounds: ROUNDS,
      warmupSeconds: WARMUP_SECONDS,
      quote: { quoteLines: lines.length, priceLines, promoCodes: PROMO_CODES, rulesApplied: applied, grandTotalMinor: serviceResult.totals.grandTotalMinor },
      listProducts: { limit: LIST_QUERY.limit, offerings: catalogPage.items.length },
      variants: Object.fromEntries(variants.map((v) => [v, {
        unit: PREVIEW_VARIANTS.includes(v) ? 'previews' : 'reads',
        workers: workers(v),
        count: totals[v].commands,
        ratePerSecond: round1(results[v]!),
        roundTripsPerOp: roundTripsPerOp[v],
        cpuMsPerOp: { thisProcess: nodeCpuMs[v], postgres: postgresCpuMs[v], otherProcesses: otherCpuMs[v] },
      }])),
      rates: Object.fromEntries(variants.map((v) => [v, round1(results[v]!)])),
      ratios,
      medianRoundRatios,
      skipped: redisServices ? [] : [{ variant: 'redis', reason: 'REDIS_URL not set' }],
      cacheStats,
      publishedDocuments: documentStats,
      perRound: perRound.map((r) => Object.fromEntries(variants.map((v) => [v, round1(r[v]!)]))),
    };
    console.log(`\n  written to ${await writeResults(RESULTS_FILE, report)}`);
  } finally {
    if (redis && tenantId) await dropTenantKeys(redis.client, tenantId).catch(() => {});
    if (redis) await redis.client.quit().catch(() => redis.client.disconnect());
    await server?.close();
    await redisServices?.catalog.cache.close();
    await services.catalog.cache.close();
    await db.close();
  }
}

const diffStats = (now: { hits: number; misses: number; errors: number }, before: { hits: number; misses: number; errors: number }) =>
  ({ hits: now.hits - before.hits, misses: now.misses - before.misses, errors: now.errors - before.errors });
/** Ratios far below 1 (service/engine) need more digits than ratios near or above it. */
const fmtRatio = (n: number) => (n < 0.1 ? fmt(n, 3) : fmt(n, 2));

runBench(main);
