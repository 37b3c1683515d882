-- Foundation: merchants and their API keys, currencies with rates, platform settings, invoices.
-- Money: fiat as NUMERIC with the currency's 2 decimals; USDT as integer micro-USDT (BIGINT).

CREATE TABLE merchants (
  id             uuid PRIMARY KEY,
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  fee_percent    numeric(5, 2) NOT NULL DEFAULT 2.00 CHECK (fee_percent >= 0 AND fee_percent < 100),
  webhook_url    text,
  webhook_secret text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is stored; the plain key is shown once, at creation.
CREATE TABLE api_keys (
  id          uuid PRIMARY KEY,
  merchant_id uuid NOT NULL REFERENCES merchants (id),
  prefix      text NOT NULL,
  key_hash    bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id, created_at);

-- rate: fiat per 1 USDT. A currency may exist before its rate is known.
CREATE TABLE currencies (
  code       text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
  enabled    boolean NOT NULL DEFAULT false,
  rate       numeric(18, 6) CHECK (rate > 0),
  min_amount numeric(18, 2) CHECK (min_amount > 0),
  max_amount numeric(18, 2) CHECK (max_amount > 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount)
);

-- One row. invoice_ttl_minutes NULL means the INVOICE_TTL_MINUTES of the configuration.
CREATE TABLE settings (
  id                           boolean PRIMARY KEY DEFAULT true CHECK (id),
  deals_enabled                boolean NOT NULL DEFAULT true,
  invoice_ttl_minutes          integer CHECK (invoice_ttl_minutes BETWEEN 1 AND 1440),
  customer_invoices_per_minute integer NOT NULL DEFAULT 10 CHECK (customer_invoices_per_minute >= 1),
  customer_max_pending         integer NOT NULL DEFAULT 5 CHECK (customer_max_pending >= 1),
  updated_at                   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO settings DEFAULT VALUES;

CREATE TABLE invoices (
  id              uuid PRIMARY KEY,
  -- seq orders lists newest first with a cursor that stays stable under concurrent inserts.
  seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  merchant_id     uuid NOT NULL REFERENCES merchants (id),
  external_id     text NOT NULL,
  customer_id     text NOT NULL,
  amount          numeric(18, 2) NOT NULL CHECK (amount > 0),
  currency        text NOT NULL REFERENCES currencies (code),
  conversion_rate numeric(18, 6) NOT NULL CHECK (conversion_rate > 0),
  fee_percent     numeric(5, 2) NOT NULL,
  gross_usdt      bigint NOT NULL CHECK (gross_usdt >= 0),
  merchant_usdt   bigint NOT NULL CHECK (merchant_usdt >= 0 AND merchant_usdt <= gross_usdt),
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'expired', 'cancelled')),
  purpose         text,
  callback_url    text,
  success_url     text,
  fail_url        text,
  created_at      timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  paid_at         timestamptz,
  cancelled_at    timestamptz,
  expired_at      timestamptz,
  CONSTRAINT invoices_external_id_unique UNIQUE (merchant_id, external_id),
  CHECK (expires_at > created_at)
);
CREATE INDEX invoices_merchant_seq ON invoices (merchant_id, seq DESC);
CREATE INDEX invoices_merchant_customer ON invoices (merchant_id, customer_id, created_at DESC);
CREATE INDEX invoices_pending_expiry ON invoices (expires_at) WHERE status = 'pending';

-- create-invoice in one round trip: the customer limits, the duplicate check and the insert run
-- under one per-(merchant, customer) transaction lock, so the limits are exact across any number
-- of concurrent requests and instances. A duplicate external_id is settled by the unique
-- constraint, which also covers two customers racing for one external_id.
CREATE FUNCTION kasa_create_invoice(
  p_id uuid, p_merchant_id uuid, p_external_id text, p_customer_id text,
  p_amount numeric, p_currency text, p_rate numeric, p_fee_percent numeric,
  p_gross_usdt bigint, p_merchant_usdt bigint,
  p_purpose text, p_callback_url text, p_success_url text, p_fail_url text,
  p_created_at timestamptz, p_expires_at timestamptz,
  p_per_minute integer, p_max_pending integer
) RETURNS TABLE (outcome text, invoice_id uuid, retry_after_seconds integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_recent integer;
  v_oldest_recent timestamptz;
  v_pending integer;
  v_first_expiry timestamptz;
  v_existing uuid;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_merchant_id::text || '/' || p_customer_id, 0));

  SELECT count(*), min(i.created_at) INTO v_recent, v_oldest_recent
    FROM invoices i
   WHERE i.merchant_id = p_merchant_id AND i.customer_id = p_customer_id
     AND i.created_at > p_created_at - interval '60 seconds';
  IF v_recent >= p_per_minute THEN
    RETURN QUERY SELECT 'rate'::text, NULL::uuid,
      greatest(1, ceil(extract(epoch FROM v_oldest_recent + interval '60 seconds' - p_created_at)))::integer;
    RETURN;
  END IF;

  SELECT count(*), min(i.expires_at) INTO v_pending, v_first_expiry
    FROM invoices i
   WHERE i.merchant_id = p_merchant_id AND i.customer_id = p_customer_id
     AND i.status = 'pending' AND i.expires_at > p_created_at;
  IF v_pending >= p_max_pending THEN
    RETURN QUERY SELECT 'pending'::text, NULL::uuid,
      greatest(1, ceil(extract(epoch FROM v_first_expiry - p_created_at)))::integer;
    RETURN;
  END IF;

  INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate,
                        fee_percent, gross_usdt, merchant_usdt, purpose, callback_url, success_url,
                        fail_url, created_at, expires_at)
  VALUES (p_id, p_merchant_id, p_external_id, p_customer_id, p_amount, p_currency, p_rate,
          p_fee_percent, p_gross_usdt, p_merchant_usdt, p_purpose, p_callback_url, p_success_url,
          p_fail_url, p_created_at, p_expires_at)
  ON CONFLICT ON CONSTRAINT invoices_external_id_unique DO NOTHING;
  IF FOUND THEN
    RETURN QUERY SELECT 'created'::text, p_id, NULL::integer;
    RETURN;
  END IF;

  SELECT i.id INTO v_existing FROM invoices i
   WHERE i.merchant_id = p_merchant_id AND i.external_id = p_external_id;
  RETURN QUERY SELECT 'duplicate'::text, v_existing, NULL::integer;
END
$$;
