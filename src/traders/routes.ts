// Trader API (X-Api-Key with a trader key): requisites, deals, confirmation, balance.
import type { FastifyRequest } from 'fastify';
import { DEAL_LIST_LIMIT_DEFAULT, type Deals } from '../deals/service.ts';
import { TRADER_AUTH_ERRORS, traderAuth, type KeyOwners } from '../http/auth.ts';
import { errors } from '../errors.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { enumeration, fiatAmount, model, optional, optionalBody, string, type KasaApp } from '../http/validation.ts';
import type { TraderRow, Traders } from './service.ts';
import { balanceObject, dealObject, newRequisiteModel, requisiteObject, requisitePatchModel } from './schema.ts';
import { balanceView, dealView, requisiteView } from './views.ts';
import { mapPage } from '../db/cursor.ts';
import { DEAL_STATUSES, REJECT_REASONS } from '../lifecycle.ts';

const AUTH_ERRORS = { 401: TRADER_AUTH_ERRORS, 422: 'Validation error' };
const listQuery = model(pageFields);

function traderOf(request: FastifyRequest): TraderRow {
  if (!request.trader) throw new Error('route is missing the trader auth hook');
  return request.trader;
}

export async function traderRoutes(
  app: KasaApp,
  { keyOwners, traders, deals, idempotent }: { keyOwners: KeyOwners; traders: Traders; deals: Deals; idempotent: Idempotent },
) {
  app.addHook('onRequest', traderAuth(keyOwners));

  const security = [{ traderKey: [] }];
  const tags = ['trader'];
  const requisiteParams = model({ requisite_id: string({ min: 1, max: 64 }) });
  const dealParams = model({ deal_id: string({ min: 1, max: 64 }) });
  const dealQuery = model({
    status: optional(enumeration(DEAL_STATUSES)),
    ...pageFields,
  });
  const confirmBody = optionalBody(
    model({
      received_amount: optional(
        fiatAmount({ description: 'The fiat that arrived; absent: the invoice amount. Another amount recalculates the invoice', example: '1450.00' }),
      ),
    }),
  );
  const rejectBody = model({
    reason: enumeration(REJECT_REASONS, { description: 'Why the deal is rejected' }),
    comment: optional(string({ min: 1, max: 500, description: 'What the trader saw' })),
  });

  app.post(
    '/api/v1/trader/requisites',
    {
      schema: {
        summary: 'Add a card',
        operationId: 'createRequisite',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        body: newRequisiteModel.schema,
        response: { 201: requisiteObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH_ERRORS, 400: 'CURRENCY_INVALID; REQUISITE_RANGE_INVALID' }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 201, async (trx) => requisiteView(await traders.createRequisite(traderOf(request).id, request.body, trx), 'owner')),
  );

  app.get(
    '/api/v1/trader/requisites',
    {
      schema: {
        summary: 'My cards, in the order added',
        operationId: 'listRequisites',
        tags,
        security,
        querystring: listQuery.schema,
        response: { 200: pageOf(requisiteObject) },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      return mapPage(await traders.listRequisites(traderOf(request).id, pageRequest(request.query)), (r) => requisiteView(r, 'owner'));
    },
  );

  app.patch(
    '/api/v1/trader/requisites/:requisite_id',
    {
      schema: {
        summary: 'Change a card (limits, active)',
        operationId: 'updateRequisite',
        tags,
        security,
        params: requisiteParams.schema,
        body: requisitePatchModel.schema,
        response: { 200: requisiteObject },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 404: 'REQUISITE_NOT_FOUND', 400: 'REQUISITE_RANGE_INVALID' } },
    },
    async (request) => {
      return requisiteView(await traders.updateRequisite(traderOf(request).id, request.params.requisite_id, request.body), 'owner');
    },
  );

  app.get(
    '/api/v1/trader/deals',
    {
      schema: {
        summary: 'My deals, newest first',
        operationId: 'listTraderDeals',
        tags,
        security,
        querystring: dealQuery.schema,
        response: { 200: pageOf(dealObject) },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      const q = request.query;
      return mapPage(await deals.list({ traderId: traderOf(request).id, status: q.status, ...pageRequest(q, DEAL_LIST_LIMIT_DEFAULT) }), (d) =>
        dealView(d, 'owner'),
      );
    },
  );

  app.post(
    '/api/v1/trader/deals/:deal_id/confirm',
    {
      schema: {
        summary: 'Confirm the fiat arrived: the invoice succeeds and the merchant is credited',
        operationId: 'confirmTraderDeal',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        params: dealParams.schema,
        body: confirmBody.schema,
        response: { 200: dealObject },
      },
      config: {
        errorDocs: withIdempotencyErrors({
          ...AUTH_ERRORS,
          400: 'OVERPAYMENT_TOO_LARGE: received_amount is more than overpayment_max_percent above the invoice amount',
          404: 'DEAL_NOT_FOUND',
          409: 'DEAL_NOT_ACTIVE (details.status); INSUFFICIENT_TRADER_BALANCE: an overpayment or a late confirmation needs more than the available balance',
        }),
      },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) => {
        const { deal_id } = request.params;
        const trader = traderOf(request);
        await deals.confirm(deal_id, { trader: trader.id }, trx, request.body.received_amount);
        const [row] = (await deals.list({ traderId: trader.id, dealId: deal_id, limit: 1 }, trx)).items;
        if (!row) throw errors.dealNotFound();
        return dealView(row, 'owner');
      }),
  );

  app.post(
    '/api/v1/trader/deals/:deal_id/reject',
    {
      schema: {
        summary: 'Reject a deal whose payment did not arrive: the lock goes back, the invoice gets another card',
        operationId: 'rejectTraderDeal',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        params: dealParams.schema,
        body: rejectBody.schema,
        response: { 200: dealObject },
      },
      config: {
        errorDocs: withIdempotencyErrors({
          ...AUTH_ERRORS,
          404: 'DEAL_NOT_FOUND',
          409: 'DEAL_NOT_REJECTABLE: the customer reported paying (details.status); DEAL_NOT_ACTIVE: the deal or its invoice is final (details.status)',
        }),
      },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) => {
        const { deal_id } = request.params;
        const trader = traderOf(request);
        await deals.reject(deal_id, trader.id, request.body, trx);
        const [row] = (await deals.list({ traderId: trader.id, dealId: deal_id, limit: 1 }, trx)).items;
        if (!row) throw errors.dealNotFound();
        return dealView(row, 'owner');
      }),
  );

  app.get(
    '/api/v1/trader/balance',
    {
      schema: { summary: 'My USDT balance', operationId: 'getTraderBalance', tags, security, response: { 200: balanceObject } },
      config: { errorDocs: AUTH_ERRORS },
    },
    async (request) => balanceView(await traders.balance(traderOf(request).id)),
  );
}
