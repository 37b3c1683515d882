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
import { traderAdminRoutes } from './traders/admin-routes.ts';
import { traderRoutes } from './traders/routes.ts';
import { topupAdminRoutes } from './treasury/topup-admin-routes.ts';
import { topupRoutes } from './treasury/topup-routes.ts';
import { withdrawalAdminRoutes } from './treasury/withdrawal-admin-routes.ts';
import { merchantWithdrawalRoutes, traderWithdrawalRoutes } from './treasury/withdrawal-routes.ts';
import { Withdrawals } from './treasury/withdrawals.ts';
import { webhookAdminRoutes, webhookRoutes } from './webhooks/routes.ts';
import { webhookEvents } from './webhooks/schema.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DB } from './db/schema.ts';
import { kyselyPrepared, type Engine, type PreparedQuery } from './db/connect.ts';
import { Deals } from './deals/service.ts';
import { IdempotencyKeys } from './idempotency/keys.ts';
import { Invoices } from './invoices/service.ts';
import { Merchants } from './merchants/service.ts';
import { Catalog } from './rates/catalog.ts';
import { QuoteFetcher } from './rates/fetch-quote.ts';
import { RateSources } from './rates/sources.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Traders } from './traders/service.ts';
import { Topups } from './treasury/topups.ts';
import { WebhookSender } from './webhooks/sender.ts';
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
}): Kasa {
  const { config, db, clock } = options;
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: false });
  const sender = new WebhookSender(config.webhookAllowPrivate);
  const catalog = new Catalog(db, config.invoiceTtlMinutes, clock);
  const prepared = options.prepared ?? kyselyPrepared(db);
  const invoices = new Invoices(db, catalog, clock, config.publicUrl, prepared);
  const deals = new Deals(db, catalog, clock, invoices, prepared);
  const disputes = new Disputes(db, catalog, clock, deals);
  deals.handPaidRejectsTo((trx, invoice, deal, rejection) => disputes.openOnReject(trx, invoice, deal, rejection));
  return {
    ...options,
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
  await app.register(webhookRoutes, { keyOwners, webhooks: kasa.webhooks, idempotent: answerOnce });
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
  await app.register(disputeAdminRoutes, { ...admin, disputes: kasa.disputes });
  return app;
}
