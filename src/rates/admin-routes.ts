// Admin API: currencies with their rates and limits, and the platform settings.
import { adminAuth } from '../http/auth.ts';
import { boolean, decimal, fiatAmount, integer, model, optional, string, type KasaApp } from '../http/validation.ts';
import { microUsdt, RATE_DECIMALS, USDT_AMOUNT_DECIMALS } from '../money.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { currencyView, settingsView, type Catalog } from './catalog.ts';
import { currencyObject, quoteObject, rateSourceField, settingsObject } from './schema.ts';
import { quoteView } from './views.ts';
import type { RateSources } from './sources.ts';
import { mapPage } from '../db/cursor.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

/** A USDT amount setting: ≥ 0, 2 decimals, fits the NUMERIC(14, 2) column. */
const usdtSetting = (description: string, example: string) => decimal({ ge: '0', maxPlaces: USDT_AMOUNT_DECIMALS, maxDigits: 14, description, example });

export async function ratesAdminRoutes(app: KasaApp, { adminToken, catalog, rateSources }: { adminToken: string; catalog: Catalog; rateSources: RateSources }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];

  const currencyParams = model({ code: string({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }) });
  const currencyBody = model({
    enabled: boolean({ description: 'Accept invoices in this currency' }),
    rate: optional(decimal({ gt: '0', maxPlaces: RATE_DECIMALS, maxDigits: 18, description: 'Fiat per 1 USDT', example: '41.50' })),
    min_amount: optional(fiatAmount({ description: 'Smallest invoice amount' })),
    max_amount: optional(fiatAmount({ description: 'Largest invoice amount' })),
    rate_source: optional(rateSourceField),
  });
  const settingsPatch = model({
    deals_enabled: optional(boolean({ description: 'Off: create-invoice answers 503 DEALS_SYSTEM_DISABLED' })),
    invoice_ttl_minutes: optional(integer({ min: 1, max: 1440 })),
    customer_invoices_per_minute: optional(integer({ min: 1, max: 100_000 })),
    customer_max_pending: optional(integer({ min: 1, max: 100_000 })),
    trader_min_insurance_usdt: optional(
      decimal({ ge: '0', maxPlaces: 2, maxDigits: 14, description: 'Insurance a trader keeps to get new deals (0: no minimum)', example: '100.00' }),
    ),
    withdrawal_min_usdt: optional(usdtSetting('The smallest withdrawal; must stay above the fee', '10.00')),
    withdrawal_fee_usdt: optional(usdtSetting('The fee of every withdrawal, paid out of its amount', '2.00')),
    withdrawal_auto_approve_below_usdt: optional(usdtSetting('Withdrawals below this are approved at once; 0: never', '0.00')),
    amount_tolerance: optional(
      decimal({ ge: '0', maxPlaces: 2, maxDigits: 18, description: 'Fiat within which a received amount counts as the invoice amount', example: '0.00' }),
    ),
    overpayment_max_percent: optional(
      // lt 100.01 at two places: at most 100 %.
      decimal({ ge: '0', lt: '100.01', maxPlaces: 2, maxDigits: 5, description: 'How far above the invoice amount a trader may confirm', example: '10.00' }),
    ),
    late_confirm_minutes: optional(
      integer({ min: 0, max: 100_000, description: 'A deal the customer said they paid stays confirmable this long after expiry' }),
    ),
    late_unpaid_confirm_minutes: optional(integer({ min: 0, max: 100_000, description: 'Any other expired deal stays confirmable this long; 0: never' })),
    trader_unconfirmed_max: optional(integer({ min: 0, max: 100_000, description: 'More customer_paid deals older than 30 minutes than this: no new deals' })),
    dispute_window_hours: optional(integer({ min: 1, max: 10_000, description: 'How long after expiry a customer may upload a receipt' })),
    dispute_trader_hours: optional(integer({ min: 1, max: 10_000, description: 'How long a trader has to answer a dispute' })),
    customer_unpaid_max: optional(
      integer({ min: 1, max: 100_000, description: 'Unpaid "I have paid" deals of one customer in 24 h before create-invoice refuses' }),
    ),
  });

  app.put(
    '/currencies/:code',
    {
      schema: {
        summary: 'Create or update a currency',
        operationId: 'putCurrency',
        tags: ['admin: currencies'],
        security,
        params: currencyParams.schema,
        body: currencyBody.schema,
        response: { 200: currencyObject },
      },
      config: {
        errorDocs: {
          ...ADMIN_ERRORS,
          400: 'CURRENCY_RANGE_INVALID',
          409: 'RATE_SET_BY_SOURCE: a rate sent for a currency whose rate comes from its http_json source',
          422: 'Validation error: every violation, Pydantic v2 types (a bad URL, JSONPath, refresh_seconds below 5, max_age_seconds below refresh_seconds…)',
        },
      },
    },
    async (request) => {
      return currencyView(await catalog.putCurrency(request.params.code, request.body));
    },
  );

  const listQuery = model(pageFields);
  app.get(
    '/currencies',
    {
      schema: {
        summary: 'List currencies by code',
        operationId: 'listCurrencies',
        tags: ['admin: currencies'],
        security,
        querystring: listQuery.schema,
        response: { 200: pageOf(currencyObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      return mapPage(await catalog.listCurrencies(pageRequest(request.query)), currencyView);
    },
  );

  const quotesQuery = model(pageFields);
  app.get(
    '/currencies/:code/rates',
    {
      schema: {
        summary: "A currency's quote history, newest first",
        description: 'Every quote its http_json source gave, accepted or refused (with the reason)',
        operationId: 'listCurrencyRates',
        tags: ['admin: currencies'],
        security,
        params: currencyParams.schema,
        querystring: quotesQuery.schema,
        response: { 200: pageOf(quoteObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR', 404: 'CURRENCY_NOT_FOUND' } },
    },
    async (request) => mapPage(await rateSources.listQuotes(request.params.code, pageRequest(request.query)), quoteView),
  );

  app.get(
    '/settings',
    {
      schema: { summary: 'Platform settings', operationId: 'getSettings', tags: ['admin: settings'], security, response: { 200: settingsObject } },
      config: { errorDocs: ADMIN_ERRORS },
    },
    async () => settingsView(await catalog.getSettings()),
  );

  app.patch(
    '/settings',
    {
      schema: {
        summary: 'Change platform settings',
        operationId: 'updateSettings',
        tags: ['admin: settings'],
        security,
        body: settingsPatch.schema,
        response: { 200: settingsObject },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'SETTINGS_INVALID: withdrawal_min_usdt must be greater than withdrawal_fee_usdt' } },
    },
    async (request) => {
      const { trader_min_insurance_usdt: minInsurance, ...patch } = request.body;
      return settingsView(
        await catalog.patchSettings({ ...patch, trader_min_insurance_usdt: minInsurance === undefined ? undefined : microUsdt(minInsurance) }),
      );
    },
  );
}
