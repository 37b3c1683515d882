// Disputes: a customer says they paid and the trader has not confirmed it. Opened by a receipt
// upload on an unconfirmed deal, by the merchant's API, or by the trader's reject of a deal whose
// customer said they paid; decided by the trader (accept), or by an operator once the trader
// disagreed or let respond_by pass.
//
//   awaiting_trader ──accept──▶ trader_accepted                      (the invoice succeeds)
//        │  └─reject (statement) / respond_by passed─▶ awaiting_operator
//        │                                                 ├─resolve merchant─▶ resolved_merchant (the invoice succeeds)
//        │                                                 └─resolve trader──▶ resolved_trader
//        └─(either open state) cancel by the merchant ──▶ cancelled
//
// Money: what backs the claim is held from the moment the dispute opens. A deal that still holds
// its lock (customer_paid) backs it with that lock; otherwise the claim's trader cost is moved
// trader:available → trader:dispute_hold at once, as much as available holds (`covered` says
// whether it reached the whole cost). Decided for the merchant, the hold settles the deal as a
// completed deal would (Deals.settleDeal with `held`); for the trader or cancelled, it goes back.
//
// Every action locks the invoice first, then the deal, then the dispute (the deals engine's
// order), and checks the dispute's from-state under those locks: accept, resolve, cancel and the
// respond_by timer racing on one dispute end in exactly one outcome.
import { randomUUID } from 'node:crypto';
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { afterCursor, page, type KeyColumns, type Page, type PageRequest } from '../db/cursor.ts';
import type { DB, DisputeActor, DisputesTable, DisputeStatus } from '../db/schema.ts';
import { inTransaction } from '../db/retry.ts';
import type { DealRow, Deals, Rejection } from '../deals/service.ts';
import { lockDeal, moveDeal } from '../deals/transitions.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { InvoiceRow } from '../invoices/service.ts';
import { lockInvoice } from '../invoices/transitions.ts';
import { ensureAccounts, postTransfers, traderAvailable, traderDisputeHold, traderLocked, type Transfer } from '../ledger/ledger.ts';
import { effectiveStatus } from '../lifecycle.ts';
import { cents, formatCents, fromScaled, PERCENT_DECIMALS, percentHundredths, rateMicro, settle, type Cents } from '../money.ts';
import type { Catalog } from '../rates/catalog.ts';
import { recordDisputeEvent, type DisputeEventType } from '../webhooks/outbox.ts';
import { DISPUTE_FILES_MAX, RECEIPT_WINDOW_MS, RECEIPTS_PER_INVOICE_PER_HOUR_MAX, type UploadedFile } from './files.ts';
import { disputeView, type DisputeDetail, type DisputeFileRow, type DisputeMessageRow, type DisputeRow } from './views.ts';

export { disputeView, type DisputeRow } from './views.ts';

export const DISPUTE_STATUSES = [
  'awaiting_trader',
  'awaiting_operator',
  'trader_accepted',
  'resolved_merchant',
  'resolved_trader',
  'cancelled',
] as const satisfies readonly DisputeStatus[];
export const OPEN_DISPUTE_STATUSES = ['awaiting_trader', 'awaiting_operator'] as const satisfies readonly DisputeStatus[];
export const DISPUTE_REASONS = ['not_credited', 'wrong_amount'] as const;
export type DisputeReason = (typeof DISPUTE_REASONS)[number];
export const DISPUTE_OUTCOMES = ['merchant', 'trader'] as const;
export type DisputeOutcome = (typeof DISPUTE_OUTCOMES)[number];

/** The actions, by the states each may start from and where it leads. */
export const DISPUTE_TRANSITIONS = {
  // The trader conceding is good for the customer whenever the dispute is open.
  accept: { from: OPEN_DISPUTE_STATUSES, to: 'trader_accepted' },
  reject: { from: ['awaiting_trader'], to: 'awaiting_operator' },
  timeout: { from: ['awaiting_trader'], to: 'awaiting_operator' },
  resolve_merchant: { from: OPEN_DISPUTE_STATUSES, to: 'resolved_merchant' },
  resolve_trader: { from: OPEN_DISPUTE_STATUSES, to: 'resolved_trader' },
  cancel: { from: OPEN_DISPUTE_STATUSES, to: 'cancelled' },
} as const satisfies Record<string, { from: readonly DisputeStatus[]; to: DisputeStatus }>;
type Action = keyof typeof DISPUTE_TRANSITIONS;

