// How disputes are documented in the merchant, trader and admin APIs, the request models that
// open, list and decide them, and the reading of a multipart upload (a receipt, a statement's file).
import type { FastifyError, FastifyRequest } from 'fastify';
import { errors, KasaError, RequestValidationError } from '../errors.ts';
import { pageFields } from '../http/paging.ts';
import { nullableTimestamp, record, timestamp, usdt } from '../http/schemas.ts';
import { enumeration, fiatAmount, model, optional, optionalBody, string, type JsonSchema } from '../http/validation.ts';
import { checkedFile, FILE_CONTENT_TYPES, FILE_SIZE_MAX_BYTES, type UploadedFile } from './files.ts';
import { DISPUTE_OUTCOMES, DISPUTE_REASONS, DISPUTE_STATUSES, type PayerFields } from './service.ts';

/** What @fastify/multipart may read of one upload: one file, a few short fields. */
export const MULTIPART_LIMITS = { fileSize: FILE_SIZE_MAX_BYTES, files: 1, fields: 8, fieldSize: 1024, parts: 10, fieldNameSize: 64 };

const money = (description: string) => ({ type: 'string', description, examples: ['1500.00'] }) satisfies JsonSchema;
const nullableMoney = (description: string) => ({ type: ['string', 'null'], description, examples: [null] }) satisfies JsonSchema;

const disputeProperties: Record<string, JsonSchema> = {
  dispute_id: { type: 'string', format: 'uuid' },
  invoice_id: { type: 'string', format: 'uuid' },
  status: {
    type: 'string',
    enum: [...DISPUTE_STATUSES],
    description:
      'awaiting_trader → trader_accepted (the invoice succeeds) | awaiting_operator (the trader disagreed or let respond_by pass) → resolved_merchant (the invoice succeeds) | resolved_trader; or cancelled by the merchant',
  },
  reason: { type: 'string', enum: [...DISPUTE_REASONS] },
  opened_by: {
    type: 'string',
    enum: ['customer', 'merchant', 'trader'],
    description: "The customer's receipt, the merchant's API, or the trader's reject of a paid deal",
  },
  claimed_amount: money('The fiat the customer says they paid'),
  decided_amount: nullableMoney('The fiat the decision credits (trader_accepted, resolved_merchant); null otherwise'),
  covered: { type: 'boolean', description: "Whether the trader's held USDT covers the claim's whole cost at the invoice's rate" },
  held_usdt: usdt("USDT held for the claim while the dispute is open (the deal's lock, or a dispute hold)", '35.783133'),
  comment: { type: ['string', 'null'], description: "The merchant's words when opening it" },
  statement: { type: ['string', 'null'], description: "The trader's statement when disagreeing" },
  respond_by: timestamp('Until when the trader may answer; then an operator decides'),
  created_at: timestamp('When the dispute was opened'),
  updated_at: timestamp('When its status last changed'),
  resolved_at: nullableTimestamp('When it was decided or cancelled'),
};

export const disputeObject = record(disputeProperties);
export const traderDisputeObject = record({ ...disputeProperties, deal_id: { type: 'string', format: 'uuid' } });
export const adminDisputeObject = record({
  ...disputeProperties,
  deal_id: { type: 'string', format: 'uuid' },
  merchant_id: { type: 'string', format: 'uuid' },
  trader_id: { type: 'string', format: 'uuid' },
  held_account: { type: 'string', description: 'The ledger account holding the claim', examples: ['trader:…:dispute_hold'] },
});

export const fileObject = record({
  file_id: { type: 'string', format: 'uuid' },
  uploaded_by: { type: 'string', enum: ['customer', 'merchant', 'trader', 'operator'] },
  content_type: { type: 'string', enum: [...FILE_CONTENT_TYPES], description: "Checked by the file's magic bytes at the upload" },
  size_bytes: { type: 'integer' },
  sha256: { type: 'string', description: 'SHA-256 of the bytes, hex' },
  card_last4: { type: ['string', 'null'], description: 'What the customer typed beside a receipt' },
  payer_name: { type: ['string', 'null'] },
  paid_amount: nullableMoney('The amount the customer typed beside a receipt'),
  created_at: timestamp('When it was uploaded'),
});

export const messageObject = record({
  message_id: { type: 'string', format: 'uuid' },
  author: { type: 'string', enum: ['merchant', 'trader', 'operator'] },
  body: { type: 'string' },
  created_at: timestamp('When it was written'),
});

const timelineObject = record({
  from_status: { type: ['string', 'null'], enum: [...DISPUTE_STATUSES, null], description: 'null for the opening' },
  status: { type: 'string', enum: [...DISPUTE_STATUSES] },
  actor: { type: 'string', enum: ['customer', 'merchant', 'trader', 'operator', 'system'] },
  at: timestamp('When'),
});

