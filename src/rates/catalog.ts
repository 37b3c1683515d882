// Currencies, their rates, and the platform settings. Read on every create-invoice, so they are
// cached in process for at most CACHE_TTL_MS: an admin change takes effect at once on the
// instance that made it (the cache is dropped there) and within a second on every other one.
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { isoSeconds, type Clock } from '../clock.ts';
import type { CurrenciesTable, DB, RateSourceKind } from '../db/schema.ts';
import { mapConstraints } from '../db/constraints.ts';
import { afterTextKey, mapPage, type Page, type PageRequest, textKeyPage } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import { errors, RequestValidationError } from '../errors.ts';
import {
  applyMarkup,
  cents,
  formatCents,
  formatFiat,
  formatPercent,
  formatRate,
  formatRateMicro,
  formatRawRate,
  formatUsdt,
  fromScaled,
  microUsdt,
  PERCENT_DECIMALS,
  percentHundredths,
  rateMicro,
  rawRate,
  USDT_AMOUNT_DECIMALS,
  type Cents,
  type MicroUsdt,
  type PercentHundredths,
  type RateMicro,
} from '../money.ts';

export const CACHE_TTL_MS = 1_000;

export interface Currency {
  code: string;
  enabled: boolean;
  /** Fiat per 1 USDT as stored (6 decimals), or null before the rate is known. */
  rate: string | null;
  rateMicro: RateMicro | null;
  minAmount: string | null;
  maxAmount: string | null;
  updatedAt: Date;
  /** Where the rate comes from; null for a manual rate. */
  source: HttpJsonSource | null;
  /** The last accepted quote of the source, before the markup; null for a manual rate. */
  rawRate: string | null;
  /** When that quote was fetched; the rate is unavailable once it is older than source.maxAgeSeconds. */
  rateFetchedAt: Date | null;
}

export interface HttpJsonSource {
  url: string;
  jsonPath: string;
  refreshSeconds: number;
  maxAgeSeconds: number;
  markupPercent: string;
  maxChangePercent: string;
}

export interface Settings {
  dealsEnabled: boolean;
  /** The setting as stored; null means the configured default. */
  invoiceTtlMinutesSetting: number | null;
  /** What applies: the setting, else INVOICE_TTL_MINUTES. */
  invoiceTtlMinutes: number;
  customerInvoicesPerMinute: number;
  customerMaxPending: number;
  /** micro-USDT of insurance a trader keeps to get new deals (0: no minimum). */
  traderMinInsuranceUsdt: bigint;
  withdrawals: WithdrawalSettings;
  payments: PaymentSettings;
  updatedAt: Date;
}

/** What bounds the paths of a payment that goes wrong (README, When a payment goes wrong). */
export interface PaymentSettings {
  /** Fiat cents within which a received amount counts as the invoice amount. */
  amountToleranceCents: Cents;
  /** How far above the invoice amount a confirmed amount may be, in hundredths of a percent. */
  overpaymentMaxPercent: PercentHundredths;
  /** How long after expiry a deal whose customer said they paid stays confirmable. */
  lateConfirmMinutes: number;
  /** How long after expiry any other expired deal may be confirmed; 0: never. */
  lateUnpaidConfirmMinutes: number;
  /** A trader with more deals than this left in customer_paid for 30 minutes gets no new deals. */
  traderUnconfirmedMax: number;
  /** How long after expiry a customer may upload a receipt. */
  disputeWindowHours: number;
  /** How long a trader has to answer a dispute. */
  disputeTraderHours: number;
  /** Deals of one customer ended unpaid after "I have paid" in 24 h before create-invoice refuses. */
  customerUnpaidMax: number;
}

/** What bounds a withdrawal, in micro-USDT. The minimum is always above the fee (a table CHECK). */
export interface WithdrawalSettings {
  minUsdt: MicroUsdt;
  feeUsdt: MicroUsdt;
  /** A withdrawal below this is approved at once; 0: never. */
  autoApproveBelowUsdt: MicroUsdt;
}

export interface CatalogSnapshot {
  settings: Settings;
  currencies: ReadonlyMap<string, Currency>;
}

export type RateSourceInput =
  | { kind: 'manual' }
  | {
      kind: 'http_json';
      url: string;
      json_path: string;
      refresh_seconds: number;
      max_age_seconds: number;
      markup_percent?: string | undefined;
      max_change_percent: string;
    };

export interface CurrencyInput {
  enabled: boolean;
  rate?: string | undefined;
  min_amount?: string | undefined;
  max_amount?: string | undefined;
  /** Omitted: the currency keeps the source it has. */
  rate_source?: RateSourceInput | undefined;
}

