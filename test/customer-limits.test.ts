import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { anotherInstance, SEED_BODY, startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope } from './helpers/http.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

describe('customer limits, per (merchant, customer_id)', () => {
  let t: TestKasa;
  let apiKey: string;
  let merchantId: string;
  let seq = 0;
  const unique = () => `limits-${++seq}`;

  const create = (customerId: string, key = apiKey) => t.createInvoice(key, { customer_id: customerId, external_id: unique() });

  async function createMany(customerId: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await create(customerId);
      assert.equal(res.statusCode, 200, `invoice ${i + 1} of ${n} for ${customerId}: ${res.body}`);
      ids.push(res.json().invoice_id);
    }
    return ids;
  }

  async function setLimits(perMinute: number, maxPending: number): Promise<void> {
    const res = await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: perMinute, customer_max_pending: maxPending });
    assert.equal(res.statusCode, 200, res.body);
  }

  async function rowsOf(customerId: string, merchant = merchantId): Promise<number> {
    const row = await t.database.db
      .selectFrom('invoices')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('merchant_id', '=', merchant)
      .where('customer_id', '=', customerId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Asserts a 429 CUSTOMER_RATE_LIMITED with this reason and wait, in the body and in Retry-After. */
  function assertLimited(res: LightMyRequestResponse, reason: 'rate' | 'pending', retryAfterSeconds?: number): void {
    const body = assertEnvelope(res, 429, 'CUSTOMER_RATE_LIMITED');
    const details = body.error.details as { reason: string; retry_after_seconds: number };
    assert.deepEqual(Object.keys(details).sort(), ['reason', 'retry_after_seconds']);
    assert.equal(details.reason, reason);
    assert.ok(Number.isInteger(details.retry_after_seconds) && details.retry_after_seconds >= 1, res.body);
    if (retryAfterSeconds !== undefined) assert.equal(details.retry_after_seconds, retryAfterSeconds, res.body);
    assert.equal(res.headers['retry-after'], String(details.retry_after_seconds));
  }

  const cancel = (invoiceId: string) => t.inject({ method: 'POST', url: `/api/v1/invoices/${invoiceId}/cancel`, headers: { 'x-api-key': apiKey } });

  before(async () => {
    t = await startKasa();
    const merchant = await t.createMerchant();
    apiKey = merchant.api_key;
    merchantId = merchant.merchant_id;
  });
  after(() => t.close());

  test('the defaults are 10 invoices per minute and 5 pending', async () => {
    const settings = (await t.admin('GET', '/admin/v1/settings')).json();
    assert.equal(settings.customer_invoices_per_minute, 10);
    assert.equal(settings.customer_max_pending, 5);
  });

  test('per minute: the 11th invoice in 60 s → 429 reason "rate", waiting until the oldest leaves the window', async () => {
    await setLimits(10, 1000);
    const customer = 'rate-window';
    await createMany(customer, 3); // at T
    t.clock.advance(20 * SECOND);
    await createMany(customer, 7); // at T+20 s
    t.clock.advance(5 * SECOND); // T+25 s: the three of T leave the window at T+60 s, in 35 s

    assertLimited(await create(customer), 'rate', 35);
    assert.equal(await rowsOf(customer), 10, 'a refused request creates no row');

    t.clock.advance(34 * SECOND); // T+59 s
    assertLimited(await create(customer), 'rate', 1);

    t.clock.advance(1 * SECOND); // T+60 s: "any 60 s" — the invoices of T are out
    await createMany(customer, 3);
    // The window now starts with the seven of T+20 s, which leave at T+80 s.
    assertLimited(await create(customer), 'rate', 20);
    assert.equal(await rowsOf(customer), 13);

    t.clock.advance(61 * SECOND); // past every invoice of the window
    await createMany(customer, 10);
    assertLimited(await create(customer), 'rate', 60);
  });

  test('advancing the clock by 61 s frees the rate window', async () => {
    await setLimits(10, 1000);
    const customer = 'rate-61';
    await createMany(customer, 10);
    assertLimited(await create(customer), 'rate', 60);
    t.clock.advance(61 * SECOND);
    await createMany(customer, 10);
  });

  test('per minute counts every creation, cancelled ones too', async () => {
    await setLimits(10, 1000);
    const customer = 'rate-cancelled';
    const ids = await createMany(customer, 10);
    for (const id of ids) assert.equal((await cancel(id)).statusCode, 200);
    assertLimited(await create(customer), 'rate', 60);
  });

  test('pending: the 6th pending invoice → 429 reason "pending", waiting until the oldest pending one expires', async () => {
    await setLimits(10, 5);
    const customer = 'pending-wait';
    const [oldest] = await createMany(customer, 1); // at T, expires at T+20 min
    t.clock.advance(30 * SECOND);
    await createMany(customer, 4); // at T+30 s, expire at T+20 min 30 s
    t.clock.advance(10 * SECOND); // T+40 s

    assertLimited(await create(customer), 'pending', 20 * 60 - 40);
    assert.equal(await rowsOf(customer), 5, 'a refused request creates no row');

    // A cancelled invoice is no longer pending.
    assert.equal((await cancel(oldest!)).statusCode, 200);
    await createMany(customer, 1);
    // Now the oldest pending ones are those of T+30 s.
    assertLimited(await create(customer), 'pending', 20 * 60 + 30 - 40);
  });

  test('an invoice past expires_at no longer counts as pending', async () => {
    await setLimits(10, 5);
    const customer = 'pending-expiry';
    await createMany(customer, 5); // at T, expire at T+20 min
    t.clock.advance(20 * MINUTE - SECOND);
    assertLimited(await create(customer), 'pending', 1);
    t.clock.advance(SECOND); // exactly expires_at: they read "expired" now
    await createMany(customer, 5);
    assertLimited(await create(customer), 'pending', 20 * 60);
  });

  test('a limited customer does not affect other customers or other merchants', async () => {
    await setLimits(10, 5);
    const customer = 'pending-neighbours';
    await createMany(customer, 5);
    assertLimited(await create(customer), 'pending');
    await createMany('pending-neighbours-2', 5);
    const other = await t.createMerchant({ name: 'Other' });
    for (let i = 0; i < 5; i++) assert.equal((await create(customer, other.api_key)).statusCode, 200);
    assertLimited(await create(customer, other.api_key), 'pending');
    assert.equal(await rowsOf(customer, other.merchant_id), 5);
    assert.equal(await rowsOf(customer), 5);
  });

  test('a limited customer gets 429 before a duplicate external_id is looked at', async () => {
    await setLimits(10, 5);
    const customer = 'pending-before-duplicate';
    const externalId = 'limits-duplicate-order';
    assert.equal((await t.createInvoice(apiKey, { customer_id: customer, external_id: externalId })).statusCode, 200);
    await createMany(customer, 4);
    // The same external_id again: the limit answers first, as in the documented order of checks.
    assertLimited(await t.createInvoice(apiKey, { customer_id: customer, external_id: externalId }), 'pending');
  });

  test('a changed limit applies at once', async () => {
    await setLimits(2, 1000);
    const customer = 'changed-limit';
    await createMany(customer, 2);
    assertLimited(await create(customer), 'rate', 60);
    await setLimits(3, 1000);
    await createMany(customer, 1);
    assertLimited(await create(customer), 'rate', 60);
  });

  describe('exact under 50 concurrent requests', () => {
    const burst = (customerId: (i: number) => string, n = 50, send = create) => Promise.all(Array.from({ length: n }, (_, i) => send(customerId(i))));

    const tally = (responses: LightMyRequestResponse[]) => {
      const statuses = responses.map((r) => r.statusCode);
      return { ok: statuses.filter((s) => s === 200).length, limited: responses.filter((r) => r.statusCode === 429), statuses: statuses.join(',') };
    };

    test('per minute: exactly 10 of 50 succeed', async () => {
      await setLimits(10, 1000);
      const customer = 'burst-rate';
      const { ok, limited, statuses } = tally(await burst(() => customer));
      assert.equal(ok, 10, statuses);
      assert.equal(limited.length, 40, statuses);
      for (const res of limited) assertLimited(res, 'rate', 60);
      assert.equal(await rowsOf(customer), 10);
    });

    test('pending: with the defaults exactly 5 of 50 succeed', async () => {
      await setLimits(10, 5);
      const customer = 'burst-pending';
      const { ok, limited, statuses } = tally(await burst(() => customer));
      assert.equal(ok, 5, statuses);
      assert.equal(limited.length, 45, statuses);
      for (const res of limited) assertLimited(res, 'pending', 20 * 60);
      assert.equal(await rowsOf(customer), 5);
    });

    test('50 requests over 5 customers: exactly 5 each', async () => {
      await setLimits(10, 5);
      const customers = Array.from({ length: 5 }, (_, i) => `burst-many-${i}`);
      const { ok, statuses } = tally(await burst((i) => customers[i % 5]!));
      assert.equal(ok, 25, statuses);
      for (const customer of customers) assert.equal(await rowsOf(customer), 5, customer);
    });

    test('two instances on one database: still exactly 5 of 50', async () => {
      await setLimits(10, 5);
      const second = await anotherInstance(t);
      try {
        const customer = 'burst-two-instances';
        const responses = await Promise.all(
          Array.from({ length: 50 }, (_, i) => {
            const payload = { ...SEED_BODY, customer_id: customer, external_id: unique() };
            const request = { method: 'POST' as const, url: '/api/v1/create-invoice', headers: { 'x-api-key': apiKey }, payload };
            return i % 2 === 0 ? t.inject(request) : second.inject(request);
          }),
        );
        const { ok, limited, statuses } = tally(responses);
        assert.equal(ok, 5, statuses);
        assert.equal(limited.length, 45, statuses);
        assert.equal(await rowsOf(customer), 5);
      } finally {
        await second.close();
      }
    });
  });

  // The customer limits read the customer's own recent invoices only. A pending count filtered
  // on (status, expires_at) let the planner walk invoices_pending_expiry instead, i.e. every
  // pending invoice of every customer on each create, once the statistics said few were pending.
  // The counters below are the transaction's own, so the assertion reads rows, not time.
  test("creating an invoice reads none of the other customers' pending invoices", async () => {
    const db = t.database.db;
    const now = t.clock.now();
    const insertInvoices = (prefix: string, n: number, status: string, expiresAt: Date) =>
      sql`
      INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate, fee_percent,
                            gross_usdt, merchant_usdt, status, created_at, expires_at)
      SELECT gen_random_uuid(), ${merchantId}::uuid, ${prefix} || g, ${prefix} || 'customer-' || (g % 3000), 1500.00, 'UAH', 41.5, 2.00,
             36144578, 35420000, ${status}, ${new Date(expiresAt.getTime() - 20 * MINUTE)}::timestamptz, ${expiresAt}::timestamptz
        FROM generate_series(1, ${n}) AS g`.execute(db);
    // Statistics taken while almost nothing was pending, then a busy hour's pending invoices.
    await insertInvoices('history-', 20_000, 'expired', new Date(now.getTime() - 2 * 24 * 60 * MINUTE));
    await sql`ANALYZE invoices`.execute(db);
    await insertInvoices('open-', 5_000, 'pending', new Date(now.getTime() + 10 * MINUTE));

    const res = await t.createInvoice(apiKey, { customer_id: 'returning-customer', external_id: 'after-history' });
    assert.equal(res.statusCode, 200, res.body);

    // The same statement the endpoint runs, in a transaction of its own to read its counters.
    const counters = await db.transaction().execute(async (trx) => {
      await sql`SELECT * FROM kasa_create_invoice(gen_random_uuid(), ${merchantId}::uuid, 'probe', 'probe-customer', 1500.00, 'UAH',
        41.5, 2.00, 36144578, 35420000, NULL, NULL, NULL, NULL, ${now}::timestamptz, ${new Date(now.getTime() + 20 * MINUTE)}::timestamptz, 10, 5)`.execute(
        trx,
      );
      const { rows } = await sql<{ pending_index: bigint; customer_index: bigint; table_scans: bigint }>`
        SELECT pg_stat_get_xact_tuples_returned('invoices_pending_expiry'::regclass) AS pending_index,
               pg_stat_get_xact_numscans('invoices_merchant_customer'::regclass) AS customer_index,
               pg_stat_get_xact_numscans('invoices'::regclass) AS table_scans`.execute(trx);
      return rows[0]!;
    });
    assert.equal(counters.pending_index, 0n, 'no pending invoice of another customer was read');
    assert.ok(counters.customer_index >= 1n, "the customer's own index was used");
    assert.equal(counters.table_scans, 0n, 'no sequential scan of invoices');
  });
});

