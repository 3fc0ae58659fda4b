/**
 * Request and response examples of the OpenAPI document (added by openapi.ts), and one example
 * per problem type. They were taken from a real run on the demo data of `npm start`
 * (src/demo/): PT Contoh Digital's account with Business Fiber 1Gbps, Static IP /29, Managed
 * Router and SLA Gold in Jakarta, a quote and an order for a second Business Fiber 2Gbps with a
 * Static IP, a MODIFY order upgrading the Jakarta fiber to 2 Gbit/s, and the internal commands
 * that activate, upgrade, suspend, resume, renew and disconnect a fiber at a Surabaya branch.
 *
 * The ids that examples share are named in EXAMPLE_IDS, so that one example's output is the
 * next one's input; test/api/openapi.test.ts replays some of them against a real server (with
 * the ids of its own demo data) and checks each answer has the example's shape, and checks every
 * example against its operation's schema.
 */
import { PROBLEM_TYPES } from '../platform/errors.ts';

export const EXAMPLE_IDS = {
  account: '0a2fbb6d-07b8-49bd-b674-1aa642d6bc5b',
  customer: 'fc357d06-78d8-4ad4-81f1-9740f5434567',
  offering: {
    businessFiber: '9c20601a-057b-5011-a627-9b4337bd7afd',
    staticIp29: 'd6c9ba3c-50b0-5ac1-ad51-3c54542d4be3',
    managedRouter: '80e47829-121c-5893-a222-f92675dd4670',
    slaGold: 'e8406738-4ad6-5dcd-a0b0-ff679af073b8'
  },
  productSpecification: {
    businessFiber: '3676c312-3d62-5145-a39d-1f487a33d9db'
  },
  serviceSpecification: {
    internetAccess: 'aca7f5f4-e266-56bb-a263-29e354f0f94e'
  },
  demo: {
    fiber: '5ac6ed89-5c0b-403e-b20d-cb5322efd84d',
    staticIp: '238f0bed-1925-4272-b22f-d600026b2bc6',
    managedRouter: '7e920205-36e6-4be1-b34b-afaaad9b6e6f',
    slaGold: '9417ed32-f18a-4347-b712-7fe3cedf8a6f',
    subscription: 'e1a952e1-92e7-478f-8b82-50b90947792f'
  },
  quote: 'cb310e4f-47f1-4eb8-9605-89907ceef7e0',
  quoteOrder: '128985bf-dc0f-4624-a00f-dfcbfc5526ae',
  modifyOrder: '1bd21e74-3216-4b5e-9b77-15b8b060e847',
  branch: {
    fiber: 'da4bd48b-4236-42cb-b375-dc7dffb7e8e6',
    subscription: '9b9c4238-e36d-4a63-a0aa-68e209ace94c',
    service: 'cc5d0bc5-83de-4869-adb1-ff2239730aae',
    vlan: 'c798bc82-d061-4c8e-9983-948ae65a2521',
    order: '0b6f3c1e-5d2a-4e8b-9a47-3c2d1e0f9a11',
    addItem: '5e9d2b7a-1c4f-4a36-8e21-7f0c9b3d2a64',
    modifyItem: '9c3a7e51-2b8d-4f60-a1c9-4d5e6f7a8b90',
    disconnectItem: '2f4e6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a7b'
  }
} as const;
const ID = EXAMPLE_IDS;
/** The demo clock's "now". */
const AT = '2026-07-02T10:30:00.000Z';
const JAKARTA_HQ = { name: 'Jakarta HQ', street: 'Jl. Jend. Sudirman Kav. 52-53', city: 'Jakarta Selatan', country: 'ID' };
const SURABAYA_BRANCH = { name: 'Surabaya branch', street: 'Jl. Basuki Rahmat 8-12', city: 'Surabaya', country: 'ID' };

/**
 * One line of a price snapshot, as the pricing engine prices it (src/pricing/types.ts PricedLine):
 * a product instance's `price` is `{currency, lines}` (docs/installed-base.md "The price snapshot").
 */
const priceLine = (itemId: string, offeringId: string, chargeCode: string, chargeName: string, kind: 'recurring' | 'one_time', amountMinor: string) => ({
  lineId: `${itemId}:${chargeCode}`,
  itemId,
  offeringId,
  offeringVersion: 1,
  chargeCode,
  chargeName,
  kind,
  period: kind === 'recurring' ? 'month' : null,
  periodDays: null,
  quantity: '1',
  listAmountMinor: amountMinor,
  adjustments: [],
  finalAmountMinor: amountMinor,
  usage: null,
});
const price = (...lines: ReturnType<typeof priceLine>[]) => ({ currency: 'IDR', lines });
/** The order items the demo's products were sold by (the demo seed names them, stable ids). */
const DEMO_ITEM = {
  fiber: '889c1d04-8f49-5b5e-a7ed-46c787506f7a',
  staticIp: '62906dfd-e899-5d54-a658-5211a263ecbe',
  managedRouter: '01624785-080c-5f4d-a2f9-010ce1159496',
  slaGold: '3269c59c-506e-5c4c-afb9-c8c6df256254',
};
/** The branch fiber as sold (1 Gbit/s with its installation), and after its upgrade: the new monthly line, the sale's installation kept. */
const FIBER_INSTALLATION = priceLine(ID.branch.addItem, ID.offering.businessFiber, 'installation', 'Installation', 'one_time', '500000000');
const FIBER_1G_PRICE = price(priceLine(ID.branch.addItem, ID.offering.businessFiber, 'fiber-1g-monthly', 'Business Fiber 1Gbps monthly', 'recurring', '1500000000'), FIBER_INSTALLATION);
const FIBER_2G_PRICE = price(FIBER_INSTALLATION, priceLine(ID.branch.modifyItem, ID.offering.businessFiber, 'fiber-2g-monthly', 'Business Fiber 2Gbps monthly', 'recurring', '2500000000'));

