-- 0010: catalog versions are integers everywhere (issue 8, point 12). The catalog numbers its
-- versions with integers, and order items, quote lines and catalog snapshots carry them so;
-- product and service instances kept them as text ("1"). They become integers too, in the
-- columns and in the JSON copies of instances (history states, a pending change, quote
-- snapshots), so one field has one type in every response, now and "as of" a past instant.
--
-- Outbox events already written keep what they carried: they are messages that may have been
-- delivered, not state.

-- A version that is not a positive integer cannot name a catalog version; such a row could only
-- come from the internal route before references were checked. It is not guessed at: the
-- migration stops (in its transaction, nothing changed) and says which rows to correct.
do $$
declare
  bad text;
begin
  select string_agg(product_instance_id::text, ', ') into bad from (
    select product_instance_id from product_instance
    where product_offering_version !~ '^[1-9][0-9]{0,8}$' or product_specification_version !~ '^[1-9][0-9]{0,8}$'
    limit 10) b;
  if bad is not null then
    raise exception 'product instances % have a product_offering_version or product_specification_version that is not a positive integer: set it to the catalog version the instance was sold from, then migrate again', bad;
  end if;
  select string_agg(service_instance_id::text, ', ') into bad from (
    select service_instance_id from service_instance
    where service_specification_version !~ '^[1-9][0-9]{0,8}$'
    limit 10) b;
  if bad is not null then
    raise exception 'service instances % have a service_specification_version that is not a positive integer: set it to the catalog version of its service specification, then migrate again', bad;
  end if;
end $$;

alter table product_instance
  alter column product_offering_version type integer using product_offering_version::integer,
  alter column product_specification_version type integer using product_specification_version::integer,
  add constraint product_instance_offering_version_positive check (product_offering_version >= 1),
  add constraint product_instance_specification_version_positive check (product_specification_version >= 1);

alter table service_instance
  alter column service_specification_version type integer using service_specification_version::integer,
  add constraint service_instance_specification_version_positive check (service_specification_version >= 1);

-- The JSON copies: a version held as a string of digits becomes that number. Anything else in an
-- old history state is left as it was recorded.
create function pg_temp.versions_as_numbers(state jsonb, keys text[]) returns jsonb
language plpgsql immutable as $$
declare
  k text;
begin
  if state is null or jsonb_typeof(state) <> 'object' then return state; end if;
  foreach k in array keys loop
    if jsonb_typeof(state -> k) = 'string' and (state ->> k) ~ '^[1-9][0-9]{0,8}$' then
      state := jsonb_set(state, array[k], to_jsonb((state ->> k)::integer));
    end if;
  end loop;
  return state;
end $$;

update product_instance_history set
  before_state = pg_temp.versions_as_numbers(before_state, array['productOfferingVersion', 'productSpecificationVersion']),
  after_state = pg_temp.versions_as_numbers(after_state, array['productOfferingVersion', 'productSpecificationVersion'])
where jsonb_typeof(after_state -> 'productOfferingVersion') = 'string'
   or jsonb_typeof(after_state -> 'productSpecificationVersion') = 'string'
   or jsonb_typeof(before_state -> 'productOfferingVersion') = 'string'
   or jsonb_typeof(before_state -> 'productSpecificationVersion') = 'string';

update service_instance_history set
  before_state = pg_temp.versions_as_numbers(before_state, array['serviceSpecificationVersion']),
  after_state = pg_temp.versions_as_numbers(after_state, array['serviceSpecificationVersion'])
where jsonb_typeof(after_state -> 'serviceSpecificationVersion') = 'string'
   or jsonb_typeof(before_state -> 'serviceSpecificationVersion') = 'string';

-- A modification waiting to apply may name the offering version it moves to.
update product_instance set pending_change = pg_temp.versions_as_numbers(pending_change, array['productOfferingVersion'])
where jsonb_typeof(pending_change -> 'productOfferingVersion') = 'string';

-- A quote's installed-base snapshot lists the instances with their offering versions.
update quote set asset_versions = (
  select coalesce(jsonb_agg(pg_temp.versions_as_numbers(a, array['productOfferingVersion']) order by n), '[]'::jsonb)
  from jsonb_array_elements(asset_versions) with ordinality as e(a, n))
where jsonb_typeof(asset_versions) = 'array'
  and exists (select 1 from jsonb_array_elements(asset_versions) a where jsonb_typeof(a -> 'productOfferingVersion') = 'string');
