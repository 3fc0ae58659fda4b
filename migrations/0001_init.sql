-- 0001: tenancy, access, customers, accounts and the installed base (seed 000 §6, §8, §14).
--
-- Conventions
-- * Every tenant-owned row has tenant_id and a Row-Level Security policy keyed on the
--   transaction-local setting `tenure.tenant_id`. The application switches to the role
--   tenure_app for every tenant transaction; RLS applies to that role.
-- * Account-owned tables (NOT NULL account_id) keep account_id in their primary key, in every
--   unique key and in every foreign key to another account-owned table (ARCHITECTURE rule 11),
--   so that the schema can be distributed by account_id.
-- * Times are written by the application from its injected clock, never by now():
--   recorded_at/created_at/updated_at are transaction time, effective_* / activation_date /
--   termination_date are effective (business) time.
-- * History tables are append-only for the application role (no UPDATE/DELETE grant).

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'tenure_app') then
    create role tenure_app nologin;
  end if;
end
$$;

create function tenure_current_tenant() returns uuid
language sql stable
as $$ select nullif(current_setting('tenure.tenant_id', true), '')::uuid $$;

-- ---------------------------------------------------------------- tenancy and access

create table tenant (
  tenant_id uuid primary key,
  name text not null check (length(name) between 1 and 200),
  mode text not null default 'live' check (mode in ('live', 'test')),
  created_at timestamptz not null
);

create table api_key (
  api_key_id uuid primary key,
  tenant_id uuid not null references tenant (tenant_id),
  name text not null,
  key_prefix text not null,
  key_hash text not null unique,
  role text not null check (role in ('admin', 'operator', 'viewer', 'integration')),
  created_at timestamptz not null,
  revoked_at timestamptz null
);
create index api_key_tenant on api_key (tenant_id);

create table audit_log (
  audit_id uuid primary key,
  tenant_id uuid not null references tenant (tenant_id),
  actor_api_key_id uuid null,
  actor_role text null,
  action text not null,
  target_type text not null,
  target_id uuid null,
  -- Which account the action touched, when it touched one. Nullable: the audit log is
  -- tenant-level (like the catalog), not account-owned.
  subject_account_id uuid null,
  correlation_id text null,
  details jsonb not null default '{}'::jsonb,
  recorded_at timestamptz not null
);
create index audit_log_tenant_time on audit_log (tenant_id, recorded_at desc, audit_id desc);

create table idempotency_key (
  tenant_id uuid not null references tenant (tenant_id),
  idempotency_key text not null,
  method text not null,
  path text not null,
  request_hash text not null,
  state text not null check (state in ('in_progress', 'completed')),
  response_status integer null,
  response_body jsonb null,
  created_at timestamptz not null,
  completed_at timestamptz null,
  primary key (tenant_id, idempotency_key)
);

-- ---------------------------------------------------------------- customers and accounts