// ------------------------------------------------------------------ installed base, quotes, orders

/** A service instance of the demo products, active at Jakarta HQ, with its allocated resources ([id, type, resource id]). */
const demoService = (serviceInstanceId: string, serviceSpecificationId: string, name: string, technicalParameters: Record<string, unknown>, resources: [string, string, string][]) => ({
  serviceInstanceId,
  serviceSpecificationId,
  name,
  status: 'ACTIVE',
  version: 2,
  place: JAKARTA_HQ,
  externalServiceId: null,
  technicalParameters,
  resourceInstances: resources.map(([resourceInstanceId, resourceType, resourceId]) => ({ resourceInstanceId, resourceType, resourceId, status: 'ALLOCATED', version: 1 })),
});

/** A demo product as the installed base lists it: active since the demo's "now", on the demo subscription. */
const demoProduct = (product: {
  productInstanceId: string;
  name: string;
  productOfferingId: string;
  configuration: Record<string, unknown>;
  price: ReturnType<typeof price>;
  relationships: { relationshipId: string; type: string; targetProductInstanceId: string }[];
  service: ReturnType<typeof demoService>;
}) => ({
  productInstanceId: product.productInstanceId,
  name: product.name,
  status: 'ACTIVE',
  version: 3,
  subscriptionId: ID.demo.subscription,
  productOfferingId: product.productOfferingId,
  productOfferingVersion: 1,
  configuration: product.configuration,
  price: product.price,
  place: JAKARTA_HQ,
  activationDate: AT,
  terminationDate: null,
  relationships: product.relationships,
  serviceInstances: [product.service],
});

const DEMO_PRODUCTS = [
  demoProduct({
    productInstanceId: ID.demo.staticIp,
    name: 'Static IP /29',
    productOfferingId: ID.offering.staticIp29,
    configuration: { prefixLength: 29 },
    price: price(priceLine(DEMO_ITEM.staticIp, ID.offering.staticIp29, 'static-ip-monthly', 'Static IP /29 monthly', 'recurring', '75000000')),
    relationships: [],
    service: demoService('5e5828e0-9f1e-4935-999c-76464316f897', '02725715-5422-5dc1-a4b4-63ccc22ec190', 'IP Allocation Service', {}, [
      ['4ae91779-d438-4cfa-bfee-49c7b8d4dbcf', 'IP_BLOCK', '203.0.113.8/29'],
    ]),
  }),
  demoProduct({
    productInstanceId: ID.demo.fiber,
    name: 'Business Fiber 1Gbps',
    productOfferingId: ID.offering.businessFiber,
    configuration: { accessType: 'FTTx', bandwidthMbps: '1000' },
    price: price(
      priceLine(DEMO_ITEM.fiber, ID.offering.businessFiber, 'fiber-1g-monthly', 'Business Fiber 1Gbps monthly', 'recurring', '1500000000'),
      priceLine(DEMO_ITEM.fiber, ID.offering.businessFiber, 'installation', 'Installation', 'one_time', '500000000'),
    ),
    relationships: [
      { relationshipId: '06611f3e-de2d-4b6e-8cf2-ebd968463ac6', type: 'PARENT_OF', targetProductInstanceId: ID.demo.managedRouter },
      { relationshipId: 'e319aafd-d900-43e2-b057-bb2fc9cf538a', type: 'PARENT_OF', targetProductInstanceId: ID.demo.staticIp },
    ],
    service: demoService('5d691e5f-56b4-4cfb-be4f-620ec739cf10', ID.serviceSpecification.internetAccess, 'Internet Access Service', { vlan: 2101, profile: 'BIZ-1G' }, [
      ['3922a230-9eec-43a9-b5de-7ecb09497096', 'ONT', 'ZTEG-C8A1F0E2'],
      ['52701dbd-6a26-45c9-b8bf-9d946b2adf7d', 'PORT', 'JKT-OLT-07/1/3/12'],
      ['6185473e-4e03-4e29-b86b-00ee3f7449f6', 'VLAN', '2101'],
    ]),
  }),
  demoProduct({
    productInstanceId: ID.demo.managedRouter,
    name: 'Managed Router',
    productOfferingId: ID.offering.managedRouter,
    configuration: { model: 'MikroTik CCR2004' },
    price: price(priceLine(DEMO_ITEM.managedRouter, ID.offering.managedRouter, 'managed-router-monthly', 'Managed router monthly', 'recurring', '120000000')),
    relationships: [],
    service: demoService('4f1058a4-a6f4-4bb7-8f78-8c0a48d4a5d6', '9a47d48b-6139-51be-abaf-bd9341a414a7', 'Managed CPE Service', { monitoring: true }, [
      ['3db94780-bbac-419e-9a83-56730b491ff0', 'ROUTER', 'HEX-7F3A99D0'],
    ]),
  }),
  demoProduct({
    productInstanceId: ID.demo.slaGold,
    name: 'SLA Gold',
    productOfferingId: ID.offering.slaGold,
    configuration: { responseTimeHours: 4, availabilityPercent: '99.9' },
    price: price(priceLine(DEMO_ITEM.slaGold, ID.offering.slaGold, 'sla-gold-monthly', 'SLA Gold monthly', 'recurring', '250000000')),
    relationships: [{ relationshipId: 'fbf6164a-8b44-41f3-bcae-2b84dd387738', type: 'ADDON_OF', targetProductInstanceId: ID.demo.fiber }],
    service: demoService('75180f9a-e758-486b-a0d1-a1025c187268', 'eb6095e9-0625-5771-a041-747d2b411efd', 'SLA Monitoring Service', { tier: 'gold' }, []),
  }),
];

