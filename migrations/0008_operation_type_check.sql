-- 0008: an operation guard's type is a known one (issue 8, point 5): an order action, or one
-- of the one-shot service/resource commands (inventory/model.ts GUARD_OPERATION_TYPES). The
-- API accepted any string as `operationType` before, so a guard "of type FOO" could be taken.
-- NOT VALID: a database that already holds such a guard still migrates (its history stays as
-- recorded); every guard inserted or updated from now on is checked.
alter table asset_operation_guard add constraint asset_operation_guard_operation_type
  check (operation_type in ('ADD', 'MODIFY', 'DISCONNECT', 'SUSPEND', 'RESUME', 'MOVE', 'REPLACE', 'RENEW',
                            'ATTACH_SERVICE', 'RELEASE_SERVICE', 'ATTACH_RESOURCE', 'RELEASE_RESOURCE')) not valid;
