/** SQL of price rules, account price terms and promo redemptions: one function per statement. */
import { queryOne, queryRows, type Tx } from '../platform/db.ts';
import type { AccountTermBody, PriceRuleBody } from '../catalog/index.ts';

export interface StoredRule {
  id: string;
  code: string;
  type: PriceRuleBody['type'];
  priority: number;
  status: 'active' | 'retired';
  body: PriceRuleBody;
  createdAt: string;
  retiredAt: string | null;
  /** Promo rules: how many quotes redeemed it so far. */
  redemptions: number;
}

export interface StoredTerm {
  id: string;
  accountId: string;
  body: AccountTermBody;
  createdAt: string;
  endedAt: string | null;
}

export interface PromoRedemption {
  accountId: string;
  ruleId: string;
  quoteId: string;
  redeemedAt: string;
}

/** A rule is read with how often it was redeemed (rows of `price_rule p`). */
const REDEMPTIONS = '(select count(*)::int from promo_redemption r where r.rule_id = p.rule_id) as redemptions';

const ruleFromRow = (r: any): StoredRule => ({
  id: r.rule_id,
  code: r.code,
  type: r.type,
  priority: r.priority,
  status: r.status,
  body: r.body,
  createdAt: r.created_at.toISOString(),
  retiredAt: r.retired_at ? r.retired_at.toISOString() : null,
  redemptions: r.redemptions ?? 0,
});

const termFromRow = (r: any): StoredTerm => ({
  id: r.term_id,
  accountId: r.account_id,
  body: r.body,
  createdAt: r.created_at.toISOString(),
  endedAt: r.ended_at ? r.ended_at.toISOString() : null,
});

const redemptionFromRow = (r: any): PromoRedemption => ({
  accountId: r.account_id,
  ruleId: r.rule_id,
  quoteId: r.quote_id,
  redeemedAt: r.redeemed_at.toISOString(),
});

// ------------------------------------------------------------------ price rules

export async function insertRule(tx: Tx, row: { tenantId: string; id: string; body: PriceRuleBody; createdAt: string }): Promise<StoredRule> {
  const inserted = await queryOne(
    tx,
    `insert into price_rule (tenant_id, rule_id, code, type, priority, body, status, created_at)
     values ($1, $2, $3, $4, $5, $6, 'active', $7) returning *, 0::int as redemptions`,
    [row.tenantId, row.id, row.body.code, row.body.type, row.body.priority, row.body, row.createdAt],
  );
  return ruleFromRow(inserted);
}

export async function findRule(tx: Tx, id: string): Promise<StoredRule | undefined> {
  const row = await queryOne(
    tx,
    `select p.*, ${REDEMPTIONS}
       from price_rule p where p.rule_id = $1`,
    [id],
  );
  return row ? ruleFromRow(row) : undefined;
}

/**
 * Locks a rule row until the transaction ends: taken by every promo redemption of the rule,
 * so that counting and inserting a redemption happen one transaction at a time per rule.
 */
export async function lockRule(tx: Tx, id: string): Promise<StoredRule | undefined> {
  const row = await queryOne(tx, 'select * from price_rule where rule_id = $1 for update', [id]);
  return row ? ruleFromRow(row) : undefined;
}

/** Keyset page on (priority, code): the order rules are applied in, roughly. */
export async function listRules(tx: Tx, filter: { status?: string; type?: string }, after: { priority: number; code: string } | null, limit: number): Promise<StoredRule[]> {
  const rows = await queryRows(
    tx,
    `select p.*, ${REDEMPTIONS}
       from price_rule p
      where ($1::text is null or p.status = $1)
        and ($2::text is null or p.type = $2)
        and ($3::integer is null or (p.priority, p.code) > ($3::integer, $4::text))
      order by p.priority, p.code
      limit $5`,
    [filter.status ?? null, filter.type ?? null, after?.priority ?? null, after?.code ?? null, limit],
  );
  return rows.map(ruleFromRow);
}

export async function retireRule(tx: Tx, id: string, at: string): Promise<StoredRule | undefined> {
  const row = await queryOne(
    tx,
    `update price_rule p set status = 'retired', retired_at = $2 where p.rule_id = $1 and p.status = 'active'
     returning p.*, ${REDEMPTIONS}`,
    [id, at],
  );
  return row ? ruleFromRow(row) : undefined;
}

/**
 * The tenant's rules not retired at `at` (active, or retired after `at`). Their validFrom /
 * validTo windows are business time and are the engine's to judge.
 */
export async function rulesInForceAt(tx: Tx, at: string): Promise<StoredRule[]> {
  const rows = await queryRows(
    tx,
    `select * from price_rule
      where retired_at is null or retired_at > $1
      order by priority, rule_id`,
    [at],
  );
  return rows.map(ruleFromRow);
}