const installedBase = {
  response: {
    accountId: ID.account,
    customerId: ID.customer,
    snapshotTime: AT,
    asOf: null,
    products: DEMO_PRODUCTS,
    subscriptions: [
      {
        subscriptionId: ID.demo.subscription,
        status: 'ACTIVE',
        version: 2,
        startDate: AT,
        endDate: '2028-07-02T10:30:00.000Z',
        termMonths: 24,
        autoRenew: true,
      },
    ],
  },
};

/** The lines of the preview and of the quote: a second Business Fiber at 2 Gbit/s, and a Static IP /29 on it. */
const FIBER_2G_WITH_IP = [
  { action: 'ADD', offeringId: ID.offering.businessFiber, configuration: { bandwidthMbps: '2000' } },
  { action: 'ADD', offeringId: ID.offering.staticIp29, parentLineNumber: 1 },
];

/** What the pricing engine answers for FIBER_2G_WITH_IP, its lines keyed by the two items (or quote lines). */
const fiber2gWithIpPrice = (fiberItem: string, ipItem: string) => ({
  currency: 'IDR',
  at: AT,
  rounding: 'HALF_UP',
  lines: [
    priceLine(fiberItem, ID.offering.businessFiber, 'fiber-2g-monthly', 'Business Fiber 2Gbps monthly', 'recurring', '2500000000'),
    priceLine(fiberItem, ID.offering.businessFiber, 'installation', 'Installation', 'one_time', '500000000'),
    priceLine(ipItem, ID.offering.staticIp29, 'static-ip-monthly', 'Static IP /29 monthly', 'recurring', '75000000'),
  ],
  totals: {
    oneTimeMinor: '500000000',
    prepaidMinor: '0',
    recurring: [ { period: 'month', periodDays: null, amountMinor: '2575000000' } ],
    usageEstimateMinor: '0',
    grandTotalMinor: '3075000000',
    listTotalMinor: '3075000000',
    discountTotalMinor: '0',
  },
  rules: [
    {
      ruleId: 'cdf156fa-933c-4903-9fb0-3f1d40dfd168',
      ruleCode: 'welcome10',
      applied: false,
      reason: 'promo code WELCOME10 was not presented',
      lineIds: [],
    },
    {
      ruleId: '2e7d2ebb-4a3d-4073-a1fc-15b35a33ea70',
      ruleCode: 'loyalty',
      applied: false,
      reason: 'tenure of 0 months is below the first loyalty tier (12 months)',
      lineIds: [],
    },
  ],
});

const preview = {
  request: { accountId: ID.account, lines: FIBER_2G_WITH_IP },
  response: fiber2gWithIpPrice('7f8a068f-d87e-468d-b0fa-4d9cb55d4a36', 'e7cc0bbe-c4ac-4c94-a097-5400aa3ee058'),
};

/** A quote line that adds an offering (with `parentLineId`: onto the product of that line). */
const quoteAddLine = (lineId: string, lineNumber: number, offeringId: string, parentLineId: string | null, configuration: Record<string, unknown>) => ({
  lineId,
  lineNumber,
  action: 'ADD',
  offeringId,
  offeringVersion: 1,
  productInstanceId: null,
  parentLineId,
  parentProductInstanceId: null,
  bundleLineId: null,
  configuration,
  quantity: 1,
  usageEstimate: null,
  zone: null,
});
const QUOTE_LINE = { fiber: 'e1696f82-2a6b-4e56-8f14-b1b846167cab', staticIp: 'c0fe95bd-ae5e-48ee-8ecc-3ed1afe51f06' };

const quoteCreate = {
  request: { lines: FIBER_2G_WITH_IP, validForHours: 72 },
  response: {
    quoteId: ID.quote,
    accountId: ID.account,
    status: 'PRICED',
    currency: 'IDR',
    snapshot: {
      snapshotId: '57675e5d-1f91-44d8-90ec-0952bf7bb139',
      snapshotTime: AT,
      // The installed base above, as the quote's snapshot records each product.
      assetVersions: DEMO_PRODUCTS.map(({ productInstanceId, version, status, productOfferingId, productOfferingVersion, name, activationDate, configuration }) =>
        ({ productInstanceId, version, status, productOfferingId, productOfferingVersion, name, activationDate, configuration })),
      subscriptionVersions: [ { subscriptionId: ID.demo.subscription, version: 2, status: 'ACTIVE' } ],
    },
    promoCodes: [],
    lines: [
      quoteAddLine(QUOTE_LINE.fiber, 1, ID.offering.businessFiber, null, { bandwidthMbps: '2000' }),
      quoteAddLine(QUOTE_LINE.staticIp, 2, ID.offering.staticIp29, QUOTE_LINE.fiber, {}),
    ],
    price: fiber2gWithIpPrice(QUOTE_LINE.fiber, QUOTE_LINE.staticIp),
    pricedAt: AT,
    expiresAt: '2026-07-05T10:30:00.000Z',
    acceptedAt: null,
    convertedAt: null,
    version: 1,
    createdAt: AT,
    updatedAt: AT,
  },
};

