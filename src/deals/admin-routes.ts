// Admin API: deals across all traders (cards masked), operator confirmation.
import { adminAuth } from '../http/auth.ts';
import { enumeration, fiatAmount, model, optional, optionalBody, string, uuid, type KasaApp } from '../http/validation.ts';
import { errors } from '../errors.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { dealObject } from '../traders/schema.ts';
import { dealView } from '../traders/views.ts';
import { DEAL_LIST_LIMIT_DEFAULT, type Deals } from './service.ts';
import { mapPage } from '../db/cursor.ts';
import { DEAL_STATUSES } from '../lifecycle.ts';

export async function dealAdminRoutes(app: KasaApp, { adminToken, deals }: { adminToken: string; deals: Deals }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];
  const tags = ['admin: deals'];
  const dealQuery = model({
    status: optional(enumeration(DEAL_STATUSES)),
    trader_id: optional(uuid()),
    ...pageFields,
  });
  const dealParams = model({ deal_id: string({ min: 1, max: 64 }) });
  const confirmBody = optionalBody(
    model({ received_amount: optional(fiatAmount({ description: 'The fiat that arrived; absent: the invoice amount', example: '1450.00' })) }),
  );

  app.get(
    '/deals',
    {
      schema: {
        summary: 'Deals, newest first',
        operationId: 'listDeals',
        tags,
        security,
        querystring: dealQuery.schema,
        response: { 200: pageOf(dealObject, 'Card numbers masked') },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED', 400: 'INVALID_CURSOR', 422: 'Validation error' } },
    },
    async (request) => {
      const q = request.query;
      return mapPage(await deals.list({ status: q.status, traderId: q.trader_id, ...pageRequest(q, DEAL_LIST_LIMIT_DEFAULT) }), (d) => dealView(d, 'admin'));
    },
  );

  const cancelBody = model({ reason: string({ min: 1, max: 500, description: 'Why: shown to the trader with the deal, and kept in the audit log' }) });

  app.post(
    '/deals/:deal_id/cancel',
    {
      schema: {
        summary: 'Cancel a deal awaiting payment, with a reason: its lock is released and its invoice cancelled',
        description:
          'The invoice ends cancelled with status_detail operator and its merchant gets invoice.cancelled. A deal whose customer said they paid cannot be cancelled: confirm it or let a dispute decide.',
        operationId: 'cancelDeal',
        tags,
        security,
        params: dealParams.schema,
        body: cancelBody.schema,
        response: { 200: dealObject },
      },
      config: {
        errorDocs: {
          401: 'UNAUTHORIZED',
          404: 'DEAL_NOT_FOUND',
          409: 'DEAL_NOT_ACTIVE (details.status); PAYMENT_IN_PROGRESS: the customer reported paying',
          422: 'Validation error',
        },
      },
    },
    async (request) => {
      const { deal_id } = request.params;
      await deals.cancelByOperator(deal_id, request.body.reason);
      const [row] = (await deals.list({ dealId: deal_id, limit: 1 })).items;
      if (!row) throw errors.dealNotFound();
      return dealView(row, 'admin');
    },
  );

  app.post(
    '/deals/:deal_id/confirm',
    {
      schema: {
        summary: 'Confirm a deal on behalf of its trader (recorded as confirmed_by admin)',
        operationId: 'confirmDeal',
        tags,
        security,
        params: dealParams.schema,
        body: confirmBody.schema,
        response: { 200: dealObject },
      },
      config: {
        errorDocs: {
          401: 'UNAUTHORIZED',
          400: 'OVERPAYMENT_TOO_LARGE',
          404: 'DEAL_NOT_FOUND',
          409: 'DEAL_NOT_ACTIVE (details.status); INSUFFICIENT_TRADER_BALANCE',
          422: 'Validation error',
        },
      },
    },
    async (request) => {
      const { deal_id } = request.params;
      await deals.confirm(deal_id, { admin: true }, undefined, request.body.received_amount);
      const [row] = (await deals.list({ dealId: deal_id, limit: 1 })).items;
      if (!row) throw errors.dealNotFound();
      return dealView(row, 'admin');
    },
  );
}
