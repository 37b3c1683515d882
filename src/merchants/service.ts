// Merchants, their API keys, and authentication of merchant requests.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { LRUCache } from 'lru-cache';
import { isoSeconds } from '../clock.ts';
import type { DB, MerchantsTable } from '../db/schema.ts';
import { afterCursor, createdKeys, keyOf, mapPage, page, type Page, type PageRequest } from '../db/cursor.ts';
import { inTransaction } from '../db/retry.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { formatPercent, percentHundredths, type PercentHundredths } from '../money.ts';
import { DEFAULT_API_KEY_SCOPES, generateApiKey, generateWebhookSecret, hashKey, sameHash, type ApiKeyScope } from './keys.ts';

/** A revoked key or a disabled merchant stops working within this long on every instance. */
export const AUTH_CACHE_TTL_MS = 1_000;
/** Bounds the memory an attacker spraying random keys can make this cache use. */
const AUTH_CACHE_ENTRIES_MAX = 50_000;

export interface Merchant {
  id: string;
  name: string;
  status: 'active' | 'disabled';
  feePercent: string;
  /** fee_percent × 100 as an integer (2.00 % → 200n), for exact arithmetic. */
  feeHundredths: PercentHundredths;
  webhookUrl: string | null;
  webhookSecret: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A merchant as one of its keys authenticates it: what that key may do comes with it. */
export interface AuthenticatedMerchant extends Merchant {
  scopes: readonly ApiKeyScope[];
}

export interface ApiKeyInfo {
  keyId: string;
  merchantId: string;
  prefix: string;
  scopes: readonly ApiKeyScope[];
  createdAt: Date;
  revokedAt: Date | null;
}

export interface NewMerchant {
  name: string;
  fee_percent?: string | undefined;
  webhook_url?: string | undefined;
}

export interface MerchantPatch {
  name?: string | undefined;
  fee_percent?: string | undefined;
  /** null clears the default webhook URL. */
  webhook_url?: string | null | undefined;
  status?: 'active' | 'disabled' | undefined;
}

function toMerchant(row: Selectable<MerchantsTable>): Merchant {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    feePercent: row.fee_percent,
    feeHundredths: percentHundredths(row.fee_percent),
    webhookUrl: row.webhook_url,
    webhookSecret: row.webhook_secret,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class Merchants {
  /** hex(sha256(key)) → the active merchant with the key's scopes, or null for an unknown/revoked key. */
  private readonly authCache = new LRUCache<string, { merchant: AuthenticatedMerchant | null }>({
    max: AUTH_CACHE_ENTRIES_MAX,
    ttl: AUTH_CACHE_TTL_MS,
  });

  constructor(private readonly db: Kysely<DB>) {}

  /** The active merchant owning this key, or null. Cached for at most AUTH_CACHE_TTL_MS. */
  async authenticate(apiKey: string): Promise<AuthenticatedMerchant | null> {
    const hash = hashKey(apiKey);
    const cacheKey = hash.toString('hex');
    const hit = this.authCache.get(cacheKey);
    if (hit) return hit.merchant;
    const row = await this.db
      .selectFrom('api_keys as k')
      .innerJoin('merchants as m', 'm.id', 'k.merchant_id')
      .selectAll('m')
      .select(['k.key_hash', 'k.scopes'])
      .where('k.key_hash', '=', hash)
      .where('k.revoked_at', 'is', null)
      .where('m.status', '=', 'active')
      .executeTakeFirst();
    const merchant = row && sameHash(row.key_hash, hash) ? { ...toMerchant(row), scopes: row.scopes as ApiKeyScope[] } : null;
    this.authCache.set(cacheKey, { merchant });
    return merchant;
  }

  /** Called after any change that can revoke access, so this instance refuses at once. */
  private forgetAuthentications(): void {
    this.authCache.clear();
  }

  /** In `outer` when given: the operator console records its audit row in the same transaction. */
  async create(input: NewMerchant, outer?: Transaction<DB>): Promise<{ merchant: Merchant; apiKey: string; prefix: string; keyId: string }> {
    const key = generateApiKey();
    const merchantId = randomUUID();
    const keyId = randomUUID();
    const row = await inTransaction(
      this.db,
      async (trx) => {
        const merchant = await trx
          .insertInto('merchants')
          .values({
            id: merchantId,
            name: input.name,
            fee_percent: input.fee_percent ?? '2.00',
            webhook_url: input.webhook_url ?? null,
            webhook_secret: generateWebhookSecret(),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx.insertInto('api_keys').values({ id: keyId, merchant_id: merchantId, prefix: key.prefix, key_hash: key.hash }).execute();
        return merchant;
      },
      outer,
    );
    return { merchant: toMerchant(row), apiKey: key.apiKey, prefix: key.prefix, keyId };
  }

  /** In creation order. */
  async list(request: PageRequest): Promise<Page<Merchant>> {
    const keys = createdKeys('m');
    let query = this.db.selectFrom('merchants as m').selectAll('m');
    if (request.cursor !== undefined) query = query.where(afterCursor(keys, request.cursor));
    const rows = await query
      .orderBy(keyOf(keys), keys.order)
      .orderBy('m.id', keys.order)
      .limit(request.limit + 1)
      .execute();
    const listed = page(rows, request.limit, (r) => ({ at: r.created_at, id: r.id }));
    return mapPage(listed, toMerchant);
  }

  /** In `trx`, the merchant's row is locked for the change that follows (an embedded database has one session, which `trx` holds). */
  async get(id: string, trx?: Transaction<DB>): Promise<Merchant> {
    if (!isUuid(id)) throw errors.merchantNotFound();
    let query = (trx ?? this.db).selectFrom('merchants').selectAll().where('id', '=', id);
    if (trx) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) throw errors.merchantNotFound();
    return toMerchant(row);
  }

  /** `trx`: the caller's transaction (a cabinet records the change in it). */
  async update(id: string, patch: MerchantPatch, trx?: Transaction<DB>): Promise<Merchant> {
    if (!isUuid(id)) throw errors.merchantNotFound();
    const values = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const row = await (trx ?? this.db)
      .updateTable('merchants')
      .set({ ...values, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw errors.merchantNotFound();
    this.forgetAuthentications();
    return toMerchant(row);
  }

  /** `trx`: the caller's transaction (a cabinet records the new key in it). */
  async createApiKey(
    merchantId: string,
    scopes: readonly ApiKeyScope[] = DEFAULT_API_KEY_SCOPES,
    trx?: Transaction<DB>,
  ): Promise<{ keyId: string; apiKey: string; prefix: string; scopes: readonly ApiKeyScope[] }> {
    await this.get(merchantId, trx);
    const key = generateApiKey();
    const keyId = randomUUID();
    const granted = [...new Set(scopes)];
    await (trx ?? this.db)
      .insertInto('api_keys')
      .values({ id: keyId, merchant_id: merchantId, prefix: key.prefix, key_hash: key.hash, scopes: granted })
      .execute();
    return { keyId, apiKey: key.apiKey, prefix: key.prefix, scopes: granted };
  }

  /** The merchant's keys (revoked ones too), in creation order. */
  async listApiKeys(merchantId: string, request: PageRequest): Promise<Page<ApiKeyInfo>> {
    await this.get(merchantId);
    const keys = createdKeys('k');
    let query = this.db
      .selectFrom('api_keys as k')
      .select(['k.id', 'k.merchant_id', 'k.prefix', 'k.scopes', 'k.created_at', 'k.revoked_at'])
      .where('k.merchant_id', '=', merchantId);
    if (request.cursor !== undefined) query = query.where(afterCursor(keys, request.cursor));
    const rows = await query
      .orderBy(keyOf(keys), keys.order)
      .orderBy('k.id', keys.order)
      .limit(request.limit + 1)
      .execute();
    const listed = page(rows, request.limit, (r) => ({ at: r.created_at, id: r.id }));
    return mapPage(listed, (r) => ({
      keyId: r.id,
      merchantId: r.merchant_id,
      prefix: r.prefix,
      scopes: r.scopes as ApiKeyScope[],
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** Revokes a key; revoking an already revoked key is a no-op, an unknown key a 404. */
  async revokeApiKey(keyId: string): Promise<void> {
    if (!isUuid(keyId)) throw errors.apiKeyNotFound();
    const row = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
      .where('id', '=', keyId)
      .returning('id')
      .executeTakeFirst();
    if (!row) throw errors.apiKeyNotFound();
    this.forgetAuthentications();
  }

  /**
   * Revokes one of this merchant's keys, as its own people do it: another merchant's key is not
   * found (exactly like a missing one), an already revoked key is refused so the person learns
   * nothing changed. The key row is locked, so two revokes of one key settle to one.
   */
  async revokeMerchantApiKey(merchantId: string, keyId: string, outer?: Transaction<DB>): Promise<ApiKeyInfo> {
    if (!isUuid(keyId) || !isUuid(merchantId)) throw errors.apiKeyNotFound();
    const revoked = await inTransaction(
      this.db,
      async (trx) => {
        const key = await trx
          .selectFrom('api_keys')
          .select(['id', 'revoked_at'])
          .where('id', '=', keyId)
          .where('merchant_id', '=', merchantId)
          .forUpdate()
          .executeTakeFirst();
        if (!key) throw errors.apiKeyNotFound();
        if (key.revoked_at !== null) throw errors.apiKeyRevoked();
        return trx
          .updateTable('api_keys')
          .set({ revoked_at: sql<Date>`now()` })
          .where('id', '=', keyId)
          .returning(['id', 'merchant_id', 'prefix', 'scopes', 'created_at', 'revoked_at'])
          .executeTakeFirstOrThrow();
      },
      outer,
    );
    this.forgetAuthentications();
    return {
      keyId: revoked.id,
      merchantId: revoked.merchant_id,
      prefix: revoked.prefix,
      scopes: revoked.scopes as ApiKeyScope[],
      createdAt: revoked.created_at,
      revokedAt: revoked.revoked_at,
    };
  }
}

export function merchantView(m: Merchant) {
  return {
    merchant_id: m.id,
    name: m.name,
    status: m.status,
    fee_percent: formatPercent(m.feePercent),
    webhook_url: m.webhookUrl,
    created_at: isoSeconds(m.createdAt),
    updated_at: isoSeconds(m.updatedAt),
  };
}

export function apiKeyView(k: ApiKeyInfo) {
  return {
    key_id: k.keyId,
    merchant_id: k.merchantId,
    prefix: k.prefix,
    scopes: k.scopes,
    created_at: isoSeconds(k.createdAt),
    revoked_at: k.revokedAt ? isoSeconds(k.revokedAt) : null,
  };
}

// The merchant's webhook signing material: the webhooks module decides it (secrets, key pairs,
// the rotation's overlap); the merchants row, written here only, keeps it.

/** The new secret signs from now on; the old one until previousValidUntil. Undefined: no such merchant. */
export async function rotateWebhookSecret(db: Kysely<DB>, merchantId: string, change: { secret: string; previousValidUntil: Date; now: Date }) {
  return db
    .updateTable('merchants')
    .set((eb) => ({
      previous_webhook_secret: eb.ref('webhook_secret'),
      previous_webhook_secret_expires: change.previousValidUntil,
      webhook_secret: change.secret,
      updated_at: change.now,
    }))
    .where('id', '=', merchantId)
    .returning('id')
    .executeTakeFirst();
}

/** Sets (or replaces) the Ed25519 key pair whose v1a signatures the merchant may verify. */
export async function setWebhookSigningKey(db: Kysely<DB>, merchantId: string, pair: { privateKey: string; publicKey: string; now: Date }) {
  return db
    .updateTable('merchants')
    .set({ webhook_ed25519_private: pair.privateKey, webhook_ed25519_public: pair.publicKey, updated_at: pair.now })
    .where('id', '=', merchantId)
    .returning('id')
    .executeTakeFirst();
}
