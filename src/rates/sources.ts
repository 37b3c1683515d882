// Rates from http_json sources. One pass claims the currencies whose next fetch is due, each on
// a lease in its own row (one instance at a time fetches a currency), fetches their sources,
// and records every quote: accepted, it becomes the currency's rate (quote × (1 + markup));
// refused, the last good rate stays and the refusal is counted in /metrics by reason.
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../clock.ts';
import { afterCursor, page, type KeyColumns, type Page, type PageRequest } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import type { CurrenciesTable, DB, QuoteRefusal, RateQuotesTable } from '../db/schema.ts';
import { errors } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import {
  applyMarkup,
  changeExceeds,
  formatRateMicro,
  fromScaled,
  parseQuote,
  percentHundredths,
  RAW_RATE_DECIMALS,
  rawRate,
  type RateMicro,
  type RawRate,
} from '../money.ts';
import type { Catalog } from './catalog.ts';
import { QUOTE_FETCH_TIMEOUT_MS, QUOTE_TEXT_CHARS_MAX, type FetchedQuote, type QuoteFetcher } from './fetch-quote.ts';

/** Sources one pass claims at most; the rest are due on the next pass. */
export const SOURCES_PER_PASS_MAX = 50;
/** A lease outlives the fetch's timeout, so it never expires while its holder may still record. */
const LEASE_MARGIN_MS = 10_000;

export type QuoteRow = Selectable<RateQuotesTable>;
type CurrencyRow = Selectable<CurrenciesTable>;

const QUOTE_KEYS: KeyColumns = { alias: 'rate_quotes', at: 'fetched_at', id: 'id', truncate: false, order: 'desc' };

export interface PassResult {
  accepted: number;
  refused: number;
  /** Claimed, fetched, but no longer this pass's to record (the source was changed meanwhile). */
  dropped: number;
}

type Decision = { accepted: true; raw: RawRate; rate: RateMicro } | { accepted: false; reason: QuoteRefusal; raw: RawRate | null };

