// Admin API: deals across all traders (cards masked), operator confirmation.
import { adminAuth } from '../http/auth.ts';
import { enumeration, integer, model, optional, string, uuid, type KasaApp } from '../http/validation.ts';
import { errors } from '../errors.ts';
import { itemsOf } from '../http/schemas.ts';
import { dealObject } from '../traders/schema.ts';
import { dealView } from '../traders/views.ts';
import type { Deals } from './service.ts';

const DEAL_LIST_LIMIT_MAX = 100;
const DEAL_STATUSES = ['awaiting_payment', 'customer_paid', 'completed', 'expired', 'cancelled'] as const;

export async function dealAdminRoutes(app: KasaApp, { adminToken, deals }: { adminToken: string; deals: Deals }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];
  const tags = ['admin: deals'];
  const dealQuery = model({
    status: optional(enumeration(DEAL_STATUSES)),
    trader_id: optional(uuid()),
    limit: optional(integer({ min: 1, max: DEAL_LIST_LIMIT_MAX })),
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
        response: { 200: itemsOf(dealObject, 'Card numbers masked') },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED', 422: 'Validation error' } },
    },
    async (request) => {
      const q = request.query;
      const rows = await deals.list({ status: q.status, traderId: q.trader_id, limit: q.limit ?? 50 });
      return { items: rows.map((d) => dealView(d, 'admin')) };
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
      const [row] = await deals.list({ dealId: deal_id, limit: 1 });
      if (!row) throw errors.dealNotFound();
      return dealView(row, 'admin');
    },
  );
}
