import type { Tx } from '../platform/db.ts';
import { newId } from '../platform/ids.ts';

/**
 * A domain event as written to the outbox: the seed 000 §17.1 payload. A relay publishes
 * it later (at least once); consumers dedupe by eventId.
 */
export interface OutboxEvent {
  eventId: string;
  eventType: string;
  eventVersion: number;
  occurredAt: string;
  correlationId: string | null;
  causationId: string | null;
  accountId: string;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number | null;
  /** Everything else of the payload: ids, versions, status, changeSummary. */
  body: Record<string, unknown>;
}

export function buildEvent(fields: Omit<OutboxEvent, 'eventId' | 'eventVersion'> & { eventVersion?: number }): OutboxEvent {
  return { eventId: newId(), eventVersion: 1, ...fields };
}

export function eventPayload(e: OutboxEvent): Record<string, unknown> {
  return {
    eventId: e.eventId,
    eventType: e.eventType,
    eventVersion: e.eventVersion,
    occurredAt: e.occurredAt,
    correlationId: e.correlationId,
    causationId: e.causationId,
    accountId: e.accountId,
    ...e.body,
  };
}

/** Appends the event in the caller's transaction: no commit, no event; no event, no commit. */
export async function appendToOutbox(tx: Tx, tenantId: string, e: OutboxEvent): Promise<void> {
  await tx.query(
    `insert into outbox_event (tenant_id, account_id, event_id, event_type, event_version, aggregate_type, aggregate_id,
       aggregate_version, payload, occurred_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [tenantId, e.accountId, e.eventId, e.eventType, e.eventVersion, e.aggregateType, e.aggregateId, e.aggregateVersion,
     eventPayload(e), e.occurredAt],
  );
}
