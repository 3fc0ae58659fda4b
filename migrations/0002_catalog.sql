-- 0002: the catalog (seed 001, seed 000 §4) and price rules: what can be sold and at what price.
--
-- Conventions (besides those of 0001)
-- * Catalog tables are tenant-level reference data (no account_id): one row per (id, version).
--   A version is born a draft, is published once (status 'active', published_at) and is
--   retired once (status 'retired', retired_at). Publishing a version retires the version it
--   supersedes, so an id has at most one active version: the one that is sold.
-- * A published version never changes: the trigger catalog_version_immutable refuses any change
--   to a non-draft row except active → retired, and no row is ever deleted. Product instances
--   keep their own snapshot of the version they were sold from (seed 000 §4); the catalog keeps
--   every version so that snapshot can always be traced back.
-- * `code` is the human key of an id: the same id always has the same code, and no two ids of a
--   tenant share one (checked by catalog_code_is_stable on insert).
-- * price_rule is tenant-level; account_price_term and promo_redemption are account-owned and
--   follow ARCHITECTURE rule 11 (account_id in every primary, unique and account-to-account
--   foreign key).

-- ---------------------------------------------------------------- shared trigger functions

-- Published versions are immutable. A draft may be edited, published (draft → active) or
-- abandoned (draft → retired); an active version may only be retired; a retired version is final.
-- The identity of a row (tenant, id, version, code, created_at) never changes.
create function catalog_version_immutable() returns trigger
language plpgsql
as $$
declare
  -- What a draft may change: its document (and the columns copied from it) and its lifecycle.
  draft_editable text[] := array['body', 'category', 'segment', 'sellable', 'valid_from', 'valid_to', 'is_bundle',
                                 'status', 'published_at', 'retired_at'];
begin
  if (to_jsonb(new) - draft_editable) is distinct from (to_jsonb(old) - draft_editable) then
    raise exception 'the identity of catalog version % of % (tenant, id, version, code, created_at) cannot change',
      old.version, tg_table_name using errcode = 'integrity_constraint_violation';
  end if;
  if old.status = 'draft' then
    return new;
  end if;
  -- Published: everything but status and retired_at is frozen, and only active → retired moves.
  if (to_jsonb(new) - 'status' - 'retired_at') is distinct from (to_jsonb(old) - 'status' - 'retired_at') then
    raise exception 'catalog version % of % is published (%) and immutable; create a new version instead',
      old.version, tg_table_name, old.status using errcode = 'integrity_constraint_violation';
  end if;
  if (new.status, new.retired_at) is distinct from (old.status, old.retired_at)
     and not (old.status = 'active' and new.status = 'retired') then
    raise exception 'catalog version % of % cannot go from % to %', old.version, tg_table_name, old.status, new.status
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end
$$;

-- Catalog rows and price rules are never deleted: history must stay traceable.
create function catalog_row_undeletable() returns trigger
language plpgsql
as $$
begin
  raise exception 'rows of % are never deleted; retire them instead', tg_table_name
    using errcode = 'integrity_constraint_violation';
end
$$;

-- The same id always carries the same code, and one code names one id (per tenant). Runs as
-- the inserting role, so under RLS it sees exactly the tenant's rows, which is what it checks.
create function catalog_code_is_stable() returns trigger
language plpgsql
as $$
declare
  id_column text := tg_argv[0];
  new_id uuid := (to_jsonb(new) ->> id_column)::uuid;
  clash record;
begin
  execute format(
    'select %1$I as id, code from %2$I where tenant_id = $1 and ((%1$I = $2 and code <> $3) or (%1$I <> $2 and code = $3)) limit 1',
    id_column, tg_table_name)
    into clash using new.tenant_id, new_id, new.code;
  if clash.id is not null then
    raise exception 'code % of % % conflicts with % (code %)', new.code, tg_table_name, new_id, clash.id, clash.code
      using errcode = 'unique_violation', constraint = tg_table_name || '_code_stable';
  end if;
  return new;
end
$$;

-- ---------------------------------------------------------------- specifications

