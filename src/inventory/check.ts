/**
 * Consistency check (seed 000 §21.1, issue 9): finds what the command pipeline and the
 * queue should have made impossible, or what a crash left behind. Zero findings on a healthy
 * database. Runs tenant by tenant, each tenant in its own read-only transaction through RLS:
 * it only reads (no FOR UPDATE, no writes), so it never waits for nor blocks the work it
 * looks at. Every finding has a stable `kind`, names its rows (`id`, `ids`) and says what an
 * operator should do (`action`). The rules are in docs/installed-base.md#consistency-check.
 *
 * It reads other parts' tables (orders, fulfillment tasks, the outbox) directly: it is the
 * operator's view across the parts, and only reads.
 */
import { readConfig } from '../platform/config.ts';
import { inTenantTransaction, queryRows, type Pool, type Tx } from '../platform/db.ts';

export type FindingKind =
  | 'missing-history'
  | 'stale-guard'
  | 'missing-outbox-event'
  | 'duplicate-order-idempotency-key'
  | 'duplicate-order-external-reference'
  | 'duplicate-order-quote'
  | 'duplicate-subscription'
  | 'expired-lease'
  | 'running-without-lease'
  | 'hold-mismatch'
  | 'unpublished-outbox-event';

/** What an operator should do about each kind of finding. */
export const FINDING_ACTIONS: Record<FindingKind, string> = {
  'missing-history': 'The row changed outside the command pipeline: find the writer (audit log, correlation id) and record the change through a command, or restore the row to its last history version.',
  'stale-guard': 'The guard outlived its operation and blocks new orders on the asset: release it (status RELEASED, released_at) once you have confirmed the operation has ended.',
  'missing-outbox-event': 'Consumers never heard of this version: emit its event again from the history row, so that the broker and webhooks catch up.',
  'duplicate-order-idempotency-key': 'The later orders repeat the first (a retry ran the submission again): keep the first; cancel the later ones while in flight, or DISCONNECT what they added, and check what the customer is charged.',
  'duplicate-order-external-reference': 'Ask the source system whether it sent this request twice; if so, keep the first order and cancel the later ones (or DISCONNECT what they added).',
  'duplicate-order-quote': 'A quote converts to one order: keep the first; cancel the later ones or DISCONNECT what they added.',
  'duplicate-subscription': 'The account pays twice for one sale: DISCONNECT the product instances of the extra subscription (the later order\'s), which ends it, and credit what it charged.',
  'expired-lease': 'The worker that claimed the task died or stalled past its lease: make sure a `tenure worker` runs (its next claim takes the task over); if the finding stays, read the workers\' logs.',
  'running-without-lease': 'No worker holds this running task, so none will record its outcome or take it over: set it back to pending (locked_by, locked_until null); its idempotency key keeps the external system from doing the work twice.',
  'hold-mismatch': 'The order\'s hold and its tasks\' `held` flag disagree, so a held order\'s tasks would run or a released order\'s would wait for ever: move the order through the API, which sets every task\'s flag: a held order, POST /orders/{id}/release-hold then /hold; an open one, /hold then /release-hold; then find what wrote one without the other.',
  'unpublished-outbox-event': 'The relay is not publishing: check that it runs and that the broker is reachable; it publishes the events in order once it resumes.',
};

export interface Finding {
  kind: FindingKind;
  tenantId: string;
  accountId: string;
  entity: string;
  /** The row the finding is about (for a group: the first of it). */
  id: string;
  /** Every row the finding names, `id` first. */
  ids: string[];
  version: number | null;
  detail: string;
  action: string;
}

/** Counts that are not findings (today: the outbox, while no relay publishes it). */
export interface CheckInformation {
  outbox: {
    publishing: 'enabled' | 'disabled';
    unpublished: number;
    /** Unpublished and older than the threshold: findings when publishing is enabled. */
    olderThanThreshold: number;
    staleAfterSeconds: number;
    oldestUnpublishedAt: string | null;
  };
}

export interface CheckReport {
  healthy: boolean;
  checkedAt: string;
  findings: Finding[];
  information: CheckInformation;
}

