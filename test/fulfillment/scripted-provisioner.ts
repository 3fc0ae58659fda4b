/**
 * A real provisioner for tests: an in-memory "external system" that provisions each
 * idempotency key at most once (seed 002's already-provisioned guard) and answers as the
 * test script says. It counts every call, so tests can prove "provisioned exactly once".
 */
import type { Provisioner, ProvisioningResult, ProvisioningTask } from '../../src/fulfillment/provisioner.ts';

export type Script = (task: ProvisioningTask, callNumber: number) => ProvisioningResult | undefined;

export class ScriptedProvisioner implements Provisioner {
  /** Every call, in order. */
  readonly calls: ProvisioningTask[] = [];
  readonly compensations: ProvisioningTask[] = [];
  /** Keys whose work was actually done (once each), with the external id given. */
  readonly provisioned = new Map<string, string>();
  script: Script = () => undefined;

  constructor(private readonly codeValue = 'scripted') {}

  code(): string {
    return this.codeValue;
  }

  async provision(task: ProvisioningTask): Promise<ProvisioningResult> {
    this.calls.push(task);
    const scripted = this.script(task, this.calls.filter((c) => c.taskId === task.taskId).length);
    if (scripted) return scripted;
    const existing = this.provisioned.get(task.idempotencyKey);
    if (existing) return { outcome: 'done', externalId: existing };
    const externalId = `ext-${task.step}-${this.provisioned.size + 1}`;
    this.provisioned.set(task.idempotencyKey, externalId);
    return { outcome: 'done', externalId, data: { step: task.step } };
  }

  async compensate(task: ProvisioningTask): Promise<ProvisioningResult> {
    this.compensations.push(task);
    this.provisioned.delete(task.idempotencyKey);
    return { outcome: 'done', externalId: null };
  }

  /** How many times each key's work was done; every value is 1 when nothing was done twice. */
  callsPerTask(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const c of this.calls) counts.set(c.taskId, (counts.get(c.taskId) ?? 0) + 1);
    return counts;
  }
}
