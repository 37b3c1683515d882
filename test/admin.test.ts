import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { ADMIN_TOKEN, startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, assertValidation, UUID_V4 } from './helpers/http.ts';

const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe('admin API', () => {
  /** Started like production: webhooks may not target private hosts. */
  let t: TestKasa;
  let seq = 0;
  const unique = () => `adm-${++seq}`;

  before(async () => {
    t = await startKasa({ webhookAllowPrivate: false });
  });
  after(() => t.close());

  describe('authentication', () => {
    const routes: [InjectOptions['method'], string, unknown?][] = [
      ['POST', '/admin/v1/merchants', { name: 'X' }],
      ['GET', '/admin/v1/merchants'],
      ['GET', `/admin/v1/merchants/${randomUUID()}`],
      ['PATCH', `/admin/v1/merchants/${randomUUID()}`, { name: 'X' }],
      ['POST', `/admin/v1/merchants/${randomUUID()}/api-keys`],
      ['GET', `/admin/v1/merchants/${randomUUID()}/api-keys`],
      ['DELETE', `/admin/v1/api-keys/${randomUUID()}`],
      ['PUT', '/admin/v1/currencies/EUR', { enabled: true }],
      ['GET', '/admin/v1/currencies'],
      ['GET', '/admin/v1/settings'],
      ['PATCH', '/admin/v1/settings', { deals_enabled: false }],
    ];
    const badHeaders: [string, Record<string, string>][] = [
      ['no header', {}],
      ['wrong token', { authorization: 'Bearer wrong-token-0123456789' }],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['token without Bearer', { authorization: ADMIN_TOKEN }],
      ['Basic scheme', { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }],
      ['token with a suffix', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
      ['token prefix', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }],
      ['two tokens', { authorization: `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}` }],
    ];

    for (const [method, url, payload] of routes) {
      test(`${method} ${url.replace(/[0-9a-f-]{36}/, ':id')} → 401 UNAUTHORIZED without the admin token`, async () => {
        for (const [label, headers] of badHeaders) {
          const res = await t.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
          assert.equal(res.statusCode, 401, `${label}: ${res.body}`);
          assertEnvelope(res, 401, 'UNAUTHORIZED');
        }
      });
    }

    test('a merchant API key is not an admin token', async () => {
      const merchant = await t.createMerchant();
      const res = await t.inject({ method: 'GET', url: '/admin/v1/merchants', headers: { 'x-api-key': merchant.api_key } });
      assertEnvelope(res, 401, 'UNAUTHORIZED');
      const asBearer = await t.inject({ method: 'GET', url: '/admin/v1/merchants', headers: { authorization: `Bearer ${merchant.api_key}` } });
      assertEnvelope(asBearer, 401, 'UNAUTHORIZED');
    });

    test('refused requests change nothing', async () => {
      const before = (await t.admin('GET', '/admin/v1/merchants')).json().items.length;
      await t.inject({ method: 'POST', url: '/admin/v1/merchants', headers: { authorization: 'Bearer nope-nope-nope-nope' }, payload: { name: 'Intruder' } });
      await t.inject({ method: 'PATCH', url: '/admin/v1/settings', payload: { deals_enabled: false } });
      assert.equal((await t.admin('GET', '/admin/v1/merchants')).json().items.length, before);
      assert.equal((await t.admin('GET', '/admin/v1/settings')).json().deals_enabled, true);
    });

    test('the scheme is case-insensitive', async () => {
      const res = await t.inject({ method: 'GET', url: '/admin/v1/settings', headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.statusCode, 200);
    });
  });

  describe('merchants', () => {
    test('POST /admin/v1/merchants → 201 with the key and the webhook secret, shown once', async () => {
      const res = await t.admin('POST', '/admin/v1/merchants', { name: 'Coffee Shop' });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      for (const field of ['merchant_id', 'name', 'status', 'fee_percent', 'webhook_url', 'webhook_secret', 'api_key']) {
        assert.ok(field in body, `${field} in ${res.body}`);
      }
      assert.match(body.merchant_id, UUID_V4);
      assert.equal(body.name, 'Coffee Shop');
      assert.equal(body.status, 'active');
      assert.equal(body.fee_percent, '2.00');
      assert.equal(body.webhook_url, null);
      assert.match(body.webhook_secret, WEBHOOK_SECRET);
      assert.equal(Buffer.from(body.webhook_secret.slice('whsec_'.length), 'base64').length, 32);
      assert.equal(typeof body.api_key, 'string');
      assert.ok(body.api_key.length >= 32, 'a long random secret');

      // The key works at once.
      const invoice = await t.createInvoice(body.api_key, { external_id: unique(), customer_id: unique() });
      assert.equal(invoice.statusCode, 200, invoice.body);

      // Shown once: neither the key nor the secret is ever read back.
      for (const read of [await t.admin('GET', `/admin/v1/merchants/${body.merchant_id}`), await t.admin('GET', '/admin/v1/merchants')]) {
        assert.equal(read.statusCode, 200);
        assert.ok(!read.body.includes(body.api_key));
        assert.ok(!read.body.includes(body.webhook_secret));
      }
    });

    test('each merchant gets its own key and secret', async () => {
      const a = (await t.admin('POST', '/admin/v1/merchants', { name: 'A' })).json();
      const b = (await t.admin('POST', '/admin/v1/merchants', { name: 'B' })).json();
      assert.notEqual(a.api_key, b.api_key);
      assert.notEqual(a.webhook_secret, b.webhook_secret);
      assert.notEqual(a.merchant_id, b.merchant_id);
    });

    test('fee_percent and webhook_url at creation; numbers are accepted for money', async () => {
      const res = await t.admin('POST', '/admin/v1/merchants', { name: 'Fees', fee_percent: 3.5, webhook_url: 'https://shop.example/hooks' });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().fee_percent, '3.50');
      assert.equal(res.json().webhook_url, 'https://shop.example/hooks');
      const zero = await t.admin('POST', '/admin/v1/merchants', { name: 'Free', fee_percent: '0' });
      assert.equal(zero.json().fee_percent, '0.00');
      const max = await t.admin('POST', '/admin/v1/merchants', { name: 'Greedy', fee_percent: '99.99' });
      assert.equal(max.json().fee_percent, '99.99');
    });

    test('fee_percent validation: ≥ 100, negative, 3 decimals, not a number → 422', async () => {
      const cases: [unknown, string][] = [
        ['100', 'less_than'],
        [100, 'less_than'],
        ['150.00', 'less_than'],
        ['-1', 'greater_than_equal'],
        [-0.01, 'greater_than_equal'],
        ['2.001', 'decimal_max_places'],
        ['two', 'decimal_parsing'],
        [true, 'decimal_type'],
      ];
      const before = (await t.admin('GET', '/admin/v1/merchants')).json().items.length;
      for (const [fee, type] of cases) {
        assert.deepEqual(
          assertValidation(await t.admin('POST', '/admin/v1/merchants', { name: 'Bad', fee_percent: fee })),
          [[type, 'body.fee_percent']],
          String(fee),
        );
      }
      assert.equal((await t.admin('GET', '/admin/v1/merchants')).json().items.length, before, 'nothing created');
      const merchant = await t.createMerchant();
      for (const [fee, type] of cases) {
        assert.deepEqual(assertValidation(await t.admin('PATCH', `/admin/v1/merchants/${merchant.merchant_id}`, { fee_percent: fee })), [
          [type, 'body.fee_percent'],
        ]);
      }
    });

    test('name is required, 1–200 characters', async () => {
      assert.deepEqual(assertValidation(await t.admin('POST', '/admin/v1/merchants', {})), [['missing', 'body.name']]);
      assert.deepEqual(assertValidation(await t.admin('POST', '/admin/v1/merchants', { name: '' })), [['string_too_short', 'body.name']]);
      assert.deepEqual(assertValidation(await t.admin('POST', '/admin/v1/merchants', { name: 'n'.repeat(201) })), [['string_too_long', 'body.name']]);
      assert.equal((await t.admin('POST', '/admin/v1/merchants', { name: 'n'.repeat(200) })).statusCode, 201);
      // PostgreSQL text cannot hold U+0000: refused as invalid input, never a 500.
      assert.deepEqual(assertValidation(await t.admin('POST', '/admin/v1/merchants', { name: 'Nul\u0000Shop' })), [['value_error', 'body.name']]);
    });

    test('GET /admin/v1/merchants lists them; GET /admin/v1/merchants/{id} reads one', async () => {
      const created = await t.createMerchant({ name: 'Listed', fee_percent: '1.25' });
      const listed = await t.admin('GET', '/admin/v1/merchants');
      assert.equal(listed.statusCode, 200);
      const item = listed.json().items.find((m: { merchant_id: string }) => m.merchant_id === created.merchant_id);
      assert.ok(item, 'the new merchant is listed');
      assert.equal(item.name, 'Listed');
      assert.equal(item.fee_percent, '1.25');
      assert.equal(item.status, 'active');
      const one = await t.admin('GET', `/admin/v1/merchants/${created.merchant_id}`);
      assert.equal(one.statusCode, 200);
      assert.deepEqual(one.json(), item);
      assert.ok(!('api_key' in one.json()));
      assert.ok(!('webhook_secret' in one.json()));
    });

    test('PATCH /admin/v1/merchants/{id}: name, fee_percent, webhook_url (null clears), status', async () => {
      const { merchant_id, api_key } = await t.createMerchant({ name: 'Before', webhook_url: 'https://before.example/hook' });
      const url = `/admin/v1/merchants/${merchant_id}`;

      const renamed = await t.admin('PATCH', url, { name: 'After' });
      assert.equal(renamed.statusCode, 200, renamed.body);
      assert.equal(renamed.json().name, 'After');
      assert.equal(renamed.json().webhook_url, 'https://before.example/hook', 'an absent field is kept');

      const fee = await t.admin('PATCH', url, { fee_percent: '5' });
      assert.equal(fee.json().fee_percent, '5.00');
      // The new fee applies to new invoices: 1500.00 / 41.50 = 36.144578, × 0.95 = 34.337349 → 34.33.
      assert.equal((await t.createInvoice(api_key, { external_id: unique(), customer_id: unique() })).json().merchant_usdt, '34.33');

      const hook = await t.admin('PATCH', url, { webhook_url: 'https://after.example/hook' });
      assert.equal(hook.json().webhook_url, 'https://after.example/hook');
      const noCallback = await t.createInvoice(api_key, { external_id: unique(), customer_id: unique(), callback_url: undefined });
      assert.equal(noCallback.json().callback_url, 'https://after.example/hook');

      const cleared = await t.admin('PATCH', url, { webhook_url: null });
      assert.equal(cleared.statusCode, 200, cleared.body);
      assert.equal(cleared.json().webhook_url, null);
      assert.equal((await t.admin('GET', url)).json().webhook_url, null);
      assert.equal((await t.createInvoice(api_key, { external_id: unique(), customer_id: unique(), callback_url: undefined })).json().callback_url, null);

      const disabled = await t.admin('PATCH', url, { status: 'disabled' });
      assert.equal(disabled.json().status, 'disabled');
      assertEnvelope(await t.createInvoice(api_key, { external_id: unique(), customer_id: unique() }), 401, 'API_KEY_INVALID');
      const enabled = await t.admin('PATCH', url, { status: 'active' });
      assert.equal(enabled.json().status, 'active');
      assert.equal((await t.createInvoice(api_key, { external_id: unique(), customer_id: unique() })).statusCode, 200);

      assert.deepEqual(assertValidation(await t.admin('PATCH', url, { status: 'paused' })), [['enum', 'body.status']]);
      assert.deepEqual(assertValidation(await t.admin('PATCH', url, { name: '' })), [['string_too_short', 'body.name']]);
      const final = (await t.admin('GET', url)).json();
      assert.equal(final.name, 'After');
      assert.equal(final.fee_percent, '5.00');
    });

    test('unknown or malformed merchant ids → 404 MERCHANT_NOT_FOUND', async () => {
      for (const id of [randomUUID(), 'not-a-uuid', '42']) {
        assertEnvelope(await t.admin('GET', `/admin/v1/merchants/${id}`), 404, 'MERCHANT_NOT_FOUND');
        assertEnvelope(await t.admin('PATCH', `/admin/v1/merchants/${id}`, { name: 'X' }), 404, 'MERCHANT_NOT_FOUND');
        assertEnvelope(await t.admin('POST', `/admin/v1/merchants/${id}/api-keys`), 404, 'MERCHANT_NOT_FOUND');
        assertEnvelope(await t.admin('GET', `/admin/v1/merchants/${id}/api-keys`), 404, 'MERCHANT_NOT_FOUND');
      }
    });
  });

  describe('webhook_url SSRF rules at creation', () => {
    const blockedHosts = [
      'https://127.0.0.1/',
      'https://127.1/',
      'https://2130706433/',
      'https://0x7f000001/',
      'https://017700000001/',
      'https://[::1]/',
      'https://[::ffff:7f00:1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[::]/',
      'https://0.0.0.0/',
      'https://169.254.169.254/',
      'https://10.0.0.1/',
      'https://172.16.5.4/',
      'https://192.168.1.1/',
      'https://100.64.0.1/',
      'https://224.0.0.1/',
      'https://[fe80::1]/',
      'https://[fd00::1]/',
      // IPv6 forms that embed an IPv4 address: compatible (::a.b.c.d), translated, 6to4.
      'https://[::127.0.0.1]/',
      'https://[::ffff:0:7f00:1]/',
      'https://[2002:7f00:1::]/',
    ];

    const webhookIssue = async (kasa: TestKasa, webhookUrl: string) => {
      const res = await kasa.admin('POST', '/admin/v1/merchants', { name: 'Hooked', webhook_url: webhookUrl });
      assert.equal(res.statusCode, 422, `${webhookUrl}: ${res.body}`);
      const { detail } = res.json();
      assert.equal(detail.length, 1, res.body);
      assert.deepEqual(detail[0].loc, ['body', 'webhook_url']);
      assert.equal(detail[0].input, webhookUrl);
      return detail[0] as { type: string; msg: string };
    };

    test('http → 422 url_scheme', async () => {
      for (const webhookUrl of ['http://example.com/hook', 'http://shop.example/']) {
        assert.equal((await webhookIssue(t, webhookUrl)).type, 'url_scheme');
      }
      assert.equal((await webhookIssue(t, 'ftp://example.com/')).type, 'url_scheme');
    });

    for (const webhookUrl of blockedHosts) {
      test(`${webhookUrl} → 422 value_error`, async () => {
        const issue = await webhookIssue(t, webhookUrl);
        assert.equal(issue.type, 'value_error');
        assert.match(issue.msg, /^Value error, /);
      });
    }

    test('credentials in the URL → 422 value_error', async () => {
      const issue = await webhookIssue(t, 'https://user:pw@host.example/hook');
      assert.equal(issue.type, 'value_error');
      assert.equal((await webhookIssue(t, 'https://user@host.example/hook')).type, 'value_error');
    });

    test('a public https URL is accepted', async () => {
      for (const webhookUrl of [
        'https://shop.example/hooks',
        'https://8.8.8.8/hook',
        'https://93.184.216.34/',
        'https://[2001:4860:4860::8888]/hook',
        'https://[2606:4700::1111]/',
      ]) {
        const res = await t.admin('POST', '/admin/v1/merchants', { name: 'Hooked', webhook_url: webhookUrl });
        assert.equal(res.statusCode, 201, `${webhookUrl}: ${res.body}`);
      }
    });

    test('the same rules on PATCH, and on create-invoice callback_url', async () => {
      const merchant = await t.createMerchant();
      for (const [webhookUrl, type] of [
        ['http://example.com/', 'url_scheme'],
        ['https://127.1/', 'value_error'],
      ] as const) {
        const patch = await t.admin('PATCH', `/admin/v1/merchants/${merchant.merchant_id}`, { webhook_url: webhookUrl });
        assert.deepEqual(assertValidation(patch), [[type, 'body.webhook_url']]);
        const invoice = await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique(), callback_url: webhookUrl });
        assert.deepEqual(assertValidation(invoice), [[type, 'body.callback_url']]);
      }
    });

    test('with WEBHOOK_ALLOW_PRIVATE, http to a private host is accepted, http elsewhere is not', async () => {
      const dev = await startKasa({ webhookAllowPrivate: true });
      try {
        for (const webhookUrl of ['http://127.0.0.1:9000/hook', 'http://localhost:9000/hook', 'http://10.0.0.1/hook', 'https://127.0.0.1/hook']) {
          const res = await dev.admin('POST', '/admin/v1/merchants', { name: 'Dev', webhook_url: webhookUrl });
          assert.equal(res.statusCode, 201, `${webhookUrl}: ${res.body}`);
          assert.equal(res.json().webhook_url, webhookUrl);
        }
        assert.equal((await webhookIssue(dev, 'http://example.com/')).type, 'url_scheme');
        // Still never the cloud metadata address, nor credentials.
        assert.equal((await webhookIssue(dev, 'https://169.254.169.254/')).type, 'value_error');
        assert.equal((await webhookIssue(dev, 'http://user:pw@127.0.0.1:9000/')).type, 'value_error');
      } finally {
        await dev.close();
      }
    });
  });

  describe('API keys', () => {
    test('create → 201 {key_id, api_key, prefix}; the key works', async () => {
      const merchant = await t.createMerchant();
      const res = await t.admin('POST', `/admin/v1/merchants/${merchant.merchant_id}/api-keys`);
      assert.equal(res.statusCode, 201, res.body);
      const key = res.json();
      assert.match(key.key_id, UUID_V4);
      assert.equal(typeof key.api_key, 'string');
      assert.ok(key.api_key.startsWith(key.prefix), 'the prefix is the start of the key');
      assert.ok(key.prefix.length < key.api_key.length / 2, 'the prefix does not give the key away');
      assert.notEqual(key.api_key, merchant.api_key);
      assert.equal((await t.createInvoice(key.api_key, { external_id: unique(), customer_id: unique() })).statusCode, 200);
      assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() })).statusCode, 200, 'the first key still works');
    });

    test('list shows prefixes, never the key or its hash', async () => {
      const merchant = await t.createMerchant();
      const second = (await t.admin('POST', `/admin/v1/merchants/${merchant.merchant_id}/api-keys`)).json();
      const res = await t.admin('GET', `/admin/v1/merchants/${merchant.merchant_id}/api-keys`);
      assert.equal(res.statusCode, 200);
      const { items } = res.json();
      assert.deepEqual(items.map((k: { key_id: string }) => k.key_id).sort(), [merchant.key_id, second.key_id].sort());
      for (const item of items) {
        assert.equal(typeof item.prefix, 'string');
        assert.ok(!('api_key' in item));
        assert.equal(item.revoked_at, null);
      }
      for (const plain of [merchant.api_key, second.api_key]) {
        assert.ok(!res.body.includes(plain), 'the key is never listed');
        const hash = createHash('sha256').update(plain).digest();
        for (const encoded of [hash.toString('hex'), hash.toString('base64'), hash.toString('base64url')]) {
          assert.ok(!res.body.includes(encoded), 'nor its hash');
        }
      }
    });

    test("revoke → 204, the key is refused at once, the merchant's other keys keep working", async () => {
      const merchant = await t.createMerchant();
      const second = (await t.admin('POST', `/admin/v1/merchants/${merchant.merchant_id}/api-keys`)).json();
      assert.equal((await t.createInvoice(second.api_key, { external_id: unique(), customer_id: unique() })).statusCode, 200);
      const res = await t.admin('DELETE', `/admin/v1/api-keys/${second.key_id}`);
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, '');
      assertEnvelope(await t.createInvoice(second.api_key, { external_id: unique(), customer_id: unique() }), 401, 'API_KEY_INVALID');
      assertEnvelope(await t.inject({ method: 'GET', url: '/api/v1/invoices', headers: { 'x-api-key': second.api_key } }), 401, 'API_KEY_INVALID');
      assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() })).statusCode, 200);
      const listed = (await t.admin('GET', `/admin/v1/merchants/${merchant.merchant_id}/api-keys`)).json().items;
      const revoked = listed.find((k: { key_id: string }) => k.key_id === second.key_id);
      assert.notEqual(revoked.revoked_at, null);
    });

    test('unknown or malformed key_id → 404 API_KEY_NOT_FOUND', async () => {
      assertEnvelope(await t.admin('DELETE', `/admin/v1/api-keys/${randomUUID()}`), 404, 'API_KEY_NOT_FOUND');
      assertEnvelope(await t.admin('DELETE', '/admin/v1/api-keys/nope'), 404, 'API_KEY_NOT_FOUND');
    });

    test('the database holds only SHA-256 hashes of keys', async () => {
      const merchant = await t.createMerchant();
      const second = (await t.admin('POST', `/admin/v1/merchants/${merchant.merchant_id}/api-keys`)).json();
      const rows = await t.database.db.selectFrom('api_keys').selectAll().where('merchant_id', '=', merchant.merchant_id).execute();
      assert.equal(rows.length, 2);
      for (const plain of [merchant.api_key, second.api_key]) {
        const expected = createHash('sha256').update(plain, 'utf8').digest();
        const row = rows.find((r) => Buffer.from(r.key_hash).equals(expected));
        assert.ok(row, 'key_hash = sha256(api_key)');
      }
      // No column of any key or merchant row holds a plain key.
      const merchants = await t.database.db.selectFrom('merchants').selectAll().execute();
      for (const row of [...rows, ...merchants] as Record<string, unknown>[]) {
        for (const [column, value] of Object.entries(row)) {
          const text = value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : String(value);
          for (const plain of [merchant.api_key, second.api_key]) assert.ok(!text.includes(plain), `column ${column} holds a plain key`);
        }
      }
    });
  });

  describe('currencies', () => {
    test('PUT creates a currency without a rate, then sets it; GET lists it', async () => {
      const created = await t.admin('PUT', '/admin/v1/currencies/EUR', { enabled: true });
      assert.equal(created.statusCode, 200, created.body);
      assert.equal(created.json().code, 'EUR');
      assert.equal(created.json().enabled, true);
      assert.equal(created.json().rate, null);
      assert.equal(created.json().min_amount, null);
      assert.equal(created.json().max_amount, null);

      const rated = await t.admin('PUT', '/admin/v1/currencies/EUR', { enabled: true, rate: '0.92', min_amount: 1, max_amount: '5000' });
      assert.equal(rated.statusCode, 200, rated.body);
      assert.equal(rated.json().rate, '0.92');
      assert.equal(rated.json().min_amount, '1.00');
      assert.equal(rated.json().max_amount, '5000.00');

      const updated = await t.admin('PUT', '/admin/v1/currencies/EUR', { enabled: true, rate: 0.95 });
      assert.equal(updated.json().rate, '0.95');
      assert.equal(updated.json().min_amount, '1.00', 'an omitted limit is kept');

      const listed = await t.admin('GET', '/admin/v1/currencies');
      assert.equal(listed.statusCode, 200);
      const codes = listed.json().items.map((c: { code: string }) => c.code);
      assert.ok(codes.includes('EUR') && codes.includes('UAH'));
      const eur = listed.json().items.find((c: { code: string }) => c.code === 'EUR');
      assert.deepEqual(eur, updated.json());
    });

    test('rates are decimal strings with at least 2 places, at most 6', async () => {
      assert.equal((await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.5' })).json().rate, '41.50');
      assert.equal((await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.123456' })).json().rate, '41.123456');
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.1234567' })), [
        ['decimal_max_places', 'body.rate'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '0' })), [['greater_than', 'body.rate']]);
      // NUMERIC(18, 6): at most 12 digits before the point, a 422 rather than a database overflow.
      assert.equal((await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '999999999999.999999' })).json().rate, '999999999999.999999');
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '1234567890123' })), [
        ['decimal_whole_digits', 'body.rate'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: 1e15 })), [
        ['decimal_whole_digits', 'body.rate'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '-41.50' })), [['greater_than', 'body.rate']]);
      const restored = await t.admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.50' });
      assert.equal(restored.json().rate, '41.50');
      // The seed's numbers again.
      const merchant = await t.createMerchant();
      assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() })).json().merchant_usdt, '35.42');
    });

    test('min_amount > max_amount → 400 CURRENCY_RANGE_INVALID, also when only one side is sent', async () => {
      assertEnvelope(await t.admin('PUT', '/admin/v1/currencies/PLN', { enabled: true, min_amount: '100', max_amount: '10' }), 400, 'CURRENCY_RANGE_INVALID');
      assert.equal(
        (await t.admin('GET', '/admin/v1/currencies')).json().items.some((c: { code: string }) => c.code === 'PLN'),
        false,
        'nothing stored',
      );
      assert.equal((await t.admin('PUT', '/admin/v1/currencies/PLN', { enabled: true, rate: '3.95', min_amount: '10', max_amount: '100' })).statusCode, 200);
      assertEnvelope(await t.admin('PUT', '/admin/v1/currencies/PLN', { enabled: true, min_amount: '200' }), 400, 'CURRENCY_RANGE_INVALID');
      assertEnvelope(await t.admin('PUT', '/admin/v1/currencies/PLN', { enabled: true, max_amount: '5' }), 400, 'CURRENCY_RANGE_INVALID');
      const equal = await t.admin('PUT', '/admin/v1/currencies/PLN', { enabled: true, min_amount: '100' });
      assert.equal(equal.statusCode, 200, 'min = max is a valid range');
      assert.equal(equal.json().min_amount, '100.00');
    });

    test('a malformed code in the path, or a bad body → 422', async () => {
      for (const code of ['uah', 'UA', 'UAHX', 'U1H']) {
        assert.deepEqual(
          assertValidation(await t.admin('PUT', `/admin/v1/currencies/${code}`, { enabled: true })),
          [['string_pattern_mismatch', 'path.code']],
          code,
        );
      }
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/GBP', {})), [['missing', 'body.enabled']]);
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/GBP', { enabled: 'maybe' })), [['bool_parsing', 'body.enabled']]);
      assert.deepEqual(assertValidation(await t.admin('PUT', '/admin/v1/currencies/GBP', { enabled: true, min_amount: '1.001' })), [
        ['decimal_max_places', 'body.min_amount'],
      ]);
    });

    test('a disabled currency refuses invoices at once; enabling it again accepts them', async () => {
      const merchant = await t.createMerchant();
      await t.admin('PUT', '/admin/v1/currencies/CZK', { enabled: true, rate: '23.10' });
      assert.equal((await t.createInvoice(merchant.api_key, { currency_code: 'CZK', external_id: unique() })).statusCode, 200);
      await t.admin('PUT', '/admin/v1/currencies/CZK', { enabled: false });
      assertEnvelope(await t.createInvoice(merchant.api_key, { currency_code: 'CZK', external_id: unique() }), 400, 'CURRENCY_INVALID');
      const enabled = await t.admin('PUT', '/admin/v1/currencies/CZK', { enabled: true });
      assert.equal(enabled.json().rate, '23.10', 'the rate is kept');
      assert.equal((await t.createInvoice(merchant.api_key, { currency_code: 'CZK', external_id: unique() })).json().conversion_rate, '23.10');
    });
  });

  describe('settings', () => {
    test('GET shows the defaults', async () => {
      const res = await t.admin('GET', '/admin/v1/settings');
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.deals_enabled, true);
      assert.equal(body.invoice_ttl_minutes, 20);
      assert.equal(body.customer_invoices_per_minute, 10);
      assert.equal(body.customer_max_pending, 5);
    });

    test('PATCH changes only what it names, within bounds', async () => {
      const patched = await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 30 });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal(patched.json().customer_invoices_per_minute, 30);
      assert.equal(patched.json().customer_max_pending, 5);
      assert.equal(patched.json().invoice_ttl_minutes, 20);
      assert.deepEqual(assertValidation(await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 0 })), [
        ['greater_than_equal', 'body.invoice_ttl_minutes'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 1441 })), [
        ['less_than_equal', 'body.invoice_ttl_minutes'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 2.5 })), [
        ['int_from_float', 'body.invoice_ttl_minutes'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PATCH', '/admin/v1/settings', { customer_max_pending: 0 })), [
        ['greater_than_equal', 'body.customer_max_pending'],
      ]);
      assert.deepEqual(assertValidation(await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: 'perhaps' })), [['bool_parsing', 'body.deals_enabled']]);
      for (const ttl of [1, 1440]) assert.equal((await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: ttl })).json().invoice_ttl_minutes, ttl);
      const restored = await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 20, customer_invoices_per_minute: 10 });
      assert.equal(restored.json().invoice_ttl_minutes, 20);
      assert.equal(restored.json().customer_invoices_per_minute, 10);
    });

    test('a changed invoice_ttl_minutes changes expires_at of new invoices at once', async () => {
      const merchant = await t.createMerchant();
      await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 45 });
      try {
        const invoice = (await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() })).json();
        assert.equal(Date.parse(invoice.expires_at) - Date.parse(invoice.created_at), 45 * 60_000);
      } finally {
        await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 20 });
      }
      const invoice = (await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() })).json();
      assert.equal(Date.parse(invoice.expires_at) - Date.parse(invoice.created_at), 20 * 60_000);
    });

    test('deals_enabled off → create-invoice 503 at once; on again → 200', async () => {
      const merchant = await t.createMerchant();
      assert.equal((await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: false })).json().deals_enabled, false);
      try {
        assertEnvelope(await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() }), 503, 'DEALS_SYSTEM_DISABLED');
      } finally {
        await t.admin('PATCH', '/admin/v1/settings', { deals_enabled: true });
      }
      assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique(), customer_id: unique() })).statusCode, 200);
    });
  });
});
