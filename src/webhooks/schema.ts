// How webhook deliveries, the test ping and the signing keys are documented, and the webhooks
// Kasa sends, as OpenAPI 3.1 `webhooks`: the body is the exact bytes delivery.ts signs.
import { nullableTimestamp, record, timestamp } from '../http/schemas.ts';
import type { JsonSchema } from '../http/validation.ts';
import { invoiceObject } from '../invoices/schema.ts';
import { withdrawalObject } from '../treasury/withdrawal-schema.ts';
import { RESPONSE_BODY_BYTES_MAX } from './answer.ts';

const nullableInteger = (description: string): JsonSchema => ({ type: ['integer', 'null'], description });
const nullableString = (description: string): JsonSchema => ({ type: ['string', 'null'], description });

/** The receiver's answer, in the same two fields wherever an attempt is shown: any bytes, losslessly. */
const answerProperties: Record<string, JsonSchema> = {
  response_body: nullableString(
    `The first ${RESPONSE_BODY_BYTES_MAX} bytes of the receiver's answer, exactly as sent (a cut inside a UTF-8 character ends before it). ` +
      'Text when those bytes are valid UTF-8 (a NUL included, as \\u0000); otherwise base64 of the bytes. response_body_encoding says which. null when no HTTP answer came back.',
  ),
  response_body_encoding: {
    type: ['string', 'null'],
    enum: ['utf8', 'base64', null],
    description:
      'utf8: response_body is the answer as text; base64: the answer was not valid UTF-8 and response_body is base64 of its bytes; null with response_body null',
  },
};

export const deliveryObject = record({
  event_id: { type: 'string', format: 'uuid', description: 'The event id: the webhook-id header, the idempotency key' },
  type: {
    type: 'string',
    enum: ['invoice.success', 'invoice.expired', 'invoice.cancelled', 'invoice.processing', 'withdrawal.completed', 'withdrawal.rejected', 'ping'],
  },
  invoice_id: { type: ['string', 'null'], format: 'uuid', description: 'The invoice of an invoice event; null otherwise' },
  withdrawal_id: { type: ['string', 'null'], format: 'uuid', description: 'The withdrawal of a withdrawal event; null otherwise' },
  target_url: { type: 'string' },
  status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
  failure_reason: nullableString('Why the delivery failed (gone, attempts_exhausted, test); null otherwise'),
  attempts: { type: 'integer', minimum: 0 },
  next_attempt_at: nullableTimestamp('When the next attempt is due; null unless pending'),
  last_status: nullableInteger('HTTP status of the last attempt; null if it got no answer'),
  last_error: nullableString('Why the last attempt got no answer'),
  created_at: timestamp('When the event happened'),
  delivered_at: nullableTimestamp('When an attempt got a 2xx'),
});

const attemptObject = record({
  attempted_at: timestamp('When the attempt was sent'),
  status_code: nullableInteger('HTTP status of the answer; null if none came'),
  duration_ms: { type: 'integer', minimum: 0 },
  ...answerProperties,
  error: nullableString('Why no answer came (timeout, refused, blocked address)'),
});

export const deliveryWithAttempts = record({
  ...(deliveryObject.properties as Record<string, JsonSchema>),
  attempts: { type: 'array', items: attemptObject, description: 'Every attempt, oldest first' },
});

export const pingResult = record({
  event_id: { type: 'string', format: 'uuid', description: 'The ping event (its webhook-id)' },
  delivered: { type: 'boolean', description: 'The webhook URL answered 2xx' },
  status_code: nullableInteger('HTTP status of the answer; null if none came'),
  duration_ms: { type: 'integer', minimum: 0 },
  ...answerProperties,
  error: nullableString('Why no answer came'),
});

export const deliveryStats = record({
  counts: record({ pending: { type: 'integer' }, delivered: { type: 'integer' }, failed: { type: 'integer' } }, 'Deliveries by status'),
  oldest_pending_age_seconds: nullableInteger('Age of the oldest pending delivery; null when none is pending'),
});