/** An order as submitted (acknowledged, version 1), with its items. */
const acknowledgedOrder = (orderId: string, quoteId: string | null, externalReference: string, items: ReturnType<typeof acknowledgedItem>[]) => ({
  orderId,
  accountId: ID.account,
  status: 'acknowledged',
  quoteId,
  supplementalOfOrderId: null,
  externalReference,
  version: 1,
  createdAt: AT,
  updatedAt: AT,
  completedAt: null,
  items,
});

/** An order item as submitted: `target` names what it acts on (none: null), in the order the API lists them. */
const acknowledgedItem = ({ itemId, itemNumber, action, details, ...target }: {
  itemId: string;
  itemNumber: number;
  action: string;
  details: Record<string, unknown>;
  productInstanceId?: string;
  expectedVersion?: number;
  offeringId?: string;
  offeringVersion?: number;
  parentItemId?: string;
  dependsOn?: string[];
}) => ({
  itemId,
  itemNumber,
  action,
  status: 'acknowledged',
  productInstanceId: null as string | null,
  expectedVersion: null as number | null,
  offeringId: null as string | null,
  offeringVersion: null as number | null,
  parentItemId: null as string | null,
  parentProductInstanceId: null,
  dependsOn: [] as string[],
  details,
  error: null,
  version: 1,
  createdAt: AT,
  updatedAt: AT,
  ...target,
});

/** The items of the quote's order: the fiber, and the Static IP that depends on it. */
const QUOTE_ORDER_ITEM = { fiber: '60089d86-9027-43b8-bbb9-8ffeeb846669', staticIp: '55ce3dac-fa56-4a20-a03e-486e75f92237' };

const quoteOrder = {
  request: { expectedQuoteVersion: 2, externalReference: 'CRM-OPP-4711' },
  response: acknowledgedOrder(ID.quoteOrder, ID.quote, 'CRM-OPP-4711', [
    acknowledgedItem({
      itemId: QUOTE_ORDER_ITEM.fiber,
      itemNumber: 1,
      action: 'ADD',
      productInstanceId: '3dce3e5b-9944-4031-8394-c8a45a4213bc',
      offeringId: ID.offering.businessFiber,
      offeringVersion: 1,
      details: {
        configuration: { bandwidthMbps: '2000', accessType: 'FTTx' },
        quantity: 1,
        price: price(
          priceLine(QUOTE_ORDER_ITEM.fiber, ID.offering.businessFiber, 'fiber-2g-monthly', 'Business Fiber 2Gbps monthly', 'recurring', '2500000000'),
          priceLine(QUOTE_ORDER_ITEM.fiber, ID.offering.businessFiber, 'installation', 'Installation', 'one_time', '500000000'),
        ),
      },
    }),
    acknowledgedItem({
      itemId: QUOTE_ORDER_ITEM.staticIp,
      itemNumber: 2,
      action: 'ADD',
      productInstanceId: '99b7cafd-4421-4b2f-8524-b6bfaee9f0ff',
      offeringId: ID.offering.staticIp29,
      offeringVersion: 1,
      parentItemId: QUOTE_ORDER_ITEM.fiber,
      dependsOn: [QUOTE_ORDER_ITEM.fiber],
      details: {
        configuration: { prefixLength: 29 },
        quantity: 1,
        price: price(priceLine(QUOTE_ORDER_ITEM.staticIp, ID.offering.staticIp29, 'static-ip-monthly', 'Static IP /29 monthly', 'recurring', '75000000')),
      },
    }),
  ]),
};

const orderSubmit = {
  request: {
    externalReference: 'CRM-CASE-0815',
    items: [ { action: 'MODIFY', productInstanceId: ID.demo.fiber, expectedVersion: 3, configuration: { bandwidthMbps: '2000' } } ],
  },
  response: acknowledgedOrder(ID.modifyOrder, null, 'CRM-CASE-0815', [
    acknowledgedItem({
      itemId: '40e6eac0-4c12-4ad5-a103-762c0d0a2873',
      itemNumber: 1,
      action: 'MODIFY',
      productInstanceId: ID.demo.fiber,
      expectedVersion: 3,
      details: { configuration: { bandwidthMbps: '2000' } },
    }),
  ]),
};

