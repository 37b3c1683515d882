// Admin API of top-ups: the operator checks each reported transfer on chain, then confirms it
// (the trader is credited) or rejects it.
import { mapPage } from '../db/cursor.ts';
import { adminAuth } from '../http/auth.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import type { KasaApp } from '../http/validation.ts';
import { rejectTopup, topupListQuery, topupObject, topupParams, topupView } from './topup-schema.ts';
import { TOPUP_LIST_LIMIT_DEFAULT, type Topups } from './topups.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };
const TRANSITION_ERRORS = { ...ADMIN_ERRORS, 404: 'TOPUP_NOT_FOUND', 409: 'TOPUP_NOT_ALLOWED: the top-up is no longer pending (details.status)' };

export async function topupAdminRoutes(app: KasaApp, { adminToken, topups }: { adminToken: string; topups: Topups }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];
  const tags = ['admin: traders'];

  app.get(
    '/topups',
    {
      schema: {
        summary: "Traders' top-ups, newest first",
        operationId: 'listAllTopups',
        tags,
        security,
        querystring: topupListQuery.schema,
        response: { 200: pageOf(topupObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      const q = request.query;
      return mapPage(await topups.list({ status: q.status, ...pageRequest(q, TOPUP_LIST_LIMIT_DEFAULT) }), topupView);
    },
  );

  app.post(
    '/topups/:topup_id/confirm',
    {
      schema: {
        summary: 'Confirm a top-up: the trader is credited (world → trader:available)',
        operationId: 'confirmTopup',
        tags,
        security,
        params: topupParams.schema,
        response: { 200: topupObject },
      },
      config: { errorDocs: TRANSITION_ERRORS },
    },
    async (request) => topupView(await topups.confirm(request.params.topup_id)),
  );

  app.post(
    '/topups/:topup_id/reject',
    {
      schema: {
        summary: 'Reject a top-up; its hash stays recorded',
        operationId: 'rejectTopup',
        tags,
        security,
        params: topupParams.schema,
        body: rejectTopup.schema,
        response: { 200: topupObject },
      },
      config: { errorDocs: TRANSITION_ERRORS },
    },
    async (request) => topupView(await topups.reject(request.params.topup_id, request.body.reason)),
  );
}
