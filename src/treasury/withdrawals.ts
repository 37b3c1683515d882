// Withdrawals: a merchant's balance, or a trader's available USDT, paid out to a TRC20 address.
// One module for both owners: the same states, fee, checks and money, only the accounts differ.
//
//   requested → approved → completed      requested | approved → rejected (the operator, a reason)
//   requested → cancelled (the owner)     below the auto-approve setting a request starts approved
//
// Money: at the request the amount moves from the owner's available account to its withdrawal
// hold; at completion the hold pays `world` the amount less the fee and `platform:revenue` the
// fee; a rejection or a cancellation releases the hold to where the money came from. Each
// transition locks the row, checks its from-state and posts its transfers in one transaction.
import { randomUUID } from 'node:crypto';
import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { DB, WithdrawalsTable, WithdrawalStatus } from '../db/schema.ts';
import { afterCursor, page, type KeyColumns, type Page, type PageRequest } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import {
  ensureAccounts,
  merchantAccount,
  merchantWithdrawalHold,
  PLATFORM_REVENUE,
  postTransfers,
  traderAvailable,
  traderWithdrawalHold,
  WORLD,
  type Transfer,
} from '../ledger/ledger.ts';
import { formatUsdt, microUsdt, USDT_AMOUNT_DECIMALS } from '../money.ts';
import type { Catalog } from '../rates/catalog.ts';
import { recordWithdrawalEvent } from '../webhooks/outbox.ts';
import { claimTxHash } from './chain.ts';
import { ownerOf, withdrawalView, type OwnerKind, type WithdrawalOwner, type WithdrawalRow } from './views.ts';

export const WITHDRAWAL_STATUSES = ['requested', 'approved', 'completed', 'rejected', 'cancelled'] as const satisfies readonly WithdrawalStatus[];
export const WITHDRAWAL_NETWORKS = ['TRC20'] as const;
export { adminWithdrawalView, OWNER_KINDS, ownerOf, withdrawalView, type OwnerKind, type WithdrawalOwner, type WithdrawalRow } from './views.ts';

export interface NewWithdrawal {
  /** USDT, at most 2 decimals, > 0 (checked by the request model). */
  amount_usdt: string;
  address: string;
  network: (typeof WITHDRAWAL_NETWORKS)[number];
}

export interface WithdrawalFilter extends PageRequest {
  status?: WithdrawalStatus | undefined;
  ownerKind?: OwnerKind | undefined;
}

