import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { SEED_BODY, startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, UUID_V4 } from './helpers/http.ts';

/**
 * Every (method, path) the app has registered, read from Fastify's own route tree, so a route
 * added later is checked without this list being edited. HEAD routes are Fastify's automatic
 * twins of GET routes.
 */
function registeredRoutes(app: FastifyInstance): { method: string; url: string }[] {
  const routes: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?) \(([^)]*)\)$/.exec(line) ?? /^([│ ]*)[├└]── (.*)$/.exec(line);
    if (!match) continue;
    const depth = [...(match[1] ?? '')].length / 4;
    stack.length = depth;
    stack.push(match[2] ?? '');
    for (const method of (match[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean)) {
      if (method !== 'HEAD') routes.push({ method, url: stack.join('') });
    }
  }
  return routes;
}

/** Fastify's /:id → OpenAPI's /{id}. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

/**
 * Routes that are not API operations: the reference itself, static files (stylesheets, scripts,
 * images of HTML pages), and the seed's alias of create-invoice, which is the same operation.
 */
/** The probes, the metrics scrape and the payment page's forms are for supervisors, Prometheus and browsers, not API clients. */
const NOT_FOR_API_CLIENTS = ['/healthz', '/readyz', '/metrics', '/pay/:invoice_id/paid', '/pay/:invoice_id/receipt'];
/** The cabinets' forms: their pages (GET) are documented, what the browser posts back is not. */
const CABINET_FORMS = [
  'POST /login',
  'POST /login/code',
  'POST /logout',
  'POST /logout/everywhere',
  'POST /set-password/:token',
  'POST /trader/deals/:deal_id/confirm',
  'POST /trader/deals/:deal_id/reject',
  'POST /merchant/invoices/:invoice_id/deliveries/:event_id/resend',
  'POST /merchant/keys',
  'POST /merchant/keys/:key_id/revoke',
  'POST /merchant/webhooks/url',
  'POST /merchant/webhooks/secret',
  'POST /merchant/webhooks/signing-key',
  'POST /merchant/webhooks/ping',
  'POST /merchant/users',
  'POST /merchant/users/:user_id/role',
  'POST /merchant/users/:user_id/remove',
  'POST /merchant/two-factor',
  'POST /trader/requisites',
  'POST /trader/requisites/:requisite_id',
  'POST /trader/requisites/:requisite_id/active',
  'POST /admin/merchants',
  'POST /admin/merchants/:merchant_id/fee',
  'POST /admin/merchants/:merchant_id/status',
  'POST /admin/merchants/:merchant_id/api-keys',
  'POST /admin/merchants/:merchant_id/api-keys/:key_id/revoke',
  'POST /admin/merchants/:merchant_id/users',
  'POST /admin/traders',
  'POST /admin/traders/:trader_id/status',
  'POST /admin/traders/:trader_id/deposits',
  'POST /admin/traders/:trader_id/users',
  'POST /admin/deals/:deal_id/confirm',
  'POST /admin/deals/:deal_id/cancel',
  'POST /admin/rates',
  'POST /admin/rates/feed',
  'POST /admin/settings/deals',
  'POST /admin/settings',
];
const UNDOCUMENTED = (url: string) =>
  url === '/docs' ||
  url.startsWith('/docs/') ||
  url === '/openapi.json' ||
  url === '/v1/api/v1/create-invoice' ||
  NOT_FOR_API_CLIENTS.includes(url) ||
  /\.(css|js|png|svg|ico|woff2?)$/.test(url);