const piCreate = {
  request: {
    accountId: ID.account,
    productOfferingId: ID.offering.businessFiber,
    productOfferingVersion: 1,
    productSpecificationId: ID.productSpecification.businessFiber,
    productSpecificationVersion: 1,
    name: 'Business Fiber 1Gbps',
    catalogSnapshot: { offeringCode: 'business-fiber', offeringName: 'Business Fiber' },
    configuration: { bandwidthMbps: '1000', accessType: 'FTTx' },
    price: FIBER_1G_PRICE,
    place: SURABAYA_BRANCH,
    subscription: { termMonths: 24, billingCycle: 'monthly', autoRenew: true },
    orderId: ID.branch.order,
    orderItemId: ID.branch.addItem,
  },
  response: {
    productInstance: {
      productInstanceId: ID.branch.fiber,
      accountId: ID.account,
      status: 'PENDING_ACTIVATION',
      version: 1,
      name: 'Business Fiber 1Gbps',
      subscriptionId: ID.branch.subscription,
      customerId: ID.customer,
      productOfferingId: ID.offering.businessFiber,
      productOfferingVersion: 1,
      productSpecificationId: ID.productSpecification.businessFiber,
      productSpecificationVersion: 1,
      actionOriginOrderId: ID.branch.order,
      actionOriginOrderItemId: ID.branch.addItem,
      activationDate: null,
      terminationDate: null,
      effectiveFrom: AT,
      effectiveTo: null,
      place: SURABAYA_BRANCH,
      catalogSnapshot: { offeringCode: 'business-fiber', offeringName: 'Business Fiber' },
      configuration: { bandwidthMbps: '1000', accessType: 'FTTx' },
      price: FIBER_1G_PRICE,
      pendingChange: null,
      lastError: null,
      createdAt: AT,
      updatedAt: AT,
    },
    subscription: {
      subscriptionId: ID.branch.subscription,
      accountId: ID.account,
      status: 'PENDING',
      version: 1,
      endDate: null,
      customerId: ID.customer,
      agreementId: null,
      billingAccountId: null,
      startDate: null,
      commitmentStartDate: null,
      commitmentEndDate: null,
      termMonths: 24,
      billingCycle: 'monthly',
      autoRenew: true,
      renewalPolicy: {},
      createdAt: AT,
      updatedAt: AT,
    },
  },
};

const serviceAttach = {
  request: {
    orderId: ID.branch.order,
    orderItemId: ID.branch.addItem,
    serviceSpecificationId: ID.serviceSpecification.internetAccess,
    serviceSpecificationVersion: 1,
    name: 'Internet Access Service',
    technicalParameters: { profile: 'BIZ-1G', vlan: 2202 },
  },
  response: {
    serviceInstanceId: ID.branch.service,
    accountId: ID.account,
    productInstanceId: ID.branch.fiber,
    serviceSpecificationId: ID.serviceSpecification.internetAccess,
    serviceSpecificationVersion: 1,
    name: 'Internet Access Service',
    status: 'PENDING',
    externalServiceId: null,
    place: SURABAYA_BRANCH,
    activationDate: null,
    terminationDate: null,
    technicalParameters: { profile: 'BIZ-1G', vlan: 2202 },
    version: 1,
    createdAt: AT,
    updatedAt: AT,
  },
};

const resourceAttach = {
  request: {
    orderId: ID.branch.order,
    orderItemId: ID.branch.addItem,
    resourceType: 'VLAN',
    resourceId: '2202',
    attributes: { vlanId: 2202 },
  },
  response: {
    resourceInstanceId: ID.branch.vlan,
    accountId: ID.account,
    serviceInstanceId: ID.branch.service,
    resourceType: 'VLAN',
    resourceId: '2202',
    externalResourceId: null,
    status: 'ALLOCATED',
    allocationDate: AT,
    releaseDate: null,
    attributes: { vlanId: 2202 },
    version: 1,
    createdAt: AT,
    updatedAt: AT,
  },
};

const renewal = {
  request: { expectedVersion: 2, termMonths: 12 },
  response: {
    subscriptionId: ID.branch.subscription,
    accountId: ID.account,
    customerId: ID.customer,
    agreementId: null,
    billingAccountId: null,
    status: 'ACTIVE',
    startDate: AT,
    endDate: '2029-07-02T10:30:00.000Z',
    commitmentStartDate: '2028-07-02T10:30:00.000Z',
    commitmentEndDate: '2029-07-02T10:30:00.000Z',
    termMonths: 12,
    billingCycle: 'monthly',
    autoRenew: true,
    renewalPolicy: {},
    version: 3,
    createdAt: AT,
    updatedAt: AT,
  },
};

const quoteAccept = {
  request: { expectedVersion: 1 },
  response: { ...quoteCreate.response, status: 'ACCEPTED', acceptedAt: AT, version: 2 },
};

// ------------------------------------------------------------------ internal asset commands (the Surabaya fiber)

const ACTIVATION = { orderId: ID.branch.order, orderItemId: ID.branch.addItem };
const MODIFICATION = { orderId: ID.branch.order, orderItemId: ID.branch.modifyItem };
const DISCONNECT = { orderId: ID.branch.order, orderItemId: ID.branch.disconnectItem };

