// create-invoice in batches (group commit): requests sent at once over real sockets share one
// statement and one commit, and each still gets exactly its own answer — the duplicate check,
// the customer's limits, two instances on one database, and a batch whose connection is killed
// mid-flight (PostgreSQL) all stay exact. Every 200 is an invoice in the database.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { createPostgresDatabase } from './helpers/database.ts';
import { HttpClient, type Answer } from './helpers/http-client.ts';
import { anotherInstance, PUBLIC_URL, SEED_BODY, startKasa, type TestKasa } from './helpers/kasa.ts';
import { KasaProcess, restartablePort } from './helpers/kasa-process.ts';

const PARALLEL = 50;
/** How often, and how many times, the backends of waiting batches are terminated. */
const KILL_INTERVAL_MS = 40;
const KILL_ROUNDS = 12;
const SERVER_URL = process.env.DATABASE_URL;

type Json = any;
type Answered = Answer & { kind: 'answer' };

function answered(answer: Answer, what: string): Answered {
  assert.equal(answer.kind, 'answer', `${what}: ${answer.kind === 'answer' ? '' : answer.error}`);
  return answer as Answered;
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/** The batch-size histogram's count and sum, as /metrics reports them. */
function batchSizesIn(text: string): { count: number; sum: number } {
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { count: value('kasa_create_invoice_batch_size_count'), sum: value('kasa_create_invoice_batch_size_sum') };
}

async function batchSizes(http: HttpClient, base: string): Promise<{ count: number; sum: number }> {
  return batchSizesIn(answered(await http.send('GET', `${base}/metrics`), 'metrics').text);
}

interface Reply {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  json: Json;
}

/**
 * Requests sent at once through the app's HTTP layer in this process: on PGlite, a client on
 * real sockets in the same process could not write its next request while the embedded
 * database computes, so its requests would never meet in a batch. PostgreSQL's races go over
 * real sockets below.
 */
async function injected(app: FastifyInstance, method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: object): Promise<Reply> {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  return {
    status: res.statusCode,
    headers: res.headers,
    text: res.body,
    json: res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : null,
  };
}

describe('create-invoice in batches', () => {
  let t: TestKasa;
  let apiKey: string;
  let merchantId: string;
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}`;

  const create = (body: Record<string, unknown>, app = t.app) =>
    injected(app, 'POST', '/api/v1/create-invoice', { 'x-api-key': apiKey }, { ...SEED_BODY, ...body });
  const metricsOf = async (app = t.app) => batchSizesIn((await injected(app, 'GET', '/metrics', {})).text);

  async function stored(invoiceIds: string[]): Promise<number> {
    if (invoiceIds.length === 0) return 0;
    const rows = await t.database.db.selectFrom('invoices').select('id').where('id', 'in', invoiceIds).execute();
    return rows.length;
  }

  async function rowsOf(customerId: string): Promise<number> {
    const row = await t.database.db
      .selectFrom('invoices')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('merchant_id', '=', merchantId)
      .where('customer_id', '=', customerId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  before(async () => {
    t = await startKasa();
    const merchant = await t.createMerchant();
    apiKey = merchant.api_key;
    merchantId = merchant.merchant_id;
  });

  after(async () => {
    await t.close();
  });

  test(`${PARALLEL} parallel requests with one external_id: one 200, ${PARALLEL - 1} × 409 naming its id, one invoice; batches on /metrics`, async () => {
    const before = await metricsOf();
    const externalId = unique('same');
    const answers = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => create({ external_id: externalId, customer_id: `same-${i}` })));
    const created = answers.filter((a) => a.status === 200);
    const duplicates = answers.filter((a) => a.status === 409);
    assert.equal(created.length, 1, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
    assert.equal(duplicates.length, PARALLEL - 1, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
    const invoiceId: string = created[0]!.json.invoice_id;
    for (const duplicate of duplicates) {
      assert.equal(duplicate.json.successful, false);
      assert.equal(duplicate.json.error.code, 'DUPLICATE_EXTERNAL_ID');
      assert.equal(duplicate.json.error.details.invoice_id, invoiceId);
    }
    const rows = await t.database.db.selectFrom('invoices').select('id').where('merchant_id', '=', merchantId).where('external_id', '=', externalId).execute();
    assert.deepEqual(
      rows.map((r) => r.id),
      [invoiceId],
    );

    // Every request went through a batch, and sent at once they shared some.
    const after = await metricsOf();
    assert.equal(after.sum - before.sum, PARALLEL);
    assert.ok(after.count - before.count < PARALLEL, `${after.count - before.count} batches for ${PARALLEL} requests sent at once`);
    assert.ok(after.count - before.count >= 1);
  });

  test(`customer limits stay exact: ${PARALLEL} parallel requests of one customer among other customers' load`, async () => {
    const perMinute = 7;
    const maxPending = 12;
    const settings = await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: perMinute, customer_max_pending: maxPending });
    assert.equal(settings.statusCode, 200, settings.body);

    // A minute apart, so the second round meets the pending limit (12), not the per-minute one.
    for (const [round, limit, reason] of [
      [1, perMinute, 'rate'],
      [2, maxPending - perMinute, 'pending'],
    ] as const) {
      const hot = Array.from({ length: PARALLEL }, () => create({ customer_id: 'hot', external_id: unique('hot') }));
      const others = Array.from({ length: PARALLEL * 2 }, (_, i) => create({ customer_id: `cool-${round}-${i}`, external_id: unique('cool') }));
      const [hotAnswers, otherAnswers] = await Promise.all([Promise.all(hot), Promise.all(others)]);

      const hotCreated = hotAnswers.filter((a) => a.status === 200);
      const refused = hotAnswers.filter((a) => a.status === 429);
      assert.equal(hotCreated.length, limit, hotAnswers.map((a) => `${a.status} ${a.text}`).join('\n'));
      assert.equal(refused.length, PARALLEL - limit);
      for (const answer of refused) {
        assert.equal(answer.json.error.code, 'CUSTOMER_RATE_LIMITED');
        assert.equal(answer.json.error.details.reason, reason);
        assert.ok(Number.isInteger(answer.json.error.details.retry_after_seconds) && answer.json.error.details.retry_after_seconds >= 1);
        assert.equal(answer.headers['retry-after'], String(answer.json.error.details.retry_after_seconds));
      }
      assert.ok(
        otherAnswers.every((a) => a.status === 200),
        otherAnswers
          .filter((a) => a.status !== 200)
          .map((a) => a.text)
          .join('\n'),
      );
      assert.equal(await stored([...hotCreated, ...otherAnswers].map((a) => a.json.invoice_id)), hotCreated.length + otherAnswers.length);
      t.clock.advance(61_000);
    }
    assert.equal(await rowsOf('hot'), maxPending);
  });

  test('two instances on one database, each batching its own requests: one invoice per external_id, limits exact', async () => {
    const perMinute = 9;
    const settings = await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: perMinute, customer_max_pending: 1_000 });
    assert.equal(settings.statusCode, 200, settings.body);
    t.clock.advance(61_000);
    const other = await anotherInstance(t);
    try {
      const targets = [t.app, other];
      const externalId = unique('both');
      const customer = unique('both-customer');
      const [same, hot] = await Promise.all([
        Promise.all(Array.from({ length: PARALLEL }, (_, i) => create({ external_id: externalId, customer_id: `both-${i}` }, targets[i % 2]))),
        Promise.all(Array.from({ length: PARALLEL }, (_, i) => create({ external_id: unique('both-hot'), customer_id: customer }, targets[i % 2]))),
      ]);
      const created = same.filter((a) => a.status === 200);
      assert.equal(created.length, 1, same.map((a) => `${a.status} ${a.text}`).join('\n'));
      const invoiceId: string = created[0]!.json.invoice_id;
      assert.ok(same.filter((a) => a.status === 409).every((a) => a.json.error.details.invoice_id === invoiceId));
      assert.equal(same.filter((a) => a.status === 409).length, PARALLEL - 1);

      assert.equal(hot.filter((a) => a.status === 200).length, perMinute, hot.map((a) => `${a.status} ${a.text}`).join('\n'));
      assert.equal(hot.filter((a) => a.status === 429).length, PARALLEL - perMinute);
      assert.equal(await rowsOf(customer), perMinute);
      // Both instances took part.
      assert.ok((await metricsOf(other)).sum > 0);
    } finally {
      await other.close();
    }
  });
});

