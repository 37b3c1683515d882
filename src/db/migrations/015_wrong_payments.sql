-- When a payment goes wrong: trader rejects, unpaid "I have paid" deals per customer, the late
-- sweep's index, and webhook deliveries of one invoice in event order.

-- 1. A trader's reject of a deal in awaiting_payment: why, and when. The rejected deal stays as
-- the invoice's history; its requisite is not offered to that invoice again.
ALTER TABLE deals
  ADD COLUMN reject_reason  text CHECK (reject_reason IN ('no_payment', 'wrong_amount', 'card_blocked', 'other')),
  ADD COLUMN reject_comment text CHECK (length(reject_comment) <= 500),
  ADD COLUMN rejected_at    timestamptz;

-- 2. Deals left in customer_paid: the late sweep reads the oldest, a trader's count of those
-- unconfirmed for 30 minutes bounds new deals. Few rows (only deals in flight), each read by index.
CREATE INDEX deals_customer_paid ON deals (trader_id, customer_paid_at) WHERE status = 'customer_paid';
CREATE INDEX deals_customer_paid_since ON deals (customer_paid_at) WHERE status = 'customer_paid';

-- 3. Deals that ended unpaid after the customer said they paid (customer_paid_at set, then
-- expired or rejected): one row per deal, written by a trigger whoever ends the deal, removed
-- when the deal completes after all (a late confirmation, a dispute resolved for the merchant).
-- kasa_create_invoice counts a customer's last 24 h here, index-only.
CREATE TABLE customer_unpaid_deals (
  deal_id     uuid PRIMARY KEY REFERENCES deals (id),
  merchant_id uuid NOT NULL,
  customer_id text NOT NULL,
  ended_at    timestamptz NOT NULL
);
CREATE INDEX customer_unpaid_deals_customer ON customer_unpaid_deals (merchant_id, customer_id, ended_at);

CREATE FUNCTION kasa_track_unpaid_deal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IN ('expired', 'rejected') THEN
    INSERT INTO customer_unpaid_deals (deal_id, merchant_id, customer_id, ended_at)
    SELECT NEW.id, i.merchant_id, i.customer_id, coalesce(NEW.closed_at, NEW.rejected_at, now())
      FROM invoices i WHERE i.id = NEW.invoice_id
    ON CONFLICT (deal_id) DO NOTHING;
  ELSIF NEW.status = 'completed' THEN
    DELETE FROM customer_unpaid_deals WHERE deal_id = NEW.id;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER deals_track_unpaid AFTER UPDATE OF status ON deals
  FOR EACH ROW WHEN (NEW.customer_paid_at IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status
                     AND NEW.status IN ('expired', 'rejected', 'completed'))
  EXECUTE FUNCTION kasa_track_unpaid_deal();

-- 4. create-invoice refuses a customer with customer_unpaid_max such deals in 24 h ('unpaid',
-- retry when the one that makes the count leaves the window). Same signature, same per-customer
-- lock, the limit read from the settings row (one primary-key read).
CREATE OR REPLACE FUNCTION kasa_create_invoice(
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
  v_unpaid_max integer;
  v_unpaid_edge timestamptz;
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

  -- The customer_unpaid_max-th newest unpaid deal of the last 24 h, if there is one: while it is
  -- in the window the customer is at the limit. Newest first on customer_unpaid_deals_customer.
  SELECT s.customer_unpaid_max INTO v_unpaid_max FROM settings s WHERE s.id;
  SELECT u.ended_at INTO v_unpaid_edge
    FROM customer_unpaid_deals u
   WHERE u.merchant_id = p_merchant_id AND u.customer_id = p_customer_id
     AND u.ended_at > p_created_at - interval '24 hours'
   ORDER BY u.ended_at DESC
  OFFSET greatest(coalesce(v_unpaid_max, 3) - 1, 0) LIMIT 1;
  IF v_unpaid_edge IS NOT NULL THEN
    outcome := 'unpaid';
    retry_after_seconds := greatest(1, ceil(extract(epoch FROM v_unpaid_edge + interval '24 hours' - p_created_at)));
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

-- 5. Deliveries of one invoice go out in event order: a late invoice.success never before the
-- invoice.expired it follows. seq orders deliveries as they were written; a delivery waits while
-- an earlier one of its invoice is still pending (in flight or retrying); a failed one no longer
-- holds the next back.
ALTER TABLE deliveries ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX deliveries_invoice_pending ON deliveries (invoice_id, seq) WHERE status = 'pending' AND invoice_id IS NOT NULL;

CREATE OR REPLACE FUNCTION kasa_claim_deliveries(
  p_now timestamptz, p_token uuid, p_lease_until timestamptz,
  p_busy_hosts text[], p_busy_n integer[], p_saturated_hosts text[],
  p_per_target integer, p_limit integer, p_scan_max integer
) RETURNS TABLE (event_id uuid)
LANGUAGE sql
SET enable_seqscan = off
SET enable_sort = off
SET jit = off
AS $$
  WITH busy AS (
    SELECT * FROM unnest(p_busy_hosts, p_busy_n) AS b (host, n)
  ), due AS (
    SELECT d.event_id, d.target_host, d.next_attempt_at
      FROM deliveries d
     WHERE d.status = 'pending' AND d.next_attempt_at <= p_now
       AND (d.lease_until IS NULL OR d.lease_until <= p_now)
       AND d.target_host <> ALL (p_saturated_hosts)
       AND (d.invoice_id IS NULL OR NOT EXISTS (
             SELECT 1 FROM deliveries e
              WHERE e.invoice_id = d.invoice_id AND e.status = 'pending' AND e.seq < d.seq))
     ORDER BY d.next_attempt_at
     LIMIT p_scan_max
  ), ranked AS (
    SELECT due.event_id, due.target_host, due.next_attempt_at,
           row_number() OVER (PARTITION BY due.target_host ORDER BY due.next_attempt_at) AS n
      FROM due
  ), claimable AS (
    SELECT d.event_id FROM deliveries d
     WHERE d.event_id IN (SELECT r.event_id FROM ranked r LEFT JOIN busy b ON b.host = r.target_host
                           WHERE r.n <= p_per_target - coalesce(b.n, 0) ORDER BY r.next_attempt_at LIMIT p_limit)
       AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= p_now)
     FOR UPDATE SKIP LOCKED
  )
  UPDATE deliveries d
     SET lease_token = p_token, lease_until = p_lease_until, attempts = d.attempts + 1, updated_at = p_now
    FROM claimable c
   WHERE d.event_id = c.event_id
  RETURNING d.event_id
$$;

