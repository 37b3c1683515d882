// The ledger's accounts and transfers as values: names, kinds and the invariants one transfer
// must hold. Pure, so the lifecycle can say which transfers a transition makes without a database.

export const WORLD = 'world';
export const PLATFORM_REVENUE = 'platform:revenue';
export const merchantAccount = (merchantId: string) => `merchant:${merchantId}`;
export const traderAvailable = (traderId: string) => `trader:${traderId}:available`;
export const traderLocked = (traderId: string) => `trader:${traderId}:locked`;

export type TransferKind = 'deposit' | 'deal_lock' | 'deal_release' | 'deal_credit' | 'deal_revenue';

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
