// Webhook delivery by real `kasa serve --role worker` processes on the PostgreSQL server: a worker
// killed mid-batch loses no event, and two workers share 10,000 deliveries with no event sent by
// both at once. (The embedded PGlite database can be opened by one process only: skipped without
// DATABASE_URL.)
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { connect, type Database } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { Merchants } from '../src/merchants/service.ts';
import { PER_TARGET_IN_FLIGHT_MAX } from '../src/webhooks/delivery.ts';
import { childEnv, KASA_BIN, REPO_ROOT } from './helpers/cli.ts';
import { createPostgresDatabase } from './helpers/database.ts';
import { Receiver, waitUntil, type Received } from './helpers/receiver.ts';

const SERVER_URL = process.env.DATABASE_URL;
const SKIP = SERVER_URL ? false : 'needs DATABASE_URL (a PostgreSQL server): the embedded PGlite database can be opened by one process only';

describe('webhook delivery by worker processes', { skip: SKIP }, () => {
  let database: Database;
  let dropDatabase: () => Promise<void> = async () => {};
  let url: string;
  let dataDir: string;
  const children: ChildProcess[] = [];
  const receivers: Receiver[] = [];

  before(async () => {
    const created = await createPostgresDatabase(SERVER_URL!);
    url = created.url;
    dropDatabase = created.drop;
    database = await connect({ databaseUrl: url, dataDir: null });
    await migrate(database.db);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'kasa-webhooks-'));
  });

  after(async () => {
    // Whatever happened, no worker outlives the test.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((resolve) => c.once('exit', resolve)) : null)));
    await Promise.all(receivers.map((r) => r.close()));
    await database?.close();
    await dropDatabase();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  function startWorker(): ChildProcess {
    const child = spawn(process.execPath, [KASA_BIN, 'serve', '--role', 'worker'], {
      cwd: REPO_ROOT,
      env: childEnv({ DATABASE_URL: url, WEBHOOK_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'silent', ADMIN_TOKEN: 'process-test-admin-token', DATA_DIR: dataDir }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) process.stderr.write(`worker exited with ${code ?? signal}: ${stderr}\n`);
    });
    children.push(child);
    return child;
  }

  async function receiver(hosts: string | string[] = '127.0.0.1'): Promise<Receiver> {
    const r = await Receiver.start(hosts);
    receivers.push(r);
    return r;
  }

  async function merchant(webhookUrl: string): Promise<{ id: string; secret: string }> {
    const created = await new Merchants(database.db).create({ name: 'Process Shop', webhook_url: webhookUrl });
    return { id: created.merchant.id, secret: created.merchant.webhookSecret };
  }

  /** n events with their pending deliveries, in one statement; event g goes to targets[g % targets.length]. */
  async function bulkEvents(merchantId: string, targets: string[], n: number): Promise<string[]> {
    const hosts = targets.map((t) => new URL(t).hostname);
    const { rows } = await sql<{ id: string }>`
      WITH new_events AS (
        INSERT INTO events (id, merchant_id, invoice_id, type, payload, created_at)
        SELECT gen_random_uuid(), ${merchantId}::uuid, NULL, 'invoice.success',
               json_build_object('invoice_id', 'bulk-' || g, 'status', 'success', 'amount', '1500.00', 'n', g), now()
          FROM generate_series(1, ${n}::integer) AS g
        RETURNING id, merchant_id, created_at, (payload ->> 'n')::integer AS g
      )
      INSERT INTO deliveries (event_id, merchant_id, invoice_id, target_url, target_host, next_attempt_at, created_at, updated_at)
      SELECT id, merchant_id, NULL, (${targets}::text[])[1 + g % ${targets.length}::integer],
             (${hosts}::text[])[1 + g % ${targets.length}::integer], created_at, created_at, created_at
        FROM new_events
      RETURNING event_id AS id`.execute(database.db);
    return rows.map((r) => r.id);
  }

  async function countByStatus(merchantId: string): Promise<Record<string, number>> {
    const { rows } = await sql<{ status: string; n: string }>`
      SELECT status, count(*) AS n FROM deliveries WHERE merchant_id = ${merchantId}::uuid GROUP BY status`.execute(database.db);
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  function verified(secret: string, r: Received): boolean {
    try {
      const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)]));
      new Webhook(secret).verify(r.body, headers);
      return true;
    } catch {
      return false;
    }
  }

  test('a worker killed mid-batch loses no event: after a restart every event reaches the receiver', async () => {
    const rx = await receiver();
    const shop = await merchant(rx.url);
    const events = await bulkEvents(shop.id, [rx.url], 200);
    // The first 40 are answered, then the receiver holds every request open: the worker is
    // killed with requests in flight and more claimed work behind them.
    rx.reply = (_r, n) => (n < 40 ? { status: 200 } : 'hold');

    const first = startWorker();
    await waitUntil(() => rx.heldCount >= 1 && rx.received.length >= 40 + PER_TARGET_IN_FLIGHT_MAX, 'requests in flight');
    const inFlight = rx.received.slice(40).map((r) => String(r.headers['webhook-id']));
    first.kill('SIGKILL');
    await new Promise((resolve) => (first.exitCode === null && first.signalCode === null ? first.once('exit', resolve) : resolve(null)));

    const leased = await sql<{ n: string }>`SELECT count(*) AS n FROM deliveries WHERE lease_until > now()`.execute(database.db);
    assert.ok(Number(leased.rows[0]!.n) >= 1, 'the killed worker left leased deliveries behind');
    const counts = await countByStatus(shop.id);
    assert.ok((counts.pending ?? 0) > 0, 'work was left');
    // A dead worker's lease lapses LEASE_MS (60 s) after its claim; rather than wait a minute,
    // make it lapse now, as time would.
    await sql`UPDATE deliveries SET lease_until = now() WHERE lease_until IS NOT NULL`.execute(database.db);

    rx.reply = () => ({ status: 200 });
    rx.release(503); // the killed worker's connections are gone; nothing to answer
    startWorker();
    await waitUntil(async () => (await countByStatus(shop.id)).delivered === events.length, 'every delivery to be delivered');

    const ids = new Set(rx.received.filter((r) => verified(shop.secret, r)).map((r) => String(r.headers['webhook-id'])));
    const missing = events.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], 'every event reached the receiver with a valid signature');
    for (const id of inFlight) assert.ok(rx.forId(id).length >= 2, `${id}, in flight at the kill, was sent again`);
  });

  test('10,000 events, two worker processes: all delivered, none sent by both at once, no duplicates', async () => {
    // One receiver on eight loopback addresses: eight targets, as for several merchants (a worker
    // sends at most PER_TARGET_IN_FLIGHT_MAX at once to one target).
    const rx = await receiver([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `127.0.0.${n}`));
    // Held until more than PER_TARGET_IN_FLIGHT_MAX requests are open to one target at once, which
    // only two workers sending together can do: proof that both share the work.
    let shared = false;
    rx.reply = () => (shared ? { status: 200, delayMs: 2 } : 'hold');
    const shop = await merchant(rx.url);
    const events = await bulkEvents(shop.id, rx.urls, 10_000);

    const started = Date.now();
    startWorker();
    startWorker();
    await waitUntil(() => rx.maxOpenPerHost > PER_TARGET_IN_FLIGHT_MAX, 'both workers sending to one target at once');
    shared = true;
    rx.release(200);
    await waitUntil(async () => (await countByStatus(shop.id)).delivered === events.length, '10,000 deliveries');
    process.stderr.write(`10,000 webhooks delivered by two worker processes in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    const received = new Set(rx.received.map((r) => String(r.headers['webhook-id'])));
    assert.equal(received.size, events.length);
    assert.ok(events.every((id) => received.has(id)));
    assert.deepEqual(rx.overlaps, [], 'no event was being delivered by both workers at once');
    assert.deepEqual(rx.afterCompletion, [], 'no event came again after its delivery completed');
    assert.equal(rx.received.length, events.length, 'each event was sent exactly once');
    for (const r of [rx.received[0]!, rx.received.at(-1)!]) assert.ok(verified(shop.secret, r));
    const attempts = await sql<{ n: string }>`SELECT count(*) AS n FROM delivery_attempts WHERE merchant_id = ${shop.id}::uuid`.execute(database.db);
    assert.equal(Number(attempts.rows[0]!.n), events.length);
  });
});
