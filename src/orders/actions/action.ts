/**
 * What an order action is: one module per action in this folder (the registry is index.ts),
 * holding everything that differs by action — the item's own fields, how it begins at
 * submission, the fulfillment steps it needs, how it applies when they are done, how it fails,
 * and how it is withdrawn or taken again on a re-run. The submission pipeline (orders/submit.ts)
 * and the item lifecycle (orders/lifecycle.ts) call these and never ask which action an item is.
 */
import { findCatalogDocuments } from '../../catalog/index.ts';
import type { Account } from '../../customers/index.ts';
import type { StepPlan, TaskOutcome } from '../../fulfillment/index.ts';
import { productInstanceInTx, type assetVersionsInTx, type FulfilledService, type InventoryService, type ProductInstance, type ProductInstanceCommand } from '../../inventory/index.ts';
import type { CommandContext, JsonObject } from '../../platform/context.ts';
import type { Tx } from '../../platform/db.ts';
import type { FieldError } from '../../platform/errors.ts';
import { NotFoundError } from '../../platform/errors.ts';
import type { PricedLine } from '../../pricing/index.ts';
import type { BasketLine, PricedBasketLine } from '../../quotes/index.ts';
import type { OrderItemInput } from '../model.ts';
import type { OrderItemRecord, OrderRecord } from '../store.ts';

export interface OrderActionModule {
  /**
   * The product instance the item changes, or null for an action that makes a new one. Its
   * `command` is the installed-base command whose state rule the target must satisfy at
   * submission and on a re-run (null: any state but ended); with `cascade`, a base product's
   * add-ons in a state that `follows` accepts get items of the same action, changed before or
   * after their base.
   */
  readonly target: null | {
    command: ProductInstanceCommand | null;
    cascade?: { follows: (status: string) => boolean; addOns: 'before' | 'after' };
  };
  /** The item may give a requestedTerminationDate: its tasks wait for that date. */
  readonly scheduled?: boolean;
  /** The fulfillment steps the item needs, planned on its offering's specification tree (fulfillment/decompose.ts). */
  readonly steps: StepPlan;

  // ---- at submission (orders/submit.ts), in the order's transaction, before anything is held

  /** The item's own fields: what it must give and must not (field paths relative to the item). */
  validate?(item: OrderItemInput, now: string): FieldError[];
  /** Checks of the target beyond its state; throws a ValidationError with fields relative to the item. */
  checkTarget?(item: DraftItem, s: Submission): Promise<void>;
  /**
   * How the item is priced, as a line of the basket (quotes/basket.ts checks it can be sold,
   * fits the add-on rules and is configured, and prices it): a sale of an offering, a
   * replacement of the target by one, or a change of the target's configuration. Without
   * this hook the item is not priced.
   */
  basketLine?(item: OrderItemInput): Pick<BasketLine, 'offeringId' | 'offeringVersion'> & { action: 'ADD' | 'REPLACE' | 'MODIFY' };

  // ---- once every check passed and every target's guard is held

  /** What the item holds or creates in the installed base beyond its target's guard. */
  begin?(item: DraftItem, s: Submission, inventory: InventoryService): Promise<void>;
  /**
   * Instead of `begin`: begins every item of the order with this action at once (every add-on
   * after the item it is an add-on of), so that what they create is written in as few
   * statements as the installed base allows, whatever the number of items.
   */
  beginAll?(items: readonly DraftItem[], s: Submission, inventory: InventoryService): Promise<void>;
  /** What the recorded item keeps beyond its input: the offering it sells, details of its own. */
  recorded?(item: DraftItem): { offeringId?: string; offeringVersion?: number; details?: Record<string, unknown> };

  // ---- while it is fulfilled (orders/lifecycle.ts)

  /**
   * Every task is done: the change goes into the installed base. Returns the product instance the
   * item leaves. A module gives this or `applyTo`.
   */
  apply?(env: ItemEnv, target: ProductInstance, tasks: readonly TaskOutcome[]): Promise<string>;
  /**
   * `apply` for an item whose inventory command reads the product itself (ADD: the instance it
   * created, which the item's guard has kept as it was): given the product's id, not a read of it.
   */
  applyTo?(env: ItemEnv, productInstanceId: string, tasks: readonly TaskOutcome[]): Promise<string>;
  /** A task failed for good: the assets go to their documented state (the item's holds are released after). */
  fail?(env: ItemEnv, product: ProductInstance, problem: { code: string; message: string }): Promise<void>;
  /** An amendment or cancellation takes the item back (the item's holds are released after). */
  withdraw?(env: ItemEnv, product: ProductInstance): Promise<void>;
  /** A failed item is re-run. Without this hook it takes its target's guard again, as at submission. */
  retake?(env: ItemEnv, product: ProductInstance): Promise<void>;
}

