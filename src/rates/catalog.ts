// Currencies, their rates, and the platform settings. Read on every create-invoice, so they are
// cached in process for at most CACHE_TTL_MS: an admin change takes effect at once on the
// instance that made it (the cache is dropped there) and within a second on every other one.
import { sql, type Kysely, type Transaction } from 'kysely';
import { isoSeconds } from '../clock.ts';
import type { DB } from '../db/schema.ts';
import { mapConstraints } from '../db/constraints.ts';
import { afterTextKey, mapPage, type Page, type PageRequest, textKeyPage } from '../db/cursor.ts';
import { errors } from '../errors.ts';
import { formatFiat, formatRate, formatUsdt, microUsdt, rateMicro, USDT_AMOUNT_DECIMALS, type MicroUsdt, type RateMicro } from '../money.ts';

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
}

export interface Settings {
  dealsEnabled: boolean;
  /** The setting as stored; null means the configured default. */
  invoiceTtlMinutesSetting: number | null;
  /** What applies: the setting, else INVOICE_TTL_MINUTES. */
  invoiceTtlMinutes: number;
  customerInvoicesPerMinute: number;
  customerMaxPending: number;
  withdrawals: WithdrawalSettings;
  updatedAt: Date;
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

export interface CurrencyInput {
  enabled: boolean;
  rate?: string | undefined;
  min_amount?: string | undefined;
  max_amount?: string | undefined;
}

export interface SettingsPatch {
  deals_enabled?: boolean | undefined;
  invoice_ttl_minutes?: number | undefined;
  customer_invoices_per_minute?: number | undefined;
  customer_max_pending?: number | undefined;
  withdrawal_min_usdt?: string | undefined;
  withdrawal_fee_usdt?: string | undefined;
  withdrawal_auto_approve_below_usdt?: string | undefined;
}

export class Catalog {
  private cached: { at: number; value: Promise<CatalogSnapshot> } | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly defaultTtlMinutes: number,
  ) {}

  /** The current settings and currencies, at most CACHE_TTL_MS old. One load in flight at a time. */
  snapshot(): Promise<CatalogSnapshot> {
    const now = performance.now();
    if (this.cached && now - this.cached.at < CACHE_TTL_MS) return this.cached.value;
    const value = this.load();
    this.cached = { at: now, value };
    value.catch(() => {
      if (this.cached?.value === value) this.cached = null;
    });
    return value;
  }

  invalidate(): void {
    this.cached = null;
  }

  private async load(): Promise<CatalogSnapshot> {
    const [settingsRow, currencyRows] = await Promise.all([
      this.db.selectFrom('settings').selectAll().executeTakeFirstOrThrow(),
      this.db.selectFrom('currencies').selectAll().execute(),
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
    withdrawal_min_usdt: string;
    withdrawal_fee_usdt: string;
    withdrawal_auto_approve_below_usdt: string;
    updated_at: Date;
  }): Settings {
    return {
      dealsEnabled: row.deals_enabled,
      invoiceTtlMinutesSetting: row.invoice_ttl_minutes,
      invoiceTtlMinutes: row.invoice_ttl_minutes ?? this.defaultTtlMinutes,
      customerInvoicesPerMinute: row.customer_invoices_per_minute,
      customerMaxPending: row.customer_max_pending,
      withdrawals: {
        minUsdt: microUsdt(row.withdrawal_min_usdt),
        feeUsdt: microUsdt(row.withdrawal_fee_usdt),
        autoApproveBelowUsdt: microUsdt(row.withdrawal_auto_approve_below_usdt),
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

  /** Creates or replaces a currency. Omitted rate/min/max keep their stored values. */
  async putCurrency(code: string, input: CurrencyInput): Promise<Currency> {
    const row = await this.db
      .insertInto('currencies')
      .values({
        code,
        enabled: input.enabled,
        rate: input.rate ?? null,
        min_amount: input.min_amount ?? null,
        max_amount: input.max_amount ?? null,
      })
      .onConflict((oc) =>
        oc.column('code').doUpdateSet((eb) => ({
          enabled: input.enabled,
          rate: input.rate ?? eb.ref('currencies.rate'),
          min_amount: input.min_amount ?? eb.ref('currencies.min_amount'),
          max_amount: input.max_amount ?? eb.ref('currencies.max_amount'),
          updated_at: sql<Date>`now()`,
        })),
      )
      .returningAll()
      .executeTakeFirstOrThrow()
      // The table's CHECK keeps min ≤ max even when only one side is sent.
      .catch(mapConstraints({ currencies_check: errors.currencyRangeInvalid }));
    this.invalidate();
    return toCurrency(row);
  }

  /** The installation's key for binding the payment page's form token to its invoice (never shown). */
  async pageTokenKey(): Promise<string> {
    return (await this.db.selectFrom('settings').select('page_token_key').executeTakeFirstOrThrow()).page_token_key;
  }

  /**
   * The withdrawal settings as they are now, read in the caller's transaction: a withdrawal is
   * not on a hot path, and an embedded database has one connection, which the transaction holds.
   */
  async withdrawalSettings(trx: Transaction<DB>): Promise<WithdrawalSettings> {
    return this.toSettings(await trx.selectFrom('settings').selectAll().executeTakeFirstOrThrow()).withdrawals;
  }

  async getSettings(): Promise<Settings> {
    return this.toSettings(await this.db.selectFrom('settings').selectAll().executeTakeFirstOrThrow());
  }

  async patchSettings(patch: SettingsPatch): Promise<Settings> {
    const values = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const row = await this.db
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

function toCurrency(row: {
  code: string;
  enabled: boolean;
  rate: string | null;
  min_amount: string | null;
  max_amount: string | null;
  updated_at: Date;
}): Currency {
  return {
    code: row.code,
    enabled: row.enabled,
    rate: row.rate,
    rateMicro: row.rate === null ? null : rateMicro(row.rate),
    minAmount: row.min_amount,
    maxAmount: row.max_amount,
    updatedAt: row.updated_at,
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
  };
}

export function settingsView(s: Settings) {
  return {
    deals_enabled: s.dealsEnabled,
    invoice_ttl_minutes: s.invoiceTtlMinutes,
    customer_invoices_per_minute: s.customerInvoicesPerMinute,
    customer_max_pending: s.customerMaxPending,
    withdrawal_min_usdt: formatUsdt(s.withdrawals.minUsdt, USDT_AMOUNT_DECIMALS),
    withdrawal_fee_usdt: formatUsdt(s.withdrawals.feeUsdt, USDT_AMOUNT_DECIMALS),
    withdrawal_auto_approve_below_usdt: formatUsdt(s.withdrawals.autoApproveBelowUsdt, USDT_AMOUNT_DECIMALS),
    updated_at: isoSeconds(s.updatedAt),
  };
}
