// How the operator's numbers of a day are documented.
import { record, timestamp } from '../http/schemas.ts';
import type { JsonSchema } from '../http/validation.ts';

const count = (description: string): JsonSchema => ({ type: 'integer', minimum: 0, description });
const usdt = (description: string): JsonSchema => ({ type: 'string', pattern: '^\\d+\\.\\d{2,6}$', description, examples: ['35.42'] });

export const dayNumbersObject = record({
  day: { type: 'string', format: 'date', description: 'The UTC day the invoice numbers are of (today)' },
  from: timestamp('The day starts (inclusive)'),
  to: timestamp('The day ends (exclusive)'),
  invoices: record(
    {
      created: count('Invoices created that day'),
      pending: count('Of them, still payable now'),
      success: count('Of them, paid'),
      expired: count('Of them, expired (also those past expires_at the worker has not swept yet)'),
      cancelled: count('Of them, cancelled'),
      success_rate_percent: {
        type: ['string', 'null'],
        pattern: '^\\d{1,3}\\.\\d{2}$',
        description: 'Paid among those that have ended (success, expired, cancelled), in percent, rounded down; null while none has ended',
        examples: ['66.66'],
      },
    },
    "The day's invoices by their status now",
  ),
  volume: record(
    {
      currencies: {
        type: 'array',
        description: 'The fiat received for the paid invoices of the day, per currency',
        items: record({
          currency: { type: 'string', examples: ['UAH'] },
          invoices: count('Paid invoices in this currency'),
          amount: { type: 'string', description: 'Fiat received (paid_amount; the invoice amount when it equals it)', examples: ['1500.00'] },
        }),
      },
      gross_usdt: usdt('USDT the paid invoices grossed'),
      merchant_usdt: usdt("USDT credited to the merchants' balances for them"),
    },
    "What the day's paid invoices brought",
  ),
  deals: record({ open: count('Deals open now (awaiting payment or customer said they paid)'), customer_paid: count('Of them, the customer said they paid') }),
  traders_with_active_requisite: count('Active traders with at least one active requisite now'),
  webhooks: record(
    {
      pending: count('Deliveries not delivered yet and still being retried'),
      due: count('Of them, due to be sent now'),
      oldest_pending_age_seconds: { type: ['integer', 'null'], minimum: 0, description: 'Age of the oldest pending delivery; null when none is pending' },
    },
    'The webhook backlog',
  ),
  ledger: record(
    {
      ok: { type: 'boolean', description: 'Every balance is the sum of its transfers, they sum to zero, none but world is negative' },
      accounts: count('Accounts checked'),
      transfers: count('Transfers checked'),
      mismatched: count('Accounts whose balance differs from their transfers'),
      negative: count('Accounts other than world below zero'),
    },
    'The ledger check (GET /admin/v1/ledger/verify has the detail)',
  ),
});