describe('what an invoice refers to stays', () => {
  let t: TestKasa;
  let merchantId: string;
  before(async () => {
    t = await startKasa();
    const merchant = await t.createMerchant();
    merchantId = merchant.merchant_id;
    assert.equal((await t.createInvoice(merchant.api_key, { external_id: 'kept-1' })).statusCode, 200);
  });
  after(() => t.close());

  const createFor = (merchant: string, currency: string) =>
    sql`
    SELECT * FROM kasa_create_invoice(gen_random_uuid(), ${merchant}::uuid, 'ref-check', 'ref-customer', 1500.00, ${currency},
      41.5, 2.00, 36144578, 35420000, NULL, NULL, NULL, NULL, now(), now() + interval '20 minutes', 10, 5)`.execute(t.database.db);

  test('an invoice for an unknown merchant or currency is refused as a foreign-key violation', async () => {
    for (const [merchant, currency] of [
      ['00000000-0000-4000-8000-000000000000', 'UAH'],
      [merchantId, 'XYZ'],
    ] as const) {
      await assert.rejects(createFor(merchant, currency), { code: '23503' }, `${merchant} ${currency}`);
    }
    const { rows } = await sql<{ n: bigint }>`SELECT count(*) AS n FROM invoices WHERE external_id = 'ref-check'`.execute(t.database.db);
    assert.equal(rows[0]?.n, 0n);
  });

  test('merchants and currencies cannot be deleted, truncated or renamed', async () => {
    const db = t.database.db;
    const attempts: [string, () => Promise<unknown>][] = [
      ['delete a merchant', () => sql`DELETE FROM merchants WHERE id = ${merchantId}::uuid`.execute(db)],
      ['rename a merchant id', () => sql`UPDATE merchants SET id = gen_random_uuid() WHERE id = ${merchantId}::uuid`.execute(db)],
      ['truncate merchants', () => sql`TRUNCATE merchants CASCADE`.execute(db)],
      ['delete a currency', () => sql`DELETE FROM currencies WHERE code = 'UAH'`.execute(db)],
      ['rename a currency', () => sql`UPDATE currencies SET code = 'UAX' WHERE code = 'UAH'`.execute(db)],
    ];
    for (const [what, run] of attempts) await assert.rejects(run(), { code: '23001' }, what);
    // Everything else about them still changes as before.
    await sql`UPDATE merchants SET name = 'Renamed Shop' WHERE id = ${merchantId}::uuid`.execute(db);
    await sql`UPDATE currencies SET rate = 42.00 WHERE code = 'UAH'`.execute(db);
    const { rows } = await sql<{
      n: bigint;
    }>`SELECT count(*) AS n FROM invoices i JOIN merchants m ON m.id = i.merchant_id JOIN currencies c ON c.code = i.currency`.execute(db);
    assert.equal(rows[0]?.n, 1n);
  });
});
