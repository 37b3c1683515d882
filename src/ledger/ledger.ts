// Double-entry ledger in integer micro-USDT. Every movement is a transfer between two accounts;
// a balance changes only through transfers, inside the transaction of the state change that
// causes them. Invariants: the sum of all balances is zero, each balance equals the sum of its
// transfers, and no account but `world` goes below zero (a CHECK in the table).
import { sql, type Kysely, type Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';
import { mapConstraints } from '../db/constraints.ts';
import { afterTextKey, mapPage, type Page, type PageRequest, textKeyPage } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';
import { assertTransfer, WORLD, type Transfer } from './accounts.ts';

export * from './accounts.ts';

/** Creates accounts that do not exist yet (merchants' and traders' accounts open lazily). */
export async function ensureAccounts(trx: Transaction<DB> | Kysely<DB>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`INSERT INTO accounts (id) SELECT unnest(${ids}::text[]) ON CONFLICT (id) DO NOTHING`.execute(trx);
}

/**
 * Posts transfers inside the caller's transaction, in three statements whatever their number:
 * lock the accounts (in id order, so concurrent posters cannot deadlock each other), apply the
 * net change of each account, record the transfers. An overdraft violates the table's CHECK and
 * fails the whole transaction with InsufficientFunds.
 *
 * Each transfer records both accounts' balances right after it (what statements show): the
 * locked balances before the batch, walked through the transfers in their order, which is the
 * order of their ids. The UPDATE's new balances must equal where that walk ends.
 */
export async function postTransfers(trx: Transaction<DB>, transfers: Transfer[]): Promise<void> {
  if (transfers.length === 0) return;
  const net = new Map<string, bigint>();
  for (const t of transfers) {
    assertTransfer(t);
    net.set(t.from, (net.get(t.from) ?? 0n) - t.amount);
    net.set(t.to, (net.get(t.to) ?? 0n) + t.amount);
  }
  const ids = [...net.keys()].sort();
  await ensureAccounts(trx, ids);
  const { rows: locked } = await sql<{ id: string; balance: bigint }>`
    SELECT id, balance FROM accounts WHERE id = ANY(${ids}::text[]) ORDER BY id FOR UPDATE`.execute(trx);
  const running = new Map(locked.map((r) => [r.id, BigInt(r.balance)]));
  const after = transfers.map((t) => {
    const from = (running.get(t.from) ?? 0n) - t.amount;
    const to = (running.get(t.to) ?? 0n) + t.amount;
    running.set(t.from, from);
    running.set(t.to, to);
    return { from, to };
  });
  const changed = ids.filter((id) => net.get(id) !== 0n);
  try {
    const { rows: updated } = await sql<{ id: string; balance: bigint }>`
      UPDATE accounts a SET balance = a.balance + d.delta, updated_at = now()
        FROM (SELECT unnest(${changed}::text[]) AS id, unnest(${changed.map((id) => String(net.get(id)))}::bigint[]) AS delta) d
       WHERE a.id = d.id
      RETURNING a.id, a.balance`.execute(trx);
    for (const row of updated) {
      if (BigInt(row.balance) !== running.get(row.id)) {
        throw new Error(`ledger invariant: ${row.id} is ${row.balance} after posting, its transfers say ${running.get(row.id)}`);
      }
    }
  } catch (error) {
    mapConstraints({ accounts_no_overdraft: errors.insufficientFunds })(error);
  }
  // WITH ORDINALITY … ORDER BY: the identity ids follow the batch's order, the order walked above.
  await sql`
    INSERT INTO transfers (from_account, to_account, amount, kind, ref, from_balance_after, to_balance_after)
    SELECT from_account, to_account, amount, kind, ref, from_after, to_after
      FROM unnest(${transfers.map((t) => t.from)}::text[], ${transfers.map((t) => t.to)}::text[],
                  ${transfers.map((t) => String(t.amount))}::bigint[], ${transfers.map((t) => t.kind)}::text[],
                  ${transfers.map((t) => t.ref)}::uuid[], ${after.map((a) => String(a.from))}::bigint[],
                  ${after.map((a) => String(a.to))}::bigint[])
           WITH ORDINALITY AS b (from_account, to_account, amount, kind, ref, from_after, to_after, n)
     ORDER BY n`.execute(trx);
}

export async function balanceOf(db: Kysely<DB> | Transaction<DB>, account: string): Promise<bigint> {
  const row = await db.selectFrom('accounts').select('balance').where('id', '=', account).executeTakeFirst();
  return row?.balance ?? 0n;
}

export interface AccountBalance {
  account: string;
  balance: bigint;
}

/** Every account by id, a page at a time. */
export async function listAccounts(db: Kysely<DB>, request: PageRequest): Promise<Page<AccountBalance>> {
  let query = db.selectFrom('accounts').select(['id', 'balance']);
  if (request.cursor !== undefined) query = query.where(afterTextKey('id', request.cursor));
  const rows = await query
    .orderBy('id')
    .limit(request.limit + 1)
    .execute();
  const listed = textKeyPage(rows, request.limit, (r) => r.id);
  return mapPage(listed, (r) => ({ account: r.id, balance: r.balance }));
}

export interface VerifyReport {
  ok: boolean;
  accounts: number;
  transfers: number;
  /** Sum of all balances; must be 0. */
  total: bigint;
  /** Accounts whose stored balance differs from the sum of their transfers. */
  mismatched: { account: string; balance: bigint; computed: bigint }[];
  /** Accounts other than world below zero. */
  negative: { account: string; balance: bigint }[];
}

/** Recomputes every balance from the transfers and checks the ledger's invariants. */
export async function verifyLedger(db: Kysely<DB>): Promise<VerifyReport> {
  return inTransaction(db, async (trx) => {
    // One snapshot for all three reads, so a concurrent posting cannot look like a mismatch.
    await sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`.execute(trx);
    const { rows: mismatched } = await sql<{ account: string; balance: bigint; computed: bigint }>`
      SELECT a.id AS account, a.balance, coalesce(i.total, 0) - coalesce(o.total, 0) AS computed
        FROM accounts a
        LEFT JOIN (SELECT to_account AS id, sum(amount)::bigint AS total FROM transfers GROUP BY to_account) i ON i.id = a.id
        LEFT JOIN (SELECT from_account AS id, sum(amount)::bigint AS total FROM transfers GROUP BY from_account) o ON o.id = a.id
       WHERE a.balance <> coalesce(i.total, 0) - coalesce(o.total, 0)
       ORDER BY a.id`.execute(trx);
    const { rows: negative } = await sql<{ account: string; balance: bigint }>`
      SELECT id AS account, balance FROM accounts WHERE balance < 0 AND id <> ${WORLD} ORDER BY id`.execute(trx);
    const { rows: totals } = await sql<{ total: bigint | null; accounts: bigint; transfers: bigint }>`
      SELECT (SELECT sum(balance)::bigint FROM accounts) AS total,
             (SELECT count(*) FROM accounts) AS accounts,
             (SELECT count(*) FROM transfers) AS transfers`.execute(trx);
    const total = totals[0]?.total ?? 0n;
    return {
      ok: mismatched.length === 0 && negative.length === 0 && total === 0n,
      accounts: Number(totals[0]?.accounts ?? 0n),
      transfers: Number(totals[0]?.transfers ?? 0n),
      total,
      mismatched,
      negative,
    };
  });
}
