/**
 * The demo tenant's catalog: a small ISP in the spirit of seed 001 (home internet flat-rate and
 * prepaid, VoIP by the minute, IPTV, router rental, a triple-play bundle) and the enterprise
 * products of seed 000 (Business Fiber with Static IP /29, Managed Router and SLA Gold as its
 * add-ons), each with its product, service and resource specifications, plus two price rules.
 * Built through the catalog service like an admin would, so every document is checked and
 * published. Money is IDR in minor units (ISO 4217 gives IDR 2 decimals): "35000000" is
 * Rp 350.000,00.
 */
import type { Services } from '../app.ts';
import type { ProductOfferingBody, ProductSpecificationBody, ResourceSpecificationBody, ServiceSpecificationBody, CatalogKind, CatalogVersion, OfferingVersion, ProductSpecificationVersion } from '../catalog/index.ts';
import type { CommandContext } from '../platform/context.ts';
import type { PriceRuleRecord } from '../pricing/index.ts';

export interface DemoCatalog {
  offerings: Record<string, OfferingVersion>;
  productSpecifications: Record<string, ProductSpecificationVersion>;
  serviceSpecifications: Record<string, CatalogVersion<ServiceSpecificationBody>>;
  resourceSpecifications: Record<string, CatalogVersion<ResourceSpecificationBody>>;
  rules: Record<string, PriceRuleRecord>;
}

type Input<B> = Omit<B, 'characteristics' | 'serviceSpecifications' | 'resourceSpecifications' | 'priceLists' | 'addOns' | 'availabilityZones' | 'sellable'> & Partial<B>;

const rupiah = (amount: number) => String(amount * 100);

/**
 * Loads the demo catalog into the tenant. `idOf(name)` gives each entity a stable id (the demo
 * seed passes a name-based UUID that includes the tenant, so ids survive restarts and two demo
 * tenants in one database do not collide).
 */
