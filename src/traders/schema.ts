// How traders, their cards and their deals are documented in the trader and admin APIs, and the
// request field of a card number as a trader types it. A card
// number appears in full only in the trader's own answers; admin answers carry it masked
// (views.ts), in the same field.
import { nullableTimestamp, record, timestamp, usdt } from '../http/schemas.ts';
import { boolean, enumeration, fiatAmount, integer, model, nullable, optional, string, type Field, type JsonSchema } from '../http/validation.ts';
import { luhnValid } from './card.ts';
import { DEAL_STATUSES, REJECT_REASONS } from '../lifecycle.ts';

const nullableFiat = (description: string): JsonSchema => ({ type: ['string', 'null'], description, examples: ['1500.00'] });

export const traderObject = record({
  trader_id: { type: 'string', format: 'uuid' },
  name: { type: 'string' },
  status: { type: 'string', enum: ['active', 'disabled'] },
  reward_percent: { type: 'string', description: 'Share of each deal the trader earns, in percent', examples: ['1.00'] },
  created_at: timestamp('When the trader was created'),
  updated_at: timestamp('When the trader last changed'),
});

export const balanceObject = record({
  currency: { type: 'string', enum: ['USDT'] },
  available: usdt('USDT free to back new deals', '1000.00'),
  locked: usdt('USDT locked by open deals', '36.14'),
  insurance: usdt('Insurance deposit: neither withdrawable nor lockable by deals', '100.00'),
  on_hold: usdt('Asked to be withdrawn, not yet paid out', '0.00'),
  eligible: { type: 'boolean', description: 'Whether the deals engine gives this trader new deals' },
  reason: {
    type: ['string', 'null'],
    enum: ['disabled', 'insurance_below_minimum', null],
    description: 'Why not eligible: disabled, or insurance below the trader_min_insurance_usdt setting; null when eligible',
  },
});

export const traderWithBalance = record({ ...(traderObject.properties as Record<string, JsonSchema>), balance: balanceObject });

export const insuranceMove = record({
  trader_id: { type: 'string', format: 'uuid' },
  amount_usdt: usdt('USDT moved into insurance; negative: released to available', '100.00'),
  balance: balanceObject,
});

/** An API key as issued: the only answer that carries it in plain text. */
export const issuedApiKey = record({
  key_id: { type: 'string', format: 'uuid' },
  api_key: { type: 'string', description: 'The key itself, shown once and never again' },
  prefix: { type: 'string', description: 'The first characters of the key, to recognize it later' },
});

export const createdTrader = record({ ...(traderObject.properties as Record<string, JsonSchema>), ...(issuedApiKey.properties as Record<string, JsonSchema>) });

export const depositObject = record({
  deposit_id: { type: 'string', format: 'uuid' },
  trader_id: { type: 'string', format: 'uuid' },
  amount_usdt: usdt('USDT credited', '1000.00'),
  reference: { type: 'string' },
  available: usdt("The trader's available balance after the deposit", '1000.00'),
});

export const requisiteObject = record({
  requisite_id: { type: 'string', format: 'uuid' },
  currency: { type: 'string', examples: ['UAH'] },
  method: { type: 'string', enum: ['card'] },
  bank_name: { type: 'string' },
  card_number: { type: 'string', description: 'In full: only the trader who owns the card sees this answer' },
  holder_name: { type: 'string' },
  min_amount: nullableFiat('Smallest payment this card takes; null: no minimum'),
  max_amount: nullableFiat('Largest payment this card takes; null: no maximum'),
  daily_limit: nullableFiat('Most this card takes per UTC day; null: no limit'),
  max_open_deals: { type: 'integer', minimum: 1 },
  active: { type: 'boolean' },
  last_used_at: nullableTimestamp('When a deal last opened on this card'),
  created_at: timestamp('When the card was added'),
});

