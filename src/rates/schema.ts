// How currencies, their rate sources, their quotes and the platform settings are documented in
// the admin API, and the request models of a rate source.
import parseJsonPath from 'jsonpath-rfc9535/parser';
import { decimal, enumeration, integer, model, optional, taggedUnion, url, type Field } from '../http/validation.ts';
import { nullableTimestamp, record, timestamp, usdt } from '../http/schemas.ts';
import { PERCENT_DECIMALS } from '../money.ts';

export const SOURCE_URL_LENGTH_MAX = 2048;
export const JSON_PATH_LENGTH_MAX = 256;
/** A day: a source polled less often than that is not following a market. */
export const REFRESH_SECONDS_MAX = 86_400;
/** A week: past that, a quote is no market rate. */
export const MAX_AGE_SECONDS_MAX = 604_800;

/** A JSONPath (RFC 9535), checked by parsing it as the worker will: "$.data.price". */
export function jsonPath(): Field<string> {
  const invalid = (why: string) => {
    const msg = `invalid JSONPath: ${why}`;
    return { ok: false as const, issue: { type: 'value_error', msg: `Value error, ${msg}`, ctx: { error: msg } } };
  };
  return {
    schema: {
      type: 'string',
      minLength: 1,
      maxLength: JSON_PATH_LENGTH_MAX,
      description: 'RFC 9535 JSONPath selecting exactly one value: a JSON number or a decimal string',
      examples: ['$.data.price'],
    },
    required: true,
    parse(input) {
      if (typeof input !== 'string') return { ok: false, issue: { type: 'string_type', msg: 'Input should be a valid string' } };
      if ([...input].length > JSON_PATH_LENGTH_MAX) {
        const max = JSON_PATH_LENGTH_MAX;
        return { ok: false, issue: { type: 'string_too_long', msg: `String should have at most ${max} characters`, ctx: { max_length: max } } };
      }
      try {
        parseJsonPath(input);
      } catch (error) {
        return invalid((error as Error).message.slice(0, 200));
      }
      return { ok: true, value: input };
    },
  };
}

const percent = (options: { gt?: string; ge?: string; lt?: string; description: string; example: string }) =>
  decimal({ ...options, maxPlaces: PERCENT_DECIMALS, maxDigits: 5 });

export const rateSourceField = taggedUnion(
  'kind',
  {
    manual: model({ kind: enumeration(['manual'] as const) }, { description: 'The rate is set by hand (the rate field)' }),
    http_json: model(
      {
        kind: enumeration(['http_json'] as const),
        url: url({
          schemes: ['http', 'https'],
          maxLength: SOURCE_URL_LENGTH_MAX,
          description: 'GET answers JSON; may be a private or loopback address (the operator configures it)',
          example: 'https://prices.example.com/v1/usdt-uah',
        }),
        json_path: jsonPath(),
        refresh_seconds: integer({ min: 5, max: REFRESH_SECONDS_MAX, description: 'Fetched every this many seconds' }),
        max_age_seconds: integer({
          min: 5,
          max: MAX_AGE_SECONDS_MAX,
          description: 'create-invoice answers 503 RATE_UNAVAILABLE once the last accepted quote is older; at least refresh_seconds',
        }),
        markup_percent: optional(percent({ ge: '0', lt: '100', description: 'Applied rate = quote × (1 + markup/100); default 0', example: '1.50' })),
        max_change_percent: percent({
          gt: '0',
          lt: '1000',
          description: 'A quote further than this from the last accepted one is refused (the last good rate stays)',
          example: '5.00',
        }),
      },
      { description: 'The rate follows an HTTP JSON source, polled by the rate worker' },
    ),
  },
  { description: 'Where the rate comes from; omitted: unchanged' },
);

const rateSourceObject = {
  type: 'object',
  required: ['kind'],
  description: 'Where the rate comes from; the http_json fields are present only for that kind',
  properties: {
    kind: { type: 'string', enum: ['manual', 'http_json'] },
    url: { type: 'string' },
    json_path: { type: 'string' },
    refresh_seconds: { type: 'integer' },
    max_age_seconds: { type: 'integer' },
    markup_percent: { type: 'string', examples: ['1.50'] },
    max_change_percent: { type: 'string', examples: ['5.00'] },
  },
};

