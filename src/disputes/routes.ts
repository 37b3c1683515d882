// Disputes in the merchant API (open, read, files, messages, cancel) and in the trader API (read,
// accept, reject, files). Each party sees only its own disputes: another's answers 404.
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { mapPage } from '../db/cursor.ts';
import { MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, scopeErrors, TRADER_AUTH_ERRORS, traderAuth, traderOf, type KeyOwners } from '../http/auth.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import type { KasaApp } from '../http/validation.ts';
import { attachmentName } from './files.ts';
import {
  acceptBody,
  detailOf,
  disputeListQuery,
  disputeObject,
  disputeParams,
  fileObject,
  fileParams,
  fileResponse,
  invoiceParams,
  messageBody,
  messageObject,
  multipartError,
  MULTIPART_LIMITS,
  newDispute,
  rejectBody,
  traderDisputeObject,
  UPLOAD_DESCRIPTION,
  UPLOAD_ERRORS,
  uploadOf,
} from './schema.ts';
import { DISPUTE_LIST_LIMIT_DEFAULT, type Disputes } from './service.ts';
import { disputeDetailView, disputeView, fileView, messageView, traderDisputeView } from './views.ts';

const NOT_FOUND = 'DISPUTE_NOT_FOUND: no such dispute of yours';
const NOT_ALLOWED = (from: string) => `DISPUTE_NOT_ALLOWED: only ${from} (details.status: its status)`;

export interface DisputeRoutesOptions {
  keyOwners: KeyOwners;
  disputes: Disputes;
  idempotent: Idempotent;
}

/** Multipart for the file routes of this plugin only: every other API keeps refusing non-JSON bodies. */
async function takeUploads(app: KasaApp) {
  await app.register(multipart, { limits: MULTIPART_LIMITS, attachFieldsToBody: 'keyValues', throwFileSizeLimit: true });
  app.setErrorHandler((error: FastifyError) => {
    throw multipartError(error);
  });
}

/**
 * An upload answered once per Idempotency-Key: the key's fingerprint is taken over the file's
 * hash, not its megabytes.
 */
function fileUpload(request: FastifyRequest) {
  const upload = uploadOf(request);
  request.body = { file_sha256: upload.file.sha256 };
  return upload.file;
}

/** Serves a stored file so that no browser renders it: an attachment, its type not sniffed. */
function sendFile(reply: FastifyReply, file: Awaited<ReturnType<Disputes['file']>>) {
  return reply
    .header('content-disposition', `attachment; filename="${attachmentName(file.id, file.contentType)}"`)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, no-store')
    .type(file.contentType)
    .send(file.data);
}

