// Everything a request handler or worker needs, built once per process.
import type { Kysely } from 'kysely';
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
  };
}
