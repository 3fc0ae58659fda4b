-- 0014: a per-tenant catalog revision (decision 0020, second round). It moves in the same
-- transaction as every change to a catalog version row (insert, edit, publish, retire, delete),
-- so a statement that reads it reads, in the same snapshot, whether the catalog rows it would
-- look up may have changed since a revision it knew: a price preview looks its lines' offering
-- and specification rows up only when the revision moved (src/quotes/preview-store.ts).

create table catalog_revision (
  tenant_id uuid primary key references tenant (tenant_id),
  revision bigint not null
);

alter table catalog_revision enable row level security;
create policy tenant_isolation on catalog_revision using (tenant_id = tenure_current_tenant())
  with check (tenant_id = tenure_current_tenant());
grant select, insert, update on catalog_revision to tenure_app;

-- Every row written moves its tenant's revision, whoever writes it (commands, seeds, raw SQL).
-- Catalog commands also move it first thing (catalog/store.ts lockVersions), before they lock
-- version rows, so the revision row is always locked before version rows and two commands of
-- one tenant cannot deadlock on it.
create function tenure_bump_catalog_revision() returns trigger
language plpgsql
as $$
begin
  insert into catalog_revision (tenant_id, revision)
  values (case when tg_op = 'DELETE' then old.tenant_id else new.tenant_id end, 1)
  on conflict (tenant_id) do update set revision = catalog_revision.revision + 1;
  if tg_op = 'UPDATE' and old.tenant_id <> new.tenant_id then
    insert into catalog_revision (tenant_id, revision) values (old.tenant_id, 1)
    on conflict (tenant_id) do update set revision = catalog_revision.revision + 1;
  end if;
  return null;
end
$$;

create trigger catalog_revision_bump after insert or update or delete on product_offering
  for each row execute function tenure_bump_catalog_revision();
create trigger catalog_revision_bump after insert or update or delete on product_specification
  for each row execute function tenure_bump_catalog_revision();
