// How top-ups are documented in the trader and admin APIs, and how a row appears in them.
import { isoSeconds } from '../clock.ts';
import { record, timestamp, usdt } from '../http/schemas.ts';
import { decimal, enumeration, model, optional, string } from '../http/validation.ts';
import { pageFields } from '../http/paging.ts';
import { formatUsdt } from '../money.ts';
import { TOPUP_NETWORKS, TOPUP_STATUSES, TX_HASH_PATTERN, type TopupRow } from './topups.ts';

export const topupObject = record({
  topup_id: { type: 'string', format: 'uuid' },
  trader_id: { type: 'string', format: 'uuid' },
  status: { type: 'string', enum: [...TOPUP_STATUSES], description: 'pending until an operator confirms (the trader is credited) or rejects it' },
  amount_usdt: usdt('USDT the trader sent', '500.00'),
  network: { type: 'string', enum: [...TOPUP_NETWORKS] },
  tx_hash: { type: 'string', description: 'The transfer on chain (64 hex digits, lower case)' },
  reason: { type: ['string', 'null'], description: "The operator's reason for a rejection; null otherwise" },
  created_at: timestamp('When the trader reported the top-up'),
  updated_at: timestamp('When it was last changed'),
});

export const newTopup = model({
  amount_usdt: decimal({ gt: '0', maxPlaces: 2, maxDigits: 14, description: 'USDT sent to Kasa', example: '500.00' }),
  network: enumeration(TOPUP_NETWORKS, { description: 'The chain the USDT was sent on' }),
  tx_hash: string({ pattern: TX_HASH_PATTERN, description: 'The transaction id on chain: 64 hex digits', example: 'a'.repeat(64) }),
});

export const topupParams = model({ topup_id: string({ min: 1, max: 64 }) });
export const topupListQuery = model({ status: optional(enumeration(TOPUP_STATUSES)), ...pageFields });
export const rejectTopup = model({ reason: string({ min: 1, max: 500, description: 'Why the top-up is refused; the trader sees it' }) });

export function topupView(u: TopupRow) {
  return {
    topup_id: u.id,
    trader_id: u.trader_id,
    status: u.status,
    amount_usdt: formatUsdt(u.amount_usdt, 2),
    network: u.network,
    tx_hash: u.tx_hash,
    reason: u.reason,
    created_at: isoSeconds(u.created_at),
    updated_at: isoSeconds(u.updated_at),
  };
}
