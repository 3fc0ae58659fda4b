/** The SQL of quotes. */
import { queryOne, queryRows, type Tx } from '../platform/db.ts';
import type { Quote, QuoteLine, QuoteState } from './model.ts';

function lineFromRow(r: any): QuoteLine {
  return {
    lineId: r.line_id,
    lineNumber: r.line_number,
    action: r.action,
    offeringId: r.offering_id,
    offeringVersion: r.offering_version,
    productInstanceId: r.product_instance_id,
    parentLineId: r.parent_line_id,
    parentProductInstanceId: r.parent_product_instance_id,
    bundleLineId: r.bundle_line_id,
    configuration: r.configuration,
    quantity: r.quantity,
    usageEstimate: r.usage_estimate,
    zone: r.zone,
  };
}

function quoteFromRow(r: any, lines: QuoteLine[]): Quote {
  return {
    quoteId: r.quote_id,
    accountId: r.account_id,
    status: r.status,
    currency: r.currency,
    snapshot: {
      snapshotId: r.snapshot_id,
      snapshotTime: r.snapshot_time.toISOString(),
      assetVersions: r.asset_versions,
      subscriptionVersions: r.subscription_versions,
    },
    promoCodes: r.promo_codes,
    lines,
    price: r.price_result,
    pricedAt: r.priced_at ? r.priced_at.toISOString() : null,
    expiresAt: r.expires_at.toISOString(),
    acceptedAt: r.accepted_at ? r.accepted_at.toISOString() : null,
    convertedAt: r.converted_at ? r.converted_at.toISOString() : null,
    version: r.version,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export async function findQuote(tx: Tx, quoteId: string): Promise<Quote | undefined> {
  const row = await queryOne<any>(tx, 'select * from quote where quote_id = $1', [quoteId]);
  if (!row) return undefined;
  const lines = await queryRows(tx, 'select * from quote_line where account_id = $1 and quote_id = $2 order by line_number', [row.account_id, quoteId]);
  return quoteFromRow(row, lines.map(lineFromRow));
}

export async function listQuoteIds(tx: Tx, accountId: string, after: { createdAt: string; id: string } | null, limit: number): Promise<string[]> {
  const rows = await queryRows<{ quote_id: string }>(
    tx,
    `select quote_id from quote
      where account_id = $1 and ($2::timestamptz is null or (created_at, quote_id) > ($2::timestamptz, $3::uuid))
      order by created_at, quote_id limit $4`,
    [accountId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows.map((r) => r.quote_id);
}

export async function insertQuote(tx: Tx, tenantId: string, q: Quote): Promise<void> {
  await tx.query(
    `insert into quote (tenant_id, account_id, quote_id, status, currency, snapshot_id, snapshot_time, asset_versions,
       subscription_versions, promo_codes, price_result, priced_at, expires_at, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [tenantId, q.accountId, q.quoteId, q.status, q.currency, q.snapshot.snapshotId, q.snapshot.snapshotTime,
     JSON.stringify(q.snapshot.assetVersions), JSON.stringify(q.snapshot.subscriptionVersions), q.promoCodes, q.price,
     q.pricedAt, q.expiresAt, q.version, q.createdAt, q.updatedAt],
  );
  for (const l of q.lines) {
    await tx.query(
      `insert into quote_line (tenant_id, account_id, quote_id, line_id, line_number, action, offering_id, offering_version,
         product_instance_id, parent_line_id, parent_product_instance_id, bundle_line_id, configuration, quantity,
         usage_estimate, zone)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [tenantId, q.accountId, q.quoteId, l.lineId, l.lineNumber, l.action, l.offeringId, l.offeringVersion,
       l.productInstanceId, l.parentLineId, l.parentProductInstanceId, l.bundleLineId, l.configuration, l.quantity,
       l.usageEstimate, l.zone],
    );
  }
}

/** Optimistic write of the quote's mutable fields: false when the quote moved on meanwhile. */
export async function updateQuote(tx: Tx, q: Quote, expectedVersion: number): Promise<boolean> {
  const result = await tx.query(
    `update quote set status = $3, price_result = $4, priced_at = $5, accepted_at = $6, converted_at = $7,
       version = $8, updated_at = $9
     where account_id = $1 and quote_id = $2 and version = $10`,
    [q.accountId, q.quoteId, q.status, q.price, q.pricedAt, q.acceptedAt, q.convertedAt, q.version, q.updatedAt, expectedVersion],
  );
  return result.rowCount === 1;
}

export async function markExpired(tx: Tx, accountId: string, quoteId: string, at: string, states: readonly QuoteState[]): Promise<void> {
  await tx.query(
    `update quote set status = 'EXPIRED', version = version + 1, updated_at = $3
      where account_id = $1 and quote_id = $2 and status = any($4)`,
    [accountId, quoteId, at, states],
  );
}
