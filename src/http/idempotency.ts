/**
 * Idempotency-Key on every POST: the same key with the same request replays the first
 * response; the same key with another request is refused (422).
 *
 * The key is completed in the same transaction as the change it protects (docs/api.md,
 * Idempotency): the request's key rides along in an AsyncLocalStorage context, and the first
 * tenant transaction of the request that writes anything also writes the key's row (state
 * completed, status, response) before its COMMIT. So whatever moment the process dies, either
 * the change and the key committed together (a retry replays the response) or neither did
 * (a retry runs the request again). A request that is running holds a transaction-scoped
 * advisory lock on (tenant, key) in its transaction: a retry that cannot take that lock gets
 * 409 idempotency-in-progress; one whose holder died finds the lock free at once (PostgreSQL
 * releases it with the holder's connection), never after a timeout.
 *
 * A 4xx changed nothing (its transaction rolled back), so it is stored afterwards in its own
 * transaction; losing that record only means a retry runs a request that changes nothing. A
 * POST that wrote nothing (a preview) is stored the same way. A 5xx is not stored.
 * The key is taken before validation (preValidation), so a schema-validation 400 is stored
 * like any other first 4xx; only what comes before it is not: refusals of authentication and
 * of a body that cannot be read as JSON.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../platform/clock.ts';
import { readConfig } from '../platform/config.ts';
import { inTenantTransaction, isNotTheResponse, queryOne, setTenantTransactionHook, type Pool, type Tx } from '../platform/db.ts';
import { IdempotencyInProgressError, IdempotencyKeyReuseError, ValidationError } from '../platform/errors.ts';

/** One keyed POST while it runs. */
export interface IdempotencyRecord {
  tenantId: string;
  key: string;
  path: string;
  requestHash: string;
  /** The route's 2xx status (its response schema): what a replay of the committed change answers. */
  successStatus: number;
  /** The JSON text stored with the key in the change's transaction, once that committed. */
  committedText?: string;
  /** The request was refused because another one holds the key: nothing to store. */
  refusedInProgress?: boolean;
  /** Set when the response is being sent: later transactions are not the request's. */
  closed?: boolean;
  /** Tenant transactions of the request that committed, and those of them that wrote. */
  transactions: number;
  writingTransactions: number;
  /** Open transactions of the request holding the key's lock (a request may run some in parallel). */
  holding: number;
  /** Response members stored as null (the route's secretResponseMembers). */
  secretMembers: readonly string[];
}

/** The response as the key stores it: a secret shown once is not kept (a replay answers it as null). */
function withheld(result: unknown, secretMembers: readonly string[]): unknown {
  if (secretMembers.length === 0 || typeof result !== 'object' || result === null || Array.isArray(result)) return result;
  const copy: Record<string, unknown> = { ...(result as Record<string, unknown>) };
  for (const member of secretMembers) if (member in copy) copy[member] = null;
  return copy;
}

/** What a keyed POST did, for the audit test (test/api/idempotency-atomic.test.ts). */
export interface IdempotencyAudit {
  routeUrl: string;
  url: string;
  status: number;
  transactions: number;
  writingTransactions: number;
  completedInTransaction: boolean;
  /** The sent 2xx differs from what a replay of the stored result would send. */
  replayMismatch: boolean;
}

const requests = new AsyncLocalStorage<IdempotencyRecord>();
let auditListener: ((audit: IdempotencyAudit) => void) | undefined;

/** Test-only: hear what each keyed POST did. */
export function onIdempotencyAudit(listener: ((audit: IdempotencyAudit) => void) | undefined): void {
  auditListener = listener;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  if (value && typeof value === 'object') {
    return '{' + Object.keys(value).sort().map((k) => JSON.stringify(k) + ':' + canonical((value as any)[k])).join(',') + '}';
  }
  return JSON.stringify(value ?? null);
}

/** The advisory lock of a key: held by the transaction of the request that runs with it. */
const TRY_LOCK_SQL = `select pg_try_advisory_xact_lock(hashtextextended('idempotency:' || $1 || ':' || $2, 0)) as locked`;

async function tryLock(tx: Tx, tenantId: string, key: string): Promise<boolean> {
  const row = await queryOne<{ locked: boolean }>(tx, TRY_LOCK_SQL, [tenantId, key]);
  return row!.locked;
}

function inProgress(key: string): IdempotencyInProgressError {
  return new IdempotencyInProgressError(`the first request with Idempotency-Key "${key}" has not finished yet`);
}