/** The transitions, by action: the states each may start from, and where it leads. */
export const WITHDRAWAL_TRANSITIONS = {
  approve: { from: ['requested'], to: 'approved' },
  complete: { from: ['approved'], to: 'completed' },
  reject: { from: ['requested', 'approved'], to: 'rejected' },
  cancel: { from: ['requested'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly WithdrawalStatus[]; to: WithdrawalStatus }>;
type Action = keyof typeof WITHDRAWAL_TRANSITIONS;

/** How each action reads in a refusal ("A completed withdrawal cannot be cancelled"). */
const ACTION_PAST: Record<Action, string> = { approve: 'approved', complete: 'completed', reject: 'rejected', cancel: 'cancelled' };

/** The owner's account the money comes from and returns to, and its hold. */
export function withdrawalAccounts(owner: WithdrawalOwner): { available: string; hold: string } {
  return owner.kind === 'merchant'
    ? { available: merchantAccount(owner.id), hold: merchantWithdrawalHold(owner.id) }
    : { available: traderAvailable(owner.id), hold: traderWithdrawalHold(owner.id) };
}

/** The transfers a transition makes. Pure, so the money of each state is readable in one place. */
export function withdrawalTransfers(row: WithdrawalRow, to: WithdrawalStatus): Transfer[] {
  const { available, hold } = withdrawalAccounts(ownerOf(row));
  const ref = row.id;
  switch (to) {
    case 'requested':
    case 'approved':
      // A request (approved at once or not) holds the amount; approving later moves nothing.
      return [{ from: available, to: hold, amount: row.amount_usdt, kind: 'withdrawal_hold', ref }];
    case 'completed': {
      const payout = row.amount_usdt - row.fee_usdt;
      const transfers: Transfer[] = [{ from: hold, to: WORLD, amount: payout, kind: 'withdrawal_payout', ref }];
      if (row.fee_usdt > 0n) transfers.push({ from: hold, to: PLATFORM_REVENUE, amount: row.fee_usdt, kind: 'withdrawal_fee', ref });
      return transfers;
    }
    case 'rejected':
    case 'cancelled':
      return [{ from: hold, to: available, amount: row.amount_usdt, kind: 'withdrawal_release', ref }];
  }
}

/** Newest first; created_at is written from Kasa's clock (milliseconds). */
const WITHDRAWAL_KEYS: KeyColumns = { alias: 'w', at: 'created_at', id: 'id', truncate: false, order: 'desc' };

export class Withdrawals {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly catalog: Catalog,
    private readonly clock: Clock,
  ) {}

  request(owner: WithdrawalOwner, input: NewWithdrawal, outer?: Transaction<DB>): Promise<WithdrawalRow> {
    return inTransaction(this.db, (trx) => this.requestIn(trx, owner, input), outer);
  }

  /**
   * Holds the amount and records the request. The owner's available account is locked first, so
   * concurrent requests are settled one after the other against the balance each leaves.
   */
  async requestIn(trx: Transaction<DB>, owner: WithdrawalOwner, input: NewWithdrawal): Promise<WithdrawalRow> {
    const settings = (await this.catalog.getSettings(trx)).withdrawals;
    const amount = microUsdt(input.amount_usdt);
    // The minimum is above the fee (a CHECK on the settings), so every payout is positive.
    if (amount < settings.minUsdt || amount <= settings.feeUsdt) throw errors.withdrawalBelowMinimum(formatUsdt(settings.minUsdt, USDT_AMOUNT_DECIMALS));
    const { available } = withdrawalAccounts(owner);
    await ensureAccounts(trx, [available]);
    const { rows } = await sql<{ balance: bigint }>`SELECT balance FROM accounts WHERE id = ${available} FOR UPDATE`.execute(trx);
    const balance = rows[0]?.balance ?? 0n;
    if (balance < amount) throw errors.insufficientBalance(formatUsdt(balance, USDT_AMOUNT_DECIMALS));
    const now = this.clock.now();
    const row = await trx
      .insertInto('withdrawals')
      .values({
        id: randomUUID(),
        merchant_id: owner.kind === 'merchant' ? owner.id : null,
        trader_id: owner.kind === 'trader' ? owner.id : null,
        status: amount < settings.autoApproveBelowUsdt ? 'approved' : 'requested',
        amount_usdt: amount,
        fee_usdt: settings.feeUsdt,
        address: input.address,
        network: input.network,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await postTransfers(trx, withdrawalTransfers(row, row.status));
    return row;
  }

  /** One of the owner's withdrawals; another owner's (or a malformed id) is not found. */
  async get(owner: WithdrawalOwner, id: string): Promise<WithdrawalRow> {
    if (!isUuid(id)) throw errors.withdrawalNotFound();
    const row = await this.db.selectFrom('withdrawals as w').selectAll('w').where(ownedBy(owner)).where('w.id', '=', id).executeTakeFirst();
    if (!row) throw errors.withdrawalNotFound();
    return row;
  }

  /** The owner's withdrawals, or with no owner (the operator) everyone's; newest first. */
  async list(owner: WithdrawalOwner | null, filter: WithdrawalFilter): Promise<Page<WithdrawalRow>> {
    let query = this.db.selectFrom('withdrawals as w').selectAll('w');
    if (owner) query = query.where(ownedBy(owner));
    if (filter.ownerKind === 'merchant') query = query.where('w.merchant_id', 'is not', null);
    if (filter.ownerKind === 'trader') query = query.where('w.trader_id', 'is not', null);
    if (filter.status !== undefined) query = query.where('w.status', '=', filter.status);
    if (filter.cursor !== undefined) query = query.where(afterCursor(WITHDRAWAL_KEYS, filter.cursor));
    const rows = await query
      .orderBy('w.created_at', 'desc')
      .orderBy('w.id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    return page(rows, filter.limit, (w) => ({ at: w.created_at, id: w.id }));
  }

  cancel(owner: WithdrawalOwner, id: string, outer?: Transaction<DB>): Promise<WithdrawalRow> {
    return inTransaction(this.db, (trx) => this.cancelIn(trx, owner, id), outer);
  }

  /** The owner takes back a request not yet approved. */
  async cancelIn(trx: Transaction<DB>, owner: WithdrawalOwner, id: string): Promise<WithdrawalRow> {
    return this.move(trx, id, 'cancel', { owner });
  }

  approve(id: string): Promise<WithdrawalRow> {
    return inTransaction(this.db, (trx) => this.approveIn(trx, id));
  }

  async approveIn(trx: Transaction<DB>, id: string): Promise<WithdrawalRow> {
    return this.move(trx, id, 'approve', {});
  }

  complete(id: string, txHash: string): Promise<WithdrawalRow> {
    return inTransaction(this.db, (trx) => this.completeIn(trx, id, txHash));
  }

  /** The operator sent the USDT: the chain transaction's hash is claimed once in all of Kasa. */
  async completeIn(trx: Transaction<DB>, id: string, txHash: string): Promise<WithdrawalRow> {
    return this.move(trx, id, 'complete', { txHash: txHash.toLowerCase() });
  }

  reject(id: string, reason: string): Promise<WithdrawalRow> {
    return inTransaction(this.db, (trx) => this.rejectIn(trx, id, reason));
  }

  async rejectIn(trx: Transaction<DB>, id: string, reason: string): Promise<WithdrawalRow> {
    return this.move(trx, id, 'reject', { reason });
  }

  /**
   * One transition: lock the row, check its from-state, change it (asserting the one row),
   * post its transfers, and for a merchant's completion or rejection write the webhook event,
   * all in the caller's transaction.
   */
  private async move(
    trx: Transaction<DB>,
    id: string,
    action: Action,
    change: { owner?: WithdrawalOwner; txHash?: string; reason?: string },
  ): Promise<WithdrawalRow> {
    if (!isUuid(id)) throw errors.withdrawalNotFound();
    let locked = trx.selectFrom('withdrawals as w').selectAll('w').where('w.id', '=', id);
    if (change.owner) locked = locked.where(ownedBy(change.owner));
    const row = await locked.forUpdate().executeTakeFirst();
    if (!row) throw errors.withdrawalNotFound();
    const { from, to } = WITHDRAWAL_TRANSITIONS[action];
    if (!(from as readonly WithdrawalStatus[]).includes(row.status)) throw errors.withdrawalNotAllowed(row.status, ACTION_PAST[action]);
    const now = this.clock.now();
    if (change.txHash !== undefined) {
      await claimTxHash(trx, { txHash: change.txHash, network: row.network, kind: `${ownerOf(row).kind}_withdrawal`, ref: row.id, at: now });
    }
    const moved = await trx
      .updateTable('withdrawals')
      .set({
        status: to,
        updated_at: now,
        ...(change.txHash !== undefined ? { tx_hash: change.txHash } : {}),
        ...(change.reason !== undefined ? { reason: change.reason } : {}),
      })
      .where('id', '=', row.id)
      .where('status', '=', row.status)
      .returningAll()
      .execute();
    // The row is locked and was in `row.status`: anything but one changed row is a broken lock.
    if (moved.length !== 1) throw new Error(`withdrawal invariant: ${row.id} ${row.status} → ${to} changed ${moved.length} rows`);
    const after = moved[0]!;
    if (action !== 'approve') await postTransfers(trx, withdrawalTransfers(after, to));
    if (after.merchant_id !== null && (to === 'completed' || to === 'rejected')) {
      await recordWithdrawalEvent(trx, {
        merchantId: after.merchant_id,
        withdrawalId: after.id,
        type: to === 'completed' ? 'withdrawal.completed' : 'withdrawal.rejected',
        withdrawal: withdrawalView(after),
        createdAt: now,
      });
    }
    return after;
  }
}

/** The condition "owned by": every owner's read and cancel goes through it. */
function ownedBy(owner: WithdrawalOwner) {
  return (eb: ExpressionBuilder<DB & { w: WithdrawalsTable }, 'w'>) => eb(owner.kind === 'merchant' ? 'w.merchant_id' : 'w.trader_id', '=', owner.id);
}
