// The deals engine and the invoice lifecycle after creation: opening a deal when the customer
// opens the payment page, "I have paid", trader confirmation, merchant cancel and expiry.
//
// Every transition locks the invoice row first (then the deal, then ledger accounts in id
// order) and checks its precondition under that lock, so confirm, cancel and expiry racing on
// one invoice end in exactly one final state. Each final transition writes its ledger transfers
// and its event in the same transaction.
import { randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type InferResult, type Kysely, type Transaction } from 'kysely';
import { queryBuilder } from '../db/compile.ts';
import { afterCursor, page, type KeyColumns, type Page } from '../db/cursor.ts';
import type { PreparedQuery } from '../db/connect.ts';
import type { Clock } from '../clock.ts';
import { truncateToSecond } from '../clock.ts';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { InvoiceRow, Invoices, InvoiceView } from '../invoices/service.ts';
import { expireInvoices, lockInvoice, moveInvoice } from '../invoices/transitions.ts';
import { lockDeal, moveDeal, type DealRow } from './transitions.ts';
import { markRequisiteUsed } from '../traders/service.ts';
import { balanceOf, postTransfers, traderAvailable, traderInsurance } from '../ledger/ledger.ts';
import { traderLocked } from '../ledger/accounts.ts';
import {
  dealStatusesLeadingTo,
  effectiveStatus,
  isOpenDeal,
  OPEN_DEAL_STATUSES,
  openTransfers,
  payableSql,
  releaseTransfers,
  settleTransfers,
  type DealStatus,
  type RejectReason,
  type StatusDetail,
  type TransitionActor,
} from '../lifecycle.ts';
import {
  asMicroUsdt,
  cents,
  formatCents,
  formatUsdt,
  fromScaled,
  PERCENT_DECIMALS,
  percentHundredths,
  rateMicro,
  settle,
  traderReward,
  type Cents,
} from '../money.ts';
import type { Catalog, PaymentSettings } from '../rates/catalog.ts';
import { recordEvents, type InvoiceEvent } from '../webhooks/outbox.ts';

export type { DealRow } from './transitions.ts';

/** What the payment page shows of an invoice, and all it reads. */
const PAGE_INVOICE_COLUMNS = ['id', 'status', 'amount', 'currency', 'purpose', 'success_url', 'fail_url', 'expires_at'] as const;
export type PageInvoice = Pick<InvoiceRow, (typeof PAGE_INVOICE_COLUMNS)[number]>;
export type PageDeal = Pick<DealRow, 'id' | 'status'>;

/** How many requisites one page open considers before saying no trader is available. */
const CANDIDATES_MAX = 20;
/** Invoices expired per transaction by the sweep. */
export const EXPIRY_BATCH_SIZE_DEFAULT = 500;

export interface Requisite {
  bankName: string;
  cardNumber: string;
  holderName: string;
}

/** What the payment page shows for an invoice. */
export type PageState =
  | { kind: 'not_found' }
  | { kind: 'final'; invoice: PageInvoice; merchantName: string; status: 'success' | 'expired' | 'cancelled' }
  | { kind: 'unavailable'; invoice: PageInvoice; merchantName: string }
  | { kind: 'no_trader'; invoice: PageInvoice; merchantName: string }
  | { kind: 'deal'; invoice: PageInvoice; merchantName: string; deal: PageDeal; requisite: Requisite };

/** Who confirmed a deal: its trader, or an operator on the trader's behalf. */
export type Confirmer = { trader: string } | { admin: true };

/** A trader's reject of a deal: the reason, and optionally their words. */
export interface Rejection {
  reason: RejectReason;
  comment?: string | undefined;
}

/**
 * Takes a trader's reject of a deal whose customer said they paid, in the reject's transaction
 * (the invoice and the deal locked): the disputes domain opens a dispute (src/context.ts wires it).
 */
export type PaidRejectHandler = (trx: Transaction<DB>, invoice: InvoiceRow, deal: DealRow, rejection: Rejection) => Promise<DealRow>;

/** A trader whose deals wait in customer_paid longer than this counts them against trader_unconfirmed_max. */
export const UNCONFIRMED_AFTER_MS = 30 * 60_000;

/** How settleDeal settles a deal (see Deals.settleDeal). */
export interface SettleOptions {
  /** The fiat actually paid, a decimal string ("1450.00"); absent: the invoice amount. */
  paidAmount?: string | undefined;
  /**
   * The invoice's status_detail: null for an on-time confirmation, `paid_late`, `dispute_resolved`.
   * An amount outside amount_tolerance with a null detail is `recalculated`.
   */
  detail: StatusDetail | null;
  /** Who settles it: recorded in the invoice's history (and as the deal's confirmed_by). */
  by: Extract<TransitionActor, 'trader' | 'operator'>;
  /**
   * What backs the deal now and how much it holds; default: the deal's own lock while the deal
   * holds it (awaiting_payment, customer_paid), else nothing (the whole cost is locked again
   * from the trader's available balance). A dispute passes its hold.
   */
  held?: { account: string; amount: bigint } | undefined;
  /** Written on the deal and the invoice: a retry whose first attempt committed finds it. */
  transitionId?: string | undefined;
}

