// Withdrawals in the merchant API (a key granted the withdrawals scope) and in the trader API:
// the same routes over the same module, each owner seeing only its own.
import type { FastifyRequest } from 'fastify';
import { MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, scopeErrors, TRADER_AUTH_ERRORS, traderAuth, traderOf, type KeyOwners } from '../http/auth.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import type { KasaApp } from '../http/validation.ts';
import { mapPage } from '../db/cursor.ts';
import { newWithdrawal, withdrawalListQuery, withdrawalObject, withdrawalParams } from './withdrawal-schema.ts';
import { withdrawalView, type WithdrawalOwner, type Withdrawals } from './withdrawals.ts';

const REQUEST_ERRORS = 'AMOUNT_OUT_OF_RANGE: below the smallest withdrawal setting (details.min_amount)';

interface Audience {
  /** The path prefix: /api/v1 or /api/v1/trader. */
  base: string;
  tag: string;
  security: Record<string, string[]>[];
  operation: (verb: string) => string;
  errors: Record<number, string>;
  ownerOf: (request: FastifyRequest) => WithdrawalOwner;
}

/** The five routes, for one audience. */
function withdrawalRoutes(app: KasaApp, withdrawals: Withdrawals, idempotent: Idempotent, a: Audience) {
  const schema = { tags: [a.tag], security: a.security };
  const notFound = { ...a.errors, 404: 'WITHDRAWAL_NOT_FOUND: no such withdrawal of yours' };

  app.post(
    `${a.base}/withdrawals`,
    {
      schema: {
        ...schema,
        summary: 'Withdraw USDT to a TRC20 address: the amount is held at once',
        operationId: a.operation('create'),
        headers: idempotencyHeaders.schema,
        body: newWithdrawal.schema,
        response: { 201: withdrawalObject },
      },
      config: {
        errorDocs: withIdempotencyErrors({ ...a.errors, 400: REQUEST_ERRORS, 409: 'INSUFFICIENT_BALANCE: more than available (details.available)' }),
      },
    },
    async (request, reply) => idempotent(request, reply, 201, async (trx) => withdrawalView(await withdrawals.request(a.ownerOf(request), request.body, trx))),
  );

  app.get(
    `${a.base}/withdrawals`,
    {
      schema: {
        ...schema,
        summary: 'My withdrawals, newest first',
        operationId: a.operation('list'),
        querystring: withdrawalListQuery.schema,
        response: { 200: pageOf(withdrawalObject) },
      },
      config: { errorDocs: { ...a.errors, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      const q = request.query;
      return mapPage(await withdrawals.list(a.ownerOf(request), { status: q.status, ...pageRequest(q) }), withdrawalView);
    },
  );

  app.get(
    `${a.base}/withdrawals/:withdrawal_id`,
    {
      schema: {
        ...schema,
        summary: 'One of my withdrawals',
        operationId: a.operation('get'),
        params: withdrawalParams.schema,
        response: { 200: withdrawalObject },
      },
      config: { errorDocs: notFound },
    },
    async (request) => withdrawalView(await withdrawals.get(a.ownerOf(request), request.params.withdrawal_id)),
  );

  app.post(
    `${a.base}/withdrawals/:withdrawal_id/cancel`,
    {
      schema: {
        ...schema,
        summary: 'Cancel a withdrawal not yet approved: the amount returns to the balance',
        operationId: a.operation('cancel'),
        headers: idempotencyHeaders.schema,
        params: withdrawalParams.schema,
        response: { 200: withdrawalObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...notFound, 409: 'WITHDRAWAL_NOT_ALLOWED: it is no longer requested (details.status)' }) },
    },
    async (request, reply) =>
      idempotent(request, reply, 200, async (trx) => withdrawalView(await withdrawals.cancel(a.ownerOf(request), request.params.withdrawal_id, trx))),
  );
}

interface WithdrawalRoutesOptions {
  keyOwners: KeyOwners;
  withdrawals: Withdrawals;
  idempotent: Idempotent;
}

export async function merchantWithdrawalRoutes(app: KasaApp, { keyOwners, withdrawals, idempotent }: WithdrawalRoutesOptions) {
  app.addHook('onRequest', merchantAuth(keyOwners, 'withdrawals'));
  withdrawalRoutes(app, withdrawals, idempotent, {
    base: '/api/v1',
    tag: 'withdrawals',
    security: [{ merchantKey: [] }],
    operation: (verb) => `${verb}Withdrawal${verb === 'list' ? 's' : ''}`,
    errors: { 401: MERCHANT_AUTH_ERRORS, 403: scopeErrors('withdrawals'), 422: 'Validation error' },
    ownerOf: (request) => ({ kind: 'merchant', id: merchantOf(request).id }),
  });
}

export async function traderWithdrawalRoutes(app: KasaApp, { keyOwners, withdrawals, idempotent }: WithdrawalRoutesOptions) {
  app.addHook('onRequest', traderAuth(keyOwners));
  withdrawalRoutes(app, withdrawals, idempotent, {
    base: '/api/v1/trader',
    tag: 'trader',
    security: [{ traderKey: [] }],
    operation: (verb) => `${verb}TraderWithdrawal${verb === 'list' ? 's' : ''}`,
    errors: { 401: TRADER_AUTH_ERRORS, 422: 'Validation error' },
    ownerOf: (request) => ({ kind: 'trader', id: traderOf(request).id }),
  });
}
