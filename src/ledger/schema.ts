// How balances and the ledger's check are documented.
import { pageOf, record, timestamp, usdt } from '../http/schemas.ts';
import { TRADER_STATEMENT_ACCOUNTS } from './accounts.ts';

export { TRADER_STATEMENT_ACCOUNTS };

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

const transferId = { type: 'string', description: "The ledger transfer's id (increasing)", examples: ['1042'] };
const signedUsdt = usdt('Signed: + into the account, − out of it; as many decimals as it has (2 to 6), never rounded', '+35.42');
const balanceAfter = usdt("The account's balance right after this movement", '135.42');
const nullableId = (description: string) => ({ type: ['string', 'null'], format: 'uuid', description });

export const merchantStatement = pageOf(
  record({
    transfer_id: transferId,
    created_at: timestamp('When the movement was posted'),
    kind: { type: 'string', examples: ['deal_credit', 'withdrawal_hold'] },
    amount_usdt: signedUsdt,
    invoice_id: nullableId("The invoice whose deal caused it; null when it was not a deal's"),
    withdrawal_id: nullableId('The withdrawal that caused it; null when it was not a withdrawal'),
    balance_after_usdt: balanceAfter,
  }),
  'Movements of the merchant\'s available balance, newest first; a full statement sums to "available"',
);

export const traderStatement = pageOf(
  record({
    transfer_id: transferId,
    created_at: timestamp('When the movement was posted'),
    account: { type: 'string', enum: [...TRADER_STATEMENT_ACCOUNTS], description: "Which of the trader's accounts moved" },
    kind: { type: 'string', examples: ['deal_lock', 'topup', 'insurance_lock'] },
    amount_usdt: signedUsdt,
    deal_id: nullableId('The deal that caused it'),
    invoice_id: nullableId("The deal's invoice"),
    topup_id: nullableId('The top-up that caused it'),
    withdrawal_id: nullableId('The withdrawal that caused it'),
    deposit_id: nullableId("The operator's deposit that caused it"),
    balance_after_usdt: balanceAfter,
  }),
  "Movements of one of the trader's accounts, newest first; a full statement sums to that account's balance",
);

export const invoiceLedger = record({
  invoice_id: { type: 'string', format: 'uuid' },
  transfers: {
    type: 'array',
    description: "Every ledger transfer the invoice's deals caused, in the order posted; a trader's accounts are named by their role",
    items: record({
      transfer_id: transferId,
      from_account: { type: 'string', examples: ['trader:locked'] },
      to_account: { type: 'string', examples: ['merchant:…'] },
      amount_usdt: usdt('Amount moved', '35.42'),
      kind: { type: 'string', examples: ['deal_lock', 'deal_credit', 'deal_revenue', 'deal_release'] },
      created_at: timestamp('When it was posted'),
    }),
  },
  accounts: {
    type: 'array',
    description: "Each account's net change from these transfers; together they sum to zero",
    items: record({ account: { type: 'string' }, net_usdt: usdt('Signed net change', '+35.42') }),
  },
  breakdown: record(
    {
      gross_usdt: usdt('The invoice amount in USDT at its rate', '36.144578'),
      trader_reward_usdt: { type: ['string', 'null'], description: "The trader's reward; null until a deal completed", examples: ['0.361445'] },
      platform_revenue_usdt: { type: ['string', 'null'], description: "Kasa's share; null until a deal completed", examples: ['0.363133'] },
      merchant_usdt: usdt("The merchant's credit", '35.42'),
    },
    'gross_usdt = trader_reward_usdt + platform_revenue_usdt + merchant_usdt once a deal completed',
  ),
});
