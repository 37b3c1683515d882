// Admin API: merchants and their API keys.
import { adminAuth } from '../http/auth.ts';
import { array, decimal, enumeration, model, nullable, optional, optionalBody, string, url, type KasaApp } from '../http/validation.ts';
import { URL_LENGTH_MAX } from '../invoices/schema.ts';
import { checkWebhookTarget } from '../webhooks/ssrf.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { API_KEY_SCOPES } from './keys.ts';
import { apiKeyObject, createdMerchant, issuedMerchantApiKey, merchantObject } from './schema.ts';
import { apiKeyView, merchantView, type Merchants } from './service.ts';
import { mapPage } from '../db/cursor.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

export interface MerchantAdminRoutesOptions {
  adminToken: string;
  merchants: Merchants;
  webhookAllowPrivate: boolean;
}

export async function merchantAdminRoutes(app: KasaApp, { adminToken, merchants, webhookAllowPrivate }: MerchantAdminRoutesOptions) {
  app.addHook('onRequest', adminAuth(adminToken));

  const feePercent = decimal({ ge: '0', lt: '100', maxPlaces: 2, maxDigits: 5, description: 'Commission in percent', example: '2.00' });
  const webhookUrl = url({
    schemes: ['http', 'https'],
    maxLength: URL_LENGTH_MAX,
    check: (u) => checkWebhookTarget(u, webhookAllowPrivate),
    description: 'Default webhook URL (https)',
  });
  const newMerchant = model({ name: string({ min: 1, max: 200 }), fee_percent: optional(feePercent), webhook_url: optional(webhookUrl) });
  const merchantPatch = model({
    name: optional(string({ min: 1, max: 200 })),
    fee_percent: optional(feePercent),
    webhook_url: nullable(webhookUrl),
    status: optional(enumeration(['active', 'disabled'] as const)),
  });
  const merchantParams = model({ id: string({ min: 1, max: 64 }) });
  const keyParams = model({ key_id: string({ min: 1, max: 64 }) });
  const newApiKey = optionalBody(
    model({
      scopes: optional(
        array(enumeration(API_KEY_SCOPES), {
          min: 1,
          max: API_KEY_SCOPES.length,
          description: 'What the key may do (default ["invoices"])',
          example: ['invoices', 'withdrawals'],
        }),
      ),
    }),
  );
  const security = [{ adminToken: [] }];
  const tags = ['admin: merchants'];
  const notFound = { ...ADMIN_ERRORS, 404: 'MERCHANT_NOT_FOUND' };
  const listQuery = model(pageFields);

  app.post(
    '/merchants',
    {
      schema: {
        summary: 'Create a merchant (returns its first API key, shown once)',
        operationId: 'createMerchant',
        tags,
        security,
        body: newMerchant.schema,
        response: { 201: createdMerchant },
      },
      config: { errorDocs: ADMIN_ERRORS },
    },
    async (request, reply) => {
      const created = await merchants.create(request.body);
      reply.code(201);
      return {
        ...merchantView(created.merchant),
        webhook_secret: created.merchant.webhookSecret,
        api_key: created.apiKey,
        key_id: created.keyId,
        prefix: created.prefix,
      };
    },
  );

  app.get(
    '/merchants',
    {
      schema: {
        summary: 'List merchants, in creation order',
        operationId: 'listMerchants',
        tags,
        security,
        querystring: listQuery.schema,
        response: { 200: pageOf(merchantObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      return mapPage(await merchants.list(pageRequest(request.query)), merchantView);
    },
  );

  app.get(
    '/merchants/:id',
    {
      schema: { summary: 'Get a merchant', operationId: 'getMerchant', tags, security, params: merchantParams.schema, response: { 200: merchantObject } },
      config: { errorDocs: notFound },
    },
    async (request) => merchantView(await merchants.get(request.params.id)),
  );

  app.patch(
    '/merchants/:id',
    {
      schema: {
        summary: 'Update a merchant (status "disabled" stops its keys at once)',
        operationId: 'updateMerchant',
        tags,
        security,
        params: merchantParams.schema,
        body: merchantPatch.schema,
        response: { 200: merchantObject },
      },
      config: { errorDocs: notFound },
    },
    async (request) => merchantView(await merchants.update(request.params.id, request.body)),
  );

  app.post(
    '/merchants/:id/api-keys',
    {
      schema: {
        summary: 'Create an API key (shown once), with its scopes',
        operationId: 'createMerchantApiKey',
        tags,
        security,
        params: merchantParams.schema,
        body: newApiKey.schema,
        response: { 201: issuedMerchantApiKey },
      },
      config: { errorDocs: notFound },
    },
    async (request, reply) => {
      const key = await merchants.createApiKey(request.params.id, request.body?.scopes);
      reply.code(201);
      return { key_id: key.keyId, api_key: key.apiKey, prefix: key.prefix, scopes: key.scopes };
    },
  );

  app.get(
    '/merchants/:id/api-keys',
    {
      schema: {
        summary: "List a merchant's API keys (prefixes only)",
        operationId: 'listMerchantApiKeys',
        tags,
        security,
        params: merchantParams.schema,
        querystring: listQuery.schema,
        response: { 200: pageOf(apiKeyObject) },
      },
      config: { errorDocs: { ...notFound, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      return mapPage(await merchants.listApiKeys(request.params.id, pageRequest(request.query)), apiKeyView);
    },
  );

  app.delete(
    '/api-keys/:key_id',
    {
      schema: {
        summary: 'Revoke an API key (stops working at once)',
        operationId: 'revokeApiKey',
        tags,
        security,
        params: keyParams.schema,
        response: { 204: { type: 'null', description: 'Revoked' } },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 404: 'API_KEY_NOT_FOUND' } },
    },
    async (request, reply) => {
      await merchants.revokeApiKey(request.params.key_id);
      return reply.code(204).send();
    },
  );
}
