// The lifecycle's one home (src/lifecycle.ts) against the database's copy of it, the requisite
// snapshot an open deal keeps, and transitions retried after their commit's answer was lost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kysely, type DatabaseConnection, type Dialect, type Driver, type QueryCompiler, type TransactionSettings } from 'kysely';
import { sql } from 'kysely';
import pino from 'pino';
import { buildApp, createKasa, type Kasa } from '../src/context.ts';
import type { PreparedQuery } from '../src/db/connect.ts';
import { retrying } from '../src/db/retry.ts';
import type { DB } from '../src/db/schema.ts';
import { DEAL_STATUSES, DEAL_TRANSITIONS, INVOICE_STATUSES, INVOICE_TRANSITIONS } from '../src/lifecycle.ts';
import { ADMIN_TOKEN, startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader, CARDS, trader } from './helpers/traders.ts';

/** What pg answers when the connection drops while a statement's answer is on its way. */
const lostAnswer = () => new Error('Connection terminated unexpectedly');

/**
 * A dialect whose next COMMIT succeeds in the database and then reports the connection lost, as
 * when the network fails between PostgreSQL committing and Kasa reading the answer.
 */
class LosingCommitDialect implements Dialect {
  armed = false;
  constructor(private readonly inner: Dialect) {}
  createAdapter() {
    return this.inner.createAdapter();
  }
  createIntrospector(db: Kysely<unknown>) {
    return this.inner.createIntrospector(db);
  }
  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }
  createDriver(): Driver {
    const driver = this.inner.createDriver();
    return {
      init: () => driver.init(),
      acquireConnection: () => driver.acquireConnection(),
      beginTransaction: (c: DatabaseConnection, s: TransactionSettings) => driver.beginTransaction(c, s),
      commitTransaction: async (connection: DatabaseConnection) => {
        await driver.commitTransaction(connection);
        if (this.armed) {
          this.armed = false;
          throw lostAnswer();
        }
      },
      rollbackTransaction: (c: DatabaseConnection) => driver.rollbackTransaction(c),
      releaseConnection: (c: DatabaseConnection) => driver.releaseConnection(c),
      // The connections belong to the suite's database; the test's Kysely does not close them.
      destroy: async () => {},
    };
  }
}

