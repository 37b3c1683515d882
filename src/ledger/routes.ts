// Ledger endpoints: the merchant's balance, and the admin's view of every account and its check.
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { isoSeconds } from '../clock.ts';
import type { DB } from '../db/schema.ts';
import { adminAuth, MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, TRADER_AUTH_ERRORS, traderAuth, type KeyOwners } from '../http/auth.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { dateTime, enumeration, model, optional, string, type KasaApp } from '../http/validation.ts';
import { formatSignedUsdt, formatUsdt } from '../money.ts';
import { accountList, invoiceLedger, merchantBalance, merchantStatement, TRADER_STATEMENT_ACCOUNTS, traderStatement, verifyReport } from './schema.ts';
import { balanceOf, listAccounts, merchantAccount, merchantWithdrawalHold, verifyLedger, type VerifyReport } from './ledger.ts';
import type { InvoiceLedger, StatementEntry, Statements } from './statements.ts';
import { mapPage } from '../db/cursor.ts';

/** A statement page unless the caller asks for another size. */
const STATEMENT_LIMIT_DEFAULT = 50;

const statementFields = {
  from: optional(dateTime({ description: 'Movements posted at or after this time' })),
  to: optional(dateTime({ description: 'Movements posted before this time' })),
  ...pageFields,
};

const refIf = (entry: StatementEntry, kinds: RegExp) => (kinds.test(entry.kind) ? entry.ref : null);

function merchantEntryView(e: StatementEntry) {
  return {
    transfer_id: String(e.transferId),
    created_at: isoSeconds(e.createdAt),
    kind: e.kind,
    amount_usdt: formatSignedUsdt(e.amount),
    invoice_id: e.invoiceId,
    withdrawal_id: refIf(e, /^withdrawal_/),
    balance_after_usdt: formatUsdt(e.balanceAfter, 2),
  };
}

function traderEntryView(account: string, e: StatementEntry) {
  return {
    transfer_id: String(e.transferId),
    created_at: isoSeconds(e.createdAt),
    account,
    kind: e.kind,
    amount_usdt: formatSignedUsdt(e.amount),
    deal_id: refIf(e, /^deal_/),
    invoice_id: e.invoiceId,
    topup_id: refIf(e, /^topup$/),
    withdrawal_id: refIf(e, /^withdrawal_/),
    deposit_id: refIf(e, /^deposit$/),
    balance_after_usdt: formatUsdt(e.balanceAfter, 2),
  };
}

function invoiceLedgerView(invoiceId: string, l: InvoiceLedger) {
  const optionalUsdt = (micro: bigint | null) => (micro === null ? null : formatUsdt(micro, 2));
  return {
    invoice_id: invoiceId,
    transfers: l.transfers.map((t) => ({
      transfer_id: String(t.transferId),
      from_account: t.from,
      to_account: t.to,
      amount_usdt: formatUsdt(t.amount, 2),
      kind: t.kind,
      created_at: isoSeconds(t.createdAt),
    })),
    accounts: l.accounts.map((a) => ({ account: a.account, net_usdt: formatSignedUsdt(a.net) })),
    breakdown: {
      gross_usdt: formatUsdt(l.breakdown.gross, 2),
      trader_reward_usdt: optionalUsdt(l.breakdown.traderReward),
      platform_revenue_usdt: optionalUsdt(l.breakdown.platformRevenue),
      merchant_usdt: formatUsdt(l.breakdown.merchant, 2),
    },
  };
}

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

export async function merchantLedgerRoutes(app: KasaApp, { keyOwners, db, statements }: { keyOwners: KeyOwners; db: Kysely<DB>; statements: Statements }) {
  app.addHook('onRequest', merchantAuth(keyOwners));
  const security = [{ merchantKey: [] }];
  const statementQuery = model(statementFields);
  const invoiceParams = model({ invoice_id: string({ min: 1, max: 64 }) });

  app.get(
    '/api/v1/balance/transactions',
    {
      schema: {
        summary: 'Statement: every movement of my balance, newest first, with the balance after each',
        operationId: 'listBalanceTransactions',
        tags: ['merchant'],
        security,
        querystring: statementQuery.schema,
        response: { 200: merchantStatement },
      },
      config: { errorDocs: { 401: MERCHANT_AUTH_ERRORS, 400: 'INVALID_CURSOR', 422: 'Validation error' } },
    },
    async (request) => {
      const q = request.query;
      const listed = await statements.account(merchantAccount(merchantOf(request).id), { from: q.from, to: q.to, ...pageRequest(q, STATEMENT_LIMIT_DEFAULT) });
      return mapPage(listed, merchantEntryView);
    },
  );

  app.get(
    '/api/v1/invoices/:invoice_id/transfers',
    {
      schema: {
        summary: 'Every ledger transfer an invoice caused, and what makes up its merchant_usdt',
        operationId: 'getInvoiceTransfers',
        tags: ['invoices'],
        security,
        params: invoiceParams.schema,
        response: { 200: invoiceLedger },
      },
      config: { errorDocs: { 401: MERCHANT_AUTH_ERRORS, 404: 'INVOICE_NOT_FOUND' } },
    },
    async (request) => {
      const { invoice_id } = request.params;
      return invoiceLedgerView(invoice_id, await statements.invoice(merchantOf(request).id, invoice_id));
    },
  );

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

function traderOf(request: FastifyRequest) {
  if (!request.trader) throw new Error('route is missing the trader auth hook');
  return request.trader;
}

export async function traderLedgerRoutes(app: KasaApp, { keyOwners, statements }: { keyOwners: KeyOwners; statements: Statements }) {
  app.addHook('onRequest', traderAuth(keyOwners));
  const statementQuery = model({
    account: optional(enumeration(TRADER_STATEMENT_ACCOUNTS, { description: 'Which of my accounts (default available)' })),
    ...statementFields,
  });
  app.get(
    '/api/v1/trader/balance/transactions',
    {
      schema: {
        summary: 'Statement of one of my accounts (available by default), newest first, with the balance after each movement',
        operationId: 'listTraderBalanceTransactions',
        tags: ['trader'],
        security: [{ traderKey: [] }],
        querystring: statementQuery.schema,
        response: { 200: traderStatement },
      },
      config: { errorDocs: { 401: TRADER_AUTH_ERRORS, 400: 'INVALID_CURSOR', 422: 'Validation error' } },
    },
    async (request) => {
      const q = request.query;
      const account = q.account ?? 'available';
      const listed = await statements.account(`trader:${traderOf(request).id}:${account}`, {
        from: q.from,
        to: q.to,
        ...pageRequest(q, STATEMENT_LIMIT_DEFAULT),
      });
      return mapPage(listed, (e) => traderEntryView(account, e));
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
