/**
 * The fault-injection suite's harness (issue 9, "What it must show" 5; `npm run test:faults`,
 * scripts/run-faults.ts). Each scenario file starts, with `FaultEnv.start`:
 *
 * - its own embedded PostgreSQL (src/platform/embedded.ts) in a temp folder on a fixed port,
 *   which it can stop and start again on the same data folder and port (the machine's
 *   server is never touched);
 * - the API as a real process (`src/main.ts`, the demo tenant, a fixed PORT so that clients
 *   keep their URL across restarts) and `tenure worker` processes, all on that database, with
 *   the `internal` provisioner (always done at once) and a short lease;
 * - a handful of clients that post 3-item ADD orders over HTTP, each with its own
 *   Idempotency-Key, and retry the same request with the same key on network errors, 503
 *   (Retry-After, capped short) and 409 idempotency-in-progress until they get a final answer.
 *
 * The scenario injects its faults while the orders stream, then `verify` asserts what the
 * issue asks of every scenario: every acknowledged request exists exactly once, every
 * retried request made exactly one order (and one set of product instances and one
 * subscription), every order completed within a bound set by the lease, no process exited
 * unless the test killed it (and every one stops cleanly on SIGTERM at the end), every 503
 * was the documented `database-unavailable` problem with Retry-After, and `tenure check
 * --json` is healthy. It prints one summary line.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { anyFreePort, ensureDatabase, startEmbeddedPostgres, type EmbeddedServer } from '../../src/platform/embedded.ts';
import { REPO, tenureCli } from '../helpers/tenure-process.ts';

/** The lease of every process of the suite: the bound on completion is derived from it. */
export const LEASE_MS = 6_000;
/**
 * Added to the lease (and to the longest outage a scenario caused) for the bound on an
 * order's completion: the chain of an order's tasks, the workers' back-off after an outage
 * (it doubles from the poll interval), and a loaded 2-core machine.
 */
export const MARGIN_MS = 15_000;
const POLL_MS = 100;
const DEMO_KEY = 'tnr_fault-injection-suite-demo-key-0123456789';
/** Our own connection's name: the scenarios terminate the application's backends (`tenure`), never this one. */
const ADMIN_APPLICATION_NAME = 'fault-suite';
/** A client gives a request up (a failure of the scenario) when it has no final answer after this long. */
const REQUEST_DEADLINE_MS = 120_000;
/** One HTTP attempt that hangs this long is abandoned and retried with the same key. */
const ATTEMPT_TIMEOUT_MS = 30_000;
/** What the clients wait at most before a retry, whatever Retry-After says (5 s): the test is short. */
const RETRY_AFTER_CAP_MS = 250;
const TSX = import.meta.resolve('tsx');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------ PostgreSQL

/** An embedded PostgreSQL the test owns: stopped and started again on the same folder and port. */
export class FaultPostgres {
  /** Restarts, and the longest time it was down (stop called → ready again), in ms. */
  restarts = 0;
  longestOutageMs = 0;

  private constructor(
    private server: EmbeddedServer | null,
    private readonly dataDir: string,
    readonly port: number,
    private readonly flags: string[],
    /** The `tenure` database, as the processes get it in DATABASE_URL. */
    readonly url: string,
    /** One connection of the test's own, opened before any process and never closed while the server runs. */
    readonly admin: pg.Pool,
  ) {}

