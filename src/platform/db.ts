import pg from 'pg';
import { DatabaseUnavailableError, ProblemError } from './errors.ts';

// int8 columns (versions, counters) come back as numbers. Values past 2^53 would lose
// precision, so refuse them loudly; money columns are selected as text and parsed by the
// money helpers instead.
pg.types.setTypeParser(20, (value: string) => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`int8 value ${value} is too large for a JS number`);
  return parsed;
});

export type Pool = pg.Pool;
/** A client inside an open transaction. */
export type Tx = pg.PoolClient;

/** How long a request waits for a connection (a new one, or a free one of a busy pool) before it is 503. */
export const CONNECTION_TIMEOUT_MS = 5_000;

/**
 * Every parameterized statement is a named prepared statement, parsed and planned once per
 * connection instead of at every call (decision 0018): the statement text is the key, so SQL
 * must be constant text with its values in $n parameters. Past MAX_NAMED_STATEMENTS distinct
 * texts (a bug building SQL from values), the rest go unnamed rather than fill the server's memory.
 */
const statementNames = new Map<string, string>();
const MAX_NAMED_STATEMENTS = 2_000;

function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `tenure_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

/** The number of distinct statements prepared so far by this process (tests, benchmarks). */
export function preparedStatementCount(): number {
  return statementNames.size;
}

class PreparingClient extends pg.Client {
  // pg's query() has a dozen overloads; this one only names `query(text, values)` calls.
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config === 'string' && Array.isArray(values)) {
      const name = statementName(config);
      if (name) return super.query({ name, text: config, values }, callback);
    }
    return super.query(config, values, callback);
  }
}

export function createPool(connectionString: string, max = 10): Pool {
  const pool = new pg.Pool({
    Client: PreparingClient,
    connectionString,
    max,
    // Fail fast while the database is away instead of making every request hang.
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    // A server that vanished without closing the socket is noticed by TCP keepalive.
    keepAlive: true,
    // Every connection works in UTC, whatever the server's default is.
    options: '-c TimeZone=UTC',
    application_name: 'tenure',
  });
  // An idle client that loses its server must not crash the process.
  pool.on('error', () => {});
  return pool;
}

/**
 * Switches the open transaction to the application role with the tenant's setting, in one
 * round trip: set_config('role', …, true) is what `set local role` does.
 */
/**
 * BEGIN, the application role and the tenant's setting, sent as one simple-protocol query: one
 * round trip where three statements would take two (a parameter would need the extended
 * protocol, which takes one statement at a time). The tenant id is quoted as a literal.
 */
export function tenantBeginSql(tenantId: string): string {
  return `begin; select set_config('role', 'tenure_app', true), set_config('tenure.tenant_id', ${pg.escapeLiteral(tenantId)}, true)`;
}

/**
 * Runs `work` in one transaction as the application role with the tenant's setting, so that
 * Row-Level Security hides every other tenant's rows even if a query forgets its filter.
 */
export async function inTenantTransaction<T>(connection: Connection, tenantId: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  let joined: JoinedTransaction | undefined;
  let result: T;
  try {
    result = await inTransaction(connection, tenantBeginSql(tenantId), async (tx) => {
      joined = await tenantTransactionHook?.begin(tx, tenantId);
      const result = await work(tx);
      await joined?.beforeCommit(result);
      return result;
    });
  } catch (error) {
    joined?.afterRollback();
    throw error;
  }
  joined?.afterCommit();
  return result;
}

/** The connections on which a statement was prepared by a tenant transaction (inTenantStatement). */
const preparedOn = new WeakMap<pg.Client, Set<string>>();

/**
 * One read-only statement under the tenant's role and setting, in one round trip: the setup and
 * `execute` of the statement's prepared form sent as one simple-protocol query, which PostgreSQL
 * runs as one implicit transaction (decision 0020). The settings are transaction-scoped, so they
 * end with it, as they do at a COMMIT; a failure rolls it back by itself. The parameters go as
 * quoted literals (`sqlLiteral`), taking the prepared statement's parameter types as Bind would.
 * The first time on a connection the statement runs in an ordinary tenant transaction, which
 * prepares it (PreparingClient). The tenant transaction hook does not join: a read writes
 * nothing, so an Idempotency-Key has nothing to complete with it. Only for statements that
 * cannot write (a `select` calling no function that writes).
 */
export async function inTenantStatement<R>(pool: Pool, tenantId: string, text: string, params: unknown[]): Promise<R[]> {
  const held = await holdConnection(pool);
  try {
    const client = held.client as unknown as pg.Client;
    const name = statementName(text);
    if (!name || !preparedOn.get(client)?.has(name)) {
      const rows = await transactionOn(held, tenantBeginSql(tenantId), async (tx) => (await tx.query(text, params)).rows as R[]);
      if (name) preparedOn.set(client, (preparedOn.get(client) ?? new Set()).add(name));
      return rows;
    }
    if (held.lost) throw new DatabaseUnavailableError('connection lost', held.lost);
    // The generic plan, planned once per connection: PostgreSQL would otherwise plan such a
    // statement (CTEs over arrays of parameters) anew at each execution, which cost more than
    // running it (0.7 ms of planning for 0.5 ms of execution, the preview's). SET LOCAL is
    // set_config(…, true) without a row to send back (in a string of several statements the
    // implicit transaction is a transaction block, so LOCAL holds until it ends).
    const setup = `set local role tenure_app; set local tenure.tenant_id = ${pg.escapeLiteral(tenantId)}; set local plan_cache_mode = force_generic_plan`;
    const results = (await client.query(`${setup}; execute ${name}(${params.map(sqlLiteral).join(', ')})`)) as unknown as pg.QueryResult[];
    return results[3]!.rows as R[];
  } catch (error) {
    throw asDatabaseError(error, held.lost);
  } finally {
    held.release();
  }
}

/** A parameter as an SQL literal: null, a number, a boolean, a string, an ISO date, or a flat array of those. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) {
    const element = (v: unknown) => {
      if (v === null || v === undefined) return 'NULL';
      if (Array.isArray(v) || (typeof v === 'object' && !(v instanceof Date))) throw new Error('sqlLiteral: only flat arrays of scalars');
      return `"${scalarText(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    };
    return pg.escapeLiteral(`{${value.map(element).join(',')}}`);
  }
  if (typeof value === 'object' && !(value instanceof Date)) return pg.escapeLiteral(JSON.stringify(value));
  return pg.escapeLiteral(scalarText(value));
}