describe(
  'create-invoice in batches on PostgreSQL: a killed connection, two processes',
  { skip: SERVER_URL ? false : 'needs DATABASE_URL (a PostgreSQL server)' },
  () => {
    const http = new HttpClient(PARALLEL * 4);
    let seq = 0;
    const unique = (prefix: string) => `${prefix}-${++seq}`;

    after(async () => {
      await http.close();
    });

    test('a batch whose connection is terminated mid-flight: each request gets its own answer or a retryable 503; every 200 is stored', async (ctx) => {
      const t = await startKasa();
      try {
        const base = await listen(t.app);
        const merchant = await t.createMerchant();
        // A repeat of a request whose first attempt committed meets the customer's limits before
        // the duplicate check (the documented order): limits out of the way, it answers 409.
        const settings = await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 1_000, customer_max_pending: 1_000 });
        assert.equal(settings.statusCode, 200, settings.body);
        const bodies = Array.from({ length: PARALLEL }, (_, i) => ({
          ...SEED_BODY,
          external_id: unique('killed'),
          customer_id: i % 5 === 0 ? 'held' : `free-${i}`,
        }));
        const send = (body: Record<string, unknown>) =>
          http.send('POST', `${base}/api/v1/create-invoice`, { headers: { 'x-api-key': merchant.api_key }, json: body, timeoutMs: 30_000 });
        const { answers, killed } = await t.database.db.connection().execute(async (connection) => {
          // The customer lock kasa_create_invoice takes, held here: each batch carrying that
          // customer waits on it, in flight, until its connection is terminated.
          const lockKey = `${merchant.merchant_id}/held`;
          await sql`SELECT pg_advisory_lock(hashtextextended(${lockKey}, 0))`.execute(connection);
          const sends = bodies.map(send);
          // Every backend waiting in kasa_create_invoices is terminated, again and again for a
          // while: some batches get through on a retry, others run out of retries.
          let terminated = 0;
          for (let round = 0; round < KILL_ROUNDS; round++) {
            await new Promise((resolve) => setTimeout(resolve, KILL_INTERVAL_MS));
            const waiting = await sql<{ pid: number }>`
            SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND query LIKE '%kasa_create_invoices(%' AND wait_event_type = 'Lock'`.execute(connection);
            for (const { pid } of waiting.rows) {
              await sql`SELECT pg_terminate_backend(${pid})`.execute(connection);
              terminated++;
            }
          }
          await sql`SELECT pg_advisory_unlock(hashtextextended(${lockKey}, 0))`.execute(connection);
          return { answers: (await Promise.all(sends)).map((a) => answered(a, 'create-invoice')), killed: terminated };
        });
        assert.ok(killed >= 1, 'no batch was caught in flight');

        const ok = answers.filter((a) => a.status === 200);
        const unavailable = answers.filter((a) => a.status === 503);
        ctx.diagnostic(`${killed} backends terminated; ${ok.length} answered 200, ${unavailable.length} 503`);
        assert.equal(ok.length + unavailable.length, PARALLEL, answers.map((a) => `${a.status} ${a.text}`).join('\n'));
        for (const answer of unavailable) {
          assert.equal(answer.json.successful, false);
          assert.equal(answer.json.error.code, 'DATABASE_UNAVAILABLE');
          assert.equal(answer.json.error.details.retryable, true);
          assert.equal(answer.headers['retry-after'], '1');
        }
        // Each 200 is its own request's invoice, and it is stored.
        answers.forEach((answer, i) => {
          if (answer.status === 200) assert.equal(answer.json.external_id, bodies[i]!.external_id);
        });
        const ids = ok.map((a) => a.json.invoice_id as string);
        assert.equal(new Set(ids).size, ids.length);
        const rows = ids.length ? await t.database.db.selectFrom('invoices').select(['id', 'external_id']).where('id', 'in', ids).execute() : [];
        const byId = new Map(rows.map((r) => [r.id, r.external_id]));
        for (const answer of ok) assert.equal(byId.get(answer.json.invoice_id), answer.json.external_id);

        // A 503 is safe to repeat: the same request then answers 200, or 409 naming the invoice
        // its first attempt made. Either way each request ends with exactly one invoice.
        const repeats = await Promise.all(answers.map(async (answer, i) => (answer.status === 503 ? answered(await send(bodies[i]!), 'repeat') : answer)));
        for (const repeat of repeats) assert.ok(repeat.status === 200 || repeat.json.error.code === 'DUPLICATE_EXTERNAL_ID', repeat.text);
        const all = await t.database.db.selectFrom('invoices').select('external_id').where('merchant_id', '=', merchant.merchant_id).execute();
        assert.deepEqual(all.map((r) => r.external_id).sort(), bodies.map((b) => b.external_id).sort());
      } finally {
        await t.close();
      }
    });

    test('two kasa serve processes on one database, requests alternating: one invoice per external_id, customer limits exact', async () => {
      const created = await createPostgresDatabase(SERVER_URL!);
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kasa-batching-'));
      const adminToken = 'batching-test-admin-token-01234';
      const ports = [await restartablePort(), await restartablePort()];
      const instances = ports.map((port) => KasaProcess.spawn({ databaseUrl: created.url, port, adminToken, dataDir, env: { PUBLIC_URL, LOG_LEVEL: 'warn' } }));
      try {
        await Promise.all(instances.map((k) => k.ready()));
        const [a, b] = instances as [KasaProcess, KasaProcess];
        const admin = async (target: KasaProcess, method: string, url: string, json: unknown) =>
          answered(await http.send(method, `${target.url}${url}`, { headers: { authorization: `Bearer ${adminToken}` }, json }), url);
        assert.equal((await admin(a, 'PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.50' })).status, 200);
        const perMinute = 6;
        assert.equal((await admin(b, 'PATCH', '/admin/v1/settings', { customer_invoices_per_minute: perMinute, customer_max_pending: 1_000 })).status, 200);
        const m = await admin(a, 'POST', '/admin/v1/merchants', { name: 'Batching Shop' });
        assert.equal(m.status, 201, m.text);
        const apiKey: string = m.json.api_key;
        // Each process caches currencies and settings for at most a second.
        await new Promise((resolve) => setTimeout(resolve, 1_100));

        const send = async (target: KasaProcess, body: Record<string, unknown>) =>
          answered(
            await http.send('POST', `${target.url}/api/v1/create-invoice`, {
              headers: { 'x-api-key': apiKey },
              json: { ...SEED_BODY, ...body },
              timeoutMs: 30_000,
            }),
            'create-invoice',
          );
        const externalId = unique('procs');
        const [same, hot, others] = await Promise.all([
          Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(instances[i % 2]!, { external_id: externalId, customer_id: `p-${i}` }))),
          Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(instances[i % 2]!, { external_id: unique('procs-hot'), customer_id: 'hot' }))),
          Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(instances[i % 2]!, { external_id: unique('procs-cool'), customer_id: `cool-${i}` }))),
        ]);
        const one = same.filter((x) => x.status === 200);
        assert.equal(one.length, 1, same.map((x) => `${x.status} ${x.text}`).join('\n'));
        const duplicates = same.filter((x) => x.status === 409);
        assert.equal(duplicates.length, PARALLEL - 1);
        for (const d of duplicates) assert.equal(d.json.error.details.invoice_id, one[0]!.json.invoice_id);
        assert.equal(hot.filter((x) => x.status === 200).length, perMinute, hot.map((x) => `${x.status} ${x.text}`).join('\n'));
        assert.equal(hot.filter((x) => x.status === 429).length, PARALLEL - perMinute);
        assert.ok(others.every((x) => x.status === 200));

        const check = new pg.Client({ connectionString: created.url });
        await check.connect();
        try {
          const counted = await check.query<{ hot: string; same: string; total: string }>(
            `SELECT count(*) FILTER (WHERE customer_id = 'hot') AS hot, count(*) FILTER (WHERE external_id = $1) AS same, count(*) AS total FROM invoices`,
            [externalId],
          );
          assert.deepEqual(counted.rows[0], { hot: String(perMinute), same: '1', total: String(1 + perMinute + PARALLEL) });
        } finally {
          await check.end();
        }
        for (const target of [a, b]) assert.ok((await batchSizes(http, target.url)).sum > 0, `${target.url} created no invoice`);
      } finally {
        await Promise.all(instances.map((k) => k.stop()));
        await created.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  },
);
