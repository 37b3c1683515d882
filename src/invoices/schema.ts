// The merchant invoice API's request models and response schemas, as documented.
import { dateTime, fiatAmount, integer, enumeration, model, optional, string, url, type Model } from '../http/validation.ts';
import { checkWebhookTarget } from '../webhooks/ssrf.ts';
import type { JsonSchema } from '../http/validation.ts';
import { INVOICE_STATUSES, STATUS_DETAILS, TRANSITION_ACTORS } from '../lifecycle.ts';
import { record, timestamp } from '../http/schemas.ts';

export const URL_LENGTH_MAX = 2048;
export const LIST_LIMIT_MAX = 100;
const LIST_LIMIT_DEFAULT = 20;

export function createInvoiceBody(webhookAllowPrivate: boolean) {
  return model(
    {
      amount: fiatAmount({ description: 'Payment amount in fiat currency', example: '1500.00' }),
      currency_code: string({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 currency code (3 uppercase letters)', example: 'UAH' }),
      customer_id: string({ min: 1, max: 128, description: 'Unique customer identifier in your system. Used for rate limiting', example: 'user_12345' }),
      external_id: string({ min: 1, max: 128, description: 'Your unique invoice/order ID. Must be unique per merchant.', example: 'order-2026-0001' }),
      purpose: optional(
        string({ max: 255, description: 'Payment description shown to customer on payment page', example: 'Payment for Premium subscription' }),
      ),
      callback_url: optional(
        url({
          schemes: ['http', 'https'],
          maxLength: URL_LENGTH_MAX,
          check: (u) => checkWebhookTarget(u, webhookAllowPrivate),
          description: 'HTTPS URL for webhook notifications. Overrides merchant default webhook_url',
          example: 'https://yoursite.com/webhooks/payment',
        }),
      ),
      success_url: optional(
        url({
          schemes: ['http', 'https'],
          maxLength: URL_LENGTH_MAX,
          description: 'URL to redirect customer after successful payment',
          example: 'https://yoursite.com/payment/success',
        }),
      ),
      fail_url: optional(
        url({
          schemes: ['http', 'https'],
          maxLength: URL_LENGTH_MAX,
          description: 'URL to redirect customer after failed/expired payment',
          example: 'https://yoursite.com/payment/failed',
        }),
      ),
    },
    { description: 'Create an invoice' },
  );
}

const isoDateTime = dateTime({ description: 'ISO 8601 date-time with a zone' });

export const listInvoicesQuery = model({
  status: optional(enumeration(['pending', 'success', 'expired', 'cancelled'] as const)),
  external_id: optional(string({ min: 1, max: 128 })),
  customer_id: optional(string({ min: 1, max: 128 })),
  created_from: optional(isoDateTime),
  created_to: optional(isoDateTime),
  limit: optional(integer({ min: 1, max: LIST_LIMIT_MAX, description: `Page size, default ${LIST_LIMIT_DEFAULT}` })),
  cursor: optional(string({ min: 1, max: 64, description: 'next_cursor of the previous page' })),
});
export { LIST_LIMIT_DEFAULT };

export const exportInvoicesQuery = model({
  status: optional(enumeration(['pending', 'success', 'expired', 'cancelled'] as const)),
  external_id: optional(string({ min: 1, max: 128 })),
  customer_id: optional(string({ min: 1, max: 128 })),
  created_from: optional(isoDateTime),
  created_to: optional(isoDateTime),
});

export const invoiceIdParams: Model<{ invoice_id: string }> = model({
  invoice_id: string({ min: 1, max: 64, description: 'Internal invoice ID (UUID)' }),
});

const nullableString = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: ['string', 'null'], description, ...extra });