/**
 * Whether the currency's rate may be used now: a manual rate once set, a source's only while
 * its last accepted quote is at most max_age_seconds old by the clock. The catalog's cache
 * does not enter into it: the fetch time travels with the cached row and is compared here.
 */
export function rateUsable(currency: Currency, now: Date): boolean {
  if (currency.rateMicro === null) return false;
  if (currency.source === null) return true;
  return currency.rateFetchedAt !== null && now.getTime() - currency.rateFetchedAt.getTime() <= currency.source.maxAgeSeconds * 1000;
}

export interface SettingsPatch {
  deals_enabled?: boolean | undefined;
  invoice_ttl_minutes?: number | undefined;
  customer_invoices_per_minute?: number | undefined;
  customer_max_pending?: number | undefined;
  /** micro-USDT. */
  trader_min_insurance_usdt?: bigint | undefined;
  withdrawal_min_usdt?: string | undefined;
  withdrawal_fee_usdt?: string | undefined;
  withdrawal_auto_approve_below_usdt?: string | undefined;
  amount_tolerance?: string | undefined;
  overpayment_max_percent?: string | undefined;
  late_confirm_minutes?: number | undefined;
  late_unpaid_confirm_minutes?: number | undefined;
  trader_unconfirmed_max?: number | undefined;
  dispute_window_hours?: number | undefined;
  dispute_trader_hours?: number | undefined;
  customer_unpaid_max?: number | undefined;
}

