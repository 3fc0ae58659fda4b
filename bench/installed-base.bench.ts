/**
 * `npm run bench:installed-base`: the installed-base read of one large account, measured in
 * one process, against one database (see bench/README.md):
 *
 *   floor       the same rows fetched with plain SQL through pg (one query per table, in a
 *               tenant transaction like the engine's) and serialised with JSON.stringify
 *   http        GET /accounts/{id}/installed-base through a listening Fastify server, fetch
 *   floorAsOf   the same for the history tables (the newest version recorded at or before asOf)
 *   httpAsOf    GET /accounts/{id}/installed-base?asOf=…
 *
 * The account has 1,000 active product instances (BENCH_PRODUCTS), each with one service and
 * two resources, all created through the inventory commands (history, events and audit rows
 * as in production, so `tenure check` stays clean). Reads are sequential (one at a time):
 * p50/p99 latency of each variant, and reads/s of http ÷ reads/s of its floor.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer } from '../src/api/server.ts';
import { createServices, type Services } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import type { CommandContext } from '../src/platform/context.ts';
import { tenantBeginSql, type Pool } from '../src/platform/db.ts';
import { createActiveProduct, createBenchSale, publishFirstVersion } from './raw-sql.ts';
import { addPhase, countRoundTrips, emptyTotal, envNumber, fmt, median, openBenchDatabase, percentile, round1, round3, timeSequential, type PhaseResult, runBench, writeResults } from './support.ts';

const VARIANTS = ['floor', 'http', 'floorAsOf', 'httpAsOf'] as const;
type Variant = (typeof VARIANTS)[number];

const TARGETS = { p99Ms: 15, httpVsFloor: 0.5 };

const PRODUCTS = Math.round(envNumber('BENCH_PRODUCTS', 1000)!);
/** Measured reads per variant, summed over the rounds. */
const READS = Math.round(envNumber('BENCH_READS', 300)!);
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 3)!);
const WARMUP_READS = Math.round(envNumber('BENCH_WARMUP_READS', 30)!);
/** Concurrent workers creating the account's products (setup only). */
const SETUP_CONCURRENCY = Math.round(envNumber('BENCH_SETUP_CONCURRENCY', 6)!);

const RESULTS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'installed-base-latest.json');

// ------------------------------------------------------------------------- setup

/**
 * One account with `count` ACTIVE product instances, each with its subscription, one service
 * and two resources, written by the inventory commands.
 */
async function createAccountWithProducts(services: Services, ctx: CommandContext, count: number): Promise<string> {
  const sale = await createBenchSale(services, ctx);
  const serviceSpecificationId = await publishFirstVersion(services, ctx, 'service_specification', { code: 'bench-access', name: 'Bench access service', resourceSpecifications: [] });
  const createOne = async (i: number) => {
    const { productInstanceId } = await createActiveProduct(services, ctx, sale, { address: `Jl. Bench ${i}`, city: 'Jakarta' });
    const service = await services.inventory.attachServiceInstance(ctx, productInstanceId, {
      serviceSpecificationId, serviceSpecificationVersion: 1, name: 'Fiber access', externalServiceId: `svc-${i}`, technicalParameters: { vlan: 100 + (i % 3000) },
    });
    await services.inventory.attachResourceInstance(ctx, service.serviceInstanceId, { resourceType: 'ONT', resourceId: `ont-${i}` });
    await services.inventory.attachResourceInstance(ctx, service.serviceInstanceId, { resourceType: 'IPV4', resourceId: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
  };
  let next = 0;
  await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, async () => {
    while (next < count) await createOne(next++);
  }));
  return sale.accountId;
}

// ------------------------------------------------------------------------- the floor

