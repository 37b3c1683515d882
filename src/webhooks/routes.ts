// Webhook endpoints: the merchant's delivery log, resend and test; the operator's keys and stats.
import { adminAuth, MERCHANT_AUTH_ERRORS, merchantAuth, merchantOf, scopeErrors, type KeyOwners } from '../http/auth.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import { enumeration, integer, model, nullable, optional, string, url, uuid, type KasaApp } from '../http/validation.ts';
import { URL_LENGTH_MAX } from '../invoices/schema.ts';
import type { Merchants } from '../merchants/service.ts';
import { checkWebhookTarget } from './ssrf.ts';
import { pageFields } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { deliveryObject, deliveryStats, deliveryWithAttempts, pingResult, rotatedSecret, signingPublicKey, webhookSettings } from './schema.ts';
import { DELIVERY_LIST_LIMIT_MAX, type Webhooks } from './service.ts';
import { TEST_PINGS_IN_FLIGHT_MAX, TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX } from './test-pings.ts';

const MERCHANT_ERRORS = { 401: MERCHANT_AUTH_ERRORS, 403: scopeErrors('invoices'), 422: 'Validation error' };
const PING_BUSY = `WEBHOOK_TEST_BUSY: ${TEST_PINGS_IN_FLIGHT_MAX} test pings of this merchant, or ${TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX} to its host, in flight already (details.reason); Retry-After header`;

export interface WebhookRoutesOptions {
  keyOwners: KeyOwners;
  webhooks: Webhooks;
  /** Sets the default webhook URL: the merchant row and its cached copy change together. */
  merchants: Pick<Merchants, 'update'>;
  webhookAllowPrivate: boolean;
  idempotent: Idempotent;
}

