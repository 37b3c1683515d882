// Traders: their API keys, USDT deposits, balances and fiat requisites.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type SelectQueryBuilder, type Transaction } from 'kysely';
import type { DB, RequisitesTable, TradersTable } from '../db/schema.ts';
import { mapConstraints } from '../db/constraints.ts';
import { afterCursor, createdKeys, keyOf, mapPage, page, type Page, type PageRequest } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { balanceOf, ensureAccounts, postTransfers, traderAvailable, traderInsurance, traderLocked, WORLD } from '../ledger/ledger.ts';
import { DAILY_LIMIT_DEAL_STATUSES, OPEN_DEAL_STATUSES } from '../lifecycle.ts';
import type { Catalog } from '../rates/catalog.ts';
import { generateApiKey, hashKey, sameHash } from '../merchants/keys.ts';
import { formatUsdt } from '../money.ts';

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

/** Why a trader gets no new deals; null when it does. */
export type IneligibleReason = 'disabled' | 'insurance_below_minimum' | null;

/** A trader's money (micro-USDT), and whether it gets new deals. */
export interface TraderBalance {
  available: bigint;
  locked: bigint;
  insurance: bigint;
  /** In trader:<id>:withdrawal_hold: asked to be withdrawn, not yet paid out. */
  onHold: bigint;
  eligible: boolean;
  reason: IneligibleReason;
}

/** The deals engine's rules about the trader itself (src/deals/service.ts assign), as a reason. */
export function ineligibility(status: 'active' | 'disabled', insurance: bigint, minInsurance: bigint): IneligibleReason {
  if (status !== 'active') return 'disabled';
  if (insurance < minInsurance) return 'insurance_below_minimum';
  return null;
}

/** One of a trader's accounts, by the id of the traders row aliased `t`. */
const accountOf = (suffix: string) => sql<string>`'trader:' || t.id::text || ${':' + suffix}`;

function toBalance(
  status: 'active' | 'disabled',
  accounts: { available: bigint; locked: bigint; insurance: bigint; on_hold: bigint },
  minInsurance: bigint,
): TraderBalance {
  const insurance = BigInt(accounts.insurance);
  const reason = ineligibility(status, insurance, minInsurance);
  return {
    available: BigInt(accounts.available),
    locked: BigInt(accounts.locked),
    insurance,
    onHold: BigInt(accounts.on_hold),
    eligible: reason === null,
    reason,
  };
}

const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const mapConstraint = mapConstraints({ requisites_currency_fkey: errors.currencyInvalid, requisites_check: errors.requisiteRangeInvalid });

/** The deals engine took this requisite: it goes to the back of the least-recently-used order. */
export async function markRequisiteUsed(trx: Transaction<DB>, requisiteId: string, now: Date): Promise<void> {
  await trx.updateTable('requisites').set({ last_used_at: now }).where('id', '=', requisiteId).execute();
}

