// Disputes in the merchant API (open, read, files, messages, cancel) and in the trader API (read,
// accept, reject, files). Each party sees only its own disputes: another's answers 404. The reads
// every party has (the list, one dispute, a file) and the file upload are defined once, below,
// for the merchant, trader and admin APIs alike: each names its path, its party (which scopes
// every read) and the object it sees.
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { mapPage } from '../db/cursor.ts';
import { MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, scopeErrors, TRADER_AUTH_ERRORS, traderAuth, traderOf, type KeyOwners } from '../http/auth.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import type { JsonSchema, KasaApp } from '../http/validation.ts';
import { attachmentName } from './files.ts';
import {
  acceptBody,
  detailOf,
  disputeListQuery,
  fileObject,
  fileParams,
  fileResponse,
  UPLOAD_DESCRIPTION,
  UPLOAD_ERRORS,
  uploadOf,
  disputeObject,
  disputeParams,
  invoiceParams,
  messageBody,
  messageObject,
  multipartError,
  MULTIPART_LIMITS,
  newDispute,
  rejectBody,
  traderDisputeObject,
} from './schema.ts';
import { DISPUTE_LIST_LIMIT_DEFAULT, type DisputeParty, type Disputes } from './service.ts';
import { disputeDetailView, disputeView, fileView, messageView, traderDisputeView, type DisputeRow } from './views.ts';

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

  const reader = { path: '/api/v1/disputes', party, schema, errors: AUTH } as const;
  disputeReadRoutes(app, disputes, {
    ...reader,
    object: disputeObject,
    view: disputeView,
    operationIds: { list: 'listDisputes', get: 'getDispute', file: 'getDisputeFile' },
    summaries: { list: 'My disputes, newest first', get: 'One of my disputes, with its timeline, files and messages' },
  });
  disputeFileRoute(app, disputes, idempotent, { ...reader, summary: 'Add a file (a receipt) to my open dispute', operationId: 'addDisputeFile' });

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
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, 404: DISPUTE_NOT_FOUND, 409: NOT_ALLOWED('an open dispute') }) },
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
      config: {
        errorDocs: withIdempotencyErrors({ ...AUTH, 404: DISPUTE_NOT_FOUND, 409: NOT_ALLOWED('an open dispute (awaiting_trader, awaiting_operator)') }),
      },
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

  const reader = { path: '/api/v1/trader/disputes', party, schema, errors: AUTH } as const;
  disputeReadRoutes(app, disputes, {
    ...reader,
    object: traderDisputeObject,
    view: traderDisputeView,
    operationIds: { list: 'listTraderDisputes', get: 'getTraderDispute', file: 'getTraderDisputeFile' },
    summaries: { list: 'Disputes about my deals, newest first', get: 'A dispute about my deal, with its timeline, files and messages' },
  });
  disputeFileRoute(app, disputes, idempotent, {
    ...reader,
    summary: 'Add a file (a bank statement) to a dispute about my deal',
    operationId: 'addTraderDisputeFile',
  });

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
          404: DISPUTE_NOT_FOUND,
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
      config: { errorDocs: withIdempotencyErrors({ ...AUTH, 404: DISPUTE_NOT_FOUND, 409: NOT_ALLOWED('a dispute awaiting_trader') }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) =>
        traderDisputeView(await disputes.reject(traderOf(request).id, request.params.dispute_id, request.body.statement, trx)),
      ),
  );
}

export const DISPUTE_NOT_FOUND = 'DISPUTE_NOT_FOUND: no such dispute of yours';

export interface DisputeReader<P extends DisputeParty, V> {
  /** The list's path; one dispute is `${path}/:dispute_id`. */
  path: string;
  party: (request: FastifyRequest) => P;
  /** The dispute as this party sees it, and its schema. */
  object: JsonSchema;
  view: (x: DisputeRow) => V;
  /** tags and security of every route. */
  schema: { tags: string[]; security: Record<string, string[]>[] };
  /** The errors every route of this party may answer (authentication, validation). */
  errors: Record<number, string>;
  operationIds: { list: string; get: string; file: string };
  /** What a 404 says (default: no such dispute of yours). */
  notFound?: string;
  summaries: { list: string; get: string };
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

export function disputeReadRoutes<P extends DisputeParty, V>(app: KasaApp, disputes: Disputes, reader: DisputeReader<P, V>): void {
  const { schema, errors, party } = reader;

  app.get(
    reader.path,
    {
      schema: {
        ...schema,
        summary: reader.summaries.list,
        operationId: reader.operationIds.list,
        querystring: disputeListQuery.schema,
        response: { 200: pageOf(reader.object) },
      },
      config: { errorDocs: { ...errors, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(await disputes.list(party(request), { status: request.query.status, ...pageRequest(request.query, DISPUTE_LIST_LIMIT_DEFAULT) }), reader.view),
  );

  app.get(
    `${reader.path}/:dispute_id`,
    {
      schema: {
        ...schema,
        summary: reader.summaries.get,
        operationId: reader.operationIds.get,
        params: disputeParams.schema,
        response: { 200: detailOf(reader.object) },
      },
      config: { errorDocs: { ...errors, 404: reader.notFound ?? DISPUTE_NOT_FOUND } },
    },
    async (request) => disputeDetailView(await disputes.get(party(request), request.params.dispute_id), reader.view),
  );

  app.get(
    `${reader.path}/:dispute_id/files/:file_id`,
    {
      schema: {
        ...schema,
        summary: "A dispute's file, as an attachment",
        operationId: reader.operationIds.file,
        params: fileParams.schema,
        response: { 200: fileResponse },
      },
      config: { errorDocs: { ...errors, 404: 'DISPUTE_FILE_NOT_FOUND' } },
    },
    async (request, reply) => sendFile(reply, await disputes.file(party(request), request.params.dispute_id, request.params.file_id)),
  );
}

/**
 * `POST ${path}/:dispute_id/files`: a file added by a party of the dispute, answered once per
 * Idempotency-Key — the key's fingerprint taken over the file's hash, not its megabytes.
 */
export function disputeFileRoute(
  app: KasaApp,
  disputes: Disputes,
  idempotent: Idempotent,
  route: Pick<DisputeReader<Exclude<DisputeParty, { kind: 'operator' }>, unknown>, 'path' | 'party' | 'schema' | 'errors'> & {
    summary: string;
    operationId: string;
  },
): void {
  app.post(
    `${route.path}/:dispute_id/files`,
    {
      schema: {
        ...route.schema,
        summary: route.summary,
        description: UPLOAD_DESCRIPTION,
        operationId: route.operationId,
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        response: { 201: fileObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...route.errors, ...UPLOAD_ERRORS, 404: DISPUTE_NOT_FOUND }) },
    },
    async (request, reply) => {
      const upload = uploadOf(request);
      request.body = { file_sha256: upload.file.sha256 };
      return idempotent(request, reply, 201, async (trx) =>
        fileView(await disputes.addFile(route.party(request), request.params.dispute_id, upload.file, trx)),
      );
    },
  );
}
