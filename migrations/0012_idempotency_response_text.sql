-- The stored response of an Idempotency-Key as the exact JSON text it is replayed from: jsonb
-- (response_body) reorders object keys, and a replay must be the first response byte for byte.
-- Rows written before this migration keep response_body; new rows fill response_text.
alter table idempotency_key add column response_text text null;
