// How a dispute reads: to its merchant (and in its webhooks), to its trader, to the operator;
// with its timeline, its files (never their bytes) and its messages when read one at a time.
import type { Selectable } from 'kysely';
import { isoSeconds } from '../clock.ts';
import type { DisputeFilesTable, DisputeMessagesTable, DisputesTable, DisputeTransitionsTable } from '../db/schema.ts';
import { formatFiat, formatUsdt } from '../money.ts';

export type DisputeRow = Selectable<DisputesTable>;
export type DisputeFileRow = Selectable<DisputeFilesTable>;
export type DisputeFileInfo = Omit<DisputeFileRow, 'data' | 'invoice_id' | 'merchant_id'>;
export type DisputeMessageRow = Selectable<DisputeMessagesTable>;
export type DisputeTransitionRow = Selectable<DisputeTransitionsTable>;

export interface DisputeDetail {
  dispute: DisputeRow;
  timeline: DisputeTransitionRow[];
  files: DisputeFileInfo[];
  messages: DisputeMessageRow[];
}

/** A dispute as its merchant sees it, and as its webhooks carry it. */
export function disputeView(x: DisputeRow) {
  return {
    dispute_id: x.id,
    invoice_id: x.invoice_id,
    status: x.status,
    reason: x.reason,
    opened_by: x.opened_by,
    claimed_amount: formatFiat(x.claimed_amount),
    decided_amount: x.decided_amount === null ? null : formatFiat(x.decided_amount),
    // The claim is backed when what is held reaches the claim's trader cost.
    covered: x.held_usdt >= x.claimed_cost,
    held_usdt: formatUsdt(x.held_usdt),
    comment: x.comment,
    statement: x.statement,
    respond_by: isoSeconds(x.respond_by),
    created_at: isoSeconds(x.created_at),
    updated_at: isoSeconds(x.updated_at),
    resolved_at: x.resolved_at === null ? null : isoSeconds(x.resolved_at),
  };
}

export type DisputeView = ReturnType<typeof disputeView>;

/** The trader's view: which of their deals it is about. */
export function traderDisputeView(x: DisputeRow) {
  return { ...disputeView(x), deal_id: x.deal_id };
}

/** The operator's view: whose it is, and what holds the claim. */
export function adminDisputeView(x: DisputeRow) {
  return { ...disputeView(x), deal_id: x.deal_id, merchant_id: x.merchant_id, trader_id: x.trader_id, held_account: x.held_account };
}

/** One dispute with its timeline, files and messages, in the audience's view. */
export function disputeDetailView<V>(detail: DisputeDetail, view: (x: DisputeRow) => V) {
  return {
    ...view(detail.dispute),
    timeline: detail.timeline.map((t) => ({ from_status: t.from_status, status: t.to_status, actor: t.actor, at: isoSeconds(t.at) })),
    files: detail.files.map(fileView),
    messages: detail.messages.map((m) => ({ message_id: m.id, author: m.author, body: m.body, created_at: isoSeconds(m.created_at) })),
  };
}

export function fileView(f: DisputeFileInfo) {
  return {
    file_id: f.id,
    uploaded_by: f.uploaded_by,
    content_type: f.content_type,
    size_bytes: f.size_bytes,
    sha256: f.sha256,
    card_last4: f.card_last4,
    payer_name: f.payer_name,
    paid_amount: f.paid_amount === null ? null : formatFiat(f.paid_amount),
    created_at: isoSeconds(f.created_at),
  };
}

export function messageView(m: DisputeMessageRow) {
  return { message_id: m.id, author: m.author, body: m.body, created_at: isoSeconds(m.created_at) };
}
