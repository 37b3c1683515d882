// Traders: their API keys, USDT deposits, balances and fiat requisites.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { DB, RequisitesTable, TradersTable } from '../db/schema.ts';
import { mapConstraints } from '../db/constraints.ts';
import { afterCursor, createdKeys, keyOf, page, type Page, type PageRequest } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { balanceOf, ensureAccounts, postTransfers, traderAvailable, traderLocked, traderWithdrawalHold, WORLD } from '../ledger/ledger.ts';
import { generateApiKey, hashKey, sameHash } from '../merchants/keys.ts';

export type TraderRow = Selectable<TradersTable>;
export type RequisiteRow = Selectable<RequisitesTable>;

export interface NewRequisite {
  currency: string;
  method?: 'card' | undefined;
  bank_name: string;
  card_number: string;
  holder_name: string;
  min_amount?: string | undefined;
  max_amount?: string | undefined;
  daily_limit?: string | undefined;
  max_open_deals?: number | undefined;
  active?: boolean | undefined;
}

export type RequisitePatch = Partial<Omit<NewRequisite, 'currency' | 'method' | 'min_amount' | 'max_amount' | 'daily_limit'>> & {
  min_amount?: string | null | undefined;
  max_amount?: string | null | undefined;
  daily_limit?: string | null | undefined;
};

const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const mapConstraint = mapConstraints({ requisites_currency_fkey: errors.currencyInvalid, requisites_check: errors.requisiteRangeInvalid });

/** The deals engine took this requisite: it goes to the back of the least-recently-used order. */
export async function markRequisiteUsed(trx: Transaction<DB>, requisiteId: string, now: Date): Promise<void> {
  await trx.updateTable('requisites').set({ last_used_at: now }).where('id', '=', requisiteId).execute();
}

/** A trader's USDT: free for deals or withdrawals, locked by open deals, held by withdrawals. */
export interface TraderBalance {
  available: bigint;
  locked: bigint;
  on_hold: bigint;
}

export class Traders {
  constructor(private readonly db: Kysely<DB>) {}

  async create(input: { name: string; reward_percent?: string | undefined }) {
    const key = generateApiKey('trader');
    const traderId = randomUUID();
    const keyId = randomUUID();
    const trader = await inTransaction(this.db, async (trx) => {
      const row = await trx
        .insertInto('traders')
        .values({ id: traderId, name: input.name, reward_percent: input.reward_percent ?? '1.00' })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.insertInto('trader_api_keys').values({ id: keyId, trader_id: traderId, prefix: key.prefix, key_hash: key.hash }).execute();
      await ensureAccounts(trx, [traderAvailable(traderId), traderLocked(traderId)]);
      return row;
    });
    return { trader, apiKey: key.apiKey, prefix: key.prefix, keyId };
  }

  /** In creation order, each with its balances, in one query (accounts joined, not fetched per trader). */
  async list(request: PageRequest): Promise<Page<TraderRow & TraderBalance>> {
    let query = this.db
      .selectFrom('traders as t')
      .leftJoin('accounts as a', (join) => join.on('a.id', '=', sql<string>`'trader:' || t.id::text || ':available'`))
      .leftJoin('accounts as l', (join) => join.on('l.id', '=', sql<string>`'trader:' || t.id::text || ':locked'`))
      .leftJoin('accounts as h', (join) => join.on('h.id', '=', sql<string>`'trader:' || t.id::text || ':withdrawal_hold'`))
      .selectAll('t')
      .select([
        sql<bigint>`coalesce(a.balance, 0)`.as('available'),
        sql<bigint>`coalesce(l.balance, 0)`.as('locked'),
        sql<bigint>`coalesce(h.balance, 0)`.as('on_hold'),
      ]);
    const keys = createdKeys('t');
    if (request.cursor !== undefined) query = query.where(afterCursor(keys, request.cursor));
    const rows = await query
      .orderBy(keyOf(keys), keys.order)
      .orderBy('t.id', keys.order)
      .limit(request.limit + 1)
      .execute();
    return page(rows, request.limit, (r) => ({ at: r.created_at, id: r.id }));
  }

  async get(id: string): Promise<TraderRow> {
    if (!isUuid(id)) throw errors.traderNotFound();
    const row = await this.db.selectFrom('traders').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw errors.traderNotFound();
    return row;
  }

