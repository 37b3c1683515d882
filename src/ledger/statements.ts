// Statements read from the ledger: one account's movements, newest first, each with the
// balance the account had right after it (recorded on the transfer when it was posted), and
// every transfer one invoice caused, on every account.
import { sql, type Kysely } from 'kysely';
import { beforeSeq, seqPage, type Page, type PageRequest } from '../db/cursor.ts';
import type { DB } from '../db/schema.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { TransferKind } from './accounts.ts';

/** The transfers one invoice's deals can cause are a handful (3 a deal); this only bounds a bug. */
const INVOICE_TRANSFERS_MAX = 1_000;

export interface StatementFilter extends PageRequest {
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
  /** Only transfers of this kind (deal_lock, deposit…). */
  kind?: TransferKind | undefined;
}

export interface StatementEntry {
  transferId: bigint;
  createdAt: Date;
  kind: string;
  /** micro-USDT, signed: + into the account, − out of it. */
  amount: bigint;
  balanceAfter: bigint;
  /** What caused the transfer: a deal, deposit, top-up, withdrawal (by kind) or trader (insurance). */
  ref: string | null;
  /** The deal's invoice, for deal transfers. */
  invoiceId: string | null;
}

export interface InvoiceTransfer {
  transferId: bigint;
  from: string;
  to: string;
  amount: bigint;
  kind: string;
  createdAt: Date;
}

export interface InvoiceLedger {
  transfers: InvoiceTransfer[];
  /** Each account's net change from these transfers; they sum to zero. */
  accounts: { account: string; net: bigint }[];
  breakdown: {
    gross: bigint;
    /** null until a deal completed. */
    traderReward: bigint | null;
    platformRevenue: bigint | null;
    merchant: bigint;
  };
}

/** A trader's account as a merchant sees it: the role, not which trader. */
const anonymousTrader = (account: string) => account.replace(/^trader:[0-9a-f-]{36}:/, 'trader:');

export class Statements {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * One account's movements, newest first. One statement: each side of the account (transfers
   * out of it, into it) is a range of its (account, id) index read newest first and limited,
   * the two merged, and deal transfers joined to their deal for the invoice id.
   */
  async account(account: string, filter: StatementFilter): Promise<Page<StatementEntry>> {
    const n = filter.limit + 1;
    const conditions = (column: 'from_account' | 'to_account') => {
      const parts = [sql`t.${sql.ref(column)} = ${account}`];
      if (filter.cursor !== undefined) parts.push(sql`${beforeSeq('t.id', filter.cursor)}`);
      if (filter.from !== undefined) parts.push(sql`t.created_at >= ${filter.from}::timestamptz`);
      if (filter.to !== undefined) parts.push(sql`t.created_at < ${filter.to}::timestamptz`);
      if (filter.kind !== undefined) parts.push(sql`t.kind = ${filter.kind}`);
      return sql.join(parts, sql` AND `);
    };
    const { rows } = await sql<{
      id: bigint;
      created_at: Date;
      kind: string;
      amount: bigint;
      balance_after: bigint;
      ref: string | null;
      invoice_id: string | null;
    }>`
      SELECT s.id, s.created_at, s.kind, s.amount, s.balance_after, s.ref, d.invoice_id
        FROM ((SELECT t.id, t.created_at, t.kind, -t.amount AS amount, t.from_balance_after AS balance_after, t.ref
                 FROM transfers t WHERE ${conditions('from_account')} ORDER BY t.id DESC LIMIT ${n})
              UNION ALL
              (SELECT t.id, t.created_at, t.kind, t.amount, t.to_balance_after, t.ref
                 FROM transfers t WHERE ${conditions('to_account')} ORDER BY t.id DESC LIMIT ${n})) s
        LEFT JOIN deals d ON d.id = s.ref AND s.kind LIKE 'deal\\_%'
       ORDER BY s.id DESC
       LIMIT ${n}`.execute(this.db);
    const listed = seqPage(rows, filter.limit, (r) => BigInt(r.id));
    return {
      next_cursor: listed.next_cursor,
      items: listed.items.map((r) => ({
        transferId: BigInt(r.id),
        createdAt: r.created_at,
        kind: r.kind,
        amount: BigInt(r.amount),
        balanceAfter: BigInt(r.balance_after),
        ref: r.ref,
        invoiceId: r.invoice_id,
      })),
    };
  }

  /** Every transfer the merchant's invoice caused (through its deals), and what makes up merchant_usdt. */
  async invoice(merchantId: string, invoiceId: string): Promise<InvoiceLedger> {
    if (!isUuid(invoiceId)) throw errors.invoiceNotFound();
    const invoice = await this.db
      .selectFrom('invoices')
      .select(['gross_usdt', 'merchant_usdt'])
      .where('id', '=', invoiceId)
      .where('merchant_id', '=', merchantId)
      .executeTakeFirst();
    if (!invoice) throw errors.invoiceNotFound();
    const [rows, completed] = await Promise.all([
      this.db
        .selectFrom('deals as d')
        .innerJoin('transfers as t', 't.ref', 'd.id')
        .select(['t.id', 't.from_account', 't.to_account', 't.amount', 't.kind', 't.created_at'])
        .where('d.invoice_id', '=', invoiceId)
        .orderBy('t.id')
        .limit(INVOICE_TRANSFERS_MAX)
        .execute(),
      this.db
        .selectFrom('deals')
        .select(['trader_reward', 'trader_cost', 'merchant_usdt'])
        .where('invoice_id', '=', invoiceId)
        .where('status', '=', 'completed')
        .executeTakeFirst(),
    ]);
    const transfers = rows.map((r) => ({
      transferId: BigInt(r.id),
      from: anonymousTrader(r.from_account),
      to: anonymousTrader(r.to_account),
      amount: BigInt(r.amount),
      kind: r.kind,
      createdAt: r.created_at,
    }));
    const net = new Map<string, bigint>();
    for (const t of transfers) {
      net.set(t.from, (net.get(t.from) ?? 0n) - t.amount);
      net.set(t.to, (net.get(t.to) ?? 0n) + t.amount);
    }
    return {
      transfers,
      accounts: [...net].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([account, change]) => ({ account, net: change })),
      breakdown: {
        gross: BigInt(invoice.gross_usdt),
        traderReward: completed ? BigInt(completed.trader_reward) : null,
        platformRevenue: completed ? BigInt(completed.trader_cost) - BigInt(completed.merchant_usdt) : null,
        merchant: BigInt(invoice.merchant_usdt),
      },
    };
  }
}
