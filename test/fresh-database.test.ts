// A user's first minutes: a database migrated just now and never analyzed (PGlite never
// analyzes by itself, nor does a PostgreSQL server running with autovacuum off). A connection
// caches each statement's generic plan early, while the tables are nearly empty, and keeps it
// until the statistics change. The hot statements must keep their indexes in those plans.
// The assertions read index entries from the transaction's counters, not time.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../src/db/schema.ts';
import { PAGE_STATE_SQL } from '../src/deals/service.ts';
import { INVOICE_BY_ID_SQL } from '../src/invoices/service.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader } from './helpers/traders.ts';

const MINUTE = 60_000;
/** Invoices of the merchant stored after the plans were made. */
const STORED_INVOICES = 5_000;
/** Index entries one hot statement may read: a handful, where a wrong index reads the merchant's every invoice. */
const INDEX_ENTRIES_MAX = 10;
/** Due invoices and deliveries stored for the sweeps; a sweep's batch is far smaller. */
const DUE_ROWS = 3_000;
const SWEEP_BATCH = 8;

interface Reads {
  /** Index entries returned from every index of the table. */
  index_entries: bigint;
  /** Sequential scans of the table. */
  table_scans: bigint;
}

/**
 * Runs `statement` in a transaction of its own on `conn` and returns what it read of `table`:
 * the difference of the counters around it, because a backend's counters of earlier
 * transactions stay in them until they are flushed to the statistics (PGlite rarely flushes).
 */
async function readsOf(conn: Kysely<DB>, table: 'invoices' | 'deals' | 'deliveries', statement: () => Promise<unknown>): Promise<Reads> {
  const counters = async () =>
    (
      await sql<Reads>`
    SELECT (SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(x.indexrelid)), 0)::bigint
              FROM pg_index x WHERE x.indrelid = ${table}::regclass) AS index_entries,
           pg_stat_get_xact_numscans(${table}::regclass) AS table_scans`.execute(conn)
    ).rows[0]!;
  await sql`BEGIN`.execute(conn);
  try {
    const before = await counters();
    await statement();
    const after = await counters();
    return { index_entries: after.index_entries - before.index_entries, table_scans: after.table_scans - before.table_scans };
  } finally {
    await sql`COMMIT`.execute(conn);
  }
}

function assertBounded(reads: Reads, what: string): void {
  assert.equal(reads.table_scans, 0n, `${what}: no sequential scan`);
  assert.ok(reads.index_entries <= BigInt(INDEX_ENTRIES_MAX), `${what}: read ${reads.index_entries} index entries`);
}

