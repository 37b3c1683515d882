// The HTTP application: request ids, one JSON log line per request, validation through request
// models, the one error mapper, OpenAPI, and the route plugins of each domain.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { OpenAPIV3_1 } from 'openapi-types';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import { errors, KasaError, MalformedRequestError, RequestValidationError } from '../errors.ts';
import { errorBody } from './envelope.ts';
import { errorEnvelope, malformedBody, validationErrorBody } from './schemas.ts';
import { modelOf, type JsonSchema, type KasaApp, type KasaTypeProvider } from './validation.ts';

/** Bodies larger than this are refused while being read, before any parsing. */
export const BODY_SIZE_MAX_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;
const JSON_DEPTH_MAX = 32;

/** Depth of a parsed JSON value, measured without recursion. */
function nestingDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > JSON_DEPTH_MAX) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Documented error answers of a route: status → the codes it may carry. */
    errorDocs?: Record<number, string>;
  }
}

/** Every tag the routes use, described (in the order the document lists them). */
const API_TAGS = [
  { name: 'invoices', description: "Merchant API: create, read, list and cancel invoices (X-Api-Key, the merchant's key)" },
  { name: 'merchant', description: "Merchant API: the merchant's USDT balance" },
  { name: 'webhooks', description: 'Merchant API: the webhooks Kasa sends, their delivery log, resend and a test ping' },
  { name: 'withdrawals', description: 'Merchant API: withdraw the USDT balance to a TRC20 address (a key granted the withdrawals scope)' },
  { name: 'disputes', description: 'Merchant API: disputes over payments the customer made and the trader did not confirm; their files and messages' },
  { name: 'payment page', description: 'The customer\'s hosted payment page, its status polling and the "I have paid" form' },
  { name: 'trader', description: "Trader API (X-Api-Key, the trader's key): cards, deals, confirmation, balance" },
  { name: 'admin: overview', description: "Admin API: today's numbers for the operator console's home page" },
  { name: 'admin: merchants', description: 'Admin API (Bearer ADMIN_TOKEN): merchants and their API keys' },
  { name: 'admin: currencies', description: 'Admin API: currencies, their rates (by hand or from an http_json source), the quote history, and limits' },
  { name: 'admin: settings', description: 'Admin API: platform settings, the deals system switch' },
  { name: 'admin: traders', description: 'Admin API: traders, their keys and deposits' },
  { name: 'admin: invoices', description: "Admin API: any merchant's invoice with its rate snapshot" },
  { name: 'admin: deals', description: 'Admin API: deals across all traders, operator confirmation' },
  { name: 'admin: ledger', description: 'Admin API: ledger accounts and the balance check' },
  { name: 'admin: webhooks', description: 'Admin API: webhook signing keys and delivery statistics' },
  { name: 'admin: disputes', description: 'Admin API: every dispute, its files, and the decision' },
  { name: 'admin: withdrawals', description: "Admin API: merchants' and traders' withdrawals: approve, complete, reject" },
  { name: 'admin: users', description: 'Admin API: the people who sign in to the cabinets, and their set-password links' },
  { name: 'admin: audit', description: 'Admin API: the audit log of changes made by people and the admin token' },
  { name: 'cabinets', description: "The cabinets' HTML pages: sign-in, sign-out, set-password, and each person's cabinet" },
  { name: 'ops', description: 'Liveness, readiness, metrics' },
];

const LOCATIONS: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  /** The document's server: PUBLIC_URL. */
  publicUrl: string;
  /** The OpenAPI 3.1 `webhooks` section: the events Kasa sends. */
  webhooks: Record<string, unknown>;
}

/**
 * The HTTP chassis every route plugin runs in: request ids, one log line per request, JSON
 * parsing with limits, validation through request models, the one error mapper, the OpenAPI
 * document. It knows no domain: the composition root (src/context.ts) registers the routes.
 */