/** A dispute read one at a time: with its timeline, files and messages. */
export function detailOf(object: JsonSchema): JsonSchema {
  return record({
    ...(object.properties as Record<string, JsonSchema>),
    timeline: { type: 'array', items: timelineObject, description: 'Every status change once, oldest first' },
    files: { type: 'array', items: fileObject },
    messages: { type: 'array', items: messageObject },
  });
}

/** A served file: the stored bytes as an attachment. */
export const fileResponse: JsonSchema = {
  description: 'The file, as an attachment (Content-Disposition: attachment; X-Content-Type-Options: nosniff), with its stored content type',
  content: Object.fromEntries(FILE_CONTENT_TYPES.map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
};

export const newDispute = model({
  reason: enumeration(DISPUTE_REASONS, { description: 'not_credited: paid, not confirmed; wrong_amount: paid another amount than was credited' }),
  claimed_amount: optional(fiatAmount({ description: 'The fiat the customer says they paid; absent: the invoice amount', example: '1500.00' })),
  comment: optional(string({ min: 1, max: 1000, description: 'What the merchant knows' })),
});

export const disputeParams = model({ dispute_id: string({ min: 1, max: 64 }) });
export const fileParams = model({ dispute_id: string({ min: 1, max: 64 }), file_id: string({ min: 1, max: 64 }) });
export const invoiceParams = model({ invoice_id: string({ min: 1, max: 64 }) });
export const disputeListQuery = model({ status: optional(enumeration(DISPUTE_STATUSES)), ...pageFields });
export const messageBody = model({ body: string({ min: 1, max: 2000, description: 'The message' }) });
export const acceptBody = optionalBody(
  model({
    received_amount: optional(
      fiatAmount({ description: 'The fiat that arrived; absent: the claimed amount. Settled as a confirmation at this amount', example: '1500.00' }),
    ),
  }),
);
export const rejectBody = model({ statement: string({ min: 1, max: 2000, description: 'What the trader saw (or did not) on their account' }) });
export const resolveBody = model({
  outcome: enumeration(DISPUTE_OUTCOMES, { description: 'merchant: the invoice succeeds at amount; trader: the hold goes back to the trader' }),
  amount: optional(fiatAmount({ description: 'For outcome merchant: the fiat decided as paid; absent: the claimed amount', example: '1500.00' })),
});

/** The payer's fields a receipt form may carry beside the file. */
const payerModel = model({
  card_last4: optional(string({ pattern: '^[0-9]{4}$', description: 'The last 4 digits of the card paid from' })),
  payer_name: optional(string({ min: 1, max: 100, description: 'The name on the paying account' })),
  paid_amount: optional(fiatAmount({ description: 'The amount sent' })),
});

/** The multipart form's description, for the routes that take a file. */
export const UPLOAD_DESCRIPTION = `multipart/form-data: one file in the field \`file\` (at most ${FILE_SIZE_MAX_BYTES} bytes; JPEG, PNG or PDF by its magic bytes, a PDF with JavaScript or automatic actions refused).`;
export const UPLOAD_ERRORS = {
  400: 'FILE_MISSING: no file in the field "file"',
  409: 'DISPUTE_NOT_ALLOWED: the dispute is no longer open (details.status); DISPUTE_FILES_MAX',
  413: 'FILE_TOO_LARGE: over 5 MB (details.limit_bytes)',
  415: 'FILE_TYPE_REFUSED: not a JPEG, PNG or PDF by its bytes, or a PDF with JavaScript',
};

/** The multipart body as @fastify/multipart attached it (attachFieldsToBody: 'keyValues'). */
export function uploadOf(request: FastifyRequest): { file: UploadedFile; fields: Record<string, unknown> } {
  const body = (request.body ?? {}) as Record<string, unknown>;
  const { file, ...fields } = body;
  if (!Buffer.isBuffer(file)) throw errors.fileMissing();
  return { file: checkedFile(file), fields };
}

/** The payer's fields of a receipt form, validated as any request body is (422 otherwise). Empty fields count as absent. */
export function payerFieldsOf(fields: Record<string, unknown>): PayerFields {
  const given = Object.fromEntries(
    ['card_last4', 'payer_name', 'paid_amount'].flatMap((name) => (typeof fields[name] === 'string' && fields[name] !== '' ? [[name, fields[name]]] : [])),
  );
  const result = payerModel.validate(given, 'body');
  if (!result.ok) throw new RequestValidationError(result.issues);
  return { cardLast4: result.value.card_last4, payerName: result.value.payer_name, paidAmount: result.value.paid_amount };
}

/** @fastify/multipart's refusals as Kasa's typed errors: nothing a sender does answers 5xx. */
export function multipartError(error: FastifyError): Error {
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return errors.fileTooLarge(FILE_SIZE_MAX_BYTES);
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new KasaError(413, 'PAYLOAD_TOO_LARGE', 'One file and a few short fields per upload', { limits: MULTIPART_LIMITS });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_MP_PREMATURE_CLOSE':
    case 'FST_PROTO_VIOLATION':
      return errors.fileMissing();
    default:
      return error;
  }
}
