// How currencies and the platform settings are documented in the admin API.
import { record, timestamp, usdt } from '../http/schemas.ts';

export const currencyObject = record({
  code: { type: 'string', examples: ['UAH'] },
  enabled: { type: 'boolean' },
  rate: { type: ['string', 'null'], description: 'Fiat per 1 USDT; null: no rate yet', examples: ['41.50'] },
  min_amount: { type: ['string', 'null'], description: 'Smallest invoice amount; null: no minimum' },
  max_amount: { type: ['string', 'null'], description: 'Largest invoice amount; null: no maximum' },
  updated_at: timestamp('When the currency last changed'),
});

export const settingsObject = record({
  deals_enabled: { type: 'boolean', description: 'Off: create-invoice answers 503 DEALS_SYSTEM_DISABLED' },
  invoice_ttl_minutes: { type: 'integer' },
  customer_invoices_per_minute: { type: 'integer' },
  customer_max_pending: { type: 'integer' },
  withdrawal_min_usdt: usdt('The smallest withdrawal; always above the fee', '10.00'),
  withdrawal_fee_usdt: usdt('The fee of every withdrawal, paid out of its amount', '2.00'),
  withdrawal_auto_approve_below_usdt: usdt('Withdrawals below this are approved at once; 0: never', '0.00'),
  updated_at: timestamp('When the settings last changed'),
});