export async function webhookRoutes(app: KasaApp, { keyOwners, webhooks, merchants, webhookAllowPrivate, idempotent }: WebhookRoutesOptions) {
  app.addHook('onRequest', merchantAuth(keyOwners, 'invoices'));
  const security = [{ merchantKey: [] }];
  const tags = ['webhooks'];
  const listQuery = model({
    invoice_id: optional(uuid()),
    status: optional(enumeration(['pending', 'delivered', 'failed'] as const)),
    limit: optional(integer({ min: 1, max: DELIVERY_LIST_LIMIT_MAX })),
    cursor: pageFields.cursor,
  });
  const eventParams = model({ event_id: string({ min: 1, max: 64 }) });
  const settingsBody = model({
    webhook_url: nullable(
      url({
        schemes: ['http', 'https'],
        maxLength: URL_LENGTH_MAX,
        check: (u) => checkWebhookTarget(u, webhookAllowPrivate),
        description: 'The default webhook URL (https; checked against SSRF now and again at every delivery); null clears it',
      }),
    ),
  });

  app.get(
    '/api/v1/webhooks/settings',
    {
      schema: {
        summary: 'My webhook settings: the default URL, the Ed25519 public key, the rotation overlap',
        description: 'Never shows a secret: the signing secret is shown once, when it is created or rotated.',
        operationId: 'getWebhookSettings',
        tags,
        security,
        response: { 200: webhookSettings },
      },
      config: { errorDocs: { 401: MERCHANT_AUTH_ERRORS, 403: scopeErrors('invoices') } },
    },
    async (request) => webhooks.settings(merchantOf(request).id),
  );

  app.put(
    '/api/v1/webhooks/settings',
    {
      schema: {
        summary: 'Set (or clear) my default webhook URL',
        description: 'The URL must pass the SSRF check (https, no credentials, no blocked address literal); invoices created from now on use it.',
        operationId: 'setWebhookSettings',
        tags,
        security,
        body: settingsBody.schema,
        response: { 200: webhookSettings },
      },
      config: { errorDocs: MERCHANT_ERRORS },
    },
    async (request) => {
      const merchantId = merchantOf(request).id;
      await merchants.update(merchantId, { webhook_url: request.body.webhook_url });
      return webhooks.settings(merchantId);
    },
  );

  app.post(
    '/api/v1/webhooks/secret',
    {
      schema: {
        summary: 'Rotate my signing secret (shown once); the old one keeps signing for 24 h',
        description: 'The answer is the only time the new whsec_ secret is shown; store it before the overlap ends.',
        operationId: 'rotateMyWebhookSecret',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        response: { 200: rotatedSecret },
      },
      config: { errorDocs: withIdempotencyErrors(MERCHANT_ERRORS) },
    },
    async (request, reply) => idempotent(request, reply, 200, (trx) => webhooks.rotateSecret(merchantOf(request).id, trx)),
  );

  app.post(
    '/api/v1/webhooks/signing-key',
    {
      schema: {
        summary: 'Create (or replace) my Ed25519 key pair: every webhook also carries a v1a signature',
        description:
          'Kasa keeps the private key; the answer is the whpk_ public key that verifies the v1a signatures. A new pair replaces the old one at once.',
        operationId: 'createMyWebhookSigningKey',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        response: { 201: signingPublicKey },
      },
      config: { errorDocs: withIdempotencyErrors(MERCHANT_ERRORS) },
    },
    async (request, reply) => idempotent(request, reply, 201, (trx) => webhooks.createSigningKey(merchantOf(request).id, trx)),
  );

  app.get(
    '/api/v1/webhooks/deliveries',
    {
      schema: {
        summary: 'Webhook deliveries, newest first',
        operationId: 'listWebhookDeliveries',
        tags,
        security,
        querystring: listQuery.schema,
        response: { 200: pageOf(deliveryObject) },
      },
      config: { errorDocs: { ...MERCHANT_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) => {
      const q = request.query;
      return webhooks.list(merchantOf(request).id, { invoiceId: q.invoice_id, status: q.status, limit: q.limit ?? 50, cursor: q.cursor });
    },
  );

  app.get(
    '/api/v1/webhooks/deliveries/:event_id',
    {
      schema: {
        summary: 'One delivery with every attempt',
        operationId: 'getWebhookDelivery',
        tags,
        security,
        params: eventParams.schema,
        response: { 200: deliveryWithAttempts },
      },
      config: { errorDocs: { ...MERCHANT_ERRORS, 404: 'DELIVERY_NOT_FOUND' } },
    },
    async (request) => webhooks.get(merchantOf(request).id, request.params.event_id),
  );

  app.post(
    '/api/v1/webhooks/deliveries/:event_id/resend',
    {
      schema: {
        summary: 'Queue a delivery again now (also a failed one)',
        operationId: 'resendWebhookDelivery',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        params: eventParams.schema,
        response: { 200: deliveryWithAttempts },
      },
      config: { errorDocs: withIdempotencyErrors({ ...MERCHANT_ERRORS, 404: 'DELIVERY_NOT_FOUND' }) },
    },
    async (request, reply) => idempotent(request, reply, 200, (trx) => webhooks.resend(merchantOf(request).id, request.params.event_id, trx)),
  );

  app.post(
    '/api/v1/webhooks/test',
    {
      schema: {
        summary: 'Send a signed ping to your webhook_url and return the attempt',
        operationId: 'testWebhook',
        tags,
        security,
        headers: idempotencyHeaders.schema,
        response: { 200: pingResult },
      },
      config: { errorDocs: withIdempotencyErrors({ ...MERCHANT_ERRORS, 400: 'WEBHOOK_URL_MISSING', 429: PING_BUSY }) },
    },
    // The ping's effect is a request to the merchant's server, not a database change: its key is
    // reserved while it runs instead of being held in a transaction across the network.
    async (request, reply) => idempotent(request, reply, 200, () => webhooks.ping(merchantOf(request).id), { outside: true }),
  );
}

export async function webhookAdminRoutes(app: KasaApp, { adminToken, webhooks }: { adminToken: string; webhooks: Webhooks }) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];
  const tags = ['admin: webhooks'];
  const merchantParams = model({ id: string({ min: 1, max: 64 }) });
  const errorDocs = { 401: 'UNAUTHORIZED', 404: 'MERCHANT_NOT_FOUND' };

  app.post(
    '/merchants/:id/webhook-keys',
    {
      schema: {
        summary: 'Create an Ed25519 key pair: every webhook also carries a v1a signature; returns the whpk_ public key',
        operationId: 'createWebhookSigningKey',
        tags,
        security,
        params: merchantParams.schema,
        response: { 201: signingPublicKey },
      },
      config: { errorDocs },
    },
    async (request, reply) => {
      reply.code(201);
      return webhooks.createSigningKey(request.params.id);
    },
  );

  app.post(
    '/merchants/:id/webhook-secret',
    {
      schema: {
        summary: 'Rotate the signing secret; the old one keeps signing for 24 h',
        operationId: 'rotateWebhookSecret',
        tags,
        security,
        params: merchantParams.schema,
        response: { 200: rotatedSecret },
      },
      config: { errorDocs },
    },
    async (request) => webhooks.rotateSecret(request.params.id),
  );

  app.get(
    '/webhooks/stats',
    {
      schema: { summary: 'Deliveries by status and the oldest pending age', operationId: 'getWebhookStats', tags, security, response: { 200: deliveryStats } },
      config: { errorDocs: { 401: 'UNAUTHORIZED' } },
    },
    async () => webhooks.stats(),
  );
}
