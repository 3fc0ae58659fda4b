/**
 * `npm run bench`: throughput of the modification command, measured three ways in one
 * process, against one database, at one concurrency (see bench/README.md):
 *
 *   rawSql   the floor: the same transaction shape in plain SQL through pg
 *   service  InventoryService.startModification / cancelModification
 *   http     the same commands through a listening Fastify server, called with fetch
 *
 * Every worker drives its own product instances (no conflicts: this measures throughput),
 * alternating start and cancel; each is one command. The ratios service/rawSql and
 * http/rawSql are the result; absolute rates on a shared machine are noise.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildServer } from '../src/api/server.ts';
import { createServices, type Services } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import type { CommandContext } from '../src/platform/context.ts';
import { createActiveProducts, rawStep, type Instance } from './raw-sql.ts';
import { addPhase, countRoundTrips, emptyTotal, envNumber, fmt, median, openBenchDatabase, round1, round3, runPhase, type PhaseResult, type Step, runBench, writeResults } from './support.ts';

const VARIANTS = ['rawSql', 'service', 'http'] as const;
type Variant = (typeof VARIANTS)[number];

const TARGETS = { serviceVsRaw: 0.7, httpVsRaw: 0.4 };

const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 8)!;
const BENCH_COMMANDS = envNumber('BENCH_COMMANDS', undefined);
/** Measured time per variant, summed over the rounds (ignored when BENCH_COMMANDS is set). */
const BENCH_SECONDS = envNumber('BENCH_SECONDS', 12)!;
const ROUNDS = Math.round(envNumber('BENCH_ROUNDS', 4)!);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 3)!;

const RESULTS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');

// ------------------------------------------------------------------------- setup

// ------------------------------------------------------------------------- (a) raw SQL floor

// ------------------------------------------------------------------------- (b) service layer

function serviceStep(services: Services, ctx: CommandContext, p: Instance): Step {
  return async () => {
    const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
    const started = await services.inventory.startModification(ctx, p.productInstanceId, {
      ...cause, expectedVersion: p.version, requestedChange: { configuration: { bandwidthMbps: 2000 } },
    });
    p.version = started.version;
    const cancelled = await services.inventory.cancelModification(ctx, p.productInstanceId, { ...cause, expectedVersion: p.version });
    p.version = cancelled.version;
    return 2;
  };
}

// ------------------------------------------------------------------------- (c) HTTP

