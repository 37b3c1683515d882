-- create-invoice keeps its indexes on a database that has never been analyzed.
--
-- PL/pgSQL caches a generic plan per connection after a statement's fifth run, and keeps it
-- until the table's statistics change; with autovacuum off they never do. A connection's first
-- creates run while invoices is nearly empty, and there every index whose first column is
-- merchant_id is estimated at about one row for the customer's scan and for the duplicate
-- lookup. The tie went to invoices_merchant_seq, the merchant's every invoice: on a fresh
-- database create-invoice fell from 263 to 11 per second as 200,000 invoices were stored.
--
-- Options measured on a 2-core machine (loops of 3,000-5,000 calls, and alternating pgbench runs):
-- - SET plan_cache_mode = force_custom_plan plans every statement on every call from the
--   table's current size: right plans, but calls took 1.2-3x as long.
-- - SET of enable_* on the function costs a settings save and restore per call, lost in the
--   run-to-run noise (±30 % on this shared machine).
-- So the customer's scan asks for what only invoices_merchant_customer gives, its rows in
-- created_at order, and the function runs with sorts and sequential scans disabled: any other
-- plan carries a disabled node and loses, whatever the statistics (or their absence) say. The
-- duplicate lookup, the one statement no order singles out, runs only when the insert found a
-- duplicate: it is planned on each of those calls (EXECUTE), for the table as it is then.

CREATE OR REPLACE FUNCTION kasa_create_invoice(
  p_id uuid, p_merchant_id uuid, p_external_id text, p_customer_id text,
  p_amount numeric, p_currency text, p_rate numeric, p_fee_percent numeric,
  p_gross_usdt bigint, p_merchant_usdt bigint,
  p_purpose text, p_callback_url text, p_success_url text, p_fail_url text,
  p_created_at timestamptz, p_expires_at timestamptz,
  p_per_minute integer, p_max_pending integer
) RETURNS TABLE (outcome text, invoice_id uuid, retry_after_seconds integer)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_sort = off
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
  -- order (newest first) is what only that index delivers without a sort (see the header).
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
                        fail_url, created_at, expires_at)
  VALUES (p_id, p_merchant_id, p_external_id, p_customer_id, p_amount, p_currency, p_rate,
          p_fee_percent, p_gross_usdt, p_merchant_usdt, p_purpose, p_callback_url, p_success_url,
          p_fail_url, p_created_at, p_expires_at)
  ON CONFLICT ON CONSTRAINT invoices_external_id_unique DO NOTHING;
  IF FOUND THEN
    outcome := 'created';
    invoice_id := p_id;
    RETURN NEXT;
    RETURN;
  END IF;

  -- Planned with its values on each duplicate (see the header): invoices_external_id_unique's
  -- one row against the merchant's many.
  EXECUTE 'SELECT i.id FROM invoices i WHERE i.merchant_id = $1 AND i.external_id = $2'
     INTO v_existing USING p_merchant_id, p_external_id;
  outcome := 'duplicate';
  invoice_id := v_existing;
  RETURN NEXT;
END
$$;
