// The operator's numbers of one day (UTC), for the console's home page: the invoices created
// that day and how they ended, the money they brought, and the platform's state right now (open
// deals, traders able to take a deal, the webhook backlog, the ledger check).
import { sql, type Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import { isoSeconds } from '../clock.ts';
import type { DB } from '../db/schema.ts';
import { verifyLedger } from '../ledger/ledger.ts';
import { dueForExpirySql, OPEN_DEAL_STATUSES } from '../lifecycle.ts';
import { formatFiat, formatUsdt } from '../money.ts';

const DAY_MS = 24 * 3600_000;
/** Currencies listed in one day's volume; the catalog holds a handful, this only bounds a bug. */
const VOLUME_CURRENCIES_MAX = 100;

/** A share in percent with two decimals, rounded down; null when there is nothing to divide by. */
export function percentOf(part: bigint, whole: bigint): string | null {
  if (whole === 0n) return null;
  const hundredths = (part * 10_000n) / whole;
  return `${hundredths / 100n}.${String(hundredths % 100n).padStart(2, '0')}`;
}

export interface DayNumbers {
  day: string;
  from: string;
  to: string;
  invoices: { created: number; pending: number; success: number; expired: number; cancelled: number; success_rate_percent: string | null };
  volume: { currencies: { currency: string; invoices: number; amount: string }[]; gross_usdt: string; merchant_usdt: string };
  deals: { open: number; customer_paid: number };
  traders_with_active_requisite: number;
  webhooks: { pending: number; due: number; oldest_pending_age_seconds: number | null };
  ledger: { ok: boolean; accounts: number; transfers: number; mismatched: number; negative: number };
}

/**
 * Today's numbers by the clock. Success rate: successes among the day's invoices that have
 * ended (success, expired — also those past expires_at not yet swept — or cancelled), so the
 * invoices still payable do not count against it. Volume: the day's paid invoices, in the fiat
 * actually received (paid_amount) and the USDT they grossed and credited.
 */
export async function dayNumbers(db: Kysely<DB>, clock: Clock): Promise<DayNumbers> {
  const now = clock.now();
  const from = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const to = new Date(from.getTime() + DAY_MS);
  const created = sql`i.created_at >= ${from}::timestamptz AND i.created_at < ${to}::timestamptz`;
  const due = dueForExpirySql('i', now);

  const [counts, volume, state] = await Promise.all([
    sql<{ created: string; pending: string; success: string; expired: string; cancelled: string }>`
      SELECT count(*) AS created,
             count(*) FILTER (WHERE i.status = 'pending' AND NOT ${due}) AS pending,
             count(*) FILTER (WHERE i.status = 'success') AS success,
             count(*) FILTER (WHERE i.status = 'expired' OR ${due}) AS expired,
             count(*) FILTER (WHERE i.status = 'cancelled') AS cancelled
        FROM invoices i
       WHERE ${created}`.execute(db),
    sql<{ currency: string; invoices: string; amount: string; gross_usdt: string; merchant_usdt: string }>`
      SELECT i.currency, count(*) AS invoices, sum(coalesce(i.paid_amount, i.amount)) AS amount,
             sum(i.gross_usdt) AS gross_usdt, sum(i.merchant_usdt) AS merchant_usdt
        FROM invoices i
       WHERE ${created} AND i.status = 'success'
       GROUP BY i.currency
       ORDER BY i.currency
       LIMIT ${VOLUME_CURRENCIES_MAX}`.execute(db),
    sql<{ open: string; customer_paid: string; traders: string; pending: string; due: string; oldest: Date | null }>`
      SELECT (SELECT count(*) FROM deals WHERE status IN (${sql.join(OPEN_DEAL_STATUSES.map((s) => sql`${s}`))})) AS open,
             (SELECT count(*) FROM deals WHERE status = 'customer_paid') AS customer_paid,
             (SELECT count(DISTINCT r.trader_id) FROM requisites r JOIN traders t ON t.id = r.trader_id
               WHERE r.active AND t.status = 'active') AS traders,
             (SELECT count(*) FROM deliveries WHERE status = 'pending') AS pending,
             (SELECT count(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ${now}::timestamptz) AS due,
             (SELECT min(created_at) FROM deliveries WHERE status = 'pending') AS oldest`.execute(db),
  ]);
  // Its own snapshot (a read-only transaction), after the plain reads: an embedded database has
  // one session, which a transaction holds whole.
  const ledger = await verifyLedger(db);

  const c = counts.rows[0]!;
  const s = state.rows[0]!;
  const success = BigInt(c.success);
  const ended = success + BigInt(c.expired) + BigInt(c.cancelled);
  const oldest = s.oldest === null ? null : new Date(s.oldest);
  return {
    day: from.toISOString().slice(0, 10),
    from: isoSeconds(from),
    to: isoSeconds(to),
    invoices: {
      created: Number(c.created),
      pending: Number(c.pending),
      success: Number(success),
      expired: Number(c.expired),
      cancelled: Number(c.cancelled),
      success_rate_percent: percentOf(success, ended),
    },
    volume: {
      currencies: volume.rows.map((v) => ({ currency: v.currency, invoices: Number(v.invoices), amount: formatFiat(String(v.amount)) })),
      gross_usdt: formatUsdt(
        volume.rows.reduce((sum, v) => sum + BigInt(v.gross_usdt), 0n),
        2,
      ),
      merchant_usdt: formatUsdt(
        volume.rows.reduce((sum, v) => sum + BigInt(v.merchant_usdt), 0n),
        2,
      ),
    },
    deals: { open: Number(s.open), customer_paid: Number(s.customer_paid) },
    traders_with_active_requisite: Number(s.traders),
    webhooks: {
      pending: Number(s.pending),
      due: Number(s.due),
      oldest_pending_age_seconds: oldest === null ? null : Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)),
    },
    ledger: { ok: ledger.ok, accounts: ledger.accounts, transfers: ledger.transfers, mismatched: ledger.mismatched.length, negative: ledger.negative.length },
  };
}