  async update(id: string, patch: { name?: string | undefined; status?: 'active' | 'disabled' | undefined; reward_percent?: string | undefined }) {
    if (!isUuid(id)) throw errors.traderNotFound();
    const row = await this.db
      .updateTable('traders')
      .set({ ...defined(patch), updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw errors.traderNotFound();
    return row;
  }

  async createApiKey(traderId: string) {
    await this.get(traderId);
    const key = generateApiKey('trader');
    const keyId = randomUUID();
    await this.db.insertInto('trader_api_keys').values({ id: keyId, trader_id: traderId, prefix: key.prefix, key_hash: key.hash }).execute();
    return { keyId, apiKey: key.apiKey, prefix: key.prefix };
  }

  /**
   * The active trader owning this key, or null. Not cached: trader traffic is light, and a
   * revoked key or disabled trader is refused on the very next request on every instance.
   */
  async authenticate(apiKey: string): Promise<TraderRow | null> {
    const hash = hashKey(apiKey);
    const row = await this.db
      .selectFrom('trader_api_keys as k')
      .innerJoin('traders as t', 't.id', 'k.trader_id')
      .selectAll('t')
      .select('k.key_hash')
      .where('k.key_hash', '=', hash)
      .where('k.revoked_at', 'is', null)
      .where('t.status', '=', 'active')
      .executeTakeFirst();
    if (!row || !sameHash(row.key_hash, hash)) return null;
    const { key_hash: _, ...trader } = row;
    return trader;
  }

  /** world → trader:available. The reference makes a retried deposit a 409, never a second credit. */
  async deposit(traderId: string, amountUsdt: bigint, reference: string) {
    await this.get(traderId);
    const depositId = randomUUID();
    return inTransaction(this.db, async (trx) => {
      const inserted = await trx
        .insertInto('deposits')
        .values({ id: depositId, trader_id: traderId, amount_usdt: amountUsdt, reference })
        .onConflict((oc) => oc.constraint('deposits_reference_unique').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) {
        const existing = await trx
          .selectFrom('deposits')
          .select('id')
          .where('trader_id', '=', traderId)
          .where('reference', '=', reference)
          .executeTakeFirstOrThrow();
        throw errors.depositReferenceUsed(existing.id);
      }
      await postTransfers(trx, [{ from: WORLD, to: traderAvailable(traderId), amount: amountUsdt, kind: 'deposit', ref: depositId }]);
      return { depositId, available: await balanceOf(trx, traderAvailable(traderId)) };
    });
  }

  async balance(traderId: string): Promise<TraderBalance> {
    const [available, locked, on_hold] = await Promise.all([
      balanceOf(this.db, traderAvailable(traderId)),
      balanceOf(this.db, traderLocked(traderId)),
      balanceOf(this.db, traderWithdrawalHold(traderId)),
    ]);
    return { available, locked, on_hold };
  }

  // -------------------------------------------------------------------------------------------
  // Requisites (always scoped to their trader)

  async createRequisite(traderId: string, input: NewRequisite): Promise<RequisiteRow> {
    return this.db
      .insertInto('requisites')
      .values({
        id: randomUUID(),
        trader_id: traderId,
        ...defined(input),
        currency: input.currency,
        bank_name: input.bank_name,
        card_number: input.card_number,
        holder_name: input.holder_name,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(mapConstraint);
  }

  /** The trader's cards, in creation order. */
  async listRequisites(traderId: string, request: PageRequest): Promise<Page<RequisiteRow>> {
    const keys = createdKeys('r');
    let query = this.db.selectFrom('requisites as r').selectAll('r').where('r.trader_id', '=', traderId);
    if (request.cursor !== undefined) query = query.where(afterCursor(keys, request.cursor));
    const rows = await query
      .orderBy(keyOf(keys), keys.order)
      .orderBy('r.id', keys.order)
      .limit(request.limit + 1)
      .execute();
    return page(rows, request.limit, (r) => ({ at: r.created_at, id: r.id }));
  }

  async updateRequisite(traderId: string, requisiteId: string, patch: RequisitePatch): Promise<RequisiteRow> {
    if (!isUuid(requisiteId)) throw errors.requisiteNotFound();
    const row = await this.db
      .updateTable('requisites')
      .set({ ...defined(patch), updated_at: sql<Date>`now()` })
      .where('id', '=', requisiteId)
      .where('trader_id', '=', traderId)
      .returningAll()
      .executeTakeFirst()
      .catch(mapConstraint);
    if (!row) throw errors.requisiteNotFound();
    return row;
  }
}
