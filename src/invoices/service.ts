// Invoices: create (the hot path), read, list. Transitions after creation live in src/deals.
import { randomUUID } from 'node:crypto';
import { CompiledQuery, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { isoSeconds, truncateToSecond } from '../clock.ts';
import { queryBuilder } from '../db/compile.ts';
import { GroupCommit } from '../db/group-commit.ts';
import type { DB, InvoicesTable, RateSourceKind } from '../db/schema.ts';
import type { PreparedQuery } from '../db/connect.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { dueForExpirySql, effectiveStatus, payableSql, type InvoiceStatus, type StatusDetail, type TransitionActor } from '../lifecycle.ts';
import type { Merchant } from '../merchants/service.ts';
import { cents, formatCents, formatFiat, formatPercent, formatRate, formatRawRate, formatUsdt, maxFiatFor, quoteInvoice, type MicroUsdt } from '../money.ts';
import { rateUsable, type Catalog } from '../rates/catalog.ts';

export type InvoiceRow = Selectable<InvoicesTable>;

export interface CreateInvoiceInput {
  amount: string;
  currency_code: string;
  customer_id: string;
  external_id: string;
  purpose?: string | undefined;
  callback_url?: string | undefined;
  success_url?: string | undefined;
  fail_url?: string | undefined;
}

/** The invoice as create-invoice answers it: the seed's fields, exactly. */
export type CreatedInvoiceView = Omit<InvoiceView, 'paid_amount' | 'status_detail'>;

/** The invoice object of the merchant API, field for field as documented. */
export interface InvoiceView {
  invoice_id: string;
  external_id: string;
  amount: string;
  currency: string;
  conversion_rate: string;
  merchant_usdt: string;
  status: InvoiceStatus;
  payment_link: string;
  customer_id: string;
  purpose: string | null;
  callback_url: string | null;
  success_url: string | null;
  fail_url: string | null;
  created_at: string;
  expires_at: string;
  paid_at: string | null;
  paid_amount: string | null;
  status_detail: StatusDetail | null;
}

/** An invoice's history: the creation (from_status null), then each transition once, oldest first. */
export interface InvoiceHistory {
  invoice_id: string;
  items: {
    from_status: InvoiceStatus | null;
    status: InvoiceStatus;
    status_detail: StatusDetail | null;
    actor: TransitionActor;
    at: string;
  }[];
}

export interface InvoiceFilters {
  status?: InvoiceStatus | undefined;
  external_id?: string | undefined;
  customer_id?: string | undefined;
  created_from?: Date | undefined;
  created_to?: Date | undefined;
}

export interface ListFilters extends InvoiceFilters {
  limit: number;
  cursor?: string | undefined;
}

export type ExportFilters = InvoiceFilters;

/** The most invoices one export holds; a merchant with more narrows the dates. */
export const EXPORT_ROWS_MAX = 100_000;
/** Invoices read per query while an export streams: bounds the memory one export holds. */
const EXPORT_BATCH_ROWS = 1_000;

type CreateOutcome = { outcome: 'created' | 'duplicate' | 'rate' | 'pending' | 'unpaid'; invoice_id: string | null; retry_after_seconds: number | null };

/** The hot path's one statement, prepared once per connection (kasa_create_invoice: its latest version is in 015_wrong_payments.sql). */
const CREATE_INVOICE_SQL = `SELECT outcome, invoice_id, retry_after_seconds FROM kasa_create_invoice(
  $1::uuid, $2::uuid, $3, $4, $5::numeric, $6, $7::numeric, $8::numeric, $9::bigint, $10::bigint,
  $11, $12, $13, $14, $15::timestamptz, $16::timestamptz, $17::integer, $18::integer,
  $19, $20::numeric, $21::numeric, $22::timestamptz)`;

/**
 * The same for a batch of requests (its latest version is in 020_create_invoices_set_based.sql):
 * one array per parameter, one row per element with its 1-based ordinal, all in one transaction.
 */
const CREATE_INVOICES_SQL = `SELECT ordinal, outcome, invoice_id, retry_after_seconds FROM kasa_create_invoices(
  $1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::numeric[], $8::numeric[], $9::bigint[], $10::bigint[],
  $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[], $17::integer[], $18::integer[],
  $19::text[], $20::numeric[], $21::numeric[], $22::timestamptz[])`;

/**
 * Batches in flight on a PostgreSQL server: one fewer than the connections that run
 * create-invoice (the pipeline lanes, see src/db/pipeline.ts, or without lanes the pool), at
 * least one. Each batch in flight holds a backend busy; the requests that arrive meanwhile wait
 * for the next batch instead of going as small batches of their own, and one core is left to
 * Kasa's event loop, which on a machine shared with PostgreSQL is the other half of every
 * request. Measured on a 2-core machine (2 lanes), create-invoice at 8 / 32 / 64 connections
 * served 12-14 / 21-23 / 16-19 % more requests per second with one batch in flight than with two.
 */
export function createBatchesInFlight(poolSize: number, pipelines: number): number {
  return Math.max(1, (pipelines > 0 ? pipelines : poolSize) - 1);
}

type BatchOutcome = CreateOutcome & { ordinal: number };

export interface CreateBatching {
  /** Batches of create-invoice requests sent at once (see src/db/group-commit.ts). */
  batchesInFlightMax: number;
  /** Observes each batch's size. */
  onBatch?: (size: number) => void;
  /** Settles when the database could take the next batch now (see GroupCommitOptions). */
  whenFree?: () => Promise<void>;
}

/** The operator's invoice: the merchant's object, plus whose it is, what it grossed, and its rate snapshot. */
export interface OperatorInvoiceView extends InvoiceView {
  merchant_id: string;
  fee_percent: string;
  gross_usdt: string;
  rate_source: RateSourceKind;
  raw_rate: string | null;
  markup_percent: string | null;
  rate_fetched_at: string | null;
}

/**
 * An invoice by id ($1), compiled once; whose it is, the caller checks. With `merchant_id = $2`
 * in the statement, every index led by merchant_id was a candidate too, and a plan cached while
 * the table was nearly empty and never analyzed took invoices_merchant_seq: each read walked
 * every invoice of the merchant. By id alone, the primary key is the only index that answers.
 */
export const INVOICE_BY_ID_SQL = queryBuilder.selectFrom('invoices').selectAll().where('id', '=', '').compile().sql;

/** One trillion USDT in micro-USDT: far past any real invoice, and a tenth of what BIGINT holds. */
/** kasa_create_invoice's parameters, in order. */
const CREATE_PARAMETERS = 22;

export const INVOICE_USDT_MAX = (10n ** 18n) as MicroUsdt;

export class Invoices {
  /** Requests without a transaction of their own: created in batches, each answered on its own. */
  readonly #batches: GroupCommit<unknown[], CreateOutcome>;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly catalog: Catalog,
    private readonly clock: Clock,
    private readonly publicUrl: string,
    private readonly prepared: PreparedQuery,
    batching: CreateBatching,
  ) {
    this.#batches = new GroupCommit({
      run: (batch) => this.#createBatch(batch),
      batchesInFlightMax: batching.batchesInFlightMax,
      unavailable: () => errors.databaseUnavailable(),
      ...(batching.onBatch ? { onBatch: batching.onBatch } : {}),
      ...(batching.whenFree ? { whenFree: batching.whenFree } : {}),
    });
  }

  /**
   * One statement for the batch; prepared is retried whole (see prepared.ts), which the SQL makes
   * safe. A batch of one (low load) takes the single call, without the batch function's loop.
   */
  async #createBatch(batch: unknown[][]): Promise<CreateOutcome[]> {
    if (batch.length === 1) return [await this.#createOne(batch[0]!)];
    const columns = Array.from({ length: CREATE_PARAMETERS }, (_, j) => batch.map((parameters) => parameters[j]));
    const rows = await this.prepared<BatchOutcome>('kasa_create_invoices', CREATE_INVOICES_SQL, columns);
    const answers: CreateOutcome[] = new Array<CreateOutcome>(batch.length);
    for (const row of rows) answers[row.ordinal - 1] = row;
    return answers;
  }

  paymentLink(invoiceId: string): string {
    return `${this.publicUrl}/pay/${invoiceId}`;
  }

  /**
   * The checks run in the documented order; everything that needs the database (customer limits,
   * duplicate external_id, the insert) is one statement, one round trip, one short transaction,
   * shared with the requests that queued beside it (a batch). Given the caller's transaction (a
   * request with an Idempotency-Key, whose answer commits with its invoice), the statement runs
   * in it, unbatched.
   */
  async create(merchant: Merchant, input: CreateInvoiceInput, trx?: Transaction<DB>): Promise<CreatedInvoiceView> {
    const { settings, currencies } = await this.catalog.snapshot(trx);
    if (!settings.dealsEnabled) throw errors.dealsDisabled();
    const currency = currencies.get(input.currency_code);
    if (!currency || !currency.enabled) throw errors.currencyInvalid();
    const amount = cents(input.amount);
    const min = currency.minAmount === null ? null : cents(currency.minAmount);
    const max = currency.maxAmount === null ? null : cents(currency.maxAmount);
    if ((min !== null && amount < min) || (max !== null && amount > max)) {
      throw errors.amountOutOfRange(min === null ? null : formatCents(min), max === null ? null : formatCents(max));
    }
    // A source's rate is refused once its last accepted quote is older than max_age_seconds by
    // the clock, whatever the age of the catalog's cached copy: never a silently old rate.
    if (currency.rate === null || currency.rateMicro === null || !rateUsable(currency, this.clock.now())) throw errors.rateUnavailable();

    const quote = quoteInvoice(amount, currency.rateMicro, merchant.feeHundredths);
    if (quote.grossUsdt > INVOICE_USDT_MAX) {
      const ceiling = maxFiatFor(INVOICE_USDT_MAX, currency.rateMicro);
      throw errors.amountOutOfRange(min === null ? null : formatCents(min), formatCents(max !== null && max < ceiling ? max : ceiling));
    }
    const createdAt = truncateToSecond(this.clock.now());
    const expiresAt = new Date(createdAt.getTime() + settings.invoiceTtlMinutes * 60_000);
    const id = randomUUID();
    const callbackUrl = input.callback_url ?? merchant.webhookUrl ?? null;

    const parameters = [
      id,
      merchant.id,
      input.external_id,
      input.customer_id,
      input.amount,
      currency.code,
      currency.rate,
      merchant.feePercent,
      quote.grossUsdt.toString(),
      quote.merchantUsdt.toString(),
      input.purpose ?? null,
      callbackUrl,
      input.success_url ?? null,
      input.fail_url ?? null,
      createdAt,
      expiresAt,
      settings.customerInvoicesPerMinute,
      settings.customerMaxPending,
      // The rate snapshot: a manual rate is its own raw rate, with no markup and no fetch.
      currency.source === null ? 'manual' : 'http_json',
      currency.source === null ? currency.rate : currency.rawRate,
      currency.source === null ? '0' : currency.source.markupPercent,
      currency.rateFetchedAt,
    ];
    const result = trx ? await this.#createIn(trx, id, parameters) : await this.#batches.submit(parameters);
    if (result.outcome === 'rate' || result.outcome === 'pending' || result.outcome === 'unpaid') {
      throw errors.customerRateLimited(result.outcome, result.retry_after_seconds ?? 1);
    }
    // A duplicate carrying this request's own id is its own earlier attempt, whose commit
    // succeeded although its answer was lost with the connection: answer as that attempt would.
    if (result.outcome === 'duplicate' && result.invoice_id !== id) throw errors.duplicateExternalId(result.invoice_id ?? '');

    return {
      invoice_id: id,
      external_id: input.external_id,
      amount: formatFiat(input.amount),
      currency: currency.code,
      conversion_rate: formatRate(currency.rate),
      merchant_usdt: formatUsdt(quote.merchantUsdt, 2),
      status: 'pending',
      payment_link: this.paymentLink(id),
      customer_id: input.customer_id,
      purpose: input.purpose ?? null,
      callback_url: callbackUrl,
      success_url: input.success_url ?? null,
      fail_url: input.fail_url ?? null,
      created_at: isoSeconds(createdAt),
      expires_at: isoSeconds(expiresAt),
      paid_at: null,
    };
  }

  /** One request's statement on its own: answers a re-run as its first run, as the batch function does. */
  async #createOne(parameters: unknown[]): Promise<CreateOutcome> {
    const id = parameters[0] as string;
    const [result] = await this.prepared<CreateOutcome>('kasa_create_invoice', CREATE_INVOICE_SQL, parameters);
    if (!result) throw new Error('kasa_create_invoice returned no row');
    if (result.outcome === 'duplicate' && result.invoice_id === id) return { outcome: 'created', invoice_id: id, retry_after_seconds: null };
    if (result.outcome === 'rate' || result.outcome === 'pending' || result.outcome === 'unpaid') {
      const [own] = await this.prepared<InvoiceRow>('kasa_invoice_by_id', INVOICE_BY_ID_SQL, [id]);
      if (own) return { outcome: 'created', invoice_id: id, retry_after_seconds: null };
    }
    return result;
  }

  /** One request's statement in its caller's transaction. */
  async #createIn(trx: Transaction<DB>, id: string, parameters: unknown[]): Promise<CreateOutcome> {
    const [result] = (await trx.executeQuery<CreateOutcome>(CompiledQuery.raw(CREATE_INVOICE_SQL, parameters))).rows;
    if (!result) throw new Error('kasa_create_invoice returned no row');
    if (result.outcome === 'rate' || result.outcome === 'pending' || result.outcome === 'unpaid') {
      // A retried transaction whose first attempt committed counts its own invoice against the
      // customer's limits: that invoice existing under this id means this request succeeded.
      const own = await trx.selectFrom('invoices').select('id').where('id', '=', id).executeTakeFirst();
      if (own) return { outcome: 'created', invoice_id: id, retry_after_seconds: null };
    }
    return result;
  }

  view(row: InvoiceRow, now: Date): InvoiceView {
    return {
      invoice_id: row.id,
      external_id: row.external_id,
      amount: formatFiat(row.amount),
      currency: row.currency,
      conversion_rate: formatRate(row.conversion_rate),
      merchant_usdt: formatUsdt(row.merchant_usdt, 2),
      status: effectiveStatus(row, now),
      payment_link: this.paymentLink(row.id),
      customer_id: row.customer_id,
      purpose: row.purpose,
      callback_url: row.callback_url,
      success_url: row.success_url,
      fail_url: row.fail_url,
      created_at: isoSeconds(row.created_at),
      expires_at: isoSeconds(row.expires_at),
      paid_at: row.paid_at ? isoSeconds(row.paid_at) : null,
      paid_amount: row.paid_amount === null ? null : formatFiat(row.paid_amount),
      status_detail: row.status_detail,
    };
  }

  /** Any merchant's invoice, as the operator sees it. */
  async getForOperator(invoiceId: string): Promise<OperatorInvoiceView> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    const [row] = await this.prepared<InvoiceRow>('kasa_invoice_by_id', INVOICE_BY_ID_SQL, [invoiceId]);
    if (!row) throw errors.invoiceNotFound();
    return {
      ...this.view(row, this.clock.now()),
      merchant_id: row.merchant_id,
      fee_percent: formatPercent(row.fee_percent),
      gross_usdt: formatUsdt(row.gross_usdt),
      rate_source: row.rate_source,
      raw_rate: row.raw_rate === null ? null : formatRawRate(row.raw_rate),
      markup_percent: row.markup_percent === null ? null : formatPercent(row.markup_percent),
      rate_fetched_at: row.rate_fetched_at === null ? null : isoSeconds(row.rate_fetched_at),
    };
  }

  /** Another merchant's invoice is reported exactly like a missing one. */
  async get(merchantId: string, invoiceId: string): Promise<InvoiceView> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    const [row] = await this.prepared<InvoiceRow>('kasa_invoice_by_id', INVOICE_BY_ID_SQL, [invoiceId]);
    if (!row || row.merchant_id !== merchantId) throw errors.invoiceNotFound();
    return this.view(row, this.clock.now());
  }

  /**
   * The invoice's history: its creation, then every status change once, in order, with who made
   * it. `merchantId` null: the operator's (any merchant's); another merchant's is not found.
   */
  async history(merchantId: string | null, invoiceId: string): Promise<InvoiceHistory> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    const [row] = await this.prepared<InvoiceRow>('kasa_invoice_by_id', INVOICE_BY_ID_SQL, [invoiceId]);
    if (!row || (merchantId !== null && row.merchant_id !== merchantId)) throw errors.invoiceNotFound();
    const transitions = await this.db.selectFrom('invoice_transitions').selectAll().where('invoice_id', '=', invoiceId).orderBy('id').execute();
    return {
      invoice_id: row.id,
      items: [
        { from_status: null, status: 'pending', status_detail: null, actor: 'merchant', at: isoSeconds(row.created_at) },
        ...transitions.map((t) => ({
          from_status: t.from_status,
          status: t.to_status,
          status_detail: t.status_detail,
          actor: t.actor,
          at: isoSeconds(t.at),
        })),
      ],
    };
  }

  /** Newest first. The cursor is the last item's seq, so concurrent inserts never shift a page. */
  async list(merchantId: string, filters: ListFilters): Promise<{ items: InvoiceView[]; next_cursor: string | null }> {
    const now = this.clock.now();
    let query = this.filtered(merchantId, filters, now);
    if (filters.cursor !== undefined) query = query.where('seq', '<', decodeCursor(filters.cursor));
    // One extra row tells whether another page exists without a count query.
    const rows = await query
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(filters.limit + 1)
      .execute();
    const page = rows.slice(0, filters.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => this.view(row, now)),
      next_cursor: rows.length > filters.limit && last ? encodeCursor(last.seq) : null,
    };
  }

  /**
   * The merchant's invoices matching the filters as CSV, newest first: the header line, then one
   * line per invoice, read EXPORT_BATCH_ROWS at a time as the client takes them. Refused before
   * the first byte when more than EXPORT_ROWS_MAX match (narrower dates split it), so an export
   * is always whole. The invoices are those that existed when it started: one created meanwhile
   * has a higher seq and is left out, so batches never repeat or skip a row.
   */
  async exportCsv(merchantId: string, filters: ExportFilters): Promise<AsyncGenerator<string>> {
    const now = this.clock.now();
    const matching = this.filtered(merchantId, filters, now);
    const bounded = await this.db
      .selectFrom(
        matching
          .select('seq')
          .limit(EXPORT_ROWS_MAX + 1)
          .as('m'),
      )
      .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.max('m.seq').as('top')])
      .executeTakeFirstOrThrow();
    if (Number(bounded.n) > EXPORT_ROWS_MAX) throw errors.exportTooLarge(EXPORT_ROWS_MAX);
    const top = bounded.top === null ? null : BigInt(bounded.top);
    const view = (row: InvoiceRow) => this.view(row, now);
    return (async function* lines() {
      yield csvLine(EXPORT_COLUMNS);
      if (top === null) return;
      let before = top + 1n;
      for (;;) {
        const rows = await matching.selectAll().where('seq', '<', before).orderBy('seq', 'desc').limit(EXPORT_BATCH_ROWS).execute();
        if (rows.length > 0) yield rows.map((row) => csvLine(exportRow(view(row)))).join('');
        if (rows.length < EXPORT_BATCH_ROWS) return;
        before = rows[rows.length - 1]!.seq;
      }
    })();
  }

  /** The merchant's invoices narrowed by the filters; `status` as reads report it at `now`. */
  private filtered(merchantId: string, filters: InvoiceFilters, now: Date) {
    let query = this.db.selectFrom('invoices').where('merchant_id', '=', merchantId);
    if (filters.external_id !== undefined) query = query.where('external_id', '=', filters.external_id);
    if (filters.customer_id !== undefined) query = query.where('customer_id', '=', filters.customer_id);
    if (filters.created_from !== undefined) query = query.where('created_at', '>=', filters.created_from);
    if (filters.created_to !== undefined) query = query.where('created_at', '<', filters.created_to);
    switch (filters.status) {
      case 'pending':
        return query.where(payableSql('invoices', now));
      case 'expired':
        return query.where((eb) => eb.or([eb('status', '=', 'expired'), dueForExpirySql('invoices', now)]));
      case 'success':
      case 'cancelled':
        return query.where('status', '=', filters.status);
      case undefined:
        return query;
    }
  }
}

/** The columns of an invoice export, in order: the invoice object's fields a spreadsheet needs. */
export const EXPORT_COLUMNS = [
  'invoice_id',
  'external_id',
  'status',
  'status_detail',
  'amount',
  'paid_amount',
  'currency',
  'conversion_rate',
  'merchant_usdt',
  'customer_id',
  'purpose',
  'created_at',
  'expires_at',
  'paid_at',
] as const satisfies readonly (keyof InvoiceView)[];

function exportRow(invoice: InvoiceView): string[] {
  return EXPORT_COLUMNS.map((column) => invoice[column] ?? '');
}

/**
 * One CSV record (RFC 4180, CRLF). A cell a spreadsheet would run as a formula (=, +, -, @, tab,
 * CR first) gets a leading apostrophe: external_id, customer_id and purpose are typed by others.
 */
export function csvLine(cells: readonly string[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function encodeCursor(seq: bigint): string {
  return Buffer.from(`s${seq}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^s\d{1,18}$/.test(text)) throw errors.invalidCursor();
  return BigInt(text.slice(1));
}