export interface DealFilter {
  status?: DealStatus | undefined;
  traderId?: string | undefined;
  /** The deals of this merchant's invoices (the operator console's filter). */
  merchantId?: string | undefined;
  dealId?: string | undefined;
  invoiceId?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** A page of deals unless the caller asks for another size. */
export const DEAL_LIST_LIMIT_DEFAULT = 50;

/** Deals are ordered by opened_at, which Kasa's clock writes (milliseconds): its indexes serve the order. */
const DEAL_KEYS: KeyColumns = { alias: 'd', at: 'opened_at', id: 'id', truncate: false, order: 'desc' };

/**
 * The payment page's one query, compiled once: the invoice, its merchant's name, its deal and
 * the card the deal was opened with ($1 = invoice id). Only the columns the page shows: every
 * column costs its parsing on each view.
 */
const pageStateQuery = queryBuilder
  .selectFrom('invoices as i')
  .innerJoin('merchants as m', 'm.id', 'i.merchant_id')
  // A rejected deal is history: the page shows the invoice's one deal that is not.
  .leftJoin('deals as d', (join) => join.onRef('d.invoice_id', '=', 'i.id').on('d.status', '<>', sql.lit('rejected')))
  .select(PAGE_INVOICE_COLUMNS.map((c) => `i.${c}` as const))
  .select(['m.name as merchant_name', 'd.id as deal_id', 'd.status as deal_status', 'd.bank_name', 'd.card_number', 'd.holder_name'])
  .where('i.id', '=', '');
type PageRow = InferResult<typeof pageStateQuery>[number];
export const PAGE_STATE_SQL = pageStateQuery.compile().sql;

export class Deals {
  private paidRejects: PaidRejectHandler | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly catalog: Catalog,
    private readonly clock: Clock,
    private readonly invoices: Invoices,
    private readonly prepared: PreparedQuery,
  ) {}

  /** Where a reject of a paid deal goes: set once by the composition root. */
  handPaidRejectsTo(handler: PaidRejectHandler): void {
    this.paidRejects = handler;
  }

  // -------------------------------------------------------------------------------------------
  // Payment page

