// The ledger's accounts and transfers as values: names, kinds and the invariants one transfer
// must hold. Pure, so the lifecycle can say which transfers a transition makes without a database.

export const WORLD = 'world';
export const PLATFORM_REVENUE = 'platform:revenue';
export const merchantAccount = (merchantId: string) => `merchant:${merchantId}`;
export const traderAvailable = (traderId: string) => `trader:${traderId}:available`;
export const traderLocked = (traderId: string) => `trader:${traderId}:locked`;
/** A merchant's withdrawal between its request and its completion or refusal. */
export const merchantWithdrawalHold = (merchantId: string) => `merchant:${merchantId}:withdrawal_hold`;
export const traderWithdrawalHold = (traderId: string) => `trader:${traderId}:withdrawal_hold`;
/** A trader's insurance deposit: theirs, but neither withdrawable nor lockable by deals. */
export const traderInsurance = (traderId: string) => `trader:${traderId}:insurance`;
/** What backs a dispute's claim while it is open, when the deal no longer holds its lock. */
export const traderDisputeHold = (traderId: string) => `trader:${traderId}:dispute_hold`;

/** The trader's accounts a statement can be read of (suffixes of trader:<id>:…). */
export const TRADER_STATEMENT_ACCOUNTS = ['available', 'locked', 'insurance', 'withdrawal_hold'] as const;

export type TransferKind =
  | 'deposit'
  | 'deal_lock'
  | 'deal_release'
  | 'deal_credit'
  | 'deal_revenue'
  /** available → withdrawal hold, at the request */
  | 'withdrawal_hold'
  /** hold → world, the amount less the fee, at completion */
  | 'withdrawal_payout'
  /** hold → platform:revenue, the fee, at completion */
  | 'withdrawal_fee'
  /** hold → available, when a withdrawal is rejected or cancelled */
  | 'withdrawal_release'
  /** world → trader available, a confirmed top-up */
  | 'topup'
  /** trader available → insurance, and back */
  | 'insurance_lock'
  | 'insurance_release'
  /** trader available (or insurance) → dispute hold, when a dispute opens on a deal without its lock */
  | 'dispute_hold'
  /** dispute hold → trader available, when the dispute ends for the trader or is cancelled */
  | 'dispute_release';

export interface Transfer {
  from: string;
  to: string;
  /** micro-USDT, > 0 */
  amount: bigint;
  kind: TransferKind;
  /** The deal or deposit that caused it. */
  ref: string;
}

/** A broken invariant is a programmer error: crash loudly rather than post a wrong balance. */
export function assertTransfer(t: Transfer): void {
  if (t.amount <= 0n) throw new Error(`ledger invariant: transfer amount must be > 0, got ${t.amount} (${t.kind} ${t.ref})`);
  if (t.from === t.to) throw new Error(`ledger invariant: transfer from an account to itself (${t.from})`);
}
