// The composition root: every service built once per process (createKasa), and the HTTP app
// with each route plugin given the services it uses (buildApp). Nothing else wires the domains.
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { checkoutRoutes } from './checkout/routes.ts';
import { dealAdminRoutes } from './deals/admin-routes.ts';
import { createHttpApp } from './http/app.ts';
import { opsRoutes } from './http/ops.ts';
import type { KasaApp } from './http/validation.ts';
import { invoiceRoutes } from './invoices/routes.ts';
import { ledgerAdminRoutes, merchantLedgerRoutes } from './ledger/routes.ts';
import { merchantAdminRoutes } from './merchants/admin-routes.ts';
import { ratesAdminRoutes } from './rates/admin-routes.ts';
import { traderAdminRoutes } from './traders/admin-routes.ts';
import { traderRoutes } from './traders/routes.ts';
import { withdrawalAdminRoutes } from './treasury/admin-routes.ts';
import { merchantWithdrawalRoutes, traderWithdrawalRoutes } from './treasury/routes.ts';
import { Withdrawals } from './treasury/withdrawals.ts';
import { webhookAdminRoutes, webhookRoutes } from './webhooks/routes.ts';
import { webhookEvents } from './webhooks/schema.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DB } from './db/schema.ts';
import { kyselyPrepared, type Engine, type PreparedQuery } from './db/connect.ts';
import { Deals } from './deals/service.ts';
import { Invoices } from './invoices/service.ts';
import { Merchants } from './merchants/service.ts';
import { Catalog } from './rates/catalog.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Traders } from './traders/service.ts';
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
  merchants: Merchants;
  invoices: Invoices;
  deals: Deals;
  traders: Traders;
  metrics: Metrics;
  /** Sends webhook attempts through the delivery-time SSRF guard. */
  sender: WebhookSender;
  webhooks: Webhooks;
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
  const catalog = new Catalog(db, config.invoiceTtlMinutes);
  const prepared = options.prepared ?? kyselyPrepared(db);
  const invoices = new Invoices(db, catalog, clock, config.publicUrl, prepared);
  return {
    ...options,
    catalog,
    merchants: new Merchants(db),
    invoices,
    deals: new Deals(db, catalog, clock, invoices, prepared),
    traders: new Traders(db),
    metrics,
    sender,
    webhooks: new Webhooks(db, clock, sender, metrics),
    withdrawals: new Withdrawals(db, catalog, clock),
  };
}

/** The HTTP app of one Kasa: the chassis, then every route plugin with the services it uses. */
export async function buildApp(kasa: Kasa, logger: Logger): Promise<KasaApp> {
  const app = await createHttpApp({ logger, metrics: kasa.metrics, publicUrl: kasa.config.publicUrl, webhooks: webhookEvents });
  await app.register(opsRoutes, { db: kasa.db, engine: kasa.engine, metrics: kasa.metrics });
  const keyOwners = { merchants: kasa.merchants, traders: kasa.traders };
  await app.register(invoiceRoutes, { keyOwners, invoices: kasa.invoices, deals: kasa.deals, webhookAllowPrivate: kasa.config.webhookAllowPrivate });
  await app.register(checkoutRoutes, {
    deals: kasa.deals,
    clock: kasa.clock,
    publicUrl: kasa.config.publicUrl,
    pageTokenKey: await kasa.catalog.pageTokenKey(),
  });
  await app.register(merchantLedgerRoutes, { keyOwners, db: kasa.db });
  await app.register(traderRoutes, { keyOwners, traders: kasa.traders, deals: kasa.deals });
  await app.register(webhookRoutes, { keyOwners, webhooks: kasa.webhooks });
  await app.register(merchantWithdrawalRoutes, { keyOwners, withdrawals: kasa.withdrawals });
  await app.register(traderWithdrawalRoutes, { keyOwners, withdrawals: kasa.withdrawals });
  const admin = { prefix: '/admin/v1', adminToken: kasa.adminToken };
  await app.register(merchantAdminRoutes, { ...admin, merchants: kasa.merchants, webhookAllowPrivate: kasa.config.webhookAllowPrivate });
  await app.register(ratesAdminRoutes, { ...admin, catalog: kasa.catalog });
  await app.register(traderAdminRoutes, { ...admin, traders: kasa.traders });
  await app.register(dealAdminRoutes, { ...admin, deals: kasa.deals });
  await app.register(ledgerAdminRoutes, { ...admin, db: kasa.db });
  await app.register(webhookAdminRoutes, { ...admin, webhooks: kasa.webhooks });
  await app.register(withdrawalAdminRoutes, { ...admin, withdrawals: kasa.withdrawals });
  return app;
}