export const dealObject = record({
  deal_id: { type: 'string', format: 'uuid' },
  invoice_id: { type: 'string', format: 'uuid' },
  trader_id: { type: 'string', format: 'uuid' },
  requisite_id: { type: 'string', format: 'uuid' },
  status: { type: 'string', enum: DEAL_STATUSES },
  amount: { type: 'string', description: 'Fiat the customer transfers', examples: ['1500.00'] },
  currency: { type: 'string', examples: ['UAH'] },
  bank_name: { type: 'string' },
  card_number: { type: 'string', description: "In full in the trader's own answers, masked in the admin's" },
  holder_name: { type: 'string' },
  gross_usdt: usdt('The fiat amount in USDT at the invoice rate', '36.144578'),
  trader_reward: usdt("The trader's reward", '0.361445'),
  trader_cost: usdt('USDT the deal locks from the trader', '35.783133'),
  merchant_usdt: usdt("The merchant's credit"),
  confirmed_by: { type: ['string', 'null'], enum: ['trader', 'admin', null], description: 'Who confirmed the fiat arrived; null until then' },
  opened_at: timestamp('When the deal opened'),
  customer_paid_at: nullableTimestamp('When the customer said they paid'),
  closed_at: nullableTimestamp('When the deal completed, expired or was cancelled'),
  expires_at: timestamp("The invoice's expiry"),
  reject_reason: {
    type: ['string', 'null'],
    enum: [...REJECT_REASONS, null],
    description: 'Why the trader rejected the deal (no_payment, wrong_amount, card_blocked, other); null unless rejected',
  },
  reject_comment: { type: ['string', 'null'], description: "The trader's words on a reject" },
  rejected_at: nullableTimestamp('When the trader rejected the deal'),
  cancel_reason: { type: ['string', 'null'], description: 'Why the operator cancelled the deal; null unless it did' },
});

/** A card number field: spaces and dashes allowed in input, 12–19 digits, Luhn-valid. */
export function cardNumber(): Field<string> {
  return {
    schema: { type: 'string', description: 'Card number (12–19 digits, Luhn-valid; spaces allowed)', examples: ['4149 4999 1234 1234'] },
    required: true,
    parse(input) {
      if (typeof input !== 'string') return { ok: false, issue: { type: 'string_type', msg: 'Input should be a valid string' } };
      const digits = input.replace(/[\s-]/g, '');
      if (!/^\d{12,19}$/.test(digits)) {
        const msg = 'card number must have 12 to 19 digits';
        return { ok: false, issue: { type: 'value_error', msg: `Value error, ${msg}`, ctx: { error: msg } } };
      }
      if (!luhnValid(digits)) {
        const msg = 'card number fails the Luhn check';
        return { ok: false, issue: { type: 'value_error', msg: `Value error, ${msg}`, ctx: { error: msg } } };
      }
      return { ok: true, value: digits };
    },
  };
}

/** A decimal field that refuses zero (a move of nothing is a mistake, not a no-op). */
export function nonZero(field: Field<string>): Field<string> {
  return {
    schema: field.schema,
    required: field.required,
    parse(input) {
      const parsed = field.parse(input);
      if (parsed.ok && /^-?0(\.0*)?$/.test(parsed.value)) {
        const msg = 'amount must not be zero';
        return { ok: false, issue: { type: 'value_error', msg: `Value error, ${msg}`, ctx: { error: msg } } };
      }
      return parsed;
    },
  };
}

/** The most open deals one card may be set to hold at a time (max_open_deals). */
const REQUISITE_OPEN_DEALS_MAX = 1000;
const REQUISITE_TEXT_CHARS_MAX = 100;

/**
 * A new card, as the trader API and the trader cabinet take it: one set of rules, so a card the
 * cabinet accepts is one the API would have accepted, and the other way round.
 */
export const newRequisiteModel = model({
  currency: string({ pattern: '^[A-Z]{3}$' }),
  method: optional(enumeration(['card'] as const)),
  bank_name: string({ min: 1, max: REQUISITE_TEXT_CHARS_MAX }),
  card_number: cardNumber(),
  holder_name: string({ min: 1, max: REQUISITE_TEXT_CHARS_MAX }),
  min_amount: optional(fiatAmount({ description: 'Smallest payment this card takes' })),
  max_amount: optional(fiatAmount({ description: 'Largest payment this card takes' })),
  daily_limit: optional(fiatAmount({ description: 'Most this card takes per UTC day' })),
  max_open_deals: optional(integer({ min: 1, max: REQUISITE_OPEN_DEALS_MAX })),
  active: optional(boolean()),
});

/** A change to a card: absent fields stay, a null limit is cleared. */
export const requisitePatchModel = model({
  bank_name: optional(string({ min: 1, max: REQUISITE_TEXT_CHARS_MAX })),
  card_number: optional(cardNumber()),
  holder_name: optional(string({ min: 1, max: REQUISITE_TEXT_CHARS_MAX })),
  min_amount: nullable(fiatAmount()),
  max_amount: nullable(fiatAmount()),
  daily_limit: nullable(fiatAmount()),
  max_open_deals: optional(integer({ min: 1, max: REQUISITE_OPEN_DEALS_MAX })),
  active: optional(boolean()),
});