export const currencyObject = record({
  code: { type: 'string', examples: ['UAH'] },
  enabled: { type: 'boolean' },
  rate: { type: ['string', 'null'], description: 'Fiat per 1 USDT; null: no rate yet', examples: ['41.50'] },
  min_amount: { type: ['string', 'null'], description: 'Smallest invoice amount; null: no minimum' },
  max_amount: { type: ['string', 'null'], description: 'Largest invoice amount; null: no maximum' },
  updated_at: timestamp('When the currency last changed'),
  rate_source: rateSourceObject,
  raw_rate: { type: ['string', 'null'], description: "The source's last accepted quote, before the markup; null for a manual rate", examples: ['41.00'] },
  rate_fetched_at: nullableTimestamp('When that quote was fetched; null for a manual rate'),
});

export const quoteObject = record({
  quote_id: { type: 'string', format: 'uuid' },
  fetched_at: timestamp('When the source answered'),
  accepted: { type: 'boolean', description: 'Accepted quotes became the rate; refused ones left the last good rate' },
  reason: {
    type: ['string', 'null'],
    enum: [
      'http_status',
      'timeout',
      'fetch_failed',
      'too_large',
      'invalid_json',
      'no_match',
      'not_a_number',
      'not_positive',
      'out_of_range',
      'max_change',
      null,
    ],
    description: 'Why it was refused; null when accepted',
  },
  http_status: { type: ['integer', 'null'], description: "The source's HTTP status; null when no answer came" },
  raw_text: { type: ['string', 'null'], description: 'What the JSONPath selected, as the source wrote it (100 characters at most)' },
  raw_rate: { type: ['string', 'null'], description: 'The quote as a decimal, when it was one' },
  markup_percent: { type: ['string', 'null'], examples: ['1.50'] },
  rate: { type: ['string', 'null'], description: 'The applied rate, when accepted', examples: ['41.62'] },
});

export const settingsObject = record({
  deals_enabled: { type: 'boolean', description: 'Off: create-invoice answers 503 DEALS_SYSTEM_DISABLED' },
  invoice_ttl_minutes: { type: 'integer' },
  customer_invoices_per_minute: { type: 'integer' },
  customer_max_pending: { type: 'integer' },
  trader_min_insurance_usdt: usdt('Insurance a trader keeps to get new deals; 0.00: no minimum', '100.00'),
  withdrawal_min_usdt: usdt('The smallest withdrawal; always above the fee', '10.00'),
  withdrawal_fee_usdt: usdt('The fee of every withdrawal, paid out of its amount', '2.00'),
  withdrawal_auto_approve_below_usdt: usdt('Withdrawals below this are approved at once; 0: never', '0.00'),
  amount_tolerance: { type: 'string', description: 'Fiat within which a received amount counts as the invoice amount', examples: ['0.00'] },
  overpayment_max_percent: { type: 'string', description: 'How far above the invoice amount a trader may confirm', examples: ['10.00'] },
  late_confirm_minutes: { type: 'integer', description: 'A deal the customer said they paid stays confirmable this long after expiry' },
  late_unpaid_confirm_minutes: { type: 'integer', description: 'Any other expired deal stays confirmable this long; 0: never' },
  trader_unconfirmed_max: { type: 'integer', description: 'More customer_paid deals older than 30 minutes than this: the trader gets no new deals' },
  dispute_window_hours: { type: 'integer', description: 'How long after expiry a customer may upload a receipt' },
  dispute_trader_hours: { type: 'integer', description: 'How long a trader has to answer a dispute' },
  customer_unpaid_max: { type: 'integer', description: 'Unpaid "I have paid" deals of one customer in 24 h before create-invoice answers 429' },
  updated_at: timestamp('When the settings last changed'),
});
