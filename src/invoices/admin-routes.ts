// Admin API: any merchant's invoice, with what only the operator reads (its rate snapshot).
import { adminAuth } from '../http/auth.ts';
import type { KasaApp } from '../http/validation.ts';
import type { Invoices } from './service.ts';
import { invoiceHistoryObject, invoiceIdParams, operatorInvoiceObject } from './schema.ts';

export async function invoiceAdminRoutes(app: KasaApp, { adminToken, invoices }: { adminToken: string; invoices: Invoices }) {
  app.addHook('onRequest', adminAuth(adminToken));

  app.get(
    '/invoices/:invoice_id',
    {
      schema: {
        summary: 'An invoice of any merchant, with its rate snapshot',
        operationId: 'getInvoiceAsOperator',
        tags: ['admin: invoices'],
        security: [{ adminToken: [] }],
        params: invoiceIdParams.schema,
        response: { 200: operatorInvoiceObject },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED: missing or invalid admin token', 404: 'INVOICE_NOT_FOUND', 422: 'Validation error' } },
    },
    async (request) => invoices.getForOperator(request.params.invoice_id),
  );

  app.get(
    '/invoices/:invoice_id/history',
    {
      schema: {
        summary: "Any merchant's invoice's history: created, then every status change once, in order",
        operationId: 'getInvoiceHistoryAsOperator',
        tags: ['admin: invoices'],
        security: [{ adminToken: [] }],
        params: invoiceIdParams.schema,
        response: { 200: invoiceHistoryObject },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED: missing or invalid admin token', 404: 'INVOICE_NOT_FOUND', 422: 'Validation error' } },
    },
    async (request) => invoices.history(null, request.params.invoice_id),
  );
}