export class Catalog {
  private cached: { at: number; value: Promise<CatalogSnapshot> } | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly defaultTtlMinutes: number,
    private readonly clock: Clock,
  ) {}

  /**
   * The current settings and currencies, at most CACHE_TTL_MS old. One load in flight at a time.
   * A caller inside a transaction passes it: the embedded database has one session, which its
   * transaction holds, so a load beside it would wait for it forever.
   */
  snapshot(trx?: Transaction<DB>): Promise<CatalogSnapshot> {
    const now = performance.now();
    if (this.cached && now - this.cached.at < CACHE_TTL_MS) return this.cached.value;
    const value = this.load(trx ?? this.db);
    this.cached = { at: now, value };
    value.catch(() => {
      if (this.cached?.value === value) this.cached = null;
    });
    return value;
  }

  invalidate(): void {
    this.cached = null;
  }

  private async load(db: Kysely<DB> | Transaction<DB>): Promise<CatalogSnapshot> {
    const [settingsRow, currencyRows] = await Promise.all([
      db.selectFrom('settings').selectAll().executeTakeFirstOrThrow(),
      db.selectFrom('currencies').selectAll().execute(),
    ]);
    const currencies = new Map<string, Currency>();
    for (const row of currencyRows) currencies.set(row.code, toCurrency(row));
    return { settings: this.toSettings(settingsRow), currencies };
  }

  private toSettings(row: {
    deals_enabled: boolean;
    invoice_ttl_minutes: number | null;
    customer_invoices_per_minute: number;
    customer_max_pending: number;
    trader_min_insurance_usdt: bigint;
    withdrawal_min_usdt: string;
    withdrawal_fee_usdt: string;
    withdrawal_auto_approve_below_usdt: string;
    amount_tolerance: string;
    overpayment_max_percent: string;
    late_confirm_minutes: number;
    late_unpaid_confirm_minutes: number;
    trader_unconfirmed_max: number;
    dispute_window_hours: number;
    dispute_trader_hours: number;
    customer_unpaid_max: number;
    updated_at: Date;
  }): Settings {
    return {
      dealsEnabled: row.deals_enabled,
      invoiceTtlMinutesSetting: row.invoice_ttl_minutes,
      invoiceTtlMinutes: row.invoice_ttl_minutes ?? this.defaultTtlMinutes,
      customerInvoicesPerMinute: row.customer_invoices_per_minute,
      customerMaxPending: row.customer_max_pending,
      traderMinInsuranceUsdt: BigInt(row.trader_min_insurance_usdt),
      withdrawals: {
        minUsdt: microUsdt(row.withdrawal_min_usdt),
        feeUsdt: microUsdt(row.withdrawal_fee_usdt),
        autoApproveBelowUsdt: microUsdt(row.withdrawal_auto_approve_below_usdt),
      },
      payments: {
        amountToleranceCents: cents(row.amount_tolerance),
        overpaymentMaxPercent: percentHundredths(row.overpayment_max_percent),
        lateConfirmMinutes: row.late_confirm_minutes,
        lateUnpaidConfirmMinutes: row.late_unpaid_confirm_minutes,
        traderUnconfirmedMax: row.trader_unconfirmed_max,
        disputeWindowHours: row.dispute_window_hours,
        disputeTraderHours: row.dispute_trader_hours,
        customerUnpaidMax: row.customer_unpaid_max,
      },
      updatedAt: row.updated_at,
    };
  }

  /** By code, a page at a time. */
  async listCurrencies(request: PageRequest): Promise<Page<Currency>> {
    let query = this.db.selectFrom('currencies').selectAll();
    if (request.cursor !== undefined) query = query.where(afterTextKey('code', request.cursor));
    const rows = await query
      .orderBy('code')
      .limit(request.limit + 1)
      .execute();
    const listed = textKeyPage(rows, request.limit, (r) => r.code);
    return mapPage(listed, toCurrency);
  }

  /**
   * Creates or replaces a currency. Omitted rate/min/max/rate_source keep their stored values.
   * An http_json source whose URL or JSONPath changed starts afresh: no rate until its first
   * accepted quote (which no earlier quote limits), and a fetch in flight for the old source
   * loses its lease, so its answer is dropped. Other changes to a source keep its last quote,
   * with the new markup applied at once.
   */
  async putCurrency(code: string, input: CurrencyInput, outer?: Transaction<DB>): Promise<Currency> {
    const source = input.rate_source;
    if (source?.kind === 'http_json' && source.max_age_seconds < source.refresh_seconds) {
      throw new RequestValidationError([
        {
          type: 'greater_than_equal',
          loc: ['body', 'rate_source', 'http_json', 'max_age_seconds'],
          msg: `Input should be greater than or equal to ${source.refresh_seconds}`,
          input: source.max_age_seconds,
          ctx: { ge: source.refresh_seconds },
        },
      ]);
    }
    const row = await inTransaction(
      this.db,
      async (trx) => {
        const current = await trx.selectFrom('currencies').selectAll().where('code', '=', code).forUpdate().executeTakeFirst();
        const kind: RateSourceKind = source?.kind ?? current?.rate_source ?? 'manual';
        // A rate typed by hand on a currency whose source sets it would be overwritten by the next quote.
        if (kind === 'http_json' && input.rate !== undefined) throw errors.rateSetBySource();
        const values = { enabled: input.enabled, ...rangeValues(input, current), ...this.sourceValues(source, current, input.rate) };
        if (current === undefined)
          return trx
            .insertInto('currencies')
            .values({ code, ...values })
            .returningAll()
            .executeTakeFirstOrThrow();
        return trx
          .updateTable('currencies')
          .set({ ...values, updated_at: sql<Date>`now()` })
          .where('code', '=', code)
          .returningAll()
          .executeTakeFirstOrThrow();
      },
      outer,
    )
      // The table's CHECK keeps min ≤ max even when only one side is sent.
      .catch(mapConstraints({ currencies_check: errors.currencyRangeInvalid }));
    this.invalidate();
    return toCurrency(row);
  }

  /** The rate and source columns a PUT writes. */
  private sourceValues(source: RateSourceInput | undefined, current: CurrencyRow | undefined, rate: string | undefined) {
    if (source === undefined) return rate === undefined ? {} : { rate };
    if (source.kind === 'manual') {
      return {
        rate: rate ?? current?.rate ?? null,
        rate_source: 'manual' as const,
        ...CLEARED_SOURCE,
      };
    }
    const markup = source.markup_percent ?? '0';
    const config = {
      rate_source: 'http_json' as const,
      source_url: source.url,
      source_json_path: source.json_path,
      refresh_seconds: source.refresh_seconds,
      max_age_seconds: source.max_age_seconds,
      markup_percent: markup,
      max_change_percent: source.max_change_percent,
    };
    if (current?.rate_source === 'http_json' && current.source_url === source.url && current.source_json_path === source.json_path) {
      const next_fetch_at = current.next_fetch_at ?? this.clock.now();
      if (current.raw_rate === null) return { ...config, next_fetch_at };
      const applied = applyMarkup(rawRate(current.raw_rate), percentHundredths(markup));
      return { ...config, rate: applied === null ? null : formatRateMicro(applied), next_fetch_at };
    }
    return { ...config, rate: null, raw_rate: null, rate_fetched_at: null, next_fetch_at: this.clock.now(), lease_token: null, lease_until: null };
  }

  /** The installation's key for binding the payment page's form token to its invoice (never shown). */
  async pageTokenKey(): Promise<string> {
    return (await this.db.selectFrom('settings').select('page_token_key').executeTakeFirstOrThrow()).page_token_key;
  }

  /**
   * The settings as they are now, uncached; in the caller's transaction when given one (an
   * embedded database has one connection, which the transaction holds).
   */
  async getSettings(trx?: Transaction<DB>): Promise<Settings> {
    return this.toSettings(await (trx ?? this.db).selectFrom('settings').selectAll().executeTakeFirstOrThrow());
  }

  /** In `trx` when given: the operator console records its audit row in the same transaction. */
  async patchSettings(patch: SettingsPatch, trx?: Transaction<DB>): Promise<Settings> {
    const values = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const row = await (trx ?? this.db)
      .updateTable('settings')
      .set({ ...values, updated_at: sql<Date>`now()` })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(
        mapConstraints({
          settings_withdrawal_min_above_fee: () => errors.settingsInvalid('withdrawal_min_usdt must be greater than withdrawal_fee_usdt'),
        }),
      );
    this.invalidate();
    return this.toSettings(row);
  }
}