export interface RuleInForce {
  id: string;
  body: PriceRuleBody;
  /** Promo rules: how many quotes redeemed it so far; null for the other types. */
  redemptions: number | null;
}

/**
 * A price's inputs in one statement: the tenant's rules in force at `at` (as rulesInForceAt,
 * in its order, each promo with its redemptions so far), then the account's terms in force
 * (as termsInForceAt, in its order).
 */
export async function pricingInputsAt(tx: Tx, accountId: string, at: string): Promise<{ rules: RuleInForce[]; terms: { id: string; body: AccountTermBody }[] }> {
  const rows = await queryRows<any>(
    tx,
    `select 'rule' as source, p.rule_id as id, p.body, p.priority, null::timestamptz as term_created_at,
            case when p.type = 'promo' then (select count(*)::int from promo_redemption r where r.rule_id = p.rule_id) end as redemptions
       from price_rule p
      where p.retired_at is null or p.retired_at > $2
     union all
     select 'term', t.term_id, t.body, null, t.created_at, null
       from account_price_term t
      where t.account_id = $1 and (t.ended_at is null or t.ended_at > $2)
      order by source, priority, term_created_at, id`,
    [accountId, at],
  );
  return {
    rules: rows.filter((r) => r.source === 'rule').map((r) => ({ id: r.id, body: r.body, redemptions: r.redemptions })),
    terms: rows.filter((r) => r.source === 'term').map((r) => ({ id: r.id, body: r.body })),
  };
}

// ------------------------------------------------------------------ account price terms

export async function insertTerm(tx: Tx, row: { tenantId: string; accountId: string; id: string; body: AccountTermBody; createdAt: string }): Promise<StoredTerm> {
  const inserted = await queryOne(
    tx,
    `insert into account_price_term (tenant_id, account_id, term_id, body, created_at)
     values ($1, $2, $3, $4, $5) returning *`,
    [row.tenantId, row.accountId, row.id, row.body, row.createdAt],
  );
  return termFromRow(inserted);
}

export async function lockTerm(tx: Tx, accountId: string, id: string): Promise<StoredTerm | undefined> {
  const row = await queryOne(tx, 'select * from account_price_term where account_id = $1 and term_id = $2 for update', [accountId, id]);
  return row ? termFromRow(row) : undefined;
}

export async function listTerms(tx: Tx, accountId: string, after: { createdAt: string; id: string } | null, limit: number): Promise<StoredTerm[]> {
  const rows = await queryRows(
    tx,
    `select * from account_price_term
      where account_id = $1
        and ($2::timestamptz is null or (created_at, term_id) > ($2::timestamptz, $3::uuid))
      order by created_at, term_id limit $4`,
    [accountId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows.map(termFromRow);
}

export async function endTerm(tx: Tx, accountId: string, id: string, at: string): Promise<StoredTerm | undefined> {
  const row = await queryOne(
    tx,
    `update account_price_term set ended_at = $3 where account_id = $1 and term_id = $2 and ended_at is null returning *`,
    [accountId, id, at],
  );
  return row ? termFromRow(row) : undefined;
}

/** The account's terms not ended at `at` (their validity windows are the engine's to judge). */
export async function termsInForceAt(tx: Tx, accountId: string, at: string): Promise<StoredTerm[]> {
  const rows = await queryRows(
    tx,
    `select * from account_price_term
      where account_id = $1 and (ended_at is null or ended_at > $2)
      order by created_at, term_id`,
    [accountId, at],
  );
  return rows.map(termFromRow);
}

// ------------------------------------------------------------------ promo redemptions

export async function countRedemptions(tx: Tx, ruleIds: string[]): Promise<Map<string, number>> {
  if (ruleIds.length === 0) return new Map();
  const rows = await queryRows<{ rule_id: string; n: number }>(
    tx,
    'select rule_id, count(*)::int as n from promo_redemption where rule_id = any($1::uuid[]) group by rule_id',
    [ruleIds],
  );
  return new Map(rows.map((r) => [r.rule_id, r.n]));
}

export async function findRedemption(tx: Tx, accountId: string, quoteId: string, ruleId: string): Promise<PromoRedemption | undefined> {
  const row = await queryOne(
    tx,
    'select * from promo_redemption where account_id = $1 and quote_id = $2 and rule_id = $3',
    [accountId, quoteId, ruleId],
  );
  return row ? redemptionFromRow(row) : undefined;
}

export async function insertRedemption(tx: Tx, row: { tenantId: string; accountId: string; ruleId: string; quoteId: string; at: string }): Promise<PromoRedemption> {
  const inserted = await queryOne(
    tx,
    `insert into promo_redemption (tenant_id, account_id, rule_id, quote_id, redeemed_at)
     values ($1, $2, $3, $4, $5) returning *`,
    [row.tenantId, row.accountId, row.ruleId, row.quoteId, row.at],
  );
  return redemptionFromRow(inserted);
}
