// What merchants and operators see and do with webhooks: the delivery log, resend, a test ping,
// secret rotation, the Ed25519 key pair, and delivery statistics.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { isoSeconds } from '../clock.ts';
import type { DB, DeliveryStatus, MerchantsTable } from '../db/schema.ts';
import { afterCursor, type KeyColumns, mapPage, page } from '../db/cursor.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import { generateWebhookSecret } from '../merchants/keys.ts';
import { rotateWebhookSecret, setWebhookSigningKey } from '../merchants/service.ts';
import type { Metrics } from '../metrics.ts';
import { answerView } from './answer.ts';
import { signingKeysOf, webhookBody, webhookHeaders } from './delivery.ts';
import type { WebhookSender } from './sender.ts';
import { generateSigningKeyPair } from './signer.ts';
import { PingsInFlight, TEST_PINGS_IN_FLIGHT_MAX, TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX } from './test-pings.ts';

/** How long a rotated-out secret keeps signing, so merchants roll without downtime. */
export const SECRET_ROTATION_OVERLAP_MS = 24 * 3600_000;
export const DELIVERY_LIST_LIMIT_MAX = 100;

export interface DeliveryFilter {
  invoiceId?: string | undefined;
  status?: DeliveryStatus | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** Deliveries are ordered by created_at, which Kasa's clock writes (milliseconds), then event id. */
const DELIVERY_KEYS: KeyColumns = { alias: 'd', at: 'created_at', id: 'event_id', truncate: false, order: 'desc' };

export class Webhooks {
  private readonly pingsByMerchant = new PingsInFlight(TEST_PINGS_IN_FLIGHT_MAX);
  private readonly pingsByHost = new PingsInFlight(TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX);

  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly sender: WebhookSender,
    private readonly metrics: Metrics,
  ) {}

  /** A merchant's deliveries with their event type: only its own are ever visible. */
  private deliveriesOf(merchantId: string, trx?: Transaction<DB>) {
    return (trx ?? this.db)
      .selectFrom('deliveries as d')
      .innerJoin('events as e', 'e.id', 'd.event_id')
      .selectAll('d')
      .select('e.type')
      .where('d.merchant_id', '=', merchantId);
  }