export interface CheckOptions {
  /** The relay publishes the outbox (TENURE_RELAY): only then is an old unpublished event a finding. */
  relayEnabled: boolean;
  /** An unpublished event older than this is stale. */
  outboxStaleAfterMs: number;
}

export function checkOptionsFromConfig(): CheckOptions {
  const { relayEnabled, outboxStaleAfterMs } = readConfig();
  return { relayEnabled, outboxStaleAfterMs };
}

/** Subscription states that still run (and charge). */
const LIVE_SUBSCRIPTION = ['PENDING', 'ACTIVE', 'SUSPENDED'];
/** Order states that did (or still may) take effect: a failed or cancelled order is not a duplicate of its retry. */
const EFFECTIVE_ORDER = ['acknowledged', 'inProgress', 'held', 'pendingCancellation', 'completed', 'partial'];

function finding(f: Omit<Finding, 'action' | 'ids'> & { ids?: string[] }): Finding {
  return { ...f, ids: f.ids ?? [f.id], action: FINDING_ACTIONS[f.kind] };
}

const ENTITIES = [
  { entity: 'product_instance', table: 'product_instance', history: 'product_instance_history', id: 'product_instance_id' },
  { entity: 'subscription', table: 'subscription', history: 'subscription_history', id: 'subscription_id' },
  { entity: 'service_instance', table: 'service_instance', history: 'service_instance_history', id: 'service_instance_id' },
  { entity: 'resource_instance', table: 'resource_instance', history: 'resource_instance_history', id: 'resource_instance_id' },
];

/** History change types that end the operation of the order item that caused them. */
const OPERATION_ENDING_CHANGES = ['ACTIVATED', 'ACTIVATION_FAILED', 'CANCELLED', 'MODIFIED', 'MODIFICATION_CANCELLED', 'DISCONNECTED', 'SUSPENDED', 'RESUMED', 'MOVED', 'REPLACED'];

export async function runConsistencyCheck(tx: Tx, now: Date, options: CheckOptions = checkOptionsFromConfig()): Promise<CheckReport> {
  // Only reads: the database refuses anything else, whatever a query here would try.
  await tx.query('set transaction read only');
  const findings: Finding[] = [];
  for (const e of ENTITIES) {
    // The current version of every row must have its history row.
    const missing = await queryRows<any>(
      tx,
      `select c.tenant_id, c.account_id, c.${e.id} as id, c.version
         from ${e.table} c
        where not exists (select 1 from ${e.history} h
                           where h.account_id = c.account_id and h.${e.id} = c.${e.id} and h.version = c.version)
        order by c.account_id, c.${e.id}`,
    );
    for (const r of missing) {
      findings.push(finding({ kind: 'missing-history', tenantId: r.tenant_id, accountId: r.account_id, entity: e.entity, id: r.id, version: r.version, detail: `current version ${r.version} has no ${e.history} row` }));
    }
    // Every recorded version must have produced its outbox event.
    const silent = await queryRows<any>(
      tx,
      `select h.tenant_id, h.account_id, h.${e.id} as id, h.version
         from ${e.history} h
        where not exists (select 1 from outbox_event o
                           where o.account_id = h.account_id and o.aggregate_id = h.${e.id} and o.aggregate_version = h.version)
        order by h.account_id, h.${e.id}, h.version`,
    );
    for (const r of silent) {
      findings.push(finding({ kind: 'missing-outbox-event', tenantId: r.tenant_id, accountId: r.account_id, entity: e.entity, id: r.id, version: r.version, detail: `version ${r.version} has no outbox event` }));
    }
  }
  // A guard is stale when its asset has ended, or when the history shows that its order
  // item's operation already ended after the guard was taken.
  const stale = await queryRows<any>(
    tx,
    `select g.tenant_id, g.account_id, g.product_instance_id as id, g.guard_id, g.order_item_id, g.operation_type, p.status
       from asset_operation_guard g
       join product_instance p on p.account_id = g.account_id and p.product_instance_id = g.product_instance_id
      where g.status in ('ACTIVE', 'PENDING_RELEASE')
        and (p.status in ('DISCONNECTED', 'CANCELLED')
             or exists (select 1 from product_instance_history h
                         where h.account_id = g.account_id and h.product_instance_id = g.product_instance_id
                           and h.changed_by_order_item_id = g.order_item_id
                           and h.recorded_at >= g.acquired_at
                           and h.change_type = any($1)))
      order by g.account_id, g.product_instance_id`,
    [OPERATION_ENDING_CHANGES],
  );
  for (const r of stale) {
    findings.push(finding({ kind: 'stale-guard', tenantId: r.tenant_id, accountId: r.account_id, entity: 'product_instance', id: r.id, version: null, detail: `guard ${r.guard_id} (${r.operation_type}, order item ${r.order_item_id ?? 'none'}) is still active but its operation has finished (asset is ${r.status})` }));
  }
  findings.push(...await duplicateOrders(tx));
  findings.push(...await leaseFindings(tx, now));
  findings.push(...await holdFindings(tx));
  const outbox = await outboxFindings(tx, now, options);
  findings.push(...outbox.findings);
  return { healthy: findings.length === 0, checkedAt: now.toISOString(), findings, information: { outbox: outbox.information } };
}

