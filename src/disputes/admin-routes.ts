// Admin API: every dispute, one with its timeline, files and messages, its files, and the
// operator's decision (for the merchant at an amount, or for the trader).
import { mapPage } from '../db/cursor.ts';
import { adminAuth } from '../http/auth.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import type { KasaApp } from '../http/validation.ts';
import { attachmentName } from './files.ts';
import { adminDisputeObject, detailOf, disputeListQuery, disputeParams, fileParams, fileResponse, resolveBody } from './schema.ts';
import { DISPUTE_LIST_LIMIT_DEFAULT, type Disputes } from './service.ts';
import { adminDisputeView, disputeDetailView } from './views.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };
const OPERATOR = { kind: 'operator' } as const;

export async function disputeAdminRoutes(app: KasaApp, { adminToken, disputes }: { adminToken: string; disputes: Disputes }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const schema = { tags: ['admin: disputes'], security: [{ adminToken: [] }] };

  app.get(
    '/disputes',
    {
      schema: {
        ...schema,
        summary: 'Every dispute, newest first (status=awaiting_operator: the ones waiting for a decision)',
        operationId: 'listAllDisputes',
        querystring: disputeListQuery.schema,
        response: { 200: pageOf(adminDisputeObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(await disputes.list(OPERATOR, { status: request.query.status, ...pageRequest(request.query, DISPUTE_LIST_LIMIT_DEFAULT) }), adminDisputeView),
  );

  app.get(
    '/disputes/:dispute_id',
    {
      schema: {
        ...schema,
        summary: 'A dispute with its timeline, files and messages',
        operationId: 'getAnyDispute',
        params: disputeParams.schema,
        response: { 200: detailOf(adminDisputeObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 404: 'DISPUTE_NOT_FOUND' } },
    },
    async (request) => disputeDetailView(await disputes.get(OPERATOR, request.params.dispute_id), adminDisputeView),
  );

  app.get(
    '/disputes/:dispute_id/files/:file_id',
    {
      schema: {
        ...schema,
        summary: "A dispute's file, as an attachment",
        operationId: 'getAnyDisputeFile',
        params: fileParams.schema,
        response: { 200: fileResponse },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 404: 'DISPUTE_FILE_NOT_FOUND' } },
    },
    async (request, reply) => {
      const file = await disputes.file(OPERATOR, request.params.dispute_id, request.params.file_id);
      return reply
        .header('content-disposition', `attachment; filename="${attachmentName(file.id, file.contentType)}"`)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, no-store')
        .type(file.contentType)
        .send(file.data);
    },
  );

  app.post(
    '/disputes/:dispute_id/resolve',
    {
      schema: {
        ...schema,
        summary: 'Decide an open dispute: for the merchant (the invoice succeeds at amount, paid out of the hold) or for the trader (the hold goes back)',
        operationId: 'resolveDispute',
        params: disputeParams.schema,
        body: resolveBody.schema,
        response: { 200: adminDisputeObject },
      },
      config: {
        errorDocs: {
          ...ADMIN_ERRORS,
          400: 'OVERPAYMENT_TOO_LARGE: amount above overpayment_max_percent over the invoice amount',
          404: 'DISPUTE_NOT_FOUND',
          409: 'DISPUTE_NOT_ALLOWED: only an open dispute (details.status: its status); INSUFFICIENT_TRADER_BALANCE: the amount costs more than the hold and the available balance',
        },
      },
    },
    async (request) => adminDisputeView(await disputes.resolve(request.params.dispute_id, request.body.outcome, request.body.amount)),
  );
}
