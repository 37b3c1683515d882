import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, assertValidation } from './helpers/http.ts';

const MINUTE = 60_000;

interface Invoice {
  invoice_id: string;
  external_id: string;
  customer_id: string;
  status: string;
  created_at: string;
  expires_at: string;
}
interface Page {
  items: Invoice[];
  next_cursor: string | null;
}

describe('merchant invoice API: read, list, cancel', () => {
  let t: TestKasa;
  let seq = 0;
  const unique = () => `inv-${++seq}`;

  const get = (apiKey: string, id: string) => t.inject({ method: 'GET', url: `/api/v1/invoices/${id}`, headers: { 'x-api-key': apiKey } });
  const cancel = (apiKey: string, id: string) => t.inject({ method: 'POST', url: `/api/v1/invoices/${id}/cancel`, headers: { 'x-api-key': apiKey } });
  const list = (apiKey: string, query: Record<string, string | number> = {}) => {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
    return t.inject({ method: 'GET', url: `/api/v1/invoices${qs ? `?${qs}` : ''}`, headers: { 'x-api-key': apiKey } });
  };
  const listPage = async (apiKey: string, query: Record<string, string | number> = {}): Promise<Page> => {
    const res = await list(apiKey, query);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  const newInvoice = async (apiKey: string, body: Record<string, unknown> = {}): Promise<Invoice> => {
    const res = await t.createInvoice(apiKey, { external_id: unique(), ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  /** A merchant of its own, so lists hold exactly what the test created. */
  const freshMerchant = async () => (await t.createMerchant({ name: `Shop ${unique()}` })).api_key;

  before(async () => {
    t = await startKasa();
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());

  describe('GET /api/v1/invoices/{invoice_id}', () => {
    test('returns the invoice object, as create-invoice returned it', async () => {
      const apiKey = await freshMerchant();
      const created = await t.createInvoice(apiKey, { external_id: unique() });
      const res = await get(apiKey, created.json().invoice_id);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { ...created.json(), paid_amount: null, status_detail: null });
    });

    test("a missing invoice, a malformed id and another merchant's invoice are all 404 INVOICE_NOT_FOUND", async () => {
      const apiKey = await freshMerchant();
      const otherKey = await freshMerchant();
      const theirs = await newInvoice(otherKey);
      for (const id of [randomUUID(), 'not-a-uuid', '123', theirs.invoice_id, theirs.invoice_id.toUpperCase() + 'x']) {
        assertEnvelope(await get(apiKey, encodeURIComponent(id)), 404, 'INVOICE_NOT_FOUND');
      }
      // The owner still sees it.
      assert.equal((await get(otherKey, theirs.invoice_id)).statusCode, 200);
    });

    test('needs the API key', async () => {
      const apiKey = await freshMerchant();
      const invoice = await newInvoice(apiKey);
      assertEnvelope(await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoice.invoice_id}` }), 401, 'API_KEY_MISSING');
      assertEnvelope(await get('kasa_sk_wrong', invoice.invoice_id), 401, 'API_KEY_INVALID');
    });

    test('a pending invoice reads "expired" from expires_at on', async () => {
      const apiKey = await freshMerchant();
      const invoice = await newInvoice(apiKey);
      assert.equal(invoice.status, 'pending');
      t.clock.advance(20 * MINUTE - 1000);
      assert.equal((await get(apiKey, invoice.invoice_id)).json().status, 'pending');
      t.clock.advance(1000);
      const expired = (await get(apiKey, invoice.invoice_id)).json();
      assert.equal(expired.status, 'expired');
      assert.equal(expired.expires_at, invoice.expires_at);
      assert.equal(expired.paid_at, null);
    });
  });

  describe('GET /api/v1/invoices', () => {
    test('lists newest first, 20 by default, with next_cursor', async () => {
      const apiKey = await freshMerchant();
      const created: Invoice[] = [];
      for (let i = 0; i < 25; i++) created.push(await newInvoice(apiKey));
      const page = await listPage(apiKey);
      assert.deepEqual(Object.keys(page).sort(), ['items', 'next_cursor']);
      assert.equal(page.items.length, 20);
      assert.deepEqual(
        page.items.map((i) => i.invoice_id),
        created
          .slice(5)
          .reverse()
          .map((i) => i.invoice_id),
      );
      assert.equal(typeof page.next_cursor, 'string');
      assert.deepEqual(page.items[0], { ...created[24], paid_amount: null, status_detail: null });
      const rest = await listPage(apiKey, { cursor: page.next_cursor! });
      assert.deepEqual(
        rest.items.map((i) => i.invoice_id),
        created
          .slice(0, 5)
          .reverse()
          .map((i) => i.invoice_id),
      );
      assert.equal(rest.next_cursor, null);
    });

    test('an empty list', async () => {
      const apiKey = await freshMerchant();
      assert.deepEqual(await listPage(apiKey), { items: [], next_cursor: null });
    });

    test('limit: 1 to 100; 0, 101 or not a number → 422', async () => {
      const apiKey = await freshMerchant();
      for (let i = 0; i < 3; i++) await newInvoice(apiKey);
      const one = await listPage(apiKey, { limit: 1 });
      assert.equal(one.items.length, 1);
      assert.notEqual(one.next_cursor, null);
      const all = await listPage(apiKey, { limit: 100 });
      assert.equal(all.items.length, 3);
      assert.equal(all.next_cursor, null);
      const exact = await listPage(apiKey, { limit: 3 });
      assert.equal(exact.items.length, 3);
      assert.equal(exact.next_cursor, null, 'no next page when the page holds exactly the rest');
      assert.deepEqual(assertValidation(await list(apiKey, { limit: 101 })), [['less_than_equal', 'query.limit']]);
      assert.deepEqual(assertValidation(await list(apiKey, { limit: 0 })), [['greater_than_equal', 'query.limit']]);
      assert.deepEqual(assertValidation(await list(apiKey, { limit: 'ten' })), [['int_parsing', 'query.limit']]);
    });

    test('cursor pages have no duplicates and no gaps while invoices are created between fetches', async () => {
      const apiKey = await freshMerchant();
      const created: Invoice[] = [];
      for (let i = 0; i < 23; i++) created.push(await newInvoice(apiKey));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Page = await listPage(apiKey, { limit: 5, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((i) => i.invoice_id));
        cursor = page.next_cursor;
        pages++;
        // Newer invoices arrive while the client pages; they belong before page one, not in the walk.
        await newInvoice(apiKey);
        await newInvoice(apiKey);
      } while (cursor !== null);
      assert.equal(pages, 5);
      assert.equal(new Set(seen).size, seen.length, 'no duplicates');
      assert.deepEqual(seen, created.map((i) => i.invoice_id).reverse(), 'no gaps, newest first');
    });

    test('a malformed cursor → 400 INVALID_CURSOR', async () => {
      const apiKey = await freshMerchant();
      for (const cursor of [
        'garbage',
        '!!!',
        Buffer.from('x12').toString('base64url'),
        Buffer.from('s-1').toString('base64url'),
        Buffer.from('s' + '9'.repeat(30)).toString('base64url'),
      ]) {
        assertEnvelope(await list(apiKey, { cursor }), 400, 'INVALID_CURSOR');
      }
    });

    test('filters: status, external_id, customer_id', async () => {
      const apiKey = await freshMerchant();
      const a1 = await newInvoice(apiKey, { customer_id: 'alice' });
      const b1 = await newInvoice(apiKey, { customer_id: 'bob' });
      const a2 = await newInvoice(apiKey, { customer_id: 'alice' });
      const cancelled = await newInvoice(apiKey, { customer_id: 'bob' });
      assert.equal((await cancel(apiKey, cancelled.invoice_id)).statusCode, 200);
      const ids = (page: Page) => page.items.map((i) => i.invoice_id);

      assert.deepEqual(ids(await listPage(apiKey, { customer_id: 'alice' })), [a2.invoice_id, a1.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { customer_id: 'bob' })), [cancelled.invoice_id, b1.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { customer_id: 'carol' })), []);
      assert.deepEqual(ids(await listPage(apiKey, { external_id: b1.external_id })), [b1.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { external_id: 'nope' })), []);
      assert.deepEqual(ids(await listPage(apiKey, { status: 'cancelled' })), [cancelled.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { status: 'pending' })), [a2.invoice_id, b1.invoice_id, a1.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { status: 'success' })), []);
      assert.deepEqual(ids(await listPage(apiKey, { status: 'pending', customer_id: 'bob' })), [b1.invoice_id]);
      for (const item of (await listPage(apiKey, { status: 'cancelled' })).items) assert.equal(item.status, 'cancelled');
      assert.deepEqual(assertValidation(await list(apiKey, { status: 'paid' })), [['enum', 'query.status']]);
    });

    test('status filter: a pending invoice past expires_at is listed as expired, not pending', async () => {
      const apiKey = await freshMerchant();
      const old = await newInvoice(apiKey);
      t.clock.advance(10 * MINUTE);
      const fresh = await newInvoice(apiKey);
      t.clock.advance(10 * MINUTE); // `old` is at its expires_at now, `fresh` has 10 minutes left
      const expired = await listPage(apiKey, { status: 'expired' });
      assert.deepEqual(
        expired.items.map((i) => [i.invoice_id, i.status]),
        [[old.invoice_id, 'expired']],
      );
      const pending = await listPage(apiKey, { status: 'pending' });
      assert.deepEqual(
        pending.items.map((i) => [i.invoice_id, i.status]),
        [[fresh.invoice_id, 'pending']],
      );
      const all = await listPage(apiKey);
      assert.deepEqual(
        all.items.map((i) => i.status),
        ['pending', 'expired'],
      );
    });

    test('filters: created_from, created_to', async () => {
      const apiKey = await freshMerchant();
      const first = await newInvoice(apiKey);
      t.clock.advance(10 * MINUTE);
      const second = await newInvoice(apiKey);
      t.clock.advance(10 * MINUTE);
      const third = await newInvoice(apiKey);
      const at = (invoice: Invoice, deltaMs: number) => new Date(Date.parse(invoice.created_at) + deltaMs).toISOString();
      const ids = (page: Page) => page.items.map((i) => i.invoice_id);

      assert.deepEqual(ids(await listPage(apiKey, { created_from: at(first, 5 * MINUTE), created_to: at(second, 5 * MINUTE) })), [second.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { created_from: at(first, 5 * MINUTE) })), [third.invoice_id, second.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { created_to: at(second, 5 * MINUTE) })), [second.invoice_id, first.invoice_id]);
      assert.deepEqual(ids(await listPage(apiKey, { created_from: second.created_at })), [third.invoice_id, second.invoice_id], 'created_from is inclusive');
      assert.deepEqual(ids(await listPage(apiKey, { created_from: at(third, MINUTE) })), []);
      // Offsets other than Z are the same instants.
      const plusTwo = new Date(Date.parse(second.created_at) + 2 * 60 * MINUTE).toISOString().replace(/\.\d{3}Z$/, '+02:00');
      assert.deepEqual(ids(await listPage(apiKey, { created_from: plusTwo })), [third.invoice_id, second.invoice_id]);
      assert.deepEqual(assertValidation(await list(apiKey, { created_from: 'yesterday' })), [['datetime_from_date_parsing', 'query.created_from']]);
    });

    test('impossible dates in created_from / created_to → 422, never a 500', async () => {
      const apiKey = await freshMerchant();
      // Shaped like ISO 8601 but not a date (month 13, hour 99), or a year PostgreSQL has not got.
      for (const created_from of ['2026-13-45T99:99:99Z', '2026-02-30T10:00:00Z', '0000-01-01T00:00:00Z']) {
        const res = await list(apiKey, { created_from });
        assert.ok(res.statusCode < 500, `${created_from}: ${res.statusCode} ${res.body}`);
        assertValidation(res);
        assertValidation(await list(apiKey, { created_to: created_from }));
      }
    });

    test('a filter value with a NUL character → 422, never a 500', async () => {
      const apiKey = await freshMerchant();
      assert.deepEqual(assertValidation(await list(apiKey, { external_id: 'a\u0000b' })), [['value_error', 'query.external_id']]);
      assert.deepEqual(assertValidation(await list(apiKey, { customer_id: '\u0000' })), [['value_error', 'query.customer_id']]);
    });

    test('needs the API key', async () => {
      assertEnvelope(await t.inject({ method: 'GET', url: '/api/v1/invoices' }), 401, 'API_KEY_MISSING');
    });
  });

  describe('POST /api/v1/invoices/{invoice_id}/cancel', () => {
    test('cancels a pending invoice; the invoice reads cancelled afterwards', async () => {
      const apiKey = await freshMerchant();
      const invoice = await newInvoice(apiKey);
      const res = await cancel(apiKey, invoice.invoice_id);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { ...invoice, status: 'cancelled', paid_amount: null, status_detail: 'merchant_cancelled' });
      assert.equal((await get(apiKey, invoice.invoice_id)).json().status, 'cancelled');
    });

    test('cancelling again → 409 INVOICE_NOT_PENDING', async () => {
      const apiKey = await freshMerchant();
      const invoice = await newInvoice(apiKey);
      assert.equal((await cancel(apiKey, invoice.invoice_id)).statusCode, 200);
      const again = assertEnvelope(await cancel(apiKey, invoice.invoice_id), 409, 'INVOICE_NOT_PENDING');
      assert.deepEqual(again.error.details, { status: 'cancelled' });
      // A cancelled invoice stays cancelled, even past its expiry.
      t.clock.advance(30 * MINUTE);
      assert.equal((await get(apiKey, invoice.invoice_id)).json().status, 'cancelled');
    });

    test('an expired invoice → 409 INVOICE_NOT_PENDING and stays expired', async () => {
      const apiKey = await freshMerchant();
      const invoice = await newInvoice(apiKey);
      t.clock.advance(20 * MINUTE);
      const res = assertEnvelope(await cancel(apiKey, invoice.invoice_id), 409, 'INVOICE_NOT_PENDING');
      assert.deepEqual(res.error.details, { status: 'expired' });
      assert.equal((await get(apiKey, invoice.invoice_id)).json().status, 'expired');
    });

    test('a missing or malformed id → 404 INVOICE_NOT_FOUND', async () => {
      const apiKey = await freshMerchant();
      assertEnvelope(await cancel(apiKey, randomUUID()), 404, 'INVOICE_NOT_FOUND');
      assertEnvelope(await cancel(apiKey, 'nope'), 404, 'INVOICE_NOT_FOUND');
    });

    test('20 concurrent cancels of one invoice → exactly one 200, 19 × 409', async () => {
      const apiKey = await freshMerchant();
      const invoice = await newInvoice(apiKey);
      const responses = await Promise.all(Array.from({ length: 20 }, () => cancel(apiKey, invoice.invoice_id)));
      const statuses = responses.map((r) => r.statusCode);
      assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
      for (const res of responses.filter((r) => r.statusCode !== 200)) assertEnvelope(res, 409, 'INVOICE_NOT_PENDING');
      const row = await t.database.db.selectFrom('invoices').select(['status', 'cancelled_at']).where('id', '=', invoice.invoice_id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'cancelled');
      assert.notEqual(row.cancelled_at, null);
    });
  });

  test("merchant A cannot read, list or cancel merchant B's invoices", async () => {
    const a = await freshMerchant();
    const b = await freshMerchant();
    const theirs = await newInvoice(b, { customer_id: 'shared-customer' });
    const ours = await newInvoice(a, { customer_id: 'shared-customer', external_id: theirs.external_id });

    assertEnvelope(await get(a, theirs.invoice_id), 404, 'INVOICE_NOT_FOUND');
    assertEnvelope(await cancel(a, theirs.invoice_id), 404, 'INVOICE_NOT_FOUND');
    const listed = (await listPage(a)).items.map((i) => i.invoice_id);
    assert.deepEqual(listed, [ours.invoice_id]);
    const queries: Record<string, string>[] = [{ external_id: theirs.external_id }, { customer_id: 'shared-customer' }, { status: 'pending' }];
    for (const query of queries) {
      assert.deepEqual(
        (await listPage(a, query)).items.map((i) => i.invoice_id),
        [ours.invoice_id],
        JSON.stringify(query),
      );
    }
    // B's cursor does not open B's list to A.
    const more = await newInvoice(b);
    const bPage = await listPage(b, { limit: 1 });
    assert.equal(bPage.items[0]!.invoice_id, more.invoice_id);
    assert.deepEqual(
      (await listPage(a, { cursor: bPage.next_cursor! })).items.map((i) => i.invoice_id),
      [ours.invoice_id],
    );
    // Nothing of B's changed.
    assert.equal((await get(b, theirs.invoice_id)).json().status, 'pending');
  });
});
