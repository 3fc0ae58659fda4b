-- 0006: the tables every versioned change appends to no longer reference tenant (decision 0010).
--
-- A foreign key to tenant makes every insert lock the tenant's one row (FOR KEY SHARE): all
-- concurrent commands of a tenant then queue on that one tuple, through a MultiXact that
-- each of them rewrites. These tables are written by every command, several rows at a time.
-- Their tenant_id stays NOT NULL, and the Row-Level Security policy's WITH CHECK
-- (tenant_id = tenure_current_tenant()) still pins it to the transaction's tenant, which was
-- resolved from an API key (whose own foreign key to tenant stays). Tenants are never
-- deleted. Every other table keeps its foreign key to tenant.

alter table product_instance_history drop constraint product_instance_history_tenant_id_fkey;
alter table subscription_history drop constraint subscription_history_tenant_id_fkey;
alter table service_instance_history drop constraint service_instance_history_tenant_id_fkey;
alter table resource_instance_history drop constraint resource_instance_history_tenant_id_fkey;
alter table outbox_event drop constraint outbox_event_tenant_id_fkey;
alter table asset_operation_guard drop constraint asset_operation_guard_tenant_id_fkey;
alter table audit_log drop constraint audit_log_tenant_id_fkey;
