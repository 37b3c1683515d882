// Admin API: deals across all traders (cards masked), operator confirmation.
import type { FastifyInstance } from 'fastify';
import type { Kasa } from '../context.ts';
import { adminAuth } from '../http/auth.ts';
import { enumeration, integer, model, optional, string, uuid, type ModelValue } from '../http/validation.ts';
import { errors } from '../errors.ts';
import { dealView } from '../traders/views.ts';

const DEAL_LIST_LIMIT_MAX = 100;
const DEAL_STATUSES = ['awaiting_payment', 'customer_paid', 'completed', 'expired', 'cancelled'] as const;

export async function dealAdminRoutes(app: FastifyInstance, { kasa }: { kasa: Kasa }) {
  app.addHook('onRequest', adminAuth(kasa));
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
    { schema: { summary: 'Deals, newest first', tags, security, querystring: dealQuery.schema }, config: { errorDocs: { 401: 'UNAUTHORIZED', 422: 'Validation error' } } },
    async (request) => {
      const q = request.query as ModelValue<typeof dealQuery>;
      const rows = await kasa.deals.list({ status: q.status, traderId: q.trader_id, limit: q.limit ?? 50 });
      return { items: rows.map((d) => dealView(d, 'admin')) };
    },
  );

  app.post(
    '/deals/:deal_id/confirm',
    {
      schema: { summary: 'Confirm a deal on behalf of its trader (recorded as confirmed_by admin)', tags, security, params: dealParams.schema },
      config: { errorDocs: { 401: 'UNAUTHORIZED', 404: 'DEAL_NOT_FOUND', 409: 'DEAL_NOT_ACTIVE' } },
    },
    async (request) => {
      const { deal_id } = request.params as ModelValue<typeof dealParams>;
      await kasa.deals.confirm(deal_id, { admin: true });
      const [row] = await kasa.deals.list({ dealId: deal_id, limit: 1 });
      if (!row) throw errors.dealNotFound();
      return dealView(row, 'admin');
    },
  );
}