  static async start(dataDir: string, options: { maxConnections?: number } = {}): Promise<FaultPostgres> {
    // fsync off: the data is thrown away, and a killed process (not a crashed machine) loses nothing without it.
    const flags = ['-c', 'fsync=off', ...(options.maxConnections ? ['-c', `max_connections=${options.maxConnections}`] : [])];
    // persistent: the package deletes a non-persistent data folder on stop, and we start it again.
    const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: true, postgresFlags: flags });
    const port = Number(new URL(server.baseUrl).port);
    await ensureDatabase(server.baseUrl, 'tenure');
    const url = server.databaseUrl('tenure');
    // idleTimeoutMillis 0: the connection stays open, so a squeezed server cannot refuse us a slot later.
    const admin = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, application_name: ADMIN_APPLICATION_NAME });
    admin.on('error', () => {});
    await admin.query('select 1');
    return new FaultPostgres(server, dataDir, port, flags, url, admin);
  }

  /** Fast shutdown (SIGINT): the server ends every session, open transactions included. */
  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }

  async start(): Promise<void> {
    this.server = await startEmbeddedPostgres({ dataDir: this.dataDir, port: this.port, persistent: true, postgresFlags: this.flags });
    assert.equal(Number(new URL(this.server.baseUrl).port), this.port, 'PostgreSQL came back on the same port');
  }

  /** Stops the server, waits `downMs`, starts it again; counts the outage. */
  async restart(downMs: number): Promise<number> {
    const started = Date.now();
    await this.stop();
    await sleep(downMs);
    await this.start();
    const outage = Date.now() - started;
    this.restarts++;
    this.longestOutageMs = Math.max(this.longestOutageMs, outage);
    return outage;
  }

  async dispose(): Promise<void> {
    await this.admin.end().catch(() => {});
    await this.stop().catch(() => {});
  }
}

// ------------------------------------------------------------------------------ processes

const liveChildren = new Set<ChildProcess>();
// Whatever happens to the test process, its children do not outlive it.
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

interface Exit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The test killed or stopped it. */
  expected: boolean;
}