interface OrderGroup {
  tenant_id: string;
  account_id: string;
  ref: string;
  ids: string[];
  created: Date[];
}

/**
 * Orders of one account that look like one request submitted twice: the same Idempotency-Key
 * (whatever became of them: a key names one request), the same external reference (orders
 * that took effect, supplemental orders aside: they amend an order and may carry its
 * reference), or the same quote. Then the live subscriptions such a repeat created, and live
 * subscriptions that one order item created twice.
 */
async function duplicateOrders(tx: Tx): Promise<Finding[]> {
  const findings: Finding[] = [];
  const rules = [
    { kind: 'duplicate-order-idempotency-key' as const, column: 'idempotency_key', what: 'Idempotency-Key', where: 'true' },
    { kind: 'duplicate-order-external-reference' as const, column: 'external_reference', what: 'externalReference', where: `supplemental_of_order_id is null and status = any ($1)` },
    { kind: 'duplicate-order-quote' as const, column: 'quote_id::text', what: 'quote', where: 'true' },
  ];
  const repeats = new Map<string, string>(); // later order id -> why
  for (const rule of rules) {
    const groups = await queryRows<OrderGroup>(
      tx,
      `select tenant_id, account_id, ${rule.column} as ref,
              array_agg(order_id order by created_at, order_id) as ids, array_agg(created_at order by created_at, order_id) as created
         from product_order
        where ${rule.column} is not null and ${rule.where}
        group by tenant_id, account_id, ${rule.column}
       having count(*) > 1
        order by account_id, min(created_at)`,
      rule.kind === 'duplicate-order-external-reference' ? [EFFECTIVE_ORDER] : [],
    );
    for (const g of groups) {
      const [first, ...later] = g.ids;
      findings.push(finding({
        kind: rule.kind, tenantId: g.tenant_id, accountId: g.account_id, entity: 'product_order', id: first, ids: g.ids, version: null,
        detail: `orders ${g.ids.join(', ')} were submitted with the same ${rule.what} "${g.ref}"; the first (${first}, ${g.created[0].toISOString()}) is the original, ${later.join(', ')} repeat it`,
      }));
      for (const id of later) if (!repeats.has(id)) repeats.set(id, `a repeat of order ${first} (same ${rule.what} "${g.ref}")`);
    }
  }
  // What a repeated ADD leaves: live subscriptions created by the repeat.
  if (repeats.size) {
    const created = await queryRows<any>(
      tx,
      `select s.tenant_id, s.account_id, s.subscription_id, s.status, h.changed_by_order_id as order_id
         from subscription s
         join subscription_history h on h.account_id = s.account_id and h.subscription_id = s.subscription_id and h.version = 1
        where s.status = any ($1) and h.changed_by_order_id = any ($2::uuid[])
        order by s.account_id, s.created_at, s.subscription_id`,
      [LIVE_SUBSCRIPTION, [...repeats.keys()]],
    );
    for (const r of created) {
      findings.push(finding({
        kind: 'duplicate-subscription', tenantId: r.tenant_id, accountId: r.account_id, entity: 'subscription', id: r.subscription_id, version: null,
        detail: `subscription ${r.subscription_id} (${r.status}) was created by order ${r.order_id}, ${repeats.get(r.order_id)}`,
      }));
    }
  }
  // One order item creates at most one subscription.
  const twice = await queryRows<any>(
    tx,
    `select s.tenant_id, s.account_id, h.changed_by_order_item_id as item_id,
            array_agg(s.subscription_id order by s.created_at, s.subscription_id) as ids
       from subscription s
       join subscription_history h on h.account_id = s.account_id and h.subscription_id = s.subscription_id and h.version = 1
      where s.status = any ($1) and h.changed_by_order_item_id is not null
      group by s.tenant_id, s.account_id, h.changed_by_order_item_id
     having count(*) > 1
      order by s.account_id`,
    [LIVE_SUBSCRIPTION],
  );
  for (const r of twice) {
    findings.push(finding({
      kind: 'duplicate-subscription', tenantId: r.tenant_id, accountId: r.account_id, entity: 'subscription', id: r.ids[1], ids: r.ids.slice(1), version: null,
      detail: `order item ${r.item_id} created live subscriptions ${r.ids.join(', ')}; ${r.ids[0]} is the first, ${r.ids.slice(1).join(', ')} repeat it`,
    }));
  }
  return findings;
}