/** How each action reads in a refusal ("Not allowed while cancelled: cannot accept"). */
const ACTION_WORDS: Record<Action, string> = {
  accept: 'accept',
  reject: 'reject',
  timeout: 'pass respond_by',
  resolve_merchant: 'resolve',
  resolve_trader: 'resolve',
  cancel: 'cancel',
};

/** Who acts on a dispute: each party sees only its own disputes; the operator sees all. */
export type DisputeParty = { kind: 'merchant'; id: string } | { kind: 'trader'; id: string } | { kind: 'operator' };

export interface DisputeClaim {
  reason: DisputeReason;
  /** The fiat the customer says they paid; absent: the invoice amount. */
  claimedAmount?: string | undefined;
  comment?: string | undefined;
}

/** What the customer typed beside a receipt. */
export interface PayerFields {
  cardLast4?: string | undefined;
  payerName?: string | undefined;
  paidAmount?: string | undefined;
}

export interface DisputeFilter extends PageRequest {
  status?: DisputeStatus | undefined;
}

/** What the payment page shows about receipts for an invoice. */
export interface ReceiptState {
  /** The page offers "Upload receipt". */
  offered: boolean;
  /** A dispute is open: the page says the payment is under review. */
  underReview: boolean;
  /** The customer said they paid or a dispute exists: an expired page stays, rather than leaving for fail_url. */
  claimed: boolean;
}

/** Disputes swept per transaction by the respond_by timer. */
export const DISPUTE_TIMER_BATCH_SIZE = 100;
export const DISPUTE_LIST_LIMIT_DEFAULT = 50;

/** Newest first; created_at is written from Kasa's clock (milliseconds). */
const DISPUTE_KEYS: KeyColumns = { alias: 'x', at: 'created_at', id: 'id', truncate: false, order: 'desc' };

/** The deal statuses a dispute may open on: a claim not yet confirmed (its lock kept) or one the clock ended. */
const DISPUTABLE_DEALS = ['customer_paid', 'expired'] as const;

export class Disputes {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly catalog: Catalog,
    private readonly clock: Clock,
    private readonly deals: Deals,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Opening