  async list(merchantId: string, filter: DeliveryFilter) {
    let query = this.deliveriesOf(merchantId);
    if (filter.invoiceId !== undefined) {
      if (!isUuid(filter.invoiceId)) return { items: [], next_cursor: null };
      query = query.where('d.invoice_id', '=', filter.invoiceId);
    }
    if (filter.status !== undefined) query = query.where('d.status', '=', filter.status);
    if (filter.cursor !== undefined) query = query.where(afterCursor(DELIVERY_KEYS, filter.cursor));
    const rows = await query
      .orderBy('d.created_at', 'desc')
      .orderBy('d.event_id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    const listed = page(rows, filter.limit, (d) => ({ at: d.created_at, id: d.event_id }));
    return mapPage(listed, deliveryView);
  }

  async get(merchantId: string, eventId: string, trx?: Transaction<DB>) {
    if (!isUuid(eventId)) throw errors.deliveryNotFound();
    const row = await this.deliveriesOf(merchantId, trx).where('d.event_id', '=', eventId).executeTakeFirst();
    if (!row) throw errors.deliveryNotFound();
    const attempts = await (trx ?? this.db)
      .selectFrom('delivery_attempts')
      .selectAll()
      .where('event_id', '=', eventId)
      .orderBy('attempted_at')
      .orderBy('id')
      .execute();
    return {
      ...deliveryView(row),
      attempts: attempts.map((a) => ({
        attempted_at: isoSeconds(a.attempted_at),
        status_code: a.status_code,
        duration_ms: a.duration_ms,
        ...answerView(a.response_body),
        error: a.error,
      })),
    };
  }

  /** Queues a delivery again now, with a fresh retry schedule; also for failed ones. */
  async resend(merchantId: string, eventId: string, trx?: Transaction<DB>) {
    if (!isUuid(eventId)) throw errors.deliveryNotFound();
    const now = this.clock.now();
    // The lease is left alone: clearing it while a worker was sending let another worker claim
    // and send the same event at once. A live holder records its outcome as usual; a dead one's
    // lease lapses and no longer keeps the delivery from being claimed.
    const row = await (trx ?? this.db)
      .updateTable('deliveries')
      .set({ status: 'pending', failure_reason: null, attempts: 0, next_attempt_at: now, updated_at: now })
      .where('event_id', '=', eventId)
      .where('merchant_id', '=', merchantId)
      .returning('event_id')
      .executeTakeFirst();
    if (!row) throw errors.deliveryNotFound();
    return this.get(merchantId, eventId, trx);
  }

  /**
   * Sends a signed `ping` to the merchant's webhook_url now and answers with the attempt; at most
   * TEST_PINGS_IN_FLIGHT_MAX per merchant and TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX per target host
   * at once. The merchant's slot is taken first, so a burst of pings is refused before it costs
   * a query each.
   */
  async ping(merchantId: string) {
    const now = this.clock.now();
    const merchantSlot = this.pingsByMerchant.take(merchantId, now);
    if (!('release' in merchantSlot)) throw errors.webhookTestBusy('merchant', this.pingsByMerchant.max, merchantSlot.retryAfterSeconds);
    try {
      const merchant = await this.db.selectFrom('merchants').selectAll().where('id', '=', merchantId).executeTakeFirst();
      if (!merchant) throw errors.merchantNotFound();
      if (!merchant.webhook_url) throw errors.noWebhookUrl();
      const host = new URL(merchant.webhook_url).hostname.toLowerCase();
      const hostSlot = this.pingsByHost.take(host, now);
      if (!('release' in hostSlot)) throw errors.webhookTestBusy('target_host', this.pingsByHost.max, hostSlot.retryAfterSeconds);
      try {
        return await this.sendPing(merchant, merchant.webhook_url, host, now);
      } finally {
        hostSlot.release();
      }
    } finally {
      merchantSlot.release();
    }
  }

  private async sendPing(merchant: Selectable<MerchantsTable>, url: string, host: string, now: Date) {
    const merchantId = merchant.id;
    const eventId = randomUUID();
    const payload = { merchant_id: merchantId };
    const body = webhookBody({ id: eventId, type: 'ping', createdAt: now, payload });
    const result = await this.sender.send(url, webhookHeaders(signingKeysOf(merchant, now), eventId, now, body), body);
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    this.metrics.webhookAttempts.inc({ outcome: ok ? 'delivered' : 'failed' });
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('events')
        .values({ id: eventId, merchant_id: merchantId, invoice_id: null, type: 'ping', payload: JSON.stringify(payload), created_at: now })
        .execute();
      await trx
        .insertInto('deliveries')
        .values({
          event_id: eventId,
          merchant_id: merchantId,
          invoice_id: null,
          target_url: url,
          target_host: host,
          status: ok ? 'delivered' : 'failed',
          failure_reason: ok ? null : 'test',
          attempts: 1,
          next_attempt_at: now,
          last_status: result.statusCode,
          last_error: result.error,
          created_at: now,
          delivered_at: ok ? now : null,
          updated_at: now,
        })
        .execute();
      await trx
        .insertInto('delivery_attempts')
        .values({
          event_id: eventId,
          merchant_id: merchantId,
          attempted_at: now,
          status_code: result.statusCode,
          duration_ms: result.durationMs,
          response_body: result.responseBody,
          error: result.error,
        })
        .execute();
    });
    return {
      event_id: eventId,
      delivered: ok,
      status_code: result.statusCode,
      duration_ms: result.durationMs,
      ...answerView(result.responseBody),
      error: result.error,
    };
  }

  /** A new signing secret; the previous one keeps signing for SECRET_ROTATION_OVERLAP_MS. */
  async rotateSecret(merchantId: string, trx?: Transaction<DB>) {
    if (!isUuid(merchantId)) throw errors.merchantNotFound();
    const now = this.clock.now();
    const expires = new Date(now.getTime() + SECRET_ROTATION_OVERLAP_MS);
    const secret = generateWebhookSecret();
    const row = await rotateWebhookSecret(trx ?? this.db, merchantId, { secret, previousValidUntil: expires, now });
    if (!row) throw errors.merchantNotFound();
    return { webhook_secret: secret, previous_secret_valid_until: isoSeconds(expires) };
  }

  /** Creates (or replaces) the merchant's Ed25519 key pair; returns the public key. */
  async createSigningKey(merchantId: string, trx?: Transaction<DB>) {
    if (!isUuid(merchantId)) throw errors.merchantNotFound();
    const pair = generateSigningKeyPair();
    const row = await setWebhookSigningKey(trx ?? this.db, merchantId, { ...pair, now: this.clock.now() });
    if (!row) throw errors.merchantNotFound();
    return { public_key: pair.publicKey };
  }

  /**
   * What the merchant's webhooks are sent with, never a secret: the default URL, the Ed25519
   * public key, and until when a rotated-out secret still signs.
   */
  async settings(merchantId: string, trx?: Transaction<DB>) {
    if (!isUuid(merchantId)) throw errors.merchantNotFound();
    const row = await (trx ?? this.db)
      .selectFrom('merchants')
      .select(['webhook_url', 'webhook_ed25519_public', 'previous_webhook_secret_expires'])
      .where('id', '=', merchantId)
      .executeTakeFirst();
    if (!row) throw errors.merchantNotFound();
    return settingsView(row, this.clock.now());
  }

  async stats() {
    const now = this.clock.now();
    const { rows } = await sql<{ status: string; n: bigint; oldest: Date | null }>`
      SELECT status, count(*) AS n, min(created_at) FILTER (WHERE status = 'pending') AS oldest
        FROM deliveries GROUP BY status`.execute(this.db);
    const counts: Record<string, number> = { pending: 0, delivered: 0, failed: 0 };
    let oldest: Date | null = null;
    for (const row of rows) {
      counts[row.status] = Number(row.n);
      if (row.oldest) oldest = row.oldest;
    }
    return { counts, oldest_pending_age_seconds: oldest ? Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)) : null };
  }
}

function settingsView(row: { webhook_url: string | null; webhook_ed25519_public: string | null; previous_webhook_secret_expires: Date | null }, now: Date) {
  const overlap = row.previous_webhook_secret_expires;
  return {
    webhook_url: row.webhook_url,
    signing_public_key: row.webhook_ed25519_public,
    previous_secret_valid_until: overlap !== null && overlap.getTime() > now.getTime() ? isoSeconds(overlap) : null,
  };
}

function deliveryView(d: {
  event_id: string;
  type: string;
  invoice_id: string | null;
  withdrawal_id: string | null;
  target_url: string;
  status: DeliveryStatus;
  failure_reason: string | null;
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}) {
  return {
    event_id: d.event_id,
    type: d.type,
    invoice_id: d.invoice_id,
    withdrawal_id: d.withdrawal_id,
    target_url: d.target_url,
    status: d.status,
    failure_reason: d.failure_reason,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? isoSeconds(d.next_attempt_at) : null,
    last_status: d.last_status,
    last_error: d.last_error,
    created_at: isoSeconds(d.created_at),
    delivered_at: d.delivered_at ? isoSeconds(d.delivered_at) : null,
  };
}
