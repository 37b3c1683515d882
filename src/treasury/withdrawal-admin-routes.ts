// Admin API: every withdrawal, and the operator's transitions (approve, complete with the chain
// transaction's hash, reject with a reason).
import { adminAuth } from '../http/auth.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import type { KasaApp } from '../http/validation.ts';
import { mapPage } from '../db/cursor.ts';
import { adminWithdrawalListQuery, adminWithdrawalObject, completeBody, rejectBody, withdrawalParams } from './withdrawal-schema.ts';
import { adminWithdrawalView, type Withdrawals } from './withdrawals.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

export async function withdrawalAdminRoutes(app: KasaApp, { adminToken, withdrawals }: { adminToken: string; withdrawals: Withdrawals }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const schema = { tags: ['admin: withdrawals'], security: [{ adminToken: [] }] };
  const transitionErrors = (states: string) => ({
    ...ADMIN_ERRORS,
    404: 'WITHDRAWAL_NOT_FOUND',
    409: `WITHDRAWAL_NOT_ALLOWED: only a ${states} withdrawal (details.status: its status)`,
  });

  app.get(
    '/withdrawals',
    {
      schema: {
        ...schema,
        summary: "Every merchant's and trader's withdrawals, newest first",
        operationId: 'listAllWithdrawals',
        querystring: adminWithdrawalListQuery.schema,
        response: { 200: pageOf(adminWithdrawalObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      const q = request.query;
      return mapPage(await withdrawals.list(null, { status: q.status, ownerKind: q.owner_kind, ...pageRequest(q) }), adminWithdrawalView);
    },
  );

  app.post(
    '/withdrawals/:withdrawal_id/approve',
    {
      schema: {
        ...schema,
        summary: 'Approve a requested withdrawal (to be sent, then completed)',
        operationId: 'approveWithdrawal',
        params: withdrawalParams.schema,
        response: { 200: adminWithdrawalObject },
      },
      config: { errorDocs: transitionErrors('requested') },
    },
    async (request) => adminWithdrawalView(await withdrawals.approve(request.params.withdrawal_id)),
  );

  app.post(
    '/withdrawals/:withdrawal_id/complete',
    {
      schema: {
        ...schema,
        summary: 'Record that the USDT was sent: the hold is paid out, the fee to platform revenue',
        operationId: 'completeWithdrawal',
        params: withdrawalParams.schema,
        body: completeBody.schema,
        response: { 200: adminWithdrawalObject },
      },
      config: {
        errorDocs: {
          ...transitionErrors('approved'),
          409: 'WITHDRAWAL_NOT_ALLOWED: only an approved withdrawal (details.status); TX_HASH_USED: the hash is recorded for another withdrawal or top-up',
        },
      },
    },
    async (request) => adminWithdrawalView(await withdrawals.complete(request.params.withdrawal_id, request.body.tx_hash)),
  );

  app.post(
    '/withdrawals/:withdrawal_id/reject',
    {
      schema: {
        ...schema,
        summary: 'Reject a withdrawal not yet completed: the amount returns to the balance',
        operationId: 'rejectWithdrawal',
        params: withdrawalParams.schema,
        body: rejectBody.schema,
        response: { 200: adminWithdrawalObject },
      },
      config: { errorDocs: transitionErrors('requested or approved') },
    },
    async (request) => adminWithdrawalView(await withdrawals.reject(request.params.withdrawal_id, request.body.reason)),
  );
}
