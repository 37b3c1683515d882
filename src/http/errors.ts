// Typed errors of the domain and the one place that maps them, and everything else, to HTTP.
// Domain code throws a KasaError; routes never build error bodies themselves.
import type { ValidationIssue } from './validation.ts';

export type ErrorDetails = Record<string, unknown>;

export class KasaError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetails,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'KasaError';
  }
}

/** 422 in FastAPI's shape: every violation, Pydantic v2's types and messages. */
export class RequestValidationError extends Error {
  readonly statusCode = 422;
  constructor(readonly issues: ValidationIssue[]) {
    super('Request validation failed');
    this.name = 'RequestValidationError';
  }
}

/** 400 in the seed's shape, for bodies that are not JSON at all. */
export class MalformedRequestError extends Error {
  readonly statusCode = 400;
  constructor(readonly details: { field: string; message: string }[]) {
    super('The request contains invalid parameters or malformed data');
    this.name = 'MalformedRequestError';
  }
}

export const DuplicateExternalId = (invoiceId: string) =>
  new KasaError(409, 'DUPLICATE_EXTERNAL_ID', 'External ID for this merchant is already exists, try to generate another External ID', {
    invoice_id: invoiceId,
  });

export const errors = {
  apiKeyMissing: () => new KasaError(401, 'API_KEY_MISSING', 'Missing X-Api-Key header'),
  apiKeyInvalid: () => new KasaError(401, 'API_KEY_INVALID', 'Invalid or inactive API key'),
  unauthorized: () => new KasaError(401, 'UNAUTHORIZED', 'Missing or invalid admin token'),
  dealsDisabled: () => new KasaError(503, 'DEALS_SYSTEM_DISABLED', 'Deals system is disabled'),
  currencyInvalid: () => new KasaError(400, 'CURRENCY_INVALID', 'Currency not found or disabled'),
  amountOutOfRange: (min: string | null, max: string | null) =>
    new KasaError(400, 'AMOUNT_OUT_OF_RANGE', 'Amount is outside the allowed range for this currency', {
      min_amount: min,
      max_amount: max,
    }),
  rateUnavailable: () => new KasaError(503, 'RATE_UNAVAILABLE', 'Exchange rate is not available'),
  customerRateLimited: (reason: 'rate' | 'pending', retryAfterSeconds: number) =>
    new KasaError(
      429,
      'CUSTOMER_RATE_LIMITED',
      reason === 'rate'
        ? 'Too many invoices for this customer in the last minute'
        : 'Too many pending invoices for this customer',
      { reason, retry_after_seconds: retryAfterSeconds },
      { 'retry-after': String(retryAfterSeconds) },
    ),
  duplicateExternalId: DuplicateExternalId,
  invoiceNotFound: () => new KasaError(404, 'INVOICE_NOT_FOUND', 'Invoice not found'),
  invoiceNotPending: (status: string) =>
    new KasaError(409, 'INVOICE_NOT_PENDING', `Invoice is ${status} and can no longer change`, { status }),
  merchantNotFound: () => new KasaError(404, 'MERCHANT_NOT_FOUND', 'Merchant not found'),
  apiKeyNotFound: () => new KasaError(404, 'API_KEY_NOT_FOUND', 'API key not found'),
  currencyRangeInvalid: () =>
    new KasaError(400, 'CURRENCY_RANGE_INVALID', 'min_amount must not be greater than max_amount'),
  invalidCursor: () => new KasaError(400, 'INVALID_CURSOR', 'The cursor is malformed or expired'),
  payloadTooLarge: (limitBytes: number) =>
    new KasaError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than ${limitBytes} bytes`, { limit_bytes: limitBytes }),
  notFound: () => new KasaError(404, 'NOT_FOUND', 'Route not found'),
  methodNotAllowed: () => new KasaError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed'),
  internal: () => new KasaError(500, 'INTERNAL_ERROR', 'Internal server error'),
};