/** The branch fiber as activation:start returns it; later commands return it changed. */
const branchFiber = {
  productInstanceId: ID.branch.fiber,
  accountId: ID.account,
  customerId: ID.customer,
  subscriptionId: ID.branch.subscription,
  productOfferingId: ID.offering.businessFiber,
  productOfferingVersion: 1,
  productSpecificationId: ID.productSpecification.businessFiber,
  productSpecificationVersion: 1,
  name: 'Business Fiber 1Gbps',
  status: 'PENDING_ACTIVATION',
  actionOriginOrderId: ID.branch.order,
  actionOriginOrderItemId: ID.branch.addItem,
  activationDate: null as string | null,
  terminationDate: null as string | null,
  effectiveFrom: AT,
  effectiveTo: null as string | null,
  place: SURABAYA_BRANCH,
  catalogSnapshot: { offeringCode: 'business-fiber', offeringName: 'Business Fiber' },
  configuration: { accessType: 'FTTx', bandwidthMbps: '1000' },
  price: FIBER_1G_PRICE,
  pendingChange: null as Record<string, unknown> | null,
  lastError: null,
  version: 2,
  createdAt: AT,
  updatedAt: AT,
};
const activeFiber = { ...branchFiber, status: 'ACTIVE', activationDate: AT, version: 3 };
const upgrade = { configuration: { bandwidthMbps: '2000' }, name: 'Business Fiber 2Gbps', price: FIBER_2G_PRICE };
const upgradedFiber = { ...activeFiber, name: 'Business Fiber 2Gbps', configuration: { accessType: 'FTTx', bandwidthMbps: '2000' }, price: FIBER_2G_PRICE, version: 5 };
const error = { code: 'OLT-TIMEOUT', message: 'JKT-OLT-07 did not answer the provisioning request within 30 s' };

const activationStart = { request: { expectedVersion: 1, ...ACTIVATION }, response: branchFiber };
const activationComplete = { request: { expectedVersion: 2, ...ACTIVATION }, response: activeFiber };
const modificationStart = {
  request: { expectedVersion: 3, ...MODIFICATION, operationType: 'MODIFY', requestedChange: upgrade },
  response: { ...activeFiber, status: 'PENDING_MODIFICATION', pendingChange: upgrade, version: 4 },
};
const modificationComplete = { request: { expectedVersion: 4, ...MODIFICATION }, response: upgradedFiber };
const suspension = {
  request: { expectedVersion: 5, reason: 'customer request: office closed for renovation' },
  response: { ...upgradedFiber, status: 'SUSPENDED', version: 6 },
};
const resumption = { request: { expectedVersion: 6 }, response: { ...upgradedFiber, version: 7 } };
const disconnectStart = {
  request: { expectedVersion: 7, ...DISCONNECT, reason: 'branch closed' },
  response: {
    productInstance: { ...upgradedFiber, status: 'PENDING_DISCONNECT', pendingChange: { reason: 'branch closed', requestedTerminationDate: null }, version: 8 },
    cascaded: [],
  },
};
const disconnectComplete = {
  request: { expectedVersion: 8, ...DISCONNECT },
  response: { productInstance: { ...upgradedFiber, status: 'DISCONNECTED', terminationDate: AT, effectiveTo: AT, version: 9 }, cascaded: [] },
};

/** An account billed on the 15th of each month, Jakarta time (docs/billing.md). */
const accountOpen = {
  request: { customerId: ID.customer, name: 'PT Contoh Digital — Surabaya branch', currency: 'IDR', timeZone: 'Asia/Jakarta', segment: 'enterprise', billingCycleDay: 15 },
  response: {
    accountId: '3d7c1f0a-8b2e-4c5d-9e6f-0a1b2c3d4e5f', customerId: ID.customer, name: 'PT Contoh Digital — Surabaya branch', currency: 'IDR',
    timeZone: 'Asia/Jakarta', segment: 'enterprise', billingCycleDay: 15, createdAt: AT, updatedAt: AT,
  },
};

/**
 * An offering with billing terms (docs/catalog-and-pricing.md "Billing terms"): a 14-day trial
 * with an activation fee, three months at half price, then a two-year fixed term billed monthly
 * in advance with usage in arrear; plan changes at the end of the billing period, cancellation now.
 */
const offeringWithBillingTerms = {
  code: 'business-fiber-term',
  name: 'Business Fiber 1Gbps, 2-year term',
  category: 'connectivity',
  segment: 'business',
  availabilityZones: [],
  sellable: true,
  productSpecification: { id: ID.productSpecification.businessFiber, version: 1 },
  addOns: [],
  priceLists: [{
    currency: 'IDR',
    charges: [
      { kind: 'recurring', code: 'fiber-1g-monthly', name: 'Business Fiber 1Gbps monthly', amountMinor: '1500000000', period: 'month', billingMode: 'in_advance' },
      { kind: 'recurring', code: 'sla-report', name: 'Quarterly SLA report', amountMinor: '15000000', period: 'quarter' },
      { kind: 'usage', code: 'traffic', name: 'Traffic above 10 TB', unit: 'GB', tierMode: 'graduated', billingMode: 'in_arrear', tiers: [{ upTo: '10000', unitPrice: '0' }, { upTo: null, unitPrice: '150000' }] },
    ],
    phases: [
      { type: 'trial', duration: { unit: 'days', count: 14 }, charges: [{ kind: 'one_time', code: 'trial-activation', name: 'Trial activation', amountMinor: '50000000' }] },
      { type: 'discount', duration: { unit: 'period', count: 3 }, discountPercent: '50' },
    ],
    term: { type: 'fixed', duration: { unit: 'year', count: 2 } },
  }],
  changePolicy: 'end_of_term',
  cancelPolicy: 'immediate',
};

export interface OperationExample {
  /** The JSON request body. */
  request?: unknown;
  /** The JSON body of the operation's success response. */
  response?: unknown;
}

