-- 0008: an operation guard's type is one of the order actions (issue 8, point 5). The API
-- accepted any string as `operationType` before, so a guard "of type FOO" could be taken.
-- NOT VALID: a database that already holds such a guard still migrates (its history stays as
-- recorded); every guard inserted or updated from now on is checked.
alter table asset_operation_guard add constraint asset_operation_guard_operation_type
  check (operation_type in ('ADD', 'MODIFY', 'DISCONNECT', 'SUSPEND', 'RESUME', 'MOVE', 'REPLACE', 'RENEW')) not valid;