/** One Tenure process slot (the API, or one worker): started, killed and started again by the test. */
export class TenureProcess {
  readonly exits: Exit[] = [];
  starts = 0;
  kills = 0;
  /** Log lines at warn or above (pino level ≥ 40), and stderr lines: counted for the summary. */
  warnings = 0;
  private child: ChildProcess | null = null;
  /** Resolves when the current (or last) child has exited. */
  exited: Promise<void> = Promise.resolve();
  private expected = false;
  private readonly recent: string[] = [];
  /** Everything it wrote to stderr (a crash's stack trace is there), up to 200 lines. */
  private readonly stderr: string[] = [];

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly cwd: string,
    private readonly isReady: (line: string) => boolean,
  ) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The last lines it printed, for a failure's message. */
  tail(): string {
    const stderr = this.stderr.length ? ['stderr:', ...this.stderr] : [];
    return [...this.recent, ...stderr].map((line) => `  [${this.name}] ${line}`).join('\n');
  }

  /** Spawns the process and resolves when it says it is ready; rejects when it exits first. */
  start(options: { env?: Record<string, string>; selfKill?: boolean; timeoutMs?: number } = {}): Promise<void> {
    assert.equal(this.child, null, `${this.name} is already running`);
    const timeoutMs = options.timeoutMs ?? 90_000;
    const child = spawn(process.execPath, ['--import', TSX, ...this.args], { cwd: this.cwd, env: { ...this.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.expected = false;
    this.starts++;
    liveChildren.add(child);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`${this.name} was not ready within ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const onLine = (line: string, stderr: boolean) => {
        if (stderr && this.stderr.length < 200) this.stderr.push(line);
        if (!stderr) this.recent.push(line.length > 600 ? line.slice(0, 600) + '…' : line);
        this.recent.splice(0, Math.max(0, this.recent.length - 20));
        if (stderr || logLevel(line) >= 40) this.warnings++;
        if (!ready && this.isReady(line)) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      lines(child.stdout!, (line) => onLine(line, false));
      lines(child.stderr!, (line) => onLine(line, true));
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        if (this.child === child) this.child = null;
        // selfKill: started with a test crash point, it SIGKILLs itself, at the test's request.
        const selfKilled = options.selfKill === true && signal === 'SIGKILL';
        if (selfKilled) this.kills++;
        this.exits.push({ pid: child.pid!, code, signal, expected: this.expected || selfKilled });
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`${this.name} exited before it was ready (code ${code}, signal ${signal}):\n${this.tail()}`));
        }
      });
    });
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit | null> {
    const child = this.child;
    if (!child) return null;
    this.expected = true;
    if (signal === 'SIGKILL') this.kills++;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    return this.exits[this.exits.length - 1];
  }

  /** SIGTERM, as an operator stops it; SIGKILL if it has not exited after 20 s. Returns how it ended. */
  async stop(): Promise<{ exit: Exit | null; forced: boolean }> {
    const child = this.child;
    if (!child) return { exit: null, forced: false };
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, 20_000);
    const exit = await this.kill('SIGTERM');
    clearTimeout(timer);
    return { exit, forced };
  }

  unexpectedExits(): Exit[] {
    return this.exits.filter((e) => !e.expected);
  }
}

/** The pino level of a JSON log line; 0 for anything else. */
function logLevel(line: string): number {
  if (!line.startsWith('{')) return 0;
  try {
    return Number(JSON.parse(line).level ?? 0);
  } catch {
    return 0;
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trimEnd();
      pending = pending.slice(newline + 1);
      if (line.trim()) onLine(line);
    }
  });
}

// ------------------------------------------------------------------------------ clients

/** One request a client made: one key, retried until it had a final answer. */
export interface Submission {
  client: number;
  key: string;
  accountId: string;
  attempts: number;
  /** Why attempts were retried: the connection failed (or timed out), 503, 409 idempotency-in-progress. */
  network: number;
  unavailable: number;
  inProgress: number;
  /** A 503 that was not the documented database-unavailable problem with Retry-After (what it was). */
  badUnavailable?: string;
  /** The 2xx: the order it acknowledged, and whether that answer was a replay. */
  orderId?: string;
  replayed?: boolean;
  /** A final answer that is not a 2xx, or no final answer in time: always a failure of the scenario. */
  refused?: { status: number; body: string };
  sentAt: number;
  answeredAt?: number;
}

export interface DemoCatalog {
  fiber: string;
  staticIp: string;
  slaGold: string;
}

/** Clients posting orders while `stop` is not called: each its own account, one request after another. */
export class OrderClients {
  readonly submissions: Submission[] = [];
  /** Requests sent and not answered yet (the API kill waits for a few). */
  inFlight = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly apiUrl: string, private readonly accounts: string[], private readonly catalog: DemoCatalog, private readonly pauseMs: number) {}

  start(): void {
    this.loops = this.accounts.map((accountId, client) => this.loop(client, accountId));
  }

  /** No new request after this; resolves when every client has its last request answered. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Waits until `n` requests are in flight (or `timeoutMs` passed); true when they are. */
  async waitForInFlight(n: number, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight < n) {
      if (Date.now() > deadline) return false;
      await sleep(5);
    }
    return true;
  }

  private async loop(client: number, accountId: string): Promise<void> {
    for (let n = 1; !this.stopping; n++) {
      const submission: Submission = { client, key: `fault-${client + 1}-${n}-${randomUUID().slice(0, 8)}`, accountId, attempts: 0, network: 0, unavailable: 0, inProgress: 0, sentAt: Date.now() };
      this.submissions.push(submission);
      await this.submit(submission);
      await sleep(this.pauseMs);
    }
  }

  /** One request: the same body with the same key until a final answer. */
  private async submit(s: Submission): Promise<void> {
    const body = JSON.stringify({
      items: [
        { action: 'ADD', offeringId: this.catalog.fiber, configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: this.catalog.staticIp, parentItemNumber: 1 },
        { action: 'ADD', offeringId: this.catalog.slaGold, parentItemNumber: 1 },
      ],
      // The source reference too: `tenure check` finds an order submitted twice by it as well.
      externalReference: s.key,
    });
    for (;;) {
      if (Date.now() - s.sentAt > REQUEST_DEADLINE_MS) {
        s.refused = { status: 0, body: `no final answer within ${REQUEST_DEADLINE_MS} ms` };
        return;
      }
      s.attempts++;
      let response: Response;
      let text: string;
      this.inFlight++;
      try {
        response = await fetch(`${this.apiUrl}/accounts/${s.accountId}/orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', 'idempotency-key': s.key },
          body,
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        text = await response.text();
      } catch {
        // Refused, reset, or cut off mid-answer (the API was killed): the same request again.
        s.network++;
        await sleep(200);
        continue;
      } finally {
        this.inFlight--;
      }
      if (response.status >= 200 && response.status < 300) {
        s.orderId = JSON.parse(text).orderId;
        s.replayed = response.headers.get('idempotent-replayed') === 'true';
        s.answeredAt = Date.now();
        return;
      }
      if (response.status === 503) {
        s.unavailable++;
        // The documented outage answer, nothing else: problem+json database-unavailable with Retry-After.
        if (problemType(text) !== '/problems/database-unavailable' || !response.headers.get('retry-after') || !/^application\/problem\+json/.test(response.headers.get('content-type') ?? '')) {
          s.badUnavailable = `${response.headers.get('content-type')} retry-after ${response.headers.get('retry-after')}: ${text.slice(0, 300)}`;
        }
        await sleep(Math.min(RETRY_AFTER_CAP_MS, Number(response.headers.get('retry-after') ?? 1) * 1000));
        continue;
      }
      if (response.status === 409 && problemType(text) === '/problems/idempotency-in-progress') {
        s.inProgress++;
        await sleep(100);
        continue;
      }
      s.refused = { status: response.status, body: text.slice(0, 500) };
      s.answeredAt = Date.now();
      return;
    }
  }
}