create table resource_specification (
  tenant_id uuid not null references tenant (tenant_id),
  resource_specification_id uuid not null,
  version integer not null check (version >= 1),
  code text not null check (code ~ '^[a-z0-9][a-z0-9._-]{0,79}$'),
  status text not null check (status in ('draft', 'active', 'retired')),
  body jsonb not null,
  created_at timestamptz not null,
  published_at timestamptz null,
  retired_at timestamptz null,
  primary key (resource_specification_id, version),
  unique (tenant_id, code, version),
  check (case status
           when 'draft' then published_at is null and retired_at is null
           when 'active' then published_at is not null and retired_at is null
           else retired_at is not null end)
);

create table service_specification (
  tenant_id uuid not null references tenant (tenant_id),
  service_specification_id uuid not null,
  version integer not null check (version >= 1),
  code text not null check (code ~ '^[a-z0-9][a-z0-9._-]{0,79}$'),
  status text not null check (status in ('draft', 'active', 'retired')),
  body jsonb not null,
  created_at timestamptz not null,
  published_at timestamptz null,
  retired_at timestamptz null,
  primary key (service_specification_id, version),
  unique (tenant_id, code, version),
  check (case status
           when 'draft' then published_at is null and retired_at is null
           when 'active' then published_at is not null and retired_at is null
           else retired_at is not null end)
);

create table product_specification (
  tenant_id uuid not null references tenant (tenant_id),
  product_specification_id uuid not null,
  version integer not null check (version >= 1),
  code text not null check (code ~ '^[a-z0-9][a-z0-9._-]{0,79}$'),
  status text not null check (status in ('draft', 'active', 'retired')),
  body jsonb not null,
  created_at timestamptz not null,
  published_at timestamptz null,
  retired_at timestamptz null,
  primary key (product_specification_id, version),
  unique (tenant_id, code, version),
  check (case status
           when 'draft' then published_at is null and retired_at is null
           when 'active' then published_at is not null and retired_at is null
           else retired_at is not null end)
);

-- ---------------------------------------------------------------- offerings

-- category … is_bundle are copies of body fields, written by the application with the body,
-- so that ListProducts filters on indexed columns (seed 001: B-tree on category, segment).
create table product_offering (
  tenant_id uuid not null references tenant (tenant_id),
  product_offering_id uuid not null,
  version integer not null check (version >= 1),
  code text not null check (code ~ '^[a-z0-9][a-z0-9._-]{0,79}$'),
  status text not null check (status in ('draft', 'active', 'retired')),
  body jsonb not null,
  category text not null,
  segment text not null check (segment in ('residential', 'business', 'enterprise', 'any')),
  sellable boolean not null,
  valid_from timestamptz null,
  valid_to timestamptz null,
  is_bundle boolean not null,
  created_at timestamptz not null,
  published_at timestamptz null,
  retired_at timestamptz null,
  primary key (product_offering_id, version),
  unique (tenant_id, code, version),
  check (case status
           when 'draft' then published_at is null and retired_at is null
           when 'active' then published_at is not null and retired_at is null
           else retired_at is not null end),
  check (valid_to is null or valid_from is null or valid_to > valid_from)
);
create index product_offering_category on product_offering (tenant_id, category, segment, status);
create index product_offering_code on product_offering (tenant_id, code, product_offering_id);

-- One draft and one active (sold) version per id at a time.
create unique index resource_specification_one_draft on resource_specification (resource_specification_id) where status = 'draft';
create unique index resource_specification_one_active on resource_specification (resource_specification_id) where status = 'active';
create unique index service_specification_one_draft on service_specification (service_specification_id) where status = 'draft';
create unique index service_specification_one_active on service_specification (service_specification_id) where status = 'active';
create unique index product_specification_one_draft on product_specification (product_specification_id) where status = 'draft';
create unique index product_specification_one_active on product_specification (product_specification_id) where status = 'active';
create unique index product_offering_one_draft on product_offering (product_offering_id) where status = 'draft';
create unique index product_offering_one_active on product_offering (product_offering_id) where status = 'active';

create trigger resource_specification_immutable before update on resource_specification
  for each row execute function catalog_version_immutable();
create trigger service_specification_immutable before update on service_specification
  for each row execute function catalog_version_immutable();
create trigger product_specification_immutable before update on product_specification
  for each row execute function catalog_version_immutable();
create trigger product_offering_immutable before update on product_offering
  for each row execute function catalog_version_immutable();

create trigger resource_specification_undeletable before delete on resource_specification
  for each row execute function catalog_row_undeletable();
create trigger service_specification_undeletable before delete on service_specification
  for each row execute function catalog_row_undeletable();
