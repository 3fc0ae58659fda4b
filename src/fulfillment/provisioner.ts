/**
 * The provisioner contract (seed 003 B1): every external system is reached through a
 * provisioner registered by code. The orchestrator calls `provision` for a task and gets a
 * typed result back; it never calls an external system itself.
 */
import type { ItemToProvision } from './outcomes.ts';

/**
 * What a provisioner is asked to do: one fulfillment task, for an order item (what the item
 * says, ItemToProvision: action, productInstanceId, parameters).
 */
export interface ProvisioningTask extends ItemToProvision {
  taskId: string;
  /**
   * Stable across retries and replays of the same task: an external system that has seen it
   * must not provision again (seed 002's already-provisioned guard).
   */
  idempotencyKey: string;
  /** Carried on every external call. */
  correlationId: string;
  tenantId: string;
  accountId: string;
  orderId: string;
  orderItemId: string;
  /** reserve | configure | activate | modify | suspend | resume | move | deactivate | release | renew */
  step: string;
  /** The service or resource specification the task is for (code and id), if any. */
  specification: { kind: 'service' | 'resource' | 'product'; id: string; version: number; code: string } | null;
  attempt: number;
}

export type ProvisioningResult =
  | { outcome: 'done'; externalId?: string | null; data?: Record<string, unknown> }
  | { outcome: 'failed'; code: string; message: string; retryable: boolean }
  /** The external system will call back (the completion endpoint) when it is done. */
  | { outcome: 'waiting'; externalId?: string | null; message?: string };

export interface Provisioner {
  /** Non-empty, unique among registered provisioners; the configuration names it. */
  code(): string;
  provision(task: ProvisioningTask): Promise<ProvisioningResult>;
  /** Undo a done task that is not past the point of no return (amendment). Optional. */
  compensate?(task: ProvisioningTask): Promise<ProvisioningResult>;
  /**
   * The longest one call can take before the provisioner answers (it enforces this itself,
   * as the HTTP provisioner does); 0 for one that answers at once, without waiting for
   * anything outside the process: its tasks are then run inside their order's transaction,
   * which holds the order's lock during the call (decision 0019). Workers size the default
   * lease from it. A provisioner that does not say is assumed to take up to
   * UNDECLARED_TIMEOUT_MS.
   */
  readonly timeoutMs?: number;
}

export const UNDECLARED_TIMEOUT_MS = 60_000;

export class ProvisionerRegistryError extends Error {}

/**
 * The registry refuses, at start-up, anything that breaks the contract: not an object with
 * `code()` and `provision()`, an empty code, or a code registered twice (seed 003 B1 guardrails).
 */
export class ProvisionerRegistry {
  private readonly byCode = new Map<string, Provisioner>();

  constructor(provisioners: readonly unknown[]) {
    provisioners.forEach((candidate, index) => {
      const p = candidate as Partial<Provisioner> | null;
      if (!p || typeof p !== 'object' || typeof p.code !== 'function' || typeof p.provision !== 'function') {
        throw new ProvisionerRegistryError(`provisioner #${index + 1} does not implement the Provisioner contract (code() and provision(task))`);
      }
      const code = p.code();
      if (typeof code !== 'string' || code.trim() === '') throw new ProvisionerRegistryError(`provisioner #${index + 1} has an empty code()`);
      if (this.byCode.has(code)) throw new ProvisionerRegistryError(`provisioner code "${code}" is registered twice`);
      this.byCode.set(code, p as Provisioner);
    });
  }

  get(code: string): Provisioner {
    const provisioner = this.byCode.get(code);
    if (!provisioner) throw new ProvisionerRegistryError(`no provisioner registered with code "${code}"`);
    return provisioner;
  }

  has(code: string): boolean {
    return this.byCode.has(code);
  }

  codes(): string[] {
    return [...this.byCode.keys()];
  }

  /**
   * The provisioners that declare they answer at once (timeoutMs 0): their tasks run inside
   * their order's transaction, with their start and outcome (decision 0019).
   */
  instantCodes(): string[] {
    return [...this.byCode.entries()].filter(([, p]) => p.timeoutMs === 0).map(([code]) => code);
  }

  /** The longest call any registered provisioner may take (see Provisioner.timeoutMs). */
  longestTimeoutMs(): number {
    const declared = (p: Provisioner) => (typeof p.timeoutMs === 'number' && Number.isFinite(p.timeoutMs) && p.timeoutMs >= 0 ? p.timeoutMs : UNDECLARED_TIMEOUT_MS);
    return Math.max(0, ...[...this.byCode.values()].map(declared));
  }
}
