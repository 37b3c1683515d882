// How withdrawals are documented in the merchant, trader and admin APIs, and the request models
// that create, list and move them.
import { pageFields } from '../http/paging.ts';
import { record, timestamp, usdt } from '../http/schemas.ts';
import { enumeration, model, optional, string, tronAddress, usdtAmount, type JsonSchema } from '../http/validation.ts';
import { OWNER_KINDS, WITHDRAWAL_NETWORKS, WITHDRAWAL_STATUSES } from './withdrawals.ts';

export const withdrawalObject = record({
  withdrawal_id: { type: 'string', format: 'uuid' },
  status: {
    type: 'string',
    enum: [...WITHDRAWAL_STATUSES],
    description:
      'requested → approved → completed; rejected (by the operator, reason says why) or cancelled (by the owner, only while requested). The amount is held from the request until completed, and returned to the balance if rejected or cancelled',
  },
  amount_usdt: usdt('USDT taken from the balance', '100.00'),
  fee_usdt: usdt('The withdrawal fee, in force at the request, paid out of the amount', '2.00'),
  net_usdt: usdt('USDT sent to the address: amount less fee', '98.00'),
  address: { type: 'string', description: 'TRON (TRC20) address the USDT is sent to', examples: ['TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7'] },
  network: { type: 'string', enum: [...WITHDRAWAL_NETWORKS] },
  tx_hash: { type: ['string', 'null'], description: 'The chain transaction that paid it out; null until completed', examples: [null] },
  reason: { type: ['string', 'null'], description: "The operator's reason for a rejection; null otherwise" },
  created_at: timestamp('When the withdrawal was requested'),
  updated_at: timestamp('When its status last changed'),
});

export const adminWithdrawalObject = record({
  ...(withdrawalObject.properties as Record<string, JsonSchema>),
  owner_kind: { type: 'string', enum: [...OWNER_KINDS], description: 'Whose balance it is taken from' },
  owner_id: { type: 'string', format: 'uuid', description: 'The merchant_id or trader_id' },
});

export const newWithdrawal = model({
  amount_usdt: usdtAmount({ description: 'USDT to withdraw (at most 2 decimals), the fee included', example: '100.00' }),
  address: tronAddress({ description: 'TRON address (base58check, 34 characters, starting with T)', example: 'TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7' }),
  network: enumeration(WITHDRAWAL_NETWORKS),
});

export const withdrawalParams = model({ withdrawal_id: string({ min: 1, max: 64 }) });

export const withdrawalListQuery = model({ status: optional(enumeration(WITHDRAWAL_STATUSES)), ...pageFields });

export const adminWithdrawalListQuery = model({
  status: optional(enumeration(WITHDRAWAL_STATUSES)),
  owner_kind: optional(enumeration(OWNER_KINDS)),
  ...pageFields,
});

export const completeBody = model({
  tx_hash: string({ pattern: '^[0-9a-fA-F]{64}$', description: 'The chain transaction that sent the USDT (64 hex digits)' }),
});

export const rejectBody = model({ reason: string({ min: 1, max: 500, description: 'Why, shown to the owner' }) });
