-- 0016: an account's billing cycle day (issue 12, docs/billing.md): the day of the month, 1–31,
-- on which its monthly and quarterly charges are billed, in its time zone (time_zone, since
-- 0001; a BCD of 31 falls on a shorter month's last day). Accounts opened before this migration,
-- and accounts opened without one, get 1: calendar months (docs/decisions/0022). A constant
-- default adds the column without rewriting the table.
alter table account
  add column billing_cycle_day smallint not null default 1
    constraint account_billing_cycle_day_range check (billing_cycle_day between 1 and 31);
