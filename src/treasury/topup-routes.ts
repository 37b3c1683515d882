// Trader API of top-ups (X-Api-Key with a trader key): report a transfer to Kasa, follow it.
import type { FastifyRequest } from 'fastify';
import { mapPage } from '../db/cursor.ts';
import { TRADER_AUTH_ERRORS, traderAuth, type KeyOwners } from '../http/auth.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import type { KasaApp } from '../http/validation.ts';
import { microUsdt } from '../money.ts';
import type { TraderRow } from '../traders/service.ts';
import { newTopup, topupListQuery, topupObject, topupParams, topupView } from './topup-schema.ts';
import { TOPUP_LIST_LIMIT_DEFAULT, type Topups } from './topups.ts';

const AUTH_ERRORS = { 401: TRADER_AUTH_ERRORS, 422: 'Validation error' };

function traderOf(request: FastifyRequest): TraderRow {
  if (!request.trader) throw new Error('route is missing the trader auth hook');
  return request.trader;
}

export async function topupRoutes(app: KasaApp, { keyOwners, topups, idempotent }: { keyOwners: KeyOwners; topups: Topups; idempotent: Idempotent }) {
  app.addHook('onRequest', traderAuth(keyOwners));
  const security = [{ traderKey: [] }];
  const tags = ['trader'];

  app.post(
    '/api/v1/trader/topups',
    {
      schema: {
        summary: 'Report USDT sent to Kasa; credited once an operator confirms it',
        operationId: 'createTopup',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        body: newTopup.schema,
        response: { 201: topupObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...AUTH_ERRORS, 409: 'TX_HASH_USED: the hash is already recorded for a withdrawal or another top-up' }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 201, async (trx) => {
        const { amount_usdt, network, tx_hash } = request.body;
        return topupView(await topups.submit(traderOf(request).id, { amount: microUsdt(amount_usdt), network, txHash: tx_hash }, trx));
      }),
  );

  app.get(
    '/api/v1/trader/topups',
    {
      schema: {
        summary: 'My top-ups, newest first',
        operationId: 'listTopups',
        tags,
        security,
        querystring: topupListQuery.schema,
        response: { 200: pageOf(topupObject) },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      const q = request.query;
      const listed = await topups.list({ traderId: traderOf(request).id, status: q.status, ...pageRequest(q, TOPUP_LIST_LIMIT_DEFAULT) });
      return mapPage(listed, topupView);
    },
  );

  app.get(
    '/api/v1/trader/topups/:topup_id',
    {
      schema: { summary: 'One of my top-ups', operationId: 'getTopup', tags, security, params: topupParams.schema, response: { 200: topupObject } },
      config: { errorDocs: { ...AUTH_ERRORS, 404: 'TOPUP_NOT_FOUND' } },
    },
    async (request) => topupView(await topups.get(request.params.topup_id, traderOf(request).id)),
  );
}
