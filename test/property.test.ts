// Bad input never gives a 5xx: random JSON values, random objects over the real field names,
// random strings, random content types and sizes thrown at create-invoice. Every answer is a 200
// or a 4xx, in the documented shape for its status.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { ADMIN_TOKEN, SEED_BODY, startKasa, type TestKasa, INVOICE_FIELDS } from './helpers/kasa.ts';
import { UUID_V4 } from './helpers/http.ts';
import { CabinetBrowser, injectTransport } from './helpers/cabinet.ts';

const BODY_LIMIT = 64 * 1024;

/** Asserts a 200 or 4xx in the documented shape for its status; returns the status. */
function assertDocumentedAnswer(res: LightMyRequestResponse): number {
  const status = res.statusCode;
  assert.ok(status === 200 || (status >= 400 && status < 500), `status ${status}: ${res.body.slice(0, 500)}`);
  const requestId = res.headers['x-request-id'];
  assert.match(String(requestId), UUID_V4);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json() as Record<string, unknown>;

  if (status === 200) {
    assert.deepEqual(Object.keys(body).sort(), INVOICE_FIELDS);
    assert.equal(body.status, 'pending');
    return status;
  }
  if (status === 422) {
    assert.deepEqual(Object.keys(body), ['detail'], res.body);
    const detail = body.detail as Record<string, unknown>[];
    assert.ok(Array.isArray(detail) && detail.length > 0, res.body);
    for (const issue of detail) {
      const keys = Object.keys(issue);
      assert.ok(
        JSON.stringify(keys) === '["type","loc","msg","input"]' || JSON.stringify(keys) === '["type","loc","msg","input","ctx"]',
        `issue keys ${keys.join(',')}`,
      );
      assert.equal(typeof issue.type, 'string');
      assert.ok(Array.isArray(issue.loc) && issue.loc[0] === 'body', JSON.stringify(issue.loc));
      assert.equal(typeof issue.msg, 'string');
    }
    return status;
  }
  if (status === 400 && body.error === 'Bad Request') {
    assert.deepEqual(Object.keys(body), ['error', 'message', 'code', 'details'], res.body);
    assert.equal(typeof body.message, 'string');
    assert.equal(body.code, 400);
    const details = body.details as Record<string, unknown>[];
    assert.ok(Array.isArray(details) && details.length > 0);
    for (const d of details) {
      assert.deepEqual(Object.keys(d), ['field', 'message']);
      assert.equal(typeof d.field, 'string');
      assert.equal(typeof d.message, 'string');
    }
    return status;
  }
  // Every other 4xx: the envelope.
  assert.deepEqual(Object.keys(body), ['successful', 'request_id', 'error'], res.body);
  assert.equal(body.successful, false);
  assert.equal(body.request_id, requestId);
  const error = body.error as Record<string, unknown>;
  assert.ok(['code,message', 'code,message,details'].includes(Object.keys(error).join(',')), res.body);
  assert.match(String(error.code), /^[A-Z_]+$/);
  assert.equal(typeof error.message, 'string');
  return status;
}

// --- arbitraries -------------------------------------------------------------------------------

const decimalText = fc.oneof(
  fc.tuple(fc.integer({ min: -99999, max: 999999 }), fc.integer({ min: 0, max: 999 })).map(([w, f]) => `${w}.${f}`),
  fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom('1500.00', '0.01', '10', '0', '-1', '1e3', '1E-2', '.5', '5.', '+7', ' 12 ', 'NaN', 'Infinity', '1_000', '1,5', '١٢٣'),
);
const urlText = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.constantFrom(
    'https://yoursite.com/hook',
    'http://yoursite.com/ok',
    'ftp://x.example/',
    'javascript:alert(1)',
    'https://127.0.0.1/',
    'https://u:p@x.example/',
    '//x.example',
    'https://',
    'https://[::1]/',
    'not a url',
  ),
  fc.string({ maxLength: 40 }).map((s) => `https://${s}`),
);
const anyString = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 140 }), fc.string({ unit: 'grapheme', maxLength: 140 }));
const anyValue = fc.oneof(anyString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
const field = <T>(plausible: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: anyValue });

