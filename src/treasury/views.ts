// How a withdrawal reads: to its owner (and in its webhook), and to the operator.
import type { Selectable } from 'kysely';
import { isoSeconds } from '../clock.ts';
import type { WithdrawalsTable } from '../db/schema.ts';
import { formatUsdt, USDT_AMOUNT_DECIMALS } from '../money.ts';

export const OWNER_KINDS = ['merchant', 'trader'] as const;
export type OwnerKind = (typeof OWNER_KINDS)[number];

/** Whose money a withdrawal moves. */
export interface WithdrawalOwner {
  kind: OwnerKind;
  id: string;
}

export type WithdrawalRow = Selectable<WithdrawalsTable>;

export function ownerOf(row: WithdrawalRow): WithdrawalOwner {
  if (row.merchant_id !== null) return { kind: 'merchant', id: row.merchant_id };
  if (row.trader_id !== null) return { kind: 'trader', id: row.trader_id };
  throw new Error(`withdrawal invariant: ${row.id} has no owner`);
}

/** A withdrawal as its owner sees it, and as its webhook carries it. */
export function withdrawalView(w: WithdrawalRow) {
  return {
    withdrawal_id: w.id,
    status: w.status,
    amount_usdt: formatUsdt(w.amount_usdt, USDT_AMOUNT_DECIMALS),
    fee_usdt: formatUsdt(w.fee_usdt, USDT_AMOUNT_DECIMALS),
    net_usdt: formatUsdt(w.amount_usdt - w.fee_usdt, USDT_AMOUNT_DECIMALS),
    address: w.address,
    network: w.network,
    tx_hash: w.tx_hash,
    reason: w.reason,
    created_at: isoSeconds(w.created_at),
    updated_at: isoSeconds(w.updated_at),
  };
}

export type WithdrawalView = ReturnType<typeof withdrawalView>;

/** The operator's view: whose withdrawal it is, too. */
export function adminWithdrawalView(w: WithdrawalRow) {
  const owner = ownerOf(w);
  return { ...withdrawalView(w), owner_kind: owner.kind, owner_id: owner.id };
}
