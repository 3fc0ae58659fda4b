/**
 * Realistic ISP catalog data for the pure pricing tests (amounts in IDR minor units:
 * "35000000" = Rp 350.000,00). No database.
 */
import type { Characteristic, Charge, ProductOfferingBody, ProductSpecificationBody } from '../../src/catalog/model.ts';
import type { PriceRule, PricingContext, PricingItem } from '../../src/pricing/types.ts';

export const OFFERING = {
  fiber: '0b6f8a52-0001-4000-8000-000000000001',
  prepaid: '0b6f8a52-0001-4000-8000-000000000002',
  voip: '0b6f8a52-0001-4000-8000-000000000003',
  iptv: '0b6f8a52-0001-4000-8000-000000000004',
  bundle: '0b6f8a52-0001-4000-8000-000000000005',
  business: '0b6f8a52-0001-4000-8000-000000000006',
  hotspot: '0b6f8a52-0001-4000-8000-000000000007',
} as const;

export function characteristic(partial: Partial<Characteristic> & Pick<Characteristic, 'name' | 'valueType'>): Characteristic {
  return { configurable: true, minCardinality: 0, maxCardinality: 1, ...partial };
}

/** Home fibre: bandwidth by enum, static IPs per unit, a router (rented) and a fixed technology. */
export const fiberSpec: ProductSpecificationBody = {
  code: 'fiber-home',
  name: 'Home fibre internet',
  characteristics: [
    characteristic({ name: 'bandwidthMbps', valueType: 'enum', values: ['100', '300', '1000'], default: '100', unit: 'Mbit/s', minCardinality: 1 }),
    characteristic({ name: 'staticIps', valueType: 'integer', min: '0', max: '8', default: 0 }),
    characteristic({ name: 'rentRouter', valueType: 'boolean', default: true }),
    characteristic({ name: 'technology', valueType: 'enum', values: ['gpon', 'xgspon'], default: 'gpon', configurable: false }),
    characteristic({ name: 'installNotes', valueType: 'string', maxLength: 40 }),
  ],
  serviceSpecifications: [],
};

export function offering(code: string, charges: Charge[], extra: Partial<ProductOfferingBody> = {}): ProductOfferingBody {
  return {
    code,
    name: code.replace(/-/g, ' '),
    category: 'internet',
    segment: 'residential',
    availabilityZones: [],
    sellable: true,
    priceLists: [{ currency: 'IDR', charges }],
    addOns: [],
    ...extra,
  };
}

export const fiberCharges: Charge[] = [
  { kind: 'recurring', code: 'monthly-100', name: 'Internet 100 Mbit/s', amountMinor: '35000000', period: 'month', condition: { characteristic: 'bandwidthMbps', equals: '100' } },
  { kind: 'recurring', code: 'monthly-300', name: 'Internet 300 Mbit/s', amountMinor: '50000000', period: 'month', condition: { characteristic: 'bandwidthMbps', equals: 300 } },
  { kind: 'recurring', code: 'monthly-1000', name: 'Internet 1 Gbit/s', amountMinor: '125000000', period: 'month', condition: { characteristic: 'bandwidthMbps', equals: '1000' } },
  { kind: 'recurring', code: 'static-ip', name: 'Static IPv4 address', amountMinor: '5000000', period: 'month', perUnitOf: 'staticIps' },
  { kind: 'one_time', code: 'installation', name: 'Connection fee', amountMinor: '50000000' },
  { kind: 'rental', code: 'router-rental', name: 'Wi-Fi router rental', amountMinor: '3000000', period: 'month', condition: { characteristic: 'rentRouter', equals: true } },
];

export const fiberOffering = offering('fiber-home', fiberCharges, { productSpecification: { id: '0b6f8a52-0000-4000-8000-00000000000a', version: 1 } });

export const voipSpec: ProductSpecificationBody = { code: 'voip-line', name: 'VoIP line', characteristics: [], serviceSpecifications: [] };

export function voipOffering(tierMode: 'graduated' | 'volume'): ProductOfferingBody {
  return offering('voip-line', [
    { kind: 'recurring', code: 'voip-monthly', name: 'VoIP line', amountMinor: '5000000', period: 'month' },
    {
      kind: 'usage',
      code: 'voip-minutes',
      name: 'Outgoing calls',
      unit: 'minute',
      tierMode,
      // Rp 150 a minute after 100 free minutes, Rp 100 a minute from the 1000th.
      tiers: [
        { upTo: '100', unitPrice: '0' },
        { upTo: '1000', unitPrice: '15000' },
        { upTo: null, unitPrice: '10000' },
      ],
    },
  ], { category: 'voice' });
}

export function item(itemId: string, offeringId: string, body: ProductOfferingBody, extra: Partial<PricingItem> = {}): PricingItem {
  return { itemId, offering: { id: offeringId, version: 1, body }, specification: null, configuration: {}, quantity: 1, ...extra };
}

export function fiberItem(itemId = 'line-1', configuration: Record<string, unknown> = {}, extra: Partial<PricingItem> = {}): PricingItem {
  return item(itemId, OFFERING.fiber, fiberOffering, { specification: fiberSpec, configuration, ...extra });
}

export function ctx(extra: Partial<PricingContext> = {}): PricingContext {
  return {
    accountId: 'acc-1',
    currency: 'IDR',
    at: '2025-06-15T08:00:00Z',
    customerSince: null,
    promoCodes: [],
    rules: [],
    rounding: 'HALF_UP',
    ...extra,
  };
}

type RuleInput = Omit<Extract<PriceRule, { source: 'rule' }>, 'source' | 'code' | 'name' | 'stacking' | 'appliesTo'> &
  Partial<Pick<Extract<PriceRule, { source: 'rule' }>, 'code' | 'name' | 'stacking' | 'appliesTo'>>;

export function rule(r: RuleInput): PriceRule {
  return { source: 'rule', code: r.id.toLowerCase(), name: r.id, stacking: 'stack', appliesTo: {}, ...r };
}

type TermInput = Omit<Extract<PriceRule, { source: 'account_term' }>, 'source' | 'type' | 'code' | 'name' | 'stacking' | 'appliesTo' | 'validFrom' | 'priority'> &
  Partial<Pick<Extract<PriceRule, { source: 'account_term' }>, 'code' | 'name' | 'stacking' | 'appliesTo' | 'validFrom' | 'priority'>>;

export function term(t: TermInput): PriceRule {
  return { source: 'account_term', type: 'account_term', code: t.id.toLowerCase(), name: t.id, stacking: 'stack', appliesTo: {}, validFrom: '2024-01-01T00:00:00Z', priority: 0, ...t };
}
