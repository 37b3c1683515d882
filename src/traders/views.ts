// How traders, requisites and deals appear in the APIs. Card numbers: full in the trader's own
// views, masked in every admin view.
import { isoSeconds } from '../clock.ts';
import type { DealRow } from '../deals/service.ts';
import { formatFiat, formatPercent, formatUsdt } from '../money.ts';
import { maskCard } from './card.ts';
import type { RequisiteRow, TraderBalance, TraderRow } from './service.ts';

export function traderView(t: TraderRow) {
  return {
    trader_id: t.id,
    name: t.name,
    status: t.status,
    reward_percent: formatPercent(t.reward_percent),
    created_at: isoSeconds(t.created_at),
    updated_at: isoSeconds(t.updated_at),
  };
}

export function requisiteView(r: RequisiteRow, audience: 'owner' | 'admin') {
  return {
    requisite_id: r.id,
    currency: r.currency,
    method: r.method,
    bank_name: r.bank_name,
    card_number: audience === 'owner' ? r.card_number : maskCard(r.card_number),
    holder_name: r.holder_name,
    min_amount: r.min_amount === null ? null : formatFiat(r.min_amount),
    max_amount: r.max_amount === null ? null : formatFiat(r.max_amount),
    daily_limit: r.daily_limit === null ? null : formatFiat(r.daily_limit),
    max_open_deals: r.max_open_deals,
    active: r.active,
    last_used_at: r.last_used_at ? isoSeconds(r.last_used_at) : null,
    created_at: isoSeconds(r.created_at),
  };
}

export function balanceView(b: TraderBalance) {
  return {
    currency: 'USDT',
    available: formatUsdt(b.available, 2),
    locked: formatUsdt(b.locked, 2),
    insurance: formatUsdt(b.insurance, 2),
    on_hold: formatUsdt(b.onHold, 2),
    eligible: b.eligible,
    reason: b.reason,
  };
}

export function dealView(d: DealRow & { expires_at: Date }, audience: 'owner' | 'admin') {
  return {
    deal_id: d.id,
    invoice_id: d.invoice_id,
    trader_id: d.trader_id,
    requisite_id: d.requisite_id,
    status: d.status,
    amount: formatFiat(d.amount),
    currency: d.currency,
    bank_name: d.bank_name,
    card_number: audience === 'owner' ? d.card_number : maskCard(d.card_number),
    holder_name: d.holder_name,
    gross_usdt: formatUsdt(d.gross_usdt),
    trader_reward: formatUsdt(d.trader_reward),
    trader_cost: formatUsdt(d.trader_cost),
    merchant_usdt: formatUsdt(d.merchant_usdt, 2),
    confirmed_by: d.confirmed_by,
    opened_at: isoSeconds(d.opened_at),
    customer_paid_at: d.customer_paid_at ? isoSeconds(d.customer_paid_at) : null,
    closed_at: d.closed_at ? isoSeconds(d.closed_at) : null,
    expires_at: isoSeconds(d.expires_at),
    reject_reason: d.reject_reason,
    reject_comment: d.reject_comment,
    rejected_at: d.rejected_at ? isoSeconds(d.rejected_at) : null,
    cancel_reason: d.cancel_reason,
  };
}
