/** Kernel types every part shares: JSON values, and who is doing a command and why. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Who is doing this and why: carried by every command into history, outbox and audit. */
export interface CommandContext {
  tenantId: string;
  actor: { apiKeyId: string; role: string } | null;
  correlationId: string | null;
  /**
   * The request's Idempotency-Key (POST only), recorded on the order it submits so that
   * `tenure check` can find two orders made by one key.
   */
  idempotencyKey?: string | null;
}
