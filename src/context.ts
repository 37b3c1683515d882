// The composition root: every service built once per process (createKasa), and the HTTP app
// with each route plugin given the services it uses (buildApp). Nothing else wires the domains.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { checkoutRoutes } from './checkout/routes.ts';
import { dealAdminRoutes } from './deals/admin-routes.ts';
import { disputeAdminRoutes } from './disputes/admin-routes.ts';
import { merchantDisputeRoutes, traderDisputeRoutes } from './disputes/routes.ts';
import { Disputes } from './disputes/service.ts';
import { createHttpApp } from './http/app.ts';
import { idempotent } from './http/idempotency.ts';
import { opsRoutes } from './http/ops.ts';
import type { KasaApp } from './http/validation.ts';
import { invoiceAdminRoutes } from './invoices/admin-routes.ts';
import { invoiceRoutes } from './invoices/routes.ts';
import { ledgerAdminRoutes, merchantLedgerRoutes, traderLedgerRoutes } from './ledger/routes.ts';
import { Statements } from './ledger/statements.ts';
import { merchantAdminRoutes } from './merchants/admin-routes.ts';
import { ratesAdminRoutes } from './rates/admin-routes.ts';
import { reportAdminRoutes } from './reports/admin-routes.ts';
import { traderAdminRoutes } from './traders/admin-routes.ts';
import { traderRoutes } from './traders/routes.ts';
import { topupAdminRoutes } from './treasury/topup-admin-routes.ts';
import { topupRoutes } from './treasury/topup-routes.ts';
import { withdrawalAdminRoutes } from './treasury/withdrawal-admin-routes.ts';
import { merchantWithdrawalRoutes, traderWithdrawalRoutes } from './treasury/withdrawal-routes.ts';
import { Withdrawals } from './treasury/withdrawals.ts';
import { webhookAdminRoutes, webhookRoutes } from './webhooks/routes.ts';
import { operatorConsoleRoutes } from './cabinet/admin/console.ts';
import { merchantCabinetRoutes } from './cabinet/merchant/section.ts';
import { cabinetRoutes } from './cabinet/plugin.ts';
import { signInRoutes } from './cabinet/sign-in-routes.ts';
import { traderCabinetRoutes } from './cabinet/trader-routes.ts';
import { newRequisiteModel, requisitePatchModel } from './traders/schema.ts';
import { peopleAdminRoutes } from './people/admin-routes.ts';
import { webhookEvents } from './webhooks/schema.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DB } from './db/schema.ts';
import { kyselyPrepared, type Engine, type PreparedQuery } from './db/connect.ts';
import { Deals } from './deals/service.ts';
import { IdempotencyKeys } from './idempotency/keys.ts';
import { createBatchesInFlight, Invoices } from './invoices/service.ts';
import { Merchants } from './merchants/service.ts';
import { Catalog } from './rates/catalog.ts';
import { QuoteFetcher } from './rates/fetch-quote.ts';
import { RateSources } from './rates/sources.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Traders } from './traders/service.ts';
import { Topups } from './treasury/topups.ts';
import { WebhookSender } from './webhooks/sender.ts';
import { Audit } from './people/audit.ts';
import { SecretBox } from './people/secrets.ts';
import { Sessions } from './people/sessions.ts';
import { SignIn } from './people/sign-in.ts';
import { Users } from './people/users.ts';
import { createHash } from 'node:crypto';
import { Webhooks } from './webhooks/service.ts';

export interface Kasa {
  config: Config;
  db: Kysely<DB>;
  engine: Engine;
  clock: Clock;
  /** The admin token in plain text; compared by hash in constant time. */
  adminToken: string;
  catalog: Catalog;
  /** Fetches the http_json rate sources (the rate worker's one pass). */
  rateSources: RateSources;
  merchants: Merchants;
  invoices: Invoices;
  deals: Deals;
  disputes: Disputes;
  traders: Traders;
  topups: Topups;
  statements: Statements;
  metrics: Metrics;
  /** Sends webhook attempts through the delivery-time SSRF guard. */
  sender: WebhookSender;
  webhooks: Webhooks;
  idempotencyKeys: IdempotencyKeys;
  withdrawals: Withdrawals;
  /** Encrypts TOTP secrets and keys the cabinets' CSRF tokens (SECRET_KEY or DATA_DIR/secret-key). */
  secretKey: string;
  audit: Audit;
  users: Users;
  sessions: Sessions;
  signIn: SignIn;
}