  /** The merchant's claim: POST /api/v1/invoices/{id}/disputes. */
  openByMerchant(merchantId: string, invoiceId: string, claim: DisputeClaim, outer?: Transaction<DB>): Promise<DisputeRow> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    return inTransaction(
      this.db,
      async (trx) => {
        const invoice = await lockInvoice(trx, invoiceId);
        if (!invoice || invoice.merchant_id !== merchantId) throw errors.invoiceNotFound();
        return this.openIn(trx, invoice, 'merchant', claim);
      },
      outer,
    );
  }

  /**
   * A receipt from the payment page: added to the invoice's open dispute, or opening one on an
   * unconfirmed deal. At most RECEIPTS_PER_INVOICE_PER_HOUR_MAX per invoice per hour, counted
   * under the invoice's lock, so the limit is exact whichever instance takes the upload.
   */
  async receipt(invoiceId: string, file: UploadedFile, payer: PayerFields): Promise<DisputeRow> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    return inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const invoice = await lockInvoice(trx, invoiceId);
      if (!invoice) throw errors.invoiceNotFound();
      const since = new Date(now.getTime() - RECEIPT_WINDOW_MS);
      const recent = await trx
        .selectFrom('dispute_files')
        .select(['created_at'])
        .where('invoice_id', '=', invoiceId)
        .where('uploaded_by', '=', 'customer')
        .where('created_at', '>', since)
        .orderBy('created_at')
        .execute();
      if (recent.length >= RECEIPTS_PER_INVOICE_PER_HOUR_MAX) {
        const oldest = recent[0]!.created_at.getTime();
        throw errors.rateLimited(Math.max(1, Math.ceil((oldest + RECEIPT_WINDOW_MS - now.getTime()) / 1000)));
      }
      let dispute = await this.openDisputeOf(trx, invoiceId);
      if (dispute) {
        dispute = await lockDispute(trx, dispute.id);
      } else {
        dispute = await this.openIn(trx, invoice, 'customer', {
          reason: payer.paidAmount !== undefined && cents(payer.paidAmount) !== cents(invoice.amount) ? 'wrong_amount' : 'not_credited',
          claimedAmount: payer.paidAmount,
        });
      }
      await this.storeFile(trx, dispute, 'customer', file, payer);
      return dispute;
    });
  }

  /**
   * The trader's reject of a deal whose customer said they paid (Deals.reject hands it here): the
   * claim stands, so the deal → disputed and the dispute waits for an operator at once, the
   * trader's reason and words as its statement. The deal keeps its lock as the hold.
   */
  async openOnReject(trx: Transaction<DB>, invoice: InvoiceRow, deal: DealRow, rejection: Rejection): Promise<DealRow> {
    const existing = await this.openDisputeOf(trx, invoice.id);
    if (existing) throw errors.disputeExists(existing.id);
    const statement = rejection.comment ? `${rejection.reason}: ${rejection.comment}` : rejection.reason;
    await this.openIn(trx, invoice, 'trader', { reason: 'not_credited' }, { deal, statement });
    return lockDeal(trx, deal.id);
  }

  /**
   * Opens a dispute on the invoice the caller locked: checks that none is open and that its deal
   * may be disputed, holds what backs the claim, moves the deal → disputed, records the
   * transition and dispute.opened.
   */
  private async openIn(
    trx: Transaction<DB>,
    locked: InvoiceRow,
    by: 'customer' | 'merchant' | 'trader',
    claim: DisputeClaim,
    fromReject?: { deal: DealRow; statement: string },
  ): Promise<DisputeRow> {
    const now = this.clock.now();
    const settings = await this.catalog.getSettings(trx);
    const payments = settings.payments;
    const existing = await this.openDisputeOf(trx, locked.id);
    if (existing) throw errors.disputeExists(existing.id);
    // Past expires_at but not swept yet: expire it here first, so its history and webhooks say
    // expired before anything the dispute decides.
    const invoice = await this.deals.expireIfDue(trx, locked, now);
    let deal = fromReject?.deal ?? (await currentDeal(trx, invoice.id));
    if (!deal) throw errors.disputeNotAllowed(effectiveStatus(invoice, now), 'open a dispute: the invoice has no deal');
    deal = await lockDeal(trx, deal.id);
    if (!(DISPUTABLE_DEALS as readonly string[]).includes(deal.status) || invoice.status === 'success' || invoice.status === 'cancelled') {
      throw errors.disputeNotAllowed(invoice.status === 'pending' ? deal.status : invoice.status, 'open a dispute');
    }
    if (by !== 'trader' && invoice.status === 'expired' && now.getTime() - invoice.expires_at.getTime() > payments.disputeWindowHours * 3_600_000) {
      throw errors.disputeNotAllowed('expired', `open a dispute more than ${payments.disputeWindowHours} hours after expiry`);
    }

    const amount = cents(invoice.amount);
    const claimed = claim.claimedAmount === undefined ? amount : cents(claim.claimedAmount);
    const difference = claimed - amount;
    if (difference > 0n && difference * 10_000n > amount * payments.overpaymentMaxPercent) {
      const most = (amount + (amount * payments.overpaymentMaxPercent) / 10_000n) as Cents;
      throw errors.overpaymentTooLarge(fromScaled(payments.overpaymentMaxPercent, PERCENT_DECIMALS), formatCents(most));
    }
    const exact = (difference < 0n ? -difference : difference) <= payments.amountToleranceCents;
    let claimedCost = deal.trader_cost;
    if (!exact) {
      const trader = await trx.selectFrom('traders').select('reward_percent').where('id', '=', deal.trader_id).executeTakeFirstOrThrow();
      claimedCost = settle(
        claimed,
        rateMicro(invoice.conversion_rate),
        percentHundredths(invoice.fee_percent),
        percentHundredths(trader.reward_percent),
      ).traderCost;
    }

    const id = randomUUID();
    // A deal in customer_paid still holds its lock: that lock backs the claim. Otherwise the
    // claim's cost is held from available now, as much as there is, so a trader cannot withdraw
    // the money a decision against them would need.
    let held: { account: string; amount: bigint };
    if (deal.status === 'customer_paid') {
      held = { account: traderLocked(deal.trader_id), amount: deal.trader_cost };
    } else {
      const available = traderAvailable(deal.trader_id);
      await ensureAccounts(trx, [available]);
      const { rows } = await sql<{ balance: bigint }>`SELECT balance FROM accounts WHERE id = ${available} FOR UPDATE`.execute(trx);
      const balance = BigInt(rows[0]?.balance ?? 0n);
      held = { account: traderDisputeHold(deal.trader_id), amount: balance < claimedCost ? balance : claimedCost };
    }

    const opened = fromReject !== undefined;
    const status: DisputeStatus = opened ? 'awaiting_operator' : 'awaiting_trader';
    await moveDeal(trx, deal, 'disputed', {});
    const row = await trx
      .insertInto('disputes')
      .values({
        id,
        invoice_id: invoice.id,
        deal_id: deal.id,
        merchant_id: invoice.merchant_id,
        trader_id: deal.trader_id,
        status,
        reason: claim.reason,
        opened_by: by,
        claimed_amount: formatCents(claimed),
        comment: claim.comment ?? null,
        held_account: held.account,
        held_usdt: held.amount,
        claimed_cost: claimedCost,
        statement: fromReject?.statement ?? null,
        respond_by: opened ? now : new Date(now.getTime() + payments.disputeTraderHours * 3_600_000),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (held.account !== traderLocked(deal.trader_id) && held.amount > 0n) {
      await postTransfers(trx, [{ from: traderAvailable(deal.trader_id), to: held.account, amount: held.amount, kind: 'dispute_hold', ref: id }]);
    }
    await recordTransition(trx, row, null, by, now);
    await this.event(trx, row, invoice, 'dispute.opened', now);
    return row;
  }

  // -------------------------------------------------------------------------------------------
  // Decisions

  /** The trader confirms the fiat arrived, at `receivedAmount` (absent: the claimed amount). */
  accept(traderId: string, disputeId: string, receivedAmount: string | undefined, outer?: Transaction<DB>): Promise<DisputeRow> {
    return this.act({ kind: 'trader', id: traderId }, disputeId, 'accept', outer, (trx, s) =>
      this.decideForMerchant(trx, s, 'accept', receivedAmount ?? s.dispute.claimed_amount, 'trader'),
    );
  }

  /** The trader disagrees: their statement goes to an operator. */
  reject(traderId: string, disputeId: string, statement: string, outer?: Transaction<DB>): Promise<DisputeRow> {
    return this.act({ kind: 'trader', id: traderId }, disputeId, 'reject', outer, (trx, s) =>
      this.move(trx, s, 'reject', 'trader', { statement }, 'dispute.updated'),
    );
  }

  /** The operator decides: for the merchant at `amount` (absent: the claimed amount), or for the trader. */
  resolve(disputeId: string, outcome: DisputeOutcome, amount: string | undefined, outer?: Transaction<DB>): Promise<DisputeRow> {
    return this.act({ kind: 'operator' }, disputeId, outcome === 'merchant' ? 'resolve_merchant' : 'resolve_trader', outer, (trx, s) =>
      outcome === 'merchant'
        ? this.decideForMerchant(trx, s, 'resolve_merchant', amount ?? s.dispute.claimed_amount, 'operator')
        : this.decideForTrader(trx, s, 'resolve_trader', 'operator'),
    );
  }

  /** The merchant withdraws its claim. */
  cancel(merchantId: string, disputeId: string, outer?: Transaction<DB>): Promise<DisputeRow> {
    return this.act({ kind: 'merchant', id: merchantId }, disputeId, 'cancel', outer, (trx, s) => this.decideForTrader(trx, s, 'cancel', 'merchant'));
  }

  /**
   * Moves one batch of disputes whose respond_by passed while waiting for their trader to
   * awaiting_operator. SKIP LOCKED: any number of workers sweep at once, each dispute moved by
   * one; a dispute an action holds is left for the next pass, and the action's own from-state
   * check decides between them. Returns how many it moved.
   */
  async timeoutBatch(batchSize = DISPUTE_TIMER_BATCH_SIZE): Promise<number> {
    return inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const due = await trx
        .selectFrom('disputes')
        .selectAll()
        .where('status', '=', 'awaiting_trader')
        .where('respond_by', '<=', now)
        .orderBy('respond_by')
        .limit(batchSize)
        .forUpdate()
        .skipLocked()
        .execute();
      for (const dispute of due) {
        const invoice = await trx.selectFrom('invoices').selectAll().where('id', '=', dispute.invoice_id).executeTakeFirstOrThrow();
        await this.move(trx, { dispute, invoice }, 'timeout', 'system', {}, 'dispute.updated');
      }
      return due.length;
    });
  }

  /** Sweeps every due dispute, batch after batch; returns how many moved. */
  async timeoutDue(batchSize = DISPUTE_TIMER_BATCH_SIZE): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.timeoutBatch(batchSize);
      total += n;
      if (n < batchSize) return total;
    }
  }

  /**
   * One action on one dispute: the party's dispute (another's is not found), the invoice locked,
   * then the deal, then the dispute, the from-state checked under those locks.
   */
  private act(
    party: DisputeParty,
    disputeId: string,
    action: Action,
    outer: Transaction<DB> | undefined,
    body: (trx: Transaction<DB>, s: Locked) => Promise<DisputeRow>,
  ): Promise<DisputeRow> {
    if (!isUuid(disputeId)) throw errors.disputeNotFound();
    return inTransaction(
      this.db,
      async (trx) => {
        const seen = await trx
          .selectFrom('disputes as x')
          .select(['x.invoice_id', 'x.deal_id'])
          .where(visibleTo(party))
          .where('x.id', '=', disputeId)
          .executeTakeFirst();
        if (!seen) throw errors.disputeNotFound();
        const invoice = await lockInvoice(trx, seen.invoice_id);
        if (!invoice) throw errors.disputeNotFound();
        const deal = await lockDeal(trx, seen.deal_id);
        const dispute = await lockDispute(trx, disputeId);
        const { from } = DISPUTE_TRANSITIONS[action];
        if (!(from as readonly DisputeStatus[]).includes(dispute.status)) throw errors.disputeNotAllowed(dispute.status, ACTION_WORDS[action]);
        return body(trx, { invoice, deal, dispute });
      },
      outer,
    );
  }

  /**
   * Decided for the merchant (the trader's accept, or the operator): the dispute moves and says
   * so (dispute.resolved), then the deal settles at `amount` out of the hold as a completed deal
   * would, the invoice → success with status_detail dispute_resolved (invoice.success follows).
   */
  private async decideForMerchant(
    trx: Transaction<DB>,
    s: Locked,
    action: 'accept' | 'resolve_merchant',
    amount: string,
    by: 'trader' | 'operator',
  ): Promise<DisputeRow> {
    const now = this.clock.now();
    const invoice = await this.deals.expireIfDue(trx, s.invoice, now);
    const decided = await this.move(trx, { ...s, invoice }, action, by, { decided_amount: formatCents(cents(amount)), resolved_at: now }, 'dispute.resolved');
    await this.deals.settleDeal(trx, invoice, s.deal, {
      paidAmount: amount,
      detail: 'dispute_resolved',
      by,
      held: { account: s.dispute.held_account, amount: s.dispute.held_usdt },
    });
    return decided;
  }

  /**
   * Decided for the trader, or cancelled by the merchant: the hold goes back to the trader's
   * available balance, and the deal ends where the clock left it: expired once the invoice has,
   * else rejected (a pending invoice then gets a deal on another card when its page next asks).
   */
  private async decideForTrader(trx: Transaction<DB>, s: Locked, action: 'resolve_trader' | 'cancel', by: DisputeActor): Promise<DisputeRow> {
    const now = this.clock.now();
    const decided = await this.move(trx, s, action, by, { resolved_at: now }, 'dispute.resolved');
    const pending = effectiveStatus(s.invoice, now) === 'pending';
    await moveDeal(trx, s.deal, pending ? 'rejected' : 'expired', pending ? { closed_at: now, rejected_at: now } : { closed_at: now });
    await postTransfers(trx, releaseTransfers(s.dispute, s.deal));
    return decided;
  }

  /** One dispute transition: the re-checked UPDATE (one row), its timeline entry and its webhook. */
  private async move(
    trx: Transaction<DB>,
    s: { dispute: DisputeRow; invoice: InvoiceRow },
    action: Action,
    by: DisputeActor,
    set: Partial<Pick<DisputeRow, 'statement' | 'decided_amount' | 'resolved_at'>>,
    type: DisputeEventType,
  ): Promise<DisputeRow> {
    const now = this.clock.now();
    const { to } = DISPUTE_TRANSITIONS[action];
    const rows = await trx
      .updateTable('disputes')
      .set({ ...set, status: to, updated_at: now, version: s.dispute.version + 1 })
      .where('id', '=', s.dispute.id)
      .where('status', '=', s.dispute.status)
      .returningAll()
      .execute();
    // The row is locked and was in s.dispute.status: anything but one changed row is a broken lock.
    if (rows.length !== 1) throw new Error(`dispute invariant: ${s.dispute.id} ${s.dispute.status} → ${to} changed ${rows.length} rows`);
    const moved = rows[0]!;
    await recordTransition(trx, moved, s.dispute.status, by, now);
    await this.event(trx, moved, s.invoice, type, now);
    return moved;
  }

  // -------------------------------------------------------------------------------------------
  // Files and messages

  /** A file for the party's open dispute (a statement's evidence, the merchant's receipt). */
  addFile(party: Exclude<DisputeParty, { kind: 'operator' }>, disputeId: string, file: UploadedFile, outer?: Transaction<DB>): Promise<DisputeFileRow> {
    if (!isUuid(disputeId)) throw errors.disputeNotFound();
    return inTransaction(
      this.db,
      async (trx) => {
        const dispute = await this.lockOpenOf(trx, party, disputeId, 'add a file');
        return this.storeFile(trx, dispute, party.kind, file, {});
      },
      outer,
    );
  }

  /** A message from the party under its dispute, open or not (the record stays readable). */
  addMessage(party: DisputeParty, disputeId: string, body: string, outer?: Transaction<DB>): Promise<DisputeMessageRow> {
    if (!isUuid(disputeId)) throw errors.disputeNotFound();
    return inTransaction(
      this.db,
      async (trx) => {
        const dispute = await this.lockOpenOf(trx, party, disputeId, 'write a message');
        return trx
          .insertInto('dispute_messages')
          .values({ id: randomUUID(), dispute_id: dispute.id, author: party.kind, body, created_at: this.clock.now() })
          .returningAll()
          .executeTakeFirstOrThrow();
      },
      outer,
    );
  }

  private async lockOpenOf(trx: Transaction<DB>, party: DisputeParty, disputeId: string, action: string): Promise<DisputeRow> {
    const seen = await trx.selectFrom('disputes as x').select('x.id').where(visibleTo(party)).where('x.id', '=', disputeId).executeTakeFirst();
    if (!seen) throw errors.disputeNotFound();
    const dispute = await lockDispute(trx, disputeId);
    if (!(OPEN_DISPUTE_STATUSES as readonly DisputeStatus[]).includes(dispute.status)) throw errors.disputeNotAllowed(dispute.status, action);
    return dispute;
  }

  private async storeFile(
    trx: Transaction<DB>,
    dispute: DisputeRow,
    by: 'customer' | 'merchant' | 'trader',
    file: UploadedFile,
    payer: PayerFields,
  ): Promise<DisputeFileRow> {
    const { count } = await trx
      .selectFrom('dispute_files')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('dispute_id', '=', dispute.id)
      .executeTakeFirstOrThrow();
    if (Number(count) >= DISPUTE_FILES_MAX) throw errors.disputeFilesMax(DISPUTE_FILES_MAX);
    return trx
      .insertInto('dispute_files')
      .values({
        id: randomUUID(),
        dispute_id: dispute.id,
        invoice_id: dispute.invoice_id,
        merchant_id: dispute.merchant_id,
        uploaded_by: by,
        content_type: file.contentType,
        size_bytes: file.data.length,
        sha256: file.sha256,
        data: file.data,
        card_last4: payer.cardLast4 ?? null,
        payer_name: payer.payerName ?? null,
        paid_amount: payer.paidAmount === undefined ? null : formatCents(cents(payer.paidAmount)),
        created_at: this.clock.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /** The party's disputes (all of them for the operator), newest first. */
  async list(party: DisputeParty, filter: DisputeFilter): Promise<Page<DisputeRow>> {
    let query = this.db.selectFrom('disputes as x').selectAll('x').where(visibleTo(party));
    if (filter.status !== undefined) query = query.where('x.status', '=', filter.status);
    if (filter.cursor !== undefined) query = query.where(afterCursor(DISPUTE_KEYS, filter.cursor));
    const rows = await query
      .orderBy('x.created_at', 'desc')
      .orderBy('x.id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    return page(rows, filter.limit, (x) => ({ at: x.created_at, id: x.id }));
  }

  /** One of the party's disputes with its timeline, its files (without their bytes) and its messages. */
  async get(party: DisputeParty, disputeId: string, trx?: Transaction<DB>): Promise<DisputeDetail> {
    if (!isUuid(disputeId)) throw errors.disputeNotFound();
    const db = trx ?? this.db;
    const dispute = await db.selectFrom('disputes as x').selectAll('x').where(visibleTo(party)).where('x.id', '=', disputeId).executeTakeFirst();
    if (!dispute) throw errors.disputeNotFound();
    const [timeline, files, messages] = await Promise.all([
      db.selectFrom('dispute_transitions').selectAll().where('dispute_id', '=', disputeId).orderBy('id').execute(),
      db
        .selectFrom('dispute_files')
        .select(['id', 'dispute_id', 'uploaded_by', 'content_type', 'size_bytes', 'sha256', 'card_last4', 'payer_name', 'paid_amount', 'created_at'])
        .where('dispute_id', '=', disputeId)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
      db.selectFrom('dispute_messages').selectAll().where('dispute_id', '=', disputeId).orderBy('created_at').orderBy('id').execute(),
    ]);
    return { dispute, timeline, files, messages };
  }

  /** One file's bytes, for the invoice's merchant, its deal's trader or an operator. */
  async file(party: DisputeParty, disputeId: string, fileId: string): Promise<{ id: string; contentType: DisputeFileRow['content_type']; data: Buffer }> {
    if (!isUuid(disputeId) || !isUuid(fileId)) throw errors.disputeFileNotFound();
    const row = await this.db
      .selectFrom('dispute_files as f')
      .innerJoin('disputes as x', 'x.id', 'f.dispute_id')
      .select(['f.id', 'f.content_type', 'f.data'])
      .where(visibleTo(party))
      .where('x.id', '=', disputeId)
      .where('f.id', '=', fileId)
      .executeTakeFirst();
    if (!row) throw errors.disputeFileNotFound();
    return { id: row.id, contentType: row.content_type, data: Buffer.from(row.data) };
  }

  /** The payment page's receipt state: offered while a claim may still be made or is under review. */
  async receiptState(invoiceId: string): Promise<ReceiptState> {
    const none = { offered: false, underReview: false, claimed: false };
    if (!isUuid(invoiceId)) return none;
    const now = this.clock.now();
    const { payments } = (await this.catalog.snapshot()).settings;
    const row = await this.db
      .selectFrom('invoices as i')
      .leftJoin('deals as d', (join) => join.onRef('d.invoice_id', '=', 'i.id').on('d.status', '<>', 'rejected'))
      .select(['i.status', 'i.expires_at', 'd.status as deal_status', 'd.customer_paid_at'])
      .select((eb) =>
        eb
          .exists(eb.selectFrom('disputes as x').select('x.id').whereRef('x.invoice_id', '=', 'i.id').where('x.status', 'in', OPEN_DISPUTE_STATUSES))
          .as('open_dispute'),
      )
      .where('i.id', '=', invoiceId)
      .executeTakeFirst();
    if (!row) return none;
    const status = effectiveStatus(row, now);
    const underReview = Boolean(row.open_dispute);
    const withinWindow = now.getTime() - row.expires_at.getTime() <= payments.disputeWindowHours * 3_600_000;
    const disputable =
      row.deal_status === 'customer_paid' ||
      (row.deal_status === 'expired' && status === 'expired' && withinWindow) ||
      (row.deal_status === 'awaiting_payment' && status === 'expired' && withinWindow);
    return { offered: underReview || disputable, underReview, claimed: underReview || row.customer_paid_at !== null };
  }

  private async openDisputeOf(trx: Transaction<DB>, invoiceId: string): Promise<DisputeRow | undefined> {
    return trx.selectFrom('disputes').selectAll().where('invoice_id', '=', invoiceId).where('status', 'in', OPEN_DISPUTE_STATUSES).executeTakeFirst();
  }

  private async event(trx: Transaction<DB>, dispute: DisputeRow, invoice: InvoiceRow, type: DisputeEventType, now: Date): Promise<void> {
    await recordDisputeEvent(trx, {
      merchantId: dispute.merchant_id,
      disputeId: dispute.id,
      invoiceId: invoice.id,
      version: dispute.version,
      type,
      dispute: disputeView(dispute),
      createdAt: now,
    });
  }
}

interface Locked {
  invoice: InvoiceRow;
  deal: DealRow;
  dispute: DisputeRow;
}

/** The transfers that give the hold back: the deal's own lock, or the dispute hold. */
export function releaseTransfers(dispute: Pick<DisputeRow, 'id' | 'held_account' | 'held_usdt' | 'trader_id'>, deal: Pick<DealRow, 'id'>): Transfer[] {
  if (dispute.held_usdt === 0n) return [];
  const locked = dispute.held_account === traderLocked(dispute.trader_id);
  return [
    {
      from: dispute.held_account,
      to: traderAvailable(dispute.trader_id),
      amount: dispute.held_usdt,
      kind: locked ? 'deal_release' : 'dispute_release',
      ref: locked ? deal.id : dispute.id,
    },
  ];
}

/** The condition "the party may see it": the merchant its own, the trader its deals', the operator all. */
function visibleTo(party: DisputeParty) {
  return (eb: ExpressionBuilder<DB & { x: DisputesTable }, 'x'>) =>
    party.kind === 'operator' ? eb.val(true) : eb(party.kind === 'merchant' ? 'x.merchant_id' : 'x.trader_id', '=', party.id);
}

async function lockDispute(trx: Transaction<DB>, disputeId: string): Promise<DisputeRow> {
  return trx.selectFrom('disputes').selectAll().where('id', '=', disputeId).forUpdate().executeTakeFirstOrThrow();
}

/** The invoice's one deal that is not rejected, if any. */
async function currentDeal(trx: Transaction<DB>, invoiceId: string): Promise<DealRow | undefined> {
  return trx.selectFrom('deals').selectAll().where('invoice_id', '=', invoiceId).where('status', '<>', 'rejected').executeTakeFirst();
}

async function recordTransition(trx: Transaction<DB>, dispute: DisputeRow, from: DisputeStatus | null, actor: DisputeActor, at: Date): Promise<void> {
  await trx.insertInto('dispute_transitions').values({ dispute_id: dispute.id, from_status: from, to_status: dispute.status, actor, at }).execute();
}