type CurrencyRow = Selectable<CurrenciesTable>;

const CLEARED_SOURCE = {
  source_url: null,
  source_json_path: null,
  refresh_seconds: null,
  max_age_seconds: null,
  markup_percent: null,
  max_change_percent: null,
  raw_rate: null,
  rate_fetched_at: null,
  next_fetch_at: null,
  lease_token: null,
  lease_until: null,
};

function rangeValues(input: CurrencyInput, current: CurrencyRow | undefined) {
  return {
    min_amount: input.min_amount ?? current?.min_amount ?? null,
    max_amount: input.max_amount ?? current?.max_amount ?? null,
  };
}

export function toCurrency(row: CurrencyRow): Currency {
  const source: HttpJsonSource | null =
    row.rate_source === 'http_json'
      ? {
          url: row.source_url ?? '',
          jsonPath: row.source_json_path ?? '',
          refreshSeconds: row.refresh_seconds ?? 0,
          maxAgeSeconds: row.max_age_seconds ?? 0,
          markupPercent: row.markup_percent ?? '0',
          maxChangePercent: row.max_change_percent ?? '0',
        }
      : null;
  return {
    code: row.code,
    enabled: row.enabled,
    rate: row.rate,
    rateMicro: row.rate === null ? null : rateMicro(row.rate),
    minAmount: row.min_amount,
    maxAmount: row.max_amount,
    updatedAt: row.updated_at,
    source,
    rawRate: source === null ? null : row.raw_rate,
    rateFetchedAt: source === null ? null : row.rate_fetched_at,
  };
}

export function currencyView(c: Currency) {
  return {
    code: c.code,
    enabled: c.enabled,
    rate: c.rate === null ? null : formatRate(c.rate),
    min_amount: c.minAmount === null ? null : formatFiat(c.minAmount),
    max_amount: c.maxAmount === null ? null : formatFiat(c.maxAmount),
    updated_at: isoSeconds(c.updatedAt),
    rate_source:
      c.source === null
        ? { kind: 'manual' }
        : {
            kind: 'http_json',
            url: c.source.url,
            json_path: c.source.jsonPath,
            refresh_seconds: c.source.refreshSeconds,
            max_age_seconds: c.source.maxAgeSeconds,
            markup_percent: formatPercent(c.source.markupPercent),
            max_change_percent: formatPercent(c.source.maxChangePercent),
          },
    raw_rate: c.rawRate === null ? null : formatRawRate(c.rawRate),
    rate_fetched_at: c.rateFetchedAt === null ? null : isoSeconds(c.rateFetchedAt),
  };
}

export function settingsView(s: Settings) {
  return {
    deals_enabled: s.dealsEnabled,
    invoice_ttl_minutes: s.invoiceTtlMinutes,
    customer_invoices_per_minute: s.customerInvoicesPerMinute,
    customer_max_pending: s.customerMaxPending,
    trader_min_insurance_usdt: formatUsdt(s.traderMinInsuranceUsdt, 2),
    withdrawal_min_usdt: formatUsdt(s.withdrawals.minUsdt, USDT_AMOUNT_DECIMALS),
    withdrawal_fee_usdt: formatUsdt(s.withdrawals.feeUsdt, USDT_AMOUNT_DECIMALS),
    withdrawal_auto_approve_below_usdt: formatUsdt(s.withdrawals.autoApproveBelowUsdt, USDT_AMOUNT_DECIMALS),
    amount_tolerance: formatCents(s.payments.amountToleranceCents),
    overpayment_max_percent: fromScaled(s.payments.overpaymentMaxPercent, PERCENT_DECIMALS),
    late_confirm_minutes: s.payments.lateConfirmMinutes,
    late_unpaid_confirm_minutes: s.payments.lateUnpaidConfirmMinutes,
    trader_unconfirmed_max: s.payments.traderUnconfirmedMax,
    dispute_window_hours: s.payments.disputeWindowHours,
    dispute_trader_hours: s.payments.disputeTraderHours,
    customer_unpaid_max: s.payments.customerUnpaidMax,
    updated_at: isoSeconds(s.updatedAt),
  };
}
