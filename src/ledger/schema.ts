// How balances and the ledger's check are documented.
import { pageOf, record, usdt } from '../http/schemas.ts';

export const merchantBalance = record({
  currency: { type: 'string', enum: ['USDT'] },
  available: usdt('USDT credited from paid invoices, free to withdraw'),
  on_hold: usdt('USDT held by withdrawals not yet completed', '0.00'),
});

export const accountList = pageOf(
  record({ account: { type: 'string', examples: ['merchant:…', 'platform:revenue', 'world'] }, balance: usdt('Balance in USDT', '0.000000') }),
);

export const verifyReport = record({
  ok: { type: 'boolean', description: 'false if any check below failed' },
  accounts: { type: 'integer' },
  transfers: { type: 'integer' },
  total: usdt('Sum of all balances; always 0', '0.000000'),
  mismatched: {
    type: 'array',
    description: 'Accounts whose balance differs from the sum of their transfers',
    items: record({ account: { type: 'string' }, balance: usdt('Stored balance'), computed: usdt('Sum of its transfers') }),
  },
  negative: { type: 'array', description: 'Accounts other than world below zero', items: record({ account: { type: 'string' }, balance: usdt('Balance') }) },
});
