import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PUBLIC_URL, SEED_BODY, startKasa, type TestKasa, INVOICE_FIELDS } from './helpers/kasa.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('POST /api/v1/create-invoice', () => {
  let t: TestKasa;
  let apiKey: string;
  let merchantId: string;
  let seq = 0;
  const unique = () => `order-${++seq}`;

  before(async () => {
    t = await startKasa();
    const merchant = await t.createMerchant({ name: 'Seed Shop' });
    apiKey = merchant.api_key;
    merchantId = merchant.merchant_id;
    // Limits are tested separately; here they must not get in the way.
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());

  test("the seed's request gives the seed's response", async () => {
    const res = await t.createInvoice(apiKey);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), INVOICE_FIELDS);
    assert.match(body.invoice_id, UUID_V4);
    assert.equal(body.amount, '1500.00');
    assert.equal(body.currency, 'UAH');
    assert.equal(body.conversion_rate, '41.50');
    assert.equal(body.merchant_usdt, '35.42');
    assert.equal(body.status, 'pending');
    assert.equal(body.external_id, SEED_BODY.external_id);
    assert.equal(body.customer_id, SEED_BODY.customer_id);
    assert.equal(body.purpose, SEED_BODY.purpose);
    assert.equal(body.callback_url, SEED_BODY.callback_url);
    assert.equal(body.success_url, SEED_BODY.success_url);
    assert.equal(body.fail_url, SEED_BODY.fail_url);
    assert.equal(body.paid_at, null);
    assert.equal(body.payment_link, `${PUBLIC_URL}/pay/${body.invoice_id}`);
    assert.equal(body.created_at, '2026-02-25T12:00:00Z');
    assert.equal(body.expires_at, '2026-02-25T12:20:00Z');
    assert.equal(Date.parse(body.expires_at) - Date.parse(body.created_at), 20 * 60_000);
    assert.match(res.headers['x-request-id'] as string, UUID_V4);

    const stored = await t.database.db.selectFrom('invoices').selectAll().where('id', '=', body.invoice_id).executeTakeFirstOrThrow();
    assert.equal(stored.gross_usdt, 36_144_578n, 'gross = floor6(1500.00 / 41.50)');
    assert.equal(stored.merchant_usdt, 35_420_000n);
    assert.equal(stored.merchant_id, merchantId);
  });

  test('the /v1/api/v1/create-invoice form of the path answers too', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/v1/api/v1/create-invoice',
      headers: { 'x-api-key': apiKey },
      payload: { ...SEED_BODY, external_id: unique() },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().merchant_usdt, '35.42');
  });

  test('amount may be a JSON number; optional fields may be omitted or null', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/create-invoice',
      headers: { 'x-api-key': apiKey },
      payload: { amount: 1500, currency_code: 'UAH', customer_id: 'c', external_id: unique(), purpose: null, unknown_field: 1 },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.amount, '1500.00');
    assert.equal(body.purpose, null);
    assert.equal(body.callback_url, null, 'no callback_url and no merchant default');
    assert.equal(body.success_url, null);
    assert.equal(body.fail_url, null);
  });

  test("the merchant's default webhook_url is the effective callback_url", async () => {
    const merchant = await t.createMerchant({ webhook_url: 'https://shop.example/hooks' });
    const res = await t.createInvoice(merchant.api_key, { callback_url: undefined, external_id: unique() });
    assert.equal(res.json().callback_url, 'https://shop.example/hooks');
    const override = await t.createInvoice(merchant.api_key, { external_id: unique() });
    assert.equal(override.json().callback_url, SEED_BODY.callback_url);
  });

  describe('errors, in the documented shapes, changing nothing', () => {
    const envelope = (res: { json(): unknown; headers: Record<string, unknown> }, code: string, message?: string) => {
      const body = res.json() as { successful: boolean; request_id: string; error: { code: string; message: string } };
      assert.equal(body.successful, false);
      assert.equal(body.request_id, res.headers['x-request-id']);
      assert.match(body.request_id, UUID_V4);
      assert.equal(body.error.code, code);
      if (message) assert.equal(body.error.message, message);
      return body;
    };

    test('no X-Api-Key, or an empty one → 401 API_KEY_MISSING', async () => {
      const before = await t.countInvoices();
      for (const headers of [{}, { 'x-api-key': '' }, { 'x-api-key': '   ' }]) {
        const res = await t.inject({ method: 'POST', url: '/api/v1/create-invoice', headers, payload: SEED_BODY });
        assert.equal(res.statusCode, 401);
        const body = envelope(res, 'API_KEY_MISSING', 'Missing X-Api-Key header');
        assert.deepEqual(Object.keys(body), ['successful', 'request_id', 'error']);
        assert.deepEqual(Object.keys(body.error), ['code', 'message']);
      }
      assert.equal(await t.countInvoices(), before);
    });

    test('an unknown key → 401 API_KEY_INVALID, checked before the body', async () => {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/create-invoice',
        headers: { 'x-api-key': 'kasa_sk_nope', 'content-type': 'application/json' },
        payload: '{not json',
      });
      assert.equal(res.statusCode, 401);
      envelope(res, 'API_KEY_INVALID', 'Invalid or inactive API key');
    });

    test('a revoked key and a disabled merchant are refused at once', async () => {
      const merchant = await t.createMerchant();
      assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique() })).statusCode, 200);
      const revoked = await t.admin('DELETE', `/admin/v1/api-keys/${merchant.key_id}`);
      assert.equal(revoked.statusCode, 204);
      const afterRevoke = await t.createInvoice(merchant.api_key, { external_id: unique() });
      assert.equal(afterRevoke.statusCode, 401);
      envelope(afterRevoke, 'API_KEY_INVALID');

      const other = await t.createMerchant();
      assert.equal((await t.createInvoice(other.api_key, { external_id: unique() })).statusCode, 200);
      await t.admin('PATCH', `/admin/v1/merchants/${other.merchant_id}`, { status: 'disabled' });
      const afterDisable = await t.createInvoice(other.api_key, { external_id: unique() });
      assert.equal(afterDisable.statusCode, 401);
      envelope(afterDisable, 'API_KEY_INVALID');
      await t.admin('PATCH', `/admin/v1/merchants/${other.merchant_id}`, { status: 'active' });
      assert.equal((await t.createInvoice(other.api_key, { external_id: unique() })).statusCode, 200);
    });

    test('a body that is not JSON, or not sent as JSON → 400 in the seed shape', async () => {
      const before = await t.countInvoices();
      const cases = [
        { 'content-type': 'application/json', payload: '{"amount": "1500.00",' },
        { 'content-type': 'application/json', payload: '' },
        { 'content-type': 'text/plain', payload: JSON.stringify(SEED_BODY) },
        { 'content-type': 'application/x-www-form-urlencoded', payload: 'amount=1500.00' },
      ];
      for (const { payload, ...headers } of cases) {
        const res = await t.inject({ method: 'POST', url: '/api/v1/create-invoice', headers: { ...headers, 'x-api-key': apiKey }, payload });
        assert.equal(res.statusCode, 400, `${headers['content-type']} ${payload}: ${res.body}`);
        const body = res.json();
        assert.equal(body.error, 'Bad Request');
        assert.equal(body.message, 'The request contains invalid parameters or malformed data');
        assert.equal(body.code, 400);
        assert.ok(Array.isArray(body.details) && body.details.length > 0);
        for (const detail of body.details) {
          assert.equal(typeof detail.field, 'string');
          assert.equal(typeof detail.message, 'string');
        }
        assert.equal(res.headers['x-request-id'] !== undefined, true);
      }
      assert.equal(await t.countInvoices(), before);
    });

    test('a body over 64 KiB → 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await t.createInvoice(apiKey, { purpose: 'x'.repeat(70 * 1024), external_id: unique() });
      assert.equal(res.statusCode, 413);
      envelope(res, 'PAYLOAD_TOO_LARGE');
    });

    test('every schema violation is listed, FastAPI/Pydantic style', async () => {
      const before = await t.countInvoices();
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/create-invoice',
        headers: { 'x-api-key': apiKey },
        payload: { amount: 'abc', currency_code: 'uah', customer_id: '', purpose: 5 },
      });
      assert.equal(res.statusCode, 422);
      const { detail } = res.json();
      assert.deepEqual(
        detail.map((d: { type: string; loc: string[] }) => [d.type, d.loc.join('.')]),
        [
          ['decimal_parsing', 'body.amount'],
          ['string_pattern_mismatch', 'body.currency_code'],
          ['string_too_short', 'body.customer_id'],
          ['missing', 'body.external_id'],
          ['string_type', 'body.purpose'],
        ],
      );
      assert.deepEqual(detail[3], {
        type: 'missing',
        loc: ['body', 'external_id'],
        msg: 'Field required',
        input: { amount: 'abc', currency_code: 'uah', customer_id: '', purpose: 5 },
      });
      assert.deepEqual(Object.keys(detail[0]), ['type', 'loc', 'msg', 'input']);
      assert.equal(await t.countInvoices(), before);
    });

    const cases: [string, Record<string, unknown>, string, string][] = [
      ['missing', { amount: undefined }, 'amount', 'Field required'],
      ['string_type', { customer_id: 12345 }, 'customer_id', 'Input should be a valid string'],
      ['string_too_short', { external_id: '' }, 'external_id', 'String should have at least 1 character'],
      ['string_too_long', { external_id: 'e'.repeat(129) }, 'external_id', 'String should have at most 128 characters'],
      ['string_too_long', { purpose: 'p'.repeat(256) }, 'purpose', 'String should have at most 255 characters'],
      ['string_pattern_mismatch', { currency_code: 'UAHX' }, 'currency_code', "String should match pattern '^[A-Z]{3}$'"],
      ['decimal_parsing', { amount: '15OO.00' }, 'amount', 'Input should be a valid decimal'],
      ['decimal_type', { amount: true }, 'amount', 'Decimal input should be an integer, float, string or Decimal object'],
      ['greater_than', { amount: '0' }, 'amount', 'Input should be greater than 0'],
      ['greater_than', { amount: '-5.00' }, 'amount', 'Input should be greater than 0'],
      ['decimal_max_places', { amount: '1500.001' }, 'amount', 'Decimal input should have no more than 2 decimal places'],
      ['decimal_max_places', { amount: 0.001 }, 'amount', 'Decimal input should have no more than 2 decimal places'],
      ['decimal_max_digits', { amount: '1000000000000000' }, 'amount', 'Decimal input should have no more than 14 digits in total'],
      ['url_type', { success_url: 42 }, 'success_url', 'URL input should be a string or URL'],
      ['url_parsing', { fail_url: 'not a url' }, 'fail_url', 'Input should be a valid URL, relative URL without a base'],
      ['url_too_long', { success_url: 'https://a.example/' + 'x'.repeat(2048) }, 'success_url', 'URL should have at most 2048 characters'],
      ['url_scheme', { success_url: 'ftp://a.example/' }, 'success_url', "URL scheme should be 'http' or 'https'"],
      ['url_scheme', { callback_url: 'javascript:alert(1)' }, 'callback_url', "URL scheme should be 'http' or 'https'"],
      ['value_error', { callback_url: 'https://user:pw@shop.example/hook' }, 'callback_url', 'Value error, URL must not contain credentials'],
    ];
    for (const [type, patch, field, msg] of cases) {
      test(`422 ${type} on ${field} (${JSON.stringify(patch[field] ?? null).slice(0, 40)})`, async () => {
        const before = await t.countInvoices();
        const payload: Record<string, unknown> = { ...SEED_BODY, external_id: unique(), ...patch };
        const res = await t.inject({ method: 'POST', url: '/api/v1/create-invoice', headers: { 'x-api-key': apiKey }, payload });
        assert.equal(res.statusCode, 422, res.body);
        const { detail } = res.json();
        assert.equal(detail.length, 1, res.body);
        assert.equal(detail[0].type, type);
        assert.deepEqual(detail[0].loc, ['body', field]);
        assert.equal(detail[0].msg, msg);
        assert.equal(await t.countInvoices(), before);
      });
    }

    test('a lone UTF-16 surrogate in any text field → 422 string_unicode, echoed as sent', async () => {
      const before = await t.countInvoices();
      const fields = ['currency_code', 'customer_id', 'external_id', 'purpose', 'callback_url', 'success_url', 'fail_url'] as const;
      for (const name of fields) {
        for (const surrogate of ['\\ud800', '\\udfff']) {
          const value = name.endsWith('_url') ? `https://yoursite.com/a${surrogate}` : `a${surrogate}`;
          // Written by hand: JSON.stringify would escape the surrogate the same way, but this is what a client sends.
          const payload = JSON.stringify({ ...SEED_BODY, external_id: unique() }).replace(/}$/, `,"${name}":"${value}"}`);
          const res = await t.inject({
            method: 'POST',
            url: '/api/v1/create-invoice',
            headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
            payload,
          });
          assert.equal(res.statusCode, 422, `${name}: ${res.body}`);
          assert.deepEqual(res.json().detail, [
            {
              type: 'string_unicode',
              loc: ['body', name],
              msg: 'Input should be a valid string, unable to parse raw data as a unicode string',
              input: JSON.parse(`"${value}"`),
            },
          ]);
          assert.ok(res.body.includes(value), res.body);
        }
      }
      assert.equal(await t.countInvoices(), before);
    });

    test('two external_ids that differ only in a lone surrogate are both refused, not a 200 and a 409', async () => {
      const externalId = unique();
      const answers = [];
      for (const surrogate of ['\\ud800', '\\udbff']) {
        const payload = JSON.stringify({ ...SEED_BODY }).replace(/"external_id":"[^"]*"/, `"external_id":"${externalId}${surrogate}"`);
        answers.push(
          (await t.inject({ method: 'POST', url: '/api/v1/create-invoice', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, payload }))
            .statusCode,
        );
      }
      assert.deepEqual(answers, [422, 422]);
      // A surrogate pair is one character, and welcome.
      assert.equal((await t.createInvoice(apiKey, { external_id: `${externalId}-\u{1F600}` })).statusCode, 200);
    });

    test('a body that is not an object → 422 model_attributes_type', async () => {
      const res = await t.inject({ method: 'POST', url: '/api/v1/create-invoice', headers: { 'x-api-key': apiKey }, payload: [1, 2] });
      assert.equal(res.statusCode, 422);
      assert.equal(res.json().detail[0].type, 'model_attributes_type');
    });

    test('deals system off → 503 DEALS_SYSTEM_DISABLED', async () => {
      await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: false });
      try {
        const res = await t.createInvoice(apiKey, { external_id: unique() });
        assert.equal(res.statusCode, 503);
        envelope(res, 'DEALS_SYSTEM_DISABLED', 'Deals system is disabled');
      } finally {
        await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: true });
      }
      assert.equal((await t.createInvoice(apiKey, { external_id: unique() })).statusCode, 200);
    });

    test('unknown or disabled currency → 400 CURRENCY_INVALID', async () => {
      const unknown = await t.createInvoice(apiKey, { currency_code: 'XXX', external_id: unique() });
      assert.equal(unknown.statusCode, 400);
      envelope(unknown, 'CURRENCY_INVALID', 'Currency not found or disabled');
      await t.admin('PUT', '/admin/v1/currencies/EUR', { enabled: false, rate: '0.92' });
      const disabled = await t.createInvoice(apiKey, { currency_code: 'EUR', external_id: unique() });
      assert.equal(disabled.statusCode, 400);
      envelope(disabled, 'CURRENCY_INVALID');
    });

    test('a currency without a rate → 503 RATE_UNAVAILABLE', async () => {
      await t.admin('PUT', '/admin/v1/currencies/KZT', { enabled: true });
      const res = await t.createInvoice(apiKey, { currency_code: 'KZT', external_id: unique() });
      assert.equal(res.statusCode, 503);
      envelope(res, 'RATE_UNAVAILABLE', 'Exchange rate is not available');
    });

    test('an amount outside the currency limits → 400 AMOUNT_OUT_OF_RANGE with the limits', async () => {
      await t.admin('PUT', '/admin/v1/currencies/PLN', { enabled: true, rate: '3.95', min_amount: '10', max_amount: 5000 });
      for (const amount of ['9.99', '5000.01']) {
        const res = await t.createInvoice(apiKey, { currency_code: 'PLN', amount, external_id: unique() });
        assert.equal(res.statusCode, 400);
        const body = envelope(res, 'AMOUNT_OUT_OF_RANGE') as unknown as { error: { details: unknown } };
        assert.deepEqual(body.error.details, { min_amount: '10.00', max_amount: '5000.00' });
      }
      for (const amount of ['10.00', '5000']) {
        assert.equal((await t.createInvoice(apiKey, { currency_code: 'PLN', amount, external_id: unique() })).statusCode, 200);
      }
    });

    test('a used external_id → 409 DUPLICATE_EXTERNAL_ID naming the existing invoice', async () => {
      const externalId = unique();
      const first = await t.createInvoice(apiKey, { external_id: externalId });
      const again = await t.createInvoice(apiKey, { external_id: externalId, amount: '10.00' });
      assert.equal(again.statusCode, 409);
      const body = envelope(
        again,
        'DUPLICATE_EXTERNAL_ID',
        'External ID for this merchant is already exists, try to generate another External ID',
      ) as unknown as {
        error: { details: unknown };
      };
      assert.deepEqual(body.error.details, { invoice_id: first.json().invoice_id });
      // external_id is unique per merchant, not globally.
      const other = await t.createMerchant();
      assert.equal((await t.createInvoice(other.api_key, { external_id: externalId })).statusCode, 200);
    });

    test('the checks run in the documented order', async () => {
      // Schema before the deals switch, the switch before the currency, the currency before the rate.
      await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: false });
      try {
        const invalid = await t.createInvoice(apiKey, { amount: 'x', external_id: unique() });
        assert.equal(invalid.statusCode, 422);
        const off = await t.createInvoice(apiKey, { currency_code: 'XXX', external_id: unique() });
        assert.equal(off.statusCode, 503);
      } finally {
        await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: true });
      }
      const noRateUnknown = await t.createInvoice(apiKey, { currency_code: 'KZT', amount: '0.01', external_id: unique() });
      assert.equal(noRateUnknown.json().error.code, 'RATE_UNAVAILABLE');
    });
  });

  test('50 concurrent requests with one external_id → one 200, 49 × 409, one row', async () => {
    const externalId = unique();
    const before = await t.countInvoices();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.createInvoice(apiKey, { external_id: externalId, customer_id: `racer-${i % 7}` })),
    );
    const statuses = responses.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 409).length, 49);
    const winner = responses.find((r) => r.statusCode === 200)!.json().invoice_id;
    for (const r of responses.filter((r) => r.statusCode === 409)) assert.equal(r.json().error.details.invoice_id, winner);
    assert.equal(await t.countInvoices(), before + 1);
  });
});