export async function merchantDisputeRoutes(app: KasaApp, { keyOwners, disputes, idempotent }: DisputeRoutesOptions) {
  app.addHook('onRequest', merchantAuth(keyOwners, 'invoices'));
  await takeUploads(app);
  const schema = { tags: ['disputes'], security: [{ merchantKey: [] }] };
  const AUTH = { 401: MERCHANT_AUTH_ERRORS, 403: scopeErrors('invoices'), 422: 'Validation error' };
  const party = (request: FastifyRequest) => ({ kind: 'merchant', id: merchantOf(request).id }) as const;

  app.post(
    '/api/v1/invoices/:invoice_id/disputes',
    {
      schema: {
        ...schema,
        summary: 'Open a dispute: the customer paid and the invoice was not credited (or at another amount)',
        description:
          "The invoice's deal must be unconfirmed: the customer said they paid (customer_paid), or it expired within dispute_window_hours. The claim's trader cost is held at once (covered says whether in full); the trader answers by respond_by.",
        operationId: 'openDispute',
        headers: idempotencyHeaders.schema,
        params: invoiceParams.schema,
        body: newDispute.schema,
        response: { 201: disputeObject },
      },
      config: {
        errorDocs: withIdempotencyErrors({
          ...AUTH,
          400: 'OVERPAYMENT_TOO_LARGE: claimed_amount above overpayment_max_percent over the invoice amount',
          404: 'INVOICE_NOT_FOUND',
          409: 'DISPUTE_EXISTS: the invoice has an open dispute (details.dispute_id); DISPUTE_NOT_ALLOWED: the invoice or its deal cannot be disputed (details.status)',
        }),
      },
    },
    async (request, reply) =>
      idempotent(request, reply, 201, async (trx) => {
        const { reason, claimed_amount, comment } = request.body;
        return disputeView(
          await disputes.openByMerchant(merchantOf(request).id, request.params.invoice_id, { reason, claimedAmount: claimed_amount, comment }, trx),
        );
      }),
  );

  app.get(
    '/api/v1/disputes',
    {
      schema: {
        ...schema,
        summary: 'My disputes, newest first',
        operationId: 'listDisputes',
        querystring: disputeListQuery.schema,
        response: { 200: pageOf(disputeObject) },
      },
      config: { errorDocs: { ...AUTH, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(await disputes.list(party(request), { status: request.query.status, ...pageRequest(request.query, DISPUTE_LIST_LIMIT_DEFAULT) }), disputeView),
  );

  app.get(
    '/api/v1/disputes/:dispute_id',
    {
      schema: {
        ...schema,
        summary: 'One of my disputes, with its timeline, files and messages',
        operationId: 'getDispute',
        params: disputeParams.schema,
        response: { 200: detailOf(disputeObject) },
      },
      config: { errorDocs: { ...AUTH, 404: NOT_FOUND } },
    },
    async (request) => disputeDetailView(await disputes.get(party(request), request.params.dispute_id), disputeView),
  );

  app.get(
    '/api/v1/disputes/:dispute_id/files/:file_id',
    {
      schema: {
        ...schema,
        summary: "A dispute's file, as an attachment",
        operationId: 'getDisputeFile',
        params: fileParams.schema,
        response: { 200: fileResponse },
      },
      config: { errorDocs: { ...AUTH, 404: 'DISPUTE_FILE_NOT_FOUND' } },
    },
    async (request, reply) => sendFile(reply, await disputes.file(party(request), request.params.dispute_id, request.params.file_id)),
  );

  app.post(
    '/api/v1/disputes/:dispute_id/files',
    {
      schema: {
        ...schema,
        summary: 'Add a file (a receipt) to my open dispute',
        description: UPLOAD_DESCRIPTION,
        operationId: 'addDisputeFile',
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        response: { 201: fileObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, ...UPLOAD_ERRORS, 404: NOT_FOUND }) },
    },
    async (request, reply) => {
      const file = fileUpload(request);
      return idempotent(request, reply, 201, async (trx) => fileView(await disputes.addFile(party(request), request.params.dispute_id, file, trx)));
    },
  );

  app.post(
    '/api/v1/disputes/:dispute_id/messages',
    {
      schema: {
        ...schema,
        summary: 'Write to the trader and the operator under my open dispute',
        operationId: 'addDisputeMessage',
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        body: messageBody.schema,
        response: { 201: messageObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, 404: NOT_FOUND, 409: NOT_ALLOWED('an open dispute') }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 201, async (trx) => messageView(await disputes.addMessage(party(request), request.params.dispute_id, request.body.body, trx))),
  );

  app.post(
    '/api/v1/disputes/:dispute_id/cancel',
    {
      schema: {
        ...schema,
        summary: 'Withdraw my claim: the hold goes back to the trader',
        operationId: 'cancelDispute',
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        response: { 200: disputeObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, 404: NOT_FOUND, 409: NOT_ALLOWED('an open dispute (awaiting_trader, awaiting_operator)') }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) => disputeView(await disputes.cancel(merchantOf(request).id, request.params.dispute_id, trx))),
  );
}

export async function traderDisputeRoutes(app: KasaApp, { keyOwners, disputes, idempotent }: DisputeRoutesOptions) {
  app.addHook('onRequest', traderAuth(keyOwners));
  await takeUploads(app);
  const schema = { tags: ['trader'], security: [{ traderKey: [] }] };
  const AUTH = { 401: TRADER_AUTH_ERRORS, 422: 'Validation error' };
  const party = (request: FastifyRequest) => ({ kind: 'trader', id: traderOf(request).id }) as const;

  app.get(
    '/api/v1/trader/disputes',
    {
      schema: {
        ...schema,
        summary: 'Disputes about my deals, newest first',
        operationId: 'listTraderDisputes',
        querystring: disputeListQuery.schema,
        response: { 200: pageOf(traderDisputeObject) },
      },
      config: { errorDocs: { ...AUTH, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(
        await disputes.list(party(request), { status: request.query.status, ...pageRequest(request.query, DISPUTE_LIST_LIMIT_DEFAULT) }),
        traderDisputeView,
      ),
  );

  app.get(
    '/api/v1/trader/disputes/:dispute_id',
    {
      schema: {
        ...schema,
        summary: 'A dispute about my deal, with its timeline, files and messages',
        operationId: 'getTraderDispute',
        params: disputeParams.schema,
        response: { 200: detailOf(traderDisputeObject) },
      },
      config: { errorDocs: { ...AUTH, 404: NOT_FOUND } },
    },
    async (request) => disputeDetailView(await disputes.get(party(request), request.params.dispute_id), traderDisputeView),
  );

  app.get(
    '/api/v1/trader/disputes/:dispute_id/files/:file_id',
    {
      schema: {
        ...schema,
        summary: "A dispute's file, as an attachment",
        operationId: 'getTraderDisputeFile',
        params: fileParams.schema,
        response: { 200: fileResponse },
      },
      config: { errorDocs: { ...AUTH, 404: 'DISPUTE_FILE_NOT_FOUND' } },
    },
    async (request, reply) => sendFile(reply, await disputes.file(party(request), request.params.dispute_id, request.params.file_id)),
  );

  app.post(
    '/api/v1/trader/disputes/:dispute_id/accept',
    {
      schema: {
        ...schema,
        summary: 'The fiat did arrive: the invoice succeeds at received_amount, settled out of the hold',
        operationId: 'acceptTraderDispute',
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        body: acceptBody.schema,
        response: { 200: traderDisputeObject },
      },
      config: {
        errorDocs: withIdempotencyErrors({
          ...AUTH,
          400: 'OVERPAYMENT_TOO_LARGE',
          404: NOT_FOUND,
          409: `${NOT_ALLOWED('an open dispute')}; INSUFFICIENT_TRADER_BALANCE: the amount costs more than the hold and the available balance`,
        }),
      },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) =>
        traderDisputeView(await disputes.accept(traderOf(request).id, request.params.dispute_id, request.body.received_amount, trx)),
      ),
  );

  app.post(
    '/api/v1/trader/disputes/:dispute_id/reject',
    {
      schema: {
        ...schema,
        summary: 'The fiat did not arrive: my statement goes to an operator (add files with /files)',
        operationId: 'rejectTraderDispute',
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        body: rejectBody.schema,
        response: { 200: traderDisputeObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, 404: NOT_FOUND, 409: NOT_ALLOWED('a dispute awaiting_trader') }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) =>
        traderDisputeView(await disputes.reject(traderOf(request).id, request.params.dispute_id, request.body.statement, trx)),
      ),
  );

  app.post(
    '/api/v1/trader/disputes/:dispute_id/files',
    {
      schema: {
        ...schema,
        summary: 'Add a file (a bank statement) to a dispute about my deal',
        description: UPLOAD_DESCRIPTION,
        operationId: 'addTraderDisputeFile',
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        response: { 201: fileObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, ...UPLOAD_ERRORS, 404: NOT_FOUND }) },
    },
    async (request, reply) => {
      const file = fileUpload(request);
      return idempotent(request, reply, 201, async (trx) => fileView(await disputes.addFile(party(request), request.params.dispute_id, file, trx)));
    },
  );
}
