/** subscription: the recurring commitments products belong to. */
import type { Tx } from '../../platform/db.ts';
import type { Subscription } from '../types.ts';
import { iso, selectAll, selectOne, versionColumns, writesOne, type Statement } from './rows.ts';

function subscriptionFromRow(r: any): Subscription {
  return {
    subscriptionId: r.subscription_id,
    accountId: r.account_id,
    customerId: r.customer_id,
    agreementId: r.agreement_id,
    billingAccountId: r.billing_account_id,
    status: r.status,
    startDate: iso(r.start_date),
    endDate: iso(r.end_date),
    commitmentStartDate: iso(r.commitment_start_date),
    commitmentEndDate: iso(r.commitment_end_date),
    termMonths: r.term_months,
    billingCycle: r.billing_cycle,
    autoRenew: r.auto_renew,
    renewalPolicy: r.renewal_policy,
    ...versionColumns(r),
  };
}

export function findSubscription(tx: Tx, subscriptionId: string): Promise<Subscription | undefined> {
  return selectOne(tx, subscriptionFromRow, 'select * from subscription where subscription_id = $1', [subscriptionId]);
}

export function listSubscriptionsOfAccount(tx: Tx, accountId: string): Promise<Subscription[]> {
  return selectAll(tx, subscriptionFromRow, 'select * from subscription where account_id = $1 order by created_at, subscription_id', [accountId]);
}

export async function insertSubscription(tx: Tx, tenantId: string, s: Subscription): Promise<void> {
  await tx.query(
    `insert into subscription (tenant_id, account_id, subscription_id, customer_id, agreement_id, billing_account_id,
       status, start_date, end_date, commitment_start_date, commitment_end_date, term_months, billing_cycle,
       auto_renew, renewal_policy, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [tenantId, s.accountId, s.subscriptionId, s.customerId, s.agreementId, s.billingAccountId, s.status, s.startDate,
     s.endDate, s.commitmentStartDate, s.commitmentEndDate, s.termMonths, s.billingCycle, s.autoRenew,
     s.renewalPolicy, s.version, s.createdAt, s.updatedAt],
  );
}

/** The optimistic write, as a statement: it changes the row only while it is still at `expectedVersion` (sent with the version's records). */
export function subscriptionUpdate(s: Subscription, expectedVersion: number): Statement {
  return {
    text: `update subscription set status = $3, start_date = $4, end_date = $5, commitment_start_date = $6,
       commitment_end_date = $7, term_months = $8, billing_cycle = $9, auto_renew = $10, renewal_policy = $11,
       agreement_id = $12, version = $13, updated_at = $14
     where account_id = $1 and subscription_id = $2 and version = $15`,
    params: [s.accountId, s.subscriptionId, s.status, s.startDate, s.endDate, s.commitmentStartDate, s.commitmentEndDate,
     s.termMonths, s.billingCycle, s.autoRenew, s.renewalPolicy, s.agreementId, s.version, s.updatedAt, expectedVersion],
  };
}

/** subscriptionUpdate, sent on its own: true when it changed the row. */
export async function updateSubscription(tx: Tx, s: Subscription, expectedVersion: number): Promise<boolean> {
  const { text, params } = subscriptionUpdate(s, expectedVersion);
  return writesOne(tx, text, params);
}
