/**
 * Plumbing for the benchmarks: a throw-away database (on DATABASE_URL's server or an
 * embedded PostgreSQL), a round-trip counter, and a closed-loop load runner.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool, type Pool } from '../src/platform/db.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/platform/embedded.ts';
import { migrate } from '../src/platform/migrate.ts';

// ------------------------------------------------------------------------- database

export interface BenchDatabase {
  pool: Pool;
  /** The fresh database's connection string, for other processes (the orders benchmark's workers). */
  url: string;
  /** 'DATABASE_URL' or 'embedded'. */
  source: string;
  postgresVersion: string;
  close(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

/**
 * A fresh, migrated database `bench_<random>`: on the server of DATABASE_URL when it is set
 * (dropped again by close()), else on a throw-away embedded PostgreSQL in a temp folder.
 */
export async function openBenchDatabase(poolSize: number): Promise<BenchDatabase> {
  let embedded: EmbeddedServer | null = null;
  let tmpDir: string | null = null;
  let serverUrl = process.env.DATABASE_URL;
  const source = serverUrl ? 'DATABASE_URL' : 'embedded';
  if (!serverUrl) {
    tmpDir = await mkdtemp(path.join(os.tmpdir(), 'tenure-bench-pg-'));
    // As root the server runs as the postgres user, which must be able to enter the folder.
    await chmod(tmpDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(tmpDir, 'data'), port: 0, persistent: false });
    serverUrl = embedded.baseUrl;
  }
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  let pool: Pool | null = null;
  const cleanup = async () => {
    if (pool) await pool.end().catch(() => {});
    await admin.query(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.end().catch(() => {});
    if (embedded) await embedded.stop().catch(() => {});
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }).catch(() => {});
  };
  try {
    await admin.query(`create database ${name}`);
    const url = withDatabase(serverUrl, name);
    pool = createPool(url, poolSize);
    await migrate(pool);
    const version = (await pool.query('show server_version')).rows[0].server_version as string;
    return { pool, url, source, postgresVersion: version, close: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

// ------------------------------------------------------------------------- round trips

let roundTrips = 0;
let counting = false;

/**
 * Counts every query sent by any pg client of this process (pool clients included): one
 * `client.query` is one round trip to the server. Cheap enough to stay on while measuring.
 */
export function countRoundTrips(): void {
  if (counting) return;
  counting = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    roundTrips++;
    return original.apply(this, args);
  };
}

export const roundTripCount = (): number => roundTrips;

// ------------------------------------------------------------------------- PostgreSQL CPU

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by each PostgreSQL backend of the pool's database, by pid, read from
 * /proc: only when the server runs on this machine and its processes are readable; an empty map
 * otherwise.
 */
export async function postgresBackendsCpu(pool: Pool): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  const { rows } = await pool.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database()');
  for (const { pid } of rows) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const seconds = processCpuSeconds(pid);
    if (seconds !== null) cpu.set(pid, seconds);
  }
  return cpu;
}

/** CPU of the backends between two samples (a backend that ended in between is missed); null when none was readable. */
export function backendsCpuDelta(before: Map<number, number>, after: Map<number, number>): number | null {
  if (after.size === 0) return null;
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}

// ------------------------------------------------------------------------- load runner

/** One worker's command loop: runs one command per call and says how many it ran. */
export type Step = () => Promise<number>;

export interface PhaseResult {
  commands: number;
  seconds: number;
  roundTrips: number;
  /** CPU time of this (Node) process during the phase, in seconds. */
  nodeCpuSeconds: number;
  /** CPU time of the whole machine (every core, every process) during the phase, in seconds. */
  machineCpuSeconds: number;
}

export function machineCpuSeconds(): number {
  let ms = 0;
  for (const cpu of os.cpus()) ms += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  return ms / 1000;
}

/**
 * Closed loop: every worker calls its step until the deadline (or until it has run its share
 * of `commands`), one call at a time. The phase lasts until the last worker has finished.
 */
export async function runPhase(steps: Step[], limit: { seconds: number } | { commands: number }): Promise<PhaseResult> {
  const tripsBefore = roundTrips;
  const cpuBefore = process.cpuUsage();
  const machineBefore = machineCpuSeconds();
  const started = performance.now();
  const deadline = 'seconds' in limit ? started + limit.seconds * 1000 : Infinity;
  const share = 'commands' in limit ? Math.ceil(limit.commands / steps.length) : Infinity;
  const done = await Promise.all(steps.map(async (step) => {
    let count = 0;
    while (count < share && performance.now() < deadline) count += await step();
    return count;
  }));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    commands: done.reduce((a, b) => a + b, 0),
    seconds,
    roundTrips: roundTrips - tripsBefore,
    nodeCpuSeconds: (cpu.user + cpu.system) / 1e6,
    machineCpuSeconds: machineCpuSeconds() - machineBefore,
  };
}

export function envNumber(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

export const emptyTotal = (): PhaseResult => ({ commands: 0, seconds: 0, roundTrips: 0, nodeCpuSeconds: 0, machineCpuSeconds: 0 });

/** Adds one phase's measurements to a variant's running total. */
export function addPhase(total: PhaseResult, phase: PhaseResult): void {
  total.commands += phase.commands;
  total.seconds += phase.seconds;
  total.roundTrips += phase.roundTrips;
  total.nodeCpuSeconds += phase.nodeCpuSeconds;
  total.machineCpuSeconds += phase.machineCpuSeconds;
}

// ------------------------------------------------------------------------- reporting

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A number for the report, with thousands separators. */
export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const round1 = (n: number) => Math.round(n * 10) / 10;
export const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** The value below which `p` (0–1) of the values lie (nearest rank). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Sequential reads: `read` is called `count` times, one after another; each call's latency in ms. */
export async function timeSequential(read: () => Promise<unknown>, count: number): Promise<PhaseResult & { latenciesMs: number[] }> {
  const tripsBefore = roundTrips;
  const cpuBefore = process.cpuUsage();
  const machineBefore = machineCpuSeconds();
  const started = performance.now();
  const latenciesMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await read();
    latenciesMs.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return {
    commands: count,
    seconds: (performance.now() - started) / 1000,
    roundTrips: roundTrips - tripsBefore,
    nodeCpuSeconds: (cpu.user + cpu.system) / 1e6,
    machineCpuSeconds: machineCpuSeconds() - machineBefore,
    latenciesMs,
  };
}

/** Writes a benchmark's result file (bench/results/, git-ignored); returns its path relative to the working folder. */
export async function writeResults(file: string, report: unknown): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  return path.relative(process.cwd(), file);
}

/** Runs a benchmark's main and exits: 0 when it finished, 1 with the error printed when it failed. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
