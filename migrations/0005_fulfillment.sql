-- 0005: fulfillment tasks. Each order item is decomposed into tasks for the service and
-- resource specifications its product specification names (seed 000 §3), with dependencies
-- between them. The table is also the work queue: workers claim ready tasks with
-- FOR UPDATE SKIP LOCKED and a lease, so a worker that dies gives its tasks back.

create table fulfillment_task (
  tenant_id uuid not null references tenant (tenant_id),
  account_id uuid not null,
  task_id uuid not null,
  order_id uuid not null,
  item_id uuid not null,
  task_number integer not null check (task_number >= 1),
  step text not null,
  spec_kind text null check (spec_kind in ('product', 'service', 'resource')),
  spec_id uuid null,
  spec_version integer null,
  spec_code text null,
  provisioner_code text not null,
  status text not null check (status in ('pending', 'running', 'waiting', 'done', 'failed', 'cancelled', 'compensated')),
  depends_on uuid[] not null default '{}',
  -- Past the point of no return once started: an amendment that would affect it is refused.
  point_of_no_return boolean not null,
  -- Stable across retries and replays: the external system's already-provisioned guard.
  idempotency_key text not null,
  correlation_id text not null,
  attempts integer not null default 0 check (attempts >= 0),
  max_attempts integer not null check (max_attempts >= 1),
  next_run_at timestamptz not null,
  last_error jsonb null,
  external_id text null,
  result jsonb null,
  locked_by text null,
  locked_until timestamptz null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  started_at timestamptz null,
  finished_at timestamptz null,
  primary key (account_id, task_id),
  unique (account_id, order_id, task_number),
  unique (account_id, idempotency_key),
  foreign key (account_id, order_id, item_id) references order_item (account_id, order_id, item_id)
);
create index fulfillment_task_by_id on fulfillment_task (task_id);
create index fulfillment_task_order on fulfillment_task (account_id, order_id, task_number);
-- What workers look for: tasks due to run, and running tasks whose lease ran out.
create index fulfillment_task_due on fulfillment_task (next_run_at) where status = 'pending';
create index fulfillment_task_leased on fulfillment_task (locked_until) where status = 'running';

alter table fulfillment_task enable row level security;
create policy tenant_isolation on fulfillment_task using (tenant_id = tenure_current_tenant()) with check (tenant_id = tenure_current_tenant());
grant select, insert, update on fulfillment_task to tenure_app;
