// Ledger endpoints: the merchant's balance, and the admin's view of every account and its check.
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import { adminAuth, MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, type KeyOwners } from '../http/auth.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { model, type KasaApp } from '../http/validation.ts';
import { formatUsdt } from '../money.ts';
import { accountList, merchantBalance, verifyReport } from './schema.ts';
import { balanceOf, listAccounts, merchantAccount, merchantWithdrawalHold, verifyLedger, type VerifyReport } from './ledger.ts';
import { mapPage } from '../db/cursor.ts';

export function verifyView(report: VerifyReport) {
  return {
    ok: report.ok,
    accounts: report.accounts,
    transfers: report.transfers,
    total: formatUsdt(report.total),
    mismatched: report.mismatched.map((m) => ({ account: m.account, balance: formatUsdt(m.balance), computed: formatUsdt(m.computed) })),
    negative: report.negative.map((n) => ({ account: n.account, balance: formatUsdt(n.balance) })),
  };
}

export async function merchantLedgerRoutes(app: KasaApp, { keyOwners, db }: { keyOwners: KeyOwners; db: Kysely<DB> }) {
  app.addHook('onRequest', merchantAuth(keyOwners));
  app.get(
    '/api/v1/balance',
    {
      schema: {
        summary: 'USDT balance: available (credited from paid invoices) and on hold for withdrawals',
        operationId: 'getBalance',
        tags: ['merchant'],
        security: [{ merchantKey: [] }],
        response: { 200: merchantBalance },
      },
      // Any merchant key: both the shop's server (invoices) and its payout tooling (withdrawals) need it.
      config: { errorDocs: { 401: MERCHANT_AUTH_ERRORS } },
    },
    async (request) => {
      const merchantId = merchantOf(request).id;
      const [available, onHold] = await Promise.all([balanceOf(db, merchantAccount(merchantId)), balanceOf(db, merchantWithdrawalHold(merchantId))]);
      return { currency: 'USDT', available: formatUsdt(available, 2), on_hold: formatUsdt(onHold, 2) };
    },
  );
}

export async function ledgerAdminRoutes(app: KasaApp, { adminToken, db }: { adminToken: string; db: Kysely<DB> }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];
  const listQuery = model(pageFields);
  app.get(
    '/ledger/accounts',
    {
      schema: {
        summary: 'Every ledger account and its balance',
        operationId: 'listLedgerAccounts',
        tags: ['admin: ledger'],
        security,
        querystring: listQuery.schema,
        response: { 200: accountList },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED', 400: 'INVALID_CURSOR', 422: 'Validation error' } },
    },
    async (request) => {
      return mapPage(await listAccounts(db, pageRequest(request.query)), (a) => ({ account: a.account, balance: formatUsdt(a.balance) }));
    },
  );
  app.get(
    '/ledger/verify',
    {
      schema: {
        summary: 'Recompute every balance from the transfers; ok is false if anything is off',
        operationId: 'verifyLedger',
        tags: ['admin: ledger'],
        security,
        response: { 200: verifyReport },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED' } },
    },
    async () => verifyView(await verifyLedger(db)),
  );
}
