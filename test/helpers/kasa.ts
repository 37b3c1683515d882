// One setup for every test file: a fresh database per file (a PostgreSQL database of its own
// when DATABASE_URL is set, an in-memory PGlite otherwise), migrated, behind the real HTTP app.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import type { Clock } from '../../src/clock.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { buildApp, createKasa, type Kasa } from '../../src/context.ts';
import { connect, type Database } from '../../src/db/connect.ts';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import { verifyLedger } from '../../src/ledger/ledger.ts';
import { createPostgresDatabase } from './database.ts';

export const PUBLIC_URL = 'https://pay.kasa.test';
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** The fields of the seed's invoice object, sorted: every answer carries exactly these. */
export const INVOICE_FIELDS = [
  'amount',
  'callback_url',
  'conversion_rate',
  'created_at',
  'currency',
  'customer_id',
  'expires_at',
  'external_id',
  'fail_url',
  'invoice_id',
  'merchant_usdt',
  'paid_at',
  'payment_link',
  'purpose',
  'status',
  'success_url',
];

/** The seed's request body. */
export const SEED_BODY = {
  amount: '1500.00',
  callback_url: 'https://yoursite.com/webhooks/payment',
  currency_code: 'UAH',
  customer_id: 'user_12345',
  external_id: 'order-2026-0001',
  fail_url: 'https://yoursite.com/payment/failed',
  purpose: 'Payment for Premium subscription',
  success_url: 'https://yoursite.com/payment/success',
};

/** A clock tests move by hand; starts at the seed's example time. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start = '2026-02-25T12:00:00Z') {
    this.current = Date.parse(start);
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(iso: string): void {
    this.current = Date.parse(iso);
  }
}

export interface TestKasa {
  app: FastifyInstance;
  kasa: Kasa;
  clock: ManualClock;
  database: Database;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  admin(method: InjectOptions['method'], url: string, payload?: unknown): Promise<LightMyRequestResponse>;
  /** Creates a merchant through the admin API; returns its id and API key. */
  createMerchant(body?: Record<string, unknown>): Promise<{ merchant_id: string; api_key: string; key_id: string }>;
  createInvoice(apiKey: string, body?: Record<string, unknown>): Promise<LightMyRequestResponse>;
  countInvoices(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A migrated PGlite data directory, dumped once per migration set into the temp dir and shared
 * by every test file: loading it takes about a second, where a fresh in-memory PGlite runs
 * initdb for several.
 */
async function pgliteTemplate(): Promise<Blob> {
  const migrations = await loadMigrations();
  const key = createHash('sha256').update(JSON.stringify(migrations)).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `kasa-pglite-template-${key}.tar`);
  try {
    return new Blob([await fs.readFile(file)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const database = await connect({ databaseUrl: null, dataDir: null });
  await migrate(database.db);
  const dump = await database.dump!();
  await database.close();
  // Write then rename: test files building it at the same time never read half a file.
  const partial = `${file}.${process.pid}.partial`;
  await fs.writeFile(partial, Buffer.from(await dump.arrayBuffer()));
  await fs.rename(partial, file);
  return dump;
}

async function freshDatabase(): Promise<{ database: Database; drop: () => Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    return { database: await connect({ databaseUrl: null, dataDir: null, pgliteTemplate: await pgliteTemplate() }), drop: async () => {} };
  }
  const { url, drop } = await createPostgresDatabase(serverUrl);
  return { database: await connect({ databaseUrl: url, dataDir: null, poolSizeMax: 30 }), drop };
}

export async function startKasa(overrides: Partial<Config> = {}): Promise<TestKasa> {
  const { database, drop } = await freshDatabase();
  await migrate(database.db);
  const config: Config = {
    ...loadConfig({}),
    publicUrl: PUBLIC_URL,
    adminToken: ADMIN_TOKEN,
    logLevel: 'silent',
    webhookAllowPrivate: true,
    ...overrides,
  };
  const clock = new ManualClock();
  const kasa = createKasa({ config, db: database.db, engine: database.engine, clock, adminToken: ADMIN_TOKEN, prepared: database.prepared });
  const app = await buildApp(kasa, pino({ level: process.env.KASA_TEST_LOG ?? 'silent' }));
  await app.ready();

  const admin: TestKasa['admin'] = (method, url, payload) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, ...(payload === undefined ? {} : { payload: payload as object }) });

  // Every test file starts with the seed's setup: UAH at 41.50.
  const currency = await admin('PUT', '/admin/v1/currencies/UAH', { enabled: true, rate: '41.50' });
  if (currency.statusCode !== 200) throw new Error(`currency setup failed: ${currency.body}`);

  return {
    app,
    kasa,
    clock,
    database,
    inject: (options) => app.inject(options),
    admin,
    async createMerchant(body = {}) {
      const res = await admin('POST', '/admin/v1/merchants', { name: 'Shop', ...body });
      if (res.statusCode !== 201) throw new Error(`merchant setup failed: ${res.body}`);
      return res.json();
    },
    createInvoice(apiKey, body = {}) {
      return app.inject({
        method: 'POST',
        url: '/api/v1/create-invoice',
        headers: { 'x-api-key': apiKey },
        payload: { ...SEED_BODY, ...body },
      });
    },
    async countInvoices() {
      const row = await database.db
        .selectFrom('invoices')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async close() {
      // Whatever the file's tests did, the ledger must still verify: every balance the sum of
      // its transfers, all balances summing to zero, no account but world below zero.
      const report = await verifyLedger(database.db);
      await app.close();
      await database.close();
      await drop();
      if (!report.ok) throw new Error(`ledger verify failed after the tests: ${JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
    },
  };
}

/**
 * A second Kasa instance (its own caches, its own HTTP app) on the same database and clock, as
 * when several instances share one PostgreSQL. The caller closes it.
 */
export async function anotherInstance(t: TestKasa): Promise<FastifyInstance> {
  const kasa = createKasa({
    config: t.kasa.config,
    db: t.database.db,
    engine: t.database.engine,
    clock: t.clock,
    adminToken: ADMIN_TOKEN,
    prepared: t.database.prepared,
  });
  const app = await buildApp(kasa, pino({ level: 'silent' }));
  await app.ready();
  return app;
}