/** By operation, as `METHOD /openapi/path`. */
export const OPERATION_EXAMPLES: Record<string, OperationExample> = {
  'GET /accounts/{accountId}/installed-base': installedBase,
  'GET /product-instances/{id}': { response: { ...upgradedFiber, version: 7, relationships: [], activeOperation: null } },
  'POST /price-previews': preview,
  'POST /accounts/{accountId}/quotes': quoteCreate,
  'GET /quotes/{id}': { response: quoteCreate.response },
  'POST /quotes/{id}/pricing:apply': { request: { expectedVersion: 1 } },
  'POST /quotes/{id}/acceptance:apply': quoteAccept,
  'POST /quotes/{id}/conversion:apply': { request: { expectedVersion: 2 } },
  'POST /quotes/{id}/cancellation:apply': { request: { expectedVersion: 1 } },
  'POST /quotes/{id}/order': quoteOrder,
  'POST /accounts/{accountId}/orders': orderSubmit,
  'GET /orders/{id}': { response: orderSubmit.response },
  'POST /orders/{id}/hold': { request: { reason: 'customer asked to wait for the building permit' } },
  'POST /orders/{id}/release-hold': { request: { reason: 'building permit granted' } },
  'POST /orders/{id}/cancel': { request: { reason: 'customer withdrew the upgrade' } },
  'POST /fulfillment/tasks/{id}/result': { request: { outcome: 'done', externalId: 'NMS-WO-88213', data: { vlan: 2202 } } },

  'POST /internal/assets/product-instances': piCreate,
  'POST /internal/assets/product-instances/{id}/activation:start': activationStart,
  'POST /internal/assets/product-instances/{id}/activation:complete': activationComplete,
  'POST /internal/assets/product-instances/{id}/activation:fail': { request: { expectedVersion: 2, ...ACTIVATION, error } },
  'POST /internal/assets/product-instances/{id}/activation:cancel': { request: { expectedVersion: 2, ...ACTIVATION } },
  'POST /internal/assets/product-instances/{id}/modification:start': modificationStart,
  'POST /internal/assets/product-instances/{id}/modification:complete': modificationComplete,
  'POST /internal/assets/product-instances/{id}/modification:cancel': { request: { expectedVersion: 4, ...MODIFICATION } },
  'POST /internal/assets/product-instances/{id}/modification:fail': { request: { expectedVersion: 4, ...MODIFICATION, error } },
  'POST /internal/assets/product-instances/{id}/disconnect:start': disconnectStart,
  'POST /internal/assets/product-instances/{id}/disconnect:complete': disconnectComplete,
  'POST /internal/assets/product-instances/{id}/suspension:apply': suspension,
  'POST /internal/assets/product-instances/{id}/resumption:apply': resumption,
  'POST /internal/assets/product-instances/{id}/move:apply': {
    request: {
      expectedVersion: 7,
      orderId: ID.branch.order,
      orderItemId: '7d1e3c5a-9b2f-4d6e-8a0c-1e3f5a7b9c2d',
      place: { name: 'Surabaya branch (new office)', street: 'Jl. Pemuda 31-37', city: 'Surabaya', country: 'ID' },
      technicalParameters: { profile: 'BIZ-2G', vlan: 2310 },
    },
  },
  'POST /internal/assets/product-instances/{id}/replacement:apply': {
    request: {
      expectedVersion: 3,
      orderId: ID.branch.order,
      orderItemId: '3a5c7e9b-1d2f-4a6c-8e0b-2d4f6a8c0e1f',
      replacement: {
        productOfferingId: ID.offering.managedRouter,
        productOfferingVersion: 1,
        productSpecificationId: '6f2b9c41-7e3a-5d8c-a1b4-9e0f2c3d4a5b',
        productSpecificationVersion: 1,
        name: 'Managed Router',
        catalogSnapshot: { offeringCode: 'managed-router', offeringName: 'Managed Router' },
        configuration: { model: 'Cisco ISR 1100' },
        price: price(priceLine('3a5c7e9b-1d2f-4a6c-8e0b-2d4f6a8c0e1f', ID.offering.managedRouter, 'managed-router-monthly', 'Managed router monthly', 'recurring', '120000000')),
      },
    },
  },
  'POST /internal/assets/product-instances/{id}/service-attachment:apply': serviceAttach,
  'POST /internal/assets/service-instances/{id}/resource-attachment:apply': resourceAttach,
  'POST /internal/assets/service-instances/{id}/release:apply': { request: { expectedVersion: 2, ...DISCONNECT } },
  'POST /internal/assets/resource-instances/{id}/release:apply': { request: { expectedVersion: 1, ...DISCONNECT } },
  'POST /internal/assets/subscriptions/{id}/renewal:apply': renewal,
  'POST /internal/assets/subscriptions/{id}/suspension:apply': { request: { expectedVersion: 2, correlationId: 'dunning-run-2026-07' } },
  'POST /internal/assets/subscriptions/{id}/resumption:apply': { request: { expectedVersion: 3, correlationId: 'payment-received-INV-2026-0612' } },
  'POST /internal/assets/subscriptions/{id}/termination:apply': { request: { expectedVersion: 3, effectiveAt: '2028-07-02T10:30:00.000Z' } },
  'POST /internal/assets/relationships': {
    request: { sourceProductInstanceId: ID.demo.slaGold, targetProductInstanceId: ID.branch.fiber, type: 'ADDON_OF' },
  },
  'POST /internal/assets/relationships/{id}/end:apply': { request: { validTo: '2026-07-31T17:00:00.000Z' } },
  'POST /accounts': accountOpen,
  'POST /product-offerings': { request: offeringWithBillingTerms },
};