/** The invoice as create-invoice answers it: the seed's fields, exactly. */
export const createdInvoiceObject: JsonSchema = {
  type: 'object',
  required: [
    'invoice_id',
    'external_id',
    'amount',
    'currency',
    'conversion_rate',
    'merchant_usdt',
    'status',
    'payment_link',
    'customer_id',
    'purpose',
    'callback_url',
    'success_url',
    'fail_url',
    'created_at',
    'expires_at',
    'paid_at',
  ],
  properties: {
    invoice_id: { type: 'string', format: 'uuid', description: 'Internal invoice ID (UUID). Use this to query invoice status' },
    external_id: { type: 'string', description: 'Your external_id passed in the request' },
    amount: { type: 'string', description: 'Invoice amount in fiat currency', examples: ['1500.00'] },
    currency: { type: 'string', description: 'Currency code (e.g. UAH, USD)' },
    conversion_rate: { type: 'string', description: 'USDT/fiat conversion rate applied to this invoice', examples: ['41.50'] },
    merchant_usdt: {
      type: 'string',
      description: 'USDT amount that will be credited to merchant balance after payment (after commissions)',
      examples: ['35.42'],
    },
    status: {
      type: 'string',
      enum: ['pending', 'success', 'expired', 'cancelled'],
      description: 'Invoice status: pending — awaiting payment, success — paid, expired — not paid in time, cancelled — cancelled',
    },
    payment_link: { type: 'string', description: 'URL to redirect the customer for payment. Valid until expires_at' },
    customer_id: { type: 'string', description: 'Customer ID from the request' },
    purpose: nullableString('Payment description from the request'),
    callback_url: nullableString('Webhook URL that will receive payment notifications'),
    success_url: nullableString('Customer redirect URL on successful payment'),
    fail_url: nullableString('Customer redirect URL on failed/expired payment'),
    created_at: { type: 'string', format: 'date-time', description: 'Invoice creation timestamp (ISO 8601 UTC)' },
    expires_at: { type: 'string', format: 'date-time', description: 'Invoice expiration timestamp (ISO 8601 UTC). After this time the invoice cannot be paid' },
    paid_at: nullableString('Payment completion timestamp (ISO 8601 UTC). null until paid', { format: 'date-time' }),
  },
};

/** Every other invoice object (reads, lists, cancel, webhooks): the seed's fields and what Kasa added after. */
export const invoiceObject: JsonSchema = {
  type: 'object',
  required: [...(createdInvoiceObject.required as string[]), 'paid_amount', 'status_detail'],
  properties: {
    ...(createdInvoiceObject.properties as Record<string, JsonSchema>),
    paid_amount: nullableString('The fiat amount received, which may differ from amount (status_detail recalculated); null until paid', {
      examples: ['1450.00'],
    }),
    status_detail: {
      type: ['string', 'null'],
      enum: [...STATUS_DETAILS, null],
      description:
        'Why the invoice is in its status, beside the four statuses: recalculated (paid another amount; merchant_usdt recomputed at the locked rate), ' +
        'paid_late (confirmed after it expired: success may follow expired), dispute_resolved, customer_timeout (expired with a deal), ' +
        'no_trader (expired without one), merchant_cancelled, operator; null while pending and for an exact payment',
    },
  },
};

export const invoicePage: JsonSchema = {
  type: 'object',
  required: ['items', 'next_cursor'],
  properties: {
    items: { type: 'array', items: invoiceObject },
    next_cursor: { type: ['string', 'null'], description: 'Pass as cursor for the next page; null on the last page' },
  },
};

/** The operator's invoice: the merchant's object and what only the operator reads (GET /admin/v1/invoices/{id}). */
export const operatorInvoiceObject: JsonSchema = {
  type: 'object',
  required: [
    ...(invoiceObject.required as string[]),
    'merchant_id',
    'fee_percent',
    'gross_usdt',
    'rate_source',
    'raw_rate',
    'markup_percent',
    'rate_fetched_at',
  ],
  properties: {
    ...(invoiceObject.properties as Record<string, JsonSchema>),
    merchant_id: { type: 'string', format: 'uuid' },
    fee_percent: { type: 'string', description: "The merchant's commission when the invoice was created", examples: ['2.00'] },
    gross_usdt: { type: 'string', description: 'amount / conversion_rate, before the commission', examples: ['36.144578'] },
    rate_source: { type: 'string', enum: ['manual', 'http_json'], description: 'Where conversion_rate came from' },
    raw_rate: nullableString("The source's quote before the markup (a manual rate is its own); null for invoices older than rate sources", {
      examples: ['41.00'],
    }),
    markup_percent: nullableString('The markup applied: conversion_rate = raw_rate × (1 + markup_percent/100), to 6 places', { examples: ['1.25'] }),
    rate_fetched_at: nullableString('When the source gave the quote; null for a manual rate', { format: 'date-time' }),
  },
};

/** GET …/invoices/{invoice_id}/history: the creation, then each status change once, oldest first. */
export const invoiceHistoryObject: JsonSchema = record({
  invoice_id: { type: 'string', format: 'uuid' },
  items: {
    type: 'array',
    description: 'The creation (from_status null, status pending), then every transition in order',
    items: record({
      from_status: { type: ['string', 'null'], enum: [...INVOICE_STATUSES, null], description: 'null for the creation' },
      status: { type: 'string', enum: INVOICE_STATUSES },
      status_detail: { type: ['string', 'null'], enum: [...STATUS_DETAILS, null] },
      actor: { type: 'string', enum: TRANSITION_ACTORS, description: 'Who made the change: trader, operator, merchant, customer or system' },
      at: timestamp('When the change was made'),
    }),
  },
});
