-- 0008: the market segment an account buys in (issue 8): an offering of another segment is not
-- sold to it. Null: not set, any offering may be sold (accounts opened before this migration).
alter table account add column segment text null check (segment in ('residential', 'business', 'enterprise'));
