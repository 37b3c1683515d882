-- Rates that follow the market: a currency's rate may come from an HTTP JSON source that a worker
-- polls, instead of an operator's hand; every quote is kept, and every invoice keeps the rate it
-- was created with and where that rate came from.

-- The source of each currency's rate, on the currency itself: create-invoice already reads this
-- row (through the catalog's cache), so knowing whether the rate is fresh costs nothing more.
-- rate stays what invoices are created at; for an http_json source it is the last accepted
-- quote with the markup applied, raw_rate that quote, rate_fetched_at when it was fetched.
ALTER TABLE currencies
  ADD COLUMN rate_source        text NOT NULL DEFAULT 'manual' CHECK (rate_source IN ('manual', 'http_json')),
  ADD COLUMN source_url         text,
  ADD COLUMN source_json_path   text,
  ADD COLUMN refresh_seconds    integer CHECK (refresh_seconds >= 5),
  ADD COLUMN max_age_seconds    integer,
  ADD COLUMN markup_percent     numeric(5, 2) CHECK (markup_percent >= 0 AND markup_percent < 100),
  ADD COLUMN max_change_percent numeric(5, 2) CHECK (max_change_percent > 0),
  ADD COLUMN raw_rate           numeric(24, 12) CHECK (raw_rate > 0),
  ADD COLUMN rate_fetched_at    timestamptz,
  -- The worker's schedule and its lease: one instance at a time fetches a currency's source. A
  -- lease is claimed by an UPDATE whose WHERE asks that the last one has expired, so two
  -- claims of one row serialize on its row lock and the second finds the lease taken.
  ADD COLUMN next_fetch_at      timestamptz,
  ADD COLUMN lease_token        uuid,
  ADD COLUMN lease_until        timestamptz,
  ADD CONSTRAINT currencies_max_age_check CHECK (max_age_seconds >= refresh_seconds),
  ADD CONSTRAINT currencies_source_complete CHECK (
    rate_source = 'manual'
    OR (source_url IS NOT NULL AND source_json_path IS NOT NULL AND refresh_seconds IS NOT NULL
        AND max_age_seconds IS NOT NULL AND markup_percent IS NOT NULL AND max_change_percent IS NOT NULL
        AND next_fetch_at IS NOT NULL));

-- Every quote a source gave, accepted or not, with why it was refused. raw_text is what the
-- JSONPath selected, cut to 100 characters, so a refused answer can be read later.
CREATE TABLE rate_quotes (
  id             uuid PRIMARY KEY,
  currency       text NOT NULL REFERENCES currencies (code),
  fetched_at     timestamptz NOT NULL,
  accepted       boolean NOT NULL,
  reason         text CHECK (reason IN ('http_status', 'timeout', 'fetch_failed', 'too_large', 'invalid_json', 'no_match',
                                        'not_a_number', 'not_positive', 'out_of_range', 'max_change')),
  http_status    integer,
  raw_text       text CHECK (length(raw_text) <= 100),
  raw_rate       numeric(24, 12),
  markup_percent numeric(5, 2),
  rate           numeric(18, 6) CHECK (rate > 0),
  CHECK (accepted = (reason IS NULL)),
  CHECK (NOT accepted OR (raw_rate > 0 AND rate IS NOT NULL AND markup_percent IS NOT NULL))
);
CREATE INDEX rate_quotes_currency_fetched ON rate_quotes (currency, fetched_at DESC, id DESC);

-- The rate snapshot of each invoice. Invoices created before this migration had a manual rate,
-- and keep no more of it than conversion_rate.
ALTER TABLE invoices
  ADD COLUMN rate_source     text NOT NULL DEFAULT 'manual' CHECK (rate_source IN ('manual', 'http_json')),
  ADD COLUMN raw_rate        numeric(24, 12),
  ADD COLUMN markup_percent  numeric(5, 2),
  ADD COLUMN rate_fetched_at timestamptz;

-- create-invoice writes the snapshot in its one statement. Its settings are 006's and 009's:
-- sorts and sequential scans disabled (plans that do not depend on statistics), and no JIT.
-- The snapshot's parameters have defaults, so a call written for the previous signature
-- still means a manual rate.
DROP FUNCTION kasa_create_invoice(uuid, uuid, text, text, numeric, text, numeric, numeric, bigint, bigint, text, text, text, text,
                                  timestamptz, timestamptz, integer, integer);

CREATE FUNCTION kasa_create_invoice(
  p_id uuid, p_merchant_id uuid, p_external_id text, p_customer_id text,
  p_amount numeric, p_currency text, p_rate numeric, p_fee_percent numeric,
  p_gross_usdt bigint, p_merchant_usdt bigint,
  p_purpose text, p_callback_url text, p_success_url text, p_fail_url text,
  p_created_at timestamptz, p_expires_at timestamptz,
  p_per_minute integer, p_max_pending integer,
  p_rate_source text DEFAULT 'manual', p_raw_rate numeric DEFAULT NULL,
  p_markup_percent numeric DEFAULT NULL, p_rate_fetched_at timestamptz DEFAULT NULL
) RETURNS TABLE (outcome text, invoice_id uuid, retry_after_seconds integer)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_sort = off
SET jit = off
AS $$
DECLARE
  v_recent integer;
  v_oldest_recent timestamptz;
  v_pending integer;
  v_first_expiry timestamptz;
  v_existing uuid;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_merchant_id::text || '/' || p_customer_id, 0));

  -- What the foreign keys checked, without their row lock (see 005_create_invoice_at_scale.sql).
  PERFORM 1 FROM merchants m, currencies c WHERE m.id = p_merchant_id AND c.code = p_currency;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'invoice for unknown merchant % or currency %', p_merchant_id, p_currency
      USING ERRCODE = 'foreign_key_violation';
  END IF;

  -- Both limits from one scan of the customer's last day on invoices_merchant_customer. Its
  -- order (newest first) is what only that index delivers without a sort (see 006).
  SELECT count(*) FILTER (WHERE r.created_at > p_created_at - interval '60 seconds'),
         min(r.created_at) FILTER (WHERE r.created_at > p_created_at - interval '60 seconds'),
         count(*) FILTER (WHERE r.status = 'pending' AND r.expires_at > p_created_at),
         min(r.expires_at) FILTER (WHERE r.status = 'pending' AND r.expires_at > p_created_at)
    INTO v_recent, v_oldest_recent, v_pending, v_first_expiry
    FROM (SELECT i.created_at, i.status, i.expires_at
            FROM invoices i
           WHERE i.merchant_id = p_merchant_id AND i.customer_id = p_customer_id
             -- No invoice stays pending longer than the longest TTL (1440 minutes).
             AND i.created_at > p_created_at - interval '1440 minutes'
           ORDER BY i.created_at DESC) AS r;
  IF v_recent >= p_per_minute THEN
    outcome := 'rate';
    retry_after_seconds := greatest(1, ceil(extract(epoch FROM v_oldest_recent + interval '60 seconds' - p_created_at)));
    RETURN NEXT;
    RETURN;
  END IF;

  IF v_pending >= p_max_pending THEN
    outcome := 'pending';
    retry_after_seconds := greatest(1, ceil(extract(epoch FROM v_first_expiry - p_created_at)));
    RETURN NEXT;
    RETURN;
  END IF;

  INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate,
                        fee_percent, gross_usdt, merchant_usdt, purpose, callback_url, success_url,
                        fail_url, created_at, expires_at, rate_source, raw_rate, markup_percent, rate_fetched_at)
  VALUES (p_id, p_merchant_id, p_external_id, p_customer_id, p_amount, p_currency, p_rate,
          p_fee_percent, p_gross_usdt, p_merchant_usdt, p_purpose, p_callback_url, p_success_url,
          p_fail_url, p_created_at, p_expires_at, p_rate_source, p_raw_rate, p_markup_percent, p_rate_fetched_at)
  ON CONFLICT ON CONSTRAINT invoices_external_id_unique DO NOTHING;
  IF FOUND THEN
    outcome := 'created';
    invoice_id := p_id;
    RETURN NEXT;
    RETURN;
  END IF;

  -- Planned with its values on each duplicate (see 006): invoices_external_id_unique's one row
  -- against the merchant's many.
  EXECUTE 'SELECT i.id FROM invoices i WHERE i.merchant_id = $1 AND i.external_id = $2'
     INTO v_existing USING p_merchant_id, p_external_id;
  outcome := 'duplicate';
  invoice_id := v_existing;
  RETURN NEXT;
END
$$;
