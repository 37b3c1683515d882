// Admin API: merchants and their API keys.
import type { FastifyInstance } from 'fastify';
import type { Kasa } from '../context.ts';
import { adminAuth } from '../http/auth.ts';
import { decimal, enumeration, model, nullable, optional, string, url, type ModelValue } from '../http/validation.ts';
import { URL_LENGTH_MAX } from '../invoices/schema.ts';
import { checkWebhookTarget } from '../webhooks/ssrf.ts';
import { apiKeyView, merchantView } from './service.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

export async function merchantAdminRoutes(app: FastifyInstance, { kasa }: { kasa: Kasa }) {
  app.addHook('onRequest', adminAuth(kasa));

  const feePercent = decimal({ ge: '0', lt: '100', maxPlaces: 2, maxDigits: 5, description: 'Commission in percent', example: '2.00' });
  const webhookUrl = url({
    schemes: ['http', 'https'],
    maxLength: URL_LENGTH_MAX,
    check: (u) => checkWebhookTarget(u, kasa.config.webhookAllowPrivate),
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
  const security = [{ adminToken: [] }];
  const tags = ['admin: merchants'];
  const notFound = { ...ADMIN_ERRORS, 404: 'MERCHANT_NOT_FOUND' };

  app.post(
    '/merchants',
    { schema: { summary: 'Create a merchant (returns its first API key, shown once)', tags, security, body: newMerchant.schema }, config: { errorDocs: ADMIN_ERRORS } },
    async (request, reply) => {
      const created = await kasa.merchants.create(request.body as ModelValue<typeof newMerchant>);
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

  app.get('/merchants', { schema: { summary: 'List merchants', tags, security }, config: { errorDocs: ADMIN_ERRORS } }, async () => ({
    items: (await kasa.merchants.list()).map(merchantView),
  }));

  app.get(
    '/merchants/:id',
    { schema: { summary: 'Get a merchant', tags, security, params: merchantParams.schema }, config: { errorDocs: notFound } },
    async (request) => merchantView(await kasa.merchants.get((request.params as ModelValue<typeof merchantParams>).id)),
  );

  app.patch(
    '/merchants/:id',
    { schema: { summary: 'Update a merchant (status "disabled" stops its keys at once)', tags, security, params: merchantParams.schema, body: merchantPatch.schema }, config: { errorDocs: notFound } },
    async (request) =>
      merchantView(await kasa.merchants.update((request.params as ModelValue<typeof merchantParams>).id, request.body as ModelValue<typeof merchantPatch>)),
  );

  app.post(
    '/merchants/:id/api-keys',
    { schema: { summary: 'Create an API key (shown once)', tags, security, params: merchantParams.schema }, config: { errorDocs: notFound } },
    async (request, reply) => {
      const key = await kasa.merchants.createApiKey((request.params as ModelValue<typeof merchantParams>).id);
      reply.code(201);
      return { key_id: key.keyId, api_key: key.apiKey, prefix: key.prefix };
    },
  );

  app.get(
    '/merchants/:id/api-keys',
    { schema: { summary: "List a merchant's API keys (prefixes only)", tags, security, params: merchantParams.schema }, config: { errorDocs: notFound } },
    async (request) => ({ items: (await kasa.merchants.listApiKeys((request.params as ModelValue<typeof merchantParams>).id)).map(apiKeyView) }),
  );

  app.delete(
    '/api-keys/:key_id',
    { schema: { summary: 'Revoke an API key (stops working at once)', tags, security, params: keyParams.schema }, config: { errorDocs: { ...ADMIN_ERRORS, 404: 'API_KEY_NOT_FOUND' } } },
    async (request, reply) => {
      await kasa.merchants.revokeApiKey((request.params as ModelValue<typeof keyParams>).key_id);
      return reply.code(204).send();
    },
  );
}
