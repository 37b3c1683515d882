// Admin API: traders, their keys and deposits.
import { adminAuth } from '../http/auth.ts';
import { decimal, enumeration, model, optional, string, type KasaApp } from '../http/validation.ts';
import { formatUsdt, microUsdt, toScaled, USDT_DECIMALS } from '../money.ts';
import type { Traders } from './service.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { createdTrader, depositObject, insuranceMove, issuedApiKey, nonZero, traderObject, traderWithBalance } from './schema.ts';
import { balanceView, traderView } from './views.ts';
import { mapPage } from '../db/cursor.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

export async function traderAdminRoutes(app: KasaApp, { adminToken, traders }: { adminToken: string; traders: Traders }) {
  app.addHook('onRequest', adminAuth(adminToken));
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
  const insuranceBody = model({
    amount_usdt: nonZero(
      decimal({
        maxPlaces: 2,
        maxDigits: 14,
        description: 'USDT moved from available to insurance; negative: released from insurance to available',
        example: '100.00',
      }),
    ),
  });
  const notFound = { ...ADMIN_ERRORS, 404: 'TRADER_NOT_FOUND' };
  const listQuery = model(pageFields);

  app.post(
    '/traders',
    {
      schema: {
        summary: 'Create a trader (returns its API key, shown once)',
        operationId: 'createTrader',
        tags,
        security,
        body: newTrader.schema,
        response: { 201: createdTrader },
      },
      config: { errorDocs: ADMIN_ERRORS },
    },
    async (request, reply) => {
      const created = await traders.create(request.body);
      reply.code(201);
      return { ...traderView(created.trader), api_key: created.apiKey, key_id: created.keyId, prefix: created.prefix };
    },
  );

  app.get(
    '/traders',
    {
      schema: {
        summary: 'List traders with their balances, in creation order',
        operationId: 'listTraders',
        tags,
        security,
        querystring: listQuery.schema,
        response: { 200: pageOf(traderWithBalance) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      return mapPage(await traders.list(pageRequest(request.query)), (t) => ({ ...traderView(t), balance: balanceView(t.balance) }));
    },
  );

  app.get(
    '/traders/:id',
    {
      schema: {
        summary: 'Get a trader with its balance',
        operationId: 'getTrader',
        tags,
        security,
        params: traderParams.schema,
        response: { 200: traderWithBalance },
      },
      config: { errorDocs: notFound },
    },
    async (request) => {
      const trader = await traders.get(request.params.id);
      return { ...traderView(trader), balance: balanceView(await traders.balance(trader.id)) };
    },
  );

  app.patch(
    '/traders/:id',
    {
      schema: {
        summary: 'Change a trader (status, reward_percent)',
        operationId: 'updateTrader',
        tags,
        security,
        params: traderParams.schema,
        body: traderPatch.schema,
        response: { 200: traderObject },
      },
      config: { errorDocs: notFound },
    },
    async (request) => traderView(await traders.update(request.params.id, request.body)),
  );

  app.post(
    '/traders/:id/deposits',
    {
      schema: {
        summary: "Credit a trader's USDT deposit (world → trader:available)",
        operationId: 'createTraderDeposit',
        tags,
        security,
        params: traderParams.schema,
        body: depositBody.schema,
        response: { 201: depositObject },
      },
      config: { errorDocs: { ...notFound, 409: 'DEPOSIT_REFERENCE_USED' } },
    },
    async (request, reply) => {
      const { id } = request.params;
      const body = request.body;
      const amount = toScaled(body.amount_usdt, USDT_DECIMALS);
      const result = await traders.deposit(id, amount, body.reference);
      reply.code(201);
      return {
        deposit_id: result.depositId,
        trader_id: id,
        amount_usdt: formatUsdt(amount, 2),
        reference: body.reference,
        available: formatUsdt(result.available, 2),
      };
    },
  );

  app.post(
    '/traders/:id/insurance',
    {
      schema: {
        summary: "Move a trader's USDT into insurance (available → insurance), or release it (a negative amount)",
        operationId: 'moveTraderInsurance',
        tags,
        security,
        params: traderParams.schema,
        body: insuranceBody.schema,
        response: { 200: insuranceMove },
      },
      config: {
        errorDocs: {
          ...notFound,
          409: 'INSUFFICIENT_FUNDS: more than available; INSURANCE_INSUFFICIENT: a release larger than the insurance (details.insurance); INSURANCE_IN_USE: a release while the trader has open deals (details.open_deals)',
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const amount = microUsdt(request.body.amount_usdt);
      const balance = await traders.moveInsurance(id, amount);
      return { trader_id: id, amount_usdt: formatUsdt(amount, 2), balance: balanceView(balance) };
    },
  );

  app.post(
    '/traders/:id/api-keys',
    {
      schema: {
        summary: 'Create a trader API key (shown once)',
        operationId: 'createTraderApiKey',
        tags,
        security,
        params: traderParams.schema,
        response: { 201: issuedApiKey },
      },
      config: { errorDocs: notFound },
    },
    async (request, reply) => {
      const key = await traders.createApiKey(request.params.id);
      reply.code(201);
      return { key_id: key.keyId, api_key: key.apiKey, prefix: key.prefix };
    },
  );
}