/** A read in plain SQL: the tenant transaction the engine opens, then `queries`, then commit. */
async function inTenant<T>(pool: Pool, tenantId: string, work: (q: (text: string, params: unknown[]) => Promise<unknown[]>) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    // Exactly what inTenantTransaction sends: BEGIN, application role and tenant setting in one round trip.
    await client.query(tenantBeginSql(tenantId));
    const result = await work(async (text, params) => (await client.query(text, params)).rows);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** The installed base's rows now: one query per table, only the columns the response shows. */
function floorRead(pool: Pool, tenantId: string, accountId: string): Promise<string> {
  return inTenant(pool, tenantId, async (q) => {
    const account = await q('select customer_id from account where account_id = $1', [accountId]);
    const products = await q(
      `select product_instance_id, name, status, version, subscription_id, product_offering_id, product_offering_version,
              configuration_snapshot, price_snapshot, place, activation_date, termination_date
         from product_instance where account_id = $1 order by created_at, product_instance_id`, [accountId]);
    const services = await q(
      `select service_instance_id, product_instance_id, service_specification_id, name, status, version, place,
              external_service_id, technical_parameters
         from service_instance where account_id = $1 order by created_at, service_instance_id`, [accountId]);
    const resources = await q(
      `select resource_instance_id, service_instance_id, resource_type, resource_id, status, version
         from resource_instance where account_id = $1 order by created_at, resource_instance_id`, [accountId]);
    const relationships = await q(
      `select relationship_id, source_product_instance_id, relationship_type, target_product_instance_id
         from product_instance_relationship where account_id = $1 and ended_at is null order by created_at, relationship_id`, [accountId]);
    const subscriptions = await q(
      `select subscription_id, status, version, start_date, end_date, term_months, auto_renew
         from subscription where account_id = $1 order by created_at, subscription_id`, [accountId]);
    return JSON.stringify({ account, products, services, resources, relationships, subscriptions });
  });
}

/** The same as recorded at `asOf`: the newest history row of every entity, one query per table. */
function floorReadAsOf(pool: Pool, tenantId: string, accountId: string, asOf: string): Promise<string> {
  const states = (table: string, id: string) =>
    `select distinct on (${id}) after_state from ${table} where account_id = $1 and recorded_at <= $2 order by ${id}, version desc`;
  return inTenant(pool, tenantId, async (q) => {
    const account = await q('select customer_id from account where account_id = $1', [accountId]);
    const products = await q(states('product_instance_history', 'product_instance_id'), [accountId, asOf]);
    const subscriptions = await q(states('subscription_history', 'subscription_id'), [accountId, asOf]);
    const services = await q(states('service_instance_history', 'service_instance_id'), [accountId, asOf]);
    const resources = await q(states('resource_instance_history', 'resource_instance_id'), [accountId, asOf]);
    const relationships = await q(
      `select relationship_id, source_product_instance_id, relationship_type, target_product_instance_id
         from product_instance_relationship
        where account_id = $1 and created_at <= $2 and (ended_at is null or ended_at > $2) order by created_at, relationship_id`, [accountId, asOf]);
    return JSON.stringify({ account, products, subscriptions, services, resources, relationships });
  });
}

// ------------------------------------------------------------------------- HTTP

async function httpRead(url: string, apiKey: string): Promise<string> {
  // Node's fetch (undici) keeps the connection alive: one connection, reused by every read.
  const response = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url} → ${response.status}: ${text.slice(0, 500)}`);
  return text;
}

// ------------------------------------------------------------------------- main

async function main(): Promise<void> {
  console.log(`bench: installed base of one account with ${fmt(PRODUCTS)} products (a service and two resources each), ${fmt(READS)} sequential reads per variant in ${ROUNDS} interleaved rounds, ${WARMUP_READS} warm-up reads each`);
  const db = await openBenchDatabase(4);
  process.once('SIGINT', () => void db.close().finally(() => process.exit(130)));
  let server: Awaited<ReturnType<typeof buildServer>> | null = null;
  try {
    console.log(`bench: PostgreSQL ${db.postgresVersion} (${db.source === 'embedded' ? 'throw-away embedded, fsync off' : 'DATABASE_URL server, fresh database'}), Node ${process.version}, ${os.cpus().length} CPUs`);
    const services = createServices(db.pool, systemClock);
    const tenant = await services.access.createTenant({ name: 'Bench tenant' });
    const ctx: CommandContext = { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' }, correlationId: 'bench' };

    const setupStarted = performance.now();
    const accountId = await createAccountWithProducts(services, ctx, PRODUCTS);
    console.log(`  setup: ${fmt(PRODUCTS)} products, ${fmt(PRODUCTS)} services, ${fmt(PRODUCTS * 2)} resources in ${fmt((performance.now() - setupStarted) / 1000, 1)} s`);
    // asOf: an instant after the last write, so both reads return the same 1,000 products.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const asOf = new Date().toISOString();
    await db.pool.query('vacuum analyze');

    server = await buildServer(services, { logger: false });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const address = server.server.address();
    const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const url = `${baseUrl}/accounts/${accountId}/installed-base`;

    const reads: Record<Variant, () => Promise<string>> = {
      floor: () => floorRead(db.pool, tenant.tenantId, accountId),
      http: () => httpRead(url, tenant.apiKey),
      floorAsOf: () => floorReadAsOf(db.pool, tenant.tenantId, accountId, asOf),
      httpAsOf: () => httpRead(`${url}?asOf=${encodeURIComponent(asOf)}`, tenant.apiKey),
    };

    // Both reads see the whole account (the asOf one rebuilt from history).
    const now = JSON.parse(await reads.http()) as { products: { serviceInstances: { resourceInstances: unknown[] }[] }[] };
    const then = JSON.parse(await reads.httpAsOf()) as typeof now;
    for (const [label, body] of [['now', now], ['asOf', then]] as const) {
      const resources = body.products.reduce((n, p) => n + p.serviceInstances.reduce((m, s) => m + s.resourceInstances.length, 0), 0);
      if (body.products.length !== PRODUCTS || resources !== PRODUCTS * 2) throw new Error(`installed base (${label}): ${body.products.length} products, ${resources} resources`);
    }
    const bytes = Object.fromEntries(await Promise.all(VARIANTS.map(async (v) => [v, Buffer.byteLength(await reads[v]())]))) as Record<Variant, number>;
    console.log(`  response: ${fmt(bytes.http)} bytes (asOf ${fmt(bytes.httpAsOf)}); floor JSON ${fmt(bytes.floor)} bytes (asOf ${fmt(bytes.floorAsOf)})`);

    countRoundTrips();
    for (const v of VARIANTS) {
      const warm = await timeSequential(reads[v], WARMUP_READS);
      console.log(`  warm-up ${v.padEnd(9)} ${fmt(warm.commands / warm.seconds, 1).padStart(7)} reads/s`);
    }

    const totals = Object.fromEntries(VARIANTS.map((v) => [v, emptyTotal()])) as Record<Variant, PhaseResult>;
    const latencies = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const perRound: Array<Record<Variant, number>> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
      const rates = {} as Record<Variant, number>;
      for (const v of order) {
        const r = await timeSequential(reads[v], Math.ceil(READS / ROUNDS));
        addPhase(totals[v], r);
        latencies[v].push(...r.latenciesMs);
        rates[v] = r.commands / r.seconds;
      }
      perRound.push(rates);
      console.log(`  round ${round + 1}: ${VARIANTS.map((v) => `${v} ${fmt(rates[v], 1)}/s`).join(', ')}`
        + `  (http/floor ${fmt(rates.http / rates.floor, 2)}, asOf ${fmt(rates.httpAsOf / rates.floorAsOf, 2)})`);
    }

    const rate = (v: Variant) => totals[v].commands / totals[v].seconds;
    const results = Object.fromEntries(VARIANTS.map((v) => [v, round1(rate(v))])) as Record<Variant, number>;
    const ms = (v: Variant, p: number) => Math.round(percentile(latencies[v], p) * 100) / 100;
    const latency = Object.fromEntries(VARIANTS.map((v) => [v, { p50: ms(v, 0.5), p99: ms(v, 0.99), max: ms(v, 1) }])) as Record<Variant, { p50: number; p99: number; max: number }>;
    const perRead = (f: (t: PhaseResult) => number, scale = 1) =>
      Object.fromEntries(VARIANTS.map((v) => [v, Math.round((f(totals[v]) / totals[v].commands) * scale * 100) / 100])) as Record<Variant, number>;
    const roundTripsPerRead = perRead((t) => t.roundTrips);
    const nodeCpuMs = perRead((t) => t.nodeCpuSeconds, 1000);
    const otherCpuMs = perRead((t) => t.machineCpuSeconds - t.nodeCpuSeconds, 1000);
    const ratios = { httpVsFloor: round3(rate('http') / rate('floor')), httpAsOfVsFloorAsOf: round3(rate('httpAsOf') / rate('floorAsOf')) };
    const met = {
      p99: latency.http.p99 <= TARGETS.p99Ms,
      p99AsOf: latency.httpAsOf.p99 <= TARGETS.p99Ms,
      httpVsFloor: ratios.httpVsFloor >= TARGETS.httpVsFloor,
      httpAsOfVsFloorAsOf: ratios.httpAsOfVsFloorAsOf >= TARGETS.httpVsFloor,
    };

    console.log('');
    console.log('  variant      reads/s   p50 ms   p99 ms   max ms   round trips/read   Node CPU ms/read   other CPU ms/read');
    for (const v of VARIANTS) {
      console.log(`  ${v.padEnd(10)} ${fmt(results[v], 1).padStart(8)} ${fmt(latency[v].p50, 2).padStart(8)} ${fmt(latency[v].p99, 2).padStart(8)} ${fmt(latency[v].max, 2).padStart(8)}`
        + ` ${fmt(roundTripsPerRead[v], 1).padStart(18)} ${fmt(nodeCpuMs[v], 2).padStart(18)} ${fmt(otherCpuMs[v], 2).padStart(19)}`);
    }
    console.log('');
    const roundMedians = {
      httpVsFloor: round3(median(perRound.map((r) => r.http / r.floor))),
      httpAsOfVsFloorAsOf: round3(median(perRound.map((r) => r.httpAsOf / r.floorAsOf))),
    };
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    console.log(`  http p99        = ${fmt(latency.http.p99, 2)} ms  (target ≤ ${TARGETS.p99Ms} ms: ${verdict(met.p99)})`);
    console.log(`  http / floor    = ${fmt(ratios.httpVsFloor, 2)}  (target ≥ ${TARGETS.httpVsFloor}: ${verdict(met.httpVsFloor)}; median of rounds ${fmt(roundMedians.httpVsFloor, 2)})`);
    console.log(`  asOf p99        = ${fmt(latency.httpAsOf.p99, 2)} ms  (target ≤ ${TARGETS.p99Ms} ms: ${verdict(met.p99AsOf)})`);
    console.log(`  asOf / floor    = ${fmt(ratios.httpAsOfVsFloorAsOf, 2)}  (target ≥ ${TARGETS.httpVsFloor}: ${verdict(met.httpAsOfVsFloorAsOf)}; median of rounds ${fmt(roundMedians.httpAsOfVsFloorAsOf, 2)})`);

    const report = {
      date: new Date().toISOString(),
      node: process.version,
      postgres: db.postgresVersion,
      database: db.source,
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
      products: PRODUCTS,
      reads: READS,
      rounds: ROUNDS,
      warmupReads: WARMUP_READS,
      responseBytes: bytes,
      results,
      latencyMs: latency,
      ratios,
      targets: TARGETS,
      met,
      roundTripsPerRead,
      cpuMsPerRead: { thisProcess: nodeCpuMs, otherProcesses: otherCpuMs },
      perRound: perRound.map((r) => ({ ...Object.fromEntries(VARIANTS.map((v) => [v, round1(r[v])])), httpVsFloor: round3(r.http / r.floor), httpAsOfVsFloorAsOf: round3(r.httpAsOf / r.floorAsOf) })),
      medianRoundRatios: roundMedians,
    };
    console.log(`\n  written to ${await writeResults(RESULTS_FILE, report)}`);
  } finally {
    if (server) await server.close().catch(() => {});
    await db.close();
  }
}

runBench(main);