/**
 * Running tasks that no live worker holds. The lease is the only sign of a worker's life the
 * queue keeps (workers do not heartbeat): a live worker records the outcome before its lease
 * ends, or loses the task to the next claim. So a task still running after its lease ran out
 * is one whose worker died or stalled, not yet taken over; and a running task without a
 * holder or an expiry can be taken over by no one.
 */
async function leaseFindings(tx: Tx, now: Date): Promise<Finding[]> {
  const rows = await queryRows<any>(
    tx,
    `select tenant_id, account_id, task_id, order_id, task_number, step, attempts, locked_by, locked_until
       from fulfillment_task
      where status = 'running' and (locked_by is null or locked_until is null or locked_until < $1)
      order by account_id, order_id, task_number`,
    [now.toISOString()],
  );
  return rows.map((r) => {
    const what = `task ${r.task_number} (${r.step}) of order ${r.order_id}, attempt ${r.attempts}`;
    return r.locked_by === null || r.locked_until === null
      ? finding({ kind: 'running-without-lease', tenantId: r.tenant_id, accountId: r.account_id, entity: 'fulfillment_task', id: r.task_id, version: null, detail: `${what}, is running without a lease (holder ${r.locked_by ?? 'none'}, expiry ${r.locked_until?.toISOString() ?? 'none'})` })
      : finding({ kind: 'expired-lease', tenantId: r.tenant_id, accountId: r.account_id, entity: 'fulfillment_task', id: r.task_id, version: null, detail: `${what}, is running under the lease of ${r.locked_by} that expired at ${r.locked_until.toISOString()} (now ${now.toISOString()})` });
  });
}

/**
 * Tasks whose `held` flag disagrees with their order (decision 0015): an order's hold is
 * written twice, on the order and on each of its tasks, by the one function that moves the
 * order's status. One finding per order, naming its disagreeing tasks.
 */
async function holdFindings(tx: Tx): Promise<Finding[]> {
  const rows = await queryRows<any>(
    tx,
    `select o.tenant_id, o.account_id, o.order_id, o.status, array_agg(t.task_id order by t.task_number) as task_ids
       from fulfillment_task t
       join product_order o on o.account_id = t.account_id and o.order_id = t.order_id
      where t.held <> (o.status = 'held')
      group by o.tenant_id, o.account_id, o.order_id, o.status
      order by o.account_id, o.order_id`,
  );
  return rows.map((r) => finding({
    kind: 'hold-mismatch', tenantId: r.tenant_id, accountId: r.account_id, entity: 'fulfillment_task', id: r.task_ids[0], ids: r.task_ids, version: null,
    detail: `order ${r.order_id} is ${r.status} but ${r.task_ids.length} of its tasks are ${r.status === 'held' ? 'not held' : 'held'}`,
  }));
}

