-- 0015: the history tables' (account_id, recorded_at) indexes get tenant_id after account_id
-- (decision 0021). An installed-base read checks its in-process cache by counting the account's
-- history rows (src/inventory/store/installed-base.ts, INSTALLED_BASE_CHANGES_SQL). Under
-- Row-Level Security every scan also checks tenant_id = tenure_current_tenant(): with tenant_id
-- in the index that check is an index condition, evaluated once, and the count is an index-only
-- scan; without it PostgreSQL visited every history row of the account in the heap (8 ms for
-- the 8,000 rows of a 1,000-product account, against about 1 ms). The asOf reads'
-- `account_id = $1 and recorded_at <= $2` uses the new index as it used the old one (tenant_id
-- is fixed by the same policy). A replacement, not one more index: the writes maintain as many
-- indexes as before, each entry 16 bytes wider.

drop index product_instance_history_recorded;
create index product_instance_history_recorded on product_instance_history (account_id, tenant_id, recorded_at);

drop index subscription_history_recorded;
create index subscription_history_recorded on subscription_history (account_id, tenant_id, recorded_at);

drop index service_instance_history_recorded;
create index service_instance_history_recorded on service_instance_history (account_id, tenant_id, recorded_at);

drop index resource_instance_history_recorded;
create index resource_instance_history_recorded on resource_instance_history (account_id, tenant_id, recorded_at);
