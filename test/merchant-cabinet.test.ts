// What the merchant cabinet is built on, through the merchant API: webhook settings (URL under
// the SSRF check, secret rotation shown once, the Ed25519 key, a signed test ping with its
// answer), and the CSV export of invoices (filters, escaping, bounds, streaming), each merchant
// seeing only its own.
import assert from 'node:assert/strict';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { EXPORT_COLUMNS, EXPORT_ROWS_MAX } from '../src/invoices/service.ts';
import { assertEnvelope, assertValidation } from './helpers/http.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { Receiver, type Received } from './helpers/receiver.ts';
import { addTrader, trader, type TestTrader } from './helpers/traders.ts';

interface Shop {
  merchant_id: string;
  api_key: string;
  webhook_secret: string;
}

function headersOf(r: Received): Record<string, string> {
  return Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
}

/** RFC 4180 records back into cells (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      cells.push(cell);
      records.push(cells);
      cells = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  assert.equal(cell, '', 'the export ends with CRLF');
  assert.deepEqual(cells, []);
  return records;
}

describe('merchant cabinet API', () => {
  let t: TestKasa;
  let shop: Shop;
  let other: Shop;
  let tr: TestTrader;
  let rx: Receiver;
  let seq = 0;

  const api = (who: Shop, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
    t.inject({ method, url, headers: { 'x-api-key': who.api_key }, ...(payload === undefined ? {} : { payload: payload as object }) });

  async function invoice(who: Shop, body: Record<string, unknown> = {}): Promise<string> {
    const n = ++seq;
    const res = await t.createInvoice(who.api_key, { external_id: `mc-${n}`, customer_id: `mc-customer-${n}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().invoice_id;
  }

  async function pay(invoiceId: string): Promise<void> {
    const state = await t.kasa.deals.openForPage(invoiceId);
    assert.equal(state.kind, 'deal');
    if (state.kind !== 'deal') return;
    const res = await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${state.deal.id}/confirm`);
    assert.equal(res.statusCode, 200, res.body);
  }

  before(async () => {
    t = await startKasa();
    rx = await Receiver.start();
    shop = (await t.createMerchant({ name: 'Cabinet shop' })) as unknown as Shop;
    other = (await t.createMerchant({ name: 'Other shop', webhook_url: 'https://other.example/hook' })) as unknown as Shop;
    tr = await addTrader(t, { deposit: '100000.00', requisites: [{ max_open_deals: 50 }] });
  });
  after(async () => {
    await rx.close();
    await t.close();
  });

  describe('webhook settings', () => {
    test('the URL is set, read and cleared; a URL the SSRF check refuses changes nothing', async () => {
      const initial = await api(shop, 'GET', '/api/v1/webhooks/settings');
      assert.equal(initial.statusCode, 200, initial.body);
      assert.deepEqual(initial.json(), { webhook_url: null, signing_public_key: null, previous_secret_valid_until: null });

      const set = await api(shop, 'PUT', '/api/v1/webhooks/settings', { webhook_url: rx.url });
      assert.equal(set.statusCode, 200, set.body);
      assert.equal(set.json().webhook_url, rx.url);
      assert.equal((await api(shop, 'GET', '/api/v1/webhooks/settings')).json().webhook_url, rx.url);
      // An invoice created from now on takes it as its callback_url, at once on this instance.
      const created = await t.createInvoice(shop.api_key, { external_id: `mc-${++seq}`, callback_url: undefined });
      assert.equal(created.json().callback_url, rx.url);

      for (const refused of ['ftp://example.com/hook', 'https://user:secret@example.com/hook', 'not a url', `https://example.com/${'a'.repeat(2100)}`]) {
        const res = await api(shop, 'PUT', '/api/v1/webhooks/settings', { webhook_url: refused });
        assert.ok(
          assertValidation(res).some(([, loc]) => loc === 'body.webhook_url'),
          res.body,
        );
      }
      assertValidation(await api(shop, 'PUT', '/api/v1/webhooks/settings', { webhook_url: 42 }));
      assert.equal((await api(shop, 'GET', '/api/v1/webhooks/settings')).json().webhook_url, rx.url, 'refusals changed nothing');
      // The other merchant's settings are its own.
      assert.equal((await api(other, 'GET', '/api/v1/webhooks/settings')).json().webhook_url, 'https://other.example/hook');

      const cleared = await api(other, 'PUT', '/api/v1/webhooks/settings', { webhook_url: null });
      assert.equal(cleared.json().webhook_url, null);
      assertEnvelope(await api(other, 'POST', '/api/v1/webhooks/test'), 400, 'WEBHOOK_URL_MISSING');
      assert.equal((await api(shop, 'GET', '/api/v1/webhooks/settings')).json().webhook_url, rx.url);
    });

    test('a private target is refused when private targets are not allowed', async () => {
      const strict = await startKasa({ webhookAllowPrivate: false });
      try {
        const m = await strict.createMerchant();
        for (const target of ['http://example.com/hook', 'https://127.0.0.1/hook', 'https://[::1]/hook', 'https://10.0.0.7/hook']) {
          const res = await strict.inject({
            method: 'PUT',
            url: '/api/v1/webhooks/settings',
            headers: { 'x-api-key': m.api_key },
            payload: { webhook_url: target },
          });
          assertValidation(res);
        }
        const ok = await strict.inject({
          method: 'PUT',
          url: '/api/v1/webhooks/settings',
          headers: { 'x-api-key': m.api_key },
          payload: { webhook_url: 'https://shop.example/hook' },
        });
        assert.equal(ok.statusCode, 200, ok.body);
      } finally {
        await strict.close();
      }
    });

    test('rotating the secret shows the new one once; a test ping is signed by both, standardwebhooks verifies it', async () => {
      await api(shop, 'PUT', '/api/v1/webhooks/settings', { webhook_url: rx.url });
      // standardwebhooks checks webhook-timestamp against the real time; answers are in whole seconds.
      t.clock.set(new Date(Math.floor(Date.now() / 1000) * 1000).toISOString());
      const rotated = await api(shop, 'POST', '/api/v1/webhooks/secret');
      assert.equal(rotated.statusCode, 200, rotated.body);
      const { webhook_secret, previous_secret_valid_until } = rotated.json();
      assert.match(webhook_secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.notEqual(webhook_secret, shop.webhook_secret);
      assert.equal(Date.parse(previous_secret_valid_until) - t.clock.now().getTime(), 24 * 3600_000);
      const settings = (await api(shop, 'GET', '/api/v1/webhooks/settings')).json();
      assert.equal(settings.previous_secret_valid_until, previous_secret_valid_until);
      assert.ok(!JSON.stringify(settings).includes('whsec_'), 'settings never show a secret');

      rx.reply = () => ({ status: 202, body: 'accepted by the shop' });
      const ping = await api(shop, 'POST', '/api/v1/webhooks/test');
      assert.equal(ping.statusCode, 200, ping.body);
      const answer = ping.json();
      assert.equal(answer.delivered, true);
      assert.equal(answer.status_code, 202);
      assert.equal(answer.response_body, 'accepted by the shop');
      assert.equal(typeof answer.duration_ms, 'number');
      const r = rx.forId(answer.event_id)[0]!;
      assert.equal(JSON.parse(r.body).type, 'ping');
      assert.equal(String(r.headers['webhook-signature']).split(' ').length, 2, 'the new and the rotated-out secret both sign');
      new Webhook(webhook_secret).verify(r.body, headersOf(r));
      new Webhook(shop.webhook_secret).verify(r.body, headersOf(r));
      // The other merchant's secret did not change.
      assert.equal((await api(other, 'GET', '/api/v1/webhooks/settings')).json().previous_secret_valid_until, null);
      shop.webhook_secret = webhook_secret;
      rx.reply = () => ({ status: 200 });
    });

    test('the Ed25519 key: a whpk_ public key, and the next ping carries a v1a signature it verifies', async () => {
      t.clock.set(new Date().toISOString());
      const created = await api(shop, 'POST', '/api/v1/webhooks/signing-key');
      assert.equal(created.statusCode, 201, created.body);
      const publicKey: string = created.json().public_key;
      assert.match(publicKey, /^whpk_[A-Za-z0-9+/]{43}=$/);
      assert.equal((await api(shop, 'GET', '/api/v1/webhooks/settings')).json().signing_public_key, publicKey);
      assert.equal((await api(other, 'GET', '/api/v1/webhooks/settings')).json().signing_public_key, null);

      const ping = (await api(shop, 'POST', '/api/v1/webhooks/test')).json();
      const r = rx.forId(ping.event_id)[0]!;
      const v1a = String(r.headers['webhook-signature'])
        .split(' ')
        .find((s) => s.startsWith('v1a,'));
      assert.ok(v1a, 'a v1a signature');
      const raw = Buffer.from(publicKey.slice('whpk_'.length), 'base64');
      const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
      const content = Buffer.from(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`, 'utf8');
      assert.equal(verifySignature(null, content, key, Buffer.from(v1a.slice(4), 'base64')), true);

      // A replayed Idempotency-Key answers as the first time and makes no second pair.
      const once = { 'x-api-key': shop.api_key, 'idempotency-key': 'signing-key-1' };
      const first = await t.inject({ method: 'POST', url: '/api/v1/webhooks/signing-key', headers: once });
      const again = await t.inject({ method: 'POST', url: '/api/v1/webhooks/signing-key', headers: once });
      assert.equal(again.body, first.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal((await api(shop, 'GET', '/api/v1/webhooks/settings')).json().signing_public_key, first.json().public_key);
    });

    test('without a valid merchant key nothing is read or changed', async () => {
      for (const [method, url] of [
        ['GET', '/api/v1/webhooks/settings'],
        ['PUT', '/api/v1/webhooks/settings'],
        ['POST', '/api/v1/webhooks/secret'],
        ['POST', '/api/v1/webhooks/signing-key'],
      ] as const) {
        assertEnvelope(await t.inject({ method, url, payload: { webhook_url: null } }), 401, 'API_KEY_MISSING');
        assertEnvelope(await t.inject({ method, url, headers: { 'x-api-key': tr.api_key }, payload: { webhook_url: null } }), 401, 'API_KEY_INVALID');
      }
      assert.equal((await api(shop, 'GET', '/api/v1/webhooks/settings')).json().webhook_url, rx.url);
    });

    test("a delivery of an invoice is resent from the invoice's attempts; another merchant's is not found", async () => {
      rx.reply = () => ({ status: 500, body: 'down' });
      const invoiceId = await invoice(shop, { callback_url: rx.url });
      await pay(invoiceId);
      const listed = (await api(shop, 'GET', `/api/v1/webhooks/deliveries?invoice_id=${invoiceId}`)).json();
      assert.equal(listed.items.length, 1);
      const eventId: string = listed.items[0].event_id;
      assert.equal(listed.items[0].type, 'invoice.success');
      await t.database.db.updateTable('deliveries').set({ status: 'failed', failure_reason: 'attempts_exhausted' }).where('event_id', '=', eventId).execute();
      assertEnvelope(await api(other, 'POST', `/api/v1/webhooks/deliveries/${eventId}/resend`), 404, 'DELIVERY_NOT_FOUND');
      assert.equal((await t.database.db.selectFrom('deliveries').select('status').where('event_id', '=', eventId).executeTakeFirstOrThrow()).status, 'failed');
      const resent = await api(shop, 'POST', `/api/v1/webhooks/deliveries/${eventId}/resend`);
      assert.equal(resent.statusCode, 200, resent.body);
      assert.equal(resent.json().status, 'pending');
      rx.reply = () => ({ status: 200 });
    });
  });

  describe('CSV export of invoices', () => {
    let exporter: Shop;
    before(async () => {
      exporter = (await t.createMerchant({ name: 'Exporter' })) as unknown as Shop;
    });

    const exportOf = (who: Shop, query = '') => api(who, 'GET', `/api/v1/invoices/export${query}`);

    test('a header, then one line per invoice, newest first; quotes, commas, line breaks and formulas are escaped', async () => {
      t.clock.set('2026-03-01T10:00:00Z');
      const plain = await invoice(exporter, { external_id: 'order-1', customer_id: 'alice' });
      t.clock.advance(1000);
      const tricky = await invoice(exporter, { external_id: '=HYPERLINK("http://evil")', customer_id: 'bob', purpose: 'line one\nline "two", three' });
      t.clock.advance(1000);
      const minus = await invoice(exporter, { external_id: '-2+3', customer_id: '@bob', purpose: '+cmd' });
      await pay(plain);
      await invoice(other, { external_id: 'not-mine' });

      const res = await exportOf(exporter);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
      assert.equal(res.headers['content-disposition'], 'attachment; filename="invoices.csv"');
      assert.equal(res.headers['cache-control'], 'no-store');
      const [header, ...rows] = parseCsv(res.body);
      assert.deepEqual(header, [...EXPORT_COLUMNS]);
      assert.deepEqual(
        rows.map((r) => r[0]),
        [minus, tricky, plain],
      );
      const col = (name: (typeof EXPORT_COLUMNS)[number]) => EXPORT_COLUMNS.indexOf(name);
      const byId = new Map(rows.map((r) => [r[0], r]));
      assert.equal(byId.get(tricky)![col('external_id')], `'=HYPERLINK("http://evil")`);
      assert.equal(byId.get(tricky)![col('purpose')], 'line one\nline "two", three');
      assert.equal(byId.get(minus)![col('external_id')], "'-2+3");
      assert.equal(byId.get(minus)![col('customer_id')], "'@bob");
      assert.equal(byId.get(minus)![col('purpose')], "'+cmd");
      const paid = byId.get(plain)!;
      assert.equal(paid[col('status')], 'success');
      assert.equal(paid[col('amount')], '1500.00');
      assert.equal(paid[col('paid_amount')], '1500.00');
      assert.equal(paid[col('merchant_usdt')], '35.42');
      assert.equal(paid[col('currency')], 'UAH');
      assert.match(paid[col('paid_at')]!, /^2026-03-01T10:00:02Z$/);
      assert.equal(byId.get(minus)![col('paid_at')], '');
      assert.ok(!res.body.includes('not-mine'), "another merchant's invoice is never in the export");
    });

    test('filters: status (as reads report it), customer_id, external_id, created dates', async () => {
      const all = parseCsv((await exportOf(exporter)).body).slice(1);
      const ids = (query: string) =>
        exportOf(exporter, query).then((res) => {
          assert.equal(res.statusCode, 200, res.body);
          return parseCsv(res.body)
            .slice(1)
            .map((r) => r[0]);
        });
      assert.equal(all.length, 3);
      assert.deepEqual(await ids('?status=success'), [all[2]![0]]);
      assert.deepEqual(await ids('?status=pending'), [all[0]![0], all[1]![0]]);
      assert.deepEqual(await ids('?customer_id=bob'), [all[1]![0]]);
      assert.deepEqual(await ids(`?external_id=${encodeURIComponent('-2+3')}`), [all[0]![0]]);
      assert.deepEqual(await ids(`?created_from=${encodeURIComponent('2026-03-01T10:00:01Z')}&created_to=${encodeURIComponent('2026-03-01T10:00:02Z')}`), [
        all[1]![0],
      ]);
      assert.deepEqual(await ids('?customer_id=nobody'), []);
      // Past expires_at the pending ones are reported expired, before the worker sweeps them.
      t.clock.advance(21 * 60_000);
      assert.deepEqual(await ids('?status=expired'), [all[0]![0], all[1]![0]]);
      assert.deepEqual(await ids('?status=pending'), []);
      assert.equal(parseCsv((await exportOf(exporter)).body)[1]![EXPORT_COLUMNS.indexOf('status')], 'expired');

      assertValidation(await exportOf(exporter, '?status=paid'));
      assertValidation(await exportOf(exporter, '?created_from=yesterday'));
      assertValidation(await exportOf(exporter, `?customer_id=${'x'.repeat(129)}`));
      assertEnvelope(await t.inject({ method: 'GET', url: '/api/v1/invoices/export' }), 401, 'API_KEY_MISSING');
    });

    test(`more than ${EXPORT_ROWS_MAX} matching invoices are refused before the first byte; ${EXPORT_ROWS_MAX} stream whole`, async () => {
      const bulk = (await t.createMerchant({ name: 'Bulk' })) as unknown as Shop;
      const start = new Date('2025-01-01T00:00:00Z');
      // Cancelled invoices, one a second: written in SQL, as creating them one by one through the
      // API would take the test minutes.
      await sql`
        INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate, fee_percent,
                              gross_usdt, merchant_usdt, status, created_at, expires_at, cancelled_at)
        SELECT gen_random_uuid(), ${bulk.merchant_id}::uuid, 'bulk-' || n, 'bulk-customer', 100.00, 'UAH', 41.50, 2.00,
               2409638, 2360000, 'cancelled',
               ${start}::timestamptz + n * interval '1 second',
               ${start}::timestamptz + n * interval '1 second' + interval '20 minutes',
               ${start}::timestamptz + n * interval '1 second' + interval '1 minute'
          FROM generate_series(1, ${EXPORT_ROWS_MAX + 1}) AS n`.execute(t.database.db);

      const refused = await exportOf(bulk);
      const envelope = assertEnvelope(refused, 400, 'EXPORT_TOO_LARGE');
      assert.deepEqual(envelope.error.details, { rows_max: EXPORT_ROWS_MAX });

      // Without the first one: exactly the bound, every invoice once, newest first, in one stream.
      const whole = await exportOf(bulk, `?created_from=${encodeURIComponent('2025-01-01T00:00:02Z')}`);
      assert.equal(whole.statusCode, 200);
      const lines = whole.body.split('\r\n');
      assert.equal(lines.at(-1), '');
      const rows = lines.slice(1, -1);
      assert.equal(rows.length, EXPORT_ROWS_MAX);
      const externalIds = rows.map((line) => line.split(',')[1]);
      assert.equal(new Set(externalIds).size, EXPORT_ROWS_MAX);
      assert.equal(externalIds[0], `bulk-${EXPORT_ROWS_MAX + 1}`);
      assert.equal(externalIds.at(-1), 'bulk-2');
      assert.ok(rows.every((line) => line.split(',')[2] === 'cancelled'));
    });
  });
});
