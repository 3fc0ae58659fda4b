-- 0013: a held order's hold is on its tasks (decision 0015). The claim skips held tasks
-- without reading product_order, a table of orders; orders sets the flag on every task of
-- the order whenever the order enters or leaves `held`, in the same transaction.

alter table fulfillment_task add column held boolean not null default false;

-- Orders held now keep their tasks waiting.
update fulfillment_task t set held = true
  from product_order o
 where o.account_id = t.account_id and o.order_id = t.order_id and o.status = 'held';

-- What workers look for: tasks due to run, not held.
drop index fulfillment_task_due;
create index fulfillment_task_due on fulfillment_task (next_run_at) where status = 'pending' and not held;
