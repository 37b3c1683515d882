// Every error Kasa answers with, in one catalog: the code, its HTTP status and its message.
// Domain code throws these; the one mapper in src/http/app.ts turns them into answers, so a
// route never builds an error body itself, and the domains know nothing of HTTP.

export type ErrorDetails = Record<string, unknown>;

/** One violation in a 422 body, in Pydantic v2's shape. */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

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

const retryAfter = (seconds: number) => ({ 'retry-after': String(seconds) });

export const errors = {
  // Authentication
  apiKeyMissing: () => new KasaError(401, 'API_KEY_MISSING', 'Missing X-Api-Key header'),
  apiKeyInvalid: () => new KasaError(401, 'API_KEY_INVALID', 'Invalid or inactive API key'),
  // A valid key of the other kind keeps the seed's code (integrations switch on it) with a
  // message that says what is wrong; details.key_kind is the kind presented.
  apiKeyWrongKind: (presented: 'merchant' | 'trader', expected: 'merchant' | 'trader') =>
    new KasaError(401, 'API_KEY_INVALID', `This is a ${presented} API key; the ${expected} API takes a ${expected} key`, {
      key_kind: presented,
      expected_kind: expected,
    }),
  unauthorized: () => new KasaError(401, 'UNAUTHORIZED', 'Missing or invalid admin token'),
  apiKeyScope: (scope: 'invoices' | 'withdrawals') => new KasaError(403, 'API_KEY_SCOPE', `This API key may not manage ${scope}`, { required_scope: scope }),

  // create-invoice (the seed's codes and messages, exactly)
  dealsDisabled: () => new KasaError(503, 'DEALS_SYSTEM_DISABLED', 'Deals system is disabled'),
  currencyInvalid: () => new KasaError(400, 'CURRENCY_INVALID', 'Currency not found or disabled'),
  amountOutOfRange: (min: string | null, max: string | null) =>
    new KasaError(400, 'AMOUNT_OUT_OF_RANGE', 'Amount is outside the allowed range for this currency', {
      min_amount: min,
      max_amount: max,
    }),
  rateUnavailable: () => new KasaError(503, 'RATE_UNAVAILABLE', 'Exchange rate is not available'),
  customerRateLimited: (reason: 'rate' | 'pending' | 'unpaid', retryAfterSeconds: number) =>
    new KasaError(
      429,
      'CUSTOMER_RATE_LIMITED',
      reason === 'rate'
        ? 'Too many invoices for this customer in the last minute'
        : reason === 'pending'
          ? 'Too many pending invoices for this customer'
          : 'Too many payments this customer reported but did not make in the last 24 hours',
      { reason, retry_after_seconds: retryAfterSeconds },
      retryAfter(retryAfterSeconds),
    ),
  duplicateExternalId: (invoiceId: string) =>
    new KasaError(409, 'DUPLICATE_EXTERNAL_ID', 'External ID for this merchant is already exists, try to generate another External ID', {
      invoice_id: invoiceId,
    }),

  // Invoices and deals
  invoiceNotFound: () => new KasaError(404, 'INVOICE_NOT_FOUND', 'Invoice not found'),
  invoiceNotPending: (status: string) => new KasaError(409, 'INVOICE_NOT_PENDING', `Invoice is ${status} and can no longer change`, { status }),
  dealNotFound: () => new KasaError(404, 'DEAL_NOT_FOUND', 'Deal not found'),
  dealNotActive: (status: string, action: 'confirmed' | 'rejected' | 'cancelled' = 'confirmed') =>
    new KasaError(409, 'DEAL_NOT_ACTIVE', `Deal is no longer active and cannot be ${action}`, { status }),
  overpaymentTooLarge: (maxPercent: string, maxAmount: string) =>
    new KasaError(400, 'OVERPAYMENT_TOO_LARGE', `The received amount is more than ${maxPercent} % above the invoice amount`, {
      overpayment_max_percent: maxPercent,
      max_amount: maxAmount,
    }),
  insufficientTraderBalance: (available: string, required: string) =>
    new KasaError(409, 'INSUFFICIENT_TRADER_BALANCE', "The trader's available balance does not cover this deal", { available, required }),
  paymentInProgress: () => new KasaError(409, 'PAYMENT_IN_PROGRESS', 'The customer has reported paying; the invoice can no longer be cancelled'),

  // Merchants, traders, currencies
  merchantNotFound: () => new KasaError(404, 'MERCHANT_NOT_FOUND', 'Merchant not found'),
  apiKeyNotFound: () => new KasaError(404, 'API_KEY_NOT_FOUND', 'API key not found'),
  apiKeyRevoked: () => new KasaError(409, 'API_KEY_REVOKED', 'This API key is revoked already'),
  currencyRangeInvalid: () => new KasaError(400, 'CURRENCY_RANGE_INVALID', 'min_amount must not be greater than max_amount'),
  rateSetBySource: () =>
    new KasaError(
      409,
      'RATE_SET_BY_SOURCE',
      'This currency\'s rate comes from its http_json source; send rate_source {"kind": "manual"} to set a rate by hand',
    ),
  currencyNotFound: () => new KasaError(404, 'CURRENCY_NOT_FOUND', 'Currency not found'),
  traderNotFound: () => new KasaError(404, 'TRADER_NOT_FOUND', 'Trader not found'),
  requisiteNotFound: () => new KasaError(404, 'REQUISITE_NOT_FOUND', 'Requisite not found'),
  depositReferenceUsed: (depositId: string) =>
    new KasaError(409, 'DEPOSIT_REFERENCE_USED', 'A deposit with this reference was already credited to this trader', { deposit_id: depositId }),
  requisiteRangeInvalid: () => new KasaError(400, 'REQUISITE_RANGE_INVALID', 'min_amount must not be greater than max_amount'),

  // Ledger
  insufficientFunds: () => new KasaError(409, 'INSUFFICIENT_FUNDS', 'Not enough available balance'),
  idempotencyKeyInUse: () =>
    new KasaError(409, 'IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being processed; retry after it has finished'),
  idempotencyKeyReused: () =>
    new KasaError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request (method, path or body); use a new key'),
  txHashUsed: () => new KasaError(409, 'TX_HASH_USED', 'This transaction hash is already recorded for another withdrawal or top-up'),
  insufficientBalance: (available: string) => new KasaError(409, 'INSUFFICIENT_BALANCE', 'The amount is more than the available balance', { available }),

  // Withdrawals
  withdrawalNotFound: () => new KasaError(404, 'WITHDRAWAL_NOT_FOUND', 'Withdrawal not found'),
  withdrawalNotAllowed: (status: string, action: string) =>
    new KasaError(409, 'WITHDRAWAL_NOT_ALLOWED', `A ${status} withdrawal cannot be ${action}`, { status }),
  withdrawalBelowMinimum: (min: string) =>
    new KasaError(400, 'AMOUNT_OUT_OF_RANGE', `The smallest withdrawal is ${min} USDT`, { min_amount: min, max_amount: null }),
  settingsInvalid: (why: string) => new KasaError(400, 'SETTINGS_INVALID', why),

  // Traders' top-ups and insurance
  topupNotFound: () => new KasaError(404, 'TOPUP_NOT_FOUND', 'Top-up not found'),
  topupNotAllowed: (status: string) => new KasaError(409, 'TOPUP_NOT_ALLOWED', `The top-up is ${status} and can no longer change`, { status }),
  insuranceInUse: (openDeals: number) =>
    new KasaError(409, 'INSURANCE_IN_USE', 'The trader has open deals; insurance cannot be released until they close', { open_deals: openDeals }),
  insuranceInsufficient: (insurance: string) => new KasaError(409, 'INSURANCE_INSUFFICIENT', 'The release is larger than the insurance held', { insurance }),

  // Disputes and their files
  disputeNotFound: () => new KasaError(404, 'DISPUTE_NOT_FOUND', 'Dispute not found'),
  disputeFileNotFound: () => new KasaError(404, 'DISPUTE_FILE_NOT_FOUND', 'File not found'),
  disputeExists: (disputeId: string) => new KasaError(409, 'DISPUTE_EXISTS', 'This invoice already has an open dispute', { dispute_id: disputeId }),
  disputeNotAllowed: (status: string, action: string) => new KasaError(409, 'DISPUTE_NOT_ALLOWED', `Not allowed while ${status}: cannot ${action}`, { status }),
  fileTooLarge: (limitBytes: number) => new KasaError(413, 'FILE_TOO_LARGE', `The file is larger than ${limitBytes} bytes`, { limit_bytes: limitBytes }),
  fileTypeRefused: (why: string) => new KasaError(415, 'FILE_TYPE_REFUSED', `Only a JPEG, PNG or PDF receipt is taken: ${why}`),
  fileMissing: () => new KasaError(400, 'FILE_MISSING', 'The request carries no file in the field "file" (multipart/form-data)'),
  disputeFilesMax: (limit: number) => new KasaError(409, 'DISPUTE_FILES_MAX', `A dispute holds at most ${limit} files`, { files_max: limit }),

  // Webhooks
  deliveryNotFound: () => new KasaError(404, 'DELIVERY_NOT_FOUND', 'Delivery not found'),
  noWebhookUrl: () => new KasaError(400, 'WEBHOOK_URL_MISSING', 'The merchant has no webhook_url to send a test event to'),
  webhookTestBusy: (reason: 'merchant' | 'target_host', inFlightMax: number, retryAfterSeconds: number) =>
    new KasaError(
      429,
      'WEBHOOK_TEST_BUSY',
      reason === 'merchant'
        ? `This merchant has ${inFlightMax} test pings in flight already`
        : `${inFlightMax} test pings to this webhook_url's host are in flight already`,
      { reason, in_flight_max: inFlightMax, retry_after_seconds: retryAfterSeconds },
      retryAfter(retryAfterSeconds),
    ),

  // People: users of the cabinets
  userEmailTaken: () => new KasaError(409, 'USER_EMAIL_TAKEN', 'A user with this email already exists'),
  userOwnerInvalid: (why: string) => new KasaError(400, 'USER_OWNER_INVALID', why),
  userNotFound: () => new KasaError(404, 'USER_NOT_FOUND', 'User not found'),
  userDisabled: () => new KasaError(409, 'USER_DISABLED', 'This user is removed already'),
  lastOwner: () => new KasaError(409, 'LAST_OWNER', 'A merchant keeps at least one owner: make another user an owner first'),
  sessionRequired: () => new KasaError(401, 'SESSION_REQUIRED', 'Sign in first: the session is missing or has ended'),
  forbidden: () => new KasaError(403, 'FORBIDDEN', 'This account may not open or change this'),

  // Requests as such
  rateLimited: (retryAfterSeconds: number) =>
    new KasaError(429, 'RATE_LIMITED', 'Too many requests from this address', { retry_after_seconds: retryAfterSeconds }, retryAfter(retryAfterSeconds)),
  invalidCursor: () => new KasaError(400, 'INVALID_CURSOR', 'The cursor is malformed or expired'),
  /** A cabinet form or filter a browser would not send (a forged or hand-edited one). */
  formInvalid: (why: string) => new KasaError(400, 'FORM_INVALID', why),
  exportTooLarge: (rowsMax: number) =>
    new KasaError(400, 'EXPORT_TOO_LARGE', `More than ${rowsMax} invoices match; narrow the dates (created_from, created_to)`, { rows_max: rowsMax }),
  payloadTooLarge: (limitBytes: number) =>
    new KasaError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than ${limitBytes} bytes`, { limit_bytes: limitBytes }),
  notFound: () => new KasaError(404, 'NOT_FOUND', 'Route not found'),
  methodNotAllowed: () => new KasaError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed'),
  notReady: () => new KasaError(503, 'NOT_READY', 'Database is not reachable'),
  // Retried and still lost: whether it took effect, a repeat of the same request says (create-invoice answers 409 with the id).
  databaseUnavailable: () =>
    new KasaError(503, 'DATABASE_UNAVAILABLE', 'The database could not be reached; retry the request', { retryable: true }, retryAfter(1)),
  internal: () => new KasaError(500, 'INTERNAL_ERROR', 'Internal server error'),
};
