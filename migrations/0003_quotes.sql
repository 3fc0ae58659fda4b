-- 0003: quotes (seed 000 §12): a priced proposal for one account, taken against a snapshot of
-- its installed base. Converting a quote re-checks that snapshot (stale check).

create table quote (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null references account (account_id),
  quote_id uuid not null,
  status text not null check (status in ('DRAFT', 'PRICED', 'ACCEPTED', 'CONVERTED', 'EXPIRED', 'CANCELLED')),
  currency char(3) not null,
  -- The installed-base snapshot the quote was made against.
  snapshot_id uuid not null,
  snapshot_time timestamptz not null,
  asset_versions jsonb not null,
  subscription_versions jsonb not null,
  promo_codes text[] not null default '{}',
  price_result jsonb null,
  priced_at timestamptz null,
  expires_at timestamptz not null,
  accepted_at timestamptz null,
  converted_at timestamptz null,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (account_id, quote_id)
);
create index quote_by_id on quote (quote_id);
create index quote_account_created on quote (account_id, created_at, quote_id);

create table quote_line (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  quote_id uuid not null,
  line_id uuid not null,
  line_number integer not null check (line_number >= 1),
  action text not null check (action in ('ADD', 'MODIFY', 'DISCONNECT')),
  offering_id uuid null,
  offering_version integer null,
  product_instance_id uuid null,
  parent_line_id uuid null,
  parent_product_instance_id uuid null,
  bundle_line_id uuid null,
  configuration jsonb not null default '{}'::jsonb,
  quantity integer not null default 1 check (quantity between 1 and 100000),
  usage_estimate jsonb null,
  zone text null,
  primary key (account_id, quote_id, line_id),
  unique (account_id, quote_id, line_number),
  foreign key (account_id, quote_id) references quote (account_id, quote_id),
  check ((action = 'ADD') = (offering_id is not null)),
  check (action = 'ADD' or product_instance_id is not null)
);

alter table quote enable row level security;
alter table quote_line enable row level security;
create policy tenant_isolation on quote using (tenant_id = tenure_current_tenant()) with check (tenant_id = tenure_current_tenant());
create policy tenant_isolation on quote_line using (tenant_id = tenure_current_tenant()) with check (tenant_id = tenure_current_tenant());
grant select, insert, update on quote, quote_line to tenure_app;
