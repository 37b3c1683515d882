// Admin API: traders, their keys and deposits.
import type { FastifyInstance } from 'fastify';
import type { Kasa } from '../context.ts';
import { adminAuth } from '../http/auth.ts';
import { decimal, enumeration, model, optional, string, type ModelValue } from '../http/validation.ts';
import { formatUsdt, toScaled, USDT_DECIMALS } from '../money.ts';
import { LIST_LIMIT_DEFAULT, pageFields } from '../http/paging.ts';
import { balanceView, traderView } from './views.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

export async function traderAdminRoutes(app: FastifyInstance, { kasa }: { kasa: Kasa }) {
  app.addHook('onRequest', adminAuth(kasa));
  const security = [{ adminToken: [] }];
  const tags = ['admin: traders'];
  const rewardPercent = decimal({ ge: '0', lt: '100', maxPlaces: 2, maxDigits: 5, description: 'Share of each deal the trader earns', example: '1.00' });
  const newTrader = model({ name: string({ min: 1, max: 200 }), reward_percent: optional(rewardPercent) });
  const traderPatch = model({
    name: optional(string({ min: 1, max: 200 })),
    status: optional(enumeration(['active', 'disabled'] as const)),
    reward_percent: optional(rewardPercent),
  });
  const traderParams = model({ id: string({ min: 1, max: 64 }) });
  const depositBody = model({
    amount_usdt: decimal({ gt: '0', maxPlaces: USDT_DECIMALS, maxDigits: 18, description: 'USDT received from the trader', example: '1000.00' }),
    reference: string({ min: 1, max: 200, description: 'Your reference of the incoming transfer (e.g. a transaction hash); unique per trader' }),
  });
  const notFound = { ...ADMIN_ERRORS, 404: 'TRADER_NOT_FOUND' };
  const listQuery = model(pageFields);

  app.post(
    '/traders',
    { schema: { summary: 'Create a trader (returns its API key, shown once)', tags, security, body: newTrader.schema }, config: { errorDocs: ADMIN_ERRORS } },
    async (request, reply) => {
      const created = await kasa.traders.create(request.body as ModelValue<typeof newTrader>);
      reply.code(201);
      return { ...traderView(created.trader), api_key: created.apiKey, key_id: created.keyId, prefix: created.prefix };
    },
  );

  app.get(
    '/traders',
    { schema: { summary: 'List traders, newest first', tags, security, querystring: listQuery.schema }, config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } } },
    async (request) => {
      const q = request.query as ModelValue<typeof listQuery>;
      const { items, next_cursor } = await kasa.traders.list({ limit: q.limit ?? LIST_LIMIT_DEFAULT, cursor: q.cursor });
      return { items: items.map((t) => ({ ...traderView(t), balance: balanceView(t) })), next_cursor };
    },
  );

  app.get(
    '/traders/:id',
    { schema: { summary: 'Get a trader with its balance', tags, security, params: traderParams.schema }, config: { errorDocs: notFound } },
    async (request) => {
      const trader = await kasa.traders.get((request.params as ModelValue<typeof traderParams>).id);
      return { ...traderView(trader), balance: balanceView(await kasa.traders.balance(trader.id)) };
    },
  );

  app.patch(
    '/traders/:id',
    { schema: { summary: 'Change a trader (status, reward_percent)', tags, security, params: traderParams.schema, body: traderPatch.schema }, config: { errorDocs: notFound } },
    async (request) =>
      traderView(await kasa.traders.update((request.params as ModelValue<typeof traderParams>).id, request.body as ModelValue<typeof traderPatch>)),
  );

  app.post(
    '/traders/:id/deposits',
    {
      schema: { summary: "Credit a trader's USDT deposit (world → trader:available)", tags, security, params: traderParams.schema, body: depositBody.schema },
      config: { errorDocs: { ...notFound, 409: 'DEPOSIT_REFERENCE_USED' } },
    },
    async (request, reply) => {
      const { id } = request.params as ModelValue<typeof traderParams>;
      const body = request.body as ModelValue<typeof depositBody>;
      const amount = toScaled(body.amount_usdt, USDT_DECIMALS);
      const result = await kasa.traders.deposit(id, amount, body.reference);
      reply.code(201);
      return { deposit_id: result.depositId, trader_id: id, amount_usdt: formatUsdt(amount, 2), reference: body.reference, available: formatUsdt(result.available, 2) };
    },
  );

  app.post(
    '/traders/:id/api-keys',
    { schema: { summary: 'Create a trader API key (shown once)', tags, security, params: traderParams.schema }, config: { errorDocs: notFound } },
    async (request, reply) => {
      const key = await kasa.traders.createApiKey((request.params as ModelValue<typeof traderParams>).id);
      reply.code(201);
      return { key_id: key.keyId, api_key: key.apiKey, prefix: key.prefix };
    },
  );
}