async function post(url: string, apiKey: string, body: unknown): Promise<{ version: number }> {
  // Node's fetch (undici) keeps connections alive by default: one connection per worker.
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { version: number };
  if (response.status !== 200) throw new Error(`POST ${url} → ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

function httpStep(baseUrl: string, apiKey: string, p: Instance): Step {
  const url = (command: string) => `${baseUrl}/internal/assets/product-instances/${p.productInstanceId}/${command}`;
  return async () => {
    const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
    const started = await post(url('modification:start'), apiKey, {
      ...cause, expectedVersion: p.version, requestedChange: { configuration: { bandwidthMbps: 2000 } },
    });
    p.version = started.version;
    const cancelled = await post(url('modification:cancel'), apiKey, { ...cause, expectedVersion: p.version });
    p.version = cancelled.version;
    return 2;
  };
}

// ------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const limitText = BENCH_COMMANDS ? `${BENCH_COMMANDS} commands per variant` : `${BENCH_SECONDS} s per variant`;
  console.log(`bench: modification command, ${CONCURRENCY} concurrent workers, ${limitText} in ${ROUNDS} interleaved rounds, ${WARMUP_SECONDS} s warm-up each`);
  // Pool: one connection per worker, plus room for the HTTP variant's API-key lookup.
  const db = await openBenchDatabase(CONCURRENCY * 2);
  // Ctrl-C still drops the database (and stops an embedded server).
  process.once('SIGINT', () => void db.close().finally(() => process.exit(130)));
  let server: Awaited<ReturnType<typeof buildServer>> | null = null;
  try {
    console.log(`bench: PostgreSQL ${db.postgresVersion} (${db.source === 'embedded' ? 'throw-away embedded, fsync off' : 'DATABASE_URL server, fresh database'}), Node ${process.version}, ${os.cpus().length} CPUs`);
    const services = createServices(db.pool, systemClock);
    const tenant = await services.access.createTenant({ name: 'Bench tenant' });
    const ctx: CommandContext = { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' }, correlationId: 'bench' };

    // Each worker owns one product instance per variant: no two commands ever touch the same row.
    const products = await createActiveProducts(services, ctx, CONCURRENCY * VARIANTS.length);
    const own = (v: number) => products.slice(v * CONCURRENCY, (v + 1) * CONCURRENCY);

    server = await buildServer(services, { logger: false });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const address = server.server.address();
    const baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

    const steps: Record<Variant, Step[]> = {
      rawSql: own(0).map((p) => rawStep(db.pool, tenant.tenantId, p)),
      service: own(1).map((p) => serviceStep(services, ctx, p)),
      http: own(2).map((p) => httpStep(baseUrl, tenant.apiKey, p)),
    };

    countRoundTrips();
    for (const v of VARIANTS) {
      const warm = await runPhase(steps[v], { seconds: WARMUP_SECONDS });
      console.log(`  warm-up ${v.padEnd(7)} ${fmt(warm.commands / warm.seconds).padStart(7)} commands/s`);
    }

    const totals: Record<Variant, PhaseResult> = {
      rawSql: emptyTotal(),
      service: emptyTotal(),
      http: emptyTotal(),
    };
    const perRound: Array<Record<Variant, number>> = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so that no variant always runs first (or on the largest tables).
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
      const rates = {} as Record<Variant, number>;
      for (const v of order) {
        const limit = BENCH_COMMANDS ? { commands: BENCH_COMMANDS / ROUNDS } : { seconds: BENCH_SECONDS / ROUNDS };
        // Every phase starts from a vacuumed database: the dead row versions left by the
        // previous phase's updates would otherwise slow down whichever variant comes next.
        await db.pool.query('vacuum');
        const r = await runPhase(steps[v], limit);
        addPhase(totals[v], r);
        rates[v] = r.commands / r.seconds;
      }
      perRound.push(rates);
      console.log(`  round ${round + 1}: ${VARIANTS.map((v) => `${v} ${fmt(rates[v])}/s`).join(', ')}`
        + `  (service/raw ${fmt(rates.service / rates.rawSql, 2)}, http/raw ${fmt(rates.http / rates.rawSql, 2)})`);
    }

    const rate = (v: Variant) => totals[v].commands / totals[v].seconds;
    const results = { rawSql: rate('rawSql'), service: rate('service'), http: rate('http') };
    const ratios = { serviceVsRaw: results.service / results.rawSql, httpVsRaw: results.http / results.rawSql };
    const met = { serviceVsRaw: ratios.serviceVsRaw >= TARGETS.serviceVsRaw, httpVsRaw: ratios.httpVsRaw >= TARGETS.httpVsRaw };
    const perCommand = (f: (t: PhaseResult) => number, scale = 1) =>
      Object.fromEntries(VARIANTS.map((v) => [v, Math.round((f(totals[v]) / totals[v].commands) * scale * 1000) / 1000])) as Record<Variant, number>;
    const roundTripsPerCommand = perCommand((t) => t.roundTrips);
    // Where the time goes: this process's CPU (Tenure, pg, Fastify, the fetch client) and the
    // rest of the machine's (PostgreSQL, and any other load), in milliseconds per command.
    const nodeCpuMs = perCommand((t) => t.nodeCpuSeconds, 1000);
    const otherCpuMs = perCommand((t) => t.machineCpuSeconds - t.nodeCpuSeconds, 1000);

    console.log('');
    console.log('  variant   commands/s   commands   round trips/cmd   Node CPU ms/cmd   other CPU ms/cmd');
    for (const v of VARIANTS) {
      console.log(`  ${v.padEnd(8)} ${fmt(results[v]).padStart(11)} ${fmt(totals[v].commands).padStart(10)} ${fmt(roundTripsPerCommand[v], 1).padStart(17)}`
        + ` ${fmt(nodeCpuMs[v], 2).padStart(17)} ${fmt(otherCpuMs[v], 2).padStart(18)}`);
    }
    console.log('');
    // The median of the rounds' own ratios: a burst of load from another process hurts one
    // round, not the median. Shown next to the overall ratio as a check on the noise.
    const roundMedians = {
      serviceVsRaw: round3(median(perRound.map((r) => r.service / r.rawSql))),
      httpVsRaw: round3(median(perRound.map((r) => r.http / r.rawSql))),
    };
    console.log(`  service / rawSql = ${fmt(ratios.serviceVsRaw, 2)}  (target ≥ ${TARGETS.serviceVsRaw}: ${met.serviceVsRaw ? 'met' : 'NOT met'}; median of rounds ${fmt(roundMedians.serviceVsRaw, 2)})`);
    console.log(`  http / rawSql    = ${fmt(ratios.httpVsRaw, 2)}  (target ≥ ${TARGETS.httpVsRaw}: ${met.httpVsRaw ? 'met' : 'NOT met'}; median of rounds ${fmt(roundMedians.httpVsRaw, 2)})`);

    const report = {
      date: new Date().toISOString(),
      node: process.version,
      postgres: db.postgresVersion,
      database: db.source,
      cpus: os.cpus().length,
      concurrency: CONCURRENCY,
      limit: BENCH_COMMANDS ? { commandsPerVariant: BENCH_COMMANDS } : { secondsPerVariant: BENCH_SECONDS },
      rounds: ROUNDS,
      warmupSeconds: WARMUP_SECONDS,
      commands: { rawSql: totals.rawSql.commands, service: totals.service.commands, http: totals.http.commands },
      results: { rawSql: round1(results.rawSql), service: round1(results.service), http: round1(results.http) },
      ratios: { serviceVsRaw: round3(ratios.serviceVsRaw), httpVsRaw: round3(ratios.httpVsRaw) },
      targets: TARGETS,
      met,
      roundTripsPerCommand,
      // This process (Tenure, pg, Fastify and the fetch client) and every other process of
      // the machine (PostgreSQL, and whatever else runs there), CPU milliseconds per command.
      cpuMsPerCommand: { thisProcess: nodeCpuMs, otherProcesses: otherCpuMs },
      perRound: perRound.map((r) => ({
        rawSql: round1(r.rawSql), service: round1(r.service), http: round1(r.http),
        serviceVsRaw: round3(r.service / r.rawSql), httpVsRaw: round3(r.http / r.rawSql),
      })),
      medianRoundRatios: roundMedians,
    };
    console.log(`\n  written to ${await writeResults(RESULTS_FILE, report)}`);
  } finally {
    if (server) await server.close().catch(() => {});
    await db.close();
  }
}

runBench(main);