function scalarText(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`sqlLiteral: ${v} is not a finite number`);
  return String(v);
}

// ---------------------------------------------------------------- tenant transaction hook
// One hook, set by the API's idempotency (src/http/idempotency.ts): a request's Idempotency-Key
// is completed in the same transaction as the change it protects. db.ts knows nothing else of it.

/** What the hook does in one tenant transaction it joined. */
export interface JoinedTransaction {
  /** After the work, before COMMIT, in the transaction (an error rolls it back). */
  beforeCommit(result: unknown): Promise<void>;
  /** After COMMIT succeeded. */
  afterCommit(): void;
  /** After the transaction failed (rolled back or abandoned). */
  afterRollback(): void;
}

export interface TenantTransactionHook {
  /** In the open transaction, after the tenant setup and before the work; undefined: not joined. */
  begin(tx: Tx, tenantId: string): Promise<JoinedTransaction | undefined>;
}

let tenantTransactionHook: TenantTransactionHook | undefined;

export function setTenantTransactionHook(hook: TenantTransactionHook | undefined): void {
  tenantTransactionHook = hook;
}

const NOT_THE_RESPONSE = Symbol('not the response');

/**
 * Marks a transaction's result as not what the request answers: a fact recorded before a
 * refusal (an expired quote). The hook must not take it as the request's response.
 */
export function notTheResponse<T extends object>(result: T): T {
  return Object.assign(result, { [NOT_THE_RESPONSE]: true });
}

export function isNotTheResponse(result: unknown): boolean {
  return typeof result === 'object' && result !== null && NOT_THE_RESPONSE in result;
}

/**
 * Runs `work` in one transaction as the connecting (owner) role: for migrations, tenant
 * creation, API-key lookup and operator tools that must see across tenants.
 */
export async function inSystemTransaction<T>(connection: Connection, work: (tx: Tx) => Promise<T>): Promise<T> {
  return inTransaction(connection, 'begin', work);
}

/**
 * A connection checked out of a pool and kept across transactions: a fulfillment worker holds
 * one per claimed task, from the claim to its recorded outcome, so that recording never waits
 * for a pool that requests or other tasks have emptied. pg emits 'error' on a checked-out
 * client whose connection dies (backend terminated, server restarted); with no listener that
 * kills the process, so the listener lives as long as the connection is held and marks it lost (which discards it).
 */
export class HeldConnection {
  private lostReason: unknown = null;
  private released = false;
  private readonly onError = (error: unknown) => {
    this.lost = error;
  };

  /** Why the connection is unusable (its error, or a failed rollback); null while it is sound. */
  get lost(): unknown {
    return this.lostReason;
  }

  /**
   * Marks the connection lost (the first reason stays) and discards it at once, freeing its
   * slot in the pool: it is of no more use to its holder, and a holder that needs a fresh one
   * (a worker giving its claim back, or recording an outcome) must not find the pool full of
   * its own dead connections. A worker's pool is sized to its batch: it waited for the
   * connection timeout, and a `tenure worker` with nothing else pending exited (code 0) meanwhile.
   */
  set lost(reason: unknown) {
    if (this.lostReason || !reason) return;
    this.lostReason = reason;
    this.release();
  }

  constructor(readonly client: pg.PoolClient) {
    client.on('error', this.onError);
  }