create table customer (
  customer_id uuid primary key,
  tenant_id uuid not null references tenant (tenant_id),
  name text not null check (length(name) between 1 and 300),
  external_reference text null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index customer_tenant on customer (tenant_id, customer_id);

-- The account is the unit of consistency and of distribution.
create table account (
  account_id uuid primary key,
  tenant_id uuid not null references tenant (tenant_id),
  customer_id uuid not null references customer (customer_id),
  name text not null check (length(name) between 1 and 300),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
  time_zone text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index account_customer on account (customer_id);
create index account_tenant on account (tenant_id, account_id);

-- ---------------------------------------------------------------- installed base

create table subscription (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null references account (account_id),
  subscription_id uuid not null,
  customer_id uuid not null,
  agreement_id uuid null,
  billing_account_id uuid null,
  status text not null check (status in ('PENDING', 'ACTIVE', 'SUSPENDED', 'TERMINATED', 'EXPIRED')),
  start_date timestamptz null,
  end_date timestamptz null,
  commitment_start_date timestamptz null,
  commitment_end_date timestamptz null,
  term_months integer null check (term_months > 0),
  billing_cycle text null,
  auto_renew boolean not null default false,
  renewal_policy jsonb not null default '{}'::jsonb,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (account_id, subscription_id),
  check (end_date is null or start_date is null or end_date >= start_date)
);
create index subscription_by_id on subscription (subscription_id);

create table product_instance (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null references account (account_id),
  product_instance_id uuid not null,
  customer_id uuid not null,
  subscription_id uuid null,
  product_offering_id uuid not null,
  product_offering_version text not null,
  product_specification_id uuid not null,
  product_specification_version text not null,
  name text not null check (length(name) between 1 and 300),
  status text not null check (status in ('PENDING_ACTIVATION', 'ACTIVE', 'PENDING_MODIFICATION',
    'SUSPENDED', 'PENDING_DISCONNECT', 'DISCONNECTED', 'CANCELLED', 'ERROR')),
  action_origin_order_id uuid null,
  action_origin_order_item_id uuid null,
  activation_date timestamptz null,
  termination_date timestamptz null,
  effective_from timestamptz null,
  effective_to timestamptz null,
  place jsonb null,
  catalog_snapshot jsonb not null,
  configuration_snapshot jsonb not null,
  price_snapshot jsonb not null,
  -- The change a PENDING_MODIFICATION instance is waiting to apply.
  pending_change jsonb null,
  last_error jsonb null,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (account_id, product_instance_id),
  foreign key (account_id, subscription_id) references subscription (account_id, subscription_id)
);
create index product_instance_by_id on product_instance (product_instance_id);
create index product_instance_account_status on product_instance (account_id, status);
create index product_instance_subscription on product_instance (account_id, subscription_id);

-- Direction rule: a relationship reads as the sentence "source <TYPE> target".
--   fiber PARENT_OF static-ip   sla ADDON_OF fiber   new REPLACES old   new MIGRATED_FROM old
--   bundle BUNDLES member       app DEPENDS_ON db    a REQUIRES b
create table product_instance_relationship (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  relationship_id uuid not null,
  source_product_instance_id uuid not null,
  target_product_instance_id uuid not null,
  relationship_type text not null check (relationship_type in
    ('BUNDLES', 'DEPENDS_ON', 'REQUIRES', 'ADDON_OF', 'REPLACES', 'MIGRATED_FROM', 'PARENT_OF')),
  valid_from timestamptz not null,
  valid_to timestamptz null,
  created_by_order_id uuid null,
  created_by_order_item_id uuid null,
  ended_by_order_item_id uuid null,
  created_at timestamptz not null,
  ended_at timestamptz null,
  primary key (account_id, relationship_id),
  foreign key (account_id, source_product_instance_id) references product_instance (account_id, product_instance_id),
  foreign key (account_id, target_product_instance_id) references product_instance (account_id, product_instance_id),
  check (source_product_instance_id <> target_product_instance_id),
  check (valid_to is null or valid_to >= valid_from),
  check (ended_at is null or ended_at >= created_at)
);
create unique index product_instance_relationship_current
  on product_instance_relationship (account_id, source_product_instance_id, target_product_instance_id, relationship_type)
  where ended_at is null;
-- A product instance has at most one current parent.
create unique index product_instance_relationship_one_parent
  on product_instance_relationship (account_id, target_product_instance_id)
  where relationship_type = 'PARENT_OF' and ended_at is null;
create index product_instance_relationship_target
  on product_instance_relationship (account_id, target_product_instance_id);

create table service_instance (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  service_instance_id uuid not null,
  product_instance_id uuid not null,
  service_specification_id uuid not null,
  service_specification_version text not null,
  name text null,
  status text not null check (status in ('PENDING', 'ACTIVE', 'SUSPENDED', 'TERMINATED')),
  external_service_id text null,
  place jsonb null,
  activation_date timestamptz null,
  termination_date timestamptz null,
  technical_parameters jsonb not null default '{}'::jsonb,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (account_id, service_instance_id),
  foreign key (account_id, product_instance_id) references product_instance (account_id, product_instance_id)
);
create index service_instance_by_id on service_instance (service_instance_id);
create index service_instance_product on service_instance (account_id, product_instance_id, status);

create table resource_instance (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  resource_instance_id uuid not null,
  service_instance_id uuid not null,
  resource_type text not null check (length(resource_type) between 1 and 80),
  resource_id text null,
  external_resource_id text null,
  status text not null check (status in ('ALLOCATED', 'RELEASED')),
  allocation_date timestamptz null,
  release_date timestamptz null,
  attributes jsonb not null default '{}'::jsonb,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (account_id, resource_instance_id),
  foreign key (account_id, service_instance_id) references service_instance (account_id, service_instance_id)
);
create index resource_instance_by_id on resource_instance (resource_instance_id);
create index resource_instance_service on resource_instance (account_id, service_instance_id, status);

-- ---------------------------------------------------------------- history (append-only)
-- before_state/after_state hold the entity as the API shows it; recorded_at is transaction
-- time, effective_at is when the change holds in the business.

create table product_instance_history (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  product_instance_id uuid not null,
  version bigint not null,
  history_id uuid not null,
  change_type text not null,
  changed_by_order_id uuid null,
  changed_by_order_item_id uuid null,
  before_state jsonb null,
  after_state jsonb not null,
  recorded_at timestamptz not null,
  effective_at timestamptz not null,
  actor_api_key_id uuid null,
  correlation_id text null,
  primary key (account_id, product_instance_id, version),
  unique (account_id, history_id),
  foreign key (account_id, product_instance_id) references product_instance (account_id, product_instance_id)
);
create index product_instance_history_recorded on product_instance_history (account_id, recorded_at);

create table subscription_history (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  subscription_id uuid not null,
  version bigint not null,
  history_id uuid not null,
  change_type text not null,
  changed_by_order_id uuid null,
  changed_by_order_item_id uuid null,
  before_state jsonb null,
  after_state jsonb not null,
  recorded_at timestamptz not null,
  effective_at timestamptz not null,
  actor_api_key_id uuid null,
  correlation_id text null,
  primary key (account_id, subscription_id, version),
  unique (account_id, history_id),
  foreign key (account_id, subscription_id) references subscription (account_id, subscription_id)
);
create index subscription_history_recorded on subscription_history (account_id, recorded_at);

create table service_instance_history (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  service_instance_id uuid not null,
  version bigint not null,
  history_id uuid not null,
  change_type text not null,
  changed_by_order_id uuid null,
  changed_by_order_item_id uuid null,
  before_state jsonb null,
  after_state jsonb not null,
  recorded_at timestamptz not null,
  effective_at timestamptz not null,
  actor_api_key_id uuid null,
  correlation_id text null,
  primary key (account_id, service_instance_id, version),
  unique (account_id, history_id),
  foreign key (account_id, service_instance_id) references service_instance (account_id, service_instance_id)
);
create index service_instance_history_recorded on service_instance_history (account_id, recorded_at);

create table resource_instance_history (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  resource_instance_id uuid not null,
  version bigint not null,
  history_id uuid not null,
  change_type text not null,
  changed_by_order_id uuid null,
  changed_by_order_item_id uuid null,
  before_state jsonb null,
  after_state jsonb not null,
  recorded_at timestamptz not null,
  effective_at timestamptz not null,
  actor_api_key_id uuid null,
  correlation_id text null,
  primary key (account_id, resource_instance_id, version),
  unique (account_id, history_id),
  foreign key (account_id, resource_instance_id) references resource_instance (account_id, resource_instance_id)
);
create index resource_instance_history_recorded on resource_instance_history (account_id, recorded_at);

-- ---------------------------------------------------------------- operation guard (seed 000 §14.2)

create table asset_operation_guard (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  guard_id uuid not null,
  product_instance_id uuid not null,
  order_id uuid null,
  order_item_id uuid null,
  operation_type text not null,
  status text not null check (status in ('ACTIVE', 'PENDING_RELEASE', 'RELEASED')),
  correlation_id text null,
  acquired_at timestamptz not null,
  released_at timestamptz null,
  primary key (account_id, guard_id),
  foreign key (account_id, product_instance_id) references product_instance (account_id, product_instance_id),
  check ((status = 'RELEASED') = (released_at is not null))
);
-- One active operation per asset: enforced here, not only in code.
create unique index asset_operation_guard_active
  on asset_operation_guard (account_id, product_instance_id)
  where status in ('ACTIVE', 'PENDING_RELEASE');

-- ---------------------------------------------------------------- transactional outbox

create table outbox_event (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  event_id uuid not null,
  position bigint generated always as identity,
  event_type text not null,
  event_version integer not null,
  aggregate_type text not null,
  aggregate_id uuid not null,
  aggregate_version bigint null,
  payload jsonb not null,
  occurred_at timestamptz not null,
  published_at timestamptz null,
  primary key (account_id, event_id)
);
create index outbox_event_unpublished on outbox_event (position) where published_at is null;
create index outbox_event_aggregate on outbox_event (account_id, aggregate_id, aggregate_version);

-- ---------------------------------------------------------------- row-level security

do $$
declare
  t text;
begin
  foreach t in array array[
    'tenant', 'api_key', 'audit_log', 'idempotency_key', 'customer', 'account', 'subscription',
    'product_instance', 'product_instance_relationship', 'service_instance', 'resource_instance',
    'product_instance_history', 'subscription_history', 'service_instance_history',
    'resource_instance_history', 'asset_operation_guard', 'outbox_event'
  ] loop
    execute format('alter table %I enable row level security', t);
    execute format(
      'create policy tenant_isolation on %I using (tenant_id = tenure_current_tenant()) '
      'with check (tenant_id = tenure_current_tenant())', t);
  end loop;
end
$$;

grant usage on schema public to tenure_app;
grant execute on function tenure_current_tenant() to tenure_app;
grant select on tenant to tenure_app;
grant select, insert, update on api_key to tenure_app;
grant select, insert on audit_log to tenure_app;
grant select, insert, update, delete on idempotency_key to tenure_app;
grant select, insert, update on customer, account, subscription, product_instance,
  product_instance_relationship, service_instance, resource_instance, asset_operation_guard to tenure_app;
grant select, insert on product_instance_history, subscription_history, service_instance_history,
  resource_instance_history to tenure_app;
grant select, insert, update on outbox_event to tenure_app;