/** The account's product instances with their versions and relationships, as submission reads them. */
export type InstalledVersions = Awaited<ReturnType<typeof assetVersionsInTx>>;

/** An order being submitted: what the pipeline's steps share. */
export interface Submission {
  readonly tx: Tx;
  readonly ctx: CommandContext;
  readonly now: string;
  readonly account: Account;
  readonly orderId: string;
  /** Read again after a supplemental order withdrew the items it amends. */
  assets: InstalledVersions;
  /** The items, cascaded ones appended. */
  readonly items: DraftItem[];
  /** Priced here, or by the order's quote. */
  priced: boolean;
}

/** An item of an order being submitted: its input (a copy) and what the steps found for it. */
export interface DraftItem {
  /** 1-based, as items refer to each other. */
  readonly number: number;
  readonly itemId: string;
  readonly input: OrderItemInput;
  readonly module: OrderActionModule;
  /** The number of the item on the base product whose add-on this item follows. */
  cascadedFrom?: number;
  /** The item of the amended order that held this item's target. */
  amends?: { orderId: string; itemId: string };
  /** What the basket found for the item: the offering, specification and configuration, a change of the target. */
  basket?: PricedBasketLine;
  /** The item's price lines (this order's, or its quote's). */
  priceLines: PricedLine[];
  /** The product instance the item created. */
  createdInstanceId?: string;
  /** The subscription the item's product belongs to (an add-on joins its parent's). */
  subscriptionId?: string | null;
}

/** What a lifecycle hook works with, inside the caller's transaction. */
export interface ItemEnv {
  readonly tx: Tx;
  readonly ctx: CommandContext;
  readonly now: string;
  readonly inventory: InventoryService;
  readonly order: OrderRecord;
  readonly item: OrderItemRecord;
  /** What every inventory command records as its cause. */
  readonly cause: { orderId: string; orderItemId: string; correlationId: string | null };
  /** The item's details, as submission recorded them. */
  readonly details: Record<string, any>;
}

/** The one price snapshot shape, {currency, lines} (docs/installed-base.md), also when nothing was priced. */
export function priceSnapshotOf(item: DraftItem, s: Submission): JsonObject {
  return { currency: s.account.currency, lines: item.priceLines } as unknown as JsonObject;
}

export async function currentProduct(tx: Tx, id: string): Promise<ProductInstance> {
  const product = await productInstanceInTx(tx, id);
  if (!product) throw NotFoundError.of('product instance', id);
  return product;
}

/**
 * What fulfillment set up for an item: each configure task is a service (its result the
 * technical parameters, its external id the service's), with the resources its reserve tasks
 * returned, named as the catalog names them: a service by its specification's name, a
 * resource by its specification's resource type (as the demo and the internal routes record them).
 */
export async function servicesFromTasks(tx: Tx, tenantId: string, tasks: readonly TaskOutcome[]): Promise<FulfilledService[]> {
  const configures = tasks.filter((t) => t.step === 'configure' && t.specification);
  const reservesOf = (configured: TaskOutcome) => tasks.filter((t) => t.step === 'reserve' && t.specification && configured.dependsOn.includes(t.taskId));
  // The specifications' documents: published ones from the process's catalog documents, no statement once known.
  const serviceDocs = await findCatalogDocuments(tx, tenantId, 'service_specification', configures.map((t) => ({ id: t.specification!.id, version: t.specification!.version })));
  const resourceDocs = await findCatalogDocuments(tx, tenantId, 'resource_specification', configures.flatMap(reservesOf).map((t) => ({ id: t.specification!.id, version: t.specification!.version })));
  const services: FulfilledService[] = [];
  for (const configured of configures) {
    const spec = configured.specification!;
    const service = serviceDocs.get(`${spec.id}@${spec.version}`);
    const resources: FulfilledService['resources'] = [];
    for (const reserved of reservesOf(configured)) {
      const resource = resourceDocs.get(`${reserved.specification!.id}@${reserved.specification!.version}`);
      resources.push({
        resourceType: resource?.resourceType ?? reserved.specification!.code,
        resourceId: reserved.externalId,
        externalResourceId: reserved.externalId,
        attributes: (reserved.result ?? {}) as JsonObject,
      });
    }
    services.push({
      serviceSpecificationId: spec.id,
      serviceSpecificationVersion: spec.version,
      name: service?.name ?? spec.code,
      externalServiceId: configured.externalId,
      technicalParameters: (configured.result ?? {}) as JsonObject,
      resources,
    });
  }
  return services;
}
