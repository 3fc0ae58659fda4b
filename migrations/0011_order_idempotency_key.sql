-- 0011: the Idempotency-Key an order was submitted with, so that `tenure check` can find two
-- orders of one account made by one key (issue 9: a retry after a crash ran the submission
-- again). Null when the request had no key (and for orders made before this migration).
alter table product_order
  add column idempotency_key text null check (idempotency_key is null or length(idempotency_key) between 1 and 200);

-- The second line of defence behind the idempotency record: one order per key and account.
-- A key names one request of the tenant, and one request submits at most one order, so this
-- never refuses a legitimate request; a submission that hits it is a repeat of one that
-- committed, and is refused (422 naming the first order) instead of doing the work twice.
-- It includes account_id, like every unique key of an account-owned table (rule 11).
create unique index product_order_idempotency_key on product_order (tenant_id, account_id, idempotency_key)
  where idempotency_key is not null;

-- What the check groups by to find one source reference submitted twice.
create index product_order_external_reference on product_order (account_id, external_reference)
  where external_reference is not null;
