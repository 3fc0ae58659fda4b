/** Customers and their accounts. The account is the unit of consistency of everything owned. */
import { recordAudit } from '../platform/audit.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, queryOne, queryRows, type Pool, type Tx } from '../platform/db.ts';
import { NotFoundError, ValidationError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import type { CommandContext } from '../platform/context.ts';

export interface Customer {
  customerId: string;
  name: string;
  externalReference: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Account {
  accountId: string;
  customerId: string;
  name: string;
  currency: string;
  timeZone: string;
  /** The market segment the account buys in (offerings of another segment are not sold to it); null: not set, any. */
  segment: AccountSegment | null;
  /** The day of the month (1–31, clamped to shorter months) its monthly and quarterly charges are billed on, in `timeZone` (docs/billing.md). */
  billingCycleDay: number;
  createdAt: string;
  updatedAt: string;
}

export const ACCOUNT_SEGMENTS = ['residential', 'business', 'enterprise'] as const;
export type AccountSegment = (typeof ACCOUNT_SEGMENTS)[number];

const customerFromRow = (r: any): Customer => ({
  customerId: r.customer_id,
  name: r.name,
  externalReference: r.external_reference,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const accountFromRow = (r: any): Account => ({
  accountId: r.account_id,
  customerId: r.customer_id,
  name: r.name,
  currency: r.currency,
  timeZone: r.time_zone,
  segment: r.segment ?? null,
  billingCycleDay: r.billing_cycle_day,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** The IANA name as the runtime spells it (`asia/jakarta` → `Asia/Jakarta`), or null when it is not a time zone. */
export function canonicalTimeZone(zone: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

const ISO_4217 = /^[A-Z]{3}$/;

/**
 * An account opened without a billing cycle day bills on the 1st: calendar months, the same
 * for every account opened on any day (decision 0022); 0016 gave it to the accounts before.
 */
export const DEFAULT_BILLING_CYCLE_DAY = 1;

/** For other parts: the account, read inside their own transaction. */
export async function findAccountInTx(tx: Tx, accountId: string): Promise<Account | undefined> {
  const row = await queryOne(tx, 'select * from account where account_id = $1', [accountId]);
  return row ? accountFromRow(row) : undefined;
}

export class CustomerService {
  constructor(private readonly deps: { pool: Pool; clock: Clock }) {}

  async createCustomer(ctx: CommandContext, input: { name: string; externalReference?: string | null }): Promise<Customer> {
    const now = this.deps.clock.now().toISOString();
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const customerId = newId();
      const row = await queryOne(
        tx,
        `insert into customer (customer_id, tenant_id, name, external_reference, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $5) returning *`,
        [customerId, ctx.tenantId, input.name, input.externalReference ?? null, now],
      );
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'customer.create', targetType: 'customer', targetId: customerId, subjectAccountId: null });
      return customerFromRow(row);
    });
  }

  async getCustomer(ctx: CommandContext, customerId: string): Promise<Customer> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const row = await queryOne(tx, 'select * from customer where customer_id = $1', [customerId]);
      if (!row) throw NotFoundError.of('customer', customerId);
      return customerFromRow(row);
    });
  }

  /** Keyset pagination on (created_at, customer_id). */
  async listCustomers(ctx: CommandContext, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<Customer[]> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const rows = await queryRows(
        tx,
        `select * from customer
          where ($1::timestamptz is null or (created_at, customer_id) > ($1::timestamptz, $2::uuid))
          order by created_at, customer_id limit $3`,
        [page.after?.createdAt ?? null, page.after?.id ?? null, page.limit],
      );
      return rows.map(customerFromRow);
    });
  }

  async createAccount(ctx: CommandContext, input: { customerId: string; name: string; currency: string; timeZone: string; segment?: AccountSegment | null; billingCycleDay?: number }): Promise<Account> {
    if (!ISO_4217.test(input.currency)) throw ValidationError.field('/currency', 'must be an ISO 4217 code of three capital letters, e.g. IDR');
    const billingCycleDay = input.billingCycleDay ?? DEFAULT_BILLING_CYCLE_DAY;
    // The HTTP schema refuses these already; a caller inside the process (demo, CLI) gets the same answer.
    if (!Number.isInteger(billingCycleDay) || billingCycleDay < 1 || billingCycleDay > 31) {
      throw ValidationError.field('/billingCycleDay', `must be a whole day of the month from 1 to 31 (31 = the month's last day); got ${JSON.stringify(input.billingCycleDay)}`);
    }
    const timeZone = canonicalTimeZone(input.timeZone);
    if (timeZone === null) throw ValidationError.field('/timeZone', `"${input.timeZone}" is not an IANA time zone, e.g. Asia/Jakarta`);
    const now = this.deps.clock.now().toISOString();
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const customer = await queryOne(tx, 'select customer_id from customer where customer_id = $1', [input.customerId]);
      if (!customer) throw NotFoundError.of('customer', input.customerId);
      const accountId = newId();
      const row = await queryOne(
        tx,
        `insert into account (account_id, tenant_id, customer_id, name, currency, time_zone, segment, billing_cycle_day, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) returning *`,
        [accountId, ctx.tenantId, input.customerId, input.name, input.currency, timeZone, input.segment ?? null, billingCycleDay, now],
      );
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'account.create', targetType: 'account', targetId: accountId, subjectAccountId: accountId });
      return accountFromRow(row);
    });
  }

  async getAccount(ctx: CommandContext, accountId: string): Promise<Account> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const account = await findAccountInTx(tx, accountId);
      if (!account) throw NotFoundError.of('account', accountId);
      return account;
    });
  }

  async listAccounts(ctx: CommandContext, filter: { customerId?: string }, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<Account[]> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, async (tx) => {
      const rows = await queryRows(
        tx,
        `select * from account
          where ($1::uuid is null or customer_id = $1)
            and ($2::timestamptz is null or (created_at, account_id) > ($2::timestamptz, $3::uuid))
          order by created_at, account_id limit $4`,
        [filter.customerId ?? null, page.after?.createdAt ?? null, page.after?.id ?? null, page.limit],
      );
      return rows.map(accountFromRow);
    });
  }
}
