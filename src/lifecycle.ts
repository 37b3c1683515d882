// The invoice and deal lifecycle, in one place: the states, the transitions allowed between
// them, the one "still payable" predicate (in TypeScript and in SQL), and the ledger transfers
// each deal transition makes. Pure: the services that run a transition import this; the
// database holds a copy of the transition table (lifecycle_transitions, checked by a trigger on
// every status change), and a test keeps the copy equal to this file.
import { sql, type RawBuilder } from 'kysely';
import { merchantAccount, PLATFORM_REVENUE, traderAvailable, traderLocked, type Transfer } from './ledger/accounts.ts';

/** The seed's four public statuses; merchants who integrated the seed keep seeing only these. */
export const INVOICE_STATUSES = ['pending', 'success', 'expired', 'cancelled'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/** A deal is the trader-facing side of an invoice: one open deal per invoice at most. */
export const DEAL_STATUSES = ['awaiting_payment', 'customer_paid', 'completed', 'expired', 'cancelled', 'rejected', 'disputed'] as const;
export type DealStatus = (typeof DEAL_STATUSES)[number];

export const OPEN_DEAL_STATUSES = ['awaiting_payment', 'customer_paid'] as const satisfies readonly DealStatus[];
/** The deals that count against a requisite's daily_limit (src/deals/service.ts assign): open or completed. */
export const DAILY_LIMIT_DEAL_STATUSES = ['awaiting_payment', 'customer_paid', 'completed'] as const satisfies readonly DealStatus[];
export type OpenDealStatus = (typeof OPEN_DEAL_STATUSES)[number];

export function isOpenDeal(status: DealStatus): status is OpenDealStatus {
  return (OPEN_DEAL_STATUSES as readonly DealStatus[]).includes(status);
}

/**
 * Why an invoice ended as it did, beside the seed's four statuses: `recalculated` (paid another
 * amount), `paid_late` (confirmed after expiry), `dispute_resolved`, `customer_timeout` (expired
 * with a deal), `no_trader` (expired without one), `merchant_cancelled`, `operator`.
 */
export const STATUS_DETAILS = ['recalculated', 'paid_late', 'dispute_resolved', 'customer_timeout', 'no_trader', 'merchant_cancelled', 'operator'] as const;
export type StatusDetail = (typeof STATUS_DETAILS)[number];

/** Why a trader rejects a deal in awaiting_payment. */
export const REJECT_REASONS = ['no_payment', 'wrong_amount', 'card_blocked', 'other'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Who moved an invoice, as its history records it. */
export const TRANSITION_ACTORS = ['trader', 'operator', 'merchant', 'customer', 'system'] as const;
export type TransitionActor = (typeof TRANSITION_ACTORS)[number];

/**
 * Every allowed status change, from → to. A final status has two documented ways out, both to
 * success: a late confirmation of an expired invoice, and a dispute resolved for the merchant.
 * A merchant must therefore accept `success` after `expired` (or `cancelled`), never the reverse.
 */
export const INVOICE_TRANSITIONS: Readonly<Record<InvoiceStatus, readonly InvoiceStatus[]>> = {
  pending: ['success', 'expired', 'cancelled'],
  success: [],
  expired: ['success'],
  cancelled: ['success'],
};

export const DEAL_TRANSITIONS: Readonly<Record<DealStatus, readonly DealStatus[]>> = {
  // The customer says they paid; or the trader confirms before they say so; or the invoice
  // ends; or the trader sees no payment and rejects it (the invoice gets another deal).
  awaiting_payment: ['customer_paid', 'completed', 'expired', 'cancelled', 'rejected'],
  // Once the customer says they paid the merchant can no longer cancel; a trader who disagrees
  // opens a dispute instead of dropping the customer's claim.
  customer_paid: ['completed', 'expired', 'disputed'],
  completed: [],
  // A late confirmation, or a dispute opened on the expired deal.
  expired: ['completed', 'disputed'],
  cancelled: [],
  rejected: [],
  // A dispute ends for the merchant (completed), for the trader (rejected), or back where the
  // deal was when the customer's claim did not stand (expired).
  disputed: ['completed', 'rejected', 'expired'],
};

/** Thrown for a transition the table does not allow: a programmer error, never a client's. */
export class LifecycleViolation extends Error {
  constructor(entity: 'invoice' | 'deal', from: string, to: string, detail = '') {
    super(`lifecycle invariant: ${entity} ${from} → ${to} is not allowed${detail ? ` (${detail})` : ''}`);
    this.name = 'LifecycleViolation';
  }
}

export function assertInvoiceTransition(from: InvoiceStatus, to: InvoiceStatus): void {
  if (!INVOICE_TRANSITIONS[from].includes(to)) throw new LifecycleViolation('invoice', from, to);
}

export function assertDealTransition(from: DealStatus, to: DealStatus): void {
  if (!DEAL_TRANSITIONS[from].includes(to)) throw new LifecycleViolation('deal', from, to);
}

/** The from-states a status can be reached from: what a transition's UPDATE re-checks. */
export function invoiceStatusesLeadingTo(to: InvoiceStatus): InvoiceStatus[] {
  return INVOICE_STATUSES.filter((from) => INVOICE_TRANSITIONS[from].includes(to));
}

export function dealStatusesLeadingTo(to: DealStatus, among: readonly DealStatus[] = DEAL_STATUSES): DealStatus[] {
  return among.filter((from) => DEAL_TRANSITIONS[from].includes(to));
}

// ---------------------------------------------------------------------------------------------
// "Pending and not past expires_at": the one predicate of a payable invoice

/** An invoice is payable while pending and before expires_at, whether or not the sweep has run. */
export function isPayable(invoice: { status: InvoiceStatus; expires_at: Date }, now: Date): boolean {
  return invoice.status === 'pending' && invoice.expires_at.getTime() > now.getTime();
}

/** The status a reader sees: never pending after expires_at. */
export function effectiveStatus(invoice: { status: InvoiceStatus; expires_at: Date }, now: Date): InvoiceStatus {
  return invoice.status === 'pending' && !isPayable(invoice, now) ? 'expired' : invoice.status;
}

/**
 * isPayable in SQL, for the statements that filter or re-check under a lock. `alias` names the
 * invoices table in the statement. The same two columns the partial index
 * invoices_pending_expiry covers, so the planner can use it.
 */
export function payableSql(alias: string, now: Date): RawBuilder<boolean> {
  const t = sql.ref(alias);
  return sql<boolean>`(${t}.status = 'pending' AND ${t}.expires_at > ${now}::timestamptz)`;
}

/** Past expires_at but not yet swept: what the expiry worker picks up. */
export function dueForExpirySql(alias: string, now: Date): RawBuilder<boolean> {
  const t = sql.ref(alias);
  return sql<boolean>`(${t}.status = 'pending' AND ${t}.expires_at <= ${now}::timestamptz)`;
}

// ---------------------------------------------------------------------------------------------
// The money of each deal transition

interface DealMoney {
  id: string;
  trader_id: string;
  merchant_id: string;
  trader_cost: bigint;
  merchant_usdt: bigint;
}

/** Deal opened: the trader's cost is locked from their available balance. */
export function openTransfers(deal: Pick<DealMoney, 'id' | 'trader_id' | 'trader_cost'>): Transfer[] {
  return [{ from: traderAvailable(deal.trader_id), to: traderLocked(deal.trader_id), amount: deal.trader_cost, kind: 'deal_lock', ref: deal.id }];
}

/** Deal completed: the lock pays the merchant what it is credited and the platform the rest. */
export function completeTransfers(deal: DealMoney): Transfer[] {
  const locked = traderLocked(deal.trader_id);
  const transfers: Transfer[] = [];
  if (deal.merchant_usdt > 0n) {
    transfers.push({ from: locked, to: merchantAccount(deal.merchant_id), amount: deal.merchant_usdt, kind: 'deal_credit', ref: deal.id });
  }
  const revenue = deal.trader_cost - deal.merchant_usdt;
  // Assignment refuses a deal whose cost does not cover the merchant's credit.
  if (revenue < 0n) throw new Error(`lifecycle invariant: deal ${deal.id} costs less than it credits`);
  if (revenue > 0n) transfers.push({ from: locked, to: PLATFORM_REVENUE, amount: revenue, kind: 'deal_revenue', ref: deal.id });
  return transfers;
}

/**
 * A deal settled at another amount than it was opened for (the trader received more or less, or
 * a dispute decided): `held` is what backs it now (the deal's lock, or a dispute hold) and holds
 * `heldAmount`. A cost above it takes the difference from the trader's available balance first
 * (the caller has checked it is there); the held money pays the merchant and the platform as a
 * completed deal does, and what is left goes back to the trader.
 */
export function settleTransfers(
  deal: Pick<DealMoney, 'id' | 'trader_id' | 'merchant_id'>,
  held: { account: string; amount: bigint },
  settled: { merchantUsdt: bigint; traderCost: bigint },
): Transfer[] {
  const available = traderAvailable(deal.trader_id);
  const transfers: Transfer[] = [];
  if (settled.traderCost > held.amount) {
    transfers.push({ from: available, to: held.account, amount: settled.traderCost - held.amount, kind: 'deal_lock', ref: deal.id });
  }
  const revenue = settled.traderCost - settled.merchantUsdt;
  if (revenue < 0n) throw new Error(`lifecycle invariant: deal ${deal.id} settles at a cost below its credit`);
  if (settled.merchantUsdt > 0n) {
    transfers.push({ from: held.account, to: merchantAccount(deal.merchant_id), amount: settled.merchantUsdt, kind: 'deal_credit', ref: deal.id });
  }
  if (revenue > 0n) transfers.push({ from: held.account, to: PLATFORM_REVENUE, amount: revenue, kind: 'deal_revenue', ref: deal.id });
  if (held.amount > settled.traderCost) {
    transfers.push({ from: held.account, to: available, amount: held.amount - settled.traderCost, kind: 'deal_release', ref: deal.id });
  }
  return transfers;
}

/** Deal expired or cancelled: the lock goes back to the trader. */
export function releaseTransfers(deal: Pick<DealMoney, 'id' | 'trader_id' | 'trader_cost'>): Transfer[] {
  return [{ from: traderLocked(deal.trader_id), to: traderAvailable(deal.trader_id), amount: deal.trader_cost, kind: 'deal_release', ref: deal.id }];
}
