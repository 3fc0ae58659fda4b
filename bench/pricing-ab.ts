/**
 * `BASELINE=/path/to/checkout npx tsx bench/pricing-ab.ts`: price previews through the service
 * (bench:pricing's `service` variant, its quote) of two code versions in ONE process, in short
 * alternating phases: this checkout's src/ and the baseline checkout's src/ (e.g. main from
 * `git archive main | tar -x -C /tmp/main`, with node_modules linked). On a machine shared with
 * other sessions the load changes from one run to the next, so two benchmark runs compare loads
 * more than code; phases of a fraction of a second, alternated, see the same load. Each version
 * has its own modules (its caches), pool and tenant, on one fresh database (the migrations must
 * be the same). Prints previews/s, Node CPU and PostgreSQL CPU per preview for each. See
 * bench/README.md (bench:pricing, "third round").
 *
 * BENCH_ROUNDS (20) alternations of BENCH_PHASE_SECONDS (0.75) per version, 8 callers each.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROMO_CODES, quoteLines } from './pricing-quote.ts';
import { backendsCpuDelta, envNumber, openBenchDatabase, postgresBackendsCpu, runBench, runPhase, type Step } from './support.ts';

const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 20)!);
const PHASE_SECONDS = envNumber('BENCH_PHASE_SECONDS', 0.75)!;
const CONCURRENCY = 8;
const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Version {
  name: string;
  steps: Step[];
  close(): Promise<void>;
  total: { previews: number; seconds: number; nodeCpu: number; postgresCpu: number };
}

/** One version's services, from its own checkout's modules, on its own pool and demo tenant. */
async function version(name: string, root: string, url: string, apiKey: string): Promise<Version> {
  const { createServices } = await import(path.join(root, 'src/app.ts'));
  const { ensureDemo } = await import(path.join(root, 'src/demo/seed.ts'));
  const { createPool } = await import(path.join(root, 'src/platform/db.ts'));
  const { systemClock } = await import(path.join(root, 'src/platform/clock.ts'));
  const pool = createPool(url, CONCURRENCY + 2);
  const services = createServices(pool, systemClock, { redisUrl: null });
  const demo = await ensureDemo(services, apiKey);
  const principal = (await services.access.authenticate(apiKey))!;
  const ctx = { tenantId: principal.tenantId, actor: { apiKeyId: principal.apiKeyId, role: 'admin' }, correlationId: `bench-ab-${name}` };
  const page = await services.catalog.listOfferings(ctx, { limit: 50, after: null }, { cache: false });
  const ids = new Map<string, string>(page.items.map((o: { code: string; id: string }) => [o.code, o.id]));
  const lines = quoteLines((code) => ids.get(code) ?? (() => { throw new Error(`demo offering ${code} is missing`); })());
  // As bench:pricing: an account without a segment, which may buy residential and business offerings.
  const enterprise = await services.customers.getAccount(ctx, demo.accountId);
  const { accountId } = await services.customers.createAccount(ctx, { customerId: enterprise.customerId, name: 'bench: A/B (no segment)', currency: enterprise.currency, timeZone: enterprise.timeZone, segment: null });
  const input = { accountId, lines, promoCodes: PROMO_CODES };
  const steps: Step[] = Array.from({ length: CONCURRENCY }, () => async () => {
    await services.quotes.previewPrice(ctx, input);
    return 1;
  });
  return {
    name,
    steps,
    close: async () => {
      await services.catalog.cache.close();
      await pool.end();
    },
    total: { previews: 0, seconds: 0, nodeCpu: 0, postgresCpu: 0 },
  };
}

async function main(): Promise<void> {
  const baseline = process.env.BASELINE?.trim();
  if (!baseline) throw new Error('set BASELINE to the checkout to compare with (its src/ is imported)');
  const db = await openBenchDatabase(2);
  const versions: Version[] = [];
  try {
    versions.push(await version('baseline', path.resolve(baseline), db.url, 'tnr_bench-ab-baseline-key-0123456789'));
    versions.push(await version('this', HERE, db.url, 'tnr_bench-ab-this-key-0123456789abcd'));
    for (const v of versions) await runPhase(v.steps, { seconds: 2 });
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of round % 2 ? versions : [...versions].reverse()) {
        const before = await postgresBackendsCpu(db.pool);
        const phase = await runPhase(v.steps, { seconds: PHASE_SECONDS });
        v.total.postgresCpu += backendsCpuDelta(before, await postgresBackendsCpu(db.pool)) ?? NaN;
        v.total.previews += phase.commands;
        v.total.seconds += phase.seconds;
        v.total.nodeCpu += phase.nodeCpuSeconds;
      }
    }
    console.log(`bench: A/B of price previews through the service, ${ROUNDS} alternations of ${PHASE_SECONDS} s, ${CONCURRENCY} callers; baseline ${path.resolve(baseline)}`);
    for (const { name, total } of versions) {
      console.log(`  ${name.padEnd(9)} previews/s ${(total.previews / total.seconds).toFixed(0).padStart(6)}   Node CPU ms/preview ${(total.nodeCpu / total.previews * 1000).toFixed(3)}`
        + `   PostgreSQL CPU ms/preview ${Number.isNaN(total.postgresCpu) ? 'n/a' : (total.postgresCpu / total.previews * 1000).toFixed(3)}`);
    }
  } finally {
    for (const v of versions) await v.close();
    await db.close();
  }
}

runBench(main);