describe('lifecycle', () => {
  let t: TestKasa;
  let merchant: { merchant_id: string; api_key: string };
  let seq = 0;

  before(async () => {
    t = await startKasa();
    merchant = await t.createMerchant({ name: 'Lifecycle Shop' });
  });
  after(() => t.close());

  async function invoice(body: Record<string, unknown> = {}) {
    seq++;
    const res = await t.createInvoice(merchant.api_key, { external_id: `life-${seq}`, customer_id: `life-c-${seq}`, ...body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { invoice_id: string };
  }

  test('the database holds exactly the transitions and statuses of src/lifecycle.ts', async () => {
    const { rows } = await sql<{ entity: string; from_status: string; to_status: string }>`
      SELECT entity, from_status, to_status FROM lifecycle_transitions ORDER BY 1, 2, 3`.execute(t.database.db);
    const expected = [
      ...Object.entries(INVOICE_TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => ({ entity: 'invoice', from_status: from, to_status: to }))),
      ...Object.entries(DEAL_TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => ({ entity: 'deal', from_status: from, to_status: to }))),
    ].sort((a, b) => `${a.entity} ${a.from_status} ${a.to_status}`.localeCompare(`${b.entity} ${b.from_status} ${b.to_status}`));
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      expected,
    );

    // The status CHECKs allow exactly the lifecycle's statuses.
    for (const [table, statuses] of [
      ['invoices', INVOICE_STATUSES],
      ['deals', DEAL_STATUSES],
    ] as const) {
      const { rows: checks } = await sql<{ def: string }>`
        SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
         WHERE c.conrelid = ${table}::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%status%'`.execute(t.database.db);
      const allowed = [...(checks[0]?.def ?? '').matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]);
      assert.deepEqual(allowed.sort(), [...statuses].sort(), `${table}: ${checks[0]?.def}`);
    }
  });

  test('a status change the lifecycle does not have is refused by the database', async () => {
    const { invoice_id } = await invoice();
    await sql`UPDATE invoices SET status = 'cancelled' WHERE id = ${invoice_id}`.execute(t.database.db);
    // cancelled → success is one of the two documented ways out (a dispute resolved for the merchant).
    for (const back of ['pending', 'expired']) {
      await assert.rejects(sql`UPDATE invoices SET status = ${back} WHERE id = ${invoice_id}`.execute(t.database.db), (error: Error & { code?: string }) => {
        assert.equal(error.code, '23514');
        assert.match(error.message, new RegExp(`invoice cancelled → ${back} is not allowed`));
        return true;
      });
    }
    // success is final: no way out at all.
    await sql`UPDATE invoices SET status = 'success' WHERE id = ${invoice_id}`.execute(t.database.db);
    for (const back of ['pending', 'expired', 'cancelled']) {
      await assert.rejects(sql`UPDATE invoices SET status = ${back} WHERE id = ${invoice_id}`.execute(t.database.db), /is not allowed/);
    }
    // Columns other than status change freely.
    await sql`UPDATE invoices SET purpose = 'kept' WHERE id = ${invoice_id}`.execute(t.database.db);
  });

  test('an open deal keeps the card it was opened with, whatever the trader edits later', async () => {
    const tr = await addTrader(t, { deposit: '1000.00' });
    const { invoice_id } = await invoice();
    const page = await t.inject({ method: 'GET', url: `/pay/${invoice_id}`, headers: { 'accept-language': 'en' } });
    assert.equal(page.statusCode, 200);
    const deal = await t.database.db.selectFrom('deals').selectAll().where('invoice_id', '=', invoice_id).executeTakeFirstOrThrow();
    const opened = { bank_name: deal.bank_name, card_number: deal.card_number, holder_name: deal.holder_name };
    const grouped = opened.card_number.replace(/(\d{4})(?=\d)/g, '$1 ');
    assert.ok(page.body.includes(grouped), 'the page shows the card');

    const newCard = CARDS.find((c) => c !== opened.card_number) as string;
    const patched = await trader(t, tr.api_key, 'PATCH', `/api/v1/trader/requisites/${tr.requisites[0]}`, {
      card_number: newCard,
      bank_name: 'PrivatBank',
      holder_name: 'Olena Kovalenko',
    });
    assert.equal(patched.statusCode, 200, patched.body);

    const again = await t.inject({ method: 'GET', url: `/pay/${invoice_id}`, headers: { 'accept-language': 'en' } });
    assert.ok(again.body.includes(grouped), 'the customer still sees the card they were told to pay to');
    assert.ok(!again.body.includes(newCard.replace(/(\d{4})(?=\d)/g, '$1 ')));
    assert.ok(!again.body.includes('PrivatBank'));
    const stored = await t.database.db
      .selectFrom('deals')
      .select(['bank_name', 'card_number', 'holder_name'])
      .where('id', '=', deal.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual({ ...stored }, opened, "the deal's record is unchanged");
    const mine = (await trader(t, tr.api_key, 'GET', '/api/v1/trader/deals')).json().items.find((d: { deal_id: string }) => d.deal_id === deal.id);
    assert.equal(mine.card_number, opened.card_number, "the trader's view of the deal shows the card it was opened on");

    assert.equal((await trader(t, tr.api_key, 'POST', `/api/v1/trader/deals/${deal.id}/confirm`)).statusCode, 200);
    await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
  });

  describe('a transition retried after its commit succeeded but the answer was lost', () => {
    let losing: LosingCommitDialect;
    let flaky: Kasa;
    let loseNextPrepared = false;

    before(() => {
      losing = new LosingCommitDialect(t.database.dialect);
      // create-invoice's single statement: the first run commits, then its answer is lost once.
      const prepared: PreparedQuery = <R>(name: string, text: string, values: unknown[]) =>
        retrying(async () => {
          const rows = await t.database.prepared<R>(name, text, values);
          if (loseNextPrepared) {
            loseNextPrepared = false;
            throw lostAnswer();
          }
          return rows;
        });
      flaky = createKasa({
        config: t.kasa.config,
        db: new Kysely<DB>({ dialect: losing }),
        engine: t.database.engine,
        clock: t.clock,
        adminToken: ADMIN_TOKEN,
        prepared,
      });
    });

    test('create-invoice answers its own invoice, not DUPLICATE_EXTERNAL_ID', async () => {
      const m = await flaky.merchants.authenticate(merchant.api_key);
      assert.ok(m);
      loseNextPrepared = true;
      const created = await flaky.invoices.create(m, { amount: '1500.00', currency_code: 'UAH', customer_id: 'lost-1', external_id: 'lost-answer-1' });
      assert.equal(loseNextPrepared, false, 'the answer was lost once');
      assert.equal(created.status, 'pending');
      const stored = await t.database.db.selectFrom('invoices').select('id').where('external_id', '=', 'lost-answer-1').execute();
      assert.deepEqual(
        stored.map((r) => r.id),
        [created.invoice_id],
        'one invoice, the one answered',
      );
    });

    test("create-invoice at the customer's last allowed invoice answers it, not CUSTOMER_RATE_LIMITED", async () => {
      await t.admin('PATCH', '/admin/v1/settings', { customer_max_pending: 1 });
      try {
        const m = await flaky.merchants.authenticate(merchant.api_key);
        assert.ok(m);
        loseNextPrepared = true;
        const created = await flaky.invoices.create(m, { amount: '1500.00', currency_code: 'UAH', customer_id: 'lost-2', external_id: 'lost-answer-2' });
        assert.equal(created.external_id, 'lost-answer-2');
      } finally {
        await t.admin('PATCH', '/admin/v1/settings', { customer_max_pending: 5 });
      }
    });

    test('trader confirm answers the completed deal, not DEAL_NOT_ACTIVE; the money moves once', async () => {
      const tr = await addTrader(t, { deposit: '1000.00' });
      const { invoice_id } = await invoice();
      const state = await t.kasa.deals.openForPage(invoice_id);
      assert.equal(state.kind, 'deal');
      const dealId = state.kind === 'deal' ? state.deal.id : '';
      losing.armed = true;
      const completed = await flaky.deals.confirm(dealId, { trader: tr.trader_id });
      assert.equal(losing.armed, false, 'the commit answer was lost once');
      assert.equal(completed.status, 'completed');
      const credits = await t.database.db.selectFrom('transfers').select('kind').where('ref', '=', dealId).where('kind', '=', 'deal_credit').execute();
      assert.equal(credits.length, 1);
      const events = await t.database.db.selectFrom('events').select('type').where('invoice_id', '=', invoice_id).execute();
      assert.deepEqual(
        events.map((e) => e.type),
        ['invoice.success'],
      );
      // A second, separate confirm is still refused.
      await assert.rejects(t.kasa.deals.confirm(dealId, { trader: tr.trader_id }), { code: 'DEAL_NOT_ACTIVE' });
      await t.admin('PATCH', `/admin/v1/traders/${tr.trader_id}`, { status: 'disabled' });
    });

    test('a keyed create-invoice whose commit answer is lost answers its kept answer: one invoice, one answer', async () => {
      const app = await buildApp(flaky, pino({ level: 'silent' }));
      try {
        losing.armed = true;
        const body = { amount: '1500.00', currency_code: 'UAH', customer_id: 'lost-3', external_id: 'lost-answer-3' };
        const headers = { 'x-api-key': merchant.api_key, 'idempotency-key': 'lost-answer-3' };
        const created = await app.inject({ method: 'POST', url: '/api/v1/create-invoice', headers, payload: body });
        assert.equal(losing.armed, false, 'the commit answer was lost once');
        assert.equal(created.statusCode, 200, created.body);
        const stored = await t.database.db.selectFrom('invoices').select('id').where('external_id', '=', 'lost-answer-3').execute();
        assert.deepEqual(
          stored.map((r) => r.id),
          [created.json().invoice_id],
        );
        const kept = await t.database.db.selectFrom('idempotency_keys').select('body').where('key', '=', 'lost-answer-3').executeTakeFirstOrThrow();
        assert.equal(kept.body, created.body, 'the effect and its kept answer committed together');
      } finally {
        await app.close();
      }
    });

    test('merchant cancel answers the cancelled invoice, not INVOICE_NOT_PENDING', async () => {
      const { invoice_id } = await invoice();
      losing.armed = true;
      const cancelled = await flaky.deals.cancelInvoice(merchant.merchant_id, invoice_id);
      assert.equal(losing.armed, false);
      assert.equal(cancelled.status, 'cancelled');
      await assert.rejects(t.kasa.deals.cancelInvoice(merchant.merchant_id, invoice_id), { code: 'INVOICE_NOT_PENDING' });
    });
  });
});
