-- 0004: orders against the installed base (seed 000 §11–13), TMF622 states.

create table product_order (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null references account (account_id),
  order_id uuid not null,
  status text not null check (status in ('acknowledged', 'inProgress', 'held', 'pendingCancellation', 'cancelled', 'completed', 'failed', 'partial')),
  quote_id uuid null,
  -- A supplemental order amends the order in flight that holds its targets (seed 000 §13.2).
  supplemental_of_order_id uuid null,
  external_reference text null,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  completed_at timestamptz null,
  primary key (account_id, order_id),
  foreign key (account_id, supplemental_of_order_id) references product_order (account_id, order_id)
);
create index product_order_by_id on product_order (order_id);
create index product_order_account_created on product_order (account_id, created_at, order_id);
-- One order per quote.
create unique index product_order_quote on product_order (account_id, quote_id) where quote_id is not null;

create table order_item (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  order_id uuid not null,
  item_id uuid not null,
  item_number integer not null check (item_number >= 1),
  action text not null check (action in ('ADD', 'MODIFY', 'DISCONNECT', 'SUSPEND', 'RESUME', 'MOVE', 'REPLACE', 'RENEW')),
  status text not null check (status in ('acknowledged', 'inProgress', 'held', 'pendingCancellation', 'cancelled', 'completed', 'failed')),
  -- The target (MODIFY … RENEW), or the instance an ADD created.
  product_instance_id uuid null,
  expected_version bigint null,
  offering_id uuid null,
  offering_version integer null,
  parent_item_id uuid null,
  parent_product_instance_id uuid null,
  depends_on uuid[] not null default '{}',
  -- Everything else the action needs (configuration, price snapshot, place, term…), as given.
  details jsonb not null default '{}'::jsonb,
  error jsonb null,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (account_id, order_id, item_id),
  unique (account_id, order_id, item_number),
  foreign key (account_id, order_id) references product_order (account_id, order_id),
  check ((action = 'ADD') = (offering_id is not null)),
  check (action = 'ADD' or (product_instance_id is not null and expected_version is not null))
);
create index order_item_by_id on order_item (item_id);
create index order_item_target on order_item (account_id, product_instance_id);

-- Every state change of an order or one of its items, in order (the lifecycle history).
create table order_state_change (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  order_id uuid not null,
  change_id uuid not null,
  item_id uuid null,
  from_status text null,
  to_status text not null,
  reason text null,
  recorded_at timestamptz not null,
  actor_api_key_id uuid null,
  primary key (account_id, change_id),
  foreign key (account_id, order_id) references product_order (account_id, order_id)
);
create index order_state_change_order on order_state_change (account_id, order_id, recorded_at);

alter table product_order enable row level security;
alter table order_item enable row level security;
alter table order_state_change enable row level security;
create policy tenant_isolation on product_order using (tenant_id = tenure_current_tenant()) with check (tenant_id = tenure_current_tenant());
create policy tenant_isolation on order_item using (tenant_id = tenure_current_tenant()) with check (tenant_id = tenure_current_tenant());
create policy tenant_isolation on order_state_change using (tenant_id = tenure_current_tenant()) with check (tenant_id = tenure_current_tenant());
grant select, insert, update on product_order, order_item to tenure_app;
grant select, insert on order_state_change to tenure_app;