  /** Back to the pool, or discarded when lost (then the listener stays: a dying connection may still emit). */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.lost) {
      this.client.release(true);
    } else {
      this.client.removeListener('error', this.onError);
      this.client.release();
    }
  }
}

/** Where a transaction runs: on a connection of the pool for just that transaction, or on a held one. */
export type Connection = Pool | HeldConnection;

/**
 * A connection of the pool, held. pool.connect's callback, not its promise: pg hands the client
 * over synchronously, while it may still be parsing what the server sent, and "ready" and a
 * FATAL (the backend terminated as it started) can come in one chunk. Through a promise the
 * listener would be attached a microtask later, after the error was emitted with no listener,
 * which kills the process (seen when PostgreSQL restarted under load).
 */
export function holdConnection(pool: Pool): Promise<HeldConnection> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error || !client) reject(asDatabaseError(error ?? new Error('no client')));
      else resolve(new HeldConnection(client));
    });
  });
}

/**
 * Up to `count` connections at once, for a worker's round. The first waits as a request does
 * (up to CONNECTION_TIMEOUT_MS, then DatabaseUnavailableError); the others are taken only while
 * the pool has room, and taking stops at the first one the server refuses (no slots left): a
 * worker claims as many tasks as it holds connections.
 */
export async function holdConnections(pool: Pool, count: number): Promise<HeldConnection[]> {
  const held = [await holdConnection(pool)];
  while (held.length < count && (pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? 10))) {
    try {
      held.push(await holdConnection(pool));
    } catch {
      break;
    }
  }
  return held;
}

async function inTransaction<T>(connection: Connection, begin: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (connection instanceof HeldConnection) return transactionOn(connection, begin, work);
  const held = await holdConnection(connection);
  try {
    return await transactionOn(held, begin, work);
  } finally {
    held.release();
  }
}

async function transactionOn<T>(held: HeldConnection, begin: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (held.lost) {
    held.release();
    throw new DatabaseUnavailableError('connection lost', held.lost);
  }
  const client = held.client;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    // The connection's own error (if it died) decides how the failure reads; a failed
    // rollback only makes the connection unusable.
    const lost = held.lost;
    if (!lost) {
      try {
        await client.query('rollback');
      } catch (rollbackError) {
        held.lost = rollbackError;
      }
    }
    // A lost connection is discarded at once, so that its slot in the pool serves a fresh one.
    if (held.lost) held.release();
    // A domain error thrown before the connection broke is still the answer; anything else
    // on a lost connection is the loss.
    throw asDatabaseError(error, lost);
  }
}

/** SQLSTATE codes and socket errors that mean "the server is gone or refuses connections now", not "this query is wrong". */
const UNAVAILABLE_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection broken',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  '57P01': 'the server terminated the connection (57P01 admin_shutdown)',
  '57P02': 'the server is crashing (57P02 crash_shutdown)',
  '57P03': 'the server is not accepting connections now (57P03 cannot_connect_now)',
  '53300': 'the server has no connection slots left (53300 too_many_connections)',
};

const UNAVAILABLE_MESSAGES: [RegExp, string][] = [
  [/Connection terminated/i, 'connection terminated'],
  [/timeout exceeded when trying to connect/i, `no connection within ${CONNECTION_TIMEOUT_MS} ms`],
  [/not queryable|Client was closed/i, 'connection lost'],
];

/** Why the database is unavailable, when `error` is a connection-level failure; null for any other error. */
export function unavailableReason(error: unknown): string | null {
  if (error instanceof DatabaseUnavailableError) return error.reason;
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const reason = unavailableReason(inner);
      if (reason) return reason;
    }
  }
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES[code]) return UNAVAILABLE_CODES[code];
    if (code.startsWith('08')) return `connection failure (${code})`;
  }
  for (const [pattern, reason] of UNAVAILABLE_MESSAGES) if (pattern.test(error.message)) return reason;
  return null;
}

/**
 * `error` as the caller should see it: a connection-level failure (or any non-domain error
 * on a connection that was `lost`) becomes DatabaseUnavailableError; anything else is itself.
 */
export function asDatabaseError(error: unknown, lost: unknown = null): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  const reason = unavailableReason(error) ?? (lost && !(error instanceof ProblemError) ? unavailableReason(lost) ?? 'connection lost' : null);
  return reason ? new DatabaseUnavailableError(reason, error) : error;
}

export async function queryRows<R>(tx: Tx | Pool, text: string, params: unknown[] = []): Promise<R[]> {
  const result = await tx.query(text, params);
  return result.rows as R[];
}

export async function queryOne<R>(tx: Tx | Pool, text: string, params: unknown[] = []): Promise<R | undefined> {
  const result = await tx.query(text, params);
  return result.rows[0] as R | undefined;
}

/** Is this error PostgreSQL's unique_violation on the named constraint or index? */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pgError = error as { code?: string; constraint?: string };
  return pgError?.code === '23505' && (constraint === undefined || pgError.constraint === constraint);
}
