// Invoice and withdrawal events and their webhook deliveries: one event per final transition, written in the
// transaction of the transition itself, so an event exists exactly when its change committed and
// is never lost. Each event with a target (the invoice's callback_url, else the merchant's
// webhook_url) gets a pending delivery in the same statement; the delivery worker sends it.
import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { InvoiceView } from '../invoices/service.ts';
import type { WithdrawalView } from '../treasury/views.ts';

export type InvoiceEventType = 'invoice.success' | 'invoice.expired' | 'invoice.cancelled' | 'invoice.processing';

export interface InvoiceEvent {
  merchantId: string;
  invoiceId: string;
  type: InvoiceEventType;
  /** The invoice as the merchant API shows it after the transition. */
  invoice: InvoiceView;
  createdAt: Date;
}

/** The host of a URL in SQL, as the per-target concurrency cap groups deliveries. */
const TARGET_HOST_SQL = sql`lower(substring(target from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?(\\[[^\\]]+\\]|[^/:?#]+)'))`;

/** Inserts the events and their deliveries in one statement, however many there are. */
export async function recordEvents(trx: Transaction<DB>, events: InvoiceEvent[]): Promise<void> {
  if (events.length === 0) return;
  await sql`
    WITH new_events AS (
      INSERT INTO events (id, merchant_id, invoice_id, type, payload, created_at)
      SELECT * FROM unnest(${events.map(() => randomUUID())}::uuid[], ${events.map((e) => e.merchantId)}::uuid[],
                           ${events.map((e) => e.invoiceId)}::uuid[], ${events.map((e) => e.type)}::text[],
                           ${events.map((e) => JSON.stringify(e.invoice))}::json[],
                           ${events.map((e) => e.createdAt.toISOString())}::timestamptz[])
      RETURNING id, merchant_id, invoice_id, payload, created_at
    ), targeted AS (
      SELECT e.id, e.merchant_id, e.invoice_id, e.created_at,
             coalesce(e.payload ->> 'callback_url', m.webhook_url) AS target
        FROM new_events e JOIN merchants m ON m.id = e.merchant_id
    )
    INSERT INTO deliveries (event_id, merchant_id, invoice_id, target_url, target_host, next_attempt_at, created_at, updated_at)
    SELECT id, merchant_id, invoice_id, target, ${TARGET_HOST_SQL}, created_at, created_at, created_at
      FROM targeted WHERE target IS NOT NULL`.execute(trx);
}

export type WithdrawalEventType = 'withdrawal.completed' | 'withdrawal.rejected';

export interface WithdrawalEvent {
  merchantId: string;
  withdrawalId: string;
  type: WithdrawalEventType;
  /** The withdrawal as GET /api/v1/withdrawals/{id} shows it after the transition. */
  withdrawal: WithdrawalView;
  createdAt: Date;
}

/** A merchant's withdrawal event and its delivery to the merchant's webhook_url, if it has one. */
export async function recordWithdrawalEvent(trx: Transaction<DB>, event: WithdrawalEvent): Promise<void> {
  await sql`
    WITH new_event AS (
      INSERT INTO events (id, merchant_id, withdrawal_id, type, payload, created_at)
      VALUES (${randomUUID()}, ${event.merchantId}, ${event.withdrawalId}, ${event.type}, ${JSON.stringify(event.withdrawal)}::json,
              ${event.createdAt.toISOString()}::timestamptz)
      RETURNING id, merchant_id, withdrawal_id, created_at
    ), targeted AS (
      SELECT e.id, e.merchant_id, e.withdrawal_id, e.created_at, m.webhook_url AS target
        FROM new_event e JOIN merchants m ON m.id = e.merchant_id
    )
    INSERT INTO deliveries (event_id, merchant_id, withdrawal_id, target_url, target_host, next_attempt_at, created_at, updated_at)
    SELECT id, merchant_id, withdrawal_id, target, ${TARGET_HOST_SQL}, created_at, created_at, created_at
      FROM targeted WHERE target IS NOT NULL`.execute(trx);
}

export type DisputeEventType = 'dispute.opened' | 'dispute.updated' | 'dispute.resolved';

export interface DisputeEvent {
  merchantId: string;
  disputeId: string;
  /** The dispute's invoice: its deliveries go out in order with the invoice's own. */
  invoiceId: string;
  /** The dispute's version after the transition: one event per transition. */
  version: number;
  type: DisputeEventType;
  /** The dispute as GET /api/v1/disputes/{id} shows it after the transition. */
  dispute: unknown;
  createdAt: Date;
}

/**
 * A dispute's event and its delivery, to the invoice's callback_url or else the merchant's
 * webhook_url, as the invoice's own events go. The delivery carries the invoice's id, so a
 * dispute.resolved goes out before the invoice.success written after it.
 */
export async function recordDisputeEvent(trx: Transaction<DB>, event: DisputeEvent): Promise<void> {
  await sql`
    WITH new_event AS (
      INSERT INTO events (id, merchant_id, dispute_id, dispute_version, type, payload, created_at)
      VALUES (${randomUUID()}, ${event.merchantId}, ${event.disputeId}, ${event.version}, ${event.type}, ${JSON.stringify(event.dispute)}::json,
              ${event.createdAt.toISOString()}::timestamptz)
      RETURNING id, merchant_id, created_at
    ), targeted AS (
      SELECT e.id, e.merchant_id, e.created_at, coalesce(i.callback_url, m.webhook_url) AS target
        FROM new_event e JOIN merchants m ON m.id = e.merchant_id JOIN invoices i ON i.id = ${event.invoiceId}::uuid
    )
    INSERT INTO deliveries (event_id, merchant_id, invoice_id, target_url, target_host, next_attempt_at, created_at, updated_at)
    SELECT id, merchant_id, ${event.invoiceId}::uuid, target, ${TARGET_HOST_SQL}, created_at, created_at, created_at
      FROM targeted WHERE target IS NOT NULL`.execute(trx);
}