export const rotatedSecret = record({
  webhook_secret: { type: 'string', description: 'The new signing secret (whsec_…)' },
  previous_secret_valid_until: timestamp('Until then webhooks carry a signature by the old secret too'),
});

export const webhookSettings = record({
  webhook_url: nullableString('Where webhooks go unless an invoice names its own callback_url; null: nowhere'),
  signing_public_key: nullableString('The Ed25519 public key (whpk_…) that verifies the v1a signatures; null until a key pair is created'),
  previous_secret_valid_until: nullableTimestamp('Until then webhooks carry a signature by the secret before the last rotation too; null when none does'),
});

export const signingPublicKey = record({
  public_key: { type: 'string', description: 'Ed25519 public key (whpk_…) that verifies the v1a signatures' },
});

// ---------------------------------------------------------------------------------------------
// The webhooks themselves, with the Standard Webhooks 1.0 headers.

const webhookHeaders = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description: 'The event id; the same on every attempt: your idempotency key',
    schema: { type: 'string', format: 'uuid' },
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description: 'Unix seconds of this attempt',
    schema: { type: 'string', pattern: '^[0-9]+$' },
    example: '1772020800',
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description:
      'Space-separated signatures: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" by the whsec_ secret> (two while a rotated-out secret still signs), and v1a,<base64 Ed25519> once a key pair exists',
    schema: { type: 'string' },
  },
];

function eventBody(type: string, data: JsonSchema, description: string): JsonSchema {
  return record(
    {
      id: { type: 'string', format: 'uuid', description: 'The event id, as in webhook-id' },
      type: { type: 'string', enum: [type] },
      timestamp: timestamp('When the event happened'),
      data,
    },
    description,
  );
}

function webhook(type: string, operationId: string, summary: string, data: JsonSchema) {
  return {
    post: {
      operationId,
      summary,
      tags: ['webhooks'],
      security: [],
      parameters: webhookHeaders,
      requestBody: { required: true, content: { 'application/json': { schema: eventBody(type, data, summary) } } },
      responses: {
        '200': { description: 'Any 2xx: delivered; Kasa sends this event no more' },
        '410': { description: 'Gone: Kasa stops retrying this delivery' },
      },
    },
  };
}

const invoiceAfter = { ...invoiceObject, description: 'The invoice as GET /api/v1/invoices/{invoice_id} shows it after the change' };

const withdrawalAfter = { ...withdrawalObject, description: 'The withdrawal as GET /api/v1/withdrawals/{withdrawal_id} shows it after the change' };

/** The events Kasa sends (outbox.ts, webhooks/service.ts), in the OpenAPI 3.1 `webhooks` section. */
export const webhookEvents = {
  'invoice.success': webhook('invoice.success', 'invoiceSuccessWebhook', 'The invoice was paid: the merchant balance is credited', invoiceAfter),
  'invoice.expired': webhook('invoice.expired', 'invoiceExpiredWebhook', 'The invoice expired unpaid', invoiceAfter),
  'invoice.cancelled': webhook('invoice.cancelled', 'invoiceCancelledWebhook', 'The invoice was cancelled', invoiceAfter),
  'invoice.processing': webhook(
    'invoice.processing',
    'invoiceProcessingWebhook',
    'The customer said they paid: the payment is being checked (the invoice stays pending; once per invoice)',
    invoiceAfter,
  ),
  'withdrawal.completed': webhook(
    'withdrawal.completed',
    'withdrawalCompletedWebhook',
    'The withdrawal was sent: tx_hash is its chain transaction',
    withdrawalAfter,
  ),
  'withdrawal.rejected': webhook(
    'withdrawal.rejected',
    'withdrawalRejectedWebhook',
    'The operator rejected the withdrawal: its amount is back in the balance',
    withdrawalAfter,
  ),
  ping: webhook('ping', 'pingWebhook', 'A test sent by POST /api/v1/webhooks/test', record({ merchant_id: { type: 'string', format: 'uuid' } })),
};