export async function createHttpApp({ logger, metrics, publicUrl, webhooks }: HttpAppOptions): Promise<KasaApp> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: BODY_SIZE_MAX_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    return503OnClosing: true,
  }).withTypeProvider<KasaTypeProvider>();

  // The APIs speak JSON only; a text/plain body is a malformed request, not a string to validate.
  app.removeContentTypeParser('text/plain');
  // Fastify's own JSON parser (prototype-poisoning checks included), plus a nesting limit: no
  // request Kasa takes is deeper than a few levels, and a pathological depth would otherwise
  // overflow the stack when a 422 echoes the input back.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // An action (cancel, confirm, resend…) takes no body, yet many HTTP clients send one empty
    // with Content-Type: application/json. A route that takes a body still refuses an empty one.
    const bodySchema = request.routeOptions.schema?.body;
    if (body === '' && (!bodySchema || modelOf(bodySchema)?.bodyOptional)) return done(null, {});
    void parseJson(request, body as string, (error: Error | null, value?: unknown) => {
      if (error) return done(error, undefined);
      if (nestingDepth(value) > JSON_DEPTH_MAX) {
        return done(new MalformedRequestError([{ field: 'body', message: `JSON nested deeper than ${JSON_DEPTH_MAX} levels` }]), undefined);
      }
      done(null, value);
    });
  });

  app.setValidatorCompiler(({ schema, httpPart }) => {
    const requestModel = modelOf(schema);
    if (!requestModel) throw new Error(`route schema for ${httpPart} was not made with model()`);
    const loc = LOCATIONS[httpPart ?? 'body'] ?? 'body';
    return (data: unknown) => {
      const result = requestModel.validate(data, loc);
      return result.ok ? { value: result.value } : { error: new RequestValidationError(result.issues) };
    };
  });

  // Set by the auth hooks of the merchant and trader APIs.
  app.decorateRequest('merchant', null);
  app.decorateRequest('trader', null);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    request.log.info({ method: request.method, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    metrics.httpRequestSeconds.observe({ method: request.method, route, status: reply.statusCode }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: FastifyError | Error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => sendError(errors.notFound(), request, reply));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Kasa',
        version: '0.1.0',
        description: 'Self-hostable P2P payment gateway: merchant invoice API, trader API, admin API, payment page; the webhooks it sends.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: publicUrl, description: 'This Kasa (PUBLIC_URL)' }],
      tags: API_TAGS,
      // Kasa's JSON Schemas are plain records; the document's own types want their literal unions.
      webhooks: webhooks as OpenAPIV3_1.Document['webhooks'],
      components: {
        securitySchemes: {
          merchantKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'API Key for authentication. Merchant API Key.' },
          traderKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'Trader API Key.' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      const docs = route.config?.errorDocs;
      if (!docs || !schema) return { schema, url };
      const response: Record<string, JsonSchema> = { ...(schema.response as Record<string, JsonSchema> | undefined) };
      for (const [status, description] of Object.entries(docs)) {
        const body =
          status === '422'
            ? // A 422 that names a code of its own (IDEMPOTENCY_KEY_REUSED) answers in the envelope.
              /\b[A-Z][A-Z_]{3,}:/.test(description)
              ? { anyOf: [validationErrorBody, errorEnvelope] }
              : validationErrorBody
            : status === '400' && description.includes('malformed')
              ? { anyOf: [malformedBody, errorEnvelope] }
              : errorEnvelope;
        response[status] = { ...body, description };
      }
      return { schema: { ...schema, response }, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  return app;
}

/** The one place errors become HTTP answers. Nothing a client sends reaches the 500 branch. */
function sendError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof RequestValidationError) {
    return reply.code(422).type('application/json').send({ detail: error.issues });
  }
  if (error instanceof MalformedRequestError) {
    return reply.code(400).type('application/json').send(malformed(error.details));
  }
  if (error instanceof KasaError) {
    if (error.headers) reply.headers(error.headers);
    return reply.code(error.statusCode).type('application/json').send(errorBody(request.id, error));
  }
  const code = (error as FastifyError).code;
  const status = (error as FastifyError).statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return sendError(errors.payloadTooLarge(BODY_SIZE_MAX_BYTES), request, reply);
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return sendError(new MalformedRequestError([{ field: 'content-type', message: 'Content-Type must be application/json' }]), request, reply);
  }
  if (code?.startsWith('FST_ERR_CTP_') || error instanceof SyntaxError || (status === 400 && !code)) {
    // The JSON parser's own message says where the body broke; it holds nothing but the client's input.
    return sendError(new MalformedRequestError([{ field: 'body', message: `Invalid JSON: ${error.message}` }]), request, reply);
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const known = new KasaError(status, status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', error.message);
    return sendError(known, request, reply);
  }
  request.log.error({ err: error }, 'unexpected error');
  return sendError(errors.internal(), request, reply);
}

function malformed(details: { field: string; message: string }[]) {
  return { error: 'Bad Request', message: 'The request contains invalid parameters or malformed data', code: 400, details };
}
