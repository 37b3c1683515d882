// Merchant invoice API. Routes parse (models), call one service function, return its result.
import type { Deals } from '../deals/service.ts';
import { MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, scopeErrors, type KeyOwners } from '../http/auth.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import type { KasaApp } from '../http/validation.ts';
import { Readable } from 'node:stream';
import { textResponse } from '../http/schemas.ts';
import { EXPORT_COLUMNS, EXPORT_ROWS_MAX, type Invoices } from './service.ts';
import {
  createdInvoiceObject,
  createInvoiceBody,
  invoiceHistoryObject,
  invoiceIdParams,
  invoiceObject,
  invoicePage,
  LIST_LIMIT_DEFAULT,
  listInvoicesQuery,
  exportInvoicesQuery,
} from './schema.ts';

const AUTH_ERRORS = { 401: MERCHANT_AUTH_ERRORS, 403: scopeErrors('invoices') };

export interface InvoiceRoutesOptions {
  keyOwners: KeyOwners;
  invoices: Invoices;
  deals: Deals;
  webhookAllowPrivate: boolean;
  idempotent: Idempotent;
}

export async function invoiceRoutes(app: KasaApp, { keyOwners, invoices, deals, webhookAllowPrivate, idempotent }: InvoiceRoutesOptions) {
  app.addHook('onRequest', merchantAuth(keyOwners, 'invoices'));

  const body = createInvoiceBody(webhookAllowPrivate);
  const createSchema = {
    summary: 'Create Invoice',
    operationId: 'createInvoice',
    tags: ['invoices'],
    security: [{ merchantKey: [] }],
    headers: idempotencyHeaders.schema,
    body: body.schema,
    response: { 200: createdInvoiceObject },
  };
  const createConfig = {
    errorDocs: withIdempotencyErrors({
      ...AUTH_ERRORS,
      400: 'Body malformed (not JSON or not application/json), in the documented Bad Request shape; CURRENCY_INVALID: Currency not found or disabled; AMOUNT_OUT_OF_RANGE',
      409: 'DUPLICATE_EXTERNAL_ID (details.invoice_id: the existing invoice)',
      413: 'PAYLOAD_TOO_LARGE: body over 64 KiB',
      422: 'Validation error: every violation, Pydantic v2 types',
      429: 'CUSTOMER_RATE_LIMITED (details.reason rate|pending|unpaid, retry_after_seconds; Retry-After header)',
      503: 'DEALS_SYSTEM_DISABLED: Deals system is disabled; RATE_UNAVAILABLE: Exchange rate is not available; DATABASE_UNAVAILABLE: the database could not be reached, retry (Retry-After; a repeat of a request that took effect answers 409 DUPLICATE_EXTERNAL_ID with its invoice_id)',
    }),
  };
  for (const url of ['/api/v1/create-invoice', '/v1/api/v1/create-invoice']) {
    app.post(url, { schema: { ...createSchema, hide: url.startsWith('/v1/') }, config: createConfig }, async (request, reply) =>
      idempotent(request, reply, 200, (trx) => invoices.create(merchantOf(request), request.body, trx)),
    );
  }

  app.get(
    '/api/v1/invoices/:invoice_id',
    {
      schema: {
        summary: 'Get an invoice',
        operationId: 'getInvoice',
        tags: ['invoices'],
        security: [{ merchantKey: [] }],
        params: invoiceIdParams.schema,
        response: { 200: invoiceObject },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 404: 'INVOICE_NOT_FOUND' } },
    },
    async (request) => invoices.get(merchantOf(request).id, request.params.invoice_id),
  );

  app.get(
    '/api/v1/invoices/:invoice_id/history',
    {
      schema: {
        summary: "An invoice's history: created, then every status change once, in order",
        operationId: 'getInvoiceHistory',
        tags: ['invoices'],
        security: [{ merchantKey: [] }],
        params: invoiceIdParams.schema,
        response: { 200: invoiceHistoryObject },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 404: 'INVOICE_NOT_FOUND' } },
    },
    async (request) => invoices.history(merchantOf(request).id, request.params.invoice_id),
  );

  app.get(
    '/api/v1/invoices',
    {
      schema: {
        summary: 'List invoices, newest first',
        operationId: 'listInvoices',
        tags: ['invoices'],
        security: [{ merchantKey: [] }],
        querystring: listInvoicesQuery.schema,
        response: { 200: invoicePage },
      },
      config: { errorDocs: { ...AUTH_ERRORS, 400: 'INVALID_CURSOR', 422: 'Validation error' } },
    },
    async (request) => {
      const q = request.query;
      return invoices.list(merchantOf(request).id, {
        status: q.status,
        external_id: q.external_id,
        customer_id: q.customer_id,
        created_from: q.created_from,
        created_to: q.created_to,
        limit: q.limit ?? LIST_LIMIT_DEFAULT,
        cursor: q.cursor,
      });
    },
  );

  app.get(
    '/api/v1/invoices/export',
    {
      schema: {
        summary: 'Export invoices as CSV, newest first (the same filters as the list)',
        description: `Streamed; one header line, then one line per invoice: ${EXPORT_COLUMNS.join(', ')}. At most ${EXPORT_ROWS_MAX} invoices: more matching is refused before the first byte (narrow the dates). Cells a spreadsheet would run as a formula start with an apostrophe.`,
        operationId: 'exportInvoices',
        tags: ['invoices'],
        security: [{ merchantKey: [] }],
        querystring: exportInvoicesQuery.schema,
        response: { 200: textResponse('text/csv', 'The invoices, RFC 4180 CSV in UTF-8') },
      },
      config: {
        errorDocs: { ...AUTH_ERRORS, 400: `EXPORT_TOO_LARGE: more than ${EXPORT_ROWS_MAX} invoices match (details.rows_max)`, 422: 'Validation error' },
      },
    },
    async (request, reply) => {
      const lines = await invoices.exportCsv(merchantOf(request).id, request.query);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="invoices.csv"')
        .header('cache-control', 'no-store')
        .send(Readable.from(lines));
    },
  );

  app.post(
    '/api/v1/invoices/:invoice_id/cancel',
    {
      schema: {
        summary: 'Cancel a pending invoice',
        operationId: 'cancelInvoice',
        tags: ['invoices'],
        security: [{ merchantKey: [] }],
        headers: idempotencyHeaders.schema,
        params: invoiceIdParams.schema,
        response: { 200: invoiceObject },
      },
      config: {
        errorDocs: withIdempotencyErrors({
          ...AUTH_ERRORS,
          404: 'INVOICE_NOT_FOUND',
          409: 'INVOICE_NOT_PENDING; PAYMENT_IN_PROGRESS: the customer reported paying',
        }),
      },
    },
    async (request, reply) => idempotent(request, reply, 200, (trx) => deals.cancelInvoice(merchantOf(request).id, request.params.invoice_id, trx)),
  );
}