export class RateSources {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly catalog: Catalog,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly fetcher: QuoteFetcher,
  ) {}

  /** Fetches every due source once. Tests call it directly, with their clock; the worker calls it on a timer. */
  async pass(options: { fetchTimeoutMs?: number } = {}): Promise<PassResult> {
    const fetchTimeoutMs = options.fetchTimeoutMs ?? QUOTE_FETCH_TIMEOUT_MS;
    const token = randomUUID();
    const claimed = await this.claim(token, fetchTimeoutMs);
    const outcomes = await Promise.all(
      claimed.map(async (row) => {
        const fetched = await this.fetcher.fetch(row.source_url ?? '', row.source_json_path ?? '', fetchTimeoutMs);
        return this.record(row.code, token, fetched);
      }),
    );
    if (outcomes.some((o) => o === 'accepted')) this.catalog.invalidate();
    return {
      accepted: outcomes.filter((o) => o === 'accepted').length,
      refused: outcomes.filter((o) => o === 'refused').length,
      dropped: outcomes.filter((o) => o === 'dropped').length,
    };
  }

  /**
   * Leases the due sources. The WHERE asks for an expired lease, and PostgreSQL re-checks it on
   * the row's newest version when two claims meet: the second one finds the lease taken and
   * skips the row, so a currency is fetched by one instance per period.
   */
  private claim(token: string, fetchTimeoutMs: number): Promise<CurrencyRow[]> {
    const now = this.clock.now();
    const leaseUntil = new Date(now.getTime() + fetchTimeoutMs + LEASE_MARGIN_MS);
    const due = this.db
      .selectFrom('currencies')
      .select('code')
      .where('rate_source', '=', 'http_json')
      .where('next_fetch_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .orderBy('next_fetch_at')
      .limit(SOURCES_PER_PASS_MAX);
    return this.db
      .updateTable('currencies')
      .set({ lease_token: token, lease_until: leaseUntil })
      .where('code', 'in', due)
      .where('rate_source', '=', 'http_json')
      .where('next_fetch_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
      .returningAll()
      .execute();
  }

  /** Keeps the quote and, accepted, applies it; in one transaction on the locked currency row. */
  private async record(code: string, token: string, fetched: FetchedQuote): Promise<'accepted' | 'refused' | 'dropped'> {
    const fetchedAt = this.clock.now();
    const decided = await inTransaction(this.db, async (trx) => {
      const row = await trx.selectFrom('currencies').selectAll().where('code', '=', code).where('lease_token', '=', token).forUpdate().executeTakeFirst();
      // The operator changed the source while this fetch ran: its answer is not the new source's.
      if (!row || row.rate_source !== 'http_json') return null;
      const decision = decide(row, fetched);
      const markup = row.markup_percent ?? '0';
      await trx
        .insertInto('rate_quotes')
        .values({
          id: randomUUID(),
          currency: code,
          fetched_at: fetchedAt,
          accepted: decision.accepted,
          reason: decision.accepted ? null : decision.reason,
          http_status: fetched.httpStatus,
          raw_text: fetched.text === null ? null : fetched.text.slice(0, QUOTE_TEXT_CHARS_MAX),
          raw_rate: decision.raw === null ? null : fromScaled(decision.raw, RAW_RATE_DECIMALS),
          markup_percent: markup,
          rate: decision.accepted ? formatRateMicro(decision.rate) : null,
        })
        .execute();
      const next = new Date(fetchedAt.getTime() + (row.refresh_seconds ?? 0) * 1000);
      const applied = decision.accepted
        ? { rate: formatRateMicro(decision.rate), raw_rate: fromScaled(decision.raw, RAW_RATE_DECIMALS), rate_fetched_at: fetchedAt }
        : {};
      const updated = await trx
        .updateTable('currencies')
        .set({ ...applied, next_fetch_at: next, lease_token: null, lease_until: null })
        .where('code', '=', code)
        .where('lease_token', '=', token)
        .executeTakeFirst();
      if (updated.numUpdatedRows !== 1n) throw new Error(`rate source ${code}: the locked lease row changed ${updated.numUpdatedRows} rows`);
      return decision;
    });
    if (decided === null) return 'dropped';
    // Counted after the commit, so a retried transaction is counted once.
    if (decided.accepted) this.metrics.rateQuotesAccepted.inc({ currency: code });
    else this.metrics.rateQuotesRefused.inc({ currency: code, reason: decided.reason });
    return decided.accepted ? 'accepted' : 'refused';
  }

  /** A currency's quotes, newest first. */
  async listQuotes(code: string, request: PageRequest): Promise<Page<QuoteRow>> {
    const currency = await this.db.selectFrom('currencies').select('code').where('code', '=', code).executeTakeFirst();
    if (!currency) throw errors.currencyNotFound();
    let query = this.db.selectFrom('rate_quotes').selectAll().where('currency', '=', code);
    if (request.cursor !== undefined) query = query.where(afterCursor(QUOTE_KEYS, request.cursor));
    const rows = await query
      .orderBy('fetched_at', 'desc')
      .orderBy('id', 'desc')
      .limit(request.limit + 1)
      .execute();
    return page(rows, request.limit, (q) => ({ at: q.fetched_at, id: q.id }));
  }

  close(): Promise<void> {
    return this.fetcher.close();
  }
}

/**
 * Refused: a failed fetch, a value that is not a positive decimal, a move of more than
 * max_change_percent from the last accepted quote (the first quote of a source has none to
 * move from), or an applied rate too large or too small to store.
 */
function decide(row: CurrencyRow, fetched: FetchedQuote): Decision {
  if (!fetched.ok) return { accepted: false, reason: fetched.reason, raw: null };
  const parsed = parseQuote(fetched.text);
  if (!parsed.ok) return { accepted: false, reason: parsed.problem, raw: null };
  const raw = parsed.raw;
  if (row.raw_rate !== null && changeExceeds(rawRate(row.raw_rate), raw, percentHundredths(row.max_change_percent ?? '0'))) {
    return { accepted: false, reason: 'max_change', raw };
  }
  const rate = applyMarkup(raw, percentHundredths(row.markup_percent ?? '0'));
  if (rate === null) return { accepted: false, reason: 'out_of_range', raw };
  return { accepted: true, raw, rate };
}