/** Objects over the real field names: mostly plausible values, often wrong ones, keys often missing. */
const invoiceLike = fc.record(
  {
    amount: field(fc.oneof(decimalText, fc.double({ min: -1, max: 1e7 }), fc.integer({ min: -5, max: 10_000_000 }))),
    currency_code: field(fc.oneof(fc.constantFrom('UAH', 'UAH', 'UAH', 'EUR', 'XXX', 'uah', 'UA'), fc.string({ minLength: 3, maxLength: 3 }))),
    customer_id: field(fc.oneof(fc.constantFrom('c1', 'c2', 'user_12345'), fc.string({ maxLength: 140 }))),
    external_id: field(fc.oneof(fc.constantFrom('dup-1', 'dup-2'), fc.uuid(), fc.string({ maxLength: 140 }))),
    purpose: field(fc.oneof(fc.constant(SEED_BODY.purpose), fc.string({ maxLength: 300 }))),
    callback_url: field(urlText),
    success_url: field(urlText),
    fail_url: field(urlText),
    extra: anyValue,
  },
  { requiredKeys: [] },
);

const cents = fc.integer({ min: 1, max: 20_000_000 }).map((c) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`);
/** Valid bodies: they reach the currency, range, limit and duplicate checks (EUR allows 1–100000). */
const validInvoice = fc.record(
  {
    amount: fc.oneof(cents, fc.integer({ min: 1, max: 200_000 })),
    currency_code: fc.constantFrom('UAH', 'EUR', 'XXX'),
    customer_id: fc.oneof(fc.constantFrom('c1', 'c2', 'c3'), fc.string({ minLength: 1, maxLength: 128 })),
    external_id: fc.oneof(fc.constantFrom('dup-1', 'dup-2', 'dup-3'), fc.uuid()),
    purpose: fc.string({ maxLength: 255 }),
    callback_url: fc.constant('https://yoursite.com/webhooks/payment'),
    success_url: fc.webUrl(),
    fail_url: fc.webUrl(),
  },
  { requiredKeys: ['amount', 'currency_code', 'customer_id', 'external_id'] },
);
const fieldNames = ['amount', 'currency_code', 'customer_id', 'external_id', 'purpose', 'callback_url', 'success_url', 'fail_url'] as const;
/** A valid body with some fields removed and some replaced by anything. */
const mutatedInvoice = fc
  .tuple(validInvoice, fc.subarray([...fieldNames]), fc.dictionary(fc.constantFrom(...fieldNames), anyValue, { maxKeys: 3 }))
  .map(([body, removed, replaced]) => {
    const out: Record<string, unknown> = { ...body, ...replaced };
    for (const name of removed) delete out[name];
    return out;
  });
const invoiceBodies = fc.oneof(validInvoice, mutatedInvoice, invoiceLike);

const contentTypes = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=latin1',
    'text/plain',
    'text/html',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'application/vnd.api+json',
    'application/octet-stream',
    '*/*',
    '',
  ),
  fc.string({ maxLength: 40 }),
);

const rawBodies = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'binary', maxLength: 400 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  invoiceBodies.map((v) => JSON.stringify(v)),
  // Broken JSON: a valid document cut short, or with a character flipped.
  fc
    .tuple(
      invoiceBodies.map((v) => JSON.stringify(v)),
      fc.nat(),
    )
    .map(([s, n]) => s.slice(0, n % (s.length + 1))),
  fc
    .tuple(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.nat(),
      fc.string({ minLength: 1, maxLength: 1 }),
    )
    .map(([s, n, c]) => {
      const i = n % (s.length + 1);
      return s.slice(0, i) + c + s.slice(i + 1);
    }),
);

describe('create-invoice never answers bad input with a 5xx', () => {
  let t: TestKasa;
  let apiKey: string;
  const statuses = new Map<number, number>();
  const record = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);

  const post = (payload: string, contentType: string | null = 'application/json', key = apiKey) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/create-invoice',
      headers: { 'x-api-key': key, ...(contentType === null ? {} : { 'content-type': contentType }) },
      payload,
    });

  before(async () => {
    t = await startKasa();
    apiKey = (await t.createMerchant()).api_key;
    await t.admin('PUT', '/admin/v1/currencies/EUR', { enabled: true, rate: '0.92', min_amount: '1', max_amount: '100000' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(async () => {
    await t.close();
  });

  test('random JSON values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        record(assertDocumentedAnswer(await post(JSON.stringify(value))));
      }),
      { numRuns: 250 },
    );
  });

  test('random JS values serialized as JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything({ withBoxedValues: true, withNullPrototype: true, withSparseArray: true, withObjectString: true }), async (value) => {
        const text = JSON.stringify(value) ?? 'null';
        record(assertDocumentedAnswer(await post(text)));
      }),
      { numRuns: 200 },
    );
  });

  test('random objects whose keys are the real field names', async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(invoiceBodies, async (body) => {
        const status = assertDocumentedAnswer(await post(JSON.stringify(body)));
        record(status);
        if (status === 200) created++;
      }),
      { numRuns: 300 },
    );
    // The generator reaches past validation, into the currency, limit and duplicate checks.
    assert.ok(created > 0, `statuses: ${JSON.stringify([...statuses])}`);
  });

  test('random strings under random content types', async () => {
    await fc.assert(
      fc.asyncProperty(rawBodies, fc.option(contentTypes, { nil: null }), async (payload, contentType) => {
        record(assertDocumentedAnswer(await post(payload, contentType)));
      }),
      { numRuns: 300 },
    );
  });

  test('huge strings in any field: 413 above 64 KiB, a documented 4xx below', async () => {
    let hugeSeq = 0;
    const fields = ['amount', 'currency_code', 'customer_id', 'external_id', 'purpose', 'callback_url', 'success_url', 'unknown'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.oneof(fc.integer({ min: BODY_LIMIT - 400, max: BODY_LIMIT + 400 }), fc.integer({ min: 1000, max: 300_000 })),
        fc.constantFrom('9', 'x', 'é', '€', '😀'),
        async (name, length, char) => {
          const payload = JSON.stringify({ ...SEED_BODY, external_id: `huge-${++hugeSeq}`, [name]: char.repeat(length) });
          const res = await post(payload);
          const status = assertDocumentedAnswer(res);
          record(status);
          if (Buffer.byteLength(payload) > BODY_LIMIT) assert.equal(status, 413);
          else assert.ok(status === 422 || (status === 200 && name === 'unknown'), `${name} × ${length}: ${status}`);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('random API keys → 401 in the envelope', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^kasa_sk_[A-Za-z0-9_-]{43}$/)), async (key) => {
        const res = await post(JSON.stringify(SEED_BODY), 'application/json', key);
        assert.equal(assertDocumentedAnswer(res), 401);
        assert.equal(res.json().error.code, key.trim() === '' ? 'API_KEY_MISSING' : 'API_KEY_INVALID');
      }),
      { numRuns: 150 },
    );
  });

  describe('found by hand', () => {
    test('NUL characters in any string field → 422, not a database error', async () => {
      for (const name of ['customer_id', 'external_id', 'purpose', 'callback_url', 'success_url', 'fail_url']) {
        const value = name.endsWith('_url') ? 'https://yoursite.com/a\u0000b' : 'a\u0000b';
        const res = await post(JSON.stringify({ ...SEED_BODY, external_id: `nul-${name}`, [name]: value }));
        assert.equal(assertDocumentedAnswer(res), 422, `${name}: ${res.body}`);
        assert.deepEqual(
          res.json().detail.map((d: { type: string; loc: string[] }) => [d.type, d.loc.join('.')]),
          [['value_error', `body.${name}`]],
        );
      }
    });

    test('an amount with more than 12 digits before the point → 422', async () => {
      const res = await post(JSON.stringify({ ...SEED_BODY, external_id: 'whole-digits', amount: '1000000000000' }));
      assert.equal(assertDocumentedAnswer(res), 422);
      assert.equal(res.json().detail[0].type, 'decimal_whole_digits');
      const max = await post(JSON.stringify({ ...SEED_BODY, external_id: 'whole-digits-max', amount: '999999999999.99' }));
      assert.equal(assertDocumentedAnswer(max), 200);
    });

    test('the largest amount at a currency with a tiny rate → a 4xx, not a micro-USDT overflow', async () => {
      // 999999999999.99 / 0.000001 = 10^18 USDT = 10^24 micro-USDT, far past BIGINT.
      await t.admin('PUT', '/admin/v1/currencies/BTC', { enabled: true, rate: '0.000001' });
      const res = await post(JSON.stringify({ ...SEED_BODY, currency_code: 'BTC', external_id: 'overflow', amount: '999999999999.99' }));
      assertDocumentedAnswer(res);
    });

    test('deeply nested JSON → a documented 4xx', async () => {
      for (const depth of [1000, 5000, 30000]) {
        const nested = '['.repeat(depth) + ']'.repeat(depth);
        for (const payload of [nested, `{"amount":${nested}}`]) {
          const res = await post(payload);
          assertDocumentedAnswer(res);
        }
      }
    });
  });

  test('the properties covered every kind of answer', () => {
    for (const status of [200, 400, 409, 413, 422]) assert.ok(statuses.has(status), `no ${status} seen: ${JSON.stringify([...statuses])}`);
  });
});

// --- every route's ids ---------------------------------------------------------------------------

interface Operation {
  method: string;
  path: string;
  security: string | null;
  pathParams: string[];
  /** Query parameters that are Kasa's ids (named *_id), and whether each is documented as a uuid. */
  idQueries: string[];
  uuidQueries: string[];
  body: JsonSchema | null;
}

type JsonSchema = { [key: string]: unknown };

const CABINET_PASSWORD = 'quiet-harbour-48-compass';

/** The merchant's own identifiers: any text, not Kasa's ids. */
const MERCHANT_IDENTIFIERS = ['external_id', 'customer_id'];

/** Every operation the OpenAPI document lists: the routes as Kasa serves them. */
function operationsOf(document: { paths: Record<string, Record<string, Record<string, unknown>>> }): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = (operation.parameters ?? []) as { in: string; name: string; schema?: JsonSchema }[];
      const security = (operation.security as Record<string, unknown>[] | undefined)?.[0];
      const body = (operation.requestBody as { content?: Record<string, { schema?: JsonSchema }> } | undefined)?.content?.['application/json']?.schema;
      operations.push({
        method: method.toUpperCase(),
        path,
        security: security ? (Object.keys(security)[0] ?? null) : null,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        idQueries: parameters.filter((p) => p.in === 'query' && p.name.endsWith('_id') && !MERCHANT_IDENTIFIERS.includes(p.name)).map((p) => p.name),
        uuidQueries: parameters.filter((p) => p.in === 'query' && p.schema?.format === 'uuid').map((p) => p.name),
        body: body ?? null,
      });
    }
  }
  return operations;
}

/** A value the schema accepts, so that a request gets past its body to the id. */
function sampleOf(schema: JsonSchema): unknown {
  if (Array.isArray(schema.examples)) return schema.examples[0];
  if (Array.isArray(schema.anyOf)) return sampleOf(schema.anyOf[0] as JsonSchema);
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = (schema.required ?? []) as string[];
      return Object.fromEntries(required.map((name) => [name, sampleOf(properties[name] ?? {})]));
    }
    case 'integer':
    case 'number':
      return (schema.minimum as number | undefined) ?? 1;
    case 'boolean':
      return true;
    case 'string': {
      if (schema.format === 'uri') return 'https://shop.example/hook';
      if (schema.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
      const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern) : null;
      return ['UAH', '10.00', 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)))].find((candidate) => !pattern || pattern.test(candidate));
    }
    default:
      return {};
  }
}

/** Ids as they arrive in a URL, already percent-encoded: none of them is a UUID. */
const MALFORMED_IDS = [
  'x',
  '1',
  '0',
  '-1',
  'null',
  'undefined',
  '%20',
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%FF',
  '%C3%A9',
  '%F0%9F%98%80',
  "'%20OR%20'1'%3D'1",
  '1%3BDROP%20TABLE%20invoices',
  '%25',
  '..',
  '%2E%2E',
  'a%2Fb',
  '00000000-0000-0000-0000-00000000000g',
  '00000000-0000-0000-0000-0000000000000',
  '00000000-0000-0000-0000-00000000000',
  '00000000000000000000000000000000a',
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  '{00000000-0000-0000-0000-000000000000',
  'x'.repeat(5000),
];
const malformedIds = fc.oneof(
  fc.constantFrom(...MALFORMED_IDS),
  fc.string({ minLength: 1, maxLength: 60 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map(encodeURIComponent),
  fc.uuid().map((id) => `${id}x`),
);

describe('no route answers a malformed id in its path or query with a 5xx', () => {
  let t: TestKasa;
  let operations: Operation[];
  const keys: Record<string, Record<string, string>> = {};

  before(async () => {
    t = await startKasa();
    const merchant = await t.createMerchant();
    const trader = (await t.admin('POST', '/admin/v1/traders', { name: 'Trader' })).json();
    keys.merchantKey = { 'x-api-key': merchant.api_key };
    keys.traderKey = { 'x-api-key': trader.api_key };
    keys.adminToken = { authorization: `Bearer ${ADMIN_TOKEN}` };
    // The merchant cabinet's pages take their ids behind a session: a signed-in owner asks.
    const email = 'owner@property.example';
    await t.kasa.users.createForDemo({ email, password: CABINET_PASSWORD, role: 'merchant', merchant_id: merchant.merchant_id, merchant_role: 'owner' });
    const cabinet = new CabinetBrowser(injectTransport(t.app));
    assert.equal((await cabinet.signIn(email, CABINET_PASSWORD)).location, '/merchant');
    keys.merchantSession = { cookie: `kasa_session=${cabinet.session}` };
    operations = operationsOf((await t.inject({ method: 'GET', url: '/openapi.json' })).json());
  });
  after(async () => {
    await t.close();
  });

  const send = (operation: Operation, pathId: string, queryIds: Record<string, string>) => {
    const path = operation.path.replace(/\{[^}]+\}/g, pathId);
    const query = Object.entries(queryIds)
      .map(([name, value]) => `${name}=${value}`)
      .join('&');
    return t.inject({
      method: operation.method as 'GET',
      url: query ? `${path}?${query}` : path,
      headers: operation.security ? keys[operation.security] : operation.path.startsWith('/merchant') ? keys.merchantSession : {},
      ...(operation.body ? { payload: sampleOf(operation.body) as object } : {}),
    });
  };

  test('the document lists the routes that take ids', () => {
    const withPathIds = operations.filter((o) => o.pathParams.length > 0).map((o) => `${o.method} ${o.path}`);
    const withQueryIds = operations.filter((o) => o.idQueries.length > 0).map((o) => `${o.method} ${o.path} ${o.idQueries.join(',')}`);
    assert.ok(withPathIds.length >= 15, withPathIds.join('\n'));
    assert.deepEqual(withQueryIds.sort(), [
      'GET /admin/v1/audit merchant_id',
      'GET /admin/v1/deals trader_id',
      'GET /admin/v1/users merchant_id,trader_id',
      'GET /api/v1/webhooks/deliveries invoice_id',
    ]);
    for (const operation of operations) assert.deepEqual(operation.uuidQueries, operation.idQueries, `${operation.method} ${operation.path}`);
  });

  test('a malformed id in a path: a 4xx, never a 5xx', async () => {
    for (const operation of operations.filter((o) => o.pathParams.length > 0)) {
      await fc.assert(
        fc.asyncProperty(malformedIds, async (id) => {
          const res = await send(operation, id, {});
          // A console page asks a visitor without a session to sign in before it reads any id.
          const toSignIn =
            res.statusCode === 303 && res.headers.location === '/login' && operation.path.startsWith('/admin/') && !operation.path.startsWith('/admin/v1/');
          assert.ok(
            toSignIn || (res.statusCode >= 400 && res.statusCode < 500),
            `${operation.method} ${operation.path} with ${id.slice(0, 80)}: ${res.statusCode} ${res.body.slice(0, 300)}`,
          );
        }),
        { numRuns: 20, examples: MALFORMED_IDS.map((id) => [id]) },
      );
    }
  });

  test('a malformed id in a query filter: 422 before any SQL', async () => {
    for (const operation of operations.filter((o) => o.idQueries.length > 0)) {
      for (const name of operation.idQueries) {
        await fc.assert(
          fc.asyncProperty(malformedIds, async (id) => {
            const res = await send(operation, 'x', { [name]: id });
            assert.equal(res.statusCode, 422, `${operation.path}?${name}=${id.slice(0, 80)}: ${res.body.slice(0, 300)}`);
            const [issue] = res.json().detail;
            assert.deepEqual(issue.loc, ['query', name]);
            assert.ok(['uuid_parsing', 'string_unicode'].includes(issue.type), res.body.slice(0, 300));
          }),
          { numRuns: 60, examples: MALFORMED_IDS.map((id) => [id]) },
        );
      }
    }
  });

  test('a query id in any spelling Pydantic accepts is found in its canonical form', async () => {
    const canonical = '5f0c2a4e-8b1d-4c3a-9e7f-0a1b2c3d4e5f';
    for (const spelling of [canonical, canonical.toUpperCase(), canonical.replaceAll('-', ''), `{${canonical}}`, `urn:uuid:${canonical}`]) {
      const res = await t.admin('GET', `/admin/v1/deals?trader_id=${encodeURIComponent(spelling)}`);
      assert.equal(res.statusCode, 200, `${spelling}: ${res.body}`);
      assert.deepEqual(res.json(), { items: [], next_cursor: null });
    }
  });

  test("GET /admin/v1/deals?trader_id=x → Pydantic's uuid_parsing 422", async () => {
    const res = await t.admin('GET', '/admin/v1/deals?trader_id=x');
    assert.equal(res.statusCode, 422, res.body);
    assert.deepEqual(res.json(), {
      detail: [
        {
          type: 'uuid_parsing',
          loc: ['query', 'trader_id'],
          msg: 'Input should be a valid UUID, invalid character: found `x` at 1',
          input: 'x',
          ctx: { error: 'invalid character: found `x` at 1' },
        },
      ],
    });
  });
});

describe('an empty JSON body on a route that takes no body is no body', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant();
  });
  after(async () => {
    await t.close();
  });

  // A secret or key an action generates differs between two calls by design; its shape is what must match.
  const withoutIds = (body: string) => body.replace(/"request_id":"[^"]*"/, '').replace(/"wh[a-z]{2,4}_[^"]*"/g, '"wh…"');

  test('every action answers an empty application/json body as it answers none', async () => {
    const trader = (await t.admin('POST', '/admin/v1/traders', { name: 'Trader' })).json();
    const keys: Record<string, Record<string, string>> = {
      merchantKey: { 'x-api-key': merchant.api_key },
      traderKey: { 'x-api-key': trader.api_key },
      adminToken: { authorization: `Bearer ${ADMIN_TOKEN}` },
    };
    const operations = operationsOf((await t.inject({ method: 'GET', url: '/openapi.json' })).json());
    const actions = operations.filter((o) => o.method === 'POST' && o.body === null && !o.path.startsWith('/pay/'));
    assert.ok(actions.length >= 8, actions.map((o) => o.path).join('\n'));
    for (const action of actions) {
      // Unknown ids: both requests end where the action would start, so neither changes anything.
      const url = action.path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      const headers = action.security ? keys[action.security] : {};
      const none = await t.inject({ method: 'POST', url, headers });
      const empty = await t.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: '' });
      assert.ok(empty.statusCode < 500, `${action.path}: ${empty.body}`);
      assert.equal(empty.statusCode, none.statusCode, `${action.path}: ${empty.body}`);
      assert.equal(withoutIds(empty.body), withoutIds(none.body), action.path);
    }
  });

  test('cancel with an empty JSON body cancels the invoice', async () => {
    const invoice = (await t.createInvoice(merchant.api_key)).json();
    const res = await t.inject({
      method: 'POST',
      url: `/api/v1/invoices/${invoice.invoice_id}/cancel`,
      headers: { 'x-api-key': merchant.api_key, 'content-type': 'application/json' },
      payload: '',
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().status, 'cancelled');
  });

  test('a route that takes a body still refuses an empty one (400, as before)', async () => {
    for (const [url, headers] of [
      ['/api/v1/create-invoice', { 'x-api-key': merchant.api_key }],
      ['/admin/v1/merchants', { authorization: `Bearer ${ADMIN_TOKEN}` }],
    ] as const) {
      const res = await t.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: '' });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
      assert.equal(res.json().error, 'Bad Request');
    }
  });
});
