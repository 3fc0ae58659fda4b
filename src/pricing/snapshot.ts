/**
 * The price snapshot a product instance keeps (docs/installed-base.md "The price snapshot"):
 * the account's currency and the pricing engine's lines for the item that sold it. Orders
 * write it from the engine's result; the internal asset routes take it from a caller, and
 * billing will read it, so those routes hold it to this schema: one shape everywhere.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CHARGE_KINDS, Currency, DecimalString, MinorUnits, PriceTier, RECURRING_PERIODS, SignedMinorUnits } from '../catalog/index.ts';
import type { PricedLine } from './types.ts';

const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength });

export const PriceAdjustmentSchema = Type.Object({
  ruleId: Text(200),
  ruleCode: Text(200),
  ruleType: Text(80),
  description: Type.String({ maxLength: 2000 }),
  amountMinor: SignedMinorUnits,
}, { additionalProperties: false });

export const PricedLineSchema = Type.Object({
  lineId: Text(300),
  itemId: Text(200),
  offeringId: Type.String({ format: 'uuid' }),
  offeringVersion: Type.Integer({ minimum: 1, maximum: 2147483647 }),
  chargeCode: Text(80),
  chargeName: Text(300),
  kind: Type.Union(CHARGE_KINDS.map((k) => Type.Literal(k))),
  period: Type.Union([...RECURRING_PERIODS.map((p) => Type.Literal(p)), Type.Null()]),
  periodDays: Type.Union([Type.Integer({ minimum: 1, maximum: 3660 }), Type.Null()]),
  quantity: Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'Units sold, as a string of digits' }),
  listAmountMinor: MinorUnits,
  adjustments: Type.Array(PriceAdjustmentSchema, { maxItems: 100 }),
  finalAmountMinor: MinorUnits,
  usage: Type.Union([
    Type.Object({
      unit: Text(80),
      tierMode: Type.Union([Type.Literal('graduated'), Type.Literal('volume')]),
      tiers: Type.Array(PriceTier, { minItems: 1, maxItems: 20 }),
      estimatedQuantity: Type.Union([DecimalString, Type.Null()]),
    }, { additionalProperties: false }),
    Type.Null(),
  ]),
}, { additionalProperties: false });

export const PriceSnapshotSchema = Type.Object({
  currency: Currency,
  lines: Type.Array(PricedLineSchema, { maxItems: 200 }),
}, { additionalProperties: false, description: 'The price snapshot: the currency and the pricing engine\'s lines (amounts in integer minor units, as strings).' });

export type PriceSnapshot = Static<typeof PriceSnapshotSchema>;

// The schema and the engine's line type describe one thing: this fails to compile if they part.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const linesAgree: Same<Static<typeof PricedLineSchema>, PricedLine> = true;
void linesAgree;