export function createKasa(options: {
  config: Config;
  db: Kysely<DB>;
  engine: Engine;
  clock: Clock;
  adminToken: string;
  metrics?: Metrics;
  /** Named prepared statements on a PostgreSQL server; through Kysely otherwise. */
  prepared?: PreparedQuery;
  /**
   * `kasa serve` always passes it. Processes that keep no TOTP secret of their own (tests, the
   * OpenAPI document) derive one from the admin token, so instances sharing a token share it.
   */
  secretKey?: string;
}): Kasa {
  const { config, db, clock } = options;
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: false });
  const sender = new WebhookSender(config.webhookAllowPrivate);
  const catalog = new Catalog(db, config.invoiceTtlMinutes, clock);
  const prepared = options.prepared ?? kyselyPrepared(db);
  const invoices = new Invoices(db, catalog, clock, config.publicUrl, prepared, {
    onBatch: (size) => metrics.createInvoiceBatchSize.observe(size),
    // PGlite has one session: one batch at a time, taken when the session is free, so it holds
    // everything that queued behind the statements before it.
    ...(options.engine === 'pglite'
      ? { batchesInFlightMax: 1, whenFree: () => db.connection().execute(async () => {}) }
      : { batchesInFlightMax: createBatchesInFlight(config.databasePoolSize, config.databasePipelines) }),
  });
  const secretKey = options.secretKey ?? createHash('sha256').update(`kasa secret key of ${options.adminToken}`).digest('base64url');
  const box = new SecretBox(secretKey);
  const audit = new Audit(db, clock);
  const sessions = new Sessions(db, clock);
  const deals = new Deals(db, catalog, clock, invoices, prepared);
  const disputes = new Disputes(db, catalog, clock, deals);
  deals.handPaidRejectsTo((trx, invoice, deal, rejection) => disputes.openOnReject(trx, invoice, deal, rejection));
  return {
    ...options,
    secretKey,
    audit,
    users: new Users(db, clock, box, audit),
    sessions,
    signIn: new SignIn(db, clock, sessions, box, audit),
    catalog,
    rateSources: new RateSources(db, catalog, clock, metrics, new QuoteFetcher()),
    merchants: new Merchants(db),
    invoices,
    deals,
    disputes,
    traders: new Traders(db, catalog),
    topups: new Topups(db, clock),
    statements: new Statements(db),
    metrics,
    sender,
    webhooks: new Webhooks(db, clock, sender, metrics),
    idempotencyKeys: new IdempotencyKeys(db, clock),
    withdrawals: new Withdrawals(db, catalog, clock),
  };
}

