-- Getting paid: traders and their requisites, the USDT ledger, deals, and invoice events.

CREATE TABLE traders (
  id             uuid PRIMARY KEY,
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  reward_percent numeric(5, 2) NOT NULL DEFAULT 1.00 CHECK (reward_percent >= 0 AND reward_percent < 100),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trader_api_keys (
  id         uuid PRIMARY KEY,
  trader_id  uuid NOT NULL REFERENCES traders (id),
  prefix     text NOT NULL,
  key_hash   bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX trader_api_keys_trader ON trader_api_keys (trader_id, created_at);

-- Fiat payment details of a trader. Amount limits are in the requisite's currency.
CREATE TABLE requisites (
  id             uuid PRIMARY KEY,
  trader_id      uuid NOT NULL REFERENCES traders (id),
  currency       text NOT NULL REFERENCES currencies (code),
  method         text NOT NULL DEFAULT 'card' CHECK (method IN ('card')),
  bank_name      text NOT NULL CHECK (length(bank_name) BETWEEN 1 AND 100),
  card_number    text NOT NULL CHECK (card_number ~ '^[0-9]{12,19}$'),
  holder_name    text NOT NULL CHECK (length(holder_name) BETWEEN 1 AND 100),
  min_amount     numeric(18, 2) CHECK (min_amount > 0),
  max_amount     numeric(18, 2) CHECK (max_amount > 0),
  daily_limit    numeric(18, 2) CHECK (daily_limit > 0),
  max_open_deals integer NOT NULL DEFAULT 1 CHECK (max_open_deals BETWEEN 1 AND 1000),
  active         boolean NOT NULL DEFAULT true,
  -- Least recently used goes first when the deals engine picks a requisite.
  last_used_at   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount)
);
CREATE INDEX requisites_candidates ON requisites (currency, last_used_at NULLS FIRST) WHERE active;
CREATE INDEX requisites_trader ON requisites (trader_id, created_at);

-- Ledger: balances in integer micro-USDT. Only `world` (money outside Kasa) may go below zero.
CREATE TABLE accounts (
  id         text PRIMARY KEY,
  balance    bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accounts_no_overdraft CHECK (balance >= 0 OR id = 'world')
);
INSERT INTO accounts (id) VALUES ('world'), ('platform:revenue');

CREATE TABLE transfers (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_account text NOT NULL REFERENCES accounts (id),
  to_account   text NOT NULL REFERENCES accounts (id),
  amount       bigint NOT NULL CHECK (amount > 0),
  kind         text NOT NULL,
  ref          uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (from_account <> to_account)
);
CREATE INDEX transfers_ref ON transfers (ref);
CREATE INDEX transfers_from ON transfers (from_account);
CREATE INDEX transfers_to ON transfers (to_account);

-- A deposit's reference is unique per trader, so a retried deposit never credits twice.
CREATE TABLE deposits (
  id          uuid PRIMARY KEY,
  trader_id   uuid NOT NULL REFERENCES traders (id),
  amount_usdt bigint NOT NULL CHECK (amount_usdt > 0),
  reference   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT deposits_reference_unique UNIQUE (trader_id, reference)
);

CREATE TABLE deals (
  id               uuid PRIMARY KEY,
  invoice_id       uuid NOT NULL REFERENCES invoices (id),
  merchant_id      uuid NOT NULL REFERENCES merchants (id),
  trader_id        uuid NOT NULL REFERENCES traders (id),
  requisite_id     uuid NOT NULL REFERENCES requisites (id),
  amount           numeric(18, 2) NOT NULL CHECK (amount > 0),
  currency         text NOT NULL,
  gross_usdt       bigint NOT NULL,
  trader_reward    bigint NOT NULL CHECK (trader_reward >= 0),
  trader_cost      bigint NOT NULL CHECK (trader_cost > 0),
  merchant_usdt    bigint NOT NULL CHECK (merchant_usdt <= trader_cost),
  status           text NOT NULL DEFAULT 'awaiting_payment'
                   CHECK (status IN ('awaiting_payment', 'customer_paid', 'completed', 'expired', 'cancelled')),
  confirmed_by     text CHECK (confirmed_by IN ('trader', 'admin')),
  opened_at        timestamptz NOT NULL,
  customer_paid_at timestamptz,
  closed_at        timestamptz,
  CONSTRAINT deals_one_per_invoice UNIQUE (invoice_id),
  CHECK (trader_cost = gross_usdt - trader_reward)
);
-- A trader matches an incoming transfer by its amount: no two open deals on one requisite share one.
CREATE UNIQUE INDEX deals_open_amount_unique ON deals (requisite_id, amount)
  WHERE status IN ('awaiting_payment', 'customer_paid');
CREATE INDEX deals_requisite_opened ON deals (requisite_id, opened_at);
CREATE INDEX deals_trader ON deals (trader_id, opened_at DESC);
CREATE INDEX deals_status ON deals (status, opened_at DESC);

-- One row per final transition of an invoice, written in the same transaction as the transition.
-- payload is the invoice as the merchant API shows it at that moment.
CREATE TABLE events (
  id          uuid PRIMARY KEY,
  merchant_id uuid NOT NULL REFERENCES merchants (id),
  invoice_id  uuid REFERENCES invoices (id),
  type        text NOT NULL,
  -- json, not jsonb: the invoice keeps the key order of the merchant API in every webhook body.
  payload     json NOT NULL,
  created_at  timestamptz NOT NULL,
  CONSTRAINT events_one_per_transition UNIQUE (invoice_id, type)
);
CREATE INDEX events_merchant ON events (merchant_id, created_at DESC);