/** The route's success status: the 2xx of its response schema (201 for creations, else 200). */
function successStatusOf(request: FastifyRequest): number {
  const response = (request.routeOptions.schema?.response ?? {}) as Record<string, unknown>;
  const codes = Object.keys(response).map(Number).filter((code) => code >= 200 && code < 300);
  return codes.length > 0 ? Math.min(...codes) : 200;
}

/**
 * Test-only crash points (NODE_ENV=test, config.testCrashPoints): TENURE_TEST_CRASH_BEFORE_COMMIT / _AFTER_COMMIT name
 * a route (`/accounts/:accountId/orders`) or a path; the process SIGKILLs itself right before
 * or right after the transaction that completes a key of that request commits.
 */
function crashPoint(target: string | undefined, record: IdempotencyRecord, routeUrl: string | undefined): void {
  if (target && (target === record.path || target === routeUrl)) process.kill(process.pid, 'SIGKILL');
}

export function installIdempotency(app: FastifyInstance, deps: { pool: Pool; clock: Clock }): void {
  const crashPoints = readConfig().testCrashPoints;
  setTenantTransactionHook({
    async begin(tx, tenantId) {
      const record = requests.getStore();
      if (!record || record.closed || record.tenantId !== tenantId) return undefined;
      const routeUrl = routeUrls.get(record);
      // Only a transaction holding the key's lock may complete it; a second transaction of
      // the same request open at the same time finds the lock taken by the first one.
      const joins = record.committedText === undefined && record.holding === 0;
      if (joins) {
        if (!(await tryLock(tx, tenantId, record.key))) {
          record.refusedInProgress = true;
          throw inProgress(record.key);
        }
        // Another request with this key finished between our look-up and this transaction:
        // its retry replays that one.
        const existing = await queryOne(tx, 'select 1 from idempotency_key where tenant_id = $1 and idempotency_key = $2', [tenantId, record.key]);
        if (existing) {
          record.refusedInProgress = true;
          throw inProgress(record.key);
        }
        record.holding++;
      }
      let wrote = false;
      let text: string | undefined;
      return {
        async beforeCommit(result) {
          // A transaction that changed nothing (a read) does not take the key: the request's
          // change, if any, comes in a later transaction.
          const row = await queryOne<{ wrote: boolean }>(tx, 'select txid_current_if_assigned() is not null as wrote');
          wrote = row!.wrote;
          if (!joins || !wrote || isNotTheResponse(result)) return;
          text = JSON.stringify(withheld(result ?? null, record.secretMembers));
          await tx.query(
            `insert into idempotency_key (tenant_id, idempotency_key, method, path, request_hash, state, response_status, response_body, response_text, created_at, completed_at)
             values ($1, $2, 'POST', $3, $4, 'completed', $5, $6::jsonb, $8, $7, $7)`,
            [tenantId, record.key, record.path, record.requestHash, record.successStatus, text, deps.clock.now().toISOString(), text],
          );
          crashPoint(crashPoints.beforeCommit, record, routeUrl);
        },
        afterRollback() {
          if (joins) record.holding--;
        },
        afterCommit() {
          if (joins) record.holding--;
          record.transactions++;
          if (wrote) record.writingTransactions++;
          if (text !== undefined) {
            record.committedText = text;
            crashPoint(crashPoints.afterCommit, record, routeUrl);
          }
        },
      };
    },
  });
  // The route pattern of each running record, for the crash points and the audit.
  const routeUrls = new WeakMap<IdempotencyRecord, string>();

  // Callback style: the rest of the request (other hooks, the handler, the services it calls)
  // runs inside requests.run, so its tenant transactions see the record.
  app.addHook('preValidation', (request, reply, done) => {
    lookUp(request, reply).then((record) => {
      if (record === 'replied') return;
      if (!record) return done();
      request.idempotency = record;
      routeUrls.set(record, request.routeOptions.url ?? record.path);
      requests.run(record, done);
    }, (error) => done(error));
  });

  async function lookUp(request: FastifyRequest, reply: FastifyReply): Promise<IdempotencyRecord | 'replied' | undefined> {
    if (request.method !== 'POST' || !request.principal) return undefined;
    const header = request.headers['idempotency-key'];
    if (header === undefined) return undefined;
    if (typeof header !== 'string' || header.length === 0 || header.length > 200) {
      throw ValidationError.field('Idempotency-Key', 'must be 1 to 200 characters');
    }
    const tenantId = request.principal.tenantId;
    const path = request.url.split('?')[0];
    const requestHash = createHash('sha256').update(`POST ${path}\n${canonical(request.body)}`).digest('hex');
    const outcome = await inTenantTransaction(deps.pool, tenantId, async (tx) => {
      const existing = await queryOne<any>(tx, 'select * from idempotency_key where tenant_id = $1 and idempotency_key = $2', [tenantId, header]);
      if (existing && existing.request_hash !== requestHash) return { kind: 'mismatch' as const, path: existing.path };
      if (existing?.state === 'completed') {
        const body = existing.response_text !== null ? JSON.parse(existing.response_text) : existing.response_body;
        return { kind: 'replay' as const, status: existing.response_status as number, body };
      }
      // Not completed: running if its holder's transaction holds the lock, else free to run.
      if (!(await tryLock(tx, tenantId, header))) return { kind: 'in-progress' as const };
      // An in-progress row of an earlier version, whose request is gone: forget it.
      if (existing) await tx.query('delete from idempotency_key where tenant_id = $1 and idempotency_key = $2', [tenantId, header]);
      return { kind: 'run' as const };
    });
    switch (outcome.kind) {
      case 'run':
        return {
          tenantId, key: header, path, requestHash, successStatus: successStatusOf(request), transactions: 0, writingTransactions: 0, holding: 0,
          secretMembers: request.routeOptions.config?.secretResponseMembers ?? [],
        };
      case 'mismatch':
        throw new IdempotencyKeyReuseError(`Idempotency-Key "${header}" was used for a different request (${outcome.path}); use a new key`);
      case 'in-progress':
        throw inProgress(header);
      case 'replay':
        reply.header('idempotent-replayed', 'true');
        reply.status(outcome.status);
        if (outcome.status >= 400) reply.type('application/problem+json');
        reply.send(outcome.body);
        return 'replied';
    }
  }

  app.addHook('onSend', async (request, reply, payload) => {
    const record = request.idempotency;
    if (!record || record.closed) return payload;
    record.closed = true;
    const status = reply.statusCode;
    let replayMismatch = false;
    if (record.committedText !== undefined) {
      // Stored with the change. What a replay sends must be what this response is: a route
      // that reshapes its service's result, or refuses after a change committed, would break
      // that (the audit test says so); the response sent is stored instead, as a fallback.
      if (status < 500 && typeof payload === 'string') {
        const sent = record.secretMembers.length ? reply.serialize(withheld(JSON.parse(payload), record.secretMembers)) : payload;
        replayMismatch = status !== record.successStatus || reply.serialize(JSON.parse(record.committedText)) !== sent;
        if (replayMismatch) {
          request.log.warn({ url: request.url }, 'idempotency: the response differs from the stored result; storing the response');
          await store(record, status, payload, true);
        }
      }
    } else if (status < 500 && !record.refusedInProgress) {
      // Nothing committed with the key: a 4xx (rolled back) or a POST that wrote nothing.
      await store(record, status, payload, false);
    }
    if (auditListener) {
      auditListener({
        routeUrl: request.routeOptions.url ?? request.url, url: request.url, status,
        transactions: record.transactions, writingTransactions: record.writingTransactions,
        completedInTransaction: record.committedText !== undefined, replayMismatch,
      });
    }
    return payload;
  });

  async function store(record: IdempotencyRecord, status: number, payload: unknown, overwrite: boolean): Promise<void> {
    let text = 'null';
    if (typeof payload === 'string' && payload.length > 0) {
      try {
        const parsed = JSON.parse(payload);
        text = record.secretMembers.length ? JSON.stringify(withheld(parsed, record.secretMembers)) : payload;
      } catch {
        text = JSON.stringify(payload);
      }
    }
    const now = deps.clock.now().toISOString();
    await inTenantTransaction(deps.pool, record.tenantId, (tx) =>
      tx.query(
        `insert into idempotency_key (tenant_id, idempotency_key, method, path, request_hash, state, response_status, response_body, response_text, created_at, completed_at)
         values ($1, $2, 'POST', $3, $4, 'completed', $5, $6::jsonb, $8, $7, $7)
         on conflict (tenant_id, idempotency_key) do ${overwrite ? `update set response_status = excluded.response_status, response_body = excluded.response_body, response_text = excluded.response_text` : 'nothing'}`,
        [record.tenantId, record.key, record.path, record.requestHash, status, text, now, text],
      ),
    );
  }
}
