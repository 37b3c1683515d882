import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pino from 'pino';
import { createKasa } from '../src/context.ts';
import { startExpiryWorker } from '../src/workers/expiry.ts';
import { ADMIN_TOKEN, ManualClock, startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, ledgerClean } from './helpers/traders.ts';

// The full 100,000 on a PostgreSQL server, where the two workers really run concurrently. The
// embedded PGlite is one session that serializes them, so a fifth of the volume proves the same
// exactly-once property there in a fifth of the time.
const DUE_TOTAL = process.env.DATABASE_URL ? 100_000 : 20_000;
const WITH_DEALS = 30;

describe('expiry worker', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Expiry Shop' });
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());

  const worker = (at: string) => {
    const clock = new ManualClock(at);
    return createKasa({ config: t.kasa.config, db: t.database.db, engine: t.database.engine, clock, adminToken: ADMIN_TOKEN });
  };

  test(`${DUE_TOTAL} due invoices are expired by two concurrent workers, each exactly once`, async () => {
    const tr = await addTrader(t, { deposit: '100000.00', requisites: [{ max_open_deals: WITH_DEALS }] });
    const withDeals: string[] = [];
    for (let i = 0; i < WITH_DEALS; i++) {
      const res = await t.createInvoice(merchant.api_key, { external_id: `with-deal-${i}`, amount: `${100 + i}.00` });
      const id = res.json().invoice_id as string;
      assert.equal((await t.kasa.deals.openForPage(id)).kind, 'deal');
      withDeals.push(id);
    }
    // The rest are written in bulk: the sweep, not the API, is what this test measures.
    await sql`
      INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate, fee_percent,
                            gross_usdt, merchant_usdt, created_at, expires_at)
      SELECT gen_random_uuid(), ${merchant.merchant_id}::uuid, 'bulk-' || g, 'bulk-customer-' || (g % 1000), 1500.00, 'UAH', 41.5, 2.00,
             36144578, 35420000, ${'2026-02-25T12:00:00Z'}::timestamptz, ${'2026-02-25T12:20:00Z'}::timestamptz
        FROM generate_series(1, ${DUE_TOTAL - WITH_DEALS}) AS g`.execute(t.database.db);

    // Not yet due: a worker before expires_at touches nothing.
    assert.equal(await worker('2026-02-25T12:19:59Z').deals.expireDue(), 0);

    const [a, b] = [worker('2026-02-25T12:20:00Z'), worker('2026-02-25T12:20:00Z')];
    const [byA, byB] = await Promise.all([a.deals.expireDue(1000), b.deals.expireDue(1000)]);
    assert.equal(byA + byB, DUE_TOTAL, `worker A ${byA} + worker B ${byB}`);

    const counts = await sql<{ pending: bigint; expired: bigint; events: bigint; distinct_events: bigint; releases: bigint }>`
      SELECT (SELECT count(*) FROM invoices WHERE status = 'pending') AS pending,
             (SELECT count(*) FROM invoices WHERE status = 'expired') AS expired,
             (SELECT count(*) FROM events WHERE type = 'invoice.expired') AS events,
             (SELECT count(DISTINCT invoice_id) FROM events WHERE type = 'invoice.expired') AS distinct_events,
             (SELECT count(*) FROM transfers WHERE kind = 'deal_release') AS releases`.execute(t.database.db);
    const c = counts.rows[0]!;
    assert.equal(c.pending, 0n);
    assert.equal(c.expired, BigInt(DUE_TOTAL));
    assert.equal(c.events, BigInt(DUE_TOTAL));
    assert.equal(c.distinct_events, BigInt(DUE_TOTAL));
    assert.equal(c.releases, BigInt(WITH_DEALS), 'each lock released exactly once');
    const open = await t.database.db.selectFrom('deals').select('id').where('status', 'in', ['awaiting_payment', 'customer_paid']).execute();
    assert.equal(open.length, 0);
    const locked = await t.database.db.selectFrom('accounts').select('balance').where('id', '=', `trader:${tr.trader_id}:locked`).executeTakeFirstOrThrow();
    assert.equal(locked.balance, 0n);
    assert.ok((await ledgerClean(t)).ok);

    const sample = await t.database.db.selectFrom('events').select('payload').where('invoice_id', '=', withDeals[0]!).executeTakeFirstOrThrow();
    assert.equal((sample.payload as { status: string }).status, 'expired');
    // A second sweep finds nothing left to do.
    assert.equal(await a.deals.expireDue(), 0);
  });

  test('the worker loop sweeps on every tick of its timer and stops cleanly', async () => {
    const scheduled: { callback: () => void; ms: number }[] = [];
    const timers = {
      set: (callback: () => void, ms: number) => scheduled.push({ callback, ms }),
      clear: () => {},
    };
    const late = worker('2026-03-01T00:00:00Z');
    const loop = startExpiryWorker(late, pino({ level: 'silent' }), { intervalMs: 1000, timers });
    const tick = async () => {
      const next = scheduled.shift();
      assert.ok(next, 'the loop scheduled its next run');
      assert.equal(next.ms, 1000);
      next.callback();
      await loop.stop(); // waits for the run the tick started
    };
    const id = (await t.createInvoice(merchant.api_key, { external_id: 'loop-1' })).json().invoice_id as string;
    await tick();
    const row = await t.database.db.selectFrom('invoices').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'expired');
    assert.equal(scheduled.length, 0, 'a stopped loop schedules nothing more');
  });
});