function problemType(text: string): string | undefined {
  try {
    return JSON.parse(text).type;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------------ the environment

export interface FaultEnvOptions {
  /** The scenario's name in the summary line. */
  label: string;
  /** `tenure worker` processes besides the API. */
  workers: number;
  /** Whether the API runs its in-process worker (TENURE_IN_PROCESS_WORKER). */
  inProcessWorker: boolean;
  clients?: number;
  /** Pause of a client between one answered request and its next one. */
  pauseMs?: number;
  /** The server's max_connections (default 200). */
  maxConnections?: number;
  /** More environment for every Tenure process, and for the API or the workers only. */
  env?: Record<string, string>;
  apiEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

export class FaultEnv {
  readonly workers: TenureProcess[];
  clients!: OrderClients;
  private streamStartedAt = 0;
  private streamEndedAt = 0;

  private constructor(
    private readonly options: FaultEnvOptions,
    readonly tmpDir: string,
    readonly pg: FaultPostgres,
    readonly apiUrl: string,
    readonly api: TenureProcess,
    workers: TenureProcess[],
    readonly accounts: string[],
    private readonly catalog: DemoCatalog,
  ) {
    this.workers = workers;
  }

  /** Everything a scenario starts; on failure what was started is stopped again. */
  static async start(options: FaultEnvOptions): Promise<FaultEnv> {
    const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'tenure-faults-'));
    // As root the server runs as the postgres user, which must be able to enter the folder.
    await chmod(tmpDir, 0o755);
    let pgServer: FaultPostgres | null = null;
    const processes: TenureProcess[] = [];
    try {
      pgServer = await FaultPostgres.start(path.join(tmpDir, 'data'), { maxConnections: options.maxConnections });
      const port = await freePort();
      const base: NodeJS.ProcessEnv = { ...process.env };
      // Nothing of the machine's or the CI's configuration: this database, these settings.
      for (const name of ['REDIS_URL', 'TENURE_PROVISIONERS', 'TENURE_DATA_DIR', 'TENURE_TEST_CRASH_BEFORE_COMMIT', 'TENURE_TEST_CRASH_AFTER_COMMIT', 'TENURE_TEST_SERVER_URL', 'TENURE_TEST_TEMPLATE', 'NODE_TEST_CONTEXT']) delete base[name];
      const common: NodeJS.ProcessEnv = {
        ...base,
        DATABASE_URL: pgServer.url,
        TENURE_DEMO_KEY: DEMO_KEY,
        TENURE_FULFILLMENT_ROUTING: JSON.stringify({ defaultProvisioner: 'internal', maxAttempts: 5 }),
        TENURE_FULFILLMENT_LEASE_MS: String(LEASE_MS),
        TENURE_FULFILLMENT_POLL_MS: String(POLL_MS),
        // A task whose start failed (its connection was cut) is tried again soon, not after seconds.
        TENURE_FULFILLMENT_RETRY: JSON.stringify({ initialDelayMs: 200, multiplier: 2, maxDelayMs: 2_000, jitter: 0.1 }),
        ...options.env,
      };
      const api = new TenureProcess('api', [path.join(REPO, 'src/main.ts')], {
        ...common,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        TENURE_IN_PROCESS_WORKER: options.inProcessWorker ? '1' : '0',
        ...options.apiEnv,
      }, tmpDir, (line) => line.includes('Demo account:'));
      processes.push(api);
      // The API first: it migrates and seeds the demo tenant.
      await api.start();
      const workers = Array.from({ length: options.workers }, (_, i) => new TenureProcess(`worker ${i + 1}`, [path.join(REPO, 'src/cli/index.ts'), 'worker', '--concurrency', '1'], {
        ...common,
        LOG_LEVEL: 'info',
        ...options.workerEnv,
      }, tmpDir, (line) => line.includes('"fulfillment workers started"')));
      processes.push(...workers);
      await Promise.all(workers.map((w) => w.start()));

      const apiUrl = `http://127.0.0.1:${port}`;
      // The set-up retries a 503 as the clients do (a squeezed server may have no connection
      // for the API yet), its POSTs with a key so that a retry cannot make a second one.
      const send = async (method: 'GET' | 'POST', url: string, expected: number, body?: unknown) => {
        const key = randomUUID();
        const deadline = Date.now() + 60_000;
        for (;;) {
          const response = await fetch(`${apiUrl}${url}`, {
            method,
            headers: { authorization: `Bearer ${DEMO_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': key }) },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          const json = await response.json();
          if (response.status === 503 && Date.now() < deadline) {
            await sleep(RETRY_AFTER_CAP_MS);
            continue;
          }
          assert.equal(response.status, expected, `${method} ${url}: ${JSON.stringify(json)}`);
          return json;
        }
      };
      const get = (url: string) => send('GET', url, 200);
      const post = (url: string, body: unknown) => send('POST', url, 201, body);
      const offerings = (await get('/product-offerings?limit=200')).items as { id: string; body: { code: string } }[];
      const offering = (code: string) => offerings.find((o) => o.body.code === code)!.id;
      const catalog = { fiber: offering('business-fiber'), staticIp: offering('static-ip-29'), slaGold: offering('sla-gold') };
      // One account per client: orders of different customers, as a day's orders are.
      const customer = await post('/customers', { name: `Fault suite: ${options.label}` });
      const accounts: string[] = [];
      for (let i = 0; i < (options.clients ?? 4); i++) {
        accounts.push((await post('/accounts', { customerId: customer.customerId, name: `Fault client ${i + 1}`, currency: 'IDR', timeZone: 'Asia/Jakarta', segment: 'enterprise' })).accountId);
      }
      return new FaultEnv(options, tmpDir, pgServer, apiUrl, api, workers, accounts, catalog);
    } catch (error) {
      await Promise.all(processes.map((p) => p.kill()));
      await pgServer?.dispose();
      await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
      throw error;
    }
  }

  get processes(): TenureProcess[] {
    return [this.api, ...this.workers];
  }

  /**
   * Streams orders: the clients start, and after `warmupMs` the faults run; when they are over
   * the clients stop starting new requests, and this resolves once every request has its answer.
   */
  async streamOrders(faults: (clients: OrderClients) => Promise<void>, options: { warmupMs?: number; afterMs?: number } = {}): Promise<void> {
    this.clients = new OrderClients(this.apiUrl, this.accounts, this.catalog, this.options.pauseMs ?? 150);
    this.streamStartedAt = Date.now();
    this.clients.start();
    try {
      await sleep(options.warmupMs ?? 2_000);
      await faults(this.clients);
      await sleep(options.afterMs ?? 1_500);
    } finally {
      await this.clients.stop();
      this.streamEndedAt = Date.now();
    }
  }

  /** Terminates the application's backends that are in a transaction; returns how many. */
  async terminateBackendsInTransaction(): Promise<number> {
    const rows = (await this.pg.admin.query<{ pid: number }>(
      `select pid from pg_stat_activity
        where datname = current_database() and application_name = 'tenure' and xact_start is not null and pid <> pg_backend_pid()`,
    )).rows;
    if (rows.length === 0) return 0;
    const terminated = await this.pg.admin.query<{ ok: boolean }>('select pg_terminate_backend(pid) as ok from unnest($1::int[]) as pid', [rows.map((r) => r.pid)]);
    return terminated.rows.filter((r) => r.ok).length;
  }

  /**
   * The assertions every scenario makes, after its faults: see the file's comment. `outageMs`
   * is the longest time the scenario's fault made the service unavailable (added to the bound);
   * `notes` go into the summary line.
   */
  async verify(options: { outageMs: number; notes: string; extraProblems?: string[] }): Promise<void> {
    const problems: string[] = [...(options.extraProblems ?? [])];
    const submissions = this.clients.submissions;
    const bound = LEASE_MS + options.outageMs + MARGIN_MS;

    for (const s of submissions) {
      if (s.refused) problems.push(`request ${s.key} had no acknowledgement: ${s.refused.status} ${s.refused.body}`);
      if (s.badUnavailable) problems.push(`request ${s.key} got a 503 that is not database-unavailable with Retry-After: ${s.badUnavailable}`);
    }
    const acknowledged = submissions.filter((s) => s.orderId);
    assert.ok(acknowledged.length >= this.accounts.length, `the clients had orders acknowledged (${acknowledged.length})`);

    // Every order ends: wait for it, up to the bound after the last one was acknowledged.
    const lastAck = Math.max(...acknowledged.map((s) => s.answeredAt!));
    const terminal = ['completed', 'failed', 'partial', 'cancelled'];
    for (;;) {
      const open = (await this.pg.admin.query<{ n: number }>(
        'select count(*)::int as n from product_order where account_id = any ($1::uuid[]) and not (status = any ($2::text[]))', [this.accounts, terminal])).rows[0].n;
      if (open === 0) break;
      if (Date.now() > lastAck + bound + 5_000) {
        problems.push(`${open} order(s) had not ended ${bound + 5_000} ms after the last acknowledgement`);
        break;
      }
      await sleep(250);
    }

    // Exactly once: each acknowledged request is one order, the one it was told, made with its key.
    const orders = (await this.pg.admin.query<{ order_id: string; account_id: string; idempotency_key: string | null; external_reference: string | null; status: string; ms: number | null }>(
      `select order_id::text, account_id::text, idempotency_key, external_reference, status,
              (extract(epoch from completed_at - created_at) * 1000)::float8 as ms
         from product_order where account_id = any ($1::uuid[])`, [this.accounts])).rows;
    const byKey = new Map<string, typeof orders>();
    for (const o of orders) {
      if (!o.idempotency_key) problems.push(`order ${o.order_id} has no idempotency key`);
      else byKey.set(o.idempotency_key, [...(byKey.get(o.idempotency_key) ?? []), o]);
      if (o.external_reference !== o.idempotency_key) problems.push(`order ${o.order_id}: external reference ${o.external_reference} is not its key ${o.idempotency_key}`);
    }
    const keys = new Set(submissions.map((s) => s.key));
    for (const s of submissions) {
      const mine = byKey.get(s.key) ?? [];
      if (s.orderId) {
        if (mine.length !== 1 || mine[0].order_id !== s.orderId) problems.push(`request ${s.key} (${s.attempts} attempts) was acknowledged as order ${s.orderId}, but its key made ${mine.length} order(s): ${mine.map((o) => o.order_id).join(', ')}`);
        if (mine[0]?.account_id !== s.accountId) problems.push(`order ${s.orderId} is not in the account it was submitted to`);
      } else if (mine.length > 1) {
        problems.push(`request ${s.key} (not acknowledged) made ${mine.length} orders`);
      }
    }
    for (const key of byKey.keys()) if (!keys.has(key)) problems.push(`an order with key ${key}, which no client sent`);

    // One effect: each order made its three product instances and its one subscription, and there are no others.
    const instances = (await this.pg.admin.query<{ order_id: string | null; n: number; subscriptions: number }>(
      `select action_origin_order_id::text as order_id, count(*)::int as n, count(distinct subscription_id)::int as subscriptions
         from product_instance where account_id = any ($1::uuid[]) group by 1`, [this.accounts])).rows;
    const orderIds = new Set(orders.map((o) => o.order_id));
    for (const i of instances) {
      if (i.order_id === null || !orderIds.has(i.order_id)) problems.push(`${i.n} product instance(s) made by no order of the clients (${i.order_id})`);
      else if (i.n !== 3 || i.subscriptions !== 1) problems.push(`order ${i.order_id} made ${i.n} product instances in ${i.subscriptions} subscriptions (3 in 1 expected)`);
    }
    if (instances.length !== orders.length) problems.push(`${orders.length} orders but product instances of ${instances.length}`);
    const subscriptions = (await this.pg.admin.query<{ n: number }>('select count(*)::int as n from subscription where account_id = any ($1::uuid[])', [this.accounts])).rows[0].n;
    if (subscriptions !== orders.length) problems.push(`${subscriptions} subscriptions for ${orders.length} orders`);

    // Within the bound: every order completed (not failed), no later than lease + outage + margin after it was made.
    const notCompleted = orders.filter((o) => o.status !== 'completed');
    if (notCompleted.length) {
      // Why: the items' errors and the tasks' last errors, counted by code and message.
      const why = (await this.pg.admin.query<{ what: string; n: number }>(
        `select 'item ' || status || ': ' || coalesce(error->>'code', '-') || ': ' || left(coalesce(error->>'message', '-'), 160) as what, count(*)::int as n
           from order_item where account_id = any ($1::uuid[]) and status <> 'completed' group by 1
         union all
         select 'task ' || status || ' (attempts ' || attempts || '): ' || coalesce(last_error->>'code', '-') || ': ' || left(coalesce(last_error->>'message', '-'), 160), count(*)::int
           from fulfillment_task where account_id = any ($1::uuid[]) and (status <> 'done' or last_error is not null) group by 1
         order by 2 desc limit 12`, [this.accounts])).rows;
      problems.push(`${notCompleted.length} order(s) did not complete: ${JSON.stringify(countBy(notCompleted.map((o) => o.status)))}\n${why.map((w) => `    ${w.n} × ${w.what}`).join('\n')}`);
    }
    const times = orders.filter((o) => o.ms !== null).map((o) => o.ms!);
    const maxCompletionMs = times.length ? Math.max(...times) : 0;
    const late = times.filter((ms) => ms > bound);
    if (late.length) problems.push(`${late.length} order(s) completed later than ${bound} ms (lease ${LEASE_MS} + outage ${options.outageMs} + margin ${MARGIN_MS}); the slowest after ${Math.round(maxCompletionMs)} ms`);
    const tasks = (await this.pg.admin.query<{ n: number; rerun: number; not_done: number }>(
      `select count(*)::int as n, count(*) filter (where attempts > 1)::int as rerun, count(*) filter (where status <> 'done')::int as not_done
         from fulfillment_task where account_id = any ($1::uuid[])`, [this.accounts])).rows[0];
    // Why tasks ran again: the error their worker recorded (none: the lease ran out).
    const rerunWhy = (await this.pg.admin.query<{ code: string; n: number }>(
      `select coalesce(last_error->>'code', 'lease expired') as code, count(*)::int as n
         from fulfillment_task where account_id = any ($1::uuid[]) and attempts > 1 group by 1 order by 2 desc`, [this.accounts])).rows;

    // No process exited unless the test killed it; each stops cleanly on SIGTERM now.
    for (const p of this.processes) {
      for (const e of p.unexpectedExits()) problems.push(`${p.name} (pid ${e.pid}) exited on its own: code ${e.code}, signal ${e.signal}\n${p.tail()}`);
      if (!p.running) problems.push(`${p.name} is not running at the end`);
    }
    const warnings = this.processes.reduce((n, p) => n + p.warnings, 0);
    for (const p of this.processes) {
      const { exit, forced } = await p.stop();
      if (forced) problems.push(`${p.name} did not stop within 20 s of SIGTERM\n${p.tail()}`);
      else if (exit && exit.code !== 0) problems.push(`${p.name} exited with code ${exit.code} (signal ${exit.signal}) on SIGTERM\n${p.tail()}`);
    }

    // And the operator's view: `tenure check` finds nothing.
    const check = await tenureCli(['check', '--json'], { cwd: this.tmpDir, env: { DATABASE_URL: this.pg.url, REDIS_URL: undefined, NODE_TEST_CONTEXT: undefined } });
    let healthy = false;
    try {
      const report = JSON.parse(check.stdout);
      healthy = report.healthy === true && check.code === 0;
      if (!healthy) problems.push(`tenure check is not healthy (exit ${check.code}): ${JSON.stringify(report.findings).slice(0, 2000)}`);
    } catch {
      problems.push(`tenure check --json printed no report (exit ${check.code}): ${check.stdout.slice(0, 500)} ${check.stderr.slice(0, 1000)}`);
    }

    const retried = submissions.filter((s) => s.attempts > 1);
    const sum = (f: (s: Submission) => number) => submissions.reduce((n, s) => n + f(s), 0);
    console.log(
      `${this.options.label}: ${acknowledged.length} orders acknowledged (${acknowledged.filter((s) => s.replayed).length} as replays) in ${secs(this.streamEndedAt - this.streamStartedAt)}; `
      + `${retried.length} requests retried ${sum((s) => s.attempts - 1)} times (${sum((s) => s.network)} network errors, ${sum((s) => s.unavailable)} × 503, ${sum((s) => s.inProgress)} × 409 in progress); `
      + `max completion ${secs(maxCompletionMs)} (bound ${secs(bound)}); ${tasks.rerun} of ${tasks.n} tasks ran more than once${rerunWhy.length ? ` (${rerunWhy.map((r) => `${r.code} ×${r.n}`).join(', ')})` : ''}; ${options.notes}; `
      + `${warnings} warning/error log lines; tenure check ${healthy ? 'healthy' : 'NOT healthy'}`,
    );
    if (tasks.not_done > 0) problems.push(`${tasks.not_done} task(s) not done`);
    assert.deepEqual(problems, [], `${this.options.label}: ${problems.length} problem(s)`);
  }

  /** Kills what still runs, stops PostgreSQL, removes the temp folder: in `after`, whatever happened. */
  async dispose(): Promise<void> {
    await this.clients?.stop().catch(() => {});
    await Promise.all(this.processes.map((p) => p.kill('SIGKILL')));
    await this.pg.dispose();
    await rm(this.tmpDir, { recursive: true, force: true }).catch(() => {});
  }
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A port nobody listens on now (the API's and PostgreSQL's, kept for the whole scenario). */
export const freePort = anyFreePort;