export class Traders {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly catalog: Catalog,
  ) {}

  /** In `outer` when given: the operator console records its audit row in the same transaction. */
  async create(input: { name: string; reward_percent?: string | undefined }, outer?: Transaction<DB>) {
    const key = generateApiKey('trader');
    const traderId = randomUUID();
    const keyId = randomUUID();
    const trader = await inTransaction(
      this.db,
      async (trx) => {
        const row = await trx
          .insertInto('traders')
          .values({ id: traderId, name: input.name, reward_percent: input.reward_percent ?? '1.00' })
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx.insertInto('trader_api_keys').values({ id: keyId, trader_id: traderId, prefix: key.prefix, key_hash: key.hash }).execute();
        await ensureAccounts(trx, [traderAvailable(traderId), traderLocked(traderId)]);
        return row;
      },
      outer,
    );
    return { trader, apiKey: key.apiKey, prefix: key.prefix, keyId };
  }

  /** In creation order, each with its balances, in one query (accounts joined, not fetched per trader). */
  async list(request: PageRequest): Promise<Page<TraderRow & { balance: TraderBalance }>> {
    const { settings } = await this.catalog.snapshot();
    let query = this.withBalances(this.db.selectFrom('traders as t').selectAll('t'));
    const keys = createdKeys('t');
    if (request.cursor !== undefined) query = query.where(afterCursor(keys, request.cursor));
    const rows = await query
      .orderBy(keyOf(keys), keys.order)
      .orderBy('t.id', keys.order)
      .limit(request.limit + 1)
      .execute();
    const listed = page(rows, request.limit, (r) => ({ at: r.created_at, id: r.id }));
    return mapPage(listed, ({ available, locked, insurance, on_hold, ...trader }) => ({
      ...trader,
      balance: toBalance(trader.status, { available, locked, insurance, on_hold }, settings.traderMinInsuranceUsdt),
    }));
  }

  /** The trader's four accounts joined to a query of traders as `t`. */
  private withBalances<O>(query: SelectQueryBuilder<DB & { t: DB['traders'] }, 't', O>) {
    return query
      .leftJoin('accounts as av', (join) => join.on('av.id', '=', accountOf('available')))
      .leftJoin('accounts as lo', (join) => join.on('lo.id', '=', accountOf('locked')))
      .leftJoin('accounts as ins', (join) => join.on('ins.id', '=', accountOf('insurance')))
      .leftJoin('accounts as wh', (join) => join.on('wh.id', '=', accountOf('withdrawal_hold')))
      .select([
        sql<bigint>`coalesce(av.balance, 0)`.as('available'),
        sql<bigint>`coalesce(lo.balance, 0)`.as('locked'),
        sql<bigint>`coalesce(ins.balance, 0)`.as('insurance'),
        sql<bigint>`coalesce(wh.balance, 0)`.as('on_hold'),
      ]);
  }

  /** In `trx`, the trader's row is locked for the change that follows (an embedded database has one session, which `trx` holds). */
  async get(id: string, trx?: Transaction<DB>): Promise<TraderRow> {
    if (!isUuid(id)) throw errors.traderNotFound();
    let query = (trx ?? this.db).selectFrom('traders').selectAll().where('id', '=', id);
    if (trx) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) throw errors.traderNotFound();
    return row;
  }

  async update(
    id: string,
    patch: { name?: string | undefined; status?: 'active' | 'disabled' | undefined; reward_percent?: string | undefined },
    trx?: Transaction<DB>,
  ) {
    if (!isUuid(id)) throw errors.traderNotFound();
    const row = await (trx ?? this.db)
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
  async deposit(traderId: string, amountUsdt: bigint, reference: string, outer?: Transaction<DB>) {
    await this.get(traderId, outer);
    const depositId = randomUUID();
    return inTransaction(
      this.db,
      async (trx) => {
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
      },
      outer,
    );
  }

  /** The trader's accounts, and whether the deals engine gives it new deals (and why not). */
  async balance(traderId: string): Promise<TraderBalance> {
    const { settings } = await this.catalog.snapshot();
    const row = await this.withBalances(this.db.selectFrom('traders as t').select('t.status')).where('t.id', '=', traderId).executeTakeFirst();
    if (!row) throw errors.traderNotFound();
    return toBalance(row.status, row, settings.traderMinInsuranceUsdt);
  }

  /**
   * Moves `amount` (micro-USDT) from available to insurance, or, negative, back. A release is
   * refused while the trader has open deals: the insurance stands behind them. The available
   * account is locked before the open deals are counted, and the deals engine locks it before
   * it opens a deal, so no deal opens unseen between the count and the release.
   */
  async moveInsurance(traderId: string, amount: bigint): Promise<TraderBalance> {
    await inTransaction(this.db, (trx) => this.moveInsuranceIn(trx, traderId, amount));
    return this.balance(traderId);
  }

  async moveInsuranceIn(trx: Transaction<DB>, traderId: string, amount: bigint): Promise<void> {
    if (amount === 0n) throw new RangeError('an insurance move of 0 moves nothing');
    if (!isUuid(traderId)) throw errors.traderNotFound();
    const trader = await trx.selectFrom('traders').select('id').where('id', '=', traderId).executeTakeFirst();
    if (!trader) throw errors.traderNotFound();
    const available = traderAvailable(traderId);
    const insurance = traderInsurance(traderId);
    await ensureAccounts(trx, [available, insurance]);
    await sql`SELECT id FROM accounts WHERE id = ${available} FOR UPDATE`.execute(trx);
    if (amount > 0n) {
      await postTransfers(trx, [{ from: available, to: insurance, amount, kind: 'insurance_lock', ref: traderId }]);
      return;
    }
    const { rows } = await sql<{ open: bigint }>`
      SELECT count(*) AS open FROM deals WHERE trader_id = ${traderId}::uuid AND status = ANY(${OPEN_DEAL_STATUSES}::text[])`.execute(trx);
    const open = Number(rows[0]?.open ?? 0);
    if (open > 0) throw errors.insuranceInUse(open);
    const held = await balanceOf(trx, insurance);
    if (held < -amount) throw errors.insuranceInsufficient(formatUsdt(held, 2));
    await postTransfers(trx, [{ from: insurance, to: available, amount: -amount, kind: 'insurance_release', ref: traderId }]);
  }

  // -------------------------------------------------------------------------------------------
  // Requisites (always scoped to their trader)

  async createRequisite(traderId: string, input: NewRequisite, trx?: Transaction<DB>): Promise<RequisiteRow> {
    return (trx ?? this.db)
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

  /** One of the trader's cards; another trader's card is not found, as if it did not exist. */
  async getRequisite(traderId: string, requisiteId: string): Promise<RequisiteRow> {
    if (!isUuid(requisiteId)) throw errors.requisiteNotFound();
    const row = await this.db.selectFrom('requisites').selectAll().where('id', '=', requisiteId).where('trader_id', '=', traderId).executeTakeFirst();
    if (!row) throw errors.requisiteNotFound();
    return row;
  }

  /**
   * What each of these cards of the trader took today (the UTC day of `now`), counted as the deals
   * engine counts it against daily_limit: deals opened today that are open or completed. Cards
   * with nothing today are absent.
   */
  async turnoverToday(traderId: string, requisiteIds: readonly string[], now: Date): Promise<Map<string, string>> {
    if (!requisiteIds.length) return new Map();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const rows = await this.db
      .selectFrom('deals')
      .select(['requisite_id', sql<string>`sum(amount)`.as('turnover')])
      .where('trader_id', '=', traderId)
      .where('requisite_id', 'in', requisiteIds)
      .where('opened_at', '>=', dayStart)
      .where('status', 'in', DAILY_LIMIT_DEAL_STATUSES)
      .groupBy('requisite_id')
      .execute();
    return new Map(rows.map((r) => [r.requisite_id, String(r.turnover)]));
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