create trigger product_specification_undeletable before delete on product_specification
  for each row execute function catalog_row_undeletable();
create trigger product_offering_undeletable before delete on product_offering
  for each row execute function catalog_row_undeletable();

create trigger resource_specification_code before insert on resource_specification
  for each row execute function catalog_code_is_stable('resource_specification_id');
create trigger service_specification_code before insert on service_specification
  for each row execute function catalog_code_is_stable('service_specification_id');
create trigger product_specification_code before insert on product_specification
  for each row execute function catalog_code_is_stable('product_specification_id');
create trigger product_offering_code before insert on product_offering
  for each row execute function catalog_code_is_stable('product_offering_id');

-- ---------------------------------------------------------------- price rules and terms

create table price_rule (
  tenant_id uuid not null references tenant (tenant_id),
  rule_id uuid primary key,
  code text not null check (code ~ '^[a-z0-9][a-z0-9._-]{0,79}$'),
  type text not null check (type in ('percentage', 'fixed_amount', 'promo', 'loyalty', 'volume')),
  priority integer not null check (priority between 0 and 10000),
  body jsonb not null,
  status text not null check (status in ('active', 'retired')),
  created_at timestamptz not null,
  retired_at timestamptz null,
  unique (tenant_id, code),
  check ((status = 'retired') = (retired_at is not null))
);
create index price_rule_active on price_rule (tenant_id, priority) where status = 'active';

-- A rule's terms never change (a quote priced with it must stay explainable): only
-- active → retired moves.
create function price_rule_immutable() returns trigger
language plpgsql
as $$
begin
  if (to_jsonb(new) - 'status' - 'retired_at') is distinct from (to_jsonb(old) - 'status' - 'retired_at')
     or (new.status is distinct from old.status and not (old.status = 'active' and new.status = 'retired'))
     or (old.status = 'retired' and new.retired_at is distinct from old.retired_at) then
    raise exception 'price rule % is immutable; only active → retired is allowed', old.rule_id
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end
$$;
create trigger price_rule_immutable before update on price_rule
  for each row execute function price_rule_immutable();
create trigger price_rule_undeletable before delete on price_rule
  for each row execute function catalog_row_undeletable();

-- Individual terms of one account (seed 001: "индивидуальные условия").
create table account_price_term (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null references account (account_id),
  term_id uuid not null,
  body jsonb not null,
  created_at timestamptz not null,
  ended_at timestamptz null,
  primary key (account_id, term_id),
  check (ended_at is null or ended_at >= created_at)
);

-- Only ended_at moves, once.
create function account_price_term_immutable() returns trigger
language plpgsql
as $$
begin
  if (to_jsonb(new) - 'ended_at') is distinct from (to_jsonb(old) - 'ended_at')
     or (old.ended_at is not null and new.ended_at is distinct from old.ended_at) then
    raise exception 'account price term % is immutable; it can only be ended, once', old.term_id
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end
$$;
create trigger account_price_term_immutable before update on account_price_term
  for each row execute function account_price_term_immutable();

-- One row per (quote, promo rule): the count against maxRedemptions. recordPromoRedemption
-- locks the price_rule row first, so concurrent redemptions of one rule are serialised there.
create table promo_redemption (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null references account (account_id),
  rule_id uuid not null references price_rule (rule_id),
  quote_id uuid not null,
  redeemed_at timestamptz not null,
  primary key (account_id, quote_id, rule_id)
);
create index promo_redemption_rule on promo_redemption (rule_id);

-- ---------------------------------------------------------------- row-level security and grants

do $$
declare
  t text;
begin
  foreach t in array array[
    'resource_specification', 'service_specification', 'product_specification', 'product_offering',
    'price_rule', 'account_price_term', 'promo_redemption'
  ] loop
    execute format('alter table %I enable row level security', t);
    execute format(
      'create policy tenant_isolation on %I using (tenant_id = tenure_current_tenant()) '
      'with check (tenant_id = tenure_current_tenant())', t);
  end loop;
end
$$;

grant select, insert, update on resource_specification, service_specification, product_specification,
  product_offering, price_rule, account_price_term to tenure_app;
grant select, insert on promo_redemption to tenure_app;
-- Said out loud: the application role never deletes catalog, rule, term or redemption rows.
revoke delete, truncate on resource_specification, service_specification, product_specification,
  product_offering, price_rule, account_price_term, promo_redemption from tenure_app;
