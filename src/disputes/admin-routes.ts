// Admin API: every dispute, one with its timeline, files and messages, its files, and the
// operator's decision (for the merchant at an amount, or for the trader).
import { adminAuth } from '../http/auth.ts';
import type { KasaApp } from '../http/validation.ts';
import { disputeReadRoutes } from './routes.ts';
import { adminDisputeObject, disputeParams, resolveBody } from './schema.ts';
import type { Disputes } from './service.ts';
import { adminDisputeView } from './views.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };
const OPERATOR = { kind: 'operator' } as const;

export async function disputeAdminRoutes(app: KasaApp, { adminToken, disputes }: { adminToken: string; disputes: Disputes }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const schema = { tags: ['admin: disputes'], security: [{ adminToken: [] }] };

  disputeReadRoutes(app, disputes, {
    path: '/disputes',
    party: () => OPERATOR,
    schema,
    errors: ADMIN_ERRORS,
    object: adminDisputeObject,
    view: adminDisputeView,
    operationIds: { list: 'listAllDisputes', get: 'getAnyDispute', file: 'getAnyDisputeFile' },
    notFound: 'DISPUTE_NOT_FOUND',
    summaries: {
      list: 'Every dispute, newest first (status=awaiting_operator: the ones waiting for a decision)',
      get: 'A dispute with its timeline, files and messages',
    },
  });

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
