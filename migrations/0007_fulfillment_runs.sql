-- 0007: running fulfillment. Compensation tasks (an amendment undoes done work that is not
-- past the point of no return), the order item's operation guards found by item, and the
-- workers' view of what is ready.

alter table fulfillment_task
  add column kind text not null default 'provision' check (kind in ('provision', 'compensation')),
  -- A compensation task undoes this task of the same order.
  add column compensates_task_id uuid null,
  add foreign key (account_id, compensates_task_id) references fulfillment_task (account_id, task_id),
  add check ((kind = 'compensation') = (compensates_task_id is not null));
-- One compensation per task: an amendment replayed does not undo twice.
create unique index fulfillment_task_one_compensation on fulfillment_task (account_id, compensates_task_id) where compensates_task_id is not null;
create index fulfillment_task_item on fulfillment_task (account_id, item_id);

-- Ending an order item's operations (failure, cancellation) finds its guards by item.
create index asset_operation_guard_item on asset_operation_guard (account_id, order_item_id) where status in ('ACTIVE', 'PENDING_RELEASE');

-- The lifecycle history in the order it was written, also when several changes share an instant.
alter table order_state_change add column seq bigint generated always as identity;