/** How many event ids a finding names at most (the count says how many there are). */
const MAX_EVENT_IDS = 100;

/**
 * Unpublished outbox events. While no relay publishes (TENURE_RELAY off, the default until
 * issue 14), every event is unpublished: they are counted, not found. With the relay on, the
 * events of an account unpublished longer than the threshold are one finding.
 */
async function outboxFindings(tx: Tx, now: Date, options: CheckOptions): Promise<{ findings: Finding[]; information: CheckInformation['outbox'] }> {
  const staleBefore = new Date(now.getTime() - options.outboxStaleAfterMs).toISOString();
  const rows = await queryRows<any>(
    tx,
    `select tenant_id, account_id, count(*)::int as unpublished, min(occurred_at) as oldest,
            count(*) filter (where occurred_at < $1)::int as stale,
            (array_agg(event_id order by position) filter (where occurred_at < $1))[1:${MAX_EVENT_IDS}] as stale_ids
       from outbox_event
      where published_at is null
      group by tenant_id, account_id
      order by account_id`,
    [staleBefore],
  );
  const information: CheckInformation['outbox'] = {
    publishing: options.relayEnabled ? 'enabled' : 'disabled',
    unpublished: rows.reduce((n, r) => n + r.unpublished, 0),
    olderThanThreshold: rows.reduce((n, r) => n + r.stale, 0),
    staleAfterSeconds: Math.round(options.outboxStaleAfterMs / 1000),
    oldestUnpublishedAt: rows.map((r) => r.oldest as Date).sort((a, b) => a.getTime() - b.getTime())[0]?.toISOString() ?? null,
  };
  if (!options.relayEnabled) return { findings: [], information };
  const findings = rows.filter((r) => r.stale > 0).map((r) => finding({
    kind: 'unpublished-outbox-event', tenantId: r.tenant_id, accountId: r.account_id, entity: 'outbox_event', id: r.stale_ids[0], ids: r.stale_ids, version: null,
    detail: `${r.stale} event(s) of the account are unpublished more than ${information.staleAfterSeconds} s after they occurred (the oldest at ${r.oldest.toISOString()})${r.stale > MAX_EVENT_IDS ? `; the first ${MAX_EVENT_IDS} are named` : ''}`,
  }));
  return { findings, information };
}

export function checkTenant(pool: Pool, tenantId: string, now: Date, options?: CheckOptions): Promise<CheckReport> {
  return inTenantTransaction(pool, tenantId, (tx) => runConsistencyCheck(tx, now, options));
}

/** Every tenant, one after the other, each in its own transaction: one report. */
export async function checkAllTenants(pool: Pool, now: Date, options: CheckOptions = checkOptionsFromConfig()): Promise<CheckReport> {
  const tenants = await queryRows<{ tenant_id: string }>(pool, 'select tenant_id from tenant order by tenant_id');
  const reports: CheckReport[] = [];
  for (const t of tenants) reports.push(await checkTenant(pool, t.tenant_id, now, options));
  const outboxes = reports.map((r) => r.information.outbox);
  const findings = reports.flatMap((r) => r.findings);
  return {
    healthy: findings.length === 0,
    checkedAt: now.toISOString(),
    findings,
    information: {
      outbox: {
        publishing: options.relayEnabled ? 'enabled' : 'disabled',
        unpublished: outboxes.reduce((n, o) => n + o.unpublished, 0),
        olderThanThreshold: outboxes.reduce((n, o) => n + o.olderThanThreshold, 0),
        staleAfterSeconds: Math.round(options.outboxStaleAfterMs / 1000),
        oldestUnpublishedAt: outboxes.map((o) => o.oldestUnpublishedAt).filter((d): d is string => d !== null).sort()[0] ?? null,
      },
    },
  };
}