/** The HTTP app of one Kasa: the chassis, then every route plugin with the services it uses. */
export async function buildApp(kasa: Kasa, logger: Logger): Promise<KasaApp> {
  const app = await createHttpApp({ logger, metrics: kasa.metrics, publicUrl: kasa.config.publicUrl, webhooks: webhookEvents });
  await app.register(opsRoutes, { db: kasa.db, engine: kasa.engine, metrics: kasa.metrics });
  const keyOwners = { merchants: kasa.merchants, traders: kasa.traders };
  const answerOnce = idempotent(kasa.idempotencyKeys);
  await app.register(invoiceRoutes, {
    keyOwners,
    invoices: kasa.invoices,
    deals: kasa.deals,
    webhookAllowPrivate: kasa.config.webhookAllowPrivate,
    idempotent: answerOnce,
  });
  await app.register(checkoutRoutes, {
    deals: kasa.deals,
    disputes: kasa.disputes,
    clock: kasa.clock,
    publicUrl: kasa.config.publicUrl,
    pageTokenKey: await kasa.catalog.pageTokenKey(),
  });
  await app.register(merchantLedgerRoutes, { keyOwners, db: kasa.db, statements: kasa.statements });
  await app.register(traderLedgerRoutes, { keyOwners, statements: kasa.statements });
  await app.register(traderRoutes, { keyOwners, traders: kasa.traders, deals: kasa.deals, idempotent: answerOnce });
  await app.register(topupRoutes, { keyOwners, topups: kasa.topups, idempotent: answerOnce });
  await app.register(webhookRoutes, {
    keyOwners,
    webhooks: kasa.webhooks,
    merchants: kasa.merchants,
    webhookAllowPrivate: kasa.config.webhookAllowPrivate,
    idempotent: answerOnce,
  });
  await app.register(merchantWithdrawalRoutes, { keyOwners, withdrawals: kasa.withdrawals, idempotent: answerOnce });
  await app.register(traderWithdrawalRoutes, { keyOwners, withdrawals: kasa.withdrawals, idempotent: answerOnce });
  await app.register(merchantDisputeRoutes, { keyOwners, disputes: kasa.disputes, idempotent: answerOnce });
  await app.register(traderDisputeRoutes, { keyOwners, disputes: kasa.disputes, idempotent: answerOnce });
  const admin = { prefix: '/admin/v1', adminToken: kasa.adminToken };
  await app.register(merchantAdminRoutes, { ...admin, merchants: kasa.merchants, webhookAllowPrivate: kasa.config.webhookAllowPrivate });
  await app.register(ratesAdminRoutes, { ...admin, catalog: kasa.catalog, rateSources: kasa.rateSources });
  await app.register(invoiceAdminRoutes, { ...admin, invoices: kasa.invoices });
  await app.register(traderAdminRoutes, { ...admin, traders: kasa.traders });
  await app.register(dealAdminRoutes, { ...admin, deals: kasa.deals });
  await app.register(topupAdminRoutes, { ...admin, topups: kasa.topups });
  await app.register(ledgerAdminRoutes, { ...admin, db: kasa.db });
  await app.register(webhookAdminRoutes, { ...admin, webhooks: kasa.webhooks });
  await app.register(withdrawalAdminRoutes, { ...admin, withdrawals: kasa.withdrawals });
  await app.register(reportAdminRoutes, { ...admin, db: kasa.db, clock: kasa.clock });
  await app.register(peopleAdminRoutes, { ...admin, users: kasa.users, audit: kasa.audit, publicUrl: kasa.config.publicUrl });
  await app.register(cabinetRoutes, {
    sessions: kasa.sessions,
    signIn: kasa.signIn,
    users: kasa.users,
    audit: kasa.audit,
    clock: kasa.clock,
    publicUrl: kasa.config.publicUrl,
    secretKey: kasa.secretKey,
    sections: [
      signInRoutes({ signIn: kasa.signIn, users: kasa.users, sessions: kasa.sessions }),
      traderCabinetRoutes({
        deals: kasa.deals,
        traders: kasa.traders,
        statements: kasa.statements,
        requisiteModels: { create: newRequisiteModel, patch: requisitePatchModel },
      }),
      merchantCabinetRoutes({
        db: kasa.db,
        invoices: kasa.invoices,
        deals: kasa.deals,
        statements: kasa.statements,
        webhooks: kasa.webhooks,
        merchants: kasa.merchants,
        users: kasa.users,
        webhookAllowPrivate: kasa.config.webhookAllowPrivate,
      }),
      ...operatorConsoleRoutes({
        db: kasa.db,
        clock: kasa.clock,
        merchants: kasa.merchants,
        traders: kasa.traders,
        deals: kasa.deals,
        catalog: kasa.catalog,
        webhooks: kasa.webhooks,
        users: kasa.users,
        audit: kasa.audit,
        webhookAllowPrivate: kasa.config.webhookAllowPrivate,
      }),
    ],
  });
  await app.register(disputeAdminRoutes, { ...admin, disputes: kasa.disputes });
  return app;
}
