// Traders' top-ups: a trader reports the USDT it sent to Kasa (amount, network, transaction
// hash); an operator checks the chain and confirms it (world → trader:<id>:available, in the
// same transaction) or rejects it with a reason. States: pending → confirmed | rejected.
//
// The hash is claimed in chain_transactions at submission, so two top-ups (or a top-up and a
// withdrawal) can never name one transfer. A rejected top-up keeps its claim: the hash names a
// real transfer someone already claimed, and freeing it would let anyone else claim it next.
// An operator who rejected a real top-up by mistake credits it as a deposit instead.
import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { afterCursor, page, type KeyColumns, type Page } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import type { DB, TopupStatus, TraderTopupsTable } from '../db/schema.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { postTransfers, traderAvailable, WORLD } from '../ledger/ledger.ts';
import { claimTxHash } from './chain.ts';

export type TopupRow = Selectable<TraderTopupsTable>;
export type { TopupStatus };

export const TOPUP_STATUSES = ['pending', 'confirmed', 'rejected'] as const satisfies readonly TopupStatus[];
export const TOPUP_NETWORKS = ['TRC20'] as const;
/** A TRON transaction id: 64 hex digits (stored in lower case). */
export const TX_HASH_PATTERN = '^[0-9a-fA-F]{64}$';
export const TOPUP_LIST_LIMIT_DEFAULT = 50;

/** created_at is written from Kasa's clock (milliseconds), so its index serves the order. */
const TOPUP_KEYS: KeyColumns = { alias: 'u', at: 'created_at', id: 'id', truncate: false, order: 'desc' };

export interface NewTopup {
  /** micro-USDT, > 0 */
  amount: bigint;
  network: (typeof TOPUP_NETWORKS)[number];
  txHash: string;
}

export interface TopupFilter {
  traderId?: string | undefined;
  status?: TopupStatus | undefined;
  limit: number;
  cursor?: string | undefined;
}

export class Topups {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
  ) {}

  async submit(traderId: string, topup: NewTopup, outer?: Transaction<DB>): Promise<TopupRow> {
    return inTransaction(this.db, (trx) => this.submitIn(trx, traderId, topup), outer);
  }

  /** Records the top-up as pending and claims its hash; a hash used anywhere → 409 TX_HASH_USED. */
  async submitIn(trx: Transaction<DB>, traderId: string, topup: NewTopup): Promise<TopupRow> {
    if (topup.amount <= 0n) throw new RangeError(`a top-up must be > 0, got ${topup.amount}`);
    const now = this.clock.now();
    const id = randomUUID();
    const txHash = topup.txHash.toLowerCase();
    await claimTxHash(trx, { txHash, network: topup.network, kind: 'trader_topup', ref: id, at: now });
    return trx
      .insertInto('trader_topups')
      .values({ id, trader_id: traderId, amount_usdt: topup.amount, network: topup.network, tx_hash: txHash, created_at: now, updated_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async confirm(topupId: string): Promise<TopupRow> {
    return inTransaction(this.db, (trx) => this.confirmIn(trx, topupId));
  }

  /** pending → confirmed, and the trader is credited in the same transaction. */
  async confirmIn(trx: Transaction<DB>, topupId: string): Promise<TopupRow> {
    const topup = await this.lockPending(trx, topupId);
    const confirmed = await this.move(trx, topup, 'confirmed', null);
    await postTransfers(trx, [{ from: WORLD, to: traderAvailable(topup.trader_id), amount: topup.amount_usdt, kind: 'topup', ref: topup.id }]);
    return confirmed;
  }

  async reject(topupId: string, reason: string): Promise<TopupRow> {
    return inTransaction(this.db, (trx) => this.rejectIn(trx, topupId, reason));
  }

  /** pending → rejected; moves no money and keeps the hash claimed (see the top of this file). */
  async rejectIn(trx: Transaction<DB>, topupId: string, reason: string): Promise<TopupRow> {
    const topup = await this.lockPending(trx, topupId);
    return this.move(trx, topup, 'rejected', reason);
  }

  /** One top-up; a trader asking for another trader's reads it as missing. */
  async get(topupId: string, traderId?: string): Promise<TopupRow> {
    if (!isUuid(topupId)) throw errors.topupNotFound();
    let query = this.db.selectFrom('trader_topups').selectAll().where('id', '=', topupId);
    if (traderId !== undefined) query = query.where('trader_id', '=', traderId);
    const row = await query.executeTakeFirst();
    if (!row) throw errors.topupNotFound();
    return row;
  }

  /** Newest first, a page at a time. */
  async list(filter: TopupFilter): Promise<Page<TopupRow>> {
    let query = this.db.selectFrom('trader_topups as u').selectAll('u');
    if (filter.traderId !== undefined) query = query.where('u.trader_id', '=', filter.traderId);
    if (filter.status !== undefined) query = query.where('u.status', '=', filter.status);
    if (filter.cursor !== undefined) query = query.where(afterCursor(TOPUP_KEYS, filter.cursor));
    const rows = await query
      .orderBy('u.created_at', 'desc')
      .orderBy('u.id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    return page(rows, filter.limit, (u) => ({ at: u.created_at, id: u.id }));
  }

  /** The top-up locked, if it is still pending: anything else is 409 TOPUP_NOT_ALLOWED with its status. */
  private async lockPending(trx: Transaction<DB>, topupId: string): Promise<TopupRow> {
    if (!isUuid(topupId)) throw errors.topupNotFound();
    const topup = await trx.selectFrom('trader_topups').selectAll().where('id', '=', topupId).forUpdate().executeTakeFirst();
    if (!topup) throw errors.topupNotFound();
    if (topup.status !== 'pending') throw errors.topupNotAllowed(topup.status);
    return topup;
  }

  /** The UPDATE re-checks the from-state; under the row's lock exactly one row changes. */
  private async move(trx: Transaction<DB>, topup: TopupRow, to: 'confirmed' | 'rejected', reason: string | null): Promise<TopupRow> {
    const rows = await trx
      .updateTable('trader_topups')
      .set({ status: to, reason, updated_at: this.clock.now() })
      .where('id', '=', topup.id)
      .where('status', '=', 'pending')
      .returningAll()
      .execute();
    if (rows.length !== 1) throw new Error(`top-up ${topup.id}: pending → ${to} changed ${rows.length} rows, expected 1`);
    return rows[0]!;
  }
}
