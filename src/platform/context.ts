/** Kernel types every part shares: JSON values, and who is doing a command and why. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The roles an API key can have (access decides what each may do). */
export const ROLES = ['admin', 'operator', 'viewer', 'integration'] as const;
export type Role = (typeof ROLES)[number];

/** Who presented a request's API key: its tenant, the key and its role. */
export interface Principal {
  tenantId: string;
  apiKeyId: string;
  role: Role;
}

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