export async function loadDemoCatalog(services: Services, ctx: CommandContext, idOf: (name: string) => string): Promise<DemoCatalog> {
  const { catalog, priceRules } = services;
  const published = async <B extends { code: string }>(kind: CatalogKind, body: Input<B>): Promise<CatalogVersion<B>> => {
    const created = await catalog.create(ctx, kind, body, { id: idOf(`${kind}:${body.code}`) });
    return (await catalog.publish(ctx, kind, created.id, 1)) as unknown as CatalogVersion<B>;
  };
  const ref = (v: { id: string; version: number }) => ({ id: v.id, version: v.version });

  // ------------------------------------------------------------------ resources
  const resourceSpecifications: DemoCatalog['resourceSpecifications'] = {};
  for (const [code, name, resourceType, characteristics] of [
    ['ont', 'Optical Network Terminal', 'ONT', [{ name: 'model', valueType: 'string' }, { name: 'serialNumber', valueType: 'string' }]],
    ['port', 'OLT port', 'PORT', []],
    ['vlan', 'Customer VLAN', 'VLAN', [{ name: 'vlanId', valueType: 'integer', min: '1', max: '4094' }]],
    ['ip-block', 'Public IPv4 block', 'IP_BLOCK', [{ name: 'prefixLength', valueType: 'integer', min: '24', max: '32' }]],
    ['router', 'Customer router', 'ROUTER', [{ name: 'serialNumber', valueType: 'string' }]],
    ['phone-number', 'Phone number', 'PHONE_NUMBER', [{ name: 'e164', valueType: 'string', maxLength: 16 }]],
  ] as const) {
    resourceSpecifications[code] = await published<ResourceSpecificationBody>('resource_specification', { code, name, resourceType, characteristics: characteristics as any });
  }
  const res = (code: string) => ref(resourceSpecifications[code]);

  // ------------------------------------------------------------------ services
  const serviceSpecifications: DemoCatalog['serviceSpecifications'] = {};
  for (const [code, name, resources] of [
    ['internet-access', 'Internet Access Service', ['ont', 'port', 'vlan']],
    ['ip-allocation', 'IP Allocation Service', ['ip-block']],
    ['managed-cpe', 'Managed CPE Service', ['router']],
    ['sla-monitoring', 'SLA Monitoring Service', []],
    ['iptv', 'IPTV Service', ['vlan']],
    ['voice', 'Voice Service', ['phone-number']],
  ] as const) {
    serviceSpecifications[code] = await published<ServiceSpecificationBody>('service_specification', { code, name, resourceSpecifications: resources.map(res) });
  }
  const svc = (code: string) => ref(serviceSpecifications[code]);

  // ------------------------------------------------------------------ products
  const productSpecifications: DemoCatalog['productSpecifications'] = {};
  const specs: Input<ProductSpecificationBody>[] = [
    {
      code: 'home-internet', name: 'Home Internet 100 Mbit/s', serviceSpecifications: [svc('internet-access')],
      characteristics: [{ name: 'bandwidthMbps', valueType: 'integer', unit: 'Mbit/s', configurable: false, default: 100, minCardinality: 1, maxCardinality: 1 }],
    },
    {
      code: 'home-voice', name: 'Home Voice (VoIP)', serviceSpecifications: [svc('voice')],
      characteristics: [{ name: 'numberPortIn', valueType: 'boolean', configurable: true, default: false, minCardinality: 0, maxCardinality: 1 }],
    },
    {
      code: 'iptv', name: 'IPTV', serviceSpecifications: [svc('iptv')],
      characteristics: [{ name: 'channelPackage', valueType: 'enum', values: ['basic', 'premium'], configurable: true, default: 'basic', minCardinality: 1, maxCardinality: 1 }],
    },
    {
      code: 'home-router', name: 'Wi-Fi router', serviceSpecifications: [svc('managed-cpe')],
      characteristics: [{ name: 'model', valueType: 'enum', values: ['TP-Link Archer C6', 'ZTE H196A'], configurable: true, default: 'TP-Link Archer C6', minCardinality: 1, maxCardinality: 1 }],
    },
    {
      code: 'business-fiber', name: 'Business Fiber', serviceSpecifications: [svc('internet-access')],
      description: 'Dedicated fiber access for businesses, 1 or 2 Gbit/s.',
      characteristics: [
        { name: 'bandwidthMbps', valueType: 'enum', values: ['1000', '2000'], unit: 'Mbit/s', configurable: true, default: '1000', minCardinality: 1, maxCardinality: 1, valueLabels: { '1000': '1Gbps', '2000': '2Gbps' } },
        { name: 'accessType', valueType: 'enum', values: ['FTTx'], configurable: false, default: 'FTTx', minCardinality: 1, maxCardinality: 1 },
      ],
    },
    {
      code: 'static-ip', name: 'Static IP block', serviceSpecifications: [svc('ip-allocation')],
      characteristics: [{ name: 'prefixLength', valueType: 'integer', min: '24', max: '32', configurable: false, default: 29, minCardinality: 1, maxCardinality: 1 }],
    },
    {
      code: 'managed-router', name: 'Managed Router', serviceSpecifications: [svc('managed-cpe')],
      characteristics: [{ name: 'model', valueType: 'enum', values: ['MikroTik CCR2004', 'Cisco ISR 1100'], configurable: true, default: 'MikroTik CCR2004', minCardinality: 1, maxCardinality: 1 }],
    },
    {
      code: 'sla', name: 'Service level agreement', serviceSpecifications: [svc('sla-monitoring')],
      characteristics: [
        { name: 'availabilityPercent', valueType: 'decimal', configurable: false, default: '99.9', minCardinality: 1, maxCardinality: 1 },
        { name: 'responseTimeHours', valueType: 'integer', configurable: false, default: 4, minCardinality: 1, maxCardinality: 1 },
      ],
    },
  ];
  for (const spec of specs) productSpecifications[spec.code] = await published<ProductSpecificationBody>('product_specification', spec);
  const product = (code: string) => ref(productSpecifications[code]);

  // ------------------------------------------------------------------ offerings
  const offerings: DemoCatalog['offerings'] = {};
  const offer = async (body: Input<ProductOfferingBody>) => {
    offerings[body.code] = (await published<ProductOfferingBody>('product_offering', body)) as OfferingVersion;
    return offerings[body.code].id;
  };
  const idr = (charges: ProductOfferingBody['priceLists'][number]['charges']) => [{ currency: 'IDR', charges }];
  const connectionFee = { kind: 'one_time' as const, code: 'connection-fee', name: 'Connection fee', amountMinor: rupiah(250_000) };

  const routerRental = await offer({
    code: 'router-rental', name: 'Wi-Fi Router Rental', category: 'equipment', segment: 'residential', requiresParent: true, productSpecification: product('home-router'),
    priceLists: idr([{ kind: 'rental', code: 'router-rental', name: 'Router rental', amountMinor: rupiah(70_000), period: 'month' }]),
  });
  const internet = await offer({
    code: 'internet-100', name: 'Internet 100 Mbit/s', category: 'internet', segment: 'residential', productSpecification: product('home-internet'),
    description: 'Unlimited home internet, flat monthly fee.',
    priceLists: idr([{ kind: 'recurring', code: 'monthly-fee', name: 'Monthly fee', amountMinor: rupiah(350_000), period: 'month' }, connectionFee]),
    addOns: [{ offeringId: routerRental, minCount: 0, maxCount: 1 }],
  });
  await offer({
    code: 'internet-100-prepaid-30d', name: 'Internet 100 Mbit/s, 30 days prepaid', category: 'internet', segment: 'residential', productSpecification: product('home-internet'),
    priceLists: idr([{ kind: 'prepaid', code: 'prepaid-30d', name: '30 days of internet', amountMinor: rupiah(350_000), days: 30 }, connectionFee]),
    addOns: [{ offeringId: routerRental, minCount: 0, maxCount: 1 }],
  });
  const voip = await offer({
    code: 'voip', name: 'VoIP Home Phone', category: 'voice', segment: 'residential', productSpecification: product('home-voice'),
    priceLists: idr([
      { kind: 'recurring', code: 'line-fee', name: 'Line fee', amountMinor: rupiah(25_000), period: 'month' },
      {
        kind: 'usage', code: 'calls', name: 'Calls', unit: 'minute', tierMode: 'graduated',
        // Rp 1.000 a minute for the first 500 minutes of the month, Rp 800 up to 2000, then Rp 600.
        tiers: [{ upTo: '500', unitPrice: '100000' }, { upTo: '2000', unitPrice: '80000' }, { upTo: null, unitPrice: '60000' }],
      },
    ]),
  });
  const iptv = await offer({
    code: 'iptv', name: 'IPTV', category: 'tv', segment: 'residential', productSpecification: product('iptv'),
    priceLists: idr([
      { kind: 'recurring', code: 'iptv-basic', name: 'IPTV basic channels', amountMinor: rupiah(150_000), period: 'month', condition: { characteristic: 'channelPackage', equals: 'basic' } },
      { kind: 'recurring', code: 'iptv-premium', name: 'IPTV premium channels', amountMinor: rupiah(250_000), period: 'month', condition: { characteristic: 'channelPackage', equals: 'premium' } },
    ]),
  });
  await offer({
    code: 'triple-play', name: 'Internet + IPTV + VoIP', category: 'bundle', segment: 'residential',
    description: 'Internet 100 Mbit/s, IPTV and a home phone line, 15% off together.',
    priceLists: idr([]),
    bundle: {
      members: [
        { offeringId: internet, included: true, minCount: 1, maxCount: 1 },
        { offeringId: iptv, included: true, minCount: 1, maxCount: 1 },
        { offeringId: voip, included: true, minCount: 1, maxCount: 1 },
        { offeringId: routerRental, included: false, minCount: 0, maxCount: 1 },
      ],
      discountPercent: '15',
    },
  });

  const staticIp = await offer({
    code: 'static-ip-29', name: 'Static IP /29', category: 'ip-services', segment: 'enterprise', requiresParent: true, productSpecification: product('static-ip'),
    priceLists: idr([{ kind: 'recurring', code: 'static-ip-monthly', name: 'Static IP /29 monthly', amountMinor: rupiah(750_000), period: 'month' }]),
  });
  const managedRouter = await offer({
    code: 'managed-router', name: 'Managed Router', category: 'managed-services', segment: 'enterprise', productSpecification: product('managed-router'),
    priceLists: idr([{ kind: 'recurring', code: 'managed-router-monthly', name: 'Managed router monthly', amountMinor: rupiah(1_200_000), period: 'month' }]),
  });
  // A business may rent its router instead of having it managed: a REPLACE of the Managed Router.
  const cpeRental = await offer({
    code: 'cpe-rental', name: 'Business Router Rental', category: 'equipment', segment: 'enterprise', requiresParent: true, productSpecification: product('home-router'),
    priceLists: idr([{ kind: 'rental', code: 'cpe-rental', name: 'Router rental', amountMinor: rupiah(70_000), period: 'month' }]),
  });
  const slaGold = await offer({
    code: 'sla-gold', name: 'SLA Gold', category: 'sla', segment: 'enterprise', requiresParent: true, productSpecification: product('sla'),
    description: '99.9% availability, 4-hour response.',
    priceLists: idr([{ kind: 'recurring', code: 'sla-gold-monthly', name: 'SLA Gold monthly', amountMinor: rupiah(2_500_000), period: 'month' }]),
  });
  await offer({
    code: 'business-fiber', name: 'Business Fiber', category: 'connectivity', segment: 'enterprise', productSpecification: product('business-fiber'),
    // Its instances are named by bandwidth: "Business Fiber 1Gbps", and "Business Fiber 2Gbps" after an upgrade.
    nameTemplate: 'Business Fiber {bandwidthMbps}',
    description: 'Business Fiber 1Gbps or 2Gbps; upgrade in place by changing bandwidthMbps.',
    priceLists: idr([
      { kind: 'recurring', code: 'fiber-1g-monthly', name: 'Business Fiber 1Gbps monthly', amountMinor: rupiah(15_000_000), period: 'month', condition: { characteristic: 'bandwidthMbps', equals: '1000' } },
      { kind: 'recurring', code: 'fiber-2g-monthly', name: 'Business Fiber 2Gbps monthly', amountMinor: rupiah(25_000_000), period: 'month', condition: { characteristic: 'bandwidthMbps', equals: '2000' } },
      { kind: 'one_time', code: 'installation', name: 'Installation', amountMinor: rupiah(5_000_000) },
    ]),
    addOns: [
      { offeringId: staticIp, minCount: 0, maxCount: 1 },
      { offeringId: managedRouter, minCount: 0, maxCount: 1 },
      { offeringId: cpeRental, minCount: 0, maxCount: 1 },
      { offeringId: slaGold, minCount: 0, maxCount: 1 },
    ],
  });

  // ------------------------------------------------------------------ price rules
  const rules: DemoCatalog['rules'] = {};
  rules.welcome10 = await priceRules.createRule(ctx, {
    code: 'welcome10', name: 'WELCOME10: 10% off home internet', type: 'promo', priority: 100, stacking: 'stack',
    appliesTo: { offeringIds: [internet, offerings['internet-100-prepaid-30d'].id], chargeKinds: ['recurring', 'prepaid'] },
    promoCode: 'WELCOME10', discount: { percent: '10' }, maxRedemptions: 1000,
  });
  rules.loyalty = await priceRules.createRule(ctx, {
    code: 'loyalty', name: 'Loyalty: 5% after a year, 10% after two', type: 'loyalty', priority: 200, stacking: 'stack',
    appliesTo: { chargeKinds: ['recurring'] },
    loyaltyTiers: [{ minMonths: 12, percent: '5' }, { minMonths: 24, percent: '10' }],
  });

  return { offerings, productSpecifications, serviceSpecifications, resourceSpecifications, rules };
}
