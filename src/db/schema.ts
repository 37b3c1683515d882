// Row types of Kysely's view of the database. NUMERIC arrives as a decimal string and BIGINT as
// a JS bigint on both engines (see connect.ts), so money never passes through a float.
import type { ColumnType, Generated } from 'kysely';
import type { DealStatus, InvoiceStatus, RejectReason, StatusDetail, TransitionActor } from '../lifecycle.ts';

export type { DealStatus, InvoiceStatus, RejectReason, StatusDetail, TransitionActor };

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp column with a database default: optional on insert. */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Numeric = ColumnType<string, string, string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type WithDefault<T> = ColumnType<T, T | undefined, T>;
type NullableNumeric = ColumnType<string | null, string | null | undefined, string | null>;
type NullableText = ColumnType<string | null, string | null | undefined, string | null>;

export interface MerchantsTable {
  id: string;
  name: string;
  status: WithDefault<'active' | 'disabled'>;
  fee_percent: Numeric;
  webhook_url: string | null;
  webhook_secret: string;
  previous_webhook_secret: ColumnType<string | null, string | null | undefined, string | null>;
  previous_webhook_secret_expires: NullableTimestamp;
  webhook_ed25519_private: ColumnType<string | null, string | null | undefined, string | null>;
  webhook_ed25519_public: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ApiKeysTable {
  id: string;
  merchant_id: string;
  prefix: string;
  key_hash: Buffer;
  /** What the key may do (merchants/keys.ts API_KEY_SCOPES); invoices by default. */
  scopes: ColumnType<string[], string[] | undefined, string[]>;
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
  rate_source: WithDefault<RateSourceKind>;
  source_url: NullableText;
  source_json_path: NullableText;
  refresh_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  max_age_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  markup_percent: NullableNumeric;
  max_change_percent: NullableNumeric;
  /** The last accepted quote of an http_json source, before the markup. */
  raw_rate: NullableNumeric;
  /** When the last accepted quote was fetched (the worker's clock). */
  rate_fetched_at: NullableTimestamp;
  next_fetch_at: NullableTimestamp;
  lease_token: NullableText;
  lease_until: NullableTimestamp;
}

export type RateSourceKind = 'manual' | 'http_json';

/** Why a source's quote was refused; also the reason label of kasa_rate_quotes_refused_total. */
export type QuoteRefusal =
  'http_status' | 'timeout' | 'fetch_failed' | 'too_large' | 'invalid_json' | 'no_match' | 'not_a_number' | 'not_positive' | 'out_of_range' | 'max_change';

export interface RateQuotesTable {
  id: string;
  currency: string;
  fetched_at: Timestamp;
  accepted: boolean;
  reason: QuoteRefusal | null;
  http_status: number | null;
  raw_text: string | null;
  raw_rate: Numeric | null;
  markup_percent: Numeric | null;
  /** The applied rate (raw × (1 + markup)), for an accepted quote. */
  rate: Numeric | null;
}

export interface SettingsTable {
  id: Generated<boolean>;
  deals_enabled: boolean;
  invoice_ttl_minutes: number | null;
  customer_invoices_per_minute: number;
  customer_max_pending: number;
  /** micro-USDT a trader keeps in insurance to get new deals. */
  trader_min_insurance_usdt: ColumnType<bigint, bigint | string | undefined, bigint | string>;
  /** HMAC key binding the payment page's form token to its invoice. */
  page_token_key: ColumnType<string, never, never>;
  withdrawal_min_usdt: WithDefault<string>;
  withdrawal_fee_usdt: WithDefault<string>;
  withdrawal_auto_approve_below_usdt: WithDefault<string>;
  /** Fiat within which a received amount counts as the invoice amount. */
  amount_tolerance: WithDefault<string>;
  overpayment_max_percent: WithDefault<string>;
  late_confirm_minutes: WithDefault<number>;
  late_unpaid_confirm_minutes: WithDefault<number>;
  trader_unconfirmed_max: WithDefault<number>;
  dispute_window_hours: WithDefault<number>;
  dispute_trader_hours: WithDefault<number>;
  customer_unpaid_max: WithDefault<number>;
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
  status: WithDefault<InvoiceStatus>;
  purpose: string | null;
  callback_url: string | null;
  success_url: string | null;
  fail_url: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  paid_at: NullableTimestamp;
  cancelled_at: NullableTimestamp;
  expired_at: NullableTimestamp;
  /** The transition that last changed the row; lets a retried transition recognise its own success. */
  transition_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The rate snapshot: where conversion_rate came from (see 013_rate_sources.sql). */
  rate_source: WithDefault<RateSourceKind>;
  raw_rate: NullableNumeric;
  markup_percent: NullableNumeric;
  rate_fetched_at: NullableTimestamp;
  /** The fiat the trader confirmed receiving (or a dispute decided); null until paid. */
  paid_amount: NullableNumeric;
  /** Why the invoice ended as it did, beside the seed's four statuses (014_payment_outcomes.sql). */
  status_detail: ColumnType<StatusDetail | null, StatusDetail | null | undefined, StatusDetail | null>;
}

/** Every status change of an invoice, once, in the transaction of the change. */
export interface InvoiceTransitionsTable {
  id: Generated<bigint>;
  invoice_id: string;
  from_status: InvoiceStatus;
  to_status: InvoiceStatus;
  status_detail: StatusDetail | null;
  actor: TransitionActor;
  at: Timestamp;
}

export interface TradersTable {
  id: string;
  name: string;
  status: WithDefault<'active' | 'disabled'>;
  reward_percent: ColumnType<string, string | undefined, string>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface TraderApiKeysTable {
  id: string;
  trader_id: string;
  prefix: string;
  key_hash: Buffer;
  created_at: DefaultTimestamp;
  revoked_at: NullableTimestamp;
}

export interface RequisitesTable {
  id: string;
  trader_id: string;
  currency: string;
  method: WithDefault<'card'>;
  bank_name: string;
  card_number: string;
  holder_name: string;
  min_amount: Numeric | null;
  max_amount: Numeric | null;
  daily_limit: Numeric | null;
  max_open_deals: WithDefault<number>;
  active: WithDefault<boolean>;
  last_used_at: NullableTimestamp;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface AccountsTable {
  id: string;
  balance: ColumnType<bigint, bigint | string | undefined, bigint | string>;
  updated_at: DefaultTimestamp;
}

export interface TransfersTable {
  id: Generated<bigint>;
  from_account: string;
  to_account: string;
  amount: ColumnType<bigint, bigint | string, bigint | string>;
  kind: string;
  ref: string | null;
  /** The from account's balance right after this transfer. */
  from_balance_after: ColumnType<bigint, bigint | string, bigint | string>;
  /** The to account's balance right after this transfer. */
  to_balance_after: ColumnType<bigint, bigint | string, bigint | string>;
  created_at: DefaultTimestamp;
}

export interface DepositsTable {
  id: string;
  trader_id: string;
  amount_usdt: ColumnType<bigint, bigint | string, bigint | string>;
  reference: string;
  created_at: DefaultTimestamp;
}

type Micro = ColumnType<bigint, bigint | string, bigint | string>;

export interface DealsTable {
  id: string;
  invoice_id: string;
  merchant_id: string;
  trader_id: string;
  requisite_id: string;
  amount: Numeric;
  currency: string;
  gross_usdt: Micro;
  trader_reward: Micro;
  trader_cost: Micro;
  merchant_usdt: Micro;
  status: WithDefault<DealStatus>;
  confirmed_by: 'trader' | 'admin' | null;
  opened_at: Timestamp;
  customer_paid_at: NullableTimestamp;
  closed_at: NullableTimestamp;
  /** The requisite as it was when the deal opened. */
  bank_name: string;
  card_number: string;
  holder_name: string;
  transition_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** A trader's reject (015_wrong_payments.sql): why, their words, when. */
  reject_reason: ColumnType<RejectReason | null, RejectReason | null | undefined, RejectReason | null>;
  reject_comment: ColumnType<string | null, string | null | undefined, string | null>;
  /** Why the operator cancelled the deal (019_cabinet_settings.sql). */
  cancel_reason: ColumnType<string | null, string | null | undefined, string | null>;
  rejected_at: NullableTimestamp;
}

/** Deals that ended unpaid after the customer said they paid, per customer (a trigger keeps it). */
export interface CustomerUnpaidDealsTable {
  deal_id: string;
  merchant_id: string;
  customer_id: string;
  ended_at: Timestamp;
}

export interface EventsTable {
  id: string;
  merchant_id: string;
  invoice_id: string | null;
  withdrawal_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** An event about a dispute (016_disputes.sql): keyed on the dispute's version at the transition. */
  dispute_id: ColumnType<string | null, string | null | undefined, string | null>;
  dispute_version: ColumnType<number | null, number | null | undefined, number | null>;
  type: string;
  payload: ColumnType<unknown, string, string>;
  created_at: Timestamp;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveriesTable {
  event_id: string;
  /** The order deliveries were written in: one invoice's go out in this order. */
  seq: Generated<bigint>;
  merchant_id: string;
  invoice_id: string | null;
  withdrawal_id: ColumnType<string | null, string | null | undefined, string | null>;
  target_url: string;
  target_host: string;
  status: WithDefault<DeliveryStatus>;
  failure_reason: string | null;
  attempts: WithDefault<number>;
  next_attempt_at: Timestamp;
  lease_token: string | null;
  lease_until: NullableTimestamp;
  last_status: number | null;
  last_error: string | null;
  created_at: Timestamp;
  delivered_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface DeliveryAttemptsTable {
  id: Generated<bigint>;
  event_id: string;
  merchant_id: string;
  attempted_at: Timestamp;
  status_code: number | null;
  duration_ms: number;
  /** The receiver's answer as sent (bytea: a Buffer from pg, a Uint8Array from PGlite). */
  response_body: Uint8Array | null;
  error: string | null;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: DefaultTimestamp;
}

export interface ChainTransactionsTable {
  tx_hash: string;
  network: string;
  kind: 'merchant_withdrawal' | 'trader_withdrawal' | 'trader_topup';
  ref: string;
  created_at: Date;
}

export type WithdrawalStatus = 'requested' | 'approved' | 'completed' | 'rejected' | 'cancelled';

export interface WithdrawalsTable {
  id: string;
  /** Exactly one of merchant_id and trader_id is set: the withdrawal's owner. */
  merchant_id: string | null;
  trader_id: string | null;
  status: WithdrawalStatus;
  /** micro-USDT */
  amount_usdt: bigint;
  fee_usdt: bigint;
  address: string;
  network: 'TRC20';
  tx_hash: string | null;
  reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  owner_id: string;
  key: string;
  /** A Buffer from pg, a Uint8Array from PGlite. */
  fingerprint: Uint8Array;
  status_code: number | null;
  headers: ColumnType<Record<string, string>, string | undefined, string>;
  body: string | null;
  locked_until: Date | null;
  created_at: Date;
  expires_at: Date;
}

export type TopupStatus = 'pending' | 'confirmed' | 'rejected';

export interface TraderTopupsTable {
  id: string;
  trader_id: string;
  amount_usdt: ColumnType<bigint, bigint | string, bigint | string>;
  network: 'TRC20';
  tx_hash: string;
  status: WithDefault<TopupStatus>;
  reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type UserRole = 'operator' | 'merchant' | 'trader';
export type MerchantRole = 'owner' | 'developer' | 'viewer';

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  merchant_id: string | null;
  merchant_role: MerchantRole | null;
  trader_id: string | null;
  status: WithDefault<'active' | 'disabled'>;
  password_hash: NullableText;
  /** AES-256-GCM under the installation's secret key (people/secret-box.ts). */
  totp_secret: NullableText;
  totp_exempt: WithDefault<boolean>;
  totp_last_step: ColumnType<bigint | null, bigint | string | null | undefined, bigint | string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UserRecoveryCodesTable {
  user_id: string;
  code_hash: Buffer;
  used_at: NullableTimestamp;
}

export interface PasswordLinksTable {
  token_hash: Buffer;
  user_id: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface SessionsTable {
  token_hash: Buffer;
  user_id: string;
  stage: 'totp' | 'full';
  ip: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
}

export interface SignInAttemptsTable {
  scope: 'account' | 'ip';
  subject: string;
  window_start: Timestamp;
  failures: number;
}

export interface AuditLogTable {
  id: Generated<bigint>;
  at: Timestamp;
  actor_kind: 'user' | 'admin_token' | 'system';
  actor_id: string | null;
  actor_email: string | null;
  ip: string | null;
  action: string;
  target: string;
  merchant_id: string | null;
  before: ColumnType<unknown, string | null, string | null>;
  after: ColumnType<unknown, string | null, string | null>;
}

export type DisputeStatus = 'awaiting_trader' | 'awaiting_operator' | 'trader_accepted' | 'resolved_merchant' | 'resolved_trader' | 'cancelled';
export type DisputeActor = 'customer' | 'merchant' | 'trader' | 'operator' | 'system';

export interface DisputesTable {
  id: string;
  invoice_id: string;
  deal_id: string;
  merchant_id: string;
  trader_id: string;
  status: DisputeStatus;
  reason: 'not_credited' | 'wrong_amount';
  opened_by: 'customer' | 'merchant' | 'trader';
  claimed_amount: Numeric;
  comment: NullableText;
  held_account: string;
  held_usdt: Micro;
  claimed_cost: Micro;
  statement: NullableText;
  decided_amount: NullableNumeric;
  respond_by: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  resolved_at: NullableTimestamp;
  version: ColumnType<number, number | undefined, number>;
}

export interface DisputeFilesTable {
  id: string;
  dispute_id: string;
  invoice_id: string;
  merchant_id: string;
  uploaded_by: 'customer' | 'merchant' | 'trader' | 'operator';
  content_type: 'image/jpeg' | 'image/png' | 'application/pdf';
  size_bytes: number;
  sha256: string;
  /** A Buffer from pg, a Uint8Array from PGlite. */
  data: ColumnType<Uint8Array, Uint8Array, Uint8Array>;
  card_last4: NullableText;
  payer_name: NullableText;
  paid_amount: NullableNumeric;
  created_at: Timestamp;
}

export interface DisputeMessagesTable {
  id: string;
  dispute_id: string;
  author: 'merchant' | 'trader' | 'operator';
  body: string;
  created_at: Timestamp;
}

export interface DisputeTransitionsTable {
  id: Generated<bigint>;
  dispute_id: string;
  from_status: DisputeStatus | null;
  to_status: DisputeStatus;
  actor: DisputeActor;
  at: Timestamp;
}

export interface DB {
  disputes: DisputesTable;
  dispute_files: DisputeFilesTable;
  dispute_messages: DisputeMessagesTable;
  dispute_transitions: DisputeTransitionsTable;
  chain_transactions: ChainTransactionsTable;
  withdrawals: WithdrawalsTable;
  idempotency_keys: IdempotencyKeysTable;
  trader_topups: TraderTopupsTable;
  merchants: MerchantsTable;
  api_keys: ApiKeysTable;
  currencies: CurrenciesTable;
  rate_quotes: RateQuotesTable;
  settings: SettingsTable;
  invoices: InvoicesTable;
  invoice_transitions: InvoiceTransitionsTable;
  schema_migrations: SchemaMigrationsTable;
  traders: TradersTable;
  trader_api_keys: TraderApiKeysTable;
  requisites: RequisitesTable;
  accounts: AccountsTable;
  transfers: TransfersTable;
  deposits: DepositsTable;
  deals: DealsTable;
  customer_unpaid_deals: CustomerUnpaidDealsTable;
  events: EventsTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  users: UsersTable;
  user_recovery_codes: UserRecoveryCodesTable;
  password_links: PasswordLinksTable;
  sessions: SessionsTable;
  sign_in_attempts: SignInAttemptsTable;
  audit_log: AuditLogTable;
}