describe('a fresh, never-analyzed database: the hot statements keep their indexes', () => {
  let t: TestKasa;
  let apiKey: string;
  let merchantId: string;
  let invoiceId: string;
  let traderId: string;
  let requisiteId: string;
  before(async () => {
    t = await startKasa();
    ({ merchant_id: merchantId, api_key: apiKey } = await t.createMerchant());
    const trader = await addTrader(t, { deposit: '1000.00' });
    traderId = trader.trader_id;
    requisiteId = trader.requisites[0]!;
    for (let i = 0; i < 3; i++) {
      const res = await t.createInvoice(apiKey, { external_id: `first-${i}`, customer_id: `first-customer-${i}` });
      assert.equal(res.statusCode, 200, res.body);
      invoiceId = res.json().invoice_id;
    }
    // Its deal opens: the page read then joins a deal and its card.
    assert.equal((await t.inject({ method: 'GET', url: `/pay/${invoiceId}` })).statusCode, 200);
  });
  after(() => t.close());

  test('plans made on nearly empty tables still read a handful of index entries with 5,000 invoices stored', async () => {
    const now = t.clock.now();
    const expiresAt = new Date(now.getTime() + 20 * MINUTE);
    const create = (conn: Kysely<DB>, externalId: string, customerId: string) =>
      sql`
      SELECT * FROM kasa_create_invoice(gen_random_uuid(), ${merchantId}::uuid, ${externalId}, ${customerId}, 1500.00, 'UAH',
        41.5, 2.00, 36144578, 35420000, NULL, NULL, NULL, NULL, ${now}::timestamptz, ${expiresAt}::timestamptz, 10, 5)`.execute(conn);

    // kasa_create_invoices (a batch): one element per [external_id, customer_id].
    const createBatch = (conn: Kysely<DB>, elements: [string, string][]) => {
      const n = elements.length;
      const fill = (value: string, type: string) => sql.raw(`array_fill(${value}::${type}, ARRAY[${n}])`);
      return sql`
      SELECT * FROM kasa_create_invoices(ARRAY(SELECT gen_random_uuid() FROM generate_series(1, ${sql.lit(n)})), ${fill(`'${merchantId}'`, 'uuid')},
        ${elements.map(([externalId]) => externalId)}::text[], ${elements.map(([, customerId]) => customerId)}::text[],
        ${fill('1500.00', 'numeric')}, ${fill("'UAH'", 'text')}, ${fill('41.5', 'numeric')}, ${fill('2.00', 'numeric')},
        ${fill('36144578', 'bigint')}, ${fill('35420000', 'bigint')}, ${fill('NULL', 'text')}, ${fill('NULL', 'text')}, ${fill('NULL', 'text')},
        ${fill('NULL', 'text')}, array_fill(${now}::timestamptz, ARRAY[${sql.lit(n)}]), array_fill(${expiresAt}::timestamptz, ARRAY[${sql.lit(n)}]),
        ${fill('10', 'integer')}, ${fill('5', 'integer')}, ${fill("'manual'", 'text')}, ${fill('41.5', 'numeric')}, ${fill('0', 'numeric')},
        ${fill('NULL', 'timestamptz')})`.execute(conn);
    };

    await t.database.db.connection().execute(async (conn) => {
      // Generic plans at once, as a connection has them from its sixth run of a statement.
      await sql`SET plan_cache_mode = force_generic_plan`.execute(conn);
      await sql.raw(`PREPARE kasa_probe_invoice_by_id AS ${INVOICE_BY_ID_SQL}`).execute(conn);
      await sql.raw(`PREPARE kasa_probe_page_state AS ${PAGE_STATE_SQL}`).execute(conn);
      try {
        // The plans are made now, with three invoices and one deal stored.
        await create(conn, 'plan-1', 'plan-customer');
        await create(conn, 'plan-1', 'plan-customer');
        for (const round of [1, 2]) {
          await createBatch(conn, [
            [`plan-batch-${round}`, 'plan-customer-a'],
            ['plan-1', 'plan-customer-b'],
            [`plan-batch-${round}-c`, 'plan-customer-c'],
          ]);
          await createBatch(conn, [
            [`plan-batch-${round}-d1`, 'plan-customer-d'],
            [`plan-batch-${round}-d2`, 'plan-customer-d'],
          ]);
        }
        await sql`EXECUTE kasa_probe_invoice_by_id(${sql.lit(invoiceId)})`.execute(conn);
        await sql`EXECUTE kasa_probe_page_state(${sql.lit(invoiceId)})`.execute(conn);

        // The merchant's history, of other customers; a deal completed for every other invoice.
        await sql`
          INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate, fee_percent,
                                gross_usdt, merchant_usdt, status, created_at, expires_at)
          SELECT gen_random_uuid(), ${merchantId}::uuid, 'stored-' || g, 'stored-customer-' || (g % 1000), 1500.00, 'UAH', 41.5, 2.00,
                 36144578, 35420000, CASE WHEN g % 2 = 0 THEN 'success' ELSE 'pending' END, ${now}::timestamptz, ${expiresAt}::timestamptz
            FROM generate_series(1, ${STORED_INVOICES}) AS g`.execute(conn);
        await sql`
          INSERT INTO deals (id, invoice_id, merchant_id, trader_id, requisite_id, amount, currency, gross_usdt, trader_reward,
                             trader_cost, merchant_usdt, status, opened_at, closed_at, bank_name, card_number, holder_name)
          SELECT gen_random_uuid(), i.id, i.merchant_id, ${traderId}::uuid, ${requisiteId}::uuid, i.amount, i.currency, 36144578, 361445,
                 35783133, 35420000, 'completed', ${now}::timestamptz, ${now}::timestamptz, 'Monobank', '4149499912341235', 'Ivan Petrenko'
            FROM invoices i WHERE i.status = 'success'`.execute(conn);

        assertBounded(await readsOf(conn, 'invoices', () => create(conn, 'after-1', 'new-customer')), 'create-invoice');
        assertBounded(await readsOf(conn, 'invoices', () => create(conn, 'stored-2', 'new-customer')), 'create-invoice, duplicate external_id');
        assertBounded(await readsOf(conn, 'invoices', () => create(conn, 'after-2', 'stored-customer-7')), "create-invoice, a customer's 5 stored invoices");
        // A batch reads a handful per element: its customers' scans, a duplicate's lookup.
        const batchBounded = async (elements: [string, string][], what: string) => {
          const reads = await readsOf(conn, 'invoices', () => createBatch(conn, elements));
          assert.equal(reads.table_scans, 0n, `${what}: no sequential scan`);
          assert.ok(reads.index_entries <= BigInt(INDEX_ENTRIES_MAX * elements.length), `${what}: read ${reads.index_entries} index entries`);
        };
        await batchBounded(
          [
            ['batch-1', 'batch-customer-1'],
            ['batch-2', 'stored-customer-8'],
            ['stored-3', 'batch-customer-3'],
          ],
          'create-invoice batch: a new customer, a stored one, a duplicate external_id',
        );
        await batchBounded(
          [
            ['batch-4', 'stored-customer-9'],
            ['batch-5', 'stored-customer-9'],
          ],
          'create-invoice batch: one stored customer twice',
        );
        const byId = () => sql`EXECUTE kasa_probe_invoice_by_id(${sql.lit(invoiceId)})`.execute(conn);
        assertBounded(await readsOf(conn, 'invoices', byId), 'invoice by id');
        const page = () => sql`EXECUTE kasa_probe_page_state(${sql.lit(invoiceId)})`.execute(conn);
        assertBounded(await readsOf(conn, 'invoices', page), 'payment page: invoices');
        assertBounded(await readsOf(conn, 'deals', page), 'payment page: deals');
      } finally {
        await sql`DEALLOCATE kasa_probe_invoice_by_id`.execute(conn);
        await sql`DEALLOCATE kasa_probe_page_state`.execute(conn);
        await sql`RESET plan_cache_mode`.execute(conn);
      }
    });

    // What the statements answered is still right: the duplicate names the stored invoice.
    const duplicate = await t.createInvoice(apiKey, { external_id: 'stored-2' });
    assert.equal(duplicate.statusCode, 409, duplicate.body);
    const stored = await t.database.db.selectFrom('invoices').select('id').where('external_id', '=', 'stored-2').executeTakeFirstOrThrow();
    assert.equal(duplicate.json().error.details.invoice_id, stored.id);
    const other = await t.createMerchant();
    const foreign = await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}`, headers: { 'x-api-key': other.api_key } });
    assert.equal(foreign.statusCode, 404, "another merchant's invoice reads as missing");
    const own = await t.inject({ method: 'GET', url: `/api/v1/invoices/${invoiceId}`, headers: { 'x-api-key': apiKey } });
    assert.equal(own.statusCode, 200, own.body);
  });

  test('the expiry sweep and the webhook claim read the head of their due indexes, with 3,000 due', async () => {
    const past = new Date(t.clock.now().getTime() - 60 * MINUTE);
    await t.database.db.connection().execute(async (conn) => {
      await sql`
        INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate, fee_percent,
                              gross_usdt, merchant_usdt, status, created_at, expires_at)
        SELECT gen_random_uuid(), ${merchantId}::uuid, 'due-' || g, 'due-customer-' || g, 1500.00, 'UAH', 41.5, 2.00,
               36144578, 35420000, 'pending', ${past}::timestamptz - interval '20 minutes', ${past}::timestamptz + g * interval '1 millisecond'
          FROM generate_series(1, ${DUE_ROWS}) AS g`.execute(conn);
      await sql`
        INSERT INTO events (id, merchant_id, invoice_id, type, payload, created_at)
        SELECT gen_random_uuid(), ${merchantId}::uuid, NULL, 'ping', '{}', ${past}::timestamptz FROM generate_series(1, ${DUE_ROWS})`.execute(conn);
      await sql`
        INSERT INTO deliveries (event_id, merchant_id, target_url, target_host, next_attempt_at, created_at, updated_at)
        SELECT e.id, e.merchant_id, 'https://receiver-' || (row_number() OVER () % 50) || '.test/hook', 'receiver-' || (row_number() OVER () % 50) || '.test',
               e.created_at, e.created_at, e.created_at
          FROM events e WHERE e.type = 'ping'`.execute(conn);

      const sweep = () => sql`SELECT id FROM kasa_due_invoices(${t.clock.now()}::timestamptz, ${SWEEP_BATCH}::integer)`.execute(conn);
      const swept = await readsOf(conn, 'invoices', sweep);
      assert.equal(swept.table_scans, 0n, 'expiry sweep: no sequential scan');
      assert.ok(swept.index_entries <= BigInt(SWEEP_BATCH + INDEX_ENTRIES_MAX), `expiry sweep: read ${swept.index_entries} index entries`);

      const claim = () =>
        sql`
        SELECT event_id FROM kasa_claim_deliveries(${t.clock.now()}::timestamptz, gen_random_uuid(), ${t.clock.now()}::timestamptz + interval '1 minute',
          ARRAY[]::text[], ARRAY[]::integer[], ARRAY[]::text[], 4, ${SWEEP_BATCH}, 100)`.execute(conn);
      const claimed = await readsOf(conn, 'deliveries', claim);
      assert.equal(claimed.table_scans, 0n, 'webhook claim: no sequential scan');
      // The claim ranks at most its scan limit (100) of the oldest due, then locks what it takes.
      assert.ok(claimed.index_entries <= 100n + BigInt(SWEEP_BATCH + INDEX_ENTRIES_MAX), `webhook claim: read ${claimed.index_entries} index entries`);
    });
    // The sweep still expires them all.
    assert.ok((await t.kasa.deals.expireDue()) >= DUE_ROWS);
  });

  test('the hot functions plan without statistics and never JIT-compile', async () => {
    // A disabled plan node costs 10^10: without jit = off such a plan is compiled on every call.
    const { rows } = await sql<{ proname: string; proconfig: string[] | null }>`
      SELECT proname, proconfig FROM pg_proc WHERE proname IN ('kasa_create_invoice', 'kasa_create_invoices', 'kasa_due_invoices', 'kasa_claim_deliveries') ORDER BY proname`.execute(
      t.database.db,
    );
    assert.deepEqual(
      rows.map((r) => r.proname),
      ['kasa_claim_deliveries', 'kasa_create_invoice', 'kasa_create_invoices', 'kasa_due_invoices'],
    );
    for (const row of rows) {
      for (const setting of ['enable_seqscan=off', 'enable_sort=off', 'jit=off']) assert.ok(row.proconfig?.includes(setting), `${row.proname}: ${setting}`);
    }
  });
});