  /**
   * The page's state; opens the invoice's deal on the first view of a pending invoice. Reads
   * without locks first, so a page that already has its deal (or is final) costs one query.
   */
  async openForPage(invoiceId: string): Promise<PageState> {
    if (!isUuid(invoiceId)) return { kind: 'not_found' };
    const current = await this.readPage(this.db, invoiceId, this.clock.now());
    if (current.kind !== 'no_trader') return current;
    const { settings } = await this.catalog.snapshot();
    if (!settings.dealsEnabled) return { kind: 'unavailable', invoice: current.invoice, merchantName: current.merchantName };
    return inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const invoice = await lockInvoice(trx, invoiceId);
      if (!invoice) return { kind: 'not_found' } as const;
      const state = await this.readPage(trx, invoiceId, now, invoice);
      if (state.kind !== 'no_trader') return state;
      const opened = await this.assign(trx, invoice, now, settings.traderMinInsuranceUsdt, settings.payments.traderUnconfirmedMax);
      return opened ? await this.readPage(trx, invoiceId, now, invoice) : state;
    });
  }

  /** The page's state without opening anything ("no_trader" means pending without a deal). */
  async pageState(invoiceId: string): Promise<PageState> {
    if (!isUuid(invoiceId)) return { kind: 'not_found' };
    return this.readPage(this.db, invoiceId, this.clock.now());
  }

  /**
   * The invoice, its merchant's name and its deal with the deal's card, in one query: the page
   * of an open deal is the most viewed thing a customer does. Outside a transaction it runs as
   * a named prepared statement, so PostgreSQL does not plan the four-table join on every view.
   */
  private async readPage(db: Kysely<DB> | Transaction<DB>, invoiceId: string, now: Date, locked?: InvoiceRow): Promise<PageState> {
    const [row] =
      db === this.db
        ? await this.prepared<PageRow>('kasa_page_state', PAGE_STATE_SQL, [invoiceId])
        : (await db.executeQuery<PageRow>(CompiledQuery.raw(PAGE_STATE_SQL, [invoiceId]))).rows;
    if (!row) return { kind: 'not_found' };
    const { merchant_name: merchantName, deal_id, deal_status, bank_name, card_number, holder_name, ...read } = row;
    const invoice: PageInvoice = locked ?? read;
    const status = effectiveStatus(invoice, now);
    if (status !== 'pending') return { kind: 'final', invoice, merchantName, status };
    if (deal_id === null || deal_status === null || bank_name === null || card_number === null || holder_name === null) {
      return { kind: 'no_trader', invoice, merchantName };
    }
    const requisite = { bankName: bank_name, cardNumber: card_number, holderName: holder_name };
    return { kind: 'deal', invoice, merchantName, deal: { id: deal_id, status: deal_status }, requisite };
  }

  /**
   * Picks the least recently used eligible requisite and opens the deal on it. Candidates are
   * read without locks, then each is locked with SKIP LOCKED (a concurrent page open on it moves
   * on to the next) and re-checked under its lock, because only then are its open deals, its
   * daily volume and its trader's balance stable. A trader whose insurance is below
   * `minInsurance` (micro-USDT) is no candidate, nor one with more than `unconfirmedMax` deals
   * left in customer_paid for over 30 minutes, nor a requisite whose deal for this invoice its
   * trader rejected.
   */
  private async assign(trx: Transaction<DB>, invoice: InvoiceRow, now: Date, minInsurance: bigint, unconfirmedMax: number): Promise<DealRow | null> {
    const gross = invoice.gross_usdt;
    const unconfirmedBefore = new Date(now.getTime() - UNCONFIRMED_AFTER_MS);
    const { rows: candidates } = await sql<{ id: string; trader_id: string; reward_percent: string }>`
      SELECT r.id, r.trader_id, t.reward_percent
        FROM requisites r
        JOIN traders t ON t.id = r.trader_id AND t.status = 'active'
        LEFT JOIN accounts a ON a.id = 'trader:' || r.trader_id::text || ':available'
        LEFT JOIN accounts ins ON ins.id = 'trader:' || r.trader_id::text || ':insurance'
       WHERE r.active AND r.currency = ${invoice.currency}
         AND coalesce(ins.balance, 0) >= ${String(minInsurance)}::bigint
         AND (r.min_amount IS NULL OR r.min_amount <= ${invoice.amount}::numeric)
         AND (r.max_amount IS NULL OR r.max_amount >= ${invoice.amount}::numeric)
         -- a requisite that already had a deal for this invoice had it rejected by its trader
         AND NOT EXISTS (SELECT 1 FROM deals x WHERE x.invoice_id = ${invoice.id}::uuid AND x.requisite_id = r.id)
         -- a trader sitting on unconfirmed payments gets no new ones until they are handled
         AND (SELECT count(*) FROM deals u WHERE u.trader_id = r.trader_id AND u.status = 'customer_paid'
                 AND u.customer_paid_at < ${unconfirmedBefore}::timestamptz) <= ${unconfirmedMax}
         -- the trader can lock trader_cost, and trader_cost covers what the merchant is credited
         AND coalesce(a.balance, 0) >= ${String(gross)}::bigint - floor(${String(gross)}::numeric * t.reward_percent / 100)
         AND ${String(gross)}::bigint - floor(${String(gross)}::numeric * t.reward_percent / 100) >= ${String(invoice.merchant_usdt)}::bigint
       ORDER BY r.last_used_at NULLS FIRST, r.id
       LIMIT ${CANDIDATES_MAX}`.execute(trx);

    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    for (const candidate of candidates) {
      const { rows: locked } = await sql<{ id: string; bank_name: string; card_number: string; holder_name: string }>`
        SELECT id, bank_name, card_number, holder_name FROM requisites WHERE id = ${candidate.id} AND active FOR UPDATE SKIP LOCKED`.execute(trx);
      const requisite = locked[0];
      if (!requisite) continue;
      const { rows: checks } = await sql<{ eligible: boolean; reward_percent: string }>`
        SELECT t.status = 'active'
               AND (SELECT count(*) FROM deals d WHERE d.requisite_id = r.id
                       AND d.status IN ('awaiting_payment', 'customer_paid')) < r.max_open_deals
               AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.requisite_id = r.id AND d.amount = ${invoice.amount}::numeric
                       AND d.status IN ('awaiting_payment', 'customer_paid'))
               AND (r.daily_limit IS NULL OR
                    (SELECT coalesce(sum(d.amount), 0) FROM deals d WHERE d.requisite_id = r.id AND d.opened_at >= ${dayStart}::timestamptz
                       AND d.status IN ('awaiting_payment', 'customer_paid', 'completed')) + ${invoice.amount}::numeric <= r.daily_limit)
               AS eligible,
               t.reward_percent
          FROM requisites r JOIN traders t ON t.id = r.trader_id
         WHERE r.id = ${candidate.id}`.execute(trx);
      const check = checks[0];
      if (!check?.eligible) continue;

      const reward = traderReward(asMicroUsdt(gross), percentHundredths(check.reward_percent));
      const cost = gross - reward;
      if (cost <= 0n || cost < invoice.merchant_usdt) continue;
      const available = traderAvailable(candidate.trader_id);
      const { rows: balance } = await sql<{ balance: bigint }>`
        SELECT balance FROM accounts WHERE id = ${available} FOR UPDATE`.execute(trx);
      if ((balance[0]?.balance ?? 0n) < cost) continue;
      // An insurance release commits under this lock (it posts to the same account): read after
      // it, the insurance is the one the release left.
      if (minInsurance > 0n && (await balanceOf(trx, traderInsurance(candidate.trader_id))) < minInsurance) continue;

      const dealId = randomUUID();
      await postTransfers(trx, openTransfers({ id: dealId, trader_id: candidate.trader_id, trader_cost: cost }));
      const deal = await trx
        .insertInto('deals')
        .values({
          id: dealId,
          bank_name: requisite.bank_name,
          card_number: requisite.card_number,
          holder_name: requisite.holder_name,
          invoice_id: invoice.id,
          merchant_id: invoice.merchant_id,
          trader_id: candidate.trader_id,
          requisite_id: candidate.id,
          amount: invoice.amount,
          currency: invoice.currency,
          gross_usdt: gross,
          trader_reward: reward,
          trader_cost: cost,
          merchant_usdt: invoice.merchant_usdt,
          opened_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await markRequisiteUsed(trx, candidate.id, now);
      return deal;
    }
    return null;
  }

  /**
   * "I have paid": moves the open deal to customer_paid and records invoice.processing (once per
   * invoice) in the same transaction. Moves no money; a no-op in any other state.
   */
  async markPaid(invoiceId: string): Promise<void> {
    if (!isUuid(invoiceId)) return;
    await inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      // One statement: the deal row's lock and the re-checked WHERE settle races with confirm,
      // cancel and expiry, which all change the deal's status under the same lock.
      const from = dealStatusesLeadingTo('customer_paid');
      const { rows: moved } = await sql<{ id: string }>`
        UPDATE deals d SET status = 'customer_paid', customer_paid_at = ${now}::timestamptz
          FROM invoices i
         WHERE d.invoice_id = ${invoiceId}::uuid AND i.id = d.invoice_id AND d.status = ANY(${from}::text[])
           AND ${payableSql('i', now)}
        RETURNING d.id`.execute(trx);
      if (moved.length === 0) return;
      // A second deal of the invoice (after a reject) reported paid: the merchant heard it once.
      const told = await trx.selectFrom('events').select('id').where('invoice_id', '=', invoiceId).where('type', '=', 'invoice.processing').executeTakeFirst();
      if (told) return;
      const invoice = await trx.selectFrom('invoices').selectAll().where('id', '=', invoiceId).executeTakeFirstOrThrow();
      await recordEvents(trx, [this.event(invoice, 'invoice.processing', now)]);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Final transitions

  /**
   * Trader (or operator) confirms the fiat arrived: deal completed, invoice success, money moves.
   * `receivedAmount` (fiat) is what arrived; absent, the invoice amount (see settleDeal). After
   * expiry, a deal whose customer said they paid stays confirmable for late_confirm_minutes, any
   * other for late_unpaid_confirm_minutes (0: never): the invoice goes expired → success,
   * `paid_late`.
   */
  async confirm(dealId: string, by: Confirmer, outer?: Transaction<DB>, receivedAmount?: string): Promise<DealRow> {
    if (!isUuid(dealId)) throw errors.dealNotFound();
    // Outside the retried body: a retry whose first attempt did commit finds this id on the deal.
    const transitionId = randomUUID();
    return inTransaction(
      this.db,
      async (trx) => {
        const owner = await trx.selectFrom('deals').select(['invoice_id', 'trader_id']).where('id', '=', dealId).executeTakeFirst();
        // A trader never learns whether another trader's deal exists.
        if (!owner || ('trader' in by && owner.trader_id !== by.trader)) throw errors.dealNotFound();
        const now = this.clock.now();
        let invoice = await lockInvoice(trx, owner.invoice_id);
        let deal = await lockDeal(trx, dealId);
        if (deal.transition_id === transitionId) return deal;
        if (!invoice) throw errors.dealNotActive(deal.status);
        const status = effectiveStatus(invoice, now);
        let detail: StatusDetail | null = null;
        if (status === 'pending' && isOpenDeal(deal.status)) {
          // on time
        } else if (status === 'expired' && lateConfirmable(deal, invoice, now, (await this.catalog.getSettings(trx)).payments)) {
          detail = 'paid_late';
          if (invoice.status === 'pending') {
            // Past expires_at but not swept yet: expire it here first, so its history and its
            // webhooks say expired, then success, as a swept one's do.
            [invoice] = await this.expireLocked(trx, [invoice.id], now);
            deal = await lockDeal(trx, dealId);
          }
        } else {
          throw errors.dealNotActive(isOpenDeal(deal.status) ? status : deal.status);
        }
        const settled = await this.settleDeal(trx, invoice as InvoiceRow, deal, {
          paidAmount: receivedAmount,
          detail,
          by: 'trader' in by ? 'trader' : 'operator',
          transitionId,
        });
        return settled.deal;
      },
      outer,
    );
  }

  /**
   * Settles a deal at the amount actually paid: the one place where a deal completes, shared by
   * confirmation (on time or late) and disputes. The caller holds, in `trx`, the invoice's lock
   * and then the deal's (lockInvoice, then the deal FOR UPDATE), and has decided the deal may
   * complete; the invoice may be pending, expired or cancelled (stored status; a pending one
   * past expires_at the caller expires first), the deal awaiting_payment, customer_paid,
   * expired or disputed.
   *
   * - `paidAmount` within amount_tolerance of the invoice amount: exact. paid_amount is what was
   *   paid, the money moves as the deal was opened, status_detail is `options.detail`.
   * - Otherwise: recalculated at the invoice's locked rate and fee and the trader's reward
   *   percent (money.settle); the invoice's gross_usdt and merchant_usdt and the deal's USDT
   *   figures change; status_detail is `options.detail` or `recalculated`. Above the invoice
   *   amount by more than overpayment_max_percent: 400 OVERPAYMENT_TOO_LARGE.
   * - Money (lifecycle.settleTransfers against `options.held`): what the held account lacks is
   *   locked from the trader's available balance (its row locked; not enough: 409
   *   INSUFFICIENT_TRADER_BALANCE, and the caller's transaction rolls back), the held money
   *   pays the merchant and the platform, the rest goes back to available.
   * - The deal → completed, the invoice → success (its history records `options.by`), and
   *   invoice.success is recorded.
   */
  async settleDeal(trx: Transaction<DB>, invoice: InvoiceRow, deal: DealRow, options: SettleOptions): Promise<{ deal: DealRow; invoice: InvoiceRow }> {
    const now = this.clock.now();
    const payments = (await this.catalog.getSettings(trx)).payments;
    const amount = cents(invoice.amount);
    const paid = options.paidAmount === undefined ? amount : cents(options.paidAmount);
    const difference = paid - amount;
    const exact = (difference < 0n ? -difference : difference) <= payments.amountToleranceCents;
    if (!exact && difference > 0n && difference * 10_000n > amount * payments.overpaymentMaxPercent) {
      const most = (amount + (amount * payments.overpaymentMaxPercent) / 10_000n) as Cents;
      throw errors.overpaymentTooLarge(fromScaled(payments.overpaymentMaxPercent, PERCENT_DECIMALS), formatCents(most));
    }
    let figures = { grossUsdt: invoice.gross_usdt, merchantUsdt: invoice.merchant_usdt, traderReward: deal.trader_reward, traderCost: deal.trader_cost };
    if (!exact) {
      const trader = await trx.selectFrom('traders').select('reward_percent').where('id', '=', deal.trader_id).executeTakeFirstOrThrow();
      figures = settle(paid, rateMicro(invoice.conversion_rate), percentHundredths(invoice.fee_percent), percentHundredths(trader.reward_percent));
    }
    const held = options.held ?? { account: traderLocked(deal.trader_id), amount: isOpenDeal(deal.status) ? deal.trader_cost : 0n };
    const transfers = settleTransfers(deal, held, { merchantUsdt: figures.merchantUsdt, traderCost: figures.traderCost });
    if (figures.traderCost > held.amount) {
      // The shortfall comes from available: lock every account the settlement touches, in id
      // order as postTransfers does, and check available under its lock.
      const available = traderAvailable(deal.trader_id);
      const ids = [...new Set(transfers.flatMap((t) => [t.from, t.to]))].sort();
      const { rows } = await sql<{ id: string; balance: bigint }>`
        SELECT id, balance FROM accounts WHERE id = ANY(${ids}::text[]) ORDER BY id FOR UPDATE`.execute(trx);
      const balance = BigInt(rows.find((r) => r.id === available)?.balance ?? 0n);
      const required = figures.traderCost - held.amount;
      if (balance < required) throw errors.insufficientTraderBalance(formatUsdt(balance), formatUsdt(required));
    }
    const completed = await moveDeal(trx, deal, 'completed', {
      closed_at: now,
      confirmed_by: options.by === 'trader' ? 'trader' : 'admin',
      transition_id: options.transitionId ?? null,
      gross_usdt: figures.grossUsdt,
      trader_reward: figures.traderReward,
      trader_cost: figures.traderCost,
      merchant_usdt: figures.merchantUsdt,
    });
    const paidInvoice = await moveInvoice(
      trx,
      invoice,
      'success',
      {
        paid_at: truncateToSecond(now),
        paid_amount: formatCents(paid),
        status_detail: options.detail ?? (exact ? null : 'recalculated'),
        transition_id: options.transitionId ?? null,
        ...(exact ? {} : { gross_usdt: figures.grossUsdt, merchant_usdt: figures.merchantUsdt }),
      },
      { actor: options.by, at: now },
    );
    await postTransfers(trx, transfers);
    await recordEvents(trx, [this.event(paidInvoice, 'invoice.success', now)]);
    return { deal: completed, invoice: paidInvoice };
  }

  /**
   * A trader rejects their deal. In awaiting_payment the lock goes back, the deal → rejected
   * (reason, comment, at kept) and the invoice, still pending, gets a deal on another requisite
   * when its page next asks (assign excludes this one for the invoice). In customer_paid the
   * customer's claim stands: see rejectPaidDeal. Any other state: 409 DEAL_NOT_ACTIVE.
   */
  async reject(dealId: string, traderId: string, rejection: Rejection, outer?: Transaction<DB>): Promise<DealRow> {
    if (!isUuid(dealId)) throw errors.dealNotFound();
    const transitionId = randomUUID();
    return inTransaction(
      this.db,
      async (trx) => {
        const owner = await trx.selectFrom('deals').select(['invoice_id', 'trader_id']).where('id', '=', dealId).executeTakeFirst();
        if (!owner || owner.trader_id !== traderId) throw errors.dealNotFound();
        const now = this.clock.now();
        const invoice = await lockInvoice(trx, owner.invoice_id);
        const deal = await lockDeal(trx, dealId);
        if (deal.transition_id === transitionId) return deal;
        if (!invoice) throw errors.dealNotActive(deal.status, 'rejected');
        const status = effectiveStatus(invoice, now);
        // The customer's claim stands whether or not the invoice has expired since (the late window).
        if (deal.status === 'customer_paid') return this.rejectPaidDeal(trx, invoice, deal, rejection);
        if (deal.status !== 'awaiting_payment' || status !== 'pending') {
          throw errors.dealNotActive(isOpenDeal(deal.status) ? status : deal.status, 'rejected');
        }
        const rejected = await moveDeal(trx, deal, 'rejected', {
          closed_at: now,
          rejected_at: now,
          reject_reason: rejection.reason,
          reject_comment: rejection.comment ?? null,
          transition_id: transitionId,
        });
        await postTransfers(trx, releaseTransfers(deal));
        return rejected;
      },
      outer,
    );
  }

  /**
   * A reject of a deal whose customer said they paid: the customer's claim stands, so the reject
   * opens a dispute (deal → disputed, the dispute waits for an operator with the trader's words
   * as its statement) instead of dropping it.
   */
  private async rejectPaidDeal(trx: Transaction<DB>, invoice: InvoiceRow, deal: DealRow, rejection: Rejection): Promise<DealRow> {
    if (!this.paidRejects) throw new Error('deals: no handler for a reject of a paid deal (src/context.ts wires the disputes domain)');
    return this.paidRejects(trx, invoice, deal, rejection);
  }

  /** Merchant cancel: only a pending invoice whose customer has not reported paying. */
  async cancelInvoice(merchantId: string, invoiceId: string, outer?: Transaction<DB>): Promise<InvoiceView> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    const transitionId = randomUUID();
    return inTransaction(
      this.db,
      async (trx) => {
        const now = this.clock.now();
        const invoice = await lockInvoice(trx, invoiceId);
        if (!invoice || invoice.merchant_id !== merchantId) throw errors.invoiceNotFound();
        if (invoice.transition_id === transitionId) return this.invoices.view(invoice, now);
        const status = effectiveStatus(invoice, now);
        if (status !== 'pending') throw errors.invoiceNotPending(status);
        const deal = await trx
          .selectFrom('deals')
          .selectAll()
          .where('invoice_id', '=', invoiceId)
          .where('status', '<>', 'rejected')
          .forUpdate()
          .executeTakeFirst();
        // A dispute under way holds the customer's claim as "I have paid" does.
        if (deal?.status === 'customer_paid' || deal?.status === 'disputed') throw errors.paymentInProgress();
        if (deal && isOpenDeal(deal.status)) {
          await moveDeal(trx, deal, 'cancelled', { closed_at: now, transition_id: transitionId });
          await postTransfers(trx, releaseTransfers(deal));
        }
        const cancelled = await moveInvoice(
          trx,
          invoice,
          'cancelled',
          { cancelled_at: truncateToSecond(now), status_detail: 'merchant_cancelled', transition_id: transitionId },
          { actor: 'merchant', at: now },
        );
        await recordEvents(trx, [this.event(cancelled, 'invoice.cancelled', now)]);
        return this.invoices.view(cancelled, now);
      },
      outer,
    );
  }

  /**
   * The operator cancels a deal still awaiting payment, with a reason: its lock goes back to the
   * trader's available balance and its invoice is cancelled (status_detail `operator`), since an
   * invoice gets no second deal after a cancelled one. A deal whose customer said they paid is
   * refused: that claim is settled by a confirmation or a dispute, never dropped.
   */
  async cancelByOperator(dealId: string, reason: string, outer?: Transaction<DB>): Promise<DealRow> {
    if (!isUuid(dealId)) throw errors.dealNotFound();
    const transitionId = randomUUID();
    return inTransaction(
      this.db,
      async (trx) => {
        const owner = await trx.selectFrom('deals').select('invoice_id').where('id', '=', dealId).executeTakeFirst();
        if (!owner) throw errors.dealNotFound();
        const now = this.clock.now();
        // The invoice's lock first, then the deal's: the order every transition takes.
        const invoice = await lockInvoice(trx, owner.invoice_id);
        const deal = await lockDeal(trx, dealId);
        if (deal.transition_id === transitionId) return deal;
        if (deal.status === 'customer_paid') throw errors.paymentInProgress();
        const status = invoice ? effectiveStatus(invoice, now) : null;
        if (!invoice || status !== 'pending' || deal.status !== 'awaiting_payment')
          throw errors.dealNotActive(deal.status === 'awaiting_payment' ? (status ?? deal.status) : deal.status, 'cancelled');
        const cancelled = await moveDeal(trx, deal, 'cancelled', { closed_at: now, cancel_reason: reason, transition_id: transitionId });
        await postTransfers(trx, releaseTransfers(deal));
        const closed = await moveInvoice(
          trx,
          invoice,
          'cancelled',
          { cancelled_at: truncateToSecond(now), status_detail: 'operator', transition_id: transitionId },
          { actor: 'operator', at: now },
        );
        await recordEvents(trx, [this.event(closed, 'invoice.cancelled', now)]);
        return cancelled;
      },
      outer,
    );
  }

  /**
   * Expires one batch of pending invoices past expires_at: their deals in awaiting_payment expire
   * and release their locks, and each gets its invoice.expired event. A deal whose customer said
   * they paid keeps its lock and stays customer_paid for late_confirm_minutes (releaseLateBatch
   * ends it). SKIP LOCKED lets any number of workers sweep at once, each invoice handled by
   * exactly one. Returns how many it expired.
   */
  async expireBatch(batchSize = EXPIRY_BATCH_SIZE_DEFAULT): Promise<number> {
    return inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      // kasa_due_invoices (009_sweeps_without_statistics.sql): the oldest due invoices, locked,
      // read from the head of invoices_pending_expiry whatever the statistics say.
      const { rows: due } = await sql<{ id: string }>`SELECT id FROM kasa_due_invoices(${now}::timestamptz, ${batchSize}::integer)`.execute(trx);
      if (due.length === 0) return 0;
      return (
        await this.expireLocked(
          trx,
          due.map((r) => r.id),
          now,
        )
      ).length;
    });
  }

  /**
   * The invoice the caller locked, expired first if it is pending past expires_at and not swept
   * yet (its deals and events as the sweep would), so what follows reads expired, then success.
   */
  async expireIfDue(trx: Transaction<DB>, invoice: InvoiceRow, now: Date): Promise<InvoiceRow> {
    if (invoice.status !== 'pending' || effectiveStatus(invoice, now) === 'pending') return invoice;
    const [expired] = await this.expireLocked(trx, [invoice.id], now);
    return expired as InvoiceRow;
  }

  /** Expires invoices the caller locked as pending past expires_at: the sweep's and a late confirmation's one way. */
  private async expireLocked(trx: Transaction<DB>, ids: string[], now: Date): Promise<InvoiceRow[]> {
    const payments = (await this.catalog.getSettings(trx)).payments;
    const expired = await expireInvoices(trx, ids, now);
    const ending: readonly DealStatus[] = payments.lateConfirmMinutes > 0 ? ['awaiting_payment'] : OPEN_DEAL_STATUSES;
    const deals = await trx
      .updateTable('deals')
      .set({ status: 'expired', closed_at: now })
      .where('invoice_id', 'in', ids)
      .where('status', 'in', dealStatusesLeadingTo('expired', ending))
      .returningAll()
      .execute();
    await postTransfers(trx, deals.flatMap(releaseTransfers));
    await recordEvents(
      trx,
      expired.map((invoice) => this.event(invoice, 'invoice.expired', now)),
    );
    return expired;
  }

  /**
   * Ends one batch of deals left in customer_paid on expired invoices whose late_confirm_minutes
   * have passed: deal → expired, lock released (no event: the invoice said expired already).
   * Invoices locked first with SKIP LOCKED, as the expiry sweep does. Returns how many it ended.
   */
  async releaseLateBatch(batchSize = EXPIRY_BATCH_SIZE_DEFAULT): Promise<number> {
    return inTransaction(this.db, async (trx) => {
      const now = this.clock.now();
      const payments = (await this.catalog.getSettings(trx)).payments;
      const until = new Date(now.getTime() - payments.lateConfirmMinutes * 60_000);
      // Deals in customer_paid are few (deals_customer_paid_since); oldest first.
      const { rows: candidates } = await sql<{ invoice_id: string }>`
        SELECT d.invoice_id FROM deals d JOIN invoices i ON i.id = d.invoice_id
         WHERE d.status = 'customer_paid' AND i.status = 'expired' AND i.expires_at <= ${until}::timestamptz
         ORDER BY d.customer_paid_at LIMIT ${batchSize}`.execute(trx);
      if (candidates.length === 0) return 0;
      const { rows: locked } = await sql<{ id: string }>`
        SELECT id FROM invoices WHERE id = ANY(${candidates.map((c) => c.invoice_id)}::uuid[]) AND status = 'expired'
         ORDER BY id FOR UPDATE SKIP LOCKED`.execute(trx);
      if (locked.length === 0) return 0;
      const deals = await trx
        .updateTable('deals')
        .set({ status: 'expired', closed_at: now })
        .where(
          'invoice_id',
          'in',
          locked.map((r) => r.id),
        )
        .where('status', '=', 'customer_paid')
        .returningAll()
        .execute();
      await postTransfers(trx, deals.flatMap(releaseTransfers));
      return deals.length;
    });
  }

  /** Expires everything due, batch after batch, then ends the late windows that passed; returns the invoices expired. */
  async expireDue(batchSize = EXPIRY_BATCH_SIZE_DEFAULT): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.expireBatch(batchSize);
      total += n;
      if (n < batchSize) break;
    }
    while ((await this.releaseLateBatch(batchSize)) === batchSize);
    return total;
  }

  private event(invoice: InvoiceRow, type: InvoiceEvent['type'], now: Date): InvoiceEvent {
    return { merchantId: invoice.merchant_id, invoiceId: invoice.id, type, invoice: this.invoices.view(invoice, now), createdAt: now };
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /** Newest first, a page at a time. */
  async list(filter: DealFilter, trx?: Transaction<DB>): Promise<Page<DealRow & { expires_at: Date }>> {
    let query = (trx ?? this.db).selectFrom('deals as d').innerJoin('invoices as i', 'i.id', 'd.invoice_id').selectAll('d').select('i.expires_at');
    if (filter.status) query = query.where('d.status', '=', filter.status);
    if (filter.traderId) query = query.where('d.trader_id', '=', filter.traderId);
    if (filter.merchantId) query = query.where('i.merchant_id', '=', filter.merchantId);
    if (filter.dealId) query = query.where('d.id', '=', filter.dealId);
    if (filter.invoiceId) query = query.where('d.invoice_id', '=', filter.invoiceId);
    if (filter.cursor !== undefined) query = query.where(afterCursor(DEAL_KEYS, filter.cursor));
    const rows = await query
      .orderBy('d.opened_at', 'desc')
      .orderBy('d.id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    return page(rows, filter.limit, (d) => ({ at: d.opened_at, id: d.id }));
  }
}

/**
 * Whether a deal of an invoice past expires_at may still be confirmed: one whose customer said
 * they paid (still holding its lock) within late_confirm_minutes, any other expired-with-its-
 * invoice deal within late_unpaid_confirm_minutes.
 */
function lateConfirmable(deal: DealRow, invoice: InvoiceRow, now: Date, payments: PaymentSettings): boolean {
  const since = now.getTime() - invoice.expires_at.getTime();
  if (invoice.status !== 'pending' && invoice.status !== 'expired') return false;
  if (deal.status === 'customer_paid' && since < payments.lateConfirmMinutes * 60_000) return true;
  const unpaid = deal.status === 'customer_paid' || deal.status === 'awaiting_payment' || deal.status === 'expired';
  return unpaid && payments.lateUnpaidConfirmMinutes > 0 && since < payments.lateUnpaidConfirmMinutes * 60_000;
}
