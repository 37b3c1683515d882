// Everything a request handler or worker needs, built once per process.
import type { Kysely } from 'kysely';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DB } from './db/schema.ts';
import type { Engine } from './db/connect.ts';
import { Invoices } from './invoices/service.ts';
import { Merchants } from './merchants/service.ts';
import { Catalog } from './rates/catalog.ts';

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
}

export function createKasa(options: { config: Config; db: Kysely<DB>; engine: Engine; clock: Clock; adminToken: string }): Kasa {
  const { config, db, clock } = options;
  const catalog = new Catalog(db, config.invoiceTtlMinutes);
  return {
    ...options,
    catalog,
    merchants: new Merchants(db),
    invoices: new Invoices(db, catalog, clock, config.publicUrl),
  };
}
