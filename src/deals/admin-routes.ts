// Admin API: deals across all traders (cards masked), operator confirmation.
import { adminAuth } from '../http/auth.ts';
import { enumeration, model, optional, string, uuid, type KasaApp } from '../http/validation.ts';
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

  app.post(
    '/deals/:deal_id/confirm',
    {
      schema: {
        summary: 'Confirm a deal on behalf of its trader (recorded as confirmed_by admin)',
        operationId: 'confirmDeal',
        tags,
        security,
        params: dealParams.schema,
        response: { 200: dealObject },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED', 404: 'DEAL_NOT_FOUND', 409: 'DEAL_NOT_ACTIVE' } },
    },
    async (request) => {
      const { deal_id } = request.params;
      await deals.confirm(deal_id, { admin: true });
      const [row] = (await deals.list({ dealId: deal_id, limit: 1 })).items;
      if (!row) throw errors.dealNotFound();
      return dealView(row, 'admin');
    },
  );
}