// ------------------------------------------------------------------ problems

const problem = (type: string, detail: string, extensions: Record<string, unknown> = {}) => ({
  type: `/problems/${type}`,
  title: PROBLEM_TYPES[type].title,
  status: PROBLEM_TYPES[type].status,
  detail,
  instance: '532446e2-4e03-43ed-9251-0fddb2aa8cf3',
  ...extensions,
});
const taskId = 'a4c6e8f0-2b4d-4f6a-8c0e-3b5d7f9a1c3e';

/** One example per problem type, shown under each operation's problem responses. */
export const PROBLEM_EXAMPLES: Record<string, unknown> = {
  'validation-error': problem('validation-error', '/items/0/expectedVersion must be integer', {
    errors: [{ field: '/items/0/expectedVersion', message: 'must be integer' }],
  }),
  unauthorized: problem('unauthorized', 'send your API key as "Authorization: Bearer <key>"'),
  forbidden: problem('forbidden', 'viewer keys can only read'),
  'not-found': problem('not-found', `product instance ${ID.branch.fiber} does not exist`, { resource: 'product instance', id: ID.branch.fiber }),
  'concurrent-modification': problem('concurrent-modification', `product instance ${ID.branch.fiber} is at version 9, not the expected version 3`, {
    resource: 'product instance', id: ID.branch.fiber, expectedVersion: 3, currentVersion: 9,
  }),
  'operation-in-progress': problem('operation-in-progress',
    `product instance ${ID.demo.fiber} is held by MODIFY of order ${ID.modifyOrder} item 40e6eac0-4c12-4ad5-a103-762c0d0a2873`, {
      productInstanceId: ID.demo.fiber,
      heldBy: { orderId: ID.modifyOrder, orderItemId: '40e6eac0-4c12-4ad5-a103-762c0d0a2873', operationType: 'MODIFY' },
    }),
  'illegal-transition': problem('illegal-transition', `product instance ${ID.branch.fiber} is DISCONNECTED: suspension:apply is not allowed; allowed: none`, {
    resource: 'product instance', id: ID.branch.fiber, state: 'DISCONNECTED', command: 'suspension:apply', allowedCommands: [],
  }),
  'invalid-relationship': problem('invalid-relationship', `product instance ${ID.demo.staticIp} already has parent ${ID.demo.fiber}`, {
    rule: 'one-parent', existingParent: ID.demo.fiber,
  }),
  'duplicate-relationship': problem('duplicate-relationship', `${ID.demo.slaGold} ADDON_OF ${ID.demo.fiber} already exists`),
  'business-rule-violation': problem('business-rule-violation', 'offering static-ip-29 is an add-on: name its parent (parentLineNumber or parentProductInstanceId)'),
  'idempotency-key-reuse': problem('idempotency-key-reuse',
    `Idempotency-Key "order-2026-07-02-0815" was used for a different request (/accounts/${ID.account}/orders); use a new key`),
  'idempotency-in-progress': problem('idempotency-in-progress', 'the first request with Idempotency-Key "order-2026-07-02-0815" has not finished yet'),
  'duplicate-code': problem('duplicate-code', 'a product offering with code "business-fiber" exists already; create a new version of it instead', { code: 'business-fiber' }),
  'draft-exists': problem('draft-exists', `product offering ${ID.offering.businessFiber} already has draft version 2; edit it (PUT …/versions/2) or publish it first`, {
    id: ID.offering.businessFiber, draftVersion: 2,
  }),
  'promo-exhausted': problem('promo-exhausted', 'promo WELCOME10 has used all of its 1000 redemptions', {
    ruleId: 'cdf156fa-933c-4903-9fb0-3f1d40dfd168', code: 'welcome10', promoCode: 'WELCOME10', maxRedemptions: 1000,
  }),
  'payload-too-large': problem('payload-too-large', 'Request body is too large'),
  'unsupported-media-type': problem('unsupported-media-type', 'Unsupported Media Type: text/plain'),
  'stale-quote': problem('stale-quote', `quote ${ID.quote} was made against versions that changed: ${ID.demo.fiber} (quoted v3, now v5); make a new quote`, {
    quoteId: ID.quote, changedInstances: [{ productInstanceId: ID.demo.fiber, quotedVersion: 3, currentVersion: 5, currentStatus: 'ACTIVE' }],
  }),
  'quote-expired': problem('quote-expired', `quote ${ID.quote} expired at 2026-07-05T10:30:00.000Z; make a new quote`, {
    quoteId: ID.quote, expiresAt: '2026-07-05T10:30:00.000Z',
  }),
  'point-of-no-return': problem('point-of-no-return',
    `task 3 (activate, running) of order ${ID.modifyOrder} is past its point of no return; the amendment would affect it`, {
      task: { taskId, taskNumber: 3, step: 'activate', status: 'running', orderId: ID.modifyOrder, itemId: '40e6eac0-4c12-4ad5-a103-762c0d0a2873' },
    }),
  'bad-signature': problem('bad-signature', 'X-Tenure-Signature does not match the body and timestamp'),
  'database-unavailable': problem('database-unavailable', 'the database is unavailable: connection refused; retry in a few seconds'),
};
