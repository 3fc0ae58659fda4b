-- 0017: date-driven jobs and per-tenant test clocks (decision 0023, docs/scheduler-and-clocks.md).
--
-- Jobs run on graphile-worker, whose own schema (graphile_worker) is migrated by its library
-- right after these files (src/platform/migrate.ts). A job is scheduled by one statement in
-- the transaction of the change that causes it: tenure_schedule_job, below. It sends the job
-- to graphile-worker for a tenant on real time, and to test_clock_job for a tenant on a test
-- clock, whose jobs only ever run when the clock is advanced, in time order.

-- A tenant's test clock: at most one per tenant; its time is frozen_time until advanced.
create table test_clock (
  tenant_id uuid not null references tenant (tenant_id),
  clock_id uuid not null,
  name text not null check (length(name) between 1 and 200),
  frozen_time timestamptz not null,
  status text not null check (status in ('ready', 'advancing', 'failed')),
  -- While advancing (and after): where the advance goes, what it has done, why it stopped.
  target_time timestamptz null,
  jobs_run bigint not null default 0,
  last_error text null,
  version bigint not null check (version >= 1),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (clock_id),
  unique (tenant_id)
);

-- The jobs of a test-clock tenant. A tenant-wide table whose rows point at the account
-- (ARCHITECTURE rule 12): the advance takes one row at a time, never rows of many accounts.
-- seq orders jobs due at the same instant by when they were scheduled: the advance is
-- deterministic (same input, same order).
create table test_clock_job (
  tenant_id uuid not null references tenant (tenant_id),
  clock_id uuid not null references test_clock (clock_id),
  kind text not null,
  job_key text not null,
  account_id uuid null,
  run_at timestamptz not null,
  seq bigserial not null,
  payload jsonb not null,
  primary key (clock_id, kind, job_key)
);
create index test_clock_job_due on test_clock_job (clock_id, run_at, seq);

alter table test_clock enable row level security;
create policy tenant_isolation on test_clock using (tenant_id = tenure_current_tenant())
  with check (tenant_id = tenure_current_tenant());
alter table test_clock_job enable row level security;
create policy tenant_isolation on test_clock_job using (tenant_id = tenure_current_tenant())
  with check (tenant_id = tenure_current_tenant());
grant select, insert, update on test_clock to tenure_app;
grant select, insert, update, delete on test_clock_job to tenure_app;
grant usage on sequence test_clock_job_seq_seq to tenure_app;

-- Every process keeps the test clocks' times in memory (src/clocks/tenant-clocks.ts): a
-- command of a test-clock tenant reads its time with no round trip. Each change is told here.
create function tenure_test_clock_notify() returns trigger
language plpgsql
as $$
begin
  perform pg_notify('tenure_test_clock', json_build_object('tenantId', new.tenant_id, 'frozenTime', new.frozen_time)::text);
  return null;
end
$$;
create trigger test_clock_notify after insert or update of frozen_time on test_clock
  for each row execute function tenure_test_clock_notify();

-- Schedules a job of the current tenant in the caller's transaction. The key names the job
-- within its kind: scheduling the same (kind, key) again moves it (a renewal moves the expiry)
-- instead of adding a second one. Security definer: the application role may not write
-- graphile-worker's tables, only schedule through this function. The tenant's flag
-- (`tenant:<id>`) lets the clocks tell whether a tenant has real-time jobs pending.
create function tenure_schedule_job(p_kind text, p_key text, p_account_id uuid, p_run_at timestamptz, p_payload jsonb)
returns void
language plpgsql security definer set search_path = public, pg_temp
as $$
declare
  v_tenant uuid := tenure_current_tenant();
  v_clock uuid;
  v_payload jsonb;
begin
  if v_tenant is null then
    raise exception 'tenure_schedule_job needs a tenant transaction';
  end if;
  v_payload := p_payload || jsonb_build_object('tenantId', v_tenant, 'accountId', p_account_id, 'key', p_key, 'runAt', p_run_at);
  select clock_id into v_clock from test_clock where tenant_id = v_tenant;
  if v_clock is null then
    perform graphile_worker.add_job(p_kind, v_payload::json, run_at => p_run_at,
      job_key => p_kind || ':' || v_tenant || ':' || p_key, max_attempts => 10,
      flags => array['tenant:' || v_tenant]);
  else
    insert into test_clock_job (tenant_id, clock_id, kind, job_key, account_id, run_at, payload)
    values (v_tenant, v_clock, p_kind, p_key, p_account_id, p_run_at, v_payload)
    on conflict (clock_id, kind, job_key) do update
      set run_at = excluded.run_at, payload = excluded.payload, seq = nextval('test_clock_job_seq_seq');
  end if;
end
$$;
revoke all on function tenure_schedule_job(text, text, uuid, timestamptz, jsonb) from public;
grant execute on function tenure_schedule_job(text, text, uuid, timestamptz, jsonb) to tenure_app;

-- Whether the current tenant has real-time jobs pending: a tenant is put on a test clock only
-- when it has none, so that no job of a test-clock tenant ever fires on real time.
create function tenure_tenant_has_realtime_jobs() returns boolean
language plpgsql stable security definer set search_path = public, pg_temp
as $$
begin
  return exists (select 1 from graphile_worker.jobs where flags ? ('tenant:' || tenure_current_tenant()));
end
$$;
revoke all on function tenure_tenant_has_realtime_jobs() from public;
grant execute on function tenure_tenant_has_realtime_jobs() to tenure_app;

-- The advance of a test clock runs as a real-time job (it is what moves the clock), one at a
-- time per clock: its key and its queue are the clock's.
create function tenure_schedule_clock_advance(p_clock_id uuid, p_run_at timestamptz) returns void
language plpgsql security definer set search_path = public, pg_temp
as $$
begin
  if not exists (select 1 from test_clock where clock_id = p_clock_id and tenant_id = tenure_current_tenant()) then
    raise exception 'test clock % is not a clock of the current tenant', p_clock_id;
  end if;
  perform graphile_worker.add_job('test-clock.advance',
    json_build_object('tenantId', tenure_current_tenant(), 'clockId', p_clock_id, 'key', p_clock_id, 'runAt', p_run_at),
    queue_name => 'test-clock:' || p_clock_id, job_key => 'test-clock.advance:' || p_clock_id, max_attempts => 10);
end
$$;
revoke all on function tenure_schedule_clock_advance(uuid, timestamptz) from public;
grant execute on function tenure_schedule_clock_advance(uuid, timestamptz) to tenure_app;
