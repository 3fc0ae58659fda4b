/**
 * The one pipeline of a versioned quote change (ARCHITECTURE.md rule 3): load → expected
 * version → expiry → state transition → the change → optimistic persist → outbox event →
 * audit. Each command (reprice, accept, convert, cancel) gives only its change.
 */
import { appendToOutbox, buildEvent } from '../events/index.ts';
import { recordAudit } from '../platform/audit.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { ConcurrentModificationError, IllegalTransitionError, NotFoundError } from '../platform/errors.ts';
import { quoteTransition, EXPIRABLE_STATES, type Quote, type QuoteCommand } from './model.ts';
import * as store from './store.ts';

/** Time ran out on the quote before the command: the command is refused, the expiry recorded. */
export interface QuoteExpiry {
  expired: true;
  quoteId: string;
  expiresAt: string;
}

export function isExpiry<T extends object>(outcome: T | QuoteExpiry): outcome is QuoteExpiry {
  return 'expired' in outcome && outcome.expired === true;
}

/**
 * Runs `change` on a working copy of the quote (it sets the fields it changes and returns its
 * event type) and persists it with the command's state transition and a new version. A quote
 * past its expiry is marked EXPIRED (with its event) instead — except by a cancellation — and
 * the expiry returned: committing it or not is the caller's transaction's choice.
 */
export async function changeQuoteInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  target: { quoteId: string; command: QuoteCommand; expectedVersion: number },
  change: (quote: Quote) => Promise<string>,
): Promise<Quote | QuoteExpiry> {
  const { quoteId, command, expectedVersion } = target;
  const current = await store.findQuote(tx, quoteId);
  if (!current) throw NotFoundError.of('quote', quoteId);
  if (current.version !== expectedVersion) throw new ConcurrentModificationError('quote', quoteId, expectedVersion, current.version);
  if (EXPIRABLE_STATES.includes(current.status) && now >= current.expiresAt && command !== 'cancellation:apply') {
    // Recorded even though the command is refused: the expiry is a fact, not a change.
    await store.markExpired(tx, current.accountId, quoteId, now, EXPIRABLE_STATES);
    await quoteEvent(tx, ctx, { ...current, status: 'EXPIRED', version: current.version + 1 }, 'QuoteExpired', now);
    return { expired: true, quoteId, expiresAt: current.expiresAt };
  }
  const verdict = quoteTransition(current.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('quote', quoteId, current.status, command, verdict.allowed);
  const next: Quote = structuredClone(current);
  const eventType = await change(next);
  next.status = verdict.to;
  next.version = current.version + 1;
  next.updatedAt = now;
  if (!(await store.updateQuote(tx, next, expectedVersion))) throw new ConcurrentModificationError('quote', quoteId, expectedVersion, null);
  await quoteEvent(tx, ctx, next, eventType, now);
  await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: `quote.${command.split(':')[0]}`, targetType: 'quote', targetId: quoteId, subjectAccountId: next.accountId });
  return next;
}

export async function quoteEvent(tx: Tx, ctx: CommandContext, quote: Quote, eventType: string, now: string): Promise<void> {
  await appendToOutbox(tx, ctx.tenantId, buildEvent({
    eventType,
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: null,
    accountId: quote.accountId,
    aggregateType: 'quote',
    aggregateId: quote.quoteId,
    aggregateVersion: quote.version,
    body: {
      quoteId: quote.quoteId,
      status: quote.status,
      version: quote.version,
      currency: quote.currency,
      grandTotalMinor: quote.price?.totals.grandTotalMinor ?? null,
      snapshotId: quote.snapshot.snapshotId,
    },
  }));
}