describe('operations', () => {
  let t: TestKasa;
  let apiKey: string;

  before(async () => {
    t = await startKasa();
    apiKey = (await t.createMerchant()).api_key;
  });
  after(() => t.close());

  test('GET /healthz → 200', async () => {
    const res = await t.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().status, 'ok');
  });

  test('GET /readyz → 200 while the database answers', async () => {
    const res = await t.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'ready');
    assert.equal(res.json().database, t.database.engine);
  });

  test('the ops endpoints need no credentials', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
      assert.equal((await t.inject({ method: 'GET', url })).statusCode, 200, url);
    }
  });

  describe('GET /openapi.json', () => {
    let spec: {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses: Record<string, { description?: string; content?: unknown }>; security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    before(async () => {
      const res = await t.inject({ method: 'GET', url: '/openapi.json' });
      assert.equal(res.statusCode, 200);
      assert.match(res.headers['content-type'] as string, /^application\/json/);
      spec = res.json();
    });

    test('is OpenAPI 3.1', () => {
      assert.match(spec.openapi, /^3\.1\.\d+$/);
      assert.equal(typeof spec.info.title, 'string');
      assert.equal(typeof spec.info.version, 'string');
      assert.ok(spec.components.securitySchemes.merchantKey);
      assert.ok(spec.components.securitySchemes.adminToken);
    });

    test('documents every route the app registered, and nothing else', () => {
      const routes = registeredRoutes(t.app).filter((r) => !UNDOCUMENTED(r.url) && !CABINET_FORMS.includes(`${r.method} ${r.url}`));
      assert.ok(routes.length >= 12, `found the routes: ${JSON.stringify(routes)}`);
      const missing = routes.filter((r) => !spec.paths[openApiPath(r.url)]?.[r.method.toLowerCase()]);
      assert.deepEqual(missing, [], 'registered but not documented');
      const registered = new Set(routes.map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`));
      const documented = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
      assert.deepEqual(
        documented.filter((op) => !registered.has(op)),
        [],
        'documented but not registered',
      );
    });

    test('the routes this issue defines are all there', () => {
      const expected = [
        'post /api/v1/create-invoice',
        'get /api/v1/invoices',
        'get /api/v1/invoices/{invoice_id}',
        'post /api/v1/invoices/{invoice_id}/cancel',
        'post /admin/v1/merchants',
        'get /admin/v1/merchants',
        'get /admin/v1/merchants/{id}',
        'patch /admin/v1/merchants/{id}',
        'post /admin/v1/merchants/{id}/api-keys',
        'get /admin/v1/merchants/{id}/api-keys',
        'delete /admin/v1/api-keys/{key_id}',
        'put /admin/v1/currencies/{code}',
        'get /admin/v1/currencies',
        'get /admin/v1/settings',
        'patch /admin/v1/settings',
      ];
      for (const op of expected) {
        const [method, path] = op.split(' ') as [string, string];
        assert.ok(spec.paths[path]?.[method], `${op} is documented`);
      }
    });

    test('create-invoice documents its success and every error answer', () => {
      const operation = spec.paths['/api/v1/create-invoice']?.post;
      assert.ok(operation);
      for (const status of ['200', '400', '401', '409', '413', '422', '429', '503']) {
        assert.ok(operation.responses[status], `response ${status} is documented`);
        assert.ok(operation.responses[status]?.content, `response ${status} has a body schema`);
      }
      const text = JSON.stringify(operation.responses);
      for (const code of [
        'API_KEY_MISSING',
        'API_KEY_INVALID',
        'CURRENCY_INVALID',
        'AMOUNT_OUT_OF_RANGE',
        'DUPLICATE_EXTERNAL_ID',
        'PAYLOAD_TOO_LARGE',
        'CUSTOMER_RATE_LIMITED',
        'DEALS_SYSTEM_DISABLED',
        'RATE_UNAVAILABLE',
      ]) {
        assert.ok(text.includes(code), `${code} is named`);
      }
      assert.deepEqual(operation.security, [{ merchantKey: [] }]);
    });

    test('every operation has a unique verb+noun operationId, a success answer with a schema, and its security', () => {
      const ids: string[] = [];
      for (const [path, operations] of Object.entries(spec.paths)) {
        for (const [method, operation] of Object.entries(operations) as [
          string,
          { operationId?: string; responses: Record<string, { content?: Record<string, { schema?: unknown }> }>; security?: unknown[] },
        ][]) {
          const where = `${method} ${path}`;
          assert.match(operation.operationId ?? '', /^[a-z]+[A-Z][A-Za-z]*$/, `${where} has an operationId`);
          ids.push(operation.operationId!);
          assert.ok(Array.isArray(operation.security), `${where} says its security, [] when public`);
          const success = Object.entries(operation.responses).filter(([status]) => /^[23]\d\d$/.test(status));
          assert.ok(success.length > 0, `${where} documents its success`);
          for (const [status, response] of success) {
            if (status === '204' || status.startsWith('3')) continue;
            const schemas = Object.values(response.content ?? {}).map((media) => media.schema);
            assert.ok(schemas.length > 0 && schemas.every(Boolean), `${where} ${status} has a schema`);
          }
        }
      }
      assert.equal(new Set(ids).size, ids.length, `operationIds are unique: ${ids.sort().join(' ')}`);
      for (const path of ['/pay/{invoice_id}', '/pay/{invoice_id}/status']) {
        assert.deepEqual(spec.paths[path]?.get?.security, [], `${path} is public`);
      }
    });

    test('names the server and describes every webhook Kasa sends, with the Standard Webhooks headers', () => {
      const document = spec as unknown as {
        servers: { url: string }[];
        webhooks: Record<
          string,
          {
            post: {
              parameters: { name: string; in: string; required: boolean }[];
              requestBody: {
                content: { 'application/json': { schema: { required: string[]; properties: Record<string, { enum?: string[]; required?: string[] }> } } };
              };
            };
          }
        >;
      };
      assert.deepEqual(
        document.servers.map((s) => s.url),
        [t.kasa.config.publicUrl],
      );
      assert.deepEqual(Object.keys(document.webhooks).sort(), [
        'invoice.cancelled',
        'invoice.expired',
        'invoice.processing',
        'invoice.success',
        'ping',
        'withdrawal.completed',
        'withdrawal.rejected',
      ]);
      for (const [type, { post }] of Object.entries(document.webhooks)) {
        assert.deepEqual(
          post.parameters.filter((p) => p.in === 'header' && p.required).map((p) => p.name),
          ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
        );
        const body = post.requestBody.content['application/json'].schema;
        assert.deepEqual(body.required, ['id', 'type', 'timestamp', 'data']);
        assert.deepEqual(body.properties.type?.enum, [type]);
      }
      const invoice = document.webhooks['invoice.success']!.post.requestBody.content['application/json'].schema.properties.data;
      assert.ok(invoice?.required?.includes('invoice_id') && invoice.required.includes('paid_at'));
    });

    test('every merchant and admin operation documents its 401', () => {
      for (const [path, operations] of Object.entries(spec.paths)) {
        // The operator console's pages (/admin, /admin/merchants…) sign in with a session, not a token.
        if (!path.startsWith('/api/') && !path.startsWith('/admin/v1/')) continue;
        for (const [method, operation] of Object.entries(operations)) {
          assert.ok(operation.responses['401'], `${method} ${path} documents 401`);
          assert.ok(operation.security?.length, `${method} ${path} names its security scheme`);
        }
      }
    });
  });

  test('/docs serves the reference as HTML, with every script and stylesheet served by Kasa itself', async () => {
    const res = await t.inject({ method: 'GET', url: '/docs' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    const assets = [...res.body.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!);
    assert.ok(
      assets.some((a) => a.endsWith('.js')),
      'has scripts',
    );
    assert.ok(
      assets.some((a) => a.endsWith('.css')),
      'has stylesheets',
    );
    for (const asset of assets) {
      assert.doesNotMatch(asset, /^(https?:)?\/\//i, `${asset} is not third-party`);
      const url = new URL(asset, 'http://kasa.local/docs').pathname;
      const served = await t.inject({ method: 'GET', url });
      assert.equal(served.statusCode, 200, `${url} is served`);
    }
    assert.doesNotMatch(res.body, /<(script|link)\b[^>]*(src|href)\s*=\s*["']?(https?:)?\/\//i);
    // The UI reads Kasa's own document and asks no outside validator.
    const initializer = await t.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    assert.equal(initializer.statusCode, 200);
    assert.match(initializer.body, /validatorUrl:\s*null/);
    const json = await t.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(json.statusCode, 200);
    assert.equal(json.json().openapi, (await t.inject({ method: 'GET', url: '/openapi.json' })).json().openapi);
  });

  test('an unknown route → 404 NOT_FOUND in the envelope', async () => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['POST', '/api/v1/nope'],
      ['GET', '/admin/v1/nope'],
      ['DELETE', '/healthz'],
    ] as const) {
      const res = await t.inject({ method, url });
      assertEnvelope(res, 404, 'NOT_FOUND');
    }
  });

  describe('X-Request-Id', () => {
    const requests: [string, InjectOptions][] = [
      ['healthz', { method: 'GET', url: '/healthz' }],
      ['readyz', { method: 'GET', url: '/readyz' }],
      ['openapi', { method: 'GET', url: '/openapi.json' }],
      ['docs', { method: 'GET', url: '/docs' }],
      ['unknown route', { method: 'GET', url: '/nope' }],
      ['401 merchant', { method: 'POST', url: '/api/v1/create-invoice', payload: SEED_BODY }],
      ['401 admin', { method: 'GET', url: '/admin/v1/settings' }],
      ['404 invoice', { method: 'GET', url: '/api/v1/invoices/00000000-0000-4000-8000-000000000000' }],
      ['400 malformed', { method: 'POST', url: '/api/v1/create-invoice', headers: { 'content-type': 'application/json' }, payload: '{' }],
      ['413', { method: 'POST', url: '/api/v1/create-invoice', payload: { ...SEED_BODY, purpose: 'x'.repeat(70_000) } }],
      ['422', { method: 'POST', url: '/api/v1/create-invoice', payload: { amount: 'x' } }],
      ['400 currency', { method: 'POST', url: '/api/v1/create-invoice', payload: { ...SEED_BODY, currency_code: 'XXX' } }],
      ['200 create', { method: 'POST', url: '/api/v1/create-invoice', payload: SEED_BODY }],
      ['409 duplicate', { method: 'POST', url: '/api/v1/create-invoice', payload: SEED_BODY }],
      ['200 list', { method: 'GET', url: '/api/v1/invoices' }],
    ];
    const seen = new Set<string>();

    for (const [label, options] of requests) {
      test(`${label}: a UUID X-Request-Id, the same as the envelope's request_id`, async () => {
        const merchantRoute = options.url!.toString().startsWith('/api/') && !label.startsWith('401');
        const res: LightMyRequestResponse = await t.inject({
          ...options,
          headers: { ...(options.headers as Record<string, string>), ...(merchantRoute ? { 'x-api-key': apiKey } : {}) },
        });
        const id = res.headers['x-request-id'] as string;
        assert.match(id, UUID_V4, `${label}: ${res.statusCode}`);
        assert.ok(!seen.has(id), 'a new id per request');
        seen.add(id);
        if (res.statusCode >= 400 && res.statusCode !== 422 && !(res.statusCode === 400 && 'error' in res.json() && res.json().error === 'Bad Request')) {
          assert.equal(res.json().request_id, id);
          assert.equal(res.json().successful, false);
        }
      });
    }

    test("a client's X-Request-Id does not replace Kasa's", async () => {
      const res = await t.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'client-chosen' } });
      const id = res.headers['x-request-id'] as string;
      assert.match(id, UUID_V4);
      assert.equal(res.json().request_id, id);
    });
  });
});
