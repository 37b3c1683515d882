// Row types of Kysely's view of the database. NUMERIC arrives as a decimal string and BIGINT as
// a JS bigint on both engines (see connect.ts), so money never passes through a float.
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp column with a database default: optional on insert. */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Numeric = ColumnType<string, string, string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type WithDefault<T> = ColumnType<T, T | undefined, T>;

export interface MerchantsTable {
  id: string;
  name: string;
  status: WithDefault<'active' | 'disabled'>;
  fee_percent: Numeric;
  webhook_url: string | null;
  webhook_secret: string;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ApiKeysTable {
  id: string;
  merchant_id: string;
  prefix: string;
  key_hash: Buffer;
  created_at: DefaultTimestamp;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface CurrenciesTable {
  code: string;
  enabled: WithDefault<boolean>;
  rate: Numeric | null;
  min_amount: Numeric | null;
  max_amount: Numeric | null;
  updated_at: DefaultTimestamp;
}

export interface SettingsTable {
  id: Generated<boolean>;
  deals_enabled: boolean;
  invoice_ttl_minutes: number | null;
  customer_invoices_per_minute: number;
  customer_max_pending: number;
  updated_at: DefaultTimestamp;
}

export interface InvoicesTable {
  id: string;
  seq: Generated<bigint>;
  merchant_id: string;
  external_id: string;
  customer_id: string;
  amount: Numeric;
  currency: string;
  conversion_rate: Numeric;
  fee_percent: Numeric;
  gross_usdt: ColumnType<bigint, bigint | string, bigint | string>;
  merchant_usdt: ColumnType<bigint, bigint | string, bigint | string>;
  status: WithDefault<'pending' | 'success' | 'expired' | 'cancelled'>;
  purpose: string | null;
  callback_url: string | null;
  success_url: string | null;
  fail_url: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  paid_at: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  expired_at: NullableTimestamp;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: DefaultTimestamp;
}

export interface DB {
  merchants: MerchantsTable;
  api_keys: ApiKeysTable;
  currencies: CurrenciesTable;
  settings: SettingsTable;
  invoices: InvoicesTable;
  schema_migrations: SchemaMigrationsTable;
}
