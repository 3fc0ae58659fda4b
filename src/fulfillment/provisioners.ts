/**
 * The provisioners Tenure ships, and the registry built from configuration at start-up.
 *
 * TENURE_PROVISIONERS is a JSON array; each entry is either an HTTP provisioner
 *   { "type": "http", "code": "noc", "url": "https://noc.example/provision",
 *     "secretEnv": "NOC_SECRET", "timeoutMs": 10000, "compensateUrl": "…" }
 * or your own module
 *   { "module": "./provisioners/my-noc.js", "export": "default", "options": { … } }
 * whose export is a provisioner object or a function (options) => provisioner.
 * `manual` and `internal` are always registered. Anything that breaks the contract (no
 * code(), no provision(), an empty or repeated code) or a routing that names an unknown
 * code refuses the start: the process prints why and exits non-zero.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '../platform/config.ts';
import type { Routing } from './decompose.ts';
import { HttpProvisioner } from './http-provisioner.ts';
import { ProvisionerRegistry, ProvisionerRegistryError, type Provisioner, type ProvisioningResult } from './provisioner.ts';

/**
 * Waits for a person or an outside system: every task it gets is `waiting` until someone
 * posts its result to POST /fulfillment/tasks/{taskId}/result.
 */
export class ManualProvisioner implements Provisioner {
  readonly timeoutMs = 0;
  code(): string {
    return 'manual';
  }
  async provision(): Promise<ProvisioningResult> {
    return { outcome: 'waiting', message: 'waiting for an operator to post the result' };
  }
  async compensate(): Promise<ProvisioningResult> {
    return { outcome: 'waiting', message: 'waiting for an operator to confirm the work was undone' };
  }
}

/** Work with nothing to do outside Tenure (a renewal is commercial only): done at once. */
export class InternalProvisioner implements Provisioner {
  readonly timeoutMs = 0;
  code(): string {
    return 'internal';
  }
  async provision(): Promise<ProvisioningResult> {
    return { outcome: 'done', externalId: null };
  }
  async compensate(): Promise<ProvisioningResult> {
    return { outcome: 'done', externalId: null };
  }
}

export interface ProvisionerEntry {
  type?: 'http';
  code?: string;
  url?: string;
  compensateUrl?: string;
  secret?: string;
  secretEnv?: string;
  timeoutMs?: number;
  module?: string;
  export?: string;
  options?: Record<string, unknown>;
}

/** The HTTP provisioners' shared secrets by code, for verifying their callbacks. */
export type CallbackSecrets = Map<string, string>;

export interface LoadedProvisioners {
  registry: ProvisionerRegistry;
  callbackSecrets: CallbackSecrets;
}

/** Builds the registry from TENURE_PROVISIONERS (plus the built-ins) and checks the routing against it. */
export async function loadProvisioners(config: Pick<Config, 'fulfillment' | 'variable'>, routing: Routing, extra: readonly unknown[] = []): Promise<LoadedProvisioners> {
  let entries: ProvisionerEntry[] = [];
  if (config.fulfillment.provisionersJson) {
    try {
      entries = JSON.parse(config.fulfillment.provisionersJson);
    } catch (error) {
      throw new ProvisionerRegistryError(`TENURE_PROVISIONERS is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(entries)) throw new ProvisionerRegistryError('TENURE_PROVISIONERS must be a JSON array of provisioner entries');
  }
  const provisioners: unknown[] = [new ManualProvisioner(), new InternalProvisioner(), ...extra];
  const callbackSecrets: CallbackSecrets = new Map();
  for (const [index, entry] of entries.entries()) {
    const where = `TENURE_PROVISIONERS[${index}]`;
    if (entry.module) {
      const url = pathToFileURL(path.resolve(entry.module)).href;
      let loaded: Record<string, unknown>;
      try {
        loaded = await import(url);
      } catch (error) {
        throw new ProvisionerRegistryError(`${where}: cannot load module ${entry.module}: ${(error as Error).message}`);
      }
      const exported = loaded[entry.export ?? 'default'];
      if (exported === undefined) throw new ProvisionerRegistryError(`${where}: module ${entry.module} has no export "${entry.export ?? 'default'}"`);
      provisioners.push(await instantiate(exported, entry.options ?? {}));
    } else if (entry.type === 'http') {
      const secret = entry.secretEnv ? config.variable(entry.secretEnv) : entry.secret;
      if (!entry.code || !entry.url || !secret) {
        throw new ProvisionerRegistryError(`${where}: an http provisioner needs code, url and secret (or secretEnv naming a set variable)`);
      }
      provisioners.push(new HttpProvisioner({ code: entry.code, url: entry.url, compensateUrl: entry.compensateUrl, secret, timeoutMs: entry.timeoutMs }));
      callbackSecrets.set(entry.code, secret);
    } else {
      throw new ProvisionerRegistryError(`${where}: give either "module" or "type": "http"`);
    }
  }
  const registry = new ProvisionerRegistry(provisioners);
  const routed = new Set([routing.defaultProvisioner, ...Object.values(routing.byStep ?? {}), ...Object.values(routing.bySpecCode ?? {})]);
  for (const code of routed) {
    if (!registry.has(code)) throw new ProvisionerRegistryError(`the fulfillment routing names provisioner "${code}", which is not registered (registered: ${registry.codes().join(', ')})`);
  }
  return { registry, callbackSecrets };
}

/** A provisioner object as is; a class is constructed and a factory called with the entry's options. */
async function instantiate(exported: unknown, options: Record<string, unknown>): Promise<unknown> {
  if (typeof exported !== 'function') return exported;
  if (exported.prototype && typeof exported.prototype.provision === 'function') return new (exported as new (o: unknown) => unknown)(options);
  return (exported as (o: unknown) => unknown)(options);
}
